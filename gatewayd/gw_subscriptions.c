/* lockbox-gatewayd: /v1/subscriptions (provider admins). */
#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

static enum gw_db subscription_create_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *tenant = lb_json_str(call->body, "tenant");
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN];
	json_t *t;
	enum gw_db rc;

	rc = s->get(s->cls, call->txn, &gw_k_tenants, "id", tenant, &t);
	if (rc == GW_DB_NOT_FOUND)
		return gw_call_fail(call, "not_found", "no tenant %s", tenant);
	if (rc != GW_DB_OK)
		return rc;
	json_decref(t);
	gw_new_id("sub_", id);
	gw_now_str(call->r, now);
	call->out = json_pack("{s:s,s:s,s:O,s:s}", "id", id, "tenant", tenant, "name",
			    json_object_get(call->body, "name"), "created_at", now);
	rc = s->insert(s->cls, call->txn, &gw_k_subscriptions, call->out);
	if (rc == GW_DB_CONFLICT)
		return gw_call_fail(call, "conflict", "the tenant has a subscription with that name");
	if (rc == GW_DB_OK)
		rc = gw_directory_event(call, "directory.subscription.create", tenant,
					json_pack("{s:s,s:O}", "subscription", id, "name",
						  json_object_get(call->out, "name")));
	return rc;
}

enum MHD_Result gw_subscriptions_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"tenant", GW_F_STR, 1, 64}, {"name", GW_F_STR, 1, 128}, {NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "subscription"};
	enum MHD_Result ret;

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	ret = gw_call_run(&call, 1, subscription_create_body, 201);
	json_decref(call.body);
	return ret;
}

enum MHD_Result gw_subscriptions_list(struct gw_req *r)
{
	static const char *const by[] = {"tenant", NULL};
	return gw_reply_list_by(r, &gw_k_subscriptions, by, NULL);
}
