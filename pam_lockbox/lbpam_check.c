/* pam_lockbox: asks lockbox-agent for a decision and registers sessions with it, over the
 * local socket (lib/agentproto.c). No network, no TLS and no libcurl inside sshd or
 * xrdp-sesman. Every field of the answer is untrusted: anything unexpected is an error, and
 * every error denies (there is no fail-open mode). */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <security/pam_modules.h>

#include "lbpam.h"
#include "lockbox/agentcall.h"
#include "lockbox/escape.h"
#include "lockbox/jsonflat.h"
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
static void clean_string(struct lb_jw *w, const char *key, const char *s, size_t max)
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
	lb_jw_str(w, key, buf);
}

/* Starts a question with its common fields; -1 when the user or service is not clean text. */
static int question(struct lb_jw *w, char *buf, size_t cap, const char *op, const char *user,
		    const char *service, const char *rhost, const char *tty)
{
	if (!lb_str_clean(user) || !lb_str_clean(service))
		return -1;
	lb_jw_init(w, buf, cap);
	lb_jw_str(w, "op", op);
	lb_jw_str(w, "user", user);
	lb_jw_str(w, "service", service);
	/* rhost and tty come from the client side: sent escaped, never raw */
	if (rhost && *rhost)
		clean_string(w, "rhost", rhost, LBPAM_MAX_RHOST);
	if (tty && *tty)
		clean_string(w, "tty", tty, LBPAM_MAX_TTY);
	return 0;
}

/* Sends the question in W and reads the answer into ANS/O. */
static enum lb_agent_result ask(const struct lbpam_conf *c, struct lb_jw *w, int64_t timeout_ms,
				char *ans, size_t cap, struct lb_jflat *o, char *err,
				size_t errlen)
{
	enum lb_agent_result ar;
	char why[256];
	size_t alen = 0;
	long n = lb_jw_finish(w);

	/* the line's newline goes where the writer's NUL is */
	if (n < 0 || (size_t)n + 1 >= w->cap) {
		snprintf(err, errlen, "%s: question too large", lb_agent_strerror(LB_AGENT_ERR_INTERNAL));
		return LB_AGENT_ERR_INTERNAL;
	}
	w->buf[n] = '\n';
	ar = lb_agent_ask(c->h.agent_socket, w->buf, (size_t)n + 1, timeout_ms, ans, cap, &alen,
			  err, errlen);
	if (ar != LB_AGENT_OK)
		return ar;
	/* strict: a second "decision" key, a nested value or trailing text is garbage */
	if (lb_jflat_parse(ans, alen, o, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", lb_agent_strerror(LB_AGENT_ERR_PROTOCOL), why);
		return LB_AGENT_ERR_PROTOCOL;
	}
	return LB_AGENT_OK;
}

void lbpam_check(const struct lbpam_conf *c, const char *user, const char *service,
		 const char *rhost, const char *tty, const char *host, int64_t timeout_ms,
		 struct lbpam_decision *d)
{
	struct lb_check_answer a;
	enum lb_agent_result ar;
	struct lb_jw w;
	struct lb_jflat o;
	char err[384], q[LB_AGENT_MAX_MSG], ans[LB_AGENT_MAX_MSG + 1];

	memset(d, 0, sizeof(*d));
	d->result = LBPAM_ERR_INTERNAL;
	if (timeout_ms <= 0) {
		fail(d, LBPAM_ERR_AGENT, "no time left to ask lockbox-agent");
		return;
	}
	if (question(&w, q, sizeof(q), "check", user, service, rhost, tty) != 0) {
		fail(d, LBPAM_ERR_INTERNAL,
		     "user or service name has control characters or invalid UTF-8");
		return;
	}
	ar = ask(c, &w, timeout_ms, ans, sizeof(ans), &o, err, sizeof(err));
	if (ar != LB_AGENT_OK) {
		fail(d, ar == LB_AGENT_ERR_INTERNAL ? LBPAM_ERR_INTERNAL : LBPAM_ERR_AGENT, "%s",
		     err);
		return;
	}
	if (lb_check_answer_parse_flat(&o, &a, err, sizeof(err)) != 0) {
		fail(d, LBPAM_ERR_AGENT, "lockbox-agent's %s", err);
		return;
	}
	/* an answer about someone or somewhere else is no answer to this login */
	if (strcmp(a.user, user) != 0 || (host && a.host[0] && strcmp(a.host, host) != 0) ||
	    (host && !a.host[0] && a.allow)) {
		fail(d, LBPAM_ERR_AGENT, "lockbox-agent answered for another user or host");
		return;
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
}

int lbpam_agent_session(const struct lbpam_conf *c, int open, const char *session,
			const char *user, const char *service, const char *rhost, const char *tty,
			const char *session_tty, const char *access, const char *decision_id,
			const char *request, const char *grant_expires_at, int64_t timeout_ms,
			char *err, size_t errlen)
{
	const struct lb_jflat_field *ok;
	struct lb_jw w;
	struct lb_jflat o;
	char q[LB_AGENT_MAX_MSG], ans[LB_AGENT_MAX_MSG + 1], why[256];

	if (question(&w, q, sizeof(q), open ? "session_open" : "session_close", user, service,
		     rhost, tty) != 0) {
		snprintf(err, errlen, "user or service name has control characters or invalid UTF-8");
		return -1;
	}
	lb_jw_str(&w, "session", session);
	if (open) {
		if (session_tty && *session_tty)
			clean_string(&w, "session_tty", session_tty, LBPAM_MAX_TTY);
		if (access && *access)
			lb_jw_str(&w, "access", access);
		lb_jw_str(&w, "decision_id", decision_id && *decision_id ? decision_id : NULL);
		lb_jw_str(&w, "request", request && *request ? request : NULL);
		lb_jw_str(&w, "grant_expires_at",
			  grant_expires_at && *grant_expires_at ? grant_expires_at : NULL);
	}
	if (ask(c, &w, timeout_ms, ans, sizeof(ans), &o, err, errlen) != LB_AGENT_OK)
		return -1;
	ok = lb_jflat_get(&o, "ok");
	if (ok && ok->type == LB_JF_BOOL && ok->num)
		return 0;
	lb_sanitize_text(lb_jflat_str(&o, "error"), why, sizeof(why));
	snprintf(err, errlen, "lockbox-agent refused: %s", why[0] ? why : "no reason given");
	return -1;
}
