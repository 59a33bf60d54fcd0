-- lockbox gateway schema, version 3: signed audit checkpoints, so a periodic check walks only
-- the events since the last one (the full walk stays with GET /v1/audit/verify).
CREATE TABLE audit_checkpoints (
  seq INTEGER PRIMARY KEY,
  head_hash TEXT NOT NULL,
  sig TEXT NOT NULL,
  time TEXT NOT NULL
);
