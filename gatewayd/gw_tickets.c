/* lockbox-gatewayd: /v1/tickets: customers open support tickets; engineers read them. */
#include <string.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

static enum gw_db ticket_create_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *tenant = lb_json_str(call->body, "tenant");
	const char *sub = lb_json_str(call->body, "subscription");
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN];
	json_t *o;
	enum gw_db rc;

	if (sub) {
		rc = s->get(s->cls, call->txn, &gw_k_subscriptions, "id", sub, &o);
		if (rc == GW_DB_NOT_FOUND)
			return gw_call_fail(call, "not_found", "no subscription %s", sub);
		if (rc != GW_DB_OK)
			return rc;
		rc = strcmp(lb_json_str(o, "tenant"), tenant) == 0 ? GW_DB_OK : GW_DB_ABORT;
		json_decref(o);
		if (rc != GW_DB_OK)
			return gw_call_fail(call, "rule_violated", "the subscription belongs to another tenant");
	}
	gw_new_id("tkt_", id);
	gw_now_str(call->r, now);
	call->out = json_pack("{s:s,s:s,s:s?,s:O,s:O,s:s,s:s,s:s,s:s}", "id", id, "tenant", tenant,
			    "subscription", sub, "title", json_object_get(call->body, "title"),
			    "description", json_object_get(call->body, "description"), "state", "open",
			    "created_by", call->r->who.id, "created_at", now, "updated_at", now);
	return s->insert(s->cls, call->txn, &gw_k_tickets, call->out);
}

enum MHD_Result gw_tickets_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"tenant", GW_F_STR, 1, 64},  {"subscription", GW_F_STR, 0, 64},
		{"title", GW_F_STR, 1, 200},  {"description", GW_F_STR, 1, 4000},
		{NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "ticket"};
	enum MHD_Result ret;

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	if (!gw_is_in_tenant(&r->who, GW_ROLE_CUSTOMER_USER, lb_json_str(call.body, "tenant")))
		ret = gw_reply_error(r, "forbidden", "you are not a customer user of that tenant");
	else
		ret = gw_call_run(&call, 1, ticket_create_body, 201);
	json_decref(call.body);
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
	enum gw_db rc = r->gw->store->get(r->gw->store->cls, NULL, &gw_k_tickets, "id", r->args[0], &t);
	if (rc == GW_DB_OK && !gw_may_read_ticket(&r->who, t)) {
		json_decref(t);
		rc = GW_DB_NOT_FOUND; /* out of scope looks like absent: ids are not an oracle */
	}
	if (rc != GW_DB_OK)
		return gw_reply_db(r, rc, "ticket");
	return gw_reply_json(r, 200, t);
}

static enum gw_db ticket_close_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *tenant;
	char now[LB_TIME_BUFLEN];
	json_t *fields;
	enum gw_db rc = s->get(s->cls, call->txn, &gw_k_tickets, "id", call->r->args[0], &call->out);

	if (rc != GW_DB_OK)
		return rc;
	tenant = lb_json_str(call->out, "tenant");
	if (!gw_is_in_tenant(&call->r->who, GW_ROLE_CUSTOMER_USER, tenant) &&
	    !gw_is_in_tenant(&call->r->who, GW_ROLE_GLOBAL_ADMIN, tenant)) {
		if (gw_may_read_ticket(&call->r->who, call->out))
			return gw_call_fail(call, "forbidden", "closing tickets needs customer_user or global_admin of the tenant");
		return GW_DB_NOT_FOUND;
	}
	if (strcmp(lb_json_str(call->out, "state"), "open") != 0)
		return gw_call_fail(call, "wrong_state", "the ticket is closed already");
	gw_now_str(call->r, now);
	fields = json_pack("{s:s,s:s}", "state", "closed", "updated_at", now);
	rc = s->update(s->cls, call->txn, &gw_k_tickets, call->r->args[0], fields);
	json_object_update(call->out, fields);
	json_decref(fields);
	return rc;
}

enum MHD_Result gw_tickets_close(struct gw_req *r)
{
	struct gw_call call = {.r = r, .what = "ticket"};
	return gw_call_run(&call, 1, ticket_close_body, 200);
}
