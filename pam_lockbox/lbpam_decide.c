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
#include "lockbox/auditlog.h"
#include "lockbox/escape.h"
#include "lockbox/util.h"

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

/* A text field for an event: kept verbatim when clean, escaped (printable ASCII) when it has
 * control characters or invalid UTF-8, so the gateway never refuses the event for it. */
static void set_text(json_t *o, const char *key, const char *s)
{
	char esc[1024];
	if (!s) {
		json_object_set_new(o, key, json_null());
		return;
	}
	if (!lb_str_clean(s)) {
		lb_escape_text(s, esc, sizeof(esc));
		s = esc;
	}
	json_object_set_new(o, key, json_string(s));
}

static json_t *base_details(const struct lbpam_ctx *x)
{
	json_t *d = json_object();
	if (!d)
		return NULL;
	set_text(d, "user", x->user);
	set_text(d, "service", x->service);
	set_text(d, "rhost", x->rhost);
	set_text(d, "tty", x->tty);
	json_object_set_new(d, "pid", json_integer((json_int_t)getpid()));
	set_text(d, "host", x->host[0] ? x->host : NULL);
	return d;
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

/* What the user reads after a deny: why, which request, what to do next. */
static void deny_message(const struct lbpam_decision *d, char *out, size_t outlen)
{
	const char *hint;
	const char *r = d->reason;
	const char *m = d->message;

	/* the gateway's messages may already say who is speaking */
	if (strncmp(m, "lockbox: ", 9) == 0)
		m += 9;
	if (d->result == LBPAM_ERR_CONFIG)
		hint = "pam_lockbox is not configured correctly on this host, so access is denied "
		       "(fail closed). Tell the host's administrators.";
	else if (d->result != LBPAM_DENY)
		hint = "lockbox-agent on this host could not be asked, so access is denied (fail "
		       "closed). Try again later or tell the host's administrators.";
	else if (!strncmp(r, "gateway_", 8))
		hint = "The lockbox gateway could not be asked, so access is denied (fail closed). "
		       "Try again later or tell the host's administrators.";
	else if (!strcmp(r, "no_request"))
		hint = "Open a lockbox access request for this host and wait for the customer's approval.";
	else if (!strcmp(r, "pending"))
		hint = "Wait until the request is approved, then log in again.";
	else if (!strcmp(r, "no_elevation") || !strcmp(r, "elevation_after_approval"))
		hint = "Activate an elevation first, then open a new request: the elevation must be "
		       "active before the approval.";
	else if (!strcmp(r, "denied") || !strcmp(r, "expired") || !strcmp(r, "revoked") ||
		 !strcmp(r, "canceled") || !strcmp(r, "grant_ended"))
		hint = "Open a new lockbox access request.";
	else
		hint = "Ask your lockbox administrator.";
	/* a long gateway message may cut the hint: the reason still shows */
	if (snprintf(out, outlen, "lockbox: access denied: %s%s%s%s (reason %s). %s",
		 m[0] ? m : "no approved request covers this login",
		 d->request[0] ? " [request " : "", d->request, d->request[0] ? "]" : "", r, hint) < 0)
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
	struct lbpam_grant *g;
	char msg[PAM_MAX_MSG_SIZE];
	json_t *details;
	int rc, logged;

	/* the gateway's decision id is the event id, so delivering our copy is a no-op
	 * duplicate; without an answer the event gets a local id */
	if (!d->decision_id[0] && lb_uuid4(d->decision_id, sizeof(d->decision_id)) != 0)
		d->decision_id[0] = '\0';
	details = base_details(x);
	if (details) {
		json_object_set_new(details, "decision",
				    json_string(d->result == LBPAM_ALLOW ? "allow" : "deny"));
		json_object_set_new(details, "reason", json_string(d->reason));
		if (d->access[0])
			set_text(details, "access", d->access);
		set_text(details, "decision_id", d->decision_id);
		if (d->grant_expires_at[0])
			json_object_set_new(details, "grant_expires_at",
					    json_string(d->grant_expires_at));
		if (d->error[0])
			set_text(details, "error", d->error);
	}
	/* a decision the gateway made is already in its audit store, under decision_id */
	x->at_gateway = (d->result == LBPAM_ALLOW || d->result == LBPAM_DENY) && d->at_gateway &&
			d->decision_id[0];
	x->recorded = d->result == LBPAM_ALLOW && d->recorded;
	logged = lbpam_emit(x, lb_audit_event_new(d->result == LBPAM_ALLOW ? "access.check.allow"
									    : "access.check.deny",
						  d->decision_id[0] ? d->decision_id : NULL, 0,
						  x->user && lb_str_clean(x->user) ? x->user : NULL,
						  d->request[0] ? d->request : NULL, details));
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

const struct lbpam_grant *lbpam_grant_get(pam_handle_t *pamh)
{
	const void *data = NULL;
	if (pam_get_data(pamh, DATA_DECISION, &data) != PAM_SUCCESS)
		return NULL;
	return data;
}

int lbpam_session_event(const struct lbpam_ctx *x, const struct lbpam_grant *g, int open)
{
	const void *data = NULL;
	json_t *details = base_details(x);
	/* "tty" means what it means in access.check.*: PAM_TTY when the decision was asked
	 * (account); "session_tty" is PAM_TTY now (xrdp-sesman: the X display) */
	const char *tty = g && g->has_tty ? g->tty : x->tty;
	const char *access = g && g->access[0] ? g->access : NULL;
	struct lbpam_ctx ex = *x; /* the events' context: "tty" as decided (the syslog sink) */
	char id[37], err[512];
	char *sid;

	ex.decided_tty = tty;
	if (details) {
		set_text(details, "tty", tty);
		set_text(details, "session_tty", x->tty);
		if (access)
			set_text(details, "access", access);
		set_text(details, "decision_id", g ? g->decision_id : NULL);
		if (g && g->grant_expires_at[0])
			json_object_set_new(details, "grant_expires_at",
					    json_string(g->grant_expires_at));
	}
	if (!open) {
		if (pam_get_data(x->pamh, DATA_SESSION, &data) == PAM_SUCCESS && details)
			set_text(details, "session", data);
		/* a session that already ran cannot be refused */
		lbpam_emit(&ex, lb_audit_event_new("session.end", NULL, 0,
						 lb_str_clean(x->user) ? x->user : NULL,
						 g && g->request[0] ? g->request : NULL, details));
		if (data && lbpam_agent_session(x->conf, 0, data, x->user, x->service, x->rhost,
						tty, NULL, NULL, NULL, NULL, NULL, time_left(x),
						err, sizeof(err)) != 0)
			lbpam_log_error(x, "session_close", err);
		return PAM_SUCCESS;
	}
	if (lb_uuid4(id, sizeof(id)) != 0) {
		json_decref(details);
		lbpam_log_error(x, "session_open", "no randomness for an event id");
		return PAM_SESSION_ERR;
	}
	sid = strdup(id);
	if (!sid || pam_set_data(x->pamh, DATA_SESSION, sid, free_data) != PAM_SUCCESS) {
		free(sid);
		json_decref(details);
		lbpam_log_error(x, "session_open", "out of memory");
		return PAM_SESSION_ERR;
	}
	/* the agent must know the session before it runs: it ends it when the grant ends */
	if (lbpam_agent_session(x->conf, 1, id, x->user, x->service, x->rhost, tty, x->tty,
				access, g ? g->decision_id : NULL, g ? g->request : NULL,
				g ? g->grant_expires_at : NULL, time_left(x), err,
				sizeof(err)) != 0) {
		json_decref(details);
		lbpam_log_error(x, "session_register", err);
		return PAM_SESSION_ERR;
	}
	if (details)
		json_object_set_new(details, "session", json_string(id));
	/* the session is only allowed once its start is durable on this host */
	if (lbpam_emit(&ex, lb_audit_event_new("session.start", id, 0,
					     lb_str_clean(x->user) ? x->user : NULL,
					     g && g->request[0] ? g->request : NULL, details)) != 0) {
		(void)lbpam_agent_session(x->conf, 0, id, x->user, x->service, x->rhost, tty,
					  NULL, NULL, NULL, NULL, NULL, time_left(x), err,
					  sizeof(err));
		return PAM_SESSION_ERR;
	}
	return PAM_SUCCESS;
}
