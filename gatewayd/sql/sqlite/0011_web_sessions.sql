-- lockbox gateway schema, version 11: web console sessions (POST /v1/sessions). The cookie's
-- secret is never stored, only its SHA-256, like a token's. A session is made with a user
-- token and lives only as long as that token does (token), at most until expires_at (the
-- absolute timeout fixed at sign-in), and only while it is used (last_seen_at + the idle
-- timeout in force); signing out sets revoked_at.
CREATE TABLE web_sessions (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  user TEXT NOT NULL REFERENCES users(id),
  token TEXT NOT NULL REFERENCES tokens(id),
  hash TEXT NOT NULL UNIQUE,
  mfa INTEGER NOT NULL DEFAULT 0,         -- a TOTP code was given at sign-in
  created_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE INDEX web_sessions_user ON web_sessions (user, rid);
