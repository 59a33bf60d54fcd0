-- lockbox gateway schema, version 12 (PostgreSQL): approval policies (DESIGN.md "Approval
-- policies"). A tenant's policy (JSON text; NULL = the defaults) and, per request, the
-- approvals it has gathered so far (JSON array text; NULL = none yet). Break-glass requests:
-- approved at once, then reviewed (review: pending, accepted or rejected; NULL otherwise).
ALTER TABLE tenants ADD COLUMN policy text;
ALTER TABLE requests ADD COLUMN approvals text;
ALTER TABLE requests ADD COLUMN break_glass boolean NOT NULL DEFAULT false;
ALTER TABLE requests ADD COLUMN review text;
ALTER TABLE requests ADD COLUMN reviewed_by text;
ALTER TABLE requests ADD COLUMN reviewed_at text;
ALTER TABLE requests ADD COLUMN review_reason text;
-- Extensions: a request that extends another (extends = its id) opens its window where the
-- other's ends (grant_starts_at); for every other request grant_starts_at = approved_at.
ALTER TABLE requests ADD COLUMN extends text;
ALTER TABLE requests ADD COLUMN grant_starts_at text;
UPDATE requests SET grant_starts_at = approved_at WHERE approved_at IS NOT NULL;
CREATE INDEX requests_extends ON requests (extends);
