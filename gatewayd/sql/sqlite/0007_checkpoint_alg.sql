-- lockbox gateway schema, version 7: checkpoints are signed with Ed25519 (gw_checkpoint.c).
-- The rows signed before with the HMAC key are kept and marked legacy: nobody without that
-- key can check them, so they are listed and counted but prove nothing.
ALTER TABLE audit_checkpoints ADD COLUMN alg TEXT NOT NULL DEFAULT 'hmac-sha256';
