/* lockbox-agent: the live-session table. Each gated session is registered by the module at
 * session open; the table is kept durably in STATE_DIR/sessions.json (rewritten atomically at
 * every change), so a restart or a crash forgets none. One thread watches it: a notice
 * warn_before the grant's end, a re-check with the gateway just before it and whenever the
 * gateway signals a change, and at the end (or on a deny): a notice on the session's
 * terminals, SIGTERM to its processes, SIGKILL after kill_grace, session.terminate and (when
 * the module could not say it) session.end. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_proc.h"
#include "lockbox/auditlog.h"
#include "lockbox/daemon.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define PRECHECK_MS 1500   /* re-ask the gateway this long before a grant's end */
#define TICK_MS 250        /* the longest the thread sleeps while sessions live */
/* between the notice and SIGTERM: sshd must read the notice from the terminal and send it
 * to the client before SIGTERM makes it exit (it does not drain the pty on SIGTERM) */
#define NOTICE_MS 250

static void state_path(struct agent *ag, char *out, size_t len)
{
	snprintf(out, len, "%s/sessions.json", ag->state_dir);
}

static json_t *session_json(const struct agent_session *s)
{
	char gend[LB_TIME_BUFLEN];
	json_t *procs = json_array();
	json_t *o;

	lb_time_format(s->grant_end_ms, gend, sizeof(gend));
	for (size_t i = 0; i < s->nprocs; i++)
		json_array_append_new(procs, json_pack("[i,I]", s->procs[i].pid,
						       (json_int_t)s->procs[i].start));
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:i,s:I,s:s,s:b,s:b,s:b,s:I,s:s,s:b,s:b,s:o}",
		      "session", s->id, "user", s->user, "service", s->service, "rhost", s->rhost,
		      "tty", s->tty, "request", s->request, "decision_id", s->decision_id, "pid",
		      s->leader.pid, "pid_start", (json_int_t)s->leader.start, "spare_sid",
		      s->spare_sid, "started_ms", (json_int_t)s->started_ms, "grant_expires_at",
		      gend, "warned", s->warned, "closed", s->closed, "prechecked", s->prechecked,
		      "term_ms", (json_int_t)s->term_ms, "term_reason", s->term_reason, "termed",
		      s->termed, "killed", s->killed, "procs", procs);
	if (o) {
		json_object_set_new(o, "session_tty", json_string(s->session_tty));
		json_object_set_new(o, "access", json_string(s->access));
	}
	return o;
}

static void copy_str(char *dst, size_t len, const json_t *o, const char *key)
{
	const char *v = lb_json_str(o, key);
	snprintf(dst, len, "%s", v && lb_str_clean(v) ? v : "");
}

static int session_from_json(const json_t *o, struct agent_session *s)
{
	json_t *procs = json_object_get(o, "procs"), *p;
	size_t i;

	memset(s, 0, sizeof(*s));
	copy_str(s->id, sizeof(s->id), o, "session");
	if (!lb_uuid_valid(s->id) || !lb_json_str(o, "grant_expires_at") ||
	    lb_time_parse(lb_json_str(o, "grant_expires_at"), &s->grant_end_ms) != 0)
		return -1;
	copy_str(s->user, sizeof(s->user), o, "user");
	copy_str(s->service, sizeof(s->service), o, "service");
	copy_str(s->rhost, sizeof(s->rhost), o, "rhost");
	copy_str(s->tty, sizeof(s->tty), o, "tty");
	copy_str(s->session_tty, sizeof(s->session_tty), o, "session_tty");
	copy_str(s->access, sizeof(s->access), o, "access");
	copy_str(s->request, sizeof(s->request), o, "request");
	copy_str(s->decision_id, sizeof(s->decision_id), o, "decision_id");
	copy_str(s->term_reason, sizeof(s->term_reason), o, "term_reason");
	s->leader.pid = (int)json_integer_value(json_object_get(o, "pid"));
	s->leader.start = (unsigned long long)json_integer_value(json_object_get(o, "pid_start"));
	s->spare_sid = (int)json_integer_value(json_object_get(o, "spare_sid"));
	s->started_ms = json_integer_value(json_object_get(o, "started_ms"));
	s->warned = json_is_true(json_object_get(o, "warned"));
	s->closed = json_is_true(json_object_get(o, "closed"));
	s->prechecked = json_is_true(json_object_get(o, "prechecked"));
	s->term_ms = json_integer_value(json_object_get(o, "term_ms"));
	s->termed = json_is_true(json_object_get(o, "termed"));
	s->killed = json_is_true(json_object_get(o, "killed"));
	json_array_foreach(procs, i, p) {
		if (s->nprocs >= AGENT_MAX_PIDS)
			break;
		s->procs[s->nprocs].pid = (int)json_integer_value(json_array_get(p, 0));
		s->procs[s->nprocs].start = (unsigned long long)json_integer_value(json_array_get(p, 1));
		s->nprocs++;
	}
	return s->leader.pid > 1 ? 0 : -1;
}

/* Rewrites the table (temp file, rename: a reader sees the old table or the new one, never
 * half of one). No fsync: the table must outlive the agent (a crash, a restart), which the
 * page cache gives; it need not outlive the machine, since a crash of the machine ends every
 * session in it. A login thus waits for no disk flush of the agent's. Under ag->lock. */
static int persist(struct agent *ag)
{
	char path[4096], tmp[4200];
	json_t *arr = json_array(), *doc;
	char *text;
	int fd, rc = -1;

	for (size_t i = 0; i < ag->nsessions; i++)
		json_array_append_new(arr, session_json(&ag->sessions[i]));
	doc = json_pack("{s:i,s:o}", "version", 1, "sessions", arr);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text)
		goto out;
	state_path(ag, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		goto out;
	if (write(fd, text, strlen(text)) == (ssize_t)strlen(text)) {
		if (close(fd) == 0 && rename(tmp, path) == 0)
			rc = 0;
	} else {
		close(fd);
	}
out:
	if (rc != 0)
		lb_log(LOG_ERR, "%s: cannot save the session table: %s", ag->state_dir,
		       strerror(errno));
	ag->persist_failed = rc != 0;
	ag->persist_ms = lb_mono_ms();
	free(text);
	return rc;
}

/* lb_auditlog_foreach callback: a session.end in the local log for a session of the table. */
static int note_end(const json_t *ev, int delivered, void *arg)
{
	struct agent *ag = arg;
	const char *type = lb_json_str(ev, "type");
	const char *sid = lb_json_str(json_object_get(ev, "details"), "session");

	(void)delivered;
	if (!type || strcmp(type, "session.end") != 0 || !sid)
		return 0;
	for (size_t i = 0; i < ag->nsessions; i++)
		if (strcmp(ag->sessions[i].id, sid) == 0)
			ag->sessions[i].closed = 1;
	return 0;
}

int agent_sessions_load(struct agent *ag)
{
	char path[4096], why[256];
	json_t *doc, *arr, *o;
	size_t i;

	pthread_mutex_init(&ag->lock, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&ag->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (mkdir(ag->state_dir, 0700) != 0 && errno != EEXIST) {
		lb_log(LOG_ERR, "%s: mkdir: %s", ag->state_dir, strerror(errno));
		return -1;
	}
	ag->sessions = calloc(AGENT_MAX_SESSIONS, sizeof(*ag->sessions));
	if (!ag->sessions)
		return -1;
	state_path(ag, path, sizeof(path));
	doc = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
	if (!doc) {
		if (access(path, F_OK) == 0)
			lb_log(LOG_ERR, "%s: unreadable session table; starting empty", path);
		return persist(ag);
	}
	arr = json_object_get(doc, "sessions");
	json_array_foreach(arr, i, o) {
		if (ag->nsessions >= AGENT_MAX_SESSIONS)
			break;
		if (session_from_json(o, &ag->sessions[ag->nsessions]) == 0)
			ag->nsessions++;
		else
			lb_log(LOG_WARNING, "%s: entry %zu malformed, skipped", path, i);
	}
	json_decref(doc);
	/* a session that closed while we were down: the module wrote its session.end but could
	 * not tell us, so it counts as closed (finish() must not write a second one) */
	if (ag->nsessions > 0 &&
	    lb_auditlog_foreach(ag->conf.audit_log, note_end, ag, why, sizeof(why)) != LB_AUDITLOG_OK)
		lb_log(LOG_WARNING, "%s: %s", ag->conf.audit_log, why);
	lb_log(LOG_INFO, "%zu live session(s) reloaded from %s", ag->nsessions, path);
	/* what changed while we were away is only known by asking */
	ag->recheck_all = 1;
	return 0;
}

static struct agent_session *find(struct agent *ag, const char *id)
{
	for (size_t i = 0; i < ag->nsessions; i++)
		if (strcmp(ag->sessions[i].id, id) == 0)
			return &ag->sessions[i];
	return NULL;
}

static void drop(struct agent *ag, struct agent_session *s)
{
	size_t i = (size_t)(s - ag->sessions);
	memmove(s, s + 1, (ag->nsessions - i - 1) * sizeof(*s));
	ag->nsessions--;
}

static json_t *base_details(const struct agent_session *s)
{
	json_t *d = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:i,s:s}", "session", s->id, "user",
			      s->user, "service", s->service, "rhost", s->rhost[0] ? s->rhost : NULL,
			      "tty", s->tty[0] ? s->tty : NULL, "pid", s->leader.pid, "decision_id",
			      s->decision_id);
	/* the same fields as the module's session events */
	if (d && s->session_tty[0])
		json_object_set_new(d, "session_tty", json_string(s->session_tty));
	if (d && s->access[0])
		json_object_set_new(d, "access", json_string(s->access));
	return d;
}

int agent_session_open(struct agent *ag, const json_t *q, int pid, char *err, size_t errlen)
{
	struct agent_session s;
	struct agent_procinfo me, parent;
	const char *id = lb_json_str(q, "session"), *gexp = lb_json_str(q, "grant_expires_at");
	int rc = -1, covered;

	memset(&s, 0, sizeof(s));
	if (!id || !lb_uuid_valid(id) || !lb_json_str(q, "user") || !lb_json_str(q, "service")) {
		snprintf(err, errlen, "session_open needs session (a UUID), user and service");
		return -1;
	}
	if (!gexp || lb_time_parse(gexp, &s.grant_end_ms) != 0) {
		snprintf(err, errlen, "session_open needs the grant's end (grant_expires_at)");
		return -1;
	}
	if (s.grant_end_ms <= lb_time_now_ms()) {
		snprintf(err, errlen, "the grant has already ended");
		return -1;
	}
	/* the decisions the agent made itself are durable before any session they open */
	if (agent_record_wait(ag, 3000) != 0) {
		snprintf(err, errlen, "the agent's record of the decision is not durable (the local "
			 "audit log cannot be synced)");
		return -1;
	}
	if (pid <= 1 || agent_proc_stat(pid, &me) != 0) {
		snprintf(err, errlen, "cannot read the calling process (pid %d)", pid);
		return -1;
	}
	snprintf(s.id, sizeof(s.id), "%s", id);
	copy_str(s.user, sizeof(s.user), q, "user");
	copy_str(s.service, sizeof(s.service), q, "service");
	copy_str(s.rhost, sizeof(s.rhost), q, "rhost");
	copy_str(s.tty, sizeof(s.tty), q, "tty");
	copy_str(s.session_tty, sizeof(s.session_tty), q, "session_tty");
	copy_str(s.access, sizeof(s.access), q, "access");
	copy_str(s.request, sizeof(s.request), q, "request");
	copy_str(s.decision_id, sizeof(s.decision_id), q, "decision_id");
	s.leader.pid = pid;
	s.leader.start = me.start;
	s.spare_sid = agent_proc_stat(me.ppid, &parent) == 0 ? parent.sid : me.sid;
	if (s.spare_sid == me.sid && me.sid == pid)
		s.spare_sid = 0; /* the leader leads its own login session: it is the session */
	s.started_ms = lb_time_now_ms();

	pthread_mutex_lock(&ag->lock);
	if (find(ag, s.id)) {
		snprintf(err, errlen, "session %s is already registered", s.id);
	} else if (ag->nsessions >= AGENT_MAX_SESSIONS) {
		snprintf(err, errlen, "too many live sessions (%d)", AGENT_MAX_SESSIONS);
	} else {
		ag->sessions[ag->nsessions++] = s;
		if (persist(ag) == 0) {
			rc = 0;
			pthread_cond_signal(&ag->wake);
		} else {
			ag->nsessions--; /* not durable: refuse, so no session runs unwatched */
			snprintf(err, errlen, "cannot save the session table");
		}
	}
	pthread_mutex_unlock(&ag->lock);
	if (rc != 0)
		return rc;
	lb_log(LOG_INFO, "session %s of %s (pid %d) registered, grant ends %s", s.id, s.user,
	       pid, gexp);
	/* The decision came before this (the account phase); a change signalled in between
	 * (a revoke) was re-checked against the table without this session. So ask again now
	 * when the grants fetched after the last change do not hold its request, or, with no
	 * current grants to look at, when a change came lately. */
	covered = agent_grants_covers(ag, s.user, s.request);
	if (covered == 0 ||
	    (covered < 0 && ag->last_change_ms && lb_mono_ms() - ag->last_change_ms < 120000))
		agent_sessions_recheck_all(ag);
	return 0;
}

int agent_sessions_can_open(struct agent *ag, char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&ag->lock);
	if (ag->nsessions >= AGENT_MAX_SESSIONS) {
		snprintf(err, errlen, "too many live sessions (%d)", AGENT_MAX_SESSIONS);
		rc = -1;
	} else if ((ag->persist_failed || lb_mono_ms() - ag->persist_ms > AGENT_PERSIST_PROBE_MS) &&
		   persist(ag) != 0) {
		/* the table is rewritten at every change; between changes, a login tries it
		 * at most once per AGENT_PERSIST_PROBE_MS, and at once after a failure */
		snprintf(err, errlen, "cannot save the session table in %s", ag->state_dir);
		rc = -1;
	}
	pthread_mutex_unlock(&ag->lock);
	return rc;
}

int agent_session_close(struct agent *ag, const char *id)
{
	struct agent_session *s;
	int rc = -1;

	pthread_mutex_lock(&ag->lock);
	s = find(ag, id);
	if (s) {
		rc = 0;
		if (s->term_ms) {
			s->closed = 1; /* ending it goes on: its processes may outlive the close */
		} else {
			drop(ag, s);
		}
		persist(ag);
		pthread_cond_signal(&ag->wake);
	}
	pthread_mutex_unlock(&ag->lock);
	return rc;
}

json_t *agent_sessions_json(struct agent *ag)
{
	json_t *arr = json_array();
	pthread_mutex_lock(&ag->lock);
	for (size_t i = 0; i < ag->nsessions; i++)
		json_array_append_new(arr, session_json(&ag->sessions[i]));
	pthread_mutex_unlock(&ag->lock);
	return arr;
}

void agent_sessions_recheck_all(struct agent *ag)
{
	pthread_mutex_lock(&ag->lock);
	ag->recheck_all = 1;
	pthread_cond_signal(&ag->wake);
	pthread_mutex_unlock(&ag->lock);
}

/* ---- ending a session ---- */

/* Writes TEXT on the session's terminals; returns how many. */
static size_t notice(struct agent_session *s, const char *text)
{
	struct agent_procinfo procs[AGENT_MAX_PIDS];
	char ttys[16][64];
	size_t n = agent_proc_tree(s->leader.pid, s->leader.start, s->spare_sid, procs,
				   AGENT_MAX_PIDS);
	size_t nt = agent_proc_terminals(procs, n, ttys, 16);
	for (size_t i = 0; i < nt; i++)
		agent_proc_notice(ttys[i], text);
	return nt;
}

/* Adds the processes of the session's tree now alive to the set ending with it. */
static void track(struct agent_session *s)
{
	struct agent_procinfo procs[AGENT_MAX_PIDS];
	size_t n = agent_proc_tree(s->leader.pid, s->leader.start, s->spare_sid, procs,
				   AGENT_MAX_PIDS);
	for (size_t i = 0; i < n; i++) {
		int dup = 0;
		for (size_t j = 0; j < s->nprocs; j++)
			dup |= s->procs[j].pid == procs[i].pid && s->procs[j].start == procs[i].start;
		if (!dup && s->nprocs < AGENT_MAX_PIDS) {
			s->procs[s->nprocs].pid = procs[i].pid;
			s->procs[s->nprocs].start = procs[i].start;
			s->nprocs++;
		}
	}
}

static size_t signal_all(struct agent_session *s, int sig)
{
	size_t sent = 0;
	for (size_t i = 0; i < s->nprocs; i++)
		if (agent_proc_signal(s->procs[i].pid, s->procs[i].start, sig) == 0)
			sent++;
	return sent;
}

static int any_alive(const struct agent_session *s)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (agent_proc_alive(s->procs[i].pid, s->procs[i].start))
			return 1;
	return agent_proc_alive(s->leader.pid, s->leader.start);
}

static const char *reason_text(const char *reason)
{
	if (!strcmp(reason, "grant_ended"))
		return "the grant of its lockbox request has ended";
	if (!strcmp(reason, "revoked"))
		return "its lockbox request was revoked";
	if (!strcmp(reason, "host_disabled"))
		return "this host was disabled in lockbox";
	if (!strcmp(reason, "user_disabled"))
		return "your lockbox user was disabled";
	if (!strcmp(reason, "not_engineer"))
		return "you no longer hold the engineer role";
	if (!strcmp(reason, "no_elevation") || !strcmp(reason, "elevation_after_approval"))
		return "your elevation has ended";
	return "lockbox no longer allows it";
}

/* Under ag->lock. */
static void start_terminate(struct agent *ag, struct agent_session *s, const char *reason)
{
	char text[512];
	json_t *d;

	snprintf(s->term_reason, sizeof(s->term_reason), "%s", reason);
	track(s);
	snprintf(text, sizeof(text),
		 "\r\n\a*** lockbox: this session is being closed: %s (reason %s). ***\r\n",
		 reason_text(reason), reason);
	/* SIGTERM: sweep(), once due (at once for a session without a terminal) */
	s->term_ms = lb_time_now_ms() + (notice(s, text) ? NOTICE_MS : 0);
	d = base_details(s);
	if (d) {
		json_object_set_new(d, "reason", json_string(reason));
		json_object_set_new(d, "kill_grace", json_integer(ag->conf.kill_grace));
	}
	agent_event(ag, "session.terminate", NULL, s->user, s->request, d, 0);
	persist(ag);
	pthread_cond_signal(&ag->wake); /* a re-check's deny: the sweep sends SIGTERM when due */
}

/* The notice had its time: SIGTERM to the tree (and logind's TerminateSession). Under
 * ag->lock. */
static void send_term(struct agent *ag, struct agent_session *s)
{
	/* logind's TerminateSession is a D-Bus call: made after the lock is released */
	if (ag->nlogind < AGENT_MAX_LOGIND)
		ag->logind[ag->nlogind++] = s->leader.pid;
	signal_all(s, SIGTERM);
	s->termed = 1;
	persist(ag);
	lb_log(LOG_NOTICE, "session %s of %s: %s, SIGTERM sent to %zu process(es)", s->id,
	       s->user, s->term_reason, s->nprocs);
}

static void warn(struct agent *ag, struct agent_session *s, int64_t now)
{
	char text[1024], when[LB_TIME_BUFLEN], left[32], host[256];
	json_t *d;

	s->warned = 1;
	lb_time_format(s->grant_end_ms, when, sizeof(when));
	lb_duration_format((s->grant_end_ms - now + 999) / 1000, left, sizeof(left));
	agent_host_name(ag, host, sizeof(host));
	snprintf(text, sizeof(text),
		 "\r\n\a*** lockbox: your access to %s ends at %s (in %s), when the grant of "
		 "request %s ends; this session will then be closed. To keep access, ask for an "
		 "extension: lockboxctl request extend %s --reason TEXT ***\r\n",
		 host[0] ? host : "this host", when, left, s->request, s->request);
	notice(s, text);
	d = base_details(s);
	if (d)
		json_object_set_new(d, "grant_expires_at", json_string(when));
	agent_event(ag, "session.warn", NULL, s->user, s->request, d, 0);
	persist(ag);
}

/* The session's processes are gone: a session.end unless the module wrote one. */
static void finish(struct agent *ag, struct agent_session *s, const char *why)
{
	if (!s->closed) {
		json_t *d = base_details(s);
		if (d) {
			json_object_set_new(d, "reason", json_string(why));
			if (s->term_reason[0])
				json_object_set_new(d, "terminated", json_string(s->term_reason));
		}
		agent_event(ag, "session.end", NULL, s->user, s->request, d, 0);
	}
	lb_log(LOG_INFO, "session %s of %s ended (%s)", s->id, s->user, why);
	drop(ag, s);
	persist(ag);
}

/* ---- the watching thread ---- */

struct recheck {
	char id[40];
	char user[256], service[64], rhost[256], tty[72];
};

/* One pass over the table under the lock; collects the sessions to re-check and returns
 * how long to sleep. */
static int64_t sweep(struct agent *ag, struct recheck *rc, size_t *nrc, size_t maxrc)
{
	int64_t now = lb_time_now_ms(), sleep_ms = 60000;
	/* one batch of re-checks at a time; a signal during it is kept for the next one */
	int all = ag->recheck_all && !ag->recheck_running;

	if (all)
		ag->recheck_all = 0;
	for (size_t i = 0; i < ag->nsessions;) {
		struct agent_session *s = &ag->sessions[i];
		int64_t next = 60000;
		if (!s->term_ms) {
			int64_t warn_at = s->grant_end_ms - ag->conf.warn_before * 1000;
			if (!agent_proc_alive(s->leader.pid, s->leader.start)) {
				finish(ag, s, "process_exited");
				continue; /* the entry at I is the next one now */
			}
			if (now >= s->grant_end_ms) {
				start_terminate(ag, s, "grant_ended");
			} else {
				if (!s->warned && ag->conf.warn_before > 0 && now >= warn_at)
					warn(ag, s, now);
				if ((all || (!s->prechecked && now >= s->grant_end_ms - PRECHECK_MS)) &&
				    !ag->recheck_running && *nrc < maxrc) {
					struct recheck *r = &rc[(*nrc)++];
					s->prechecked |= now >= s->grant_end_ms - PRECHECK_MS;
					snprintf(r->id, sizeof(r->id), "%s", s->id);
					snprintf(r->user, sizeof(r->user), "%s", s->user);
					snprintf(r->service, sizeof(r->service), "%s", s->service);
					snprintf(r->rhost, sizeof(r->rhost), "%s", s->rhost);
					snprintf(r->tty, sizeof(r->tty), "%s", s->tty);
				}
				next = s->grant_end_ms - now;
				if (!s->prechecked && s->grant_end_ms - PRECHECK_MS - now < next)
					next = s->grant_end_ms - PRECHECK_MS - now;
				if (!s->warned && ag->conf.warn_before > 0 && warn_at - now < next)
					next = warn_at - now;
				/* a session whose module never closes it (SIGKILLed sshd) */
				if (next > 1000)
					next = 1000;
			}
		}
		if (s->term_ms) {
			if (agent_proc_alive(s->leader.pid, s->leader.start))
				track(s); /* what it forked since */
			if (!s->termed && lb_time_now_ms() >= s->term_ms)
				send_term(ag, s);
			if (!s->killed && now >= s->term_ms + ag->conf.kill_grace * 1000) {
				size_t n = signal_all(s, SIGKILL);
				s->killed = 1;
				persist(ag);
				if (n)
					lb_log(LOG_NOTICE, "session %s: SIGKILL sent to %zu process(es)",
					       s->id, n);
			}
			if (!any_alive(s)) {
				finish(ag, s, "terminated");
				continue;
			}
			next = TICK_MS / 2;
			if (!s->termed && s->term_ms - now < next)
				next = s->term_ms - now;
		}
		if (next < sleep_ms)
			sleep_ms = next;
		i++;
	}
	return sleep_ms < 10 ? 10 : sleep_ms;
}

static void recheck(struct agent *ag, const struct recheck *r)
{
	struct lb_check_answer a;
	struct agent_session *s;
	int64_t gend;

	agent_check(ag, r->user, r->service, r->rhost, r->tty, r->id, ag->conf.timeout * 1000, &a);
	if (a.at_gateway) {
		json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s}", "user", r->user, "service",
				      r->service, "decision", a.allow ? "allow" : "deny", "reason",
				      a.reason, "session", r->id);
		if (d && a.grant_expires_at[0])
			json_object_set_new(d, "grant_expires_at", json_string(a.grant_expires_at));
		agent_event(ag, a.allow ? "access.check.allow" : "access.check.deny",
			    a.decision_id, r->user, a.request, d, 1);
	}
	pthread_mutex_lock(&ag->lock);
	s = find(ag, r->id);
	if (!s || s->term_ms) {
		pthread_mutex_unlock(&ag->lock);
		return;
	}
	if (!a.at_gateway) {
		/* no decision: the session keeps the grant it has, and its end still holds */
		lb_log(LOG_WARNING, "re-check of session %s: %s", r->id, a.error);
	} else if (!a.allow) {
		start_terminate(ag, s, a.reason);
	} else if (lb_time_parse(a.grant_expires_at, &gend) == 0 && gend > s->grant_end_ms) {
		/* an extension or another grant covers it for longer; its events keep naming the
		 * request it was opened under, as the module's session.end does */
		s->grant_end_ms = gend;
		s->warned = 0;
		s->prechecked = 0;
		persist(ag);
	}
	pthread_mutex_unlock(&ag->lock);
}

struct recheck_batch {
	struct agent *ag;
	struct recheck *v;
	size_t n;
};

/* Re-checks ask the gateway (up to `timeout` each): they run on a thread of their own, so
 * the sweep goes on ending sessions at their grant's end meanwhile. */
static void *recheck_thread(void *arg)
{
	struct recheck_batch *b = arg;
	struct agent *ag = b->ag;

	for (size_t i = 0; i < b->n && !ag->stopping; i++)
		recheck(ag, &b->v[i]);
	pthread_mutex_lock(&ag->lock);
	ag->recheck_running = 0;
	pthread_cond_signal(&ag->wake);
	pthread_mutex_unlock(&ag->lock);
	free(b->v);
	free(b);
	return NULL;
}

static void start_rechecks(struct agent *ag, struct recheck *rc, size_t n)
{
	struct recheck_batch *b = malloc(sizeof(*b));
	pthread_attr_t attr;
	pthread_t t;

	if (b && (b->v = malloc(n * sizeof(*rc)))) {
		memcpy(b->v, rc, n * sizeof(*rc));
		b->ag = ag;
		b->n = n;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, recheck_thread, b) == 0) {
			pthread_attr_destroy(&attr);
			return;
		}
		pthread_attr_destroy(&attr);
		free(b->v);
	}
	free(b);
	/* no thread: the batch is lost, so ask again at the next sweep */
	lb_log(LOG_ERR, "cannot start a re-check thread; retrying");
	pthread_mutex_lock(&ag->lock);
	ag->recheck_running = 0;
	ag->recheck_all = 1;
	pthread_mutex_unlock(&ag->lock);
}

void *agent_sessions_thread(void *arg)
{
	struct agent *ag = arg;
	struct recheck *rc = calloc(AGENT_MAX_SESSIONS, sizeof(*rc));
	int logind[AGENT_MAX_LOGIND];

	if (!rc) {
		lb_log(LOG_ERR, "session watcher: out of memory");
		return NULL;
	}
	while (!ag->stopping) {
		struct timespec ts;
		size_t nrc = 0, nlogind;
		int64_t sleep_ms;

		pthread_mutex_lock(&ag->lock);
		sleep_ms = sweep(ag, rc, &nrc, AGENT_MAX_SESSIONS);
		if (nrc)
			ag->recheck_running = 1;
		nlogind = ag->nlogind;
		memcpy(logind, ag->logind, nlogind * sizeof(int));
		ag->nlogind = 0;
		if (nrc == 0 && nlogind == 0 && !(ag->recheck_all && !ag->recheck_running)) {
			lb_mono_deadline(&ts, sleep_ms);
			pthread_cond_timedwait(&ag->wake, &ag->lock, &ts);
		}
		pthread_mutex_unlock(&ag->lock);
		for (size_t i = 0; i < nlogind; i++) {
			char name[64];
			if (agent_logind_terminate(logind[i], name, sizeof(name)) == 0)
				lb_log(LOG_NOTICE, "logind session %s of pid %d terminated", name,
				       logind[i]);
		}
		if (nrc)
			start_rechecks(ag, rc, nrc);
	}
	free(rc);
	return NULL;
}
