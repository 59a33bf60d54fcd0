-- lockbox gateway schema, version 2: the notification outbox. Rows are written in the same
-- transaction as the state change they announce; a worker delivers them with retries.
CREATE TABLE notifications (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  request TEXT,
  event TEXT NOT NULL,
  channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  message_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  last_error TEXT,
  created_at TEXT NOT NULL,
  sent_at TEXT
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_request ON notifications (request, rid);
