/* lockbox-gatewayd: /v1/sessions: the web console's sign-in. A user token (and a TOTP code
 * when the user has one) buys a session cookie; the API then takes the cookie instead of a
 * bearer token, and on every state-changing call only together with the session's CSRF token
 * in X-CSRF-Token (DESIGN.md "Web console"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define COOKIE_NAME "lockbox_session"
#define COOKIE_PREFIX "lbs_"
#define COOKIE_LEN 68 /* "lbs_" + 64 hex, like a token */
/* last_seen_at is written at most this often per session (and more often when the idle
 * timeout is short, so that it still ends on time): no write per request */
#define TOUCH_MAX_MS 60000

/* A cookie the gateway could have made (what goes near the store is checked first). */
static int cookie_well_formed(const char *c)
{
	if (!c || strlen(c) != COOKIE_LEN || strncmp(c, COOKIE_PREFIX, 4) != 0)
		return 0;
	for (const char *p = c + 4; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

const char *gw_session_cookie(struct MHD_Connection *c)
{
	return MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE_NAME);
}

/* The CSRF token is derived from the cookie rather than stored: only who holds the cookie's
 * value (the gateway, and the browser, which keeps it from scripts: HttpOnly) can compute it,
 * a page of another site can neither read it nor the answer that carries it, and a copy of
 * the database (which holds only the cookie's hash) gives neither away. */
static void csrf_of(const char *cookie, char out[65])
{
	char buf[16 + COOKIE_LEN + 1];
	snprintf(buf, sizeof(buf), "lockbox-csrf:%.68s", cookie);
	lb_sha256_hex(buf, strlen(buf), out);
	lb_wipe(buf, sizeof(buf));
}

int gw_session_csrf_ok(struct MHD_Connection *c, const char *cookie)
{
	const char *got = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
	char want[65];
	unsigned diff = 0;

	if (!got || strlen(got) != 64 || !cookie_well_formed(cookie))
		return 0;
	csrf_of(cookie, want);
	for (size_t i = 0; i < 64; i++) /* constant time: no byte-by-byte guessing */
		diff |= (unsigned)(unsigned char)(got[i] ^ want[i]);
	lb_wipe(want, sizeof(want));
	return diff == 0;
}

/* Whether TIME (RFC 3339) is at or before NOW (ms); an unreadable time counts as past. */
static int time_passed(const char *time, int64_t now)
{
	int64_t ms;
	return !time || lb_time_parse(time, &ms) != 0 || ms <= now;
}

/* When SESSION ends for being idle, as ms. */
static int64_t idle_end(const struct gw *gw, const json_t *session)
{
	int64_t last;
	if (lb_time_parse(lb_json_str(session, "last_seen_at"), &last) != 0)
		return 0;
	return last + gw->cfg.console_idle_timeout * 1000;
}

int gw_session_authenticate(struct gw *gw, const char *cookie, int64_t now,
			    struct gw_principal *p)
{
	struct gw_store *s = gw->store;
	char hash[65];
	json_t *session = NULL, *tok = NULL;
	int64_t last = 0, every;
	int ret = -1;
	enum gw_db rc;

	memset(p, 0, sizeof(*p));
	if (!cookie_well_formed(cookie))
		return -1;
	lb_sha256_hex(cookie, strlen(cookie), hash);
	rc = s->get(s->cls, NULL, &gw_k_web_sessions, "hash", hash, &session);
	if (rc != GW_DB_OK)
		return rc == GW_DB_NOT_FOUND ? -1 : -2;
	/* signed out, past its absolute end, or unused for longer than the idle timeout */
	if (json_is_string(json_object_get(session, "revoked_at")) ||
	    time_passed(lb_json_str(session, "expires_at"), now) || idle_end(gw, session) <= now)
		goto out;
	/* the session lives only as long as the token it was made with: revoking a leaked token
	 * ends what was signed in with it */
	rc = s->get(s->cls, NULL, &gw_k_tokens, "id", lb_json_str(session, "token"), &tok);
	if (rc != GW_DB_OK) {
		ret = rc == GW_DB_NOT_FOUND ? -1 : -2;
		goto out;
	}
	if (json_is_string(json_object_get(tok, "revoked_at")) ||
	    (lb_json_str(tok, "expires_at") && time_passed(lb_json_str(tok, "expires_at"), now)))
		goto out;
	ret = gw_authenticate_user(gw, lb_json_str(session, "user"), p);
	if (ret != 0)
		goto out;
	lb_json_bool(tok, "mfa", &p->mfa);
	snprintf(p->session, sizeof(p->session), "%s", lb_json_str(session, "id"));
	every = gw->cfg.console_idle_timeout * 1000 / 10;
	if (every > TOUCH_MAX_MS)
		every = TOUCH_MAX_MS;
	lb_time_parse(lb_json_str(session, "last_seen_at"), &last);
	if (now - last >= every) {
		/* a failed write (busy store) only lets the session end a little earlier */
		(void)gw_store_touch(s, &gw_k_web_sessions, p->session, "last_seen_at", now);
	}
out:
	json_decref(tok);
	json_decref(session);
	return ret;
}

/* The session as the API shows it: never the hash (hidden), never the cookie. */
static json_t *session_view(const struct gw *gw, const json_t *row)
{
	char idle[LB_TIME_BUFLEN];
	json_t *v = json_deep_copy(row);
	lb_time_format(idle_end(gw, row), idle, sizeof(idle));
	json_object_set_new(v, "idle_expires_at", json_string(idle));
	json_object_set_new(v, "idle_timeout", json_integer(gw->cfg.console_idle_timeout));
	return v;
}

static json_t *roles_view(const struct gw_principal *p)
{
	json_t *a = json_array();
	for (size_t i = 0; i < p->nroles; i++) {
		const struct gw_assignment *g = &p->roles[i];
		json_array_append_new(a, json_pack("{s:s,s:s?,s:s?}", "role", gw_role_name(g->role),
						   "tenant", g->tenant[0] ? g->tenant : NULL,
						   "subscription",
						   g->subscription[0] ? g->subscription : NULL));
	}
	return a;
}

struct create {
	const char *token; /* the user token given */
};

static enum gw_db session_create_body(struct gw_call *call)
{
	struct gw_req *r = call->r;
	struct gw *gw = r->gw;
	struct gw_store *s = gw->store;
	const struct create *c = call->arg;
	const char *tenant = lb_json_str(r->who.obj, "tenant");
	char hash[65], tok_hash[65], cookie[80], csrf[65], id[GW_ID_LEN];
	char now[LB_TIME_BUFLEN], until[LB_TIME_BUFLEN];
	json_t *tok = NULL, *otp = NULL, *row;
	int required, verified = 0;
	enum gw_db rc;

	lb_sha256_hex(c->token, strlen(c->token), tok_hash);
	if ((rc = s->get(s->cls, call->txn, &gw_k_tokens, "hash", tok_hash, &tok)) != GW_DB_OK)
		return rc == GW_DB_NOT_FOUND ? gw_call_fail(call, "unauthenticated", "the token is "
							  "unknown") : rc;
	/* a user with TOTP signs in with a code: the token alone is one factor */
	rc = s->get(s->cls, call->txn, &gw_k_totp, "user", r->who.id, &otp);
	if (rc != GW_DB_OK && rc != GW_DB_NOT_FOUND)
		goto out;
	required = otp && lb_json_str(otp, "secret") != NULL;
	rc = gw_totp_verify(call, lb_json_str(call->body, "totp"), required, &verified);
	if (rc != GW_DB_OK || call->err_code)
		goto out;
	if (gw_new_token(COOKIE_PREFIX, cookie, sizeof(cookie), hash) != 0) {
		rc = GW_DB_ERROR;
		goto out;
	}
	gw_new_id("wss_", id);
	gw_now_str(r, now);
	lb_time_format(r->now + gw->cfg.console_absolute_timeout * 1000, until, sizeof(until));
	row = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:s,s:n}", "id", id, "user", r->who.id,
			"token", lb_json_str(tok, "id"), "hash", hash, "mfa", verified,
			"created_at", now, "last_seen_at", now, "expires_at", until, "revoked_at");
	rc = s->insert(s->cls, call->txn, &gw_k_web_sessions, row);
	json_object_del(row, "hash");
	if (rc == GW_DB_OK)
		rc = gw_directory_event(call, "directory.session.create", tenant,
					json_pack("{s:s,s:s,s:O,s:s,s:b,s:s}", "session", id, "user",
						  r->who.id, "login",
						  json_object_get(r->who.obj, "login"), "token",
						  lb_json_str(tok, "id"), "mfa", verified,
						  "expires_at", until));
	if (rc == GW_DB_OK) {
		csrf_of(cookie, csrf);
		call->out = json_pack("{s:s,s:o,s:O,s:o}", "csrf_token", csrf, "session",
				    session_view(gw, row), "user", r->who.obj, "roles",
				    roles_view(&r->who));
		lb_wipe(csrf, sizeof(csrf));
		/* Secure always: a browser keeps it on https:// and on http://127.0.0.1 or
		 * localhost (secure contexts), the only places this gateway listens on http */
		free(r->set_cookie);
		if (asprintf(&r->set_cookie, COOKIE_NAME "=%s; Path=/; Max-Age=%lld; HttpOnly; "
			     "Secure; SameSite=Strict", cookie,
			     (long long)gw->cfg.console_absolute_timeout) < 0) {
			r->set_cookie = NULL;
			rc = GW_DB_ERROR;
		}
	}
	json_decref(row);
	lb_wipe(cookie, sizeof(cookie));
out:
	json_decref(otp);
	json_decref(tok);
	return rc;
}

enum MHD_Result gw_sessions_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"token", GW_F_STR, 1, 80}, {"totp", GW_F_STR, 0, 16}, {NULL, 0, 0, 0}};
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
	struct create c;
	struct gw_call call = {.r = r, .what = "session", .arg = &c};
	enum MHD_Result ret;
	int a;

	/* a form of another site can post text/plain but not application/json (that needs a
	 * CORS preflight this gateway never grants): no signing a victim in as someone else */
	if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
		return gw_reply_error(r, "bad_value", "Content-Type: must be application/json");
	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	c.token = lb_json_str(call.body, "token");
	a = gw_authenticate(r->gw, c.token, &r->who);
	if (a == -2)
		ret = gw_reply_error(r, "store_busy", "cannot check the token right now");
	else if (a != 0) {
		gw_log(LOG_NOTICE, "console: sign-in refused: unknown, revoked or expired token, or "
				   "a disabled user");
		ret = gw_reply_error(r, "unauthenticated", "the token is unknown, revoked or "
				     "expired, or its user is disabled");
	} else if (r->who.kind != GW_P_USER)
		ret = gw_reply_error(r, "forbidden", "host tokens cannot sign in to the console");
	else
		ret = gw_call_run(&call, 1, session_create_body, 201);
	json_decref(call.body);
	return ret;
}

static enum gw_db session_current_body(struct gw_call *call)
{
	struct gw_req *r = call->r;
	struct gw_store *s = r->gw->store;
	const char *cookie = gw_session_cookie(r->conn), *tenant = lb_json_str(r->who.obj, "tenant");
	char csrf[65];
	json_t *row = NULL, *t = NULL;
	enum gw_db rc;

	if ((rc = s->get(s->cls, call->txn, &gw_k_web_sessions, "id", r->who.session, &row)) != GW_DB_OK)
		return rc;
	/* a customer user reads their own tenant (the lockbox switch the console shows) */
	if (tenant && (rc = s->get(s->cls, call->txn, &gw_k_tenants, "id", tenant, &t)) != GW_DB_OK &&
	    rc != GW_DB_NOT_FOUND) {
		json_decref(row);
		return rc;
	}
	csrf_of(cookie ? cookie : "", csrf);
	call->out = json_pack("{s:s,s:o,s:O,s:o,s:o}", "csrf_token", csrf, "session",
			    session_view(r->gw, row), "user", r->who.obj, "roles",
			    roles_view(&r->who), "tenant", t ? t : json_null());
	lb_wipe(csrf, sizeof(csrf));
	json_decref(row);
	return GW_DB_OK;
}

enum MHD_Result gw_sessions_current(struct gw_req *r)
{
	struct gw_call call = {.r = r, .what = "session"};
	if (!r->who.session[0])
		return gw_reply_error(r, "not_found", "no console session: this call came with a "
				      "bearer token (sign in with POST /v1/sessions)");
	return gw_call_run(&call, 0, session_current_body, 200);
}

static enum gw_db session_delete_body(struct gw_call *call)
{
	struct gw_req *r = call->r;
	struct gw_store *s = r->gw->store;
	char now[LB_TIME_BUFLEN];
	json_t *fields;
	enum gw_db rc;

	if ((rc = s->get(s->cls, call->txn, &gw_k_web_sessions, "id", r->who.session, &call->out)) != GW_DB_OK)
		return rc;
	gw_now_str(r, now);
	fields = json_pack("{s:s}", "revoked_at", now);
	rc = s->update(s->cls, call->txn, &gw_k_web_sessions, r->who.session, fields);
	json_object_update(call->out, fields);
	json_decref(fields);
	if (rc == GW_DB_OK)
		rc = gw_directory_event(call, "directory.session.revoke",
					lb_json_str(r->who.obj, "tenant"),
					json_pack("{s:s,s:s,s:O,s:s}", "session", r->who.session,
						  "user", r->who.id, "login",
						  json_object_get(r->who.obj, "login"), "reason",
						  "sign_out"));
	if (rc == GW_DB_OK) {
		free(r->set_cookie);
		r->set_cookie = strdup(COOKIE_NAME "=; Path=/; Max-Age=0; HttpOnly; Secure; "
				       "SameSite=Strict");
	}
	return rc;
}

enum MHD_Result gw_sessions_delete(struct gw_req *r)
{
	struct gw_call call = {.r = r, .what = "session"};
	if (!r->who.session[0])
		return gw_reply_error(r, "not_found", "no console session: this call came with a "
				      "bearer token (revoke a token with DELETE /v1/tokens/{id})");
	return gw_call_run(&call, 1, session_delete_body, 200);
}
