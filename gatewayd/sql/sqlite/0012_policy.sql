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
-- Extensions: a request that extends another (extends = its id) opens its window where the
-- other's ends (grant_starts_at); for every other request grant_starts_at = approved_at.
ALTER TABLE requests ADD COLUMN extends TEXT;
ALTER TABLE requests ADD COLUMN grant_starts_at TEXT;
UPDATE requests SET grant_starts_at = approved_at WHERE approved_at IS NOT NULL;
CREATE INDEX requests_extends ON requests(extends);
