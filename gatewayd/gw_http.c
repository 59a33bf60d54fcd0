/* lockbox-gatewayd: the one JSON-parse helper, the one error-reply helper, paging, ids, logs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

/* Every error code the API uses, and its HTTP status. */
static const struct {
	const char *code;
	unsigned status;
} error_table[] = {
	{"bad_json", 400},          {"unknown_field", 400},     {"missing_field", 400},
	{"bad_type", 400},          {"bad_text", 400},          {"bad_value", 400},
	{"bad_time", 400},          {"bad_duration", 400},      {"bad_cursor", 400},
	{"bad_query", 400},         {"unauthenticated", 401},   {"forbidden", 403},
	{"self_approval", 403},     {"csrf_failed", 403},     {"not_found", 404},         {"method_not_allowed", 405},
	{"wrong_state", 409},       {"conflict", 409},          {"body_too_large", 413},
	{"duration_too_long", 422}, {"mfa_required", 422},      {"ticket_closed", 422},
	{"totp_invalid", 422},      {"totp_locked", 429},       {"totp_unavailable", 503},
	{"ticket_tenant_mismatch", 422}, {"host_not_in_scope", 422}, {"rule_violated", 422},
	{"event_time_out_of_range", 422}, {"gateway_only_key", 422}, {"unknown_decision", 422},
	{"invitation_invalid", 422}, {"mail_not_configured", 422}, {"already_approved", 409},
	{"no_elevation", 422},
	{"store_busy", 503},        {"store_error", 503},
};

static unsigned error_status(const char *code)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (strcmp(error_table[i].code, code) == 0)
			return error_table[i].status;
	return 500;
}

enum MHD_Result gw_reply_json(struct gw_req *r, unsigned status, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	struct MHD_Response *resp;
	enum MHD_Result ret;

	json_decref(obj);
	if (!text)
		text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->set_cookie && status / 100 == 2) /* a console sign-in or sign-out that happened */
		MHD_add_response_header(resp, "Set-Cookie", r->set_cookie);
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	r->responded = 1;
	gw_metrics_http(status);
	return ret;
}

enum MHD_Result gw_reply_error(struct gw_req *r, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return gw_reply_json(r, error_status(code),
			     json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

enum MHD_Result gw_reply_db(struct gw_req *r, enum gw_db rc, const char *what)
{
	switch (rc) {
	case GW_DB_NOT_FOUND:
		return gw_reply_error(r, "not_found", "no %s %s", what, r->args[0] ? r->args[0] : "");
	case GW_DB_CONFLICT:
		return gw_reply_error(r, "conflict", "a %s with that name or key exists already", what);
	case GW_DB_BUSY:
		return gw_reply_error(r, "store_busy", "the database is busy; retry shortly");
	case GW_DB_OK:
	case GW_DB_ABORT:
	case GW_DB_ERROR:
	default:
		return gw_reply_error(r, "store_error", "the database failed; see the gateway log");
	}
}

static const char *ftype_name(enum gw_ftype t)
{
	switch (t) {
	case GW_F_STR: return "a string";
	case GW_F_BOOL: return "a boolean";
	case GW_F_STRLIST: return "an array of strings";
	case GW_F_OBJECT: return "an object";
	case GW_F_ARRAY: return "an array";
	case GW_F_INT: return "a whole number";
	}
	return "?";
}

static int text_ok(struct gw_req *r, const char *field, const char *s, size_t maxlen)
{
	if (strlen(s) > maxlen) {
		gw_reply_error(r, "bad_value", "%s: longer than %zu bytes", field, maxlen);
		return 0;
	}
	if (!lb_str_clean(s)) {
		gw_reply_error(r, "bad_text", "%s: control characters or invalid UTF-8", field);
		return 0;
	}
	return 1;
}

json_t *gw_parse_body(struct gw_req *r, const struct gw_field *spec)
{
	char why[256];
	const char *key;
	json_t *j, *v;

	if (r->too_big) {
		gw_reply_error(r, "body_too_large", "the body exceeds %lu bytes",
			       r->gw->cfg.max_body);
		return NULL;
	}
	j = lb_json_parse_object(r->body ? r->body : "", r->body_len, why, sizeof(why));
	if (!j) {
		gw_reply_error(r, "bad_json", "%s", why);
		return NULL;
	}
	json_object_foreach(j, key, v) {
		const struct gw_field *f = NULL;
		for (const struct gw_field *s = spec; s->name; s++)
			if (strcmp(s->name, key) == 0)
				f = s;
		if (!f) {
			gw_reply_error(r, "unknown_field", "unknown field '%.64s'", key);
			goto bad;
		}
	}
	for (const struct gw_field *f = spec; f->name; f++) {
		size_t maxlen = f->maxlen ? f->maxlen : 256;
		int ok;
		v = json_object_get(j, f->name);
		if (!v || json_is_null(v)) {
			if (f->required) {
				gw_reply_error(r, "missing_field", "'%s' is required", f->name);
				goto bad;
			}
			json_object_del(j, f->name);
			continue;
		}
		switch (f->type) {
		case GW_F_STR: ok = json_is_string(v); break;
		case GW_F_BOOL: ok = json_is_boolean(v); break;
		case GW_F_OBJECT: ok = json_is_object(v); break;
		case GW_F_ARRAY: ok = json_is_array(v); break;
		case GW_F_INT: ok = json_is_integer(v); break;
		case GW_F_STRLIST: {
			size_t i;
			json_t *e;
			ok = json_is_array(v);
			json_array_foreach(v, i, e) if (!json_is_string(e)) ok = 0;
			break;
		}
		default: ok = 0;
		}
		if (!ok) {
			gw_reply_error(r, "bad_type", "'%s' must be %s", f->name, ftype_name(f->type));
			goto bad;
		}
		if (f->type == GW_F_STR && !text_ok(r, f->name, json_string_value(v), maxlen))
			goto bad;
		if (f->type == GW_F_INT && (json_integer_value(v) < 1 ||
					    json_integer_value(v) > (json_int_t)f->maxlen)) {
			gw_reply_error(r, "bad_value", "'%s' must be 1..%zu", f->name, f->maxlen);
			goto bad;
		}
		if (f->type == GW_F_STRLIST) {
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e) if (!text_ok(r, f->name, json_string_value(e), maxlen))
				goto bad;
		}
	}
	return j;
bad:
	json_decref(j);
	return NULL;
}

const char *gw_query(struct gw_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

int gw_parse_page(struct gw_req *r, size_t *limit, int64_t *cursor)
{
	const char *l = gw_query(r, "limit"), *c = gw_query(r, "cursor");
	char *end;
	*limit = GW_LIST_DEFAULT;
	*cursor = 0;
	if (l) {
		long v;
		errno = 0;
		v = strtol(l, &end, 10);
		if (*l == '\0' || *end || errno || v < 1 || v > GW_LIST_MAX) {
			gw_reply_error(r, "bad_query", "limit must be 1..%d", GW_LIST_MAX);
			return -1;
		}
		*limit = (size_t)v;
	}
	if (c) {
		long long v;
		errno = 0;
		v = strtoll(c, &end, 10);
		if (*c == '\0' || *end || errno || v < 1) {
			gw_reply_error(r, "bad_cursor", "cursor is not one this gateway returned");
			return -1;
		}
		*cursor = v;
	}
	return 0;
}

enum MHD_Result gw_reply_page(struct gw_req *r, json_t *items, int64_t next)
{
	char buf[32];
	json_t *o = json_object();
	json_object_set_new(o, "items", items);
	if (next > 0) {
		snprintf(buf, sizeof(buf), "%" PRId64, next);
		json_object_set_new(o, "next_cursor", json_string(buf));
	} else {
		json_object_set_new(o, "next_cursor", json_null());
	}
	return gw_reply_json(r, 200, o);
}

int gw_want_duration(struct gw_req *r, const char *field, const char *value, int64_t *secs)
{
	if (lb_duration_parse(value, secs) != 0 || *secs <= 0) {
		gw_reply_error(r, "bad_duration",
			       "%s: '%.32s' is not a positive duration (write e.g. 90s, 30m, 8h, 4d)",
			       field, value);
		return -1;
	}
	return 0;
}

int gw_want_time(struct gw_req *r, const char *field, const char *value, char out[32])
{
	int64_t ms;
	if (lb_time_parse(value, &ms) != 0) {
		gw_reply_error(r, "bad_time", "%s: '%.40s' is not an RFC 3339 time in 1970..9999",
			       field, value);
		return -1;
	}
	lb_time_format(ms, out, 32);
	return 0;
}

void gw_new_id(const char *prefix, char out[GW_ID_LEN])
{
	char hex[17];
	if (lb_random_hex(hex, sizeof(hex), 8) != 0)
		abort(); /* no randomness: nothing safe to do */
	snprintf(out, GW_ID_LEN, "%s%s", prefix, hex);
}

int gw_new_token(const char *prefix, char *token, size_t len, char hash[65])
{
	char hex[65];
	if (len < strlen(prefix) + 65 || lb_random_hex(hex, sizeof(hex), 32) != 0)
		return -1;
	snprintf(token, len, "%s%s", prefix, hex);
	lb_sha256_hex(token, strlen(token), hash);
	lb_wipe(hex, sizeof(hex));
	return 0;
}

void gw_now_str(const struct gw_req *r, char out[32])
{
	lb_time_format(r->now, out, 32);
}

static void call_error(struct gw_call *call, const char *code, const char *fmt, va_list ap)
{
	call->err_code = code;
	vsnprintf(call->err_msg, sizeof(call->err_msg), fmt, ap);
}

enum gw_db gw_call_fail(struct gw_call *call, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	call_error(call, code, fmt, ap);
	va_end(ap);
	return GW_DB_ABORT;
}

enum gw_db gw_call_refuse(struct gw_call *call, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	call_error(call, code, fmt, ap);
	va_end(ap);
	return GW_DB_OK;
}

struct call_thunk {
	struct gw_call *call;
	gw_call_body fn;
};

/* The tenants a body changed are announced to the other gateways inside its transaction:
 * PostgreSQL delivers the announcement at commit, and never for a rolled-back attempt. */
static enum gw_db call_announce(struct gw_call *call, enum gw_db rc)
{
	if (rc != GW_DB_OK || call->err_code)
		return rc;
	return gw_changes_announce(call->r->gw->store, call->txn, call->changed);
}

static enum gw_db call_thunk_run(struct gw_txn *t, void *arg)
{
	struct call_thunk *th = arg;
	/* a retried body starts clean */
	json_decref(th->call->out);
	th->call->out = NULL;
	th->call->err_code = NULL;
	json_decref(th->call->changed);
	th->call->changed = NULL;
	th->call->txn = t;
	return call_announce(th->call, th->fn(th->call));
}

/* Wakes the agents of the tenants a committed transaction changed. */
enum MHD_Result gw_call_run(struct gw_call *call, int write, gw_call_body fn, unsigned ok_status)
{
	struct call_thunk th = {call, fn};
	struct gw_store *s = call->r->gw->store;
	enum gw_db rc = s->run(s->cls, write, call_thunk_run, &th);
	enum MHD_Result ret;

	if (rc == GW_DB_OK && !call->err_code) /* committed: now, and only now, an agent's
					      * re-check sees it */
		gw_changes_bump_set(call->changed);
	json_decref(call->changed);
	call->changed = NULL;
	call->txn = NULL; /* ended */
	call->rc = rc;
	/* ABORT: rolled back; OK with an error: committed, then refused (gw_call_refuse) */
	if ((rc == GW_DB_ABORT || rc == GW_DB_OK) && call->err_code)
		ret = gw_reply_error(call->r, call->err_code, "%s", call->err_msg);
	else if (rc != GW_DB_OK)
		ret = gw_reply_db(call->r, rc, call->what ? call->what : "object");
	else {
		ret = gw_reply_json(call->r, ok_status, call->out ? call->out : json_object());
		call->out = NULL;
	}
	json_decref(call->out);
	call->out = NULL;
	return ret;
}

enum gw_db gw_call_get(struct gw_call *call, const struct gw_kind *k, const char *id,
		       json_t **out)
{
	struct gw_store *s = call->r->gw->store;
	json_t *row = NULL;
	enum gw_db rc = s->get(s->cls, call->txn, k, "id", id, &row);
	if (rc == GW_DB_NOT_FOUND)
		rc = gw_call_fail(call, "not_found", "no %s %s", k->name, id);
	if (out && rc == GW_DB_OK)
		*out = row;
	else
		json_decref(row);
	return rc;
}

enum MHD_Result gw_call_parsed(struct gw_req *r, const struct gw_field *spec, const char *what,
			       gw_call_body fn, unsigned ok_status)
{
	struct gw_call call = {.r = r, .what = what};
	enum MHD_Result ret;

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	ret = gw_call_run(&call, 1, fn, ok_status);
	json_decref(call.body);
	return ret;
}

enum MHD_Result gw_reply_list_with(struct gw_req *r, const struct gw_kind *k,
				   const struct gw_filter *f, size_t nf,
				   int (*visible)(const json_t *row, void *principal),
				   void (*decorate)(struct gw_store *s, json_t *items))
{
	struct gw_store *s = r->gw->store;
	size_t limit;
	int64_t cursor, next;
	json_t *items;
	enum gw_db rc;

	if (gw_parse_page(r, &limit, &cursor) != 0)
		return MHD_YES;
	rc = s->list(s->cls, NULL, k, f, nf, cursor, limit, 0, visible, &r->who, &items, &next);
	if (rc != GW_DB_OK)
		return gw_reply_db(r, rc, k->name);
	if (decorate)
		decorate(s, items);
	return gw_reply_page(r, items, next);
}

enum MHD_Result gw_reply_list(struct gw_req *r, const struct gw_kind *k,
			      const struct gw_filter *f, size_t nf,
			      int (*visible)(const json_t *row, void *principal))
{
	return gw_reply_list_with(r, k, f, nf, visible, NULL);
}

enum MHD_Result gw_reply_list_by(struct gw_req *r, const struct gw_kind *k,
				 const char *const *keys,
				 int (*visible)(const json_t *row, void *principal))
{
	struct gw_filter f[8];
	size_t nf = 0;
	for (size_t i = 0; keys && keys[i] && nf < 8; i++)
		if (gw_query(r, keys[i]))
			f[nf++] = (struct gw_filter){keys[i], GW_EQ, gw_query(r, keys[i])};
	return gw_reply_list(r, k, f, nf, visible);
}
