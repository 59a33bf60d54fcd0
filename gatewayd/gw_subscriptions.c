/* lockbox-gatewayd: /v1/subscriptions (provider admins). */
#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

static enum gw_db subscription_create_tx(struct gw_tx *tx)
{
	struct gw_store *s = tx->r->gw->store;
	const char *tenant = lb_json_str(tx->body, "tenant");
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN];
	json_t *t;
	enum gw_db rc;

	rc = s->get(s->cls, &gw_k_tenants, "id", tenant, &t);
	if (rc == GW_DB_NOT_FOUND)
		return gw_tx_fail(tx, "not_found", "no tenant %s", tenant);
	if (rc != GW_DB_OK)
		return rc;
	json_decref(t);
	gw_new_id("sub_", id);
	gw_now_str(tx->r, now);
	tx->out = json_pack("{s:s,s:s,s:O,s:s}", "id", id, "tenant", tenant, "name",
			    json_object_get(tx->body, "name"), "created_at", now);
	rc = s->insert(s->cls, &gw_k_subscriptions, tx->out);
	if (rc == GW_DB_CONFLICT)
		return gw_tx_fail(tx, "conflict", "the tenant has a subscription with that name");
	if (rc == GW_DB_OK)
		rc = gw_directory_event(tx, "directory.subscription.create", tenant,
					json_pack("{s:s,s:O}", "subscription", id, "name",
						  json_object_get(tx->out, "name")));
	return rc;
}

enum MHD_Result gw_subscriptions_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"tenant", GW_F_STR, 1, 64}, {"name", GW_F_STR, 1, 128}, {NULL, 0, 0, 0}};
	struct gw_tx tx = {.r = r, .what = "subscription"};
	enum MHD_Result ret;

	if (!(tx.body = gw_parse_body(r, spec)))
		return MHD_YES;
	ret = gw_tx_run(&tx, 1, subscription_create_tx, 201);
	json_decref(tx.body);
	return ret;
}

enum MHD_Result gw_subscriptions_list(struct gw_req *r)
{
	static const char *const by[] = {"tenant", NULL};
	return gw_reply_list_by(r, &gw_k_subscriptions, by, NULL);
}
