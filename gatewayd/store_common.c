/* lockbox-gatewayd: resource kinds and the audit chain hash, shared by every store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/util.h"

#include "gw_store.h"

#define T(n) {n, GW_C_TEXT, 0}
#define B(n) {n, GW_C_BOOL, 0}
#define I(n) {n, GW_C_INT, 0}
#define J(n) {n, GW_C_JSON, 0}
#define H(n) {n, GW_C_TEXT, 1}
#define END {NULL, GW_C_TEXT, 0}

static const struct gw_col tenants[] = {T("id"), T("name"), B("lockbox_enabled"),
					T("created_at"), T("updated_at"), J("policy"), END};
static const struct gw_col subscriptions[] = {T("id"), T("tenant"), T("name"), T("created_at"),
					      END};
static const struct gw_col hosts[] = {T("id"), T("name"), T("subscription"), T("tenant"),
				      B("disabled"), H("token_hash"), T("created_at"),
				      T("updated_at"), END};
static const struct gw_col users[] = {T("id"), T("login"), T("name"), T("email"), T("side"),
				      T("tenant"), B("disabled"), T("created_at"), END};
static const struct gw_col tokens[] = {T("id"), T("user"), H("hash"), B("mfa"), T("created_at"),
				       T("expires_at"), T("revoked_at"), T("last_used_at"), END};
static const struct gw_col roles[] = {T("id"), T("user"), T("role"), T("tenant"),
				      T("subscription"), T("created_at"), END};
static const struct gw_col tickets[] = {T("id"), T("tenant"), T("subscription"), T("title"),
					T("description"), T("state"), T("created_by"),
					T("created_at"), T("updated_at"), END};
static const struct gw_col elevations[] = {T("id"), T("user"), T("login"), T("duration"),
					   T("justification"), T("activated_at"), T("expires_at"),
					   B("mfa"), {"expire_logged", GW_C_BOOL, 1}, END};
static const struct gw_col requests[] = {
	T("id"), T("ticket"), T("tenant"), T("scope"), T("subscription"), J("hosts"), T("access"),
	T("duration"), T("justification"), T("state"), T("requester"), T("requester_login"),
	T("created_at"), T("updated_at"), T("internal_approved_by"), T("approved_by"),
	T("approved_at"), T("grant_expires_at"), T("pending_expires_at"), T("decision_reason"),
	{"sessions_checked", GW_C_BOOL, 1}, J("approvals"), B("break_glass"), T("review"),
	T("reviewed_by"), T("reviewed_at"), T("review_reason"), T("extends"),
	T("grant_starts_at"), END};
static const struct gw_col audit[] = {I("seq"), T("id"), T("time"), T("type"), T("tenant"),
				      T("subscription"), T("level"), T("actor"), T("host"),
				      T("request"), J("details"), T("prev_hash"), T("hash"),
				      T("source"), END};

static const struct gw_col notifications[] = {
	T("id"), T("request"), T("event"), T("channel"), T("recipient"), T("subject"), T("body"),
	T("message_id"), T("state"), I("attempts"), T("next_attempt_at"), T("last_error"),
	T("created_at"), T("sent_at"), H("claimed_by"), END};

/* an invitation's code is never stored, only its hash (hidden: never returned) */
static const struct gw_col invitations[] = {T("id"), T("tenant"), T("login"), T("name"),
					    T("email"), H("code_hash"), T("created_by"),
					    T("created_at"), T("expires_at"), T("redeemed_at"),
					    T("user"), END};
const struct gw_kind gw_k_invitations = {"invitation", "invitations", "rid", invitations};

static const struct gw_col checkpoints[] = {I("seq"), T("head_hash"), T("sig"), T("time"),
					    T("alg"), END};
const struct gw_kind gw_k_checkpoints = {"checkpoint", "audit_checkpoints", "seq", checkpoints};

/* secret and pending_secret are sealed (gw_totp.c) and never put in an answer */
static const struct gw_col totp[] = {T("id"), T("user"), T("secret"), T("pending_secret"),
				     I("last_step"), I("failures"), T("locked_until"),
				     T("created_at"), T("updated_at"), T("confirmed_at"), END};
const struct gw_kind gw_k_totp = {"totp", "totp", "rid", totp};

/* console sign-ins: the cookie's hash only (hidden: never returned) */
static const struct gw_col web_sessions[] = {T("id"), T("user"), T("token"), H("hash"), B("mfa"),
					     T("created_at"), T("last_seen_at"), T("expires_at"),
					     T("revoked_at"), END};
const struct gw_kind gw_k_web_sessions = {"session", "web_sessions", "rid", web_sessions};

const struct gw_kind gw_k_notifications = {"notification", "notifications", "rid", notifications};
const struct gw_kind gw_k_tenants = {"tenant", "tenants", "rid", tenants};
const struct gw_kind gw_k_subscriptions = {"subscription", "subscriptions", "rid", subscriptions};
const struct gw_kind gw_k_hosts = {"host", "hosts", "rid", hosts};
const struct gw_kind gw_k_users = {"user", "users", "rid", users};
const struct gw_kind gw_k_tokens = {"token", "tokens", "rid", tokens};
const struct gw_kind gw_k_roles = {"role assignment", "role_assignments", "rid", roles};
const struct gw_kind gw_k_tickets = {"ticket", "tickets", "rid", tickets};
const struct gw_kind gw_k_elevations = {"elevation", "elevations", "rid", elevations};
const struct gw_kind gw_k_requests = {"request", "requests", "rid", requests};
const struct gw_kind gw_k_audit = {"audit event", "audit", "seq", audit};

const char *gw_fop_sql(enum gw_fop op)
{
	switch (op) {
	case GW_NE: return "<>";
	case GW_GE: return ">=";
	case GW_GT: return ">";
	case GW_LT: return "<";
	case GW_LE: return "<=";
	case GW_EQ:
	case GW_HAS:
	default: return "=";
	}
}

const struct gw_col *gw_kind_col(const struct gw_kind *k, const char *name)
{
	for (const struct gw_col *c = k->cols; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* ---- the database URIs: the one place that reads them ---- */

static int has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static const char *pg_rest(const char *uri)
{
	if (has_prefix(uri, "postgresql://"))
		return uri + 13;
	if (has_prefix(uri, "postgres://"))
		return uri + 11;
	return NULL;
}

enum gw_backend gw_store_uri_check(const char *uri, char *why, size_t whylen)
{
	const char *rest;
	char shown[512];
	if (!uri || !*uri) {
		snprintf(why, whylen, "empty database URI");
		return GW_BACKEND_NONE;
	}
	if (has_prefix(uri, "sqlite://")) {
		if (uri[9] != '/' || !uri[10] || uri[strlen(uri) - 1] == '/') {
			snprintf(why, whylen, "'%s' is not sqlite:///ABSOLUTE/PATH "
				 "(e.g. sqlite:///var/lib/lockbox/gateway.db)", uri);
			return GW_BACKEND_NONE;
		}
		return GW_BACKEND_SQLITE;
	}
	gw_store_uri_redact(uri, shown, sizeof(shown));
	if ((rest = pg_rest(uri))) {
		/* the database name is required: a gateway must never migrate "postgres" by
		 * accident; libpq checks the rest when the store connects */
		const char *slash = strchr(rest, '/');
		size_t dblen = slash ? strcspn(slash + 1, "?") : 0;
		if (!slash || dblen == 0) {
			snprintf(why, whylen, "'%s' names no database: use "
				 "postgresql://USER@HOST[:PORT]/DBNAME[?sslmode=verify-full]", shown);
			return GW_BACKEND_NONE;
		}
		if (strpbrk(uri, " \t\r\n")) {
			snprintf(why, whylen, "the database URI must not contain blanks");
			return GW_BACKEND_NONE;
		}
		return GW_BACKEND_POSTGRESQL;
	}
	snprintf(why, whylen, "'%s' is neither sqlite:///ABSOLUTE/PATH nor "
		 "postgresql://USER@HOST/DBNAME", shown);
	return GW_BACKEND_NONE;
}

const char *gw_store_uri_file(const char *uri)
{
	return uri && has_prefix(uri, "sqlite://") ? uri + 9 : NULL;
}

void gw_store_uri_redact(const char *uri, char *out, size_t outlen)
{
	const char *rest = uri ? pg_rest(uri) : NULL, *at, *colon, *p;
	size_t o = 0;

	if (!outlen)
		return;
	out[0] = '\0';
	if (!uri)
		return;
	if (!rest) {
		snprintf(out, outlen, "%s", uri);
		return;
	}
	/* the password of the userinfo, and any password=... parameter, become "***" */
	at = strchr(rest, '@');
	colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
	for (p = uri; *p && o + 1 < outlen;) {
		if (colon && p == colon + 1) {
			o += (size_t)snprintf(out + o, outlen - o, "***");
			p = at;
			continue;
		}
		if (p > uri && (p[-1] == '?' || p[-1] == '&') && strncmp(p, "password=", 9) == 0) {
			o += (size_t)snprintf(out + o, outlen - o, "password=***");
			p += strcspn(p, "&");
			continue;
		}
		out[o++] = *p++;
	}
	out[o < outlen ? o : outlen - 1] = '\0';
}

struct gw_store *gw_store_open(const char *uri, unsigned max_conns, char *err, size_t errlen)
{
	char why[512];
	switch (gw_store_uri_check(uri, why, sizeof(why))) {
	case GW_BACKEND_SQLITE:
		return gw_metrics_store(
			gw_store_sqlite_open(gw_store_uri_file(uri), max_conns, err, errlen));
	case GW_BACKEND_POSTGRESQL:
		return gw_metrics_store(gw_store_postgresql_open(uri, max_conns, err, errlen));
	case GW_BACKEND_NONE:
	default:
		snprintf(err, errlen, "database: %s", why);
		return NULL;
	}
}

struct touch {
	struct gw_store *s;
	const struct gw_kind *k;
	const char *id, *col, *when;
};

static enum gw_db touch_body(struct gw_txn *t, void *arg)
{
	struct touch *tc = arg;
	json_t *fields = json_pack("{s:s}", tc->col, tc->when);
	enum gw_db rc = fields ? tc->s->update(tc->s->cls, t, tc->k, tc->id, fields) : GW_DB_ERROR;
	json_decref(fields);
	return rc;
}

enum gw_db gw_store_touch(struct gw_store *s, const struct gw_kind *k, const char *id,
			  const char *col, int64_t now_ms)
{
	char when[LB_TIME_BUFLEN];
	struct touch tc = {s, k, id, col, when};
	if (!id)
		return GW_DB_NOT_FOUND;
	lb_time_format(now_ms, when, sizeof(when));
	return s->run(s->cls, 1, touch_body, &tc);
}

void gw_store_close(struct gw_store *s)
{
	if (!s)
		return;
	s->close(s->cls);
	free(s);
}
