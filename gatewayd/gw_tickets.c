/* lockbox-gatewayd: /v1/tickets: customers open support tickets; engineers read them. */
#include <string.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

static enum gw_db ticket_create_tx(struct gw_tx *tx)
{
	struct gw_store *s = tx->r->gw->store;
	const char *tenant = lb_json_str(tx->body, "tenant");
	const char *sub = lb_json_str(tx->body, "subscription");
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN];
	json_t *o;
	enum gw_db rc;

	if (sub) {
		rc = s->get(s->cls, &gw_k_subscriptions, "id", sub, &o);
		if (rc == GW_DB_NOT_FOUND)
			return gw_tx_fail(tx, "not_found", "no subscription %s", sub);
		if (rc != GW_DB_OK)
			return rc;
		rc = strcmp(lb_json_str(o, "tenant"), tenant) == 0 ? GW_DB_OK : GW_DB_ABORT;
		json_decref(o);
		if (rc != GW_DB_OK)
			return gw_tx_fail(tx, "rule_violated", "the subscription belongs to another tenant");
	}
	gw_new_id("tkt_", id);
	gw_now_str(tx->r, now);
	tx->out = json_pack("{s:s,s:s,s:s?,s:O,s:O,s:s,s:s,s:s,s:s}", "id", id, "tenant", tenant,
			    "subscription", sub, "title", json_object_get(tx->body, "title"),
			    "description", json_object_get(tx->body, "description"), "state", "open",
			    "created_by", tx->r->who.id, "created_at", now, "updated_at", now);
	return s->insert(s->cls, &gw_k_tickets, tx->out);
}

enum MHD_Result gw_tickets_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"tenant", GW_F_STR, 1, 64},  {"subscription", GW_F_STR, 0, 64},
		{"title", GW_F_STR, 1, 200},  {"description", GW_F_STR, 1, 4000},
		{NULL, 0, 0, 0}};
	struct gw_tx tx = {.r = r, .what = "ticket"};
	enum MHD_Result ret;

	if (!(tx.body = gw_parse_body(r, spec)))
		return MHD_YES;
	if (!gw_is_in_tenant(&r->who, GW_ROLE_CUSTOMER_USER, lb_json_str(tx.body, "tenant")))
		ret = gw_reply_error(r, "forbidden", "you are not a customer user of that tenant");
	else
		ret = gw_tx_run(&tx, 1, ticket_create_tx, 201);
	json_decref(tx.body);
	return ret;
}

static int ticket_visible(const json_t *row, void *p)
{
	return gw_may_read_ticket(p, row);
}

enum MHD_Result gw_tickets_list(struct gw_req *r)
{
	static const char *const by[] = {"tenant", "state", NULL};
	return gw_reply_list_by(r, &gw_k_tickets, by, ticket_visible);
}

enum MHD_Result gw_tickets_get(struct gw_req *r)
{
	json_t *t;
	enum gw_db rc = r->gw->store->get(r->gw->store->cls, &gw_k_tickets, "id", r->args[0], &t);
	if (rc == GW_DB_OK && !gw_may_read_ticket(&r->who, t)) {
		json_decref(t);
		rc = GW_DB_NOT_FOUND; /* out of scope looks like absent: ids are not an oracle */
	}
	if (rc != GW_DB_OK)
		return gw_reply_db(r, rc, "ticket");
	return gw_reply_json(r, 200, t);
}

static enum gw_db ticket_close_tx(struct gw_tx *tx)
{
	struct gw_store *s = tx->r->gw->store;
	const char *tenant;
	char now[LB_TIME_BUFLEN];
	json_t *fields;
	enum gw_db rc = s->get(s->cls, &gw_k_tickets, "id", tx->r->args[0], &tx->out);

	if (rc != GW_DB_OK)
		return rc;
	tenant = lb_json_str(tx->out, "tenant");
	if (!gw_is_in_tenant(&tx->r->who, GW_ROLE_CUSTOMER_USER, tenant) &&
	    !gw_is_in_tenant(&tx->r->who, GW_ROLE_GLOBAL_ADMIN, tenant)) {
		if (gw_may_read_ticket(&tx->r->who, tx->out))
			return gw_tx_fail(tx, "forbidden", "closing tickets needs customer_user or global_admin of the tenant");
		return GW_DB_NOT_FOUND;
	}
	if (strcmp(lb_json_str(tx->out, "state"), "open") != 0)
		return gw_tx_fail(tx, "wrong_state", "the ticket is closed already");
	gw_now_str(tx->r, now);
	fields = json_pack("{s:s,s:s}", "state", "closed", "updated_at", now);
	rc = s->update(s->cls, &gw_k_tickets, tx->r->args[0], fields);
	json_object_update(tx->out, fields);
	json_decref(fields);
	return rc;
}

enum MHD_Result gw_tickets_close(struct gw_req *r)
{
	struct gw_tx tx = {.r = r, .what = "ticket"};
	return gw_tx_run(&tx, 1, ticket_close_tx, 200);
}
