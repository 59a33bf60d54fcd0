/* pam_lockbox: asks the gateway for a decision (POST /v1/check) and types the answer.
 * Every field of the answer is untrusted: anything unexpected is an error, and every error
 * denies (there is no fail-open mode). */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <security/pam_modules.h>

#include "lbpam.h"
#include "lockbox/escape.h"
#include "lockbox/http.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

/* The gateway's limits for the optional check fields (docs/API.md: rhost 255, tty 64 bytes) */
#define LBPAM_MAX_RHOST 255
#define LBPAM_MAX_TTY 64

/* Answers to /v1/check are small; anything bigger is not our gateway speaking. */
#define LBPAM_MAX_ANSWER (8 * 1024)

const char *lbpam_result_name(enum lbpam_result r)
{
	switch (r) {
	case LBPAM_ALLOW:
		return "allow";
	case LBPAM_DENY:
		return "deny";
	case LBPAM_ERR_CONFIG:
		return "config_error";
	case LBPAM_ERR_CONNECT:
		return "gateway_unreachable";
	case LBPAM_ERR_TIMEOUT:
		return "gateway_timeout";
	case LBPAM_ERR_TLS:
		return "gateway_tls_error";
	case LBPAM_ERR_HTTP:
		return "gateway_http_error";
	case LBPAM_ERR_PROTOCOL:
		return "gateway_bad_answer";
	case LBPAM_ERR_INTERNAL:
		return "internal_error";
	}
	return "internal_error";
}

int lbpam_result_to_pam(enum lbpam_result r)
{
	return r == LBPAM_ALLOW ? PAM_SUCCESS : PAM_PERM_DENIED;
}

/* A short machine token: [a-z0-9_] only. */
static int token_ok(const char *s, size_t max)
{
	size_t n = 0;
	if (!s || !*s)
		return 0;
	for (; *s; s++, n++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
			return 0;
	return n < max;
}

/* An object id such as req_0123456789abcdef: [A-Za-z0-9_-] only. */
static int id_ok(const char *s, size_t max)
{
	size_t n = 0;
	if (!s || !*s)
		return 0;
	for (; *s; s++, n++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-'))
			return 0;
	return n < max;
}

static void fail(struct lbpam_decision *d, enum lbpam_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct lbpam_decision *d, enum lbpam_result r, const char *fmt, ...)
{
	va_list ap;
	d->result = r;
	snprintf(d->reason, sizeof(d->reason), "%s", lbpam_result_name(r));
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
}

static enum lbpam_result map_http(enum lb_http_result h)
{
	switch (h) {
	case LB_HTTP_OK:
		return LBPAM_ALLOW; /* not used */
	case LB_HTTP_ERR_URL:
		return LBPAM_ERR_CONFIG;
	case LB_HTTP_ERR_CONNECT:
		return LBPAM_ERR_CONNECT;
	case LB_HTTP_ERR_TIMEOUT:
		return LBPAM_ERR_TIMEOUT;
	case LB_HTTP_ERR_TLS:
		return LBPAM_ERR_TLS;
	case LB_HTTP_ERR_TOOBIG:
	case LB_HTTP_ERR_PROTOCOL:
		return LBPAM_ERR_PROTOCOL;
	case LB_HTTP_ERR_INTERNAL:
		return LBPAM_ERR_INTERNAL;
	}
	return LBPAM_ERR_INTERNAL;
}

static void parse_answer(const struct lb_http_response *r, struct lbpam_decision *d)
{
	char why[256];
	const char *decision, *reason, *message, *request, *did, *gexp;
	json_t *j, *v;
	int64_t ms;

	if (r->status != 200) {
		char code[64] = "", msg[160] = "";
		j = lb_json_parse_object(r->body, r->len, why, sizeof(why));
		if (j) {
			json_t *e = json_object_get(j, "error");
			lb_sanitize_text(lb_json_str(e, "code"), code, sizeof(code));
			lb_sanitize_text(lb_json_str(e, "message"), msg, sizeof(msg));
			json_decref(j);
		}
		d->result = LBPAM_ERR_HTTP;
		/* 401 on /v1/check: the gateway does not know this host's token (DESIGN.md's
		 * host_unknown: never enrolled, or the token was replaced) */
		snprintf(d->reason, sizeof(d->reason), "%s",
			 r->status == 401 ? "host_unknown" : lbpam_result_name(d->result));
		snprintf(d->error, sizeof(d->error), "gateway answered HTTP %ld%s%s%s%s", r->status,
			 code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
		return;
	}
	/* JSON_REJECT_DUPLICATES: a second "decision" key must never win */
	j = lb_json_parse_object(r->body, r->len, why, sizeof(why));
	if (!j) {
		fail(d, LBPAM_ERR_PROTOCOL, "gateway answer is not valid JSON: %s", why);
		return;
	}
	decision = lb_json_str(j, "decision");
	reason = lb_json_str(j, "reason");
	message = lb_json_str(j, "message");
	did = lb_json_str(j, "decision_id");
	v = json_object_get(j, "request");
	request = json_is_string(v) ? json_string_value(v) : NULL;
	if (v && !json_is_null(v) && !json_is_string(v)) {
		fail(d, LBPAM_ERR_PROTOCOL, "gateway answer: 'request' has the wrong type");
		goto out;
	}
	v = json_object_get(j, "grant_expires_at");
	gexp = json_is_string(v) ? json_string_value(v) : NULL;
	if (v && !json_is_null(v) && !json_is_string(v)) {
		fail(d, LBPAM_ERR_PROTOCOL, "gateway answer: 'grant_expires_at' has the wrong type");
		goto out;
	}
	if (!decision || (strcmp(decision, "allow") != 0 && strcmp(decision, "deny") != 0)) {
		fail(d, LBPAM_ERR_PROTOCOL, "gateway answer: 'decision' missing or not allow/deny");
		goto out;
	}
	if (!reason || !token_ok(reason, sizeof(d->reason))) {
		fail(d, LBPAM_ERR_PROTOCOL, "gateway answer: 'reason' missing or malformed");
		goto out;
	}
	if (!did || !lb_uuid_valid(did)) {
		fail(d, LBPAM_ERR_PROTOCOL, "gateway answer: 'decision_id' missing or not a UUID");
		goto out;
	}
	if (request && !id_ok(request, sizeof(d->request))) {
		fail(d, LBPAM_ERR_PROTOCOL, "gateway answer: 'request' malformed");
		goto out;
	}
	if (gexp && (strlen(gexp) >= sizeof(d->grant_expires_at) || lb_time_parse(gexp, &ms) != 0)) {
		fail(d, LBPAM_ERR_PROTOCOL, "gateway answer: 'grant_expires_at' malformed");
		goto out;
	}
	if (strcmp(decision, "allow") == 0) {
		/* an allow must be fully formed, and its reason must agree */
		if (strcmp(reason, "allow") != 0 || !request || !gexp) {
			fail(d, LBPAM_ERR_PROTOCOL,
			     "gateway answer: allow without reason=allow, request and grant_expires_at");
			goto out;
		}
		d->result = LBPAM_ALLOW;
	} else {
		d->result = LBPAM_DENY;
	}
	snprintf(d->reason, sizeof(d->reason), "%s", reason);
	snprintf(d->decision_id, sizeof(d->decision_id), "%s", did);
	snprintf(d->request, sizeof(d->request), "%s", request ? request : "");
	snprintf(d->grant_expires_at, sizeof(d->grant_expires_at), "%s", gexp ? gexp : "");
	lb_sanitize_text(message, d->message, sizeof(d->message));
out:
	json_decref(j);
}

/* Text for an optional check field: escaped to printable ASCII when it has control characters
 * or invalid UTF-8, and cut to MAX bytes (at a character boundary) so that a hostile or merely
 * long rhost/tty can never turn the gateway's answer into a 400 (and the login into a deny). */
static json_t *clean_string(const char *s, size_t max)
{
	char buf[1024];
	size_t n;

	if (lb_str_clean(s))
		snprintf(buf, sizeof(buf), "%s", s);
	else
		lb_escape_text(s, buf, sizeof(buf));
	n = strlen(buf);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)buf[n] & 0xc0) == 0x80)
			n--; /* not inside a UTF-8 sequence */
		buf[n] = '\0';
	}
	return json_string(buf);
}

void lbpam_check(const struct lbpam_conf *c, const char *token, const char *user,
		 const char *service, const char *rhost, const char *tty, int64_t timeout_ms,
		 struct lbpam_decision *d)
{
	struct lb_http_opts o = {0};
	struct lb_http_response r = {0};
	enum lb_http_result hr;
	char url[2048], herr[512];
	char *body = NULL;
	json_t *req;

	memset(d, 0, sizeof(*d));
	d->result = LBPAM_ERR_INTERNAL;
	if (timeout_ms <= 0) {
		fail(d, LBPAM_ERR_TIMEOUT, "no time left for the gateway");
		return;
	}
	if (lb_url_join(url, sizeof(url), c->gateway_url, "/v1/check") != 0) {
		fail(d, LBPAM_ERR_CONFIG, "gateway_url too long");
		return;
	}
	req = json_object();
	if (!req) {
		fail(d, LBPAM_ERR_INTERNAL, "out of memory");
		return;
	}
	if (!lb_str_clean(user) ||
	    json_object_set_new(req, "user", json_string(user)) ||
	    json_object_set_new(req, "service", json_string(service))) {
		json_decref(req);
		fail(d, LBPAM_ERR_INTERNAL, "user or service name has control characters or invalid UTF-8");
		return;
	}
	/* rhost and tty are optional and come from the client side: text with control
	 * characters or invalid UTF-8 is sent escaped (printable ASCII), never raw */
	if (rhost && *rhost)
		json_object_set_new(req, "rhost", clean_string(rhost, LBPAM_MAX_RHOST));
	if (tty && *tty)
		json_object_set_new(req, "tty", clean_string(tty, LBPAM_MAX_TTY));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body) {
		fail(d, LBPAM_ERR_INTERNAL, "out of memory");
		return;
	}
	o.ca_file = c->ca_file;
	o.bearer = token;
	o.timeout_ms = timeout_ms;
	o.max_body = LBPAM_MAX_ANSWER;
	hr = lb_http_request(&o, "POST", url, body, &r, herr, sizeof(herr));
	free(body);
	if (hr != LB_HTTP_OK) {
		fail(d, map_http(hr), "%s", herr);
		return;
	}
	parse_answer(&r, d);
	lb_http_response_free(&r);
}
