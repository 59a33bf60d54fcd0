/* lockbox-gatewayd: /v1/subscriptions (provider admins). */
#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

static enum gw_db subscription_create_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *tenant = lb_json_str(call->body, "tenant");
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN];
	enum gw_db rc;

	if ((rc = gw_call_get(call, &gw_k_tenants, tenant, NULL)) != GW_DB_OK)
		return rc;
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
	return gw_call_parsed(r, spec, "subscription", subscription_create_body, 201);
}

enum MHD_Result gw_subscriptions_list(struct gw_req *r)
{
	static const char *const by[] = {"tenant", NULL};
	return gw_reply_list_by(r, &gw_k_subscriptions, by, NULL);
}
