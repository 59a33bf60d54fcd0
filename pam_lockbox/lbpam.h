/* pam_lockbox: module-private declarations (config, the agent's decision, event sinks, users). */
#ifndef LBPAM_H
#define LBPAM_H

#include <stddef.h>
#include <stdint.h>

#include <security/pam_modules.h>

#include "lockbox/config.h"
#include "lockbox/hostconf.h"


struct lbpam_conf {
	struct lb_hostconf h; /* pam_lockbox.conf, shared with lockbox-agent (lib/hostconf.c) */
	/* module arguments */
	char *config_path;
	/* services=NAME[,NAME...]: the PAM services this line gates; any other service gets
	 * PAM_IGNORE before the config is read (a line in common-account must not touch cron,
	 * su, sudo or the console). NULL: every service the stack runs the module for. */
	char *services;
	int debug;
};

/* Parses module arguments (config=PATH, services=LIST, debug) and then the config file.
 * Returns 0, or -1 with ERR set ("path:line: key: why" for file errors). The struct is always
 * safe to pass to lbpam_conf_free. */
int lbpam_conf_load(struct lbpam_conf *c, int argc, const char **argv, char *err, size_t errlen);
/* The two halves of lbpam_conf_load: the module arguments only, then the config file. */
int lbpam_args_load(struct lbpam_conf *c, int argc, const char **argv, char *err, size_t errlen);
int lbpam_conf_load_file(struct lbpam_conf *c, char *err, size_t errlen);
/* 1 if this line gates SERVICE (no services= argument, or SERVICE is in it), 0 if not. */
int lbpam_service_selected(const struct lbpam_conf *c, const char *service);
void lbpam_conf_free(struct lbpam_conf *c);

/* The typed result of asking the agent. */
enum lbpam_result {
	LBPAM_ALLOW = 0,
	LBPAM_DENY,           /* the agent said deny (the gateway's decision, or the agent's
			       * own when the gateway could not be asked) */
	LBPAM_ERR_CONFIG,     /* bad or missing config */
	LBPAM_ERR_AGENT,      /* agent missing, slow, not root, or answering garbage */
	LBPAM_ERR_INTERNAL,   /* out of memory */
};

struct lbpam_decision {
	enum lbpam_result result;
	char reason[64];           /* the gateway's reason code, or ours for errors */
	char message[256];         /* sanitized human text for the user */
	char request[80];          /* the request id, or "" */
	char decision_id[40];      /* the gateway's decision id, or a local UUID */
	char grant_expires_at[40]; /* RFC 3339, or "" */
	char access[16];           /* the access type the gateway decided for (ssh, rdp), or "" */
	int at_gateway;            /* the gateway made it and holds its audit event */
	int recorded;              /* the agent made it and wrote its event to the local log */
	char error[512];           /* why, for errors (logged, not shown) */
};

const char *lbpam_result_name(enum lbpam_result r);
/* PAM code for a decision: ALLOW -> PAM_SUCCESS, everything else -> PAM_PERM_DENIED. */
int lbpam_result_to_pam(enum lbpam_result r);

/* Asks the agent for a decision within TIMEOUT_MS; fills D (always, also on errors). HOST
 * is the host name the answer must echo. */
void lbpam_check(const struct lbpam_conf *c, const char *user, const char *service,
		 const char *rhost, const char *tty, const char *host, int64_t timeout_ms,
		 struct lbpam_decision *d);
/* Registers (OPEN) or unregisters the session SESSION with the agent. TTY is the one the
 * decision was asked with (the agent's re-checks ask with it), SESSION_TTY PAM_TTY at session
 * open, ACCESS the access type (both may be NULL). 0, or -1 with ERR. */
int lbpam_agent_session(const struct lbpam_conf *c, int open, const char *session,
			const char *user, const char *service, const char *rhost, const char *tty,
			const char *session_tty, const char *access, const char *decision_id,
			const char *request, const char *grant_expires_at, int64_t timeout_ms,
			char *err, size_t errlen);

/* 1 if USER is a member of GROUP (primary or supplementary), 0 if not, -1 on lookup error,
 * -2 for a GROUP that does not exist (a config error) (ERR set). */
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
	int recorded;     /* ... one the agent already wrote to the local audit log */
	/* session events: "tty" is PAM_TTY when the decision was asked (account), and PAM_TTY
	 * now goes out as "session_tty" (NULL: "tty" is PAM_TTY now) */
	const char *decided_tty;
};


/* One free-form diagnostic line (syslog + debug stderr): event=error ... */
void lbpam_log_error(const struct lbpam_ctx *x, const char *what, const char *why);
void lbpam_log_debug(const struct lbpam_ctx *x, const char *what, const char *detail);

/* An audit event as the module records it (DESIGN.md "Audit events"): its details are an
 * ordered list, from which both the syslog line and the local log's JSON line are made. */
#define LBPAM_EV_FIELDS 20
struct lbpam_event {
	char type[32];
	char id[40];          /* a UUID: the gateway's decision id, or a fresh one */
	const char *actor;    /* NULL: null */
	const char *request;  /* NULL: null */
	size_t n;
	struct lbpam_field {
		const char *key;
		const char *str; /* NULL: null (when !is_num) */
		long long num;
		int is_num;
	} d[LBPAM_EV_FIELDS];
	char text[4096]; /* escaped copies of values that were not clean text */
	size_t used;
	int bad;         /* out of room: the event is not recorded */
};

/* Starts event TYPE with ID (NULL: a fresh UUID; -1 when there is no randomness). */
int lbpam_event_init(struct lbpam_event *e, const char *type, const char *id);
/* Sets detail KEY (replacing an earlier value): text kept verbatim when clean, escaped to
 * printable ASCII when it has control characters or invalid UTF-8 (the gateway never refuses
 * the event for it); NULL is null. KEY and clean S must outlive the event. */
void lbpam_event_text(struct lbpam_event *e, const char *key, const char *s);
void lbpam_event_int(struct lbpam_event *e, const char *key, long long v);

/* Records E: a syslog key=value line, then the local audit log (which lockbox-agent delivers
 * to the gateway). Returns 0 if the event is durable in the local log, -1 otherwise. */
int lbpam_emit(const struct lbpam_ctx *x, const struct lbpam_event *e);

/* ---- the steps of the hooks (lbpam_decide.c) ---- */

/* The allowed login as account leaves it for the session hooks of the same PAM handle
 * (pam_set_data): which decision, request and access window (not a role "grant"). */
struct lbpam_allowed {
	char decision_id[40];
	char request[80];
	char grant_expires_at[40];
	char access[16];
	/* PAM_TTY as account saw it: the value the decision was asked with. Session events carry
	 * it as "tty" (the same meaning as in access.check.*), and PAM_TTY at the session hook as
	 * "session_tty": xrdp-sesman sets "xrdp-sesman" before account and the X display (":10")
	 * before pam_open_session; sshd sets "ssh" (or the pty) */
	char tty[72];
	int has_tty;
};

const char *lbpam_rc_name(int rc);
void lbpam_ctx_init(struct lbpam_ctx *x, pam_handle_t *pamh);
void lbpam_ctx_set_conf(struct lbpam_ctx *x, const struct lbpam_conf *c);
/* 1 gated, 0 not (exempt, or not in gated_group), -1 lookup error, -2 config error (ERR). */
int lbpam_is_gated(const struct lbpam_ctx *x, char *err, size_t errlen);
/* A decision that failed before reaching the gateway. */
void lbpam_fail(struct lbpam_decision *d, enum lbpam_result r, const char *why);
/* Asks the agent within what is left of the deadline. */
void lbpam_ask(const struct lbpam_ctx *x, struct lbpam_decision *d);
/* Logs access.check.allow/deny, tells the user (unless PAM_SILENT), keeps the allowed login
 * for the session hooks. Returns the PAM code: PAM_SUCCESS only for an allow. */
int lbpam_conclude(struct lbpam_ctx *x, struct lbpam_decision *d, int flags);
/* The allowed login account kept in this PAM handle, or NULL. */
const struct lbpam_allowed *lbpam_allowed_get(pam_handle_t *pamh);
/* Records session.start (OPEN) or session.end. Returns PAM_SUCCESS, or PAM_SESSION_ERR when a
 * start could not be made durable on the host. */
int lbpam_session_event(const struct lbpam_ctx *x, const struct lbpam_allowed *g, int open);

#endif
