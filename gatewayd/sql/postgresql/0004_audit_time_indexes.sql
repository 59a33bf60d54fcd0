-- lockbox gateway schema, version 4 (PostgreSQL): audit queries that combine a tenant or a
-- subscription with a time range read only that range (instead of walking the scope in seq
-- order).
CREATE INDEX audit_tenant_time ON audit (tenant, "time");
CREATE INDEX audit_subscription_time ON audit (subscription, "time");
