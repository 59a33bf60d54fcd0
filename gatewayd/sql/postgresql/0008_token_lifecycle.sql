-- lockbox gateway schema, version 8 (PostgreSQL): user tokens expire (token_ttl), can be
-- revoked, and remember when they were last used. Tokens issued before this version expire
-- 90 days (the default token_ttl) after the upgrade, written in the gateway's fixed-width
-- time format.
ALTER TABLE tokens ADD COLUMN expires_at text;
ALTER TABLE tokens ADD COLUMN revoked_at text;
ALTER TABLE tokens ADD COLUMN last_used_at text;
UPDATE tokens SET expires_at = to_char((now() AT TIME ZONE 'UTC') + interval '90 days',
                                       'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
