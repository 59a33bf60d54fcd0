/* lockbox-gatewayd: the audit store: emitting events, host batches, queries, chain verify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "gw.h"
#include "rules_requests.h"
#include "lockbox/hostevent.h"
#include "lockbox/json.h"
#include "lockbox/util.h"
#include "lockbox/vocab.h"

#define GW_AUDIT_BATCH_MAX 500
#define GW_AUDIT_SCAN_PAGE 1000

enum gw_db gw_audit_emit(struct gw *gw, struct gw_txn *t, const struct gw_event *e,
			 char id_out[37])
{
	char id[37], now[LB_TIME_BUFLEN];
	json_t *ev;
	int dup;
	enum gw_db rc;

	if (e->id)
		snprintf(id, sizeof(id), "%s", e->id);
	else if (lb_uuid7(id, sizeof(id)) != 0)
		return GW_DB_ERROR;
	lb_time_format(lb_time_now_ms(), now, sizeof(now));
	ev = json_object();
	json_object_set_new(ev, "id", json_string(id));
	json_object_set_new(ev, "time", json_string(e->time ? e->time : now));
	json_object_set_new(ev, "type", json_string(e->type));
	lb_json_set_str_or_null(ev, "tenant", e->tenant);
	lb_json_set_str_or_null(ev, "subscription", e->subscription);
	json_object_set_new(ev, "level",
			    json_string(e->level ? e->level
						 : e->subscription ? "subscription" : "tenant"));
	lb_json_set_str_or_null(ev, "actor", e->actor);
	lb_json_set_str_or_null(ev, "host", e->host);
	lb_json_set_str_or_null(ev, "request", e->request);
	json_object_set_new(ev, "details", e->details ? e->details : json_object());
	json_object_set_new(ev, "source", json_string("gateway"));
	rc = gw->store->audit_append(gw->store->cls, t, ev, &dup);
	json_decref(ev);
	if (rc == GW_DB_OK) { /* counted once T commits */
		t->audit_accepted += !dup;
		t->audit_duplicates += !!dup;
	}
	if (id_out)
		memcpy(id_out, id, sizeof(id));
	return rc;
}

struct ingest {
	struct gw_req *r;
	json_t *events;
	int accepted, duplicates;
	const char *err_code; /* a refusal found inside the transaction (nothing stored) */
	char err_msg[256];
};

/* A directory change (DESIGN.md "Audit events"): the acting user as actor, the changed object
 * in DETAILS (stolen; never a secret); an event of TENANT's when the object is the tenant's,
 * else a provider-level one. */
enum gw_db gw_directory_event(struct gw_call *call, const char *type, const char *tenant,
			      json_t *details)
{
	struct gw_event ev = {0};
	ev.type = type;
	ev.tenant = tenant;
	ev.level = tenant ? "tenant" : "provider";
	ev.actor = call->r->who.id[0] ? call->r->who.id : NULL;
	ev.details = details;
	return gw_audit_emit(call->r->gw, call->txn, &ev, NULL);
}

/* A host's access.check.* event is either a copy of the gateway's own decision (its id is
 * the decision id: a duplicate) or a decision the host made itself: the agent's allow from
 * the grants it holds, or a deny when the gateway could not be asked. Both are kept: a
 * login the host let in or turned away happened, and the audit store must show it. A
 * host-made allow is checked against the request it names, and the gateway writes what it
 * found into details: verified = true when that request was approved for this user and
 * access on this host and its grant covered the event's time, else false with
 * unverified_reason. An allow the gateway would not have given stays visible as such
 * (a stale grant list after a revoke, a host clock far off, or a forged allow). */
#define GW_HOST_DECISION_SKEW_MS 2000 /* clock skew allowed at a grant's edges */

static const char *host_allow_unverified(struct gw *gw, const json_t *e, const json_t *host,
					 json_t *req)
{
	const json_t *d = json_object_get(e, "details");
	const char *t = lb_json_str(e, "time"), *state, *from, *until;
	const char *access = gw_config_access_for_service(&gw->cfg, lb_json_str(d, "service"));
	int64_t at, a0, a1;

	if (!req)
		return "no such request";
	if (!gw_request_covers_host(req, host))
		return "the request does not cover this host";
	if (!lb_json_str(d, "user") || !lb_str_eq(lb_json_str(req, "requester_login"),
						lb_json_str(d, "user")))
		return "the request is another user's";
	if (!access || !lb_str_eq(access, lb_json_str(req, "access")))
		return "the request grants another access type";
	state = lb_json_str(req, "state");
	from = lb_json_str(req, "approved_at");
	until = lb_str_eq(state, "revoked") ? lb_json_str(req, "updated_at")
					 : lb_json_str(req, "grant_expires_at");
	if (!lb_str_eq(state, "approved") && !lb_str_eq(state, "completed") && !lb_str_eq(state, "revoked"))
		return "the request was never approved";
	if (!t || lb_time_parse(t, &at) != 0 || !from || lb_time_parse(from, &a0) != 0 || !until ||
	    lb_time_parse(until, &a1) != 0)
		return "times unreadable";
	if (at < a0 - GW_HOST_DECISION_SKEW_MS)
		return "before the approval";
	if (at > a1 + GW_HOST_DECISION_SKEW_MS)
		return lb_str_eq(state, "revoked") ? "after the revoke" : "after the grant ended";
	return NULL;
}

/* Fills EV (the stored event) for host event E of type access.check.*: a copy of the
 * gateway's decision stays as it is (audit_append drops it as a duplicate); a host-made
 * allow gets its verdict. */
static enum gw_db host_decision(struct gw_txn *t, struct ingest *in, const json_t *e,
				 json_t *ev, json_t *req)
{
	struct gw_store *s = in->r->gw->store;
	json_t *have = NULL, *details = json_object_get(ev, "details");
	const char *why;
	enum gw_db rc = s->get(s->cls, t, &gw_k_audit, "id", lb_json_str(e, "id"), &have);

	json_decref(have);
	if (rc != GW_DB_NOT_FOUND)
		return rc; /* OK: a copy of the gateway's own */
	if (!lb_str_eq(lb_json_str(e, "type"), "access.check.allow"))
		return GW_DB_OK;
	why = host_allow_unverified(in->r->gw, e, in->r->who.obj, req);
	json_object_set_new(details, "verified", json_boolean(!why));
	if (why)
		json_object_set_new(details, "unverified_reason", json_string(why));
	return GW_DB_OK;
}

static enum gw_db ingest_body(struct gw_txn *t, void *arg)
{
	struct ingest *in = arg;
	struct gw *gw = in->r->gw;
	const json_t *host = in->r->who.obj;
	size_t i;
	json_t *e;

	in->accepted = in->duplicates = 0;
	in->err_code = NULL;
	json_array_foreach(in->events, i, e) {
		json_t *ev = json_object();
		int dup = 0;
		enum gw_db rc;
		json_object_set(ev, "id", json_object_get(e, "id"));
		json_object_set(ev, "time", json_object_get(e, "time"));
		json_object_set(ev, "type", json_object_get(e, "type"));
		json_object_set(ev, "tenant", json_object_get(host, "tenant"));
		json_object_set(ev, "subscription", json_object_get(host, "subscription"));
		json_object_set_new(ev, "level", json_string("subscription"));
		json_object_set(ev, "actor", json_object_get(e, "actor") ? json_object_get(e, "actor")
									  : json_null());
		json_object_set(ev, "host", json_object_get(host, "name"));
		json_object_set_new(ev, "details", json_is_object(json_object_get(e, "details"))
							   ? json_deep_copy(json_object_get(e, "details"))
							   : json_object());
		json_object_set_new(ev, "request", json_null());
		json_object_set_new(ev, "source", json_string("host"));
		json_t *req = NULL;
		if (lb_json_str(e, "request")) {
			/* a host may only link its events to requests that cover it */
			enum gw_db grc = gw->store->get(gw->store->cls, t, &gw_k_requests, "id",
							lb_json_str(e, "request"), &req);
			if (grc != GW_DB_OK && grc != GW_DB_NOT_FOUND) {
				json_decref(ev);
				return grc;
			}
			if (req && gw_request_covers_host(req, host))
				json_object_set(ev, "request", json_object_get(e, "request"));
			else
				json_object_set(json_object_get(ev, "details"), "unverified_request",
						json_object_get(e, "request"));
		}
		if (lb_host_event_type(lb_json_str(e, "type")) == 2 &&
		    (rc = host_decision(t, in, e, ev, req)) != GW_DB_OK) {
			json_decref(req);
			json_decref(ev);
			return rc;
		}
		json_decref(req);
		rc = gw->store->audit_append(gw->store->cls, t, ev, &dup);
		json_decref(ev);
		if (rc != GW_DB_OK)
			return rc;
		t->audit_accepted += !dup;
		t->audit_duplicates += !!dup;
		if (dup)
			in->duplicates++;
		else
			in->accepted++;
	}
	return GW_DB_OK;
}

/* Host events are validated whole before anything is stored: a batch is all or nothing (the
 * agent's delivery then retries one event at a time and skips only the one refused). */
static int validate_event(struct gw_req *r, json_t *e, size_t i)
{
	const char *code = NULL, *created = lb_json_str(r->who.obj, "created_at");
	char msg[384];
	int64_t enrolled = 0;

	if (created && lb_time_parse(created, &enrolled) != 0)
		enrolled = 0;
	if (lb_host_event_check(e, i, lb_time_now_ms(), enrolled, &code, msg, sizeof(msg)) != 0) {
		gw_reply_error(r, code, "%s", msg);
		return -1;
	}
	return 0;
}

/* What a disabled host may still send. Disabling a host makes its agent end the host's live
 * sessions (DESIGN.md "Live sessions"): the check it asks is denied (host_disabled) and it
 * records access.check.deny, session.terminate and session.end, in that order, in one
 * delivery. Those are the evidence that the sessions ended, so they are taken; refusing
 * them would leave the gateway to guess (session.lost) what the host saw. Everything else
 * a disabled host might claim -- an allow, a new session, a warning -- cannot be true of a
 * host the gateway no longer answers with an allow, and is refused. A batch is all or
 * nothing, so a batch holding anything else gets 403 whole; the host keeps it in its local
 * log, and it is delivered if the host is enabled again. */
static int disabled_host_may_send(const char *type)
{
	return type && (strcmp(type, "session.terminate") == 0 || strcmp(type, "session.end") == 0 ||
			strcmp(type, "access.check.deny") == 0);
}

enum MHD_Result gw_audit_ingest(struct gw_req *r)
{
	static const struct gw_field spec[] = {{"events", GW_F_ARRAY, 1, 0}, {NULL, 0, 0, 0}};
	struct ingest in = {r, NULL, 0, 0, NULL, ""};
	json_t *body = gw_parse_body(r, spec), *e;
	enum gw_db rc;
	size_t i;

	if (!body)
		return MHD_YES;
	in.events = json_object_get(body, "events");
	if (json_array_size(in.events) < 1 || json_array_size(in.events) > GW_AUDIT_BATCH_MAX) {
		json_decref(body);
		return gw_reply_error(r, "bad_value", "events: send 1..%d events", GW_AUDIT_BATCH_MAX);
	}
	json_array_foreach(in.events, i, e) {
		if (validate_event(r, e, i) != 0) {
			json_decref(body);
			return MHD_YES;
		}
	}
	if (json_is_true(json_object_get(r->who.obj, "disabled"))) {
		json_array_foreach(in.events, i, e) {
			if (!disabled_host_may_send(lb_json_str(e, "type"))) {
				json_decref(body);
				return gw_reply_error(r, "forbidden", "host disabled: events[%zu] (%s) "
						      "is not accepted from a disabled host", i,
						      lb_json_str(e, "type"));
			}
		}
	}
	rc = r->gw->store->run(r->gw->store->cls, 1, ingest_body, &in);
	json_decref(body);
	if (rc == GW_DB_ABORT && in.err_code)
		return gw_reply_error(r, in.err_code, "%s", in.err_msg);
	if (rc != GW_DB_OK)
		return gw_reply_db(r, rc, "event");
	return gw_reply_json(r, 200, json_pack("{s:i,s:i}", "accepted", in.accepted, "duplicates",
					       in.duplicates));
}

static int audit_visible(const json_t *ev, void *arg)
{
	return gw_may_read_audit(arg, ev);
}

/* Adds actor_login to each event whose actor is a user, so a reader sees who acted without
 * a directory of their own (a tenant's admin cannot list the provider's engineers). It is
 * read from the users table at answer time, outside the hashed fields (lb_audit_chain_hash
 * takes a fixed list), so the chain verifies as before; a user's login never changes. At most
 * one lookup per distinct actor of the page. */
static void add_actor_logins(struct gw_store *s, json_t *items)
{
	json_t *seen = json_object(), *ev;
	size_t i;

	json_array_foreach(items, i, ev) {
		const char *actor = lb_json_str(ev, "actor");
		json_t *login, *u = NULL;
		if (!actor || strncmp(actor, "usr_", 4) != 0)
			continue;
		login = json_object_get(seen, actor);
		if (!login) {
			if (s->get(s->cls, NULL, &gw_k_users, "id", actor, &u) == GW_DB_OK &&
			    lb_json_str(u, "login"))
				login = json_string(lb_json_str(u, "login"));
			else
				login = json_null();
			json_decref(u);
			json_object_set_new(seen, actor, login);
		}
		json_object_set(ev, "actor_login", login);
	}
	json_decref(seen);
}

static enum MHD_Result audit_reply(struct gw_req *r, const struct gw_filter *f, size_t nf,
				   int (*visible)(const json_t *row, void *principal))
{
	return gw_reply_list_with(r, &gw_k_audit, f, nf, visible, add_actor_logins);
}

enum MHD_Result gw_audit_list(struct gw_req *r)
{
	json_t *host_row = NULL;
	enum MHD_Result ret;
	static const char *const eq_keys[] = {"level", "tenant", "subscription", "host", "type",
					      "request", NULL};
	struct gw_filter f[10];
	size_t nf = 0;
	char since[LB_TIME_BUFLEN], until[LB_TIME_BUFLEN];
	int all = gw_is(&r->who, GW_ROLE_PROVIDER_ADMIN);

	for (size_t i = 0; eq_keys[i]; i++) {
		const char *v = gw_query(r, eq_keys[i]);
		if (!v)
			continue;
		if (!lb_str_clean(v) || strlen(v) > 256) {
			json_decref(host_row);
			return gw_reply_error(r, "bad_query", "%s: bad text", eq_keys[i]);
		}
		if (i == 0 && strcmp(v, "subscription") != 0 && strcmp(v, "tenant") != 0 &&
		    strcmp(v, "provider") != 0)
			return gw_reply_error(r, "bad_query", "level: subscription, tenant or provider");
		if (strcmp(eq_keys[i], "type") == 0 && !lb_event_type_known(v)) {
			json_decref(host_row);
			return gw_reply_error(r, "bad_query", "type: not an event type (see lockbox-gatewayd(8), AUDIT EVENTS; e.g. access.check.deny)");
		}
		if (strcmp(eq_keys[i], "host") == 0 && strncmp(v, "hst_", 4) == 0 && !host_row) {
			/* events name hosts by name; accept the id too */
			if (r->gw->store->get(r->gw->store->cls, NULL, &gw_k_hosts, "id", v, &host_row) ==
			    GW_DB_OK)
				v = lb_json_str(host_row, "name");
		}
		f[nf++] = (struct gw_filter){eq_keys[i], GW_EQ, v};
	}
	if (gw_query(r, "since")) {
		if (gw_want_time(r, "since", gw_query(r, "since"), since) != 0)
			goto out_replied;
		f[nf++] = (struct gw_filter){"time", GW_GE, since};
	}
	if (gw_query(r, "until")) {
		if (gw_want_time(r, "until", gw_query(r, "until"), until) != 0)
			goto out_replied;
		f[nf++] = (struct gw_filter){"time", GW_LT, until};
	}
	/* scoped readers see only their tenant's or subscription's events */
	ret = audit_reply(r, f, nf, all ? NULL : audit_visible);
	json_decref(host_row);
	return ret;
out_replied:
	json_decref(host_row);
	return MHD_YES;
}

struct verify {
	struct gw *gw;
	int64_t from_seq; /* 0: the whole chain */
	const char *from_hash;
	json_t *result;
};

static enum gw_db verify_body(struct gw_txn *t, void *arg)
{
	struct verify *v = arg;
	struct gw_store *s = v->gw->store;
	char prev[65] = GW_ZERO_HASH, hash[65], ckpt_hash[65];
	int64_t cursor = v->from_seq, next = 0, expect = v->from_seq + 1, count = v->from_seq,
		ckpt_seq;

	if (v->from_seq > 0) {
		/* start from a checkpoint: its event must still be there, unchanged */
		char seqs[32];
		json_t *ev = NULL;
		enum gw_db rc;
		snprintf(seqs, sizeof(seqs), "%lld", (long long)v->from_seq);
		rc = s->get(s->cls, t, &gw_k_audit, "seq", seqs, &ev);
		if (rc != GW_DB_OK && rc != GW_DB_NOT_FOUND)
			return rc;
		if (!ev || strcmp(lb_json_str(ev, "hash") ? lb_json_str(ev, "hash") : "",
				  v->from_hash) != 0) {
			v->result = json_pack("{s:b,s:I,s:s,s:I}", "ok", 0, "broken_at",
					      (json_int_t)v->from_seq, "reason",
					      "the event of the last checkpoint is missing or changed",
					      "count", (json_int_t)0);
			json_decref(ev);
			return GW_DB_OK;
		}
		json_decref(ev);
		snprintf(prev, sizeof(prev), "%s", v->from_hash);
	}

	pthread_mutex_lock(&v->gw->ckpt_lock);
	ckpt_seq = v->gw->ckpt_seq;
	memcpy(ckpt_hash, v->gw->ckpt_hash, sizeof(ckpt_hash));
	pthread_mutex_unlock(&v->gw->ckpt_lock);

	do {
		json_t *items, *ev;
		size_t i;
		enum gw_db rc = s->list(s->cls, t, &gw_k_audit, NULL, 0, cursor, GW_AUDIT_SCAN_PAGE, 0,
					NULL, NULL, &items, &next);
		if (rc != GW_DB_OK)
			return rc;
		json_array_foreach(items, i, ev) {
			int64_t seq = json_integer_value(json_object_get(ev, "seq"));
			const char *why = NULL;
			gw_audit_chain_hash(ev, prev, hash);
			if (seq != expect)
				why = "sequence gap (events removed)";
			else if (strcmp(lb_json_str(ev, "prev_hash") ? lb_json_str(ev, "prev_hash") : "", prev) != 0)
				why = "prev_hash does not match the previous event";
			else if (strcmp(lb_json_str(ev, "hash") ? lb_json_str(ev, "hash") : "", hash) != 0)
				why = "hash does not match the event's content";
			else if (seq == ckpt_seq && strcmp(hash, ckpt_hash) != 0)
				why = "the chain differs from the last signed checkpoint (history rewritten)";
			if (why) {
				v->result = json_pack("{s:b,s:I,s:s,s:I}", "ok", 0, "broken_at",
						      (json_int_t)seq, "reason", why, "count",
						      (json_int_t)count);
				json_decref(items);
				return GW_DB_OK;
			}
			snprintf(prev, sizeof(prev), "%s", hash);
			expect++;
			count++;
			cursor = seq;
		}
		json_decref(items);
	} while (next);
	if (count < ckpt_seq) {
		v->result = json_pack("{s:b,s:I,s:s,s:I}", "ok", 0, "broken_at", (json_int_t)(count + 1),
				      "reason", "events the last signed checkpoint covered are missing (tail truncated, chain regressed)",
				      "count", (json_int_t)count);
		return GW_DB_OK;
	}
	v->result = json_pack("{s:b,s:I,s:I,s:s}", "ok", 1, "count", (json_int_t)count, "head_seq",
			      (json_int_t)(expect - 1), "head_hash", prev);
	return GW_DB_OK;
}

enum gw_db gw_audit_verify_from(struct gw *gw, int64_t seq, const char *hash, json_t **result)
{
	struct verify v = {gw, seq, hash, NULL};
	enum gw_db rc = gw->store->run(gw->store->cls, 0, verify_body, &v);
	*result = v.result;
	if (rc != GW_DB_OK) {
		json_decref(v.result);
		*result = NULL;
	}
	return rc;
}

/* Walks the whole chain (the endpoint): from before the first event, whose prev_hash is
 * the zero hash. */
enum gw_db gw_audit_verify_chain(struct gw *gw, json_t **result)
{
	return gw_audit_verify_from(gw, 0, GW_ZERO_HASH, result);
}

enum MHD_Result gw_audit_verify(struct gw_req *r)
{
	json_t *result;
	enum gw_db rc;
	/* the chain, then the signed checkpoint records against it (gw_checkpoint.c) */
	rc = gw_checkpoint_verify(r->gw, &result);
	if (rc != GW_DB_OK)
		return gw_reply_db(r, rc, "event");
	if (!json_is_true(json_object_get(result, "ok")))
		gw_log(LOG_ERR, "audit chain broken at seq %lld: %s",
		       (long long)json_integer_value(json_object_get(result, "broken_at")),
		       lb_json_str(result, "reason"));
	return gw_reply_json(r, 200, result);
}

/* Session-end hooks are not reliable (SIGKILL, forks, a host that died): when a grant ends,
 * every session.start of the request with neither a session.end nor a session.lost gets a
 * session.lost from the gateway (DESIGN.md "Live sessions"): the gateway records that the
 * host never confirmed an end, never a session.end it did not receive. A late real
 * session.end from the host is still stored as sent. */
enum gw_db gw_sessions_reconcile(struct gw *gw, struct gw_txn *t, const json_t *req,
				  const char *why)
{
	struct gw_store *s = gw->store;
	struct gw_filter f[1] = {{"request", GW_EQ, lb_json_str(req, "id")}};
	/* ended: the sessions with a session.end or a session.lost already */
	json_t *starts = json_object(), *ended = json_object(), *items, *ev;
	int64_t cursor = 0, next;
	const char *sid;
	enum gw_db rc = GW_DB_OK;
	int pages = 0;

	do {
		size_t i;
		rc = s->list(s->cls, t, &gw_k_audit, f, 1, cursor, GW_LIST_MAX, 0, NULL, NULL, &items,
			     &next);
		if (rc != GW_DB_OK)
			goto out;
		json_array_foreach(items, i, ev) {
			const char *type = lb_json_str(ev, "type");
			const char *session = lb_json_str(json_object_get(ev, "details"), "session");
			if (type && strcmp(type, "session.start") == 0)
				json_object_set(starts, session ? session : lb_json_str(ev, "id"), ev);
			else if (type && session && (strcmp(type, "session.end") == 0 ||
						     strcmp(type, "session.lost") == 0))
				json_object_set_new(ended, session, json_true());
		}
		json_decref(items);
		cursor = next;
	} while (next && ++pages < 100);
	json_object_foreach(starts, sid, ev) {
		struct gw_event e = {0};
		json_t *d = json_object_get(ev, "details");
		if (json_object_get(ended, sid))
			continue;
		e.type = "session.lost";
		e.tenant = lb_json_str(ev, "tenant");
		e.subscription = lb_json_str(ev, "subscription");
		e.level = lb_json_str(ev, "level");
		e.actor = lb_json_str(ev, "actor");
		e.host = lb_json_str(ev, "host");
		e.request = lb_json_str(req, "id");
		e.details = json_pack("{s:s,s:s,s:O?,s:O?,s:O?}", "session", sid, "reason", why,
				      "decision_id", json_object_get(d, "decision_id"),
				      "user", json_object_get(d, "user"), "start_time",
				      json_object_get(ev, "time"));
		if ((rc = gw_audit_emit(gw, t, &e, NULL)) != GW_DB_OK)
			break;
	}
out:
	json_decref(starts);
	json_decref(ended);
	return rc;
}
