/* lockbox-gatewayd: POST /v1/check, the access decision (DESIGN.md "The access decision"). */
#include <stdio.h>
#include <string.h>

#include "gw.h"
#include "rules_requests.h"
#include "lockbox/json.h"
#include "lockbox/util.h"
#include "lockbox/vocab.h"

#define GW_CHECK_CANDIDATES 50 /* newest requests of the user in the tenant considered */
#define GW_CHECK_ELEVATIONS 50

struct decision {
	const char *reason;
	const json_t *req; /* the request the decision is about (borrowed) */
	char grant_expires_at[LB_TIME_BUFLEN];
	char message[512];
};

/* An elevation that was activated no later than the approval and is still running. */
static enum gw_db elevation_for(struct gw *gw, struct gw_txn *t, const json_t *req, const char *now,
				struct decision *d)
{
	struct gw_store *s = gw->store;
	struct gw_filter f[2] = {{"user", GW_EQ, lb_json_str(req, "requester")},
				 {"expires_at", GW_GT, now}};
	const char *approved_at = lb_json_str(req, "approved_at");
	const char *grant_end = lb_json_str(req, "grant_expires_at");
	json_t *items, *e;
	int64_t next;
	size_t i;
	const char *best = NULL;
	int running_late = 0;
	enum gw_db rc = s->list(s->cls, t, &gw_k_elevations, f, 2, 0, GW_CHECK_ELEVATIONS, 1, NULL,
				NULL, &items, &next);
	if (rc != GW_DB_OK)
		return rc;
	json_array_foreach(items, i, e) {
		const char *act = lb_json_str(e, "activated_at"), *exp = lb_json_str(e, "expires_at");
		if (!act || !exp || strcmp(now, exp) >= 0)
			continue;
		if (approved_at && strcmp(act, approved_at) <= 0) {
			if (!best || strcmp(exp, best) > 0)
				best = exp;
		} else {
			running_late = 1;
		}
	}
	if (best) {
		d->reason = LB_R_ALLOW;
		snprintf(d->grant_expires_at, sizeof(d->grant_expires_at), "%s",
			 grant_end && strcmp(grant_end, best) < 0 ? grant_end : best);
	} else {
		d->reason = running_late ? LB_R_ELEVATION_AFTER_APPROVAL : LB_R_NO_ELEVATION;
	}
	json_decref(items);
	return GW_DB_OK;
}

/* The engineer behind REQ may still use it: not disabled, still holding the engineer role.
 * Sets D->reason to user_disabled or not_engineer when not; leaves it alone otherwise. */
static enum gw_db engineer_still_allowed(struct gw *gw, struct gw_txn *t, const json_t *req, struct decision *d)
{
	struct gw_store *s = gw->store;
	const char *uid = lb_json_str(req, "requester");
	struct gw_filter f[2] = {{"user", GW_EQ, uid}, {"role", GW_EQ, "engineer"}};
	json_t *user = NULL, *roles = NULL;
	int64_t next;
	enum gw_db rc;

	rc = s->get(s->cls, t, &gw_k_users, "id", uid, &user);
	if (rc == GW_DB_NOT_FOUND) {
		d->reason = LB_R_USER_DISABLED; /* a user that is gone is no more allowed */
		return GW_DB_OK;
	}
	if (rc != GW_DB_OK)
		return rc;
	if (json_is_true(json_object_get(user, "disabled"))) {
		d->reason = LB_R_USER_DISABLED;
		goto out;
	}
	rc = s->list(s->cls, t, &gw_k_roles, f, 2, 0, 1, 0, NULL, NULL, &roles, &next);
	if (rc == GW_DB_OK && json_array_size(roles) == 0)
		d->reason = LB_R_NOT_ENGINEER;
out:
	json_decref(user);
	json_decref(roles);
	return rc;
}

/* Where REQ's grant window starts: grant_starts_at (an extension starts where the grant it
 * extends ends), or approved_at for requests from before extensions existed. */
static const char *grant_start(const json_t *req)
{
	const char *s = lb_json_str(req, "grant_starts_at");
	return s ? s : lb_json_str(req, "approved_at");
}

#define GW_CHECK_EXTENSIONS 8 /* approved extensions followed from one grant */

/* D allows REQ until D->grant_expires_at; an approved extension whose window starts right
 * where that grant ends (and whose own elevation rule holds) carries it on, so the answer
 * names the end of the whole chain and a live session goes on across the boundary. */
static enum gw_db extend_through(struct gw *gw, struct gw_txn *t, const json_t *req, const char *now,
				 struct decision *d)
{
	struct gw_store *s = gw->store;
	char cur[64];
	snprintf(cur, sizeof(cur), "%s", lb_json_str(req, "id"));
	for (int n = 0; n < GW_CHECK_EXTENSIONS; n++) {
		struct gw_filter f[2] = {{"extends", GW_EQ, cur}, {"state", GW_EQ, LB_RS_APPROVED}};
		const json_t *next = NULL, *e;
		json_t *items = NULL;
		int64_t more;
		size_t i;
		enum gw_db rc = s->list(s->cls, t, &gw_k_requests, f, 2, 0, 10, 0, NULL, NULL, &items,
					&more);
		if (rc != GW_DB_OK)
			return rc;
		json_array_foreach(items, i, e) {
			const char *st = grant_start(e);
			/* contiguous: it starts no later than the grant allowed so far ends */
			if (st && strcmp(st, d->grant_expires_at) <= 0 &&
			    strcmp(lb_json_str(e, "grant_expires_at"), d->grant_expires_at) > 0)
				next = e;
		}
		if (next) {
			struct decision x = {.req = next};
			if ((rc = elevation_for(gw, t, next, now, &x)) != GW_DB_OK) {
				json_decref(items);
				return rc;
			}
			if (lb_str_eq(x.reason, LB_R_ALLOW) && strcmp(x.grant_expires_at, d->grant_expires_at) > 0) {
				snprintf(d->grant_expires_at, sizeof(d->grant_expires_at), "%s",
					 x.grant_expires_at);
				snprintf(cur, sizeof(cur), "%s", lb_json_str(next, "id"));
			} else {
				next = NULL;
			}
		}
		json_decref(items);
		if (!next)
			break;
	}
	return GW_DB_OK;
}

/* Whether approved request REQ, in its window at NOW and covering the host, allows its
 * engineer: the rest of the access rule. D->reason becomes allow (with grant_expires_at),
 * user_disabled, not_engineer, no_elevation or elevation_after_approval. */
static enum gw_db grant_decide(struct gw *gw, struct gw_txn *t, const json_t *req, const char *now,
			       struct decision *d)
{
	enum gw_db rc;
	d->reason = LB_R_NO_REQUEST;
	if ((rc = engineer_still_allowed(gw, t, req, d)) != GW_DB_OK)
		return rc;
	if (!lb_str_eq(d->reason, LB_R_NO_REQUEST))
		return GW_DB_OK;
	if ((rc = elevation_for(gw, t, req, now, d)) != GW_DB_OK || !lb_str_eq(d->reason, LB_R_ALLOW))
		return rc;
	return extend_through(gw, t, req, now, d);
}

/* What the person logging in reads: what happened (the reason's text from lockbox/vocab.h,
 * with this request's particulars). What to do about it is the reason's advice, which the
 * host adds (lb_reason_todo), so it is said once. */
static void decision_message(struct decision *d, const char *user, const char *host,
			     const char *access)
{
	const char *id = d->req ? lb_json_str(d->req, "id") : NULL;
	const char *r = d->reason;
	const char *why = d->req ? lb_json_str(d->req, "decision_reason") : NULL;
	char detail[300] = "";

	if (lb_str_eq(r, LB_R_ALLOW)) {
		snprintf(d->message, sizeof(d->message),
			 "lockbox: access granted by request %s until %s", id, d->grant_expires_at);
		return;
	}
	if (lb_str_eq(r, LB_R_PENDING))
		snprintf(detail, sizeof(detail), " (%s)",
			 lb_str_eq(lb_json_str(d->req, "state"), LB_RS_INTERNAL_REVIEW)
				 ? "internal review by a support lead"
				 : "customer approval");
	else if ((lb_str_eq(r, LB_R_DENIED) || lb_str_eq(r, LB_R_REVOKED)) && why)
		snprintf(detail, sizeof(detail), ": %.200s", why);
	else if (lb_str_eq(r, LB_R_WRONG_ACCESS_TYPE))
		snprintf(detail, sizeof(detail), ": it grants %s, this login is %s",
			 lb_json_str(d->req, "access"), access ? access : "another");
	else if (!id)
		snprintf(detail, sizeof(detail), " (%.64s on %.200s)", user, host);
	if (id)
		snprintf(d->message, sizeof(d->message), "lockbox: request %s: %s%s", id,
			 lb_reason_what(r), detail);
	else
		snprintf(d->message, sizeof(d->message), "lockbox: %s%s", lb_reason_what(r),
			 detail);
}

static const char *reason_for_state(const char *state)
{
	if (gw_request_is_pending(state))
		return LB_R_PENDING;
	if (lb_str_eq(state, LB_RS_COMPLETED))
		return LB_R_GRANT_ENDED;
	/* the final states of a request that never was or no longer is a grant share their
	 * reason's name */
	if (lb_str_eq(state, LB_RS_DENIED) || lb_str_eq(state, LB_RS_EXPIRED) ||
	    lb_str_eq(state, LB_RS_REVOKED) || lb_str_eq(state, LB_RS_CANCELED))
		return state;
	return LB_R_NO_REQUEST;
}

struct check {
	struct gw_call *call;
	json_t *cands;   /* owned: approved, unexpired requests of the user */
	json_t *explain; /* owned: the user's newest requests, to explain a deny */
	struct decision d;
	const char *access;
	json_t *details; /* owned: the audit event's details */
	char decision_id[37];
	int allow;
};

/* An approved grant in its window for this host decides: the first candidate of the right
 * access type that the access rule lets through, or, short of one, the first of another
 * access type (wrong_access_type). F: the candidates' filter (tenant, login, approved,
 * unexpired). */
static enum gw_db decide_by_grants(struct gw_txn *t, struct check *c, const struct gw_filter *f, const char *now,
				   struct decision *d)
{
	struct gw *gw = c->call->r->gw;
	struct gw_store *s = gw->store;
	const json_t *host = c->call->r->who.obj, *wrong_access = NULL;
	json_t *req;
	int64_t next;
	size_t i;
	enum gw_db rc;

	rc = s->list(s->cls, t, &gw_k_requests, f, 4, 0, GW_CHECK_CANDIDATES, 1, NULL, NULL, &c->cands,
		     &next);
	if (rc != GW_DB_OK)
		return rc;
	json_array_foreach(c->cands, i, req) {
		if (!gw_request_covers_host(req, host) ||
		    strcmp(now, grant_start(req)) < 0)
			continue;
		if (!lb_str_eq(lb_json_str(req, "access"), c->access)) {
			if (!wrong_access)
				wrong_access = req;
			continue;
		}
		d->req = req;
		if ((rc = grant_decide(gw, t, req, now, d)) != GW_DB_OK)
			return rc;
		if (lb_str_eq(d->reason, LB_R_ALLOW) || lb_str_eq(d->reason, LB_R_USER_DISABLED) ||
		    lb_str_eq(d->reason, LB_R_NOT_ENGINEER))
			break; /* the same engineer on every candidate: no other one can allow */
	}
	if (!d->req && wrong_access) {
		d->req = wrong_access;
		d->reason = LB_R_WRONG_ACCESS_TYPE;
	}
	return GW_DB_OK;
}

/* No grant decided: the user's newest request for this host explains the deny by its state
 * (pending, denied, expired...). F: its first two filters are the tenant and the login. */
static enum gw_db explain_by_newest(struct gw_txn *t, struct check *c, const struct gw_filter *f,
				   struct decision *d)
{
	struct gw_req *r = c->call->r;
	struct gw_store *s = r->gw->store;
	json_t *req;
	int64_t next;
	size_t i;
	enum gw_db rc;

	rc = s->list(s->cls, t, &gw_k_requests, f, 2, 0, GW_CHECK_CANDIDATES, 1, NULL, NULL,
		     &c->explain, &next);
	if (rc != GW_DB_OK)
		return rc;
	json_array_foreach(c->explain, i, req) {
		if (gw_request_covers_host(req, r->who.obj)) {
			d->req = req;
			d->reason = reason_for_state(gw_request_effective_state(req, r->now));
			break;
		}
	}
	return GW_DB_OK;
}

/* The audit event's details of decision D. */
static enum gw_db decision_details(struct check *c, const struct decision *d, const char *user,
				   const char *service)
{
	json_t *body = c->call->body;

	c->details = json_pack("{s:s,s:s,s:s,s:O?,s:O?,s:s?,s:s}", "user", user, "service",
			       service, "reason", d->reason, "rhost", json_object_get(body, "rhost"),
			       "tty", json_object_get(body, "tty"), "access", c->access, "message",
			       d->message);
	if (!c->details)
		return GW_DB_ERROR;
	/* the agent's re-check of a live session names it (DESIGN.md "Live sessions") */
	if (json_object_get(body, "session"))
		json_object_set(c->details, "session", json_object_get(body, "session"));
	if (lb_str_eq(d->reason, LB_R_ALLOW))
		json_object_set_new(c->details, "grant_expires_at", json_string(d->grant_expires_at));
	return GW_DB_OK;
}

/* The decision, in a read transaction on the calling thread (WAL readers never wait): only
 * the audit event goes through the single writer. */
static enum gw_db check_decide_body(struct gw_txn *t, void *arg)
{
	struct check *c = arg;
	struct gw_call *call = c->call;
	struct gw_req *r = call->r;
	const json_t *host = r->who.obj;
	const char *user = lb_json_str(call->body, "user");
	const char *service = lb_json_str(call->body, "service");
	char now[LB_TIME_BUFLEN];
	/* only approved grants that have not ended can allow: ask for just those */
	struct gw_filter f[4] = {{"tenant", GW_EQ, lb_json_str(host, "tenant")},
				 {"requester_login", GW_EQ, user},
				 {"state", GW_EQ, LB_RS_APPROVED},
				 {"grant_expires_at", GW_GT, now}};
	struct decision d = {.reason = LB_R_NO_REQUEST};
	enum gw_db rc;

	gw_now_str(r, now);
	json_decref(c->cands);
	json_decref(c->explain);
	json_decref(c->details);
	c->cands = c->explain = c->details = NULL;
	c->access = gw_config_access_for_service(&r->gw->cfg, service);
	if (json_is_true(json_object_get(host, "disabled")))
		d.reason = LB_R_HOST_DISABLED;
	else if (!c->access)
		d.reason = LB_R_UNKNOWN_SERVICE;
	else if ((rc = decide_by_grants(t, c, f, now, &d)) != GW_DB_OK ||
		 (!d.req && (rc = explain_by_newest(t, c, f, &d)) != GW_DB_OK))
		return rc;
	decision_message(&d, user, lb_json_str(host, "name"), c->access);
	if ((rc = decision_details(c, &d, user, service)) != GW_DB_OK)
		return rc;
	c->d = d;
	return GW_DB_OK;
}

/* Records the decision (the audit event whose id is the decision_id) and answers. */
static enum gw_db check_record_body(struct gw_call *call)
{
	struct check *c = (struct check *)(void *)call->arg;
	const json_t *host = call->r->who.obj;
	const struct decision *d = &c->d;
	struct gw_event ev = {0};
	enum gw_db rc;

	ev.type = lb_str_eq(d->reason, LB_R_ALLOW) ? "access.check.allow" : "access.check.deny";
	ev.tenant = lb_json_str(host, "tenant");
	ev.subscription = lb_json_str(host, "subscription");
	ev.actor = d->req ? lb_json_str(d->req, "requester") : NULL;
	ev.host = lb_json_str(host, "name");
	ev.request = d->req ? lb_json_str(d->req, "id") : NULL;
	ev.details = json_incref(c->details); /* emit takes a reference; ours stays */
	if ((rc = gw_audit_emit(call->r->gw, call->txn, &ev, c->decision_id)) != GW_DB_OK)
		return rc;
	c->allow = lb_str_eq(d->reason, LB_R_ALLOW);
	/* the answer names what it decided about, so a host refuses an answer to another
	 * question (DESIGN.md "The access decision") */
	call->out = json_pack("{s:s,s:s,s:s,s:s?,s:s,s:s,s:s}", "decision",
			    lb_str_eq(d->reason, LB_R_ALLOW) ? "allow" : "deny", "reason", d->reason, "message",
			    d->message, "request", d->req ? lb_json_str(d->req, "id") : NULL,
			    "decision_id", c->decision_id, "user", lb_json_str(call->body, "user"),
			    "host", lb_json_str(host, "name"));
	lb_json_set_str_or_null(call->out, "grant_expires_at",
				lb_str_eq(d->reason, LB_R_ALLOW) ? d->grant_expires_at : NULL);
	/* the access type the service maps to: the host's session events carry it */
	lb_json_set_str_or_null(call->out, "access", c->access);
	return GW_DB_OK;
}

enum MHD_Result gw_check(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"user", GW_F_STR, 1, 64},  {"service", GW_F_STR, 1, 64},
		{"rhost", GW_F_STR, 0, 255}, {"tty", GW_F_STR, 0, 64},
		{"session", GW_F_STR, 0, 64}, {NULL, 0, 0, 0}};
	struct check c;
	struct gw_call call = {.r = r, .what = "host", .arg = &c};
	enum MHD_Result ret;
	enum gw_db rc;
	const int64_t t0 = gw_metrics_clock(); /* the check's latency histogram */

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	if (!*lb_json_str(call.body, "user") || !*lb_json_str(call.body, "service")) {
		json_decref(call.body);
		return gw_reply_error(r, "bad_value", "user and service must not be empty");
	}
	if (json_object_get(call.body, "session") && !*lb_json_str(call.body, "session")) {
		json_decref(call.body);
		return gw_reply_error(r, "bad_value", "session: must not be empty");
	}
	memset(&c, 0, sizeof(c));
	c.call = &call;
	rc = r->gw->store->run(r->gw->store->cls, 0, check_decide_body, &c);
	if (rc != GW_DB_OK)
		ret = gw_reply_db(r, rc, "host"); /* never an allow without a decision */
	else
		ret = gw_call_run(&call, 1, check_record_body, 200);
	if (c.decision_id[0] && call.rc == GW_DB_OK && !call.err_code) /* recorded */
		gw_metrics_check(c.allow, c.d.reason, t0);
	json_decref(c.cands);
	json_decref(c.explain);
	json_decref(c.details);
	json_decref(call.body);
	return ret;
}

/* GET /v1/hosts/self/grants: every (user, access) the check would allow on this host now,
 * with the grant's end. The agent answers logins from it while its change signal is live
 * (DESIGN.md "Live sessions"), and asks /v1/check for everything else: a grant missing from
 * the list (a long list cut short, a change not seen yet) only costs a round trip, never an
 * allow the rule would not give. */
#define GW_GRANTS_PAGES 25

struct grants {
	struct gw_req *r;
	json_t *list; /* owned */
	int truncated;
};

static enum gw_db grants_body(struct gw_txn *t, void *arg)
{
	struct grants *g = arg;
	struct gw_req *r = g->r;
	struct gw *gw = r->gw;
	struct gw_store *s = gw->store;
	const json_t *host = r->who.obj;
	char now[LB_TIME_BUFLEN];
	struct gw_filter f[3] = {{"tenant", GW_EQ, lb_json_str(host, "tenant")},
				 {"state", GW_EQ, LB_RS_APPROVED},
				 {"grant_expires_at", GW_GT, now}};
	int64_t cursor = 0, next = 0;
	int pages = 0;
	enum gw_db rc;

	gw_now_str(r, now);
	json_decref(g->list);
	g->list = json_array();
	g->truncated = 0;
	if (!g->list)
		return GW_DB_ERROR;
	if (json_is_true(json_object_get(host, "disabled")))
		return GW_DB_OK;
	do {
		json_t *items, *req;
		size_t i;
		if ((rc = s->list(s->cls, t, &gw_k_requests, f, 3, cursor, GW_LIST_MAX, 0, NULL, NULL,
				  &items, &next)) != GW_DB_OK)
			return rc;
		json_array_foreach(items, i, req) {
			struct decision d = {.req = req};
			if (!gw_request_covers_host(req, host) ||
			    strcmp(now, grant_start(req)) < 0)
				continue;
			if ((rc = grant_decide(gw, t, req, now, &d)) != GW_DB_OK) {
				json_decref(items);
				return rc;
			}
			if (lb_str_eq(d.reason, LB_R_ALLOW))
				json_array_append_new(
					g->list, json_pack("{s:s,s:s,s:s,s:s}", "request",
							   lb_json_str(req, "id"), "user",
							   lb_json_str(req, "requester_login"), "access",
							   lb_json_str(req, "access"), "grant_expires_at",
							   d.grant_expires_at));
		}
		json_decref(items);
		cursor = next;
	} while (next && ++pages < GW_GRANTS_PAGES);
	g->truncated = next != 0;
	return GW_DB_OK;
}

enum MHD_Result gw_hosts_grants(struct gw_req *r)
{
	const json_t *host = r->who.obj;
	const struct gw_config *cfg = &r->gw->cfg;
	struct grants g = {.r = r};
	char now[LB_TIME_BUFLEN];
	json_t *services;
	/* read before the grants: a change committed after this moves the version */
	int64_t version = gw_changes_version(lb_json_str(host, "tenant"));
	enum gw_db rc = r->gw->store->run(r->gw->store->cls, 0, grants_body, &g);

	if (rc != GW_DB_OK) {
		json_decref(g.list);
		return gw_reply_db(r, rc, "host");
	}
	services = json_object();
	for (size_t i = 0; services && i < cfg->service_map.n; i++) {
		const char *m = cfg->service_map.v[i], *colon = strchr(m, ':');
		char name[128];
		if (!colon || (size_t)(colon - m) >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(colon - m), m);
		json_object_set_new(services, name, json_string(colon + 1));
	}
	gw_now_str(r, now);
	return gw_reply_json(r, 200,
			     json_pack("{s:I,s:s,s:s,s:b,s:o,s:o,s:b}", "version",
				       (json_int_t)version, "now", now, "host",
				       lb_json_str(host, "name"), "disabled",
				       json_is_true(json_object_get(host, "disabled")), "services",
				       services ? services : json_object(), "grants", g.list,
				       "truncated", g.truncated));
}
