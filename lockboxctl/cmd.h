/* lockboxctl: helpers the command files share (cmd_common.c). */
#ifndef LOCKBOXCTL_CMD_H
#define LOCKBOXCTL_CMD_H

#include "ctl.h"

/* The options of every list command. */
#define CMD_LIST_OPTS                                                                    \
	{"limit", "N", "items per page, 1..200 (default 50)", 0},                         \
	{"cursor", "CURSOR", "continue from this cursor (printed when more pages exist)", 0}, \
	{"all", NULL, "fetch every page", 0}

/* Value of a required --NAME, or NULL after printing a usage error. */
const char *cmd_need(const struct ctl_args *a, const char *name);
/* "PREFIX/<ID percent-encoded>SUFFIX", malloc'ed (SUFFIX may be NULL). */
char *cmd_path_id(const char *prefix, const char *id, const char *suffix);
/* Prints OBJ (consumed) as JSON or as key: value lines without the SKIP keys. */
int cmd_print_object(struct ctl *c, json_t *obj, const char *const *skip);
/* Calls the gateway and prints the answer object; BODY is consumed; PATH NULL = failed. */
int cmd_call_show(struct ctl *c, const char *method, const char *path, json_t *body);
/* Runs a list command: the query Q (consumed) with --limit/--cursor/--all, then prints. */
int cmd_list(struct ctl *c, const struct ctl_args *a, struct ctl_query *q,
	     const struct ctl_col *cols);
/* The same, with PREP (may be NULL) applied to the items before a human table is printed. */
int cmd_list_prep(struct ctl *c, const struct ctl_args *a, struct ctl_query *q,
		  const struct ctl_col *cols, void (*prep)(json_t *items));
/* For answers holding a token shown once: the bare token on stdout, a note on stderr
 * (--json: the whole object). OBJ is consumed. */
int cmd_print_once(struct ctl *c, json_t *obj, const char *what);
/* "2h" -> now - 2h as RFC 3339; an RFC 3339 time as is; else NULL (malloc'ed). */
char *cmd_time_arg(const char *v);

/* TOTP (cmd_totp.c). 1 if CODE looks like a TOTP code (6 digits). */
int cmd_totp_code_ok(const char *code);
/* Like ctl_api, but when the gateway answers 422 mfa_required, BODY has no "totp" and
 * standard input is a terminal, it asks for a code there and calls once more with it. */
int cmd_call_totp(struct ctl *c, const char *method, const char *path, json_t *body,
		  json_t **out);

#endif
