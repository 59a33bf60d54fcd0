/* lockbox-agent: host events the agent records itself (session.warn, session.terminate, a
 * session.end for a session whose process went away, re-check decisions): one syslog line
 * (authpriv, ident pam_lockbox, key=value, as the module writes them) and the local audit
 * log, which the delivery thread sends on. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "agent.h"
#include "lockbox/auditlog.h"
#include "lockbox/daemon.h"
#include "lockbox/escape.h"
#include "lockbox/json.h"
#include "lockbox/jsonflat.h"
#include "lockbox/syslog.h"
#include "lockbox/util.h"

static void syslog_line(struct agent *ag, const json_t *ev)
{
	char line[LB_SYSLOG_LINE_MAX], fields[4096];
	struct lb_kvbuf kv;
	const char *type = lb_json_str(ev, "type"), *key;
	json_t *details = json_object_get(ev, "details"), *v;

	lb_kv_init(&kv, line, sizeof(line));
	lb_kv_journal(&kv, fields, sizeof(fields));
	lb_kv_add(&kv, "event", type);
	lb_kv_add(&kv, "id", lb_json_str(ev, "id"));
	if (json_is_string(json_object_get(ev, "request")))
		lb_kv_add(&kv, "request", json_string_value(json_object_get(ev, "request")));
	json_object_foreach(details, key, v) {
		if (json_is_string(v))
			lb_kv_add(&kv, key, json_string_value(v));
		else if (json_is_integer(v))
			lb_kv_add_long(&kv, key, (long long)json_integer_value(v));
		else if (json_is_null(v))
			lb_kv_add(&kv, key, "-");
	}
	lb_syslog_send_fields("pam_lockbox",
			      LOG_AUTHPRIV | (strcmp(type, "session.terminate") == 0 ? LOG_NOTICE
										     : LOG_INFO),
			      line, kv.jbuf, kv.jlen);
	if (ag->foreground)
		fprintf(stderr, "lockbox-agent: %s\n", line);
}

void agent_event(struct agent *ag, const char *type, const char *id, const char *user,
		 const char *request, json_t *details, int at_gateway)
{
	char err[512], host[256];
	enum lb_auditlog_result r;
	json_t *ev;

	agent_host_name(ag, host, sizeof(host));
	if (details && host[0] && !json_object_get(details, "host"))
		json_object_set_new(details, "host", json_string(host));
	ev = lb_audit_event_new(type, id, 0, user && lb_str_clean(user) ? user : NULL,
				request && *request ? request : NULL, details);
	if (!ev) {
		lb_log(LOG_ERR, "cannot build a %s event (out of memory or bad id)", type);
		return;
	}
	syslog_line(ag, ev);
	r = at_gateway ? lb_auditlog_append_delivered(ag->conf.audit_log, ev, err, sizeof(err))
		       : lb_auditlog_append(ag->conf.audit_log, ev, err, sizeof(err));
	if (r != LB_AUDITLOG_OK)
		lb_log(LOG_ERR, "%s: cannot record %s: %s", ag->conf.audit_log, type, err);
	json_decref(ev);
	if (!at_gateway)
		agent_deliver_kick(ag);
}

/* ---- decisions the agent makes from the grants it holds ---- */

int agent_record_decision(struct agent *ag, const struct lb_check_answer *a, const char *service,
			  const char *rhost, const char *tty, int pid)
{
	char err[512], line[LB_AUDITLOG_MAX_LINE + 1];
	enum lb_auditlog_result r;
	struct lb_jw w;
	long n;

	/* the module's fields for its own decisions, so one reader reads both; written without
	 * jansson objects: this is on the login's path */
	lb_event_line_begin(&w, line, sizeof(line), a->user);
	lb_jw_str(&w, "user", a->user);
	lb_jw_str(&w, "service", service);
	lb_jw_str(&w, "rhost", rhost);
	lb_jw_str(&w, "tty", tty);
	lb_jw_int(&w, "pid", pid);
	lb_jw_str(&w, "host", a->host);
	lb_jw_str(&w, "decision", a->allow ? "allow" : "deny");
	lb_jw_str(&w, "reason", a->reason);
	lb_jw_str(&w, "decision_id", a->decision_id);
	lb_jw_str(&w, "grant_expires_at", a->grant_expires_at);
	lb_jw_str(&w, "decided_by", "agent");
	n = lb_event_line_end(&w, a->decision_id, a->request[0] ? a->request : NULL,
			      a->allow ? "access.check.allow" : "access.check.deny");
	if (n < 0) {
		lb_log(LOG_ERR, "cannot build a decision event (too large or not text)");
		return -1;
	}
	/* not durable yet: the syncer makes it so right after the answer has gone out, and a
	 * session this decision opens waits for it (agent_record_wait) */
	pthread_mutex_lock(&ag->rec.lock);
	r = lb_auditlog_writer_append(&ag->rec.log, ag->conf.audit_log, line, (size_t)n, err,
				      sizeof(err));
	if (r == LB_AUDITLOG_OK)
		ag->rec.appended++;
	pthread_mutex_unlock(&ag->rec.lock);
	if (r != LB_AUDITLOG_OK) {
		lb_log(LOG_ERR, "%s: cannot record a decision: %s", ag->conf.audit_log, err);
		return -1;
	}
	return 0;
}

int agent_record_sync(struct agent *ag)
{
	char err[512];
	unsigned long long upto;
	enum lb_auditlog_result r;

	int done;

	pthread_mutex_lock(&ag->rec.lock);
	upto = ag->rec.appended; /* every append counted here has completed */
	done = ag->rec.synced >= upto;
	pthread_mutex_unlock(&ag->rec.lock);
	if (done)
		return 0;
	pthread_mutex_lock(&ag->rec.sync_lock); /* the syncer, or a session open that waits */
	r = lb_auditlog_sync(ag->conf.audit_log, &ag->rec.dir_ino, err, sizeof(err));
	pthread_mutex_unlock(&ag->rec.sync_lock);
	pthread_mutex_lock(&ag->rec.lock);
	if (r == LB_AUDITLOG_OK && upto > ag->rec.synced)
		ag->rec.synced = upto;
	pthread_cond_broadcast(&ag->rec.cond);
	pthread_mutex_unlock(&ag->rec.lock);
	if (r != LB_AUDITLOG_OK)
		lb_log(LOG_ERR, "%s: %s (sessions of the decisions in it are refused)",
		       ag->conf.audit_log, err);
	agent_deliver_kick(ag);
	return r == LB_AUDITLOG_OK ? 0 : -1;
}

void agent_record_kick(struct agent *ag)
{
	pthread_mutex_lock(&ag->rec.lock);
	pthread_cond_signal(&ag->rec.work);
	pthread_mutex_unlock(&ag->rec.lock);
}

/* The answering threads append a decision, answer, and kick this thread: the login goes on
 * while the disk works (a session it opens waits for the sync: agent_record_wait), and no
 * answering thread waits for a disk another login's fsync keeps busy. */
void *agent_record_syncer(void *arg)
{
	struct agent *ag = arg;
	int failed = 0;

	pthread_mutex_lock(&ag->rec.lock);
	while (!ag->stopping || ag->rec.synced < ag->rec.appended) {
		struct timespec ts;
		if (ag->rec.synced < ag->rec.appended && !failed) {
			struct timespec gc = {0, AGENT_SYNC_GATHER_MS * 1000000L};
			pthread_mutex_unlock(&ag->rec.lock);
			nanosleep(&gc, NULL); /* group commit: the logins of a burst share an fsync */
			failed = agent_record_sync(ag) != 0;
			pthread_mutex_lock(&ag->rec.lock);
			continue;
		}
		if (ag->stopping)
			break; /* a sync that keeps failing does not hold up the stop */
		/* idle, or after a failure: try again on the next kick or in 250 ms */
		lb_mono_deadline(&ts, 250);
		pthread_cond_timedwait(&ag->rec.work, &ag->rec.lock, &ts);
		failed = 0;
	}
	pthread_mutex_unlock(&ag->rec.lock);
	return NULL;
}

int agent_record_wait(struct agent *ag, int64_t timeout_ms)
{
	struct timespec ts;
	int64_t end = lb_mono_ms() + timeout_ms;
	int ok;

	agent_record_sync(ag); /* in case the answering worker has not got to it yet */
	lb_mono_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&ag->rec.lock);
	while (ag->rec.synced < ag->rec.appended && lb_mono_ms() < end)
		if (pthread_cond_timedwait(&ag->rec.cond, &ag->rec.lock, &ts) != 0)
			break;
	ok = ag->rec.synced >= ag->rec.appended;
	pthread_mutex_unlock(&ag->rec.lock);
	return ok ? 0 : -1;
}
