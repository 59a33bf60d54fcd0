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
#include "lockbox/auditappend.h"
#include "lockbox/jsonflat.h"
#include "lockbox/escape.h"
#include "lockbox/syslog.h"
#include "lockbox/util.h"

#define LBPAM_LINE_MAX LB_SYSLOG_LINE_MAX

/* The line to syslog, with its pairs as journal fields when KV collected them. */
static void line_out(const struct lbpam_ctx *x, int prio, const char *line,
		     const struct lb_kvbuf *kv)
{
	lb_syslog_send_fields("pam_lockbox", LOG_AUTHPRIV | prio, line,
			      kv && kv->jbuf ? kv->jbuf : NULL, kv ? kv->jlen : 0);
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
	char line[LBPAM_LINE_MAX], fields[2048];
	struct lb_kvbuf kv;
	lb_kv_init(&kv, line, sizeof(line));
	lb_kv_journal(&kv, fields, sizeof(fields));
	lb_kv_add(&kv, "event", "error");
	lb_kv_add(&kv, "what", what);
	lb_kv_add(&kv, "error", why);
	ctx_pairs(x, &kv);
	line_out(x, LOG_ERR, line, &kv);
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

/* ---- events ---- */

int lbpam_event_init(struct lbpam_event *e, const char *type, const char *id)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->type, sizeof(e->type), "%s", type);
	if (id && lb_uuid_valid(id)) {
		snprintf(e->id, sizeof(e->id), "%s", id);
		return 0;
	}
	return lb_uuid4(e->id, sizeof(e->id));
}

static struct lbpam_field *field(struct lbpam_event *e, const char *key)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->d[i].key, key) == 0)
			return &e->d[i];
	if (e->n >= LBPAM_EV_FIELDS) {
		e->bad = 1;
		return NULL;
	}
	e->d[e->n].key = key;
	return &e->d[e->n++];
}

void lbpam_event_text(struct lbpam_event *e, const char *key, const char *s)
{
	struct lbpam_field *f = field(e, key);
	if (!f)
		return;
	f->is_num = 0;
	f->str = s;
	if (s && !lb_str_clean(s)) {
		char *out = e->text + e->used;
		size_t room = sizeof(e->text) - e->used;
		if (room < 2) {
			e->bad = 1;
			f->str = NULL;
			return;
		}
		lb_escape_text(s, out, room);
		e->used += strlen(out) + 1;
		f->str = out;
	}
}

void lbpam_event_int(struct lbpam_event *e, const char *key, long long v)
{
	struct lbpam_field *f = field(e, key);
	if (f) {
		f->is_num = 1;
		f->num = v;
		f->str = NULL;
	}
}

/* ---- the sinks ---- */

static int sink_syslog(const struct lbpam_ctx *x, const struct lbpam_event *e)
{
	char line[LBPAM_LINE_MAX], fields[4096];
	struct lb_kvbuf kv;

	lb_kv_init(&kv, line, sizeof(line));
	lb_kv_journal(&kv, fields, sizeof(fields));
	lb_kv_add(&kv, "event", e->type);
	lb_kv_add(&kv, "id", e->id);
	if (e->request)
		lb_kv_add(&kv, "request", e->request);
	for (size_t i = 0; i < e->n; i++) {
		const struct lbpam_field *f = &e->d[i];
		const char *key = f->key;
		/* the PAM items as they are (escaped once, here), not their JSON-safe form */
		const char *raw = !strcmp(key, "user")	  ? x->user
				  : !strcmp(key, "service") ? x->service
				  : !strcmp(key, "rhost")   ? x->rhost
				  : !strcmp(key, "tty")	    ? (x->decided_tty ? x->decided_tty : x->tty)
				  : !strcmp(key, "session_tty") ? x->tty
							    : NULL;
		if (raw)
			lb_kv_add(&kv, key, raw);
		else if (f->is_num)
			lb_kv_add_long(&kv, key, f->num);
		else
			lb_kv_add(&kv, key, f->str ? f->str : "-");
	}
	line_out(x, strcmp(e->type, "access.check.deny") == 0 ? LOG_NOTICE : LOG_INFO, line, &kv);
	return 0;
}

/* The event as the local log keeps it (lb_event_line_begin). */
static long event_json(const struct lbpam_event *e, char *buf, size_t cap)
{
	struct lb_jw w;

	lb_event_line_begin(&w, buf, cap, e->actor);
	for (size_t i = 0; i < e->n; i++) {
		if (e->d[i].is_num)
			lb_jw_int(&w, e->d[i].key, e->d[i].num);
		else
			lb_jw_str(&w, e->d[i].key, e->d[i].str);
	}
	return lb_event_line_end(&w, e->id, e->request, e->type);
}

static int sink_local_log(const struct lbpam_ctx *x, const struct lbpam_event *e)
{
	char err[512], line[LB_AUDITLOG_MAX_LINE + 1];
	enum lb_auditlog_result r;
	long n;

	if (!x->conf || !x->conf->h.audit_log || x->recorded)
		return 0; /* the agent wrote this decision itself (the syslog line is ours) */
	n = event_json(e, line, sizeof(line));
	if (n < 0) {
		lbpam_log_error(x, "audit_log_append", "the event does not fit in one log line");
		return -1;
	}
	r = lb_auditlog_append_line(x->conf->h.audit_log, line, (size_t)n,
				    x->at_gateway ? LB_AUDITLOG_DELIVERED : LB_AUDITLOG_DURABLE,
				    err, sizeof(err));
	if (r != LB_AUDITLOG_OK) {
		lbpam_log_error(x, "audit_log_append", err);
		return -1;
	}
	return 0;
}

static const struct {
	const char *name;
	int (*emit)(const struct lbpam_ctx *x, const struct lbpam_event *e);
	int must_succeed; /* a failure makes lbpam_emit fail */
} sinks[] = {
	{"syslog", sink_syslog, 0},
	{"local_log", sink_local_log, 1},
};

int lbpam_emit(const struct lbpam_ctx *x, const struct lbpam_event *e)
{
	if (e->bad) {
		lbpam_log_error(x, "event", "an event with more fields or text than it has room for");
		return -1;
	}
	for (size_t i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++)
		if (sinks[i].emit(x, e) != 0 && sinks[i].must_succeed)
			return -1; /* not durable locally: do not deliver half the story */
	return 0;
}
