/* lockbox-gatewayd: /v1/tenants (provider admins) and the tenant's lockbox switch (global admins). */
#include <string.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

static json_t *tenant_out(json_t *t);

static enum gw_db tenant_create_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN];
	enum gw_db rc;

	gw_new_id("tnt_", id);
	gw_now_str(call->r, now);
	call->out = json_pack("{s:s,s:O,s:b,s:s,s:s}", "id", id, "name",
			    json_object_get(call->body, "name"), "lockbox_enabled", 1, "created_at", now,
			    "updated_at", now);
	rc = s->insert(s->cls, call->txn, &gw_k_tenants, call->out);
	if (rc == GW_DB_CONFLICT)
		return gw_call_fail(call, "conflict", "a tenant with that name exists already");
	if (rc == GW_DB_OK)
		rc = gw_directory_event(call, "directory.tenant.create", id,
					json_pack("{s:s,s:O}", "tenant", id, "name",
						  json_object_get(call->out, "name")));
	call->out = tenant_out(call->out); /* as GET answers it: with the policy's defaults */
	return rc;
}

enum MHD_Result gw_tenants_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {{"name", GW_F_STR, 1, 128}, {NULL, 0, 0, 0}};
	return gw_call_parsed(r, spec, "tenant", tenant_create_body, 201);
}

enum MHD_Result gw_tenants_list(struct gw_req *r)
{
	return gw_reply_list(r, &gw_k_tenants, NULL, 0, NULL);
}

#define GW_POLICY_MAX_APPROVALS 10

void gw_tenant_policy(const json_t *tenant, struct gw_policy *p)
{
	const json_t *pol = json_object_get(tenant, "policy");
	const json_t *n = json_object_get(pol, "approvals_required");
	int64_t secs;
	p->approvals_required = json_is_integer(n) && json_integer_value(n) >= 1
					? (int)json_integer_value(n)
					: 1;
	p->break_glass = json_is_true(json_object_get(pol, "break_glass"));
	p->break_glass_max = lb_duration_parse(lb_json_str(pol, "break_glass_max"), &secs) == 0
				     ? secs
				     : 3600;
}

/* The tenant as answered: its policy with the defaults filled in. */
static json_t *tenant_out(json_t *t /* stolen */)
{
	struct gw_policy p;
	char max[32];
	gw_tenant_policy(t, &p);
	lb_duration_format(p.break_glass_max, max, sizeof(max));
	json_object_set_new(t, "policy", json_pack("{s:i,s:b,s:s}", "approvals_required",
						   p.approvals_required, "break_glass",
						   p.break_glass, "break_glass_max", max));
	return t;
}

enum MHD_Result gw_tenants_get(struct gw_req *r)
{
	json_t *t;
	enum gw_db rc;
	/* provider admins read every tenant; a global admin reads their own (its policy) */
	if (!gw_is(&r->who, GW_ROLE_PROVIDER_ADMIN) &&
	    !gw_is_in_tenant(&r->who, GW_ROLE_GLOBAL_ADMIN, r->args[0]))
		return gw_reply_error(r, "forbidden", "reading a tenant needs provider_admin or "
				      "its global_admin");
	rc = r->gw->store->get(r->gw->store->cls, NULL, &gw_k_tenants, "id", r->args[0], &t);
	if (rc != GW_DB_OK)
		return gw_reply_db(r, rc, "tenant");
	return gw_reply_json(r, 200, tenant_out(t));
}

/* PUT /v1/tenants/{id}/policy: the fields given change, the rest stay. */
static enum gw_db tenant_policy_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *id = call->r->args[0];
	json_t *t = NULL, *before, *after, *fields;
	struct gw_policy p;
	int64_t secs;
	char now[LB_TIME_BUFLEN], max[32];
	struct gw_event ev = {0};
	enum gw_db rc = s->get(s->cls, call->txn, &gw_k_tenants, "id", id, &t);

	if (rc != GW_DB_OK)
		return rc;
	gw_tenant_policy(t, &p);
	lb_duration_format(p.break_glass_max, max, sizeof(max));
	before = json_pack("{s:i,s:b,s:s}", "approvals_required", p.approvals_required,
			   "break_glass", p.break_glass, "break_glass_max", max);
	json_decref(t);
	if (json_object_get(call->body, "break_glass_max")) {
		if (lb_duration_parse(lb_json_str(call->body, "break_glass_max"), &secs) != 0 ||
		    secs <= 0) {
			json_decref(before);
			return gw_call_fail(call, "bad_duration", "break_glass_max: a duration like 30m");
		}
		if (secs > call->r->gw->cfg.max_grant) {
			json_decref(before);
			return gw_call_fail(call, "duration_too_long", "break_glass_max: at most max_grant");
		}
		lb_duration_format(secs, max, sizeof(max));
	}
	after = json_pack("{s:O?,s:O?,s:s}", "approvals_required",
			  json_object_get(call->body, "approvals_required"), "break_glass",
			  json_object_get(call->body, "break_glass"), "break_glass_max", max);
	/* (absent from the body: packed as null) */
	if (json_is_null(json_object_get(after, "approvals_required")))
		json_object_set_new(after, "approvals_required", json_integer(p.approvals_required));
	if (json_is_null(json_object_get(after, "break_glass")))
		json_object_set_new(after, "break_glass", json_boolean(p.break_glass));
	gw_now_str(call->r, now);
	fields = json_pack("{s:O,s:s}", "policy", after, "updated_at", now);
	rc = s->update(s->cls, call->txn, &gw_k_tenants, id, fields);
	json_decref(fields);
	if (rc == GW_DB_OK && !json_equal(before, after)) {
		ev.type = "tenant.policy.update";
		ev.tenant = id;
		ev.level = "tenant";
		ev.actor = call->r->who.id;
		ev.details = json_pack("{s:s,s:O,s:O}", "tenant", id, "from", before, "to", after);
		rc = gw_audit_emit(call->r->gw, call->txn, &ev, NULL);
	}
	json_decref(before);
	json_decref(after);
	if (rc != GW_DB_OK)
		return rc;
	rc = s->get(s->cls, call->txn, &gw_k_tenants, "id", id, &t);
	if (rc == GW_DB_OK)
		call->out = tenant_out(t);
	return rc;
}

enum MHD_Result gw_tenants_set_policy(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"approvals_required", GW_F_INT, 0, GW_POLICY_MAX_APPROVALS},
		{"break_glass", GW_F_BOOL, 0, 0},
		{"break_glass_max", GW_F_STR, 0, 32},
		{NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "tenant"};
	enum MHD_Result ret;

	if (!gw_is_in_tenant(&r->who, GW_ROLE_GLOBAL_ADMIN, r->args[0]))
		return gw_reply_error(r, "forbidden", "only the tenant's global admins set its policy");
	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	ret = gw_call_run(&call, 1, tenant_policy_body, 200);
	json_decref(call.body);
	return ret;
}

static enum gw_db tenant_lockbox_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *id = call->r->args[0];
	int enabled = json_is_true(json_object_get(call->body, "enabled"));
	char now[LB_TIME_BUFLEN];
	json_t *fields;
	enum gw_db rc;
	struct gw_event ev = {0};

	gw_now_str(call->r, now);
	fields = json_pack("{s:b,s:s}", "lockbox_enabled", enabled, "updated_at", now);
	rc = s->update(s->cls, call->txn, &gw_k_tenants, id, fields);
	json_decref(fields);
	if (rc != GW_DB_OK)
		return rc;
	ev.type = enabled ? "tenant.lockbox.enable" : "tenant.lockbox.disable";
	ev.tenant = id;
	ev.level = "tenant";
	ev.actor = call->r->who.id;
	if ((rc = gw_audit_emit(call->r->gw, call->txn, &ev, NULL)) != GW_DB_OK)
		return rc;
	return s->get(s->cls, call->txn, &gw_k_tenants, "id", id, &call->out);
}

enum MHD_Result gw_tenants_set_lockbox(struct gw_req *r)
{
	static const struct gw_field spec[] = {{"enabled", GW_F_BOOL, 1, 0}, {NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "tenant"};
	enum MHD_Result ret;

	if (!gw_is_in_tenant(&r->who, GW_ROLE_GLOBAL_ADMIN, r->args[0]))
		return gw_reply_error(r, "forbidden", "only the tenant's global admins switch lockbox");
	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	ret = gw_call_run(&call, 1, tenant_lockbox_body, 200);
	json_decref(call.body);
	return ret;
}
