-- lockbox gateway schema, version 8: user tokens expire (token_ttl), can be revoked, and
-- remember when they were last used (updated at most once a minute). Tokens issued before
-- this version expire 90 days (the default token_ttl) after the upgrade: no admin is locked
-- out by the upgrade itself, and no old token lives on without an end.
ALTER TABLE tokens ADD COLUMN expires_at TEXT;
ALTER TABLE tokens ADD COLUMN revoked_at TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at TEXT;
UPDATE tokens SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+90 days');
