-- lockbox gateway schema, version 5 (PostgreSQL): a grant's sessions are looked at once, a
-- while after the grant ended (gatewayd.conf session_lost_after), so the host's agent has had
-- the time to end them and deliver their session.end before the gateway records session.lost
-- for the rest. Requests that ended before this version were reconciled when they ended.
ALTER TABLE requests ADD COLUMN sessions_checked boolean NOT NULL DEFAULT true;
CREATE INDEX requests_sessions_check ON requests (sessions_checked, state, updated_at);
