/* pam_lockbox: asks lockbox-agent for a decision and registers sessions with it, over the
 * local socket (lib/agentproto.c). No network, no TLS and no libcurl inside sshd or
 * xrdp-sesman. Every field of the answer is untrusted: anything unexpected is an error, and
 * every error denies (there is no fail-open mode). */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <security/pam_modules.h>

#include "lbpam.h"
#include "lockbox/agentproto.h"
#include "lockbox/escape.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

/* The gateway's limits for the optional check fields (docs/API.md: rhost 255, tty 64 bytes) */
#define LBPAM_MAX_RHOST 255
#define LBPAM_MAX_TTY 64

const char *lbpam_result_name(enum lbpam_result r)
{
	switch (r) {
	case LBPAM_ALLOW:
		return "allow";
	case LBPAM_DENY:
		return "deny";
	case LBPAM_ERR_CONFIG:
		return "config_error";
	case LBPAM_ERR_AGENT:
		return "agent_unavailable";
	case LBPAM_ERR_INTERNAL:
		return "internal_error";
	}
	return "internal_error";
}

int lbpam_result_to_pam(enum lbpam_result r)
{
	return r == LBPAM_ALLOW ? PAM_SUCCESS : PAM_PERM_DENIED;
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

/* Text for an optional field: escaped to printable ASCII when it has control characters or
 * invalid UTF-8, and cut to MAX bytes (at a character boundary) so that a hostile or merely
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

/* The question's common fields; NULL when the user or service is not clean text. */
static json_t *question(const char *op, const char *user, const char *service, const char *rhost,
			const char *tty)
{
	json_t *q;
	if (!lb_str_clean(user) || !lb_str_clean(service))
		return NULL;
	q = json_pack("{s:s,s:s,s:s}", "op", op, "user", user, "service", service);
	if (!q)
		return NULL;
	/* rhost and tty come from the client side: sent escaped, never raw */
	if (rhost && *rhost)
		json_object_set_new(q, "rhost", clean_string(rhost, LBPAM_MAX_RHOST));
	if (tty && *tty)
		json_object_set_new(q, "tty", clean_string(tty, LBPAM_MAX_TTY));
	return q;
}

void lbpam_check(const struct lbpam_conf *c, const char *user, const char *service,
		 const char *rhost, const char *tty, const char *host, int64_t timeout_ms,
		 struct lbpam_decision *d)
{
	struct lb_check_answer a;
	enum lb_agent_result ar;
	char err[384];
	json_t *q, *ans = NULL;

	memset(d, 0, sizeof(*d));
	d->result = LBPAM_ERR_INTERNAL;
	if (timeout_ms <= 0) {
		fail(d, LBPAM_ERR_AGENT, "no time left to ask lockbox-agent");
		return;
	}
	q = question("check", user, service, rhost, tty);
	if (!q) {
		fail(d, LBPAM_ERR_INTERNAL,
		     "user or service name has control characters or invalid UTF-8");
		return;
	}
	ar = lb_agent_call(c->h.agent_socket, q, timeout_ms, &ans, err, sizeof(err));
	json_decref(q);
	if (ar != LB_AGENT_OK) {
		fail(d, ar == LB_AGENT_ERR_INTERNAL ? LBPAM_ERR_INTERNAL : LBPAM_ERR_AGENT, "%s",
		     err);
		return;
	}
	if (lb_check_answer_parse(ans, &a, err, sizeof(err)) != 0) {
		fail(d, LBPAM_ERR_AGENT, "lockbox-agent's %s", err);
		goto out;
	}
	/* an answer about someone or somewhere else is no answer to this login */
	if (strcmp(a.user, user) != 0 || (host && a.host[0] && strcmp(a.host, host) != 0) ||
	    (host && !a.host[0] && a.allow)) {
		fail(d, LBPAM_ERR_AGENT, "lockbox-agent answered for another user or host");
		goto out;
	}
	d->result = a.allow ? LBPAM_ALLOW : LBPAM_DENY;
	snprintf(d->reason, sizeof(d->reason), "%s", a.reason);
	snprintf(d->message, sizeof(d->message), "%s", a.message);
	snprintf(d->request, sizeof(d->request), "%s", a.request);
	snprintf(d->decision_id, sizeof(d->decision_id), "%s", a.decision_id);
	snprintf(d->grant_expires_at, sizeof(d->grant_expires_at), "%s", a.grant_expires_at);
	snprintf(d->error, sizeof(d->error), "%s", a.error);
	snprintf(d->access, sizeof(d->access), "%s", a.access);
	d->at_gateway = a.at_gateway;
	d->recorded = a.recorded && a.allow;
out:
	json_decref(ans);
}

int lbpam_agent_session(const struct lbpam_conf *c, int open, const char *session,
			const char *user, const char *service, const char *rhost, const char *tty,
			const char *session_tty, const char *access, const char *decision_id,
			const char *request, const char *grant_expires_at, int64_t timeout_ms,
			char *err, size_t errlen)
{
	enum lb_agent_result ar;
	json_t *q, *ans = NULL;
	int rc = -1;

	q = question(open ? "session_open" : "session_close", user, service, rhost, tty);
	if (!q || json_object_set_new(q, "session", json_string(session)) != 0) {
		json_decref(q);
		snprintf(err, errlen, "out of memory or unclean user name");
		return -1;
	}
	if (open) {
		if (session_tty && *session_tty)
			json_object_set_new(q, "session_tty", clean_string(session_tty, LBPAM_MAX_TTY));
		if (access && *access)
			json_object_set_new(q, "access", json_string(access));
		lb_json_set_str_or_null(q, "decision_id", decision_id && *decision_id ? decision_id : NULL);
		lb_json_set_str_or_null(q, "request", request && *request ? request : NULL);
		lb_json_set_str_or_null(q, "grant_expires_at",
					grant_expires_at && *grant_expires_at ? grant_expires_at : NULL);
	}
	ar = lb_agent_call(c->h.agent_socket, q, timeout_ms, &ans, err, errlen);
	json_decref(q);
	if (ar != LB_AGENT_OK)
		return -1;
	if (json_is_true(json_object_get(ans, "ok"))) {
		rc = 0;
	} else {
		char why[256];
		lb_sanitize_text(lb_json_str(ans, "error"), why, sizeof(why));
		snprintf(err, errlen, "lockbox-agent refused: %s", why[0] ? why : "no reason given");
	}
	json_decref(ans);
	return rc;
}
