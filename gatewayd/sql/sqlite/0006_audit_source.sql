-- lockbox gateway schema, version 6: every audit event says who wrote it, `source` = 'gateway'
-- or 'host' (a batch a host posted to /v1/audit/events). The chain hash covers source when it
-- is set. Rows from before this version keep NULL: their hash was computed without it, and
-- their source is not known for certain (session.* events then came from hosts, except the
-- session.lost the gateway wrote when it reconciled a grant's sessions).
ALTER TABLE audit ADD COLUMN source TEXT CHECK (source IS NULL OR source IN ('gateway', 'host'));
