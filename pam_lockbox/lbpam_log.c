/* pam_lockbox: where events go. A small table of sinks: the host's syslog (one key=value line,
 * authpriv, ident pam_lockbox), stderr when the debug argument is given, the local audit log,
 * and the gateway (delivery of whatever the local log holds, within the deadline). */

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
#include "lockbox/http.h"
#include "lockbox/util.h"

#define LBPAM_LINE_MAX 1900
#define LBPAM_SYSLOG_PATH "/dev/log"

int64_t lbpam_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends one message to the local syslog socket ourselves instead of openlog()/syslog():
 * those would change the ident and facility of the daemon we live in (sshd, xrdp-sesman).
 * MSG is already escaped; it is passed as data, never as a format. */
static void syslog_send(int prio, const char *msg)
{
	struct sockaddr_un sa;
	char buf[LBPAM_LINE_MAX + 128], ts[32];
	struct tm tm;
	time_t now = time(NULL);
	int n, fd;

	if (!localtime_r(&now, &tm) || strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm) == 0)
		snprintf(ts, sizeof(ts), "Jan  1 00:00:00");
	n = snprintf(buf, sizeof(buf), "<%d>%s pam_lockbox[%ld]: %s", LOG_AUTHPRIV | prio, ts,
		     (long)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", LBPAM_SYSLOG_PATH);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0 &&
	    errno == EPROTOTYPE) {
		/* a stream /dev/log: messages end with a NUL */
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			(void)send(fd, buf, (size_t)n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	if (fd >= 0)
		close(fd);
}

static void line_out(const struct lbpam_ctx *x, int prio, const char *line)
{
	syslog_send(prio, line);
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
				  : !strcmp(key, "tty")	    ? x->tty
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
	if (!x->conf || !x->conf->audit_log)
		return 0;
	r = x->at_gateway ? lb_auditlog_append_delivered(x->conf->audit_log, ev, err, sizeof(err))
			    : lb_auditlog_append(x->conf->audit_log, ev, err, sizeof(err));
	if (r != LB_AUDITLOG_OK) {
		lbpam_log_error(x, "audit_log_append", err);
		return -1;
	}
	return 0;
}

static int sink_gateway(const struct lbpam_ctx *x, const json_t *ev)
{
	struct lb_auditlog_flush_stats st;
	struct lb_http_opts o = {0};
	enum lb_auditlog_result r;
	char err[512], detail[160];
	char *token;
	int64_t left;

	/* it is in the local log: deliver everything pending, oldest first (a flush with
	 * nothing past the cursor makes no request, e.g. after the gateway's own check event) */
	(void)ev;
	if (!x->conf || !x->conf->audit_log || !x->conf->gateway_url)
		return 0;
	left = x->conf->timeout * 1000 - (lbpam_mono_ms() - x->start_ms);
	if (left <= 0) {
		lbpam_log_debug(x, "audit_delivery", "no time left: events stay in the local log");
		return 0;
	}
	token = lbpam_read_token(x->conf->host_token_file, err, sizeof(err));
	if (!token) {
		lbpam_log_error(x, "audit_delivery", err);
		return 0;
	}
	o.ca_file = x->conf->ca_file;
	o.bearer = token;
	o.max_body = 8 * 1024;
	r = lb_auditlog_flush(x->conf->audit_log, x->conf->gateway_url, &o, left, &st, err,
			      sizeof(err));
	lb_wipe(token, strlen(token));
	free(token);
	if (r == LB_AUDITLOG_ERR_BUSY) {
		/* another process is delivering; it or a later call takes our events */
		lbpam_log_debug(x, "audit_delivery", err);
	} else if (r != LB_AUDITLOG_OK) {
		/* not an error for the login: the events wait in the local log */
		char why[700];
		snprintf(why, sizeof(why), "%s: %s (%zu pending)", lb_auditlog_strerror(r), err,
			 st.pending);
		lbpam_log_error(x, "audit_delivery", why);
	} else {
		if (st.rejected)
			lbpam_log_error(x, "audit_delivery", err);
		snprintf(detail, sizeof(detail), "sent=%zu accepted=%zu duplicates=%zu pending=%zu",
			 st.sent, st.accepted, st.duplicates, st.pending);
		lbpam_log_debug(x, "audit_delivery", detail);
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
	{"gateway", sink_gateway, 0},
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
