-- lockbox gateway schema, version 12: approval policies (DESIGN.md "Approval policies").
-- A tenant's policy (JSON: approvals_required, break_glass, break_glass_max; NULL = the
-- defaults) and, per request, the approvals it has gathered so far (JSON array of
-- {"approver", "login", "time", "reason"}; NULL = none yet).
ALTER TABLE tenants ADD COLUMN policy TEXT;
ALTER TABLE requests ADD COLUMN approvals TEXT;
