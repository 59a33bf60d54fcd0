/* pam_lockbox: the PAM hooks. account asks lockbox-agent whether this login is covered by an
 * approved lockbox request; session registers the session with the agent (which ends it
 * when its grant ends) and records session.start / session.end. The steps live in
 * lbpam_decide.c, config in lbpam_conf.c, the agent client in lbpam_check.c, the event
 * sinks (syslog, local audit log) in lbpam_log.c. */

#include <stdio.h>
#include <string.h>

#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#include <security/pam_modules.h>

#include "lbpam.h"

/* Where a hook stands after the steps both hooks take first. */
enum hook_start {
	START_GATED,      /* config loaded, names known, and this login is gated */
	START_IGNORE,     /* another service's line, or a user the config does not gate */
	START_NO_CONFIG,  /* the module arguments or the config file did not load (ERR) */
	START_NO_NAMES,   /* no user or service name in the PAM handle (logged) */
	START_GATE_ERROR, /* whether the user is gated could not be told (ERR, *WHY) */
};

/* The module arguments, then -- only for a service this line gates (services=) -- the config
 * file: a pam-auth-update profile puts the module into common-account and common-session,
 * which cron, su, sudo and login include too, and a broken or missing lockbox config must
 * not lock them out. Then the names in the handle and whether this user is gated. */
static enum hook_start start_hook(struct lbpam_ctx *x, struct lbpam_conf *conf, int argc,
				  const char **argv, const char *hook, char *err, size_t errlen,
				  enum lbpam_result *why)
{
	enum hook_start r = START_GATED;
	int gated;

	if (lbpam_args_load(conf, argc, argv, err, errlen) != 0)
		r = START_NO_CONFIG;
	else if (!lbpam_service_selected(conf, x->service))
		r = START_IGNORE;
	else if (lbpam_conf_load_file(conf, err, errlen) != 0)
		r = START_NO_CONFIG;
	x->debug = conf->debug;
	if (r != START_GATED)
		return r;
	lbpam_ctx_set_conf(x, conf);
	if (!x->user || !x->service) {
		lbpam_log_error(x, hook, "no user or service name in the PAM handle");
		return START_NO_NAMES;
	}
	gated = lbpam_is_gated(x, err, errlen);
	if (gated == 0)
		return START_IGNORE;
	if (gated < 0) {
		*why = gated == -2 ? LBPAM_ERR_CONFIG : LBPAM_ERR_INTERNAL;
		return START_GATE_ERROR;
	}
	return START_GATED;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct lbpam_conf conf;
	struct lbpam_ctx x;
	struct lbpam_decision d;
	enum lbpam_result why = LBPAM_ERR_INTERNAL;
	char err[256];
	int rc;

	lbpam_ctx_init(&x, pamh);
	switch (start_hook(&x, &conf, argc, argv, "account", err, sizeof(err), &why)) {
	case START_IGNORE:
		rc = PAM_IGNORE;
		goto out;
	case START_NO_NAMES:
		rc = PAM_USER_UNKNOWN;
		goto out;
	case START_NO_CONFIG:
		/* without a trustworthy config we cannot tell who is gated: deny everyone */
		lbpam_fail(&d, LBPAM_ERR_CONFIG, err);
		break;
	case START_GATE_ERROR:
		lbpam_fail(&d, why, err);
		break;
	case START_GATED:
		lbpam_ask(&x, &d);
		break;
	}
	rc = lbpam_conclude(&x, &d, flags);
out:
	lbpam_log_debug(&x, "account_result", lbpam_rc_name(rc));
	lbpam_conf_free(&conf);
	return rc;
}

static int session(pam_handle_t *pamh, int flags, int argc, const char **argv, int open)
{
	const char *hook = open ? "open_session_result" : "close_session_result";
	const struct lbpam_allowed *g;
	struct lbpam_conf conf;
	struct lbpam_ctx x;
	enum lbpam_result why = LBPAM_ERR_INTERNAL;
	char err[256];
	int rc;

	lbpam_ctx_init(&x, pamh);
	switch (start_hook(&x, &conf, argc, argv, hook, err, sizeof(err), &why)) {
	case START_IGNORE:
		rc = PAM_IGNORE;
		goto out;
	case START_NO_CONFIG:
		lbpam_log_error(&x, hook, err);
		rc = open ? PAM_SESSION_ERR : PAM_SUCCESS;
		goto out;
	case START_NO_NAMES:
		rc = open ? PAM_SESSION_ERR : PAM_SUCCESS;
		goto out;
	case START_GATE_ERROR:
		lbpam_log_error(&x, hook, err); /* record the session anyway */
		break;
	case START_GATED:
		break;
	}
	g = lbpam_allowed_get(pamh);
	if (open && !g) {
		/* account ran in another process (sshd's keyboard-interactive child, a forking
		 * xrdp-sesman) or not at all: decide here, so no gated session opens without a
		 * decision and the session events carry its id */
		struct lbpam_decision d;
		lbpam_ask(&x, &d);
		if (lbpam_conclude(&x, &d, flags) != PAM_SUCCESS) {
			rc = PAM_SESSION_ERR;
			goto out;
		}
		g = lbpam_allowed_get(pamh);
	}
	rc = lbpam_session_event(&x, g, open);
out:
	lbpam_log_debug(&x, hook, lbpam_rc_name(rc));
	lbpam_conf_free(&conf);
	return rc;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return session(pamh, flags, argc, argv, 1);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return session(pamh, flags, argc, argv, 0);
}
