/* pam_lockbox: where events go. A small table of sinks: the host's syslog (one key=value line,
 * authpriv, ident pam_lockbox), stderr when the debug argument is given, and the local audit
 * log, which lockbox-agent delivers to the gateway (store and forward). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lbpam.h"
#include "lockbox/auditlog.h"
#include "lockbox/escape.h"
#include "lockbox/syslog.h"
#include "lockbox/util.h"

#define LBPAM_LINE_MAX LB_SYSLOG_LINE_MAX

static void line_out(const struct lbpam_ctx *x, int prio, const char *line)
{
	lb_syslog_send("pam_lockbox", LOG_AUTHPRIV | prio, line);
	if (x->debug)
		fprintf(stderr, "pam_lockbox: %s\n", line);
}

static void ctx_pairs(const struct lbpam_ctx *x, struct lb_kvbuf *kv)
{
	lb_kv_add(kv, "user", x->user);
	lb_kv_add(kv, "service", x->service);
	lb_kv_add(kv, "rhost", x->rhost);
	lb_kv_add(kv, "tty", x->tty);
	lb_kv_add_long(kv, "pid", (long long)getpid());
}

void lbpam_log_error(const struct lbpam_ctx *x, const char *what, const char *why)
{
	char line[LBPAM_LINE_MAX];
	struct lb_kvbuf kv;
	lb_kv_init(&kv, line, sizeof(line));
	lb_kv_add(&kv, "event", "error");
	lb_kv_add(&kv, "what", what);
	lb_kv_add(&kv, "error", why);
	ctx_pairs(x, &kv);
	line_out(x, LOG_ERR, line);
}

void lbpam_log_debug(const struct lbpam_ctx *x, const char *what, const char *detail)
{
	char line[LBPAM_LINE_MAX];
	struct lb_kvbuf kv;
	if (!x->debug)
		return;
	lb_kv_init(&kv, line, sizeof(line));
	lb_kv_add(&kv, "event", "debug");
	lb_kv_add(&kv, "what", what);
	if (detail)
		lb_kv_add(&kv, "detail", detail);
	ctx_pairs(x, &kv);
	fprintf(stderr, "pam_lockbox: %s\n", line);
}

/* ---- the sinks ---- */

static int sink_syslog(const struct lbpam_ctx *x, const json_t *ev)
{
	char line[LBPAM_LINE_MAX];
	struct lb_kvbuf kv;
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *key;
	json_t *details = json_object_get(ev, "details"), *v;
	int prio = LOG_INFO;

	lb_kv_init(&kv, line, sizeof(line));
	lb_kv_add(&kv, "event", type);
	lb_kv_add(&kv, "id", json_string_value(json_object_get(ev, "id")));
	if (json_is_string(json_object_get(ev, "request")))
		lb_kv_add(&kv, "request", json_string_value(json_object_get(ev, "request")));
	json_object_foreach(details, key, v) {
		/* the PAM items as they are (escaped once, here), not their JSON-safe form */
		const char *raw = !strcmp(key, "user")	  ? x->user
				  : !strcmp(key, "service") ? x->service
				  : !strcmp(key, "rhost")   ? x->rhost
				  : !strcmp(key, "tty")	    ? (x->decided_tty ? x->decided_tty : x->tty)
				  : !strcmp(key, "session_tty") ? x->tty
							    : NULL;
		if (raw)
			lb_kv_add(&kv, key, raw);
		else if (json_is_string(v))
			lb_kv_add(&kv, key, json_string_value(v));
		else if (json_is_integer(v))
			lb_kv_add_long(&kv, key, (long long)json_integer_value(v));
		else if (json_is_null(v))
			lb_kv_add(&kv, key, "-");
	}
	if (type && strcmp(type, "access.check.deny") == 0)
		prio = LOG_NOTICE;
	line_out(x, prio, line);
	return 0;
}

static int sink_local_log(const struct lbpam_ctx *x, const json_t *ev)
{
	char err[512];
	enum lb_auditlog_result r;
	if (!x->conf || !x->conf->h.audit_log || x->recorded)
		return 0; /* the agent wrote this decision itself (the syslog line is ours) */
	r = x->at_gateway ? lb_auditlog_append_delivered(x->conf->h.audit_log, ev, err, sizeof(err))
			    : lb_auditlog_append(x->conf->h.audit_log, ev, err, sizeof(err));
	if (r != LB_AUDITLOG_OK) {
		lbpam_log_error(x, "audit_log_append", err);
		return -1;
	}
	return 0;
}

static const struct {
	const char *name;
	int (*emit)(const struct lbpam_ctx *x, const json_t *ev);
	int must_succeed; /* a failure makes lbpam_emit fail */
} sinks[] = {
	{"syslog", sink_syslog, 0},
	{"local_log", sink_local_log, 1},
};

int lbpam_emit(const struct lbpam_ctx *x, json_t *event)
{
	int rc = 0;
	if (!event) {
		lbpam_log_error(x, "event", "out of memory building an event");
		return -1;
	}
	for (size_t i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++) {
		if (sinks[i].emit(x, event) != 0 && sinks[i].must_succeed) {
			rc = -1;
			break; /* not durable locally: do not deliver half the story */
		}
	}
	json_decref(event);
	return rc;
}
