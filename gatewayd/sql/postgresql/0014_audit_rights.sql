-- lockbox gateway schema, version 14 (PostgreSQL only): the role the gateway logs in as keeps
-- no right to change or remove audit rows, the table's owner included (the triggers of
-- version 1 stay as the second wall). Appends are serialized by a lock on a table of their
-- own: LOCK TABLE audit in a mode that excludes other appenders would need exactly the
-- rights revoked here.
CREATE TABLE audit_lock (one boolean PRIMARY KEY DEFAULT true CHECK (one));
INSERT INTO audit_lock VALUES (true);
REVOKE UPDATE, DELETE, TRUNCATE ON audit FROM CURRENT_USER;
