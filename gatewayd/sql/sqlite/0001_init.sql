-- lockbox gateway schema, version 1. Times are RFC 3339 UTC text with milliseconds, fixed
-- width, so text order is time order.
CREATE TABLE tenants (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL UNIQUE,
  lockbox_enabled INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE subscriptions (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (tenant, name)
);
CREATE TABLE hosts (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL UNIQUE,
  subscription TEXT NOT NULL REFERENCES subscriptions(id),
  tenant TEXT NOT NULL REFERENCES tenants(id),
  disabled INTEGER NOT NULL DEFAULT 0,
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE users (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  login TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('provider', 'customer')),
  tenant TEXT REFERENCES tenants(id),
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE tokens (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  user TEXT NOT NULL REFERENCES users(id),
  hash TEXT NOT NULL UNIQUE,
  mfa INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE role_assignments (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  user TEXT NOT NULL REFERENCES users(id),
  role TEXT NOT NULL,
  tenant TEXT,
  subscription TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX role_assignments_user ON role_assignments (user);
CREATE TABLE tickets (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL REFERENCES tenants(id),
  subscription TEXT,
  title TEXT NOT NULL,
  description TEXT NOT NULL,
  state TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX tickets_tenant ON tickets (tenant, rid);
CREATE TABLE elevations (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  user TEXT NOT NULL REFERENCES users(id),
  login TEXT NOT NULL,
  duration TEXT NOT NULL,
  justification TEXT NOT NULL,
  activated_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  mfa INTEGER NOT NULL,
  expire_logged INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX elevations_user ON elevations (user, rid);
CREATE INDEX elevations_sweep ON elevations (expire_logged, expires_at);
CREATE TABLE requests (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  ticket TEXT NOT NULL REFERENCES tickets(id),
  tenant TEXT NOT NULL REFERENCES tenants(id),
  scope TEXT NOT NULL CHECK (scope IN ('subscription', 'tenant')),
  subscription TEXT,
  hosts TEXT NOT NULL,
  access TEXT NOT NULL,
  duration TEXT NOT NULL,
  justification TEXT NOT NULL,
  state TEXT NOT NULL,
  requester TEXT NOT NULL,
  requester_login TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  internal_approved_by TEXT,
  approved_by TEXT,
  approved_at TEXT,
  grant_expires_at TEXT,
  pending_expires_at TEXT,
  decision_reason TEXT
);
-- /v1/check looks up by (tenant, login), newest first
CREATE INDEX requests_check ON requests (tenant, requester_login, rid);
CREATE INDEX requests_state ON requests (state, rid);
CREATE INDEX requests_requester ON requests (requester, rid);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  time TEXT NOT NULL,
  type TEXT NOT NULL,
  tenant TEXT,
  subscription TEXT,
  level TEXT NOT NULL,
  actor TEXT,
  host TEXT,
  request TEXT,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_host_time ON audit (host, time);
CREATE INDEX audit_tenant ON audit (tenant, seq);
CREATE INDEX audit_request ON audit (request, seq);
CREATE INDEX audit_type ON audit (type, seq);
CREATE INDEX audit_time ON audit (time);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
