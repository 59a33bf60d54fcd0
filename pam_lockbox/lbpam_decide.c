/* pam_lockbox: the steps the hooks are made of: who is gated, asking the agent, concluding
 * (event, message to the user, the grant kept for the session hooks), session events and the
 * session's registration with the agent. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "lbpam.h"
#include "lockbox/escape.h"
#include "lockbox/util.h"
#include "lockbox/vocab.h"

#define DATA_DECISION "pam_lockbox.decision"
#define DATA_SESSION "pam_lockbox.session"

const char *lbpam_rc_name(int rc)
{
	switch (rc) {
	case PAM_SUCCESS:
		return "PAM_SUCCESS";
	case PAM_IGNORE:
		return "PAM_IGNORE";
	case PAM_PERM_DENIED:
		return "PAM_PERM_DENIED";
	case PAM_SESSION_ERR:
		return "PAM_SESSION_ERR";
	case PAM_USER_UNKNOWN:
		return "PAM_USER_UNKNOWN";
	default:
		return "other";
	}
}

static void free_data(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	free(data);
}

static const char *item(pam_handle_t *pamh, int type)
{
	const void *v = NULL;
	if (pam_get_item(pamh, type, &v) != PAM_SUCCESS)
		return NULL;
	return v;
}

void lbpam_ctx_init(struct lbpam_ctx *x, pam_handle_t *pamh)
{
	memset(x, 0, sizeof(*x));
	x->pamh = pamh;
	x->start_ms = lb_mono_ms();
	if (pam_get_user(pamh, &x->user, NULL) != PAM_SUCCESS)
		x->user = NULL;
	x->service = item(pamh, PAM_SERVICE);
	x->rhost = item(pamh, PAM_RHOST);
	x->tty = item(pamh, PAM_TTY);
}

void lbpam_ctx_set_conf(struct lbpam_ctx *x, const struct lbpam_conf *c)
{
	x->conf = c;
	x->debug = c->debug;
	if (c->h.host_id)
		snprintf(x->host, sizeof(x->host), "%s", c->h.host_id);
	else if (gethostname(x->host, sizeof(x->host) - 1) != 0)
		snprintf(x->host, sizeof(x->host), "unknown");
}

/* Starts event TYPE with the context every event carries. */
static int event_start(struct lbpam_event *e, const struct lbpam_ctx *x, const char *type,
		       const char *id, const char *request)
{
	if (lbpam_event_init(e, type, id) != 0)
		return -1;
	e->actor = x->user && lb_str_clean(x->user) ? x->user : NULL;
	e->request = request && *request ? request : NULL;
	lbpam_event_text(e, "user", x->user);
	lbpam_event_text(e, "service", x->service);
	lbpam_event_text(e, "rhost", x->rhost);
	lbpam_event_text(e, "tty", x->tty);
	lbpam_event_int(e, "pid", (long long)getpid());
	lbpam_event_text(e, "host", x->host[0] ? x->host : NULL);
	return 0;
}

int lbpam_is_gated(const struct lbpam_ctx *x, char *err, size_t errlen)
{
	int in;
	if (lb_strlist_contains(&x->conf->h.exempt_users, x->user)) {
		lbpam_log_debug(x, "not_gated", "user is in exempt_users");
		return 0;
	}
	in = lbpam_user_in_group(x->user, x->conf->h.gated_group, err, errlen);
	if (in == 0)
		lbpam_log_debug(x, "not_gated", "user is not in gated_group");
	return in;
}

/* What the user reads after a deny: what happened (the gateway's words, with the request's
 * details, or the reason table's when nobody answered), the request, and what to do next,
 * said once (include/lockbox/vocab.h). */
static void deny_message(const struct lbpam_decision *d, char *out, size_t outlen)
{
	const char *r = d->reason;
	const char *m = d->message;

	/* the gateway's messages may already say who is speaking */
	if (strncmp(m, "lockbox: ", 9) == 0)
		m += 9;
	/* a deny the module or the agent made has no gateway message: the table says it */
	if (!m[0] || d->result != LBPAM_DENY)
		m = lb_reason_what(r);
	/* a long gateway message may cut the advice: the reason still shows */
	if (snprintf(out, outlen, "lockbox: access denied: %s%s%s%s (reason %s). %s See "
		     "pam_lockbox(8).", m, d->request[0] ? " [request " : "", d->request,
		     d->request[0] ? "]" : "", r, lb_reason_todo(r)) < 0)
		snprintf(out, outlen, "lockbox: access denied");
}

void lbpam_fail(struct lbpam_decision *d, enum lbpam_result r, const char *why)
{
	memset(d, 0, sizeof(*d));
	d->result = r;
	snprintf(d->reason, sizeof(d->reason), "%s", lbpam_result_name(r));
	snprintf(d->error, sizeof(d->error), "%s", why);
}

static int64_t time_left(const struct lbpam_ctx *x)
{
	return x->conf->h.timeout * 1000 - (lb_mono_ms() - x->start_ms);
}

void lbpam_ask(const struct lbpam_ctx *x, struct lbpam_decision *d)
{
	lbpam_check(x->conf, x->user, x->service, x->rhost, x->tty, x->conf->h.host_id,
		    time_left(x), d);
}

int lbpam_conclude(struct lbpam_ctx *x, struct lbpam_decision *d, int flags)
{
	struct lbpam_allowed *g;
	struct lbpam_event ev;
	char msg[PAM_MAX_MSG_SIZE];
	int rc, logged = -1;

	/* the gateway's decision id is the event id, so delivering our copy is a no-op
	 * duplicate; without an answer the event gets a local id */
	if (!d->decision_id[0] && lb_uuid4(d->decision_id, sizeof(d->decision_id)) != 0)
		d->decision_id[0] = '\0';
	/* a decision the gateway made is already in its audit store, under decision_id */
	x->at_gateway = (d->result == LBPAM_ALLOW || d->result == LBPAM_DENY) && d->at_gateway &&
			d->decision_id[0];
	x->recorded = d->result == LBPAM_ALLOW && d->recorded;
	if (event_start(&ev, x, d->result == LBPAM_ALLOW ? "access.check.allow"
							 : "access.check.deny",
			d->decision_id[0] ? d->decision_id : NULL, d->request) == 0) {
		lbpam_event_text(&ev, "decision", d->result == LBPAM_ALLOW ? "allow" : "deny");
		lbpam_event_text(&ev, "reason", d->reason);
		if (d->access[0])
			lbpam_event_text(&ev, "access", d->access);
		lbpam_event_text(&ev, "decision_id", ev.id);
		if (d->grant_expires_at[0])
			lbpam_event_text(&ev, "grant_expires_at", d->grant_expires_at);
		if (d->error[0])
			lbpam_event_text(&ev, "error", d->error);
		logged = lbpam_emit(x, &ev);
	} else {
		lbpam_log_error(x, "account", "no randomness for an event id");
	}
	x->at_gateway = 0;
	x->recorded = 0;
	if (logged != 0 && d->result == LBPAM_ALLOW) {
		/* the session hooks could not record this login either: refuse it here, in
		 * account, not at session open (xrdp has told its client "login successful"
		 * by then: DESIGN.md "Rules for code that runs inside sshd and xrdp-sesman") */
		lbpam_fail(d, LBPAM_ERR_CONFIG, "the local audit log cannot be written");
		snprintf(d->reason, sizeof(d->reason), "audit_log_unwritable");
		lbpam_log_error(x, "account", "allow turned into deny: the local audit log cannot "
					      "be written (see the audit_log_append error)");
	}

	rc = lbpam_result_to_pam(d->result);
	if (rc == PAM_SUCCESS) {
		g = calloc(1, sizeof(*g));
		if (!g || pam_set_data(x->pamh, DATA_DECISION, g, free_data) != PAM_SUCCESS) {
			free(g);
			lbpam_log_error(x, "account", "cannot keep the decision for the session");
			return PAM_PERM_DENIED;
		}
		snprintf(g->decision_id, sizeof(g->decision_id), "%s", d->decision_id);
		snprintf(g->request, sizeof(g->request), "%s", d->request);
		snprintf(g->grant_expires_at, sizeof(g->grant_expires_at), "%s",
			 d->grant_expires_at);
		snprintf(g->access, sizeof(g->access), "%s", d->access);
		if (x->tty) {
			snprintf(g->tty, sizeof(g->tty), "%s", x->tty);
			g->has_tty = 1;
		}
		snprintf(msg, sizeof(msg), "lockbox: access granted by request %s until %s.",
			 d->request, d->grant_expires_at);
		if (!(flags & PAM_SILENT))
			pam_info(x->pamh, "%s", msg);
	} else {
		deny_message(d, msg, sizeof(msg));
		if (!(flags & PAM_SILENT))
			pam_error(x->pamh, "%s", msg);
	}
	return rc;
}

const struct lbpam_allowed *lbpam_allowed_get(pam_handle_t *pamh)
{
	const void *data = NULL;
	if (pam_get_data(pamh, DATA_DECISION, &data) != PAM_SUCCESS)
		return NULL;
	return data;
}

int lbpam_session_event(const struct lbpam_ctx *x, const struct lbpam_allowed *g, int open)
{
	const void *data = NULL;
	/* "tty" means what it means in access.check.*: PAM_TTY when the decision was asked
	 * (account); "session_tty" is PAM_TTY now (xrdp-sesman: the X display) */
	const char *tty = g && g->has_tty ? g->tty : x->tty;
	const char *access = g && g->access[0] ? g->access : NULL;
	struct lbpam_ctx ex = *x; /* the events' context: "tty" as decided (the syslog sink) */
	struct lbpam_event ev;
	char err[512];
	char *sid;

	ex.decided_tty = tty;
	if (event_start(&ev, x, open ? "session.start" : "session.end", NULL,
			g ? g->request : NULL) != 0) {
		lbpam_log_error(x, open ? "session_open" : "session_close",
				"no randomness for an event id");
		return open ? PAM_SESSION_ERR : PAM_SUCCESS;
	}
	lbpam_event_text(&ev, "tty", tty);
	lbpam_event_text(&ev, "session_tty", x->tty);
	if (access)
		lbpam_event_text(&ev, "access", access);
	lbpam_event_text(&ev, "decision_id", g ? g->decision_id : NULL);
	if (g && g->grant_expires_at[0])
		lbpam_event_text(&ev, "grant_expires_at", g->grant_expires_at);
	if (!open) {
		if (pam_get_data(x->pamh, DATA_SESSION, &data) == PAM_SUCCESS)
			lbpam_event_text(&ev, "session", data);
		/* a session that already ran cannot be refused */
		lbpam_emit(&ex, &ev);
		if (data && lbpam_agent_session(x->conf, 0, data, x->user, x->service, x->rhost,
						tty, NULL, NULL, NULL, NULL, NULL, time_left(x),
						err, sizeof(err)) != 0)
			lbpam_log_error(x, "session_close", err);
		return PAM_SUCCESS;
	}
	/* the session's id is its session.start event's id */
	sid = strdup(ev.id);
	if (!sid || pam_set_data(x->pamh, DATA_SESSION, sid, free_data) != PAM_SUCCESS) {
		free(sid);
		lbpam_log_error(x, "session_open", "out of memory");
		return PAM_SESSION_ERR;
	}
	/* the agent must know the session before it runs: it ends it when the grant ends */
	if (lbpam_agent_session(x->conf, 1, ev.id, x->user, x->service, x->rhost, tty, x->tty,
				access, g ? g->decision_id : NULL, g ? g->request : NULL,
				g ? g->grant_expires_at : NULL, time_left(x), err,
				sizeof(err)) != 0) {
		lbpam_log_error(x, "session_register", err);
		return PAM_SESSION_ERR;
	}
	lbpam_event_text(&ev, "session", ev.id);
	/* the session is only allowed once its start is durable on this host */
	if (lbpam_emit(&ex, &ev) != 0) {
		(void)lbpam_agent_session(x->conf, 0, ev.id, x->user, x->service, x->rhost, tty,
					  NULL, NULL, NULL, NULL, NULL, time_left(x), err,
					  sizeof(err));
		return PAM_SESSION_ERR;
	}
	return PAM_SUCCESS;
}
