/* lockbox-gatewayd: /v1/requests: the handlers of the support-access request and the sweeper
 * that ends it; the rules they apply (state, coverage, who decides) are in rules_requests.c. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "gw.h"
#include "gw_notify.h"
#include "rules_requests.h"
#include "lockbox/json.h"
#include "lockbox/util.h"
#include "lockbox/vocab.h"

#define GW_REQUEST_HOSTS_MAX 100

/* Emits a lockbox.request.* event for REQ. */
static enum gw_db request_event(struct gw *gw, struct gw_txn *t, const json_t *req, const char *action,
				const char *actor, json_t *details)
{
	char type[64];
	struct gw_event ev = {0};
	int sub = lb_str_eq(lb_json_str(req, "scope"), "subscription");

	snprintf(type, sizeof(type), "lockbox.request.%s", action);
	ev.type = type;
	ev.tenant = lb_json_str(req, "tenant");
	ev.subscription = sub ? lb_json_str(req, "subscription") : NULL;
	ev.actor = actor;
	ev.request = lb_json_str(req, "id");
	ev.details = details;
	return gw_audit_emit(gw, t, &ev, NULL);
}

/* Queues the notifications announcing REQ's (new) state. */
static enum gw_db notify_state(struct gw *gw, struct gw_txn *t, const json_t *req)
{
	char event[64];
	snprintf(event, sizeof(event), "request.%s", lb_json_str(req, "state"));
	return gw_notify_request(gw, t, req, event);
}

/* Approves REQ now and opens its grant window: approved_at, grant_starts_at,
 * grant_expires_at. The window starts now, or, for an extension (extends), where the grant it
 * extends ends (DESIGN.md "Approval policies"), so live sessions go on across the boundary. */
static enum gw_db grant_fields(struct gw_store *s, struct gw_txn *t, json_t *fields, const json_t *req,
			       int64_t now_ms, const char *by)
{
	int64_t secs = 0, start = now_ms;
	char now[LB_TIME_BUFLEN], from[LB_TIME_BUFLEN], until[LB_TIME_BUFLEN];
	const char *ext = lb_json_str(req, "extends");

	if (ext) {
		json_t *old = NULL;
		enum gw_db rc = s->get(s->cls, t, &gw_k_requests, "id", ext, &old);
		int64_t end;
		if (rc != GW_DB_OK && rc != GW_DB_NOT_FOUND)
			return rc;
		if (old && lb_time_parse(lb_json_str(old, "grant_expires_at"), &end) == 0)
			start = end;
		json_decref(old);
	}
	lb_duration_parse(lb_json_str(req, "duration"), &secs);
	lb_time_format(now_ms, now, sizeof(now));
	lb_time_format(start, from, sizeof(from));
	lb_time_format(start + secs * 1000, until, sizeof(until));
	json_object_set_new(fields, "state", json_string(LB_RS_APPROVED));
	lb_json_set_str_or_null(fields, "approved_by", by);
	json_object_set_new(fields, "approved_at", json_string(now));
	json_object_set_new(fields, "grant_starts_at", json_string(from));
	json_object_set_new(fields, "grant_expires_at", json_string(until));
	return GW_DB_OK;
}

static enum gw_db hosts_in_scope(struct gw_call *call, const char *tenant, const char *scope,
				 const char *sub, json_t *hosts)
{
	struct gw_store *s = call->r->gw->store;
	size_t i;
	json_t *h;

	json_array_foreach(hosts, i, h) {
		const char *name = json_string_value(h);
		json_t *row;
		enum gw_db rc;
		int ok;
		if (lb_str_eq(name, "*")) {
			if (json_array_size(hosts) != 1)
				return gw_call_fail(call, "bad_value", "hosts: \"*\" stands alone");
			return GW_DB_OK;
		}
		rc = s->get(s->cls, call->txn, &gw_k_hosts, "name", name, &row);
		if (rc == GW_DB_NOT_FOUND)
			return gw_call_fail(call, "host_not_in_scope", "host %.253s is not enrolled", name);
		if (rc != GW_DB_OK)
			return rc;
		ok = lb_str_eq(scope, "tenant") ? lb_str_eq(lb_json_str(row, "tenant"), tenant)
					 : lb_str_eq(lb_json_str(row, "subscription"), sub);
		json_decref(row);
		if (!ok)
			return gw_call_fail(call, "host_not_in_scope",
					  "host %.253s is not in the request's %s", name, scope);
		for (size_t j = 0; j < i; j++)
			if (lb_str_eq(json_string_value(json_array_get(hosts, j)), name))
				return gw_call_fail(call, "bad_value", "hosts: %.253s is named twice", name);
	}
	return GW_DB_OK;
}

static enum gw_db engineer_elevated(struct gw_call *call, const json_t *req, int *yes);

/* What request_create_body has read: the ticket, its tenant, the subscription of a
 * subscription-scoped request. */
struct create_ctx {
	json_t *ticket, *tenant, *subo;
	int64_t secs;
	int mfa, break_glass;
};

/* require_mfa: the engineer's credential is MFA-verified when they hold a running elevation
 * activated with a TOTP code (the token's mfa flag no longer counts). */
static enum gw_db create_check_mfa(struct gw_call *call, struct create_ctx *c)
{
	enum gw_db rc = gw_elevation_mfa_running(call, &c->mfa);
	if (rc != GW_DB_OK)
		return rc;
	if (call->r->gw->cfg.require_mfa && !c->mfa)
		return gw_call_fail(call, "mfa_required", "this gateway requires MFA: activate an "
				  "elevation with a TOTP code first (lockboxctl elevate --totp CODE)");
	return GW_DB_OK;
}

/* The ticket TID, which must be open, and its tenant. */
static enum gw_db create_load_ticket(struct gw_call *call, const char *tid, struct create_ctx *c)
{
	struct gw_store *s = call->r->gw->store;
	enum gw_db rc = gw_call_get(call, &gw_k_tickets, tid, &c->ticket);
	if (rc != GW_DB_OK)
		return rc;
	if (!lb_str_eq(lb_json_str(c->ticket, "state"), "open"))
		return gw_call_fail(call, "ticket_closed", "ticket %s is closed", tid);
	return s->get(s->cls, call->txn, &gw_k_tenants, "id", lb_json_str(c->ticket, "tenant"), &c->tenant);
}

/* A subscription-scoped request: the subscription SUB exists, is the ticket's tenant's and,
 * when the ticket names one, the ticket's. */
static enum gw_db create_check_subscription(struct gw_call *call, const char *tid, const char *sub,
					    struct create_ctx *c)
{
	struct gw_store *s = call->r->gw->store;
	const char *tsub = lb_json_str(c->ticket, "subscription");
	enum gw_db rc = s->get(s->cls, call->txn, &gw_k_subscriptions, "id", sub, &c->subo);
	if (rc == GW_DB_NOT_FOUND)
		return gw_call_fail(call, "not_found", "no subscription %s", sub);
	if (rc != GW_DB_OK)
		return rc;
	if (!lb_str_eq(lb_json_str(c->subo, "tenant"), lb_json_str(c->ticket, "tenant")) ||
	    (tsub && !lb_str_eq(tsub, sub)))
		return gw_call_fail(call, "ticket_tenant_mismatch",
				  "ticket %s is not for subscription %s", tid, sub);
	return GW_DB_OK;
}

/* DESIGN.md "Approval policies": break-glass only where the tenant allows it, on an
 * MFA-backed elevation, at most break_glass_max; approved at once, reviewed afterwards. */
static enum gw_db create_check_break_glass(struct gw_call *call, const struct create_ctx *c)
{
	struct gw_policy p;
	gw_tenant_policy(c->tenant, &p);
	if (!p.break_glass)
		return gw_call_fail(call, "forbidden", "tenant %s does not allow break-glass access "
				  "(its global admin sets the policy)", lb_json_str(c->tenant, "id"));
	if (!c->mfa)
		return gw_call_fail(call, "mfa_required", "break-glass needs an elevation activated "
				  "with a TOTP code (lockboxctl elevate --totp CODE)");
	if (c->secs > p.break_glass_max) {
		char max[32];
		lb_duration_format(p.break_glass_max, max, sizeof(max));
		return gw_call_fail(call, "duration_too_long", "break-glass grants last at most %s",
				  max);
	}
	return GW_DB_OK;
}

/* The state a new request starts in; *AUTO_APPROVE when it needs no approval step
 * (break-glass, a tenant with lockbox disabled). */
static const char *create_initial_state(const struct gw_config *cfg, const char *scope,
					const struct create_ctx *c, int *auto_approve)
{
	int review = !c->break_glass &&
		     ((lb_str_eq(scope, "tenant") && cfg->review_tenant_scope) ||
		      (cfg->review_duration_over > 0 && c->secs > cfg->review_duration_over));
	*auto_approve = 0;
	if (c->break_glass) {
		*auto_approve = 1;
		return LB_RS_APPROVED;
	}
	if (review)
		return LB_RS_INTERNAL_REVIEW;
	if (!json_is_true(json_object_get(c->tenant, "lockbox_enabled"))) {
		*auto_approve = 1;
		return LB_RS_APPROVED;
	}
	return LB_RS_CUSTOMER_NOTIFIED;
}

/* The new request's row, in STATE, the grant fields still null. */
static json_t *create_row(struct gw_call *call, const struct create_ctx *c, const char *state,
			  const char *dur)
{
	struct gw_req *r = call->r;
	json_t *body = call->body, *row;
	const char *scope = lb_json_str(body, "scope");
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN], pend[LB_TIME_BUFLEN];

	gw_new_id("req_", id);
	gw_now_str(r, now);
	lb_time_format(r->now + r->gw->cfg.pending_ttl * 1000, pend, sizeof(pend));
	row = json_pack("{s:s,s:s,s:O,s:s,s:s?,s:O,s:O,s:s,s:O,s:s,s:s,s:O,s:s,s:s,"
			"s:n,s:n,s:n,s:n,s:s,s:n}",
			"id", id, "ticket", lb_json_str(body, "ticket"), "tenant",
			json_object_get(c->ticket, "tenant"), "scope", scope, "subscription",
			lb_str_eq(scope, "subscription") ? lb_json_str(body, "subscription") : NULL,
			"hosts", json_object_get(body, "hosts"), "access",
			json_object_get(body, "access"), "duration", dur, "justification",
			json_object_get(body, "justification"), "state", state, "requester",
			r->who.id, "requester_login", json_object_get(r->who.obj, "login"),
			"created_at", now, "updated_at", now, "internal_approved_by",
			"approved_by", "approved_at", "grant_expires_at", "pending_expires_at",
			pend, "decision_reason");
	/* an extension (POST /v1/requests/{id}/extend) names the request it extends */
	lb_json_set_str_or_null(row, "extends", lb_json_str(body, "extends"));
	json_object_set_new(row, "grant_starts_at", json_null());
	return row;
}

/* The audit events of the creation (create, then break_glass or the automatic approve) and
 * its notifications, in the creating transaction. */
static enum gw_db create_record(struct gw_call *call, const struct create_ctx *c, const char *state,
				const char *dur, int auto_approve)
{
	struct gw_req *r = call->r;
	struct gw *gw = r->gw;
	json_t *body = call->body;
	enum gw_db rc;

	rc = request_event(gw, call->txn, call->out, "create", r->who.id,
			   json_pack("{s:s,s:s,s:O,s:O,s:s,s:O,s:b}", "state", state, "ticket",
				     lb_json_str(body, "ticket"), "hosts",
				     json_object_get(body, "hosts"), "access",
				     json_object_get(body, "access"), "duration", dur,
				     "justification", json_object_get(body, "justification"),
				     "mfa", c->mfa));
	if (rc == GW_DB_OK && c->break_glass) {
		rc = request_event(gw, call->txn, call->out, "break_glass", r->who.id,
				   json_pack("{s:s,s:s,s:O,s:b}", "duration", dur, "review", "pending",
					     "justification", json_object_get(body, "justification"),
					     "mfa", c->mfa));
		gw_call_changed(call, lb_json_str(call->out, "tenant"));
	} else if (rc == GW_DB_OK && auto_approve) {
		rc = request_event(gw, call->txn, call->out, "approve", NULL,
				   json_pack("{s:b,s:s}", "lockbox_disabled", 1, "note",
					     "the tenant has lockbox disabled: no customer approval step"));
		gw_call_changed(call, lb_json_str(call->out, "tenant"));
	}
	/* break-glass: every designated approver and provider admin is told in this same
	 * transaction (the outbox row commits with the grant, before any login can use it) */
	if (rc == GW_DB_OK)
		rc = c->break_glass ? gw_notify_request(gw, call->txn, call->out, "request.break_glass")
				    : notify_state(gw, call->txn, call->out);
	return rc;
}

/* An approval needs a running elevation (no_elevation): say so now, not after the customer
 * has been asked. */
static enum gw_db create_warn_no_elevation(struct gw_call *call)
{
	int elevated = 0;
	enum gw_db rc = engineer_elevated(call, call->out, &elevated);
	if (rc == GW_DB_OK && !elevated)
		json_object_set_new(call->out, "warnings",
				    json_pack("[s]", "no_elevation: you have no running "
					      "elevation; activate one now ('lockboxctl "
					      "elevate'), or the approvers cannot approve "
					      "this request"));
	return rc;
}

static enum gw_db request_create_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	json_t *body = call->body;
	const char *tid = lb_json_str(body, "ticket"), *scope = lb_json_str(body, "scope");
	const char *sub = lb_json_str(body, "subscription"), *state;
	struct create_ctx c = {NULL, NULL, NULL, 0, 0, 0};
	char dur[32];
	int auto_approve;
	enum gw_db rc;

	c.break_glass = json_is_true(json_object_get(body, "break_glass"));
	lb_duration_parse(lb_json_str(body, "duration"), &c.secs);
	if ((rc = create_check_mfa(call, &c)) != GW_DB_OK ||
	    (rc = create_load_ticket(call, tid, &c)) != GW_DB_OK)
		goto out;
	if (lb_str_eq(scope, "subscription") &&
	    (rc = create_check_subscription(call, tid, sub, &c)) != GW_DB_OK)
		goto out;
	if ((rc = hosts_in_scope(call, lb_json_str(c.ticket, "tenant"), scope, sub,
				 json_object_get(body, "hosts"))) != GW_DB_OK)
		goto out;
	if (c.break_glass && (rc = create_check_break_glass(call, &c)) != GW_DB_OK)
		goto out;
	state = create_initial_state(&call->r->gw->cfg, scope, &c, &auto_approve);
	lb_duration_format(c.secs, dur, sizeof(dur));
	call->out = create_row(call, &c, state, dur);
	if (auto_approve &&
	    (rc = grant_fields(s, call->txn, call->out, call->out, call->r->now, NULL)) != GW_DB_OK)
		goto out;
	/* its sessions are looked at once its grant ends (sweep_lost_sessions) */
	json_object_set_new(call->out, "sessions_checked", json_false());
	json_object_set_new(call->out, "approvals", json_array());
	json_object_set_new(call->out, "break_glass", json_boolean(c.break_glass));
	lb_json_set_str_or_null(call->out, "review", c.break_glass ? "pending" : NULL);
	rc = s->insert(s->cls, call->txn, &gw_k_requests, call->out);
	json_object_del(call->out, "sessions_checked");
	if (rc != GW_DB_OK)
		goto out;
	rc = create_record(call, &c, state, dur, auto_approve);
	if (rc == GW_DB_OK && !auto_approve)
		rc = create_warn_no_elevation(call);
out:
	json_decref(c.ticket);
	json_decref(c.tenant);
	json_decref(c.subo);
	return rc;
}

/* BODY's duration (default_grant when absent), checked against max_grant and written back in
 * its canonical form; 0, or -1 after replying (*RET). */
static int request_duration(struct gw_req *r, json_t *body, enum MHD_Result *ret)
{
	const struct gw_config *cfg = &r->gw->cfg;
	int64_t secs = cfg->default_grant;
	char dur[32];

	if (json_object_get(body, "duration") &&
	    gw_want_duration(r, "duration", lb_json_str(body, "duration"), &secs) != 0) {
		*ret = MHD_YES;
		return -1;
	}
	if (secs > cfg->max_grant) {
		*ret = gw_reply_error(r, "duration_too_long", "duration: at most %llds (max_grant)",
				      (long long)cfg->max_grant);
		return -1;
	}
	lb_duration_format(secs, dur, sizeof(dur));
	json_object_set_new(body, "duration", json_string(dur));
	return 0;
}

enum MHD_Result gw_requests_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"ticket", GW_F_STR, 1, 64},     {"scope", GW_F_STR, 1, 16},
		{"subscription", GW_F_STR, 0, 64}, {"hosts", GW_F_STRLIST, 1, 253},
		{"access", GW_F_STR, 1, 8},      {"duration", GW_F_STR, 0, 32},
		{"justification", GW_F_STR, 1, 1000}, {"break_glass", GW_F_BOOL, 0, 0},
		{NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "request"};
	enum MHD_Result ret;
	const char *scope, *access;
	size_t nhosts;

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	scope = lb_json_str(call.body, "scope");
	access = lb_json_str(call.body, "access");
	nhosts = json_array_size(json_object_get(call.body, "hosts"));
	if (!lb_str_eq(scope, "subscription") && !lb_str_eq(scope, "tenant"))
		ret = gw_reply_error(r, "bad_value", "scope: subscription or tenant");
	else if (lb_str_eq(scope, "subscription") != (json_object_get(call.body, "subscription") != NULL))
		ret = gw_reply_error(r, "bad_value", "subscription: required exactly when scope is subscription");
	else if (!lb_str_eq(access, "ssh") && !lb_str_eq(access, "rdp"))
		ret = gw_reply_error(r, "bad_value", "access: ssh or rdp");
	else if (nhosts < 1 || nhosts > GW_REQUEST_HOSTS_MAX)
		ret = gw_reply_error(r, "bad_value", "hosts: name 1..%d hosts, or [\"*\"]", GW_REQUEST_HOSTS_MAX);
	else if (request_duration(r, call.body, &ret) == 0) {
		ret = gw_call_run(&call, 1, request_create_body, 201);
		gw_notify_kick();
	}
	json_decref(call.body);
	return ret;
}

/* POST /v1/requests/{id}/extend: its engineer, while it is approved, asks for more time. A
 * new request with the old one's ticket, scope, hosts and access (extends = the old id),
 * decided like any other; approved, its window starts where the old one ends. */
static enum gw_db request_extend_body(struct gw_call *call)
{
	struct gw_req *r = call->r;
	struct gw_store *s = r->gw->store;
	json_t *old = NULL;
	enum gw_db rc = s->get(s->cls, call->txn, &gw_k_requests, "id", r->args[0], &old);

	if (rc == GW_DB_NOT_FOUND || (rc == GW_DB_OK && !gw_may_read_request(&r->who, old))) {
		json_decref(old);
		return gw_call_fail(call, "not_found", "no request %s", r->args[0]);
	}
	if (rc != GW_DB_OK)
		return rc;
	if (!lb_str_eq(lb_json_str(old, "requester"), r->who.id)) {
		rc = gw_call_fail(call, "forbidden", "only its engineer extends a request");
		goto out;
	}
	if (!lb_str_eq(gw_request_effective_state(old, r->now), LB_RS_APPROVED)) {
		rc = gw_call_fail(call, "wrong_state", "request %s is %s: only an approved grant is "
				"extended (open a new request instead)", r->args[0],
				gw_request_effective_state(old, r->now));
		goto out;
	}
	json_object_set(call->body, "ticket", json_object_get(old, "ticket"));
	json_object_set(call->body, "scope", json_object_get(old, "scope"));
	if (lb_json_str(old, "subscription"))
		json_object_set(call->body, "subscription", json_object_get(old, "subscription"));
	json_object_set(call->body, "hosts", json_object_get(old, "hosts"));
	json_object_set(call->body, "access", json_object_get(old, "access"));
	json_object_set_new(call->body, "extends", json_string(r->args[0]));
	if ((rc = request_create_body(call)) != GW_DB_OK || call->err_code)
		goto out;
	rc = request_event(r->gw, call->txn, call->out, "extend", r->who.id,
			   json_pack("{s:s,s:O,s:O}", "extends", r->args[0], "duration",
				     json_object_get(call->out, "duration"), "old_grant_expires_at",
				     json_object_get(old, "grant_expires_at")));
out:
	json_decref(old);
	return rc;
}

enum MHD_Result gw_requests_extend(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"duration", GW_F_STR, 0, 32}, {"justification", GW_F_STR, 1, 1000}, {NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "request"};
	enum MHD_Result ret = MHD_YES;

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	if (request_duration(r, call.body, &ret) == 0) {
		ret = gw_call_run(&call, 1, request_extend_body, 201);
		gw_notify_kick();
	}
	json_decref(call.body);
	return ret;
}

struct list_scope {
	struct gw_principal *who;
	int pending_only;
};

static int request_visible(const json_t *row, void *arg)
{
	struct list_scope *ls = arg;
	if (ls->pending_only && !gw_request_is_pending(lb_json_str(row, "state")))
		return 0;
	return gw_may_read_request(ls->who, row);
}

enum MHD_Result gw_requests_list(struct gw_req *r)
{
	struct gw_filter f[5];
	size_t nf = 0, limit;
	int64_t cursor, next;
	const char *state = gw_query(r, "state"), *mine = gw_query(r, "mine");
	struct list_scope ls = {&r->who, 0};
	json_t *items;
	enum gw_db rc;

	if (gw_parse_page(r, &limit, &cursor) != 0)
		return MHD_YES;
	if (state) {
		if (!lb_request_state_known(state) && !lb_str_eq(state, LB_RS_PENDING_FILTER)) {
			char all[256] = "";
			for (const struct lb_request_state *st = lb_request_states; st->name; st++)
				snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s, ", st->name);
			return gw_reply_error(r, "bad_query", "state: one of %s" LB_RS_PENDING_FILTER,
					      all);
		}
		if (lb_str_eq(state, LB_RS_PENDING_FILTER))
			ls.pending_only = 1;
		else
			f[nf++] = (struct gw_filter){"state", GW_EQ, state};
	}
	if (gw_query(r, "tenant"))
		f[nf++] = (struct gw_filter){"tenant", GW_EQ, gw_query(r, "tenant")};
	if (gw_query(r, "subscription"))
		f[nf++] = (struct gw_filter){"subscription", GW_EQ, gw_query(r, "subscription")};
	if (gw_query(r, "host"))
		f[nf++] = (struct gw_filter){"hosts", GW_HAS, gw_query(r, "host")};
	if (mine && !lb_str_eq(mine, "true") && !lb_str_eq(mine, "false"))
		return gw_reply_error(r, "bad_query", "mine: true or false");
	if (mine && lb_str_eq(mine, "true"))
		f[nf++] = (struct gw_filter){"requester", GW_EQ, r->who.id};
	rc = r->gw->store->list(r->gw->store->cls, NULL, &gw_k_requests, f, nf, cursor, limit, 0,
				request_visible, &ls, &items, &next);
	if (rc != GW_DB_OK)
		return gw_reply_db(r, rc, "request");
	return gw_reply_page(r, items, next);
}

/* The engineer's newest elevation as "elevation" ({activated_at, expires_at, mfa} or null):
 * an approver sees whether an approval given now could be used (it must have started before
 * the approval and still run, DESIGN.md "The access decision"); the engineer's elevations
 * are not otherwise theirs to read. */
static enum gw_db request_elevation(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	struct gw_filter f[1] = {{"user", GW_EQ, lb_json_str(call->out, "requester")}};
	json_t *items = NULL, *e;
	int64_t next;
	enum gw_db rc;

	if (!f[0].val)
		return GW_DB_OK;
	rc = s->list(s->cls, call->txn, &gw_k_elevations, f, 1, 0, 1, 1, NULL, NULL, &items, &next);
	if (rc != GW_DB_OK)
		return rc;
	e = json_array_get(items, 0);
	json_object_set_new(call->out, "elevation",
			    e ? json_pack("{s:O,s:O,s:O,s:O}", "id", json_object_get(e, "id"),
					  "activated_at", json_object_get(e, "activated_at"),
					  "expires_at", json_object_get(e, "expires_at"), "mfa",
					  json_object_get(e, "mfa"))
			      : json_null());
	json_decref(items);
	return GW_DB_OK;
}

static enum gw_db request_get_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	struct gw_filter f[1] = {{"request", GW_EQ, call->r->args[0]}};
	json_t *events, *ev, *hist;
	int64_t next;
	size_t i;
	enum gw_db rc = s->get(s->cls, call->txn, &gw_k_requests, "id", call->r->args[0], &call->out);

	if (rc != GW_DB_OK)
		return rc;
	if (!gw_may_read_request(&call->r->who, call->out))
		return GW_DB_NOT_FOUND;
	rc = s->list(s->cls, call->txn, &gw_k_audit, f, 1, 0, GW_LIST_MAX, 0, NULL, NULL, &events, &next);
	if (rc != GW_DB_OK)
		return rc;
	hist = json_array();
	json_array_foreach(events, i, ev) {
		const char *type = lb_json_str(ev, "type");
		json_t *details = json_object_get(ev, "details");
		if (!type || strncmp(type, "lockbox.request.", 16) != 0)
			continue;
		json_array_append_new(hist, json_pack("{s:O,s:s,s:O,s:O}", "time",
						      json_object_get(ev, "time"), "action",
						      type + 16, "actor", json_object_get(ev, "actor"),
						      "reason",
						      json_object_get(details, "reason")
							      ? json_object_get(details, "reason")
							      : json_null()));
	}
	json_decref(events);
	json_object_set_new(call->out, "history", hist);
	return request_elevation(call);
}

enum MHD_Result gw_requests_get(struct gw_req *r)
{
	struct gw_call call = {.r = r, .what = "request"};
	return gw_call_run(&call, 0, request_get_body, 200);
}

/* Whether REQ's engineer holds an elevation running now: without one an approval could
 * never be used (the check wants an elevation activated no later than the approval). */
static enum gw_db engineer_elevated(struct gw_call *call, const json_t *req, int *yes)
{
	struct gw_store *s = call->r->gw->store;
	char now[LB_TIME_BUFLEN];
	struct gw_filter f[2] = {{"user", GW_EQ, lb_json_str(req, "requester")},
				 {"expires_at", GW_GT, now}};
	json_t *items = NULL, *e;
	int64_t next;
	size_t i;
	enum gw_db rc;

	gw_now_str(call->r, now);
	*yes = 0;
	rc = s->list(s->cls, call->txn, &gw_k_elevations, f, 2, 0, 50, 1, NULL, NULL, &items, &next);
	json_array_foreach(items, i, e) {
		const char *act = lb_json_str(e, "activated_at");
		if (act && strcmp(act, now) <= 0)
			*yes = 1;
	}
	json_decref(items);
	return rc;
}

/* An approval under the tenant's policy (N-of-M): recorded in the request's approvals; the
 * grant opens with the last one needed (FIELDS get the grant), the earlier ones leave the
 * request waiting (*PARTIAL). The same approver counts once; the requester never does (they
 * cannot approve at all: self_approval). REQ gets approvals and approvals_required. */
static enum gw_db approval_add(struct gw_call *call, json_t *req, json_t *fields, const char *now,
			       const char *reason, int *partial)
{
	struct gw_store *s = call->r->gw->store;
	json_t *tenant = NULL, *list, *a;
	struct gw_policy p;
	size_t i;
	enum gw_db rc = s->get(s->cls, call->txn, &gw_k_tenants, "id", lb_json_str(req, "tenant"), &tenant);

	if (rc != GW_DB_OK)
		return rc;
	gw_tenant_policy(tenant, &p);
	json_decref(tenant);
	list = json_is_array(json_object_get(req, "approvals"))
		       ? json_deep_copy(json_object_get(req, "approvals"))
		       : json_array();
	json_array_foreach(list, i, a) {
		if (lb_str_eq(lb_json_str(a, "approver"), call->r->who.id)) {
			json_decref(list);
			return gw_call_fail(call, "already_approved", "you approved request %s already; "
					  "it needs another designated approver", lb_json_str(req, "id"));
		}
	}
	json_array_append_new(list, json_pack("{s:s,s:s?,s:s,s:s?}", "approver", call->r->who.id,
					      "login", lb_json_str(call->r->who.obj, "login"), "time",
					      now, "reason", reason));
	*partial = json_array_size(list) < (size_t)p.approvals_required;
	if (*partial)
		json_object_set_new(fields, "state", json_string(lb_json_str(req, "state")));
	else if ((rc = grant_fields(s, call->txn, fields, req, call->r->now, call->r->who.id)) != GW_DB_OK) {
		json_decref(list);
		return rc;
	}
	json_object_set(fields, "approvals", list);
	json_object_set_new(req, "approvals_required", json_integer(p.approvals_required));
	json_decref(list);
	return GW_DB_OK;
}

/* Whether the caller may make transition T on REQ, in its effective STATE, now: they see
 * it, their roles allow it, it is not their own request, its state allows it, the reason
 * is there when needed and, for an approval, the requester holds a running elevation. */
static enum gw_db decide_check_allowed(struct gw_call *call, const struct gw_transition *t,
				       json_t *req, const char *state, const char *reason)
{
	struct gw_req *r = call->r;
	int elevated = 0;
	enum gw_db rc;

	if (!gw_may_read_request(&r->who, req))
		return gw_call_fail(call, "not_found", "no request %s", r->args[0]);
	if (!gw_request_may_act(&r->who, t, req, state))
		return gw_call_fail(call, "forbidden", "your roles do not let you %s this request",
				  t->action);
	if (gw_transition_is_approval(t) && lb_str_eq(lb_json_str(req, "requester"), r->who.id))
		return gw_call_fail(call, "self_approval", "nobody decides on their own request");
	if (!gw_transition_from(t, state))
		return gw_call_fail(call, "wrong_state", "request %s is %s; cannot %s it", r->args[0],
				  state, t->action);
	if (t->reason_required && !reason)
		return gw_call_fail(call, "missing_field", "'reason' is required to %s", t->action);
	if (!lb_str_eq(t->action, "approve"))
		return GW_DB_OK;
	if ((rc = engineer_elevated(call, req, &elevated)) != GW_DB_OK)
		return rc;
	if (!elevated)
		return gw_call_fail(call, "no_elevation",
				  "%s has no running elevation, so this approval could never be used "
				  "(a login needs an elevation activated before the approval): ask "
				  "them to run 'lockboxctl elevate', then approve",
				  lb_json_str(req, "requester_login"));
	return GW_DB_OK;
}

/* The fields transition T changes in REQ, into FIELDS: the new state and, for an internal
 * approval of a tenant with lockbox disabled, the grant (*AUTO_APPROVE); for an approval,
 * the approvals so far (*PARTIAL while more are needed). */
static enum gw_db decide_fields(struct gw_call *call, const struct gw_transition *t, json_t *req,
				const char *now, const char *reason, json_t *fields,
				int *auto_approve, int *partial)
{
	struct gw_req *r = call->r;
	struct gw_store *s = r->gw->store;
	json_t *tenant = NULL;
	enum gw_db rc = GW_DB_OK;

	if (lb_str_eq(t->action, "internal_approve")) {
		json_object_set_new(fields, "internal_approved_by", json_string(r->who.id));
		if ((rc = s->get(s->cls, call->txn, &gw_k_tenants, "id", lb_json_str(req, "tenant"), &tenant)) !=
		    GW_DB_OK)
			return rc;
		if (!json_is_true(json_object_get(tenant, "lockbox_enabled"))) {
			rc = grant_fields(s, call->txn, fields, req, r->now, NULL);
			*auto_approve = rc == GW_DB_OK;
		}
		json_decref(tenant);
	} else if (lb_str_eq(t->action, "approve")) {
		rc = approval_add(call, req, fields, now, reason, partial);
	}
	if (rc == GW_DB_OK && !call->err_code && reason)
		json_object_set_new(fields, "decision_reason", json_string(reason));
	return rc;
}

/* The audit events of the decision on REQ (from STATE to its new one), its notifications,
 * and the change signal to the tenant's hosts. */
static enum gw_db decide_record(struct gw_call *call, const struct gw_transition *t, json_t *req,
				const char *state, const char *reason, int mfa, int auto_approve,
				int partial)
{
	struct gw_req *r = call->r;
	json_t *details = json_pack("{s:s,s:s}", "from", state, "to", lb_json_str(req, "state"));
	enum gw_db rc;

	if (reason)
		json_object_set_new(details, "reason", json_string(reason));
	if (mfa)
		json_object_set_new(details, "mfa", json_true());
	if (lb_str_eq(t->action, "approve"))
		/* N-of-M: each approval is its own event, numbered */
		json_object_set_new(details, "approval",
				    json_pack("{s:I,s:O}", "count",
					      (json_int_t)json_array_size(
						      json_object_get(req, "approvals")),
					      "required", json_object_get(req, "approvals_required")));
	rc = request_event(r->gw, call->txn, req, t->action, r->who.id, details);
	if (rc == GW_DB_OK && auto_approve)
		rc = request_event(r->gw, call->txn, req, "approve", NULL,
				   json_pack("{s:b}", "lockbox_disabled", 1));
	if (rc == GW_DB_OK)
		rc = partial ? gw_notify_request(r->gw, call->txn, req, "request.approval")
			     : notify_state(r->gw, call->txn, req);
	/* every decision may start or end a grant of the tenant's hosts */
	gw_call_changed(call, lb_json_str(req, "tenant"));
	return rc;
}

static enum gw_db request_decide_body(struct gw_call *call)
{
	struct gw_req *r = call->r;
	struct gw_store *s = r->gw->store;
	const struct gw_transition *t = call->arg;
	const char *reason = lb_json_str(call->body, "reason");
	char now[LB_TIME_BUFLEN], state[32];
	json_t *req = NULL, *fields;
	int auto_approve = 0, mfa = 0, partial = 0;
	enum gw_db rc;

	if ((rc = gw_call_get(call, &gw_k_requests, r->args[0], &req)) != GW_DB_OK)
		return rc;
	/* a copy: the row's own state string is replaced below */
	snprintf(state, sizeof(state), "%s", gw_request_effective_state(req, r->now));
	if ((rc = decide_check_allowed(call, t, req, state, reason)) != GW_DB_OK || call->err_code)
		goto out;
	/* last of the checks: a code is used up only by a decision that can be made */
	rc = gw_totp_verify(call, lb_json_str(call->body, "totp"),
			    t->approve_mfa && r->gw->cfg.approve_mfa, &mfa);
	if (rc != GW_DB_OK || call->err_code)
		goto out;
	gw_now_str(r, now);
	fields = json_pack("{s:s,s:s}", "state", t->to, "updated_at", now);
	rc = decide_fields(call, t, req, now, reason, fields, &auto_approve, &partial);
	if (rc != GW_DB_OK || call->err_code) {
		json_decref(fields);
		goto out;
	}
	rc = s->update(s->cls, call->txn, &gw_k_requests, r->args[0], fields);
	json_object_update(req, fields);
	json_decref(fields);
	if (rc != GW_DB_OK)
		goto out;
	rc = decide_record(call, t, req, state, reason, mfa, auto_approve, partial);
	call->out = json_incref(req);
out:
	json_decref(req);
	return rc;
}

static enum MHD_Result request_decide(struct gw_req *r, const char *action)
{
	static const struct gw_field spec[] = {
		{"reason", GW_F_STR, 0, 1000}, {"totp", GW_F_STR, 0, 16}, {NULL, 0, 0, 0}};
	const struct gw_transition *t = gw_request_transition(action);
	struct gw_call call = {.r = r, .what = "request"};
	enum MHD_Result ret;

	if (r->body_len == 0 && !r->too_big)
		call.body = json_object();
	else if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	call.arg = t;
	ret = gw_call_run(&call, 1, request_decide_body, 200);
	gw_notify_kick();
	json_decref(call.body);
	return ret;
}

enum MHD_Result gw_requests_internal_approve(struct gw_req *r)
{
	return request_decide(r, "internal_approve");
}
enum MHD_Result gw_requests_approve(struct gw_req *r)
{
	return request_decide(r, "approve");
}
enum MHD_Result gw_requests_deny(struct gw_req *r)
{
	return request_decide(r, "deny");
}
enum MHD_Result gw_requests_revoke(struct gw_req *r)
{
	return request_decide(r, "revoke");
}
enum MHD_Result gw_requests_cancel(struct gw_req *r)
{
	return request_decide(r, "cancel");
}

/* POST /v1/requests/{id}/review: a designated approver's verdict on a break-glass request
 * (DESIGN.md "Approval policies"); rejected revokes it if its grant is still live. */
static enum gw_db request_review_body(struct gw_call *call)
{
	struct gw_req *r = call->r;
	struct gw_store *s = r->gw->store;
	const char *verdict = lb_json_str(call->body, "verdict");
	const char *reason = lb_json_str(call->body, "reason");
	char now[LB_TIME_BUFLEN];
	json_t *req = NULL, *fields;
	int revoke;
	enum gw_db rc = s->get(s->cls, call->txn, &gw_k_requests, "id", r->args[0], &req);

	if (rc == GW_DB_NOT_FOUND || (rc == GW_DB_OK && !gw_may_read_request(&r->who, req))) {
		json_decref(req);
		return gw_call_fail(call, "not_found", "no request %s", r->args[0]);
	}
	if (rc != GW_DB_OK)
		return rc;
	if (!gw_is_designated_approver(&r->who, req) ||
	    lb_str_eq(lb_json_str(req, "requester"), r->who.id)) {
		rc = gw_call_fail(call, "forbidden", "only a designated approver other than the "
				"engineer reviews a break-glass request");
		goto out;
	}
	if (!json_is_true(json_object_get(req, "break_glass")) ||
	    !lb_str_eq(lb_json_str(req, "review"), "pending")) {
		rc = gw_call_fail(call, "wrong_state", "request %s has no pending break-glass review",
				r->args[0]);
		goto out;
	}
	gw_now_str(r, now);
	revoke = lb_str_eq(verdict, "rejected") &&
		 lb_str_eq(gw_request_effective_state(req, r->now), LB_RS_APPROVED);
	fields = json_pack("{s:s,s:s,s:s,s:s?,s:s}", "review", verdict, "reviewed_by", r->who.id,
			   "reviewed_at", now, "review_reason", reason, "updated_at", now);
	if (revoke) {
		json_object_set_new(fields, "state", json_string(LB_RS_REVOKED));
		json_object_set_new(fields, "decision_reason",
				    json_string(reason ? reason : "break-glass review rejected"));
	}
	rc = s->update(s->cls, call->txn, &gw_k_requests, r->args[0], fields);
	json_object_update(req, fields);
	json_decref(fields);
	if (rc == GW_DB_OK)
		rc = request_event(r->gw, call->txn, req, "review", r->who.id,
				   json_pack("{s:s,s:s?,s:b}", "verdict", verdict, "reason", reason,
					     "revoked", revoke));
	if (rc == GW_DB_OK && revoke) {
		rc = request_event(r->gw, call->txn, req, "revoke", r->who.id,
				   json_pack("{s:s,s:s,s:s}", "from", LB_RS_APPROVED, "to", LB_RS_REVOKED,
					     "reason", "break-glass review rejected"));
		if (rc == GW_DB_OK)
			rc = notify_state(r->gw, call->txn, req);
		gw_call_changed(call, lb_json_str(req, "tenant")); /* its agents end the sessions */
	}
	if (rc == GW_DB_OK)
		call->out = json_incref(req);
out:
	json_decref(req);
	return rc;
}

enum MHD_Result gw_requests_review(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"verdict", GW_F_STR, 1, 16}, {"reason", GW_F_STR, 0, 1000}, {NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "request"};
	enum MHD_Result ret;

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	if (!lb_str_eq(lb_json_str(call.body, "verdict"), "accepted") &&
	    !lb_str_eq(lb_json_str(call.body, "verdict"), "rejected")) {
		json_decref(call.body);
		return gw_reply_error(r, "bad_value", "verdict: accepted or rejected");
	}
	ret = gw_call_run(&call, 1, request_review_body, 200);
	gw_notify_kick();
	json_decref(call.body);
	return ret;
}

/* The sweeper: pending requests past pending_expires_at expire, grants past their end
 * complete, elevations past their end are audited as expired. Small batches, one
 * transaction each, so API calls never wait long behind it. */
struct sweep {
	struct gw *gw;
	struct gw_txn *t; /* the round's transaction */
	int64_t now;
	unsigned changed, before; /* before: the count when the round began (a retry resets) */
	int more;
	json_t *tenants; /* of the requests one round changed: bumped once it committed */
};


static enum gw_db sweep_requests(struct sweep *sw, const char *state, const char *col,
				 const char *to, const char *action)
{
	struct gw_store *s = sw->gw->store;
	char now[LB_TIME_BUFLEN];
	struct gw_filter f[2] = {{"state", GW_EQ, state}, {col, GW_LE, now}};
	json_t *items, *req;
	int64_t next;
	size_t i;
	enum gw_db rc;

	lb_time_format(sw->now, now, sizeof(now));
	rc = s->list(s->cls, sw->t, &gw_k_requests, f, 2, 0, 100, 0, NULL, NULL, &items, &next);
	if (rc != GW_DB_OK)
		return rc;
	if (next)
		sw->more = 1;
	json_array_foreach(items, i, req) {
		json_t *fields = json_pack("{s:s,s:s}", "state", to, "updated_at", now);
		rc = s->update(s->cls, sw->t, &gw_k_requests, lb_json_str(req, "id"), fields);
		json_decref(fields);
		if (rc == GW_DB_OK)
			rc = request_event(sw->gw, sw->t, req, action, NULL,
					   json_pack("{s:s,s:s}", "from", state, "to", to));
		if (rc == GW_DB_OK) {
			json_object_set_new(req, "state", json_string(to));
			rc = notify_state(sw->gw, sw->t, req);
		}
		if (rc != GW_DB_OK)
			break;
		json_object_set_new(sw->tenants, lb_json_str(req, "tenant"), json_true());
		sw->changed++;
	}
	json_decref(items);
	return rc;
}

/* Grants that ended (revoked or completed) at least session_lost_after ago: their sessions
 * that the host never said ended are recorded as session.lost, once. The wait gives the
 * host's agent the time to end them and deliver their session.end first. */
/* Whether request ID has an approved extension (its sessions go on under it). */
static enum gw_db has_live_extension(struct gw_store *s, struct gw_txn *t, const char *id, int *yes)
{
	struct gw_filter f[2] = {{"extends", GW_EQ, id}, {"state", GW_EQ, LB_RS_APPROVED}};
	json_t *items = NULL;
	int64_t next;
	enum gw_db rc = s->list(s->cls, t, &gw_k_requests, f, 2, 0, 1, 0, NULL, NULL, &items, &next);
	*yes = rc == GW_DB_OK && json_array_size(items) > 0;
	json_decref(items);
	return rc;
}

/* session.lost for REQ's sessions the host never closed, and for those of the requests it
 * extends (their sessions went on under it). */
static enum gw_db reconcile_chain(struct gw *gw, struct gw_txn *t, const json_t *req, const char *why)
{
	struct gw_store *s = gw->store;
	enum gw_db rc = gw_sessions_reconcile(gw, t, req, why);
	char up[64] = "";
	if (lb_json_str(req, "extends"))
		snprintf(up, sizeof(up), "%s", lb_json_str(req, "extends"));
	for (int n = 0; rc == GW_DB_OK && up[0] && n < 8; n++) {
		json_t *parent = NULL;
		rc = s->get(s->cls, t, &gw_k_requests, "id", up, &parent);
		up[0] = '\0';
		if (rc == GW_DB_NOT_FOUND)
			return GW_DB_OK;
		if (rc == GW_DB_OK)
			rc = gw_sessions_reconcile(gw, t, parent, why);
		if (rc == GW_DB_OK && lb_json_str(parent, "extends"))
			snprintf(up, sizeof(up), "%s", lb_json_str(parent, "extends"));
		json_decref(parent);
	}
	return rc;
}

static enum gw_db sweep_lost_sessions(struct sweep *sw, const char *state, const char *why)
{
	struct gw_store *s = sw->gw->store;
	char before[LB_TIME_BUFLEN];
	struct gw_filter f[3] = {{"sessions_checked", GW_EQ, "0"}, {"state", GW_EQ, state},
				 {"updated_at", GW_LE, before}};
	json_t *items, *req;
	int64_t next;
	size_t i;
	enum gw_db rc;

	lb_time_format(sw->now - sw->gw->cfg.session_lost_after * 1000, before, sizeof(before));
	rc = s->list(s->cls, sw->t, &gw_k_requests, f, 3, 0, 100, 0, NULL, NULL, &items, &next);
	if (rc != GW_DB_OK)
		return rc;
	if (next)
		sw->more = 1;
	json_array_foreach(items, i, req) {
		json_t *fields = json_pack("{s:b}", "sessions_checked", 1);
		int extended = 0;
		rc = s->update(s->cls, sw->t, &gw_k_requests, lb_json_str(req, "id"), fields);
		json_decref(fields);
		/* sessions opened under it go on under an approved extension: they are looked
		 * at when the last of the chain ends (below), not now */
		if (rc == GW_DB_OK && lb_str_eq(state, LB_RS_COMPLETED))
			rc = has_live_extension(s, sw->t, lb_json_str(req, "id"), &extended);
		if (rc == GW_DB_OK && !extended)
			rc = reconcile_chain(sw->gw, sw->t, req, why);
		if (rc != GW_DB_OK)
			break;
	}
	json_decref(items);
	return rc;
}

static enum gw_db sweep_elevations(struct sweep *sw)
{
	struct gw_store *s = sw->gw->store;
	char now[LB_TIME_BUFLEN];
	struct gw_filter f[2] = {{"expire_logged", GW_EQ, "0"}, {"expires_at", GW_LE, now}};
	json_t *items, *e;
	int64_t next;
	size_t i;
	enum gw_db rc;

	lb_time_format(sw->now, now, sizeof(now));
	rc = s->list(s->cls, sw->t, &gw_k_elevations, f, 2, 0, 100, 0, NULL, NULL, &items, &next);
	if (rc != GW_DB_OK)
		return rc;
	if (next)
		sw->more = 1;
	json_array_foreach(items, i, e) {
		struct gw_event ev = {0};
		json_t *fields = json_pack("{s:b}", "expire_logged", 1);
		rc = s->update(s->cls, sw->t, &gw_k_elevations, lb_json_str(e, "id"), fields);
		json_decref(fields);
		if (rc != GW_DB_OK)
			break;
		ev.type = "pim.elevation.expire";
		ev.level = "tenant";
		ev.actor = lb_json_str(e, "user");
		ev.details = json_pack("{s:O,s:O}", "elevation", json_object_get(e, "id"),
				       "expires_at", json_object_get(e, "expires_at"));
		if ((rc = gw_audit_emit(sw->gw, sw->t, &ev, NULL)) != GW_DB_OK)
			break;
		sw->changed++;
	}
	json_decref(items);
	return rc;
}

static enum gw_db sweep_body(struct gw_txn *t, void *arg)
{
	struct sweep *sw = arg;
	struct gw_store *s = sw->gw->store;
	enum gw_db rc;
	int got = 0;
	sw->t = t;
	sw->more = 0;
	sw->changed = sw->before;
	json_object_clear(sw->tenants); /* a retried round starts clean */
	/* gateways sharing the database sweep one at a time: the others skip the round */
	if ((rc = s->lock(s->cls, t, "sweeper", &got)) != GW_DB_OK || !got)
		return rc;
	if ((rc = sweep_requests(sw, LB_RS_INTERNAL_REVIEW, "pending_expires_at", LB_RS_EXPIRED,
				 "expire")) != GW_DB_OK ||
	    (rc = sweep_requests(sw, LB_RS_CUSTOMER_NOTIFIED, "pending_expires_at", LB_RS_EXPIRED,
				 "expire")) != GW_DB_OK ||
	    (rc = sweep_requests(sw, LB_RS_APPROVED, "grant_expires_at", LB_RS_COMPLETED, "complete")) !=
		    GW_DB_OK)
		return rc;
	if ((rc = sweep_lost_sessions(sw, LB_RS_REVOKED, LB_R_REVOKED)) != GW_DB_OK ||
	    (rc = sweep_lost_sessions(sw, LB_RS_COMPLETED, LB_R_GRANT_ENDED)) != GW_DB_OK ||
	    (rc = sweep_elevations(sw)) != GW_DB_OK)
		return rc;
	/* the round's tenants, to the other gateways' agents too (delivered at commit) */
	return gw_changes_announce(sw->gw->store, sw->t, sw->tenants);
}

enum gw_db gw_requests_sweep(struct gw *gw, int64_t now_ms, unsigned *changed)
{
	struct sweep sw = {.gw = gw, .now = now_ms, .tenants = json_object()};
	enum gw_db rc;
	int rounds = 0;

	if (!sw.tenants)
		return GW_DB_ERROR;
	do {
		sw.before = sw.changed;
		rc = gw->store->run(gw->store->cls, 1, sweep_body, &sw);
		sw.t = NULL;
		if (rc != GW_DB_OK) {
			sw.changed = sw.before;
			break;
		}
		gw_changes_bump_set(sw.tenants);
	} while (sw.more && ++rounds < 50);
	json_decref(sw.tenants);
	*changed = sw.changed;
	gw_metrics_sweep(sw.changed);
	if (sw.changed)
		gw_notify_kick();
	return rc;
}
