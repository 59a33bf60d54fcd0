-- lockbox gateway schema, version 3 (PostgreSQL): signed audit checkpoints, so a periodic
-- check walks only the events since the last one (the full walk stays with
-- GET /v1/audit/verify). seq is the audit event's seq the checkpoint signs.
CREATE TABLE audit_checkpoints (
  seq bigint PRIMARY KEY,
  head_hash text NOT NULL,
  sig text NOT NULL,
  "time" text NOT NULL
);
