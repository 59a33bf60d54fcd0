-- lockbox gateway schema, version 13: who claimed a notification (several gateways share one
-- database). A claim moves next_attempt_at past a lease and names the gateway (its host name
-- and listen address); a gateway that restarts hands back its own claims at once, since
-- nothing of its old process is still sending.
ALTER TABLE notifications ADD COLUMN claimed_by TEXT;
