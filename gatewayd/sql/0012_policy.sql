-- lockbox gateway schema, version 12: approval policies (DESIGN.md "Approval policies").
-- A tenant's policy (JSON: approvals_required, break_glass, break_glass_max; NULL = the
-- defaults) and, per request, the approvals it has gathered so far (JSON array of
-- {"approver", "login", "time", "reason"}; NULL = none yet).
-- Break-glass requests: approved at once, then reviewed (review: pending, accepted or
-- rejected; NULL for ordinary requests).
ALTER TABLE tenants ADD COLUMN policy TEXT;
ALTER TABLE requests ADD COLUMN approvals TEXT;
ALTER TABLE requests ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN review TEXT;
ALTER TABLE requests ADD COLUMN reviewed_by TEXT;
ALTER TABLE requests ADD COLUMN reviewed_at TEXT;
ALTER TABLE requests ADD COLUMN review_reason TEXT;
