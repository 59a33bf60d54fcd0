/* lockbox-gatewayd: /v1/tenants (provider admins) and the tenant's lockbox switch (global admins). */
#include <string.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

static enum gw_db tenant_create_tx(struct gw_tx *tx)
{
	struct gw_store *s = tx->r->gw->store;
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN];
	enum gw_db rc;

	gw_new_id("tnt_", id);
	gw_now_str(tx->r, now);
	tx->out = json_pack("{s:s,s:O,s:b,s:s,s:s}", "id", id, "name",
			    json_object_get(tx->body, "name"), "lockbox_enabled", 1, "created_at", now,
			    "updated_at", now);
	rc = s->insert(s->cls, &gw_k_tenants, tx->out);
	if (rc == GW_DB_CONFLICT)
		return gw_tx_fail(tx, "conflict", "a tenant with that name exists already");
	if (rc == GW_DB_OK)
		rc = gw_directory_event(tx, "directory.tenant.create", id,
					json_pack("{s:s,s:O}", "tenant", id, "name",
						  json_object_get(tx->out, "name")));
	return rc;
}

enum MHD_Result gw_tenants_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {{"name", GW_F_STR, 1, 128}, {NULL, 0, 0, 0}};
	struct gw_tx tx = {.r = r, .what = "tenant"};
	enum MHD_Result ret;

	if (!gw_is(&r->who, GW_ROLE_PROVIDER_ADMIN))
		return gw_reply_error(r, "forbidden", "creating tenants needs provider_admin");
	if (!(tx.body = gw_parse_body(r, spec)))
		return MHD_YES;
	ret = gw_tx_run(&tx, 1, tenant_create_tx, 201);
	json_decref(tx.body);
	return ret;
}

enum MHD_Result gw_tenants_list(struct gw_req *r)
{
	if (!gw_is(&r->who, GW_ROLE_PROVIDER_ADMIN))
		return gw_reply_error(r, "forbidden", "listing tenants needs provider_admin");
	return gw_reply_list(r, &gw_k_tenants, NULL, 0, NULL);
}

enum MHD_Result gw_tenants_get(struct gw_req *r)
{
	json_t *t;
	enum gw_db rc;
	if (!gw_is(&r->who, GW_ROLE_PROVIDER_ADMIN))
		return gw_reply_error(r, "forbidden", "reading tenants needs provider_admin");
	rc = r->gw->store->get(r->gw->store->cls, &gw_k_tenants, "id", r->args[0], &t);
	if (rc != GW_DB_OK)
		return gw_reply_db(r, rc, "tenant");
	return gw_reply_json(r, 200, t);
}

static enum gw_db tenant_lockbox_tx(struct gw_tx *tx)
{
	struct gw_store *s = tx->r->gw->store;
	const char *id = tx->r->args[0];
	int enabled = json_is_true(json_object_get(tx->body, "enabled"));
	char now[LB_TIME_BUFLEN];
	json_t *fields;
	enum gw_db rc;
	struct gw_event ev = {0};

	gw_now_str(tx->r, now);
	fields = json_pack("{s:b,s:s}", "lockbox_enabled", enabled, "updated_at", now);
	rc = s->update(s->cls, &gw_k_tenants, id, fields);
	json_decref(fields);
	if (rc != GW_DB_OK)
		return rc;
	ev.type = enabled ? "tenant.lockbox.enable" : "tenant.lockbox.disable";
	ev.tenant = id;
	ev.level = "tenant";
	ev.actor = tx->r->who.id;
	if ((rc = gw_audit_emit(tx->r->gw, &ev, NULL)) != GW_DB_OK)
		return rc;
	return s->get(s->cls, &gw_k_tenants, "id", id, &tx->out);
}

enum MHD_Result gw_tenants_set_lockbox(struct gw_req *r)
{
	static const struct gw_field spec[] = {{"enabled", GW_F_BOOL, 1, 0}, {NULL, 0, 0, 0}};
	struct gw_tx tx = {.r = r, .what = "tenant"};
	enum MHD_Result ret;

	if (!gw_is_in_tenant(&r->who, GW_ROLE_GLOBAL_ADMIN, r->args[0]))
		return gw_reply_error(r, "forbidden", "only the tenant's global admins switch lockbox");
	if (!(tx.body = gw_parse_body(r, spec)))
		return MHD_YES;
	ret = gw_tx_run(&tx, 1, tenant_lockbox_tx, 200);
	json_decref(tx.body);
	return ret;
}
