-- lockbox gateway schema, version 9: invitations, how a tenant gets its first global admin
-- (and later ones) without the provider ever holding a customer credential. The one-time code
-- is mailed to the invitee; only its SHA-256 is kept here, like a token's. An invitation is
-- redeemed at most once (redeemed_at, user) and only before expires_at.
-- Customer-side users, roles and tokens are from now on managed by the tenant's global admins
-- only; that is a rule of the handlers and needs no change to the existing rows.
CREATE TABLE invitations (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL REFERENCES tenants(id),
  login TEXT NOT NULL,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  code_hash TEXT NOT NULL UNIQUE,
  created_by TEXT NOT NULL REFERENCES users(id),
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  redeemed_at TEXT,
  user TEXT REFERENCES users(id)
);
CREATE INDEX invitations_tenant ON invitations (tenant, rid);
