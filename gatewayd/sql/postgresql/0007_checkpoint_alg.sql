-- lockbox gateway schema, version 7 (PostgreSQL): checkpoints are signed with Ed25519
-- (gw_checkpoint.c). The rows signed before with the HMAC key are kept and marked legacy.
ALTER TABLE audit_checkpoints ADD COLUMN alg text NOT NULL DEFAULT 'hmac-sha256';
