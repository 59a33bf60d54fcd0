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

enum load_result { LOAD_OK, LOAD_NOT_THIS_SERVICE, LOAD_FAILED };

/* The module arguments, then -- only for a service this line gates (services=) -- the config
 * file: a pam-auth-update profile puts the module into common-account and common-session,
 * which cron, su, sudo and login include too, and a broken or missing lockbox config must
 * not lock them out. */
static enum load_result load_for_service(struct lbpam_ctx *x, struct lbpam_conf *conf, int argc,
					 const char **argv, char *err, size_t errlen)
{
	enum load_result r = LOAD_OK;

	if (lbpam_args_load(conf, argc, argv, err, errlen) != 0)
		r = LOAD_FAILED;
	else if (!lbpam_service_selected(conf, x->service))
		r = LOAD_NOT_THIS_SERVICE;
	else if (lbpam_conf_load_file(conf, err, errlen) != 0)
		r = LOAD_FAILED;
	x->debug = conf->debug;
	return r;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct lbpam_conf conf;
	struct lbpam_ctx x;
	struct lbpam_decision d;
	char err[256];
	int rc, gated;

	lbpam_ctx_init(&x, pamh);
	switch (load_for_service(&x, &conf, argc, argv, err, sizeof(err))) {
	case LOAD_OK:
		break;
	case LOAD_NOT_THIS_SERVICE:
		rc = PAM_IGNORE;
		goto out;
	case LOAD_FAILED:
		/* without a trustworthy config we cannot tell who is gated: deny everyone */
		x.debug = conf.debug;
		lbpam_fail(&d, LBPAM_ERR_CONFIG, err);
		rc = lbpam_conclude(&x, &d, flags);
		goto out;
	}
	lbpam_ctx_set_conf(&x, &conf);
	if (!x.user || !x.service) {
		lbpam_log_error(&x, "account", "no user or service name in the PAM handle");
		rc = PAM_USER_UNKNOWN;
		goto out;
	}
	gated = lbpam_is_gated(&x, err, sizeof(err));
	if (gated == 0) {
		rc = PAM_IGNORE;
		goto out;
	}
	if (gated < 0)
		lbpam_fail(&d, gated == -2 ? LBPAM_ERR_CONFIG : LBPAM_ERR_INTERNAL, err);
	else
		lbpam_ask(&x, &d);
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
	char err[256];
	int rc, gated;

	lbpam_ctx_init(&x, pamh);
	switch (load_for_service(&x, &conf, argc, argv, err, sizeof(err))) {
	case LOAD_OK:
		break;
	case LOAD_NOT_THIS_SERVICE:
		rc = PAM_IGNORE;
		goto out;
	case LOAD_FAILED:
		lbpam_log_error(&x, hook, err);
		rc = open ? PAM_SESSION_ERR : PAM_SUCCESS;
		goto out;
	}
	lbpam_ctx_set_conf(&x, &conf);
	if (!x.user || !x.service) {
		lbpam_log_error(&x, hook, "no user or service name in the PAM handle");
		rc = open ? PAM_SESSION_ERR : PAM_SUCCESS;
		goto out;
	}
	gated = lbpam_is_gated(&x, err, sizeof(err));
	if (gated == 0) {
		rc = PAM_IGNORE;
		goto out;
	}
	if (gated < 0)
		lbpam_log_error(&x, hook, err); /* record the session anyway */
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
