/* pam_lockbox: module-private declarations (config, gateway check, event sinks, users). */
#ifndef LBPAM_H
#define LBPAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <security/pam_modules.h>

#include "lockbox/config.h"

#define LBPAM_DEFAULT_CONFIG "/etc/lockbox/pam_lockbox.conf"
#define LBPAM_DEFAULT_GROUP "lockbox-engineers"
#define LBPAM_DEFAULT_TOKEN_FILE "/etc/lockbox/host.token"
#define LBPAM_DEFAULT_TIMEOUT 5
#define LBPAM_DEFAULT_AUDIT_LOG "/var/log/lockbox/audit.log"
#define LBPAM_MAX_TIMEOUT 120

struct lbpam_conf {
	char *gateway_url;
	char *ca_file;
	char *host_token_file;
	char *host_id;
	char *gated_group;
	struct lb_strlist exempt_users;
	int64_t timeout; /* seconds */
	char *audit_log;
	/* module arguments */
	char *config_path;
	int debug;
};

/* Parses module arguments (config=PATH, debug) and then the config file.
 * Returns 0, or -1 with ERR set ("path:line: key: why" for file errors). The struct is always
 * safe to pass to lbpam_conf_free. */
int lbpam_conf_load(struct lbpam_conf *c, int argc, const char **argv, char *err, size_t errlen);
void lbpam_conf_free(struct lbpam_conf *c);

/* Reads the host token from PATH (regular file, owned by root or us, no group/other access).
 * Returns a malloc'ed string the caller wipes and frees, or NULL with ERR. */
char *lbpam_read_token(const char *path, char *err, size_t errlen);

/* The typed result of asking the gateway. */
enum lbpam_result {
	LBPAM_ALLOW = 0,
	LBPAM_DENY,           /* the gateway said deny */
	LBPAM_ERR_CONFIG,     /* bad or missing config / token */
	LBPAM_ERR_CONNECT,    /* refused, unreachable, DNS */
	LBPAM_ERR_TIMEOUT,    /* the deadline passed */
	LBPAM_ERR_TLS,        /* TLS handshake or verification */
	LBPAM_ERR_HTTP,       /* a non-200 answer (incl. redirects) */
	LBPAM_ERR_PROTOCOL,   /* garbage, too large, duplicate keys, missing fields */
	LBPAM_ERR_INTERNAL,   /* out of memory, curl init */
};

struct lbpam_decision {
	enum lbpam_result result;
	char reason[64];           /* the gateway's reason code, or ours for errors */
	char message[256];         /* sanitized human text for the user */
	char request[80];          /* the request id, or "" */
	char decision_id[40];      /* the gateway's decision id, or a local UUID */
	char grant_expires_at[40]; /* RFC 3339, or "" */
	char error[512];           /* why, for errors (logged, not shown) */
};

const char *lbpam_result_name(enum lbpam_result r);
/* PAM code for a decision: ALLOW -> PAM_SUCCESS, everything else -> PAM_PERM_DENIED. */
int lbpam_result_to_pam(enum lbpam_result r);

/* POST /v1/check within TIMEOUT_MS; fills D (always, also on errors). */
void lbpam_check(const struct lbpam_conf *c, const char *token, const char *user,
		 const char *service, const char *rhost, const char *tty, int64_t timeout_ms,
		 struct lbpam_decision *d);

/* 1 if USER is a member of GROUP (primary or supplementary), 0 if not, -1 on lookup error
 * (ERR set). A missing group is 0. */
int lbpam_user_in_group(const char *user, const char *group, char *err, size_t errlen);

/* ---- events (lbpam_log.c) ---- */

/* The context every log line and event carries. */
struct lbpam_ctx {
	pam_handle_t *pamh;
	const struct lbpam_conf *conf; /* may be NULL when the config did not load */
	int debug;
	const char *user, *service, *rhost, *tty;
	char host[256];
	int64_t start_ms; /* monotonic, for the deadline */
	int at_gateway;   /* the event being emitted is one the gateway wrote itself */
};

int64_t lbpam_mono_ms(void);

/* One free-form diagnostic line (syslog + debug stderr): event=error ... */
void lbpam_log_error(const struct lbpam_ctx *x, const char *what, const char *why);
void lbpam_log_debug(const struct lbpam_ctx *x, const char *what, const char *detail);

/* Records EVENT (stolen) of TYPE: syslog key=value line, then the local audit log, then a
 * delivery attempt with what is left of the deadline. EXTRA_KV are extra key/value pairs
 * (NULL-terminated, already in DETAILS too) for the syslog line. Returns 0 if the event is
 * durable in the local log (or no local log is configured), -1 otherwise. */
int lbpam_emit(const struct lbpam_ctx *x, json_t *event);

/* ---- the steps of the hooks (lbpam_decide.c) ---- */

/* What account leaves for the session hooks of the same PAM handle (pam_set_data). */
struct lbpam_grant {
	char decision_id[40];
	char request[80];
	char grant_expires_at[40];
};

const char *lbpam_rc_name(int rc);
void lbpam_ctx_init(struct lbpam_ctx *x, pam_handle_t *pamh);
void lbpam_ctx_set_conf(struct lbpam_ctx *x, const struct lbpam_conf *c);
/* 1 gated, 0 not (exempt, or not in gated_group), -1 error (ERR set). */
int lbpam_is_gated(const struct lbpam_ctx *x, char *err, size_t errlen);
/* A decision that failed before reaching the gateway. */
void lbpam_fail(struct lbpam_decision *d, enum lbpam_result r, const char *why);
/* Reads the host token and asks the gateway within what is left of the deadline. */
void lbpam_ask(const struct lbpam_ctx *x, struct lbpam_decision *d);
/* Logs access.check.allow/deny, tells the user (unless PAM_SILENT), keeps the grant for the
 * session hooks. Returns the PAM code: PAM_SUCCESS only for an allow. */
int lbpam_conclude(struct lbpam_ctx *x, struct lbpam_decision *d, int flags);
/* The grant account kept in this PAM handle, or NULL. */
const struct lbpam_grant *lbpam_grant_get(pam_handle_t *pamh);
/* Records session.start (OPEN) or session.end. Returns PAM_SUCCESS, or PAM_SESSION_ERR when a
 * start could not be made durable on the host. */
int lbpam_session_event(const struct lbpam_ctx *x, const struct lbpam_grant *g, int open);

#endif
