/* lockboxctl: what the command files share: the command table types, parsed arguments,
 * the gateway client wrapper and the output helpers. */
#ifndef LOCKBOXCTL_CTL_H
#define LOCKBOXCTL_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lockbox/gwlist.h"

/* Exit codes (documented in lockboxctl(1)). */
enum ctl_rc {
	CTL_OK = 0,          /* done */
	CTL_FAILED = 1,      /* the gateway refused (its code and message are printed), or a
			      * local operation failed */
	CTL_USAGE = 2,       /* bad command line or settings */
	CTL_UNREACHABLE = 3, /* cannot reach the gateway: connect, TLS, timeout */
};

/* One --option of a command. */
struct ctl_opt {
	const char *name;    /* without the leading "--" */
	const char *metavar; /* NULL: a flag without a value */
	const char *help;
	unsigned flags;
};
#define CTL_OPT_REPEAT 0x1u /* may be given several times */
/* A hidden old spelling kept for one release: it stands right after the option it now
 * means, is parsed as that option and is left out of --help. */
#define CTL_OPT_ALIAS 0x2u

struct ctl;
struct ctl_args;

/* One command: a path of words ("tenant lockbox enable"), its synopsis, options and handler. */
struct ctl_cmd {
	const char *path;
	const char *synopsis; /* what follows the path in the usage line */
	const char *summary;  /* one line for the command list */
	int npos_min, npos_max;
	const struct ctl_opt *opts; /* terminated by a NULL name; may be NULL */
	int (*run)(struct ctl *c, struct ctl_args *a);
	unsigned flags;
	const char *details; /* optional paragraph printed by --help */
};
#define CTL_CMD_LOCAL 0x1u /* runs on the host from pam_lockbox.conf, not the client settings */
#define CTL_CMD_NO_TOKEN 0x2u /* needs the gateway but no token (invitation redeem) */

#define CTL_MAX_ARGS 64

struct ctl_args {
	const struct ctl_cmd *cmd;
	size_t nopt;
	const struct ctl_opt *opt[CTL_MAX_ARGS];
	const char *val[CTL_MAX_ARGS]; /* "" for flags */
	int npos;
	const char *pos[CTL_MAX_ARGS];
};

/* Last value of --NAME, or NULL if not given. */
const char *ctl_arg(const struct ctl_args *a, const char *name);
/* 1 if the flag --NAME was given. */
int ctl_flag(const struct ctl_args *a, const char *name);
/* The I-th value of a repeatable --NAME, or NULL past the last. */
const char *ctl_arg_nth(const struct ctl_args *a, const char *name, size_t i);

/* Settings and state of one run. */
struct ctl {
	/* client settings, after file < environment < flags */
	char *url;       /* one or several gateway URLs, as given */
	struct lb_gwlist gw; /* url parsed: tried in lb_gwlist_order, failing over */
	char *token;
	char *ca_file;
	int64_t timeout; /* seconds */
	/* flags that apply to every command */
	const char *flag_url, *flag_token, *flag_ca_file, *flag_config, *flag_timeout;
	int json;
	int quiet; /* print only ids */
	int verbose; /* say which gateway answered, and which did not before it */
	int help;
	int all;
	int token_optional; /* the command runs without a token (CTL_CMD_NO_TOKEN) */
};

/* Loads the client settings (config file, environment, flags); on error prints why and
 * returns CTL_USAGE. */
int ctl_settings_load(struct ctl *c);
void ctl_settings_free(struct ctl *c);

/* Calls the gateway: METHOD PATH (with query, already encoded) and optional BODY (not
 * consumed). On CTL_OK *OUT (if OUT) holds the parsed object of a 2xx answer. Otherwise the
 * reason was printed: CTL_FAILED for an error answer, CTL_UNREACHABLE for no answer. */
int ctl_api(struct ctl *c, const char *method, const char *path, json_t *body, json_t **out);

/* Lower-level call with explicit gateway settings, for host-side commands: the gateways GW
 * in their order, failing over (lb_gw_request) within TIMEOUT_S in all; a POST, PUT or
 * DELETE that may have reached a gateway is not sent to another (LB_GW_ONCE). STATUS gets
 * the HTTP status; *OUT the parsed body (any status) or NULL. Prints nothing on an answer
 * (with C->verbose: which gateway answered, and what the others did); on no answer prints
 * what each gateway did and returns CTL_UNREACHABLE. */
int ctl_http(const struct ctl *c, struct lb_gwlist *gw, const char *bearer, const char *ca_file,
	     int64_t timeout_s, const char *method, const char *path, json_t *body, long *status,
	     json_t **out);

/* What ctl_api makes of an answer (STATUS and ANSWER, consumed, from ctl_http): CTL_OK with
 * *OUT (if OUT) the object of a 2xx answer ({} for a bare 204); else the refusal is printed
 * and its code returned. */
int ctl_answer(long status, json_t *answer, json_t **out);

/* Prints the gateway's {"error": {code, message}} (or the status), and which gateway said
 * it when several are configured, and returns CTL_FAILED. */
int ctl_refused(long status, json_t *answer);

/* Fetches a list. With ALL, follows next_cursor to the end; else one page from CURSOR with
 * LIMIT (0 = gateway default). PATH may carry a query. *ITEMS gets a new array. If NEXT is
 * given it receives the next cursor of the last page fetched (strdup'ed) or NULL. */
int ctl_list(struct ctl *c, const char *path, int all, const char *limit, const char *cursor,
	     json_t **items, char **next);

/* Builds "PATH?k=v&..." with percent-encoding; NULL values are skipped. Returns malloc'ed. */
struct ctl_query {
	char *buf;
	size_t len, cap;
	int has_q;
};
void ctl_query_init(struct ctl_query *q, const char *path);
void ctl_query_add(struct ctl_query *q, const char *key, const char *value);
/* Appends a percent-encoded path segment ("/ID"). */
void ctl_query_seg(struct ctl_query *q, const char *seg);
char *ctl_query_take(struct ctl_query *q);

/* Resolves a user given as id (usr_...) or login into an id; prints why on failure. */
int ctl_resolve_user(struct ctl *c, const char *user, char **id);
/* The same for a host (hst_... or its enrolled name) and a tenant (tnt_... or its name). */
int ctl_resolve_host(struct ctl *c, const char *host, char **id);
int ctl_resolve_tenant(struct ctl *c, const char *tenant, char **id);

/* Output. */
enum ctl_col_kind { COL_STR, COL_TIME, COL_BOOL, COL_LIST, COL_ANY };
struct ctl_col {
	const char *title;
	const char *key;
	enum ctl_col_kind kind;
};
/* Aligned table of the ITEMS array, columns COLS (terminated by a NULL title). */
void ctl_table(const json_t *items, const struct ctl_col *cols);
/* "key: value" lines for every field of OBJ (nested values compact). */
void ctl_show(const json_t *obj, const char *const *skip);
/* Prints the "id" of each item of ITEMS, one per line. */
void ctl_print_ids(const json_t *items);
/* Prints a JSON value (pretty) on stdout. */
void ctl_print_json(const json_t *v);
/* Formats a JSON value for a human: strings cleaned of control characters, times shortened,
 * null as "-", arrays joined with ",". Returns malloc'ed text. */
char *ctl_human(const json_t *v, enum ctl_col_kind kind);
/* Prints the hint about further pages to stderr. */
void ctl_more_hint(const char *next);

/* Messages on stderr, prefixed "lockboxctl: ". */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message plus a pointer to --help; returns CTL_USAGE. */
int ctl_usage(const struct ctl_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A positive duration option value into *SECS: NULL, or why not into BUF (a bare number is
 * told which units to write, e.g. "2" -> "2s"). */
const char *ctl_duration_why(const char *v, int64_t *secs, char *buf, size_t len);

/* Reads a secret from stdin (first line, trimmed) when VALUE is "-"; else strdup. */
char *ctl_secret_arg(const char *value);

/* The command groups. */
extern const struct ctl_cmd ctl_cmds_admin[];
extern const struct ctl_cmd ctl_cmds_work[];
extern const struct ctl_cmd ctl_cmds_audit[];
extern const struct ctl_cmd ctl_cmds_host[];
extern const struct ctl_cmd ctl_cmds_totp[];

#endif
