-- lockbox gateway schema, version 10: the TOTP second factor (RFC 6238), one row per user.
-- The secrets are sealed with AES-256-GCM under totp_key_file, a key kept apart from the
-- database and bound to the user's id: a copy of the database alone gives no secret away.
CREATE TABLE totp (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  user TEXT NOT NULL UNIQUE REFERENCES users(id),
  secret TEXT,                            -- the confirmed secret; NULL until confirmed
  pending_secret TEXT,                    -- an enrolment waiting for its confirmation
  last_step INTEGER NOT NULL DEFAULT 0,   -- the newest 30 s step whose code was accepted
  failures INTEGER NOT NULL DEFAULT 0,    -- wrong codes since the last good one or lock
  locked_until TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  confirmed_at TEXT
);
