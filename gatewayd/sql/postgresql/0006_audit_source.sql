-- lockbox gateway schema, version 6 (PostgreSQL): every audit event says who wrote it,
-- `source` = 'gateway' or 'host' (a batch a host posted to /v1/audit/events). The chain hash
-- covers source when it is set. Rows from before this version keep NULL: their hash was
-- computed without it.
ALTER TABLE audit ADD COLUMN source text CHECK (source IS NULL OR source IN ('gateway', 'host'));
