/* lockbox-agent: the module's socket. One question per connection, the peer checked with
 * SO_PEERCRED. A login the held grants allow is answered by the accepting thread itself when
 * its question is there at once (the usual case: the module sends it with its connect), so
 * the login costs one thread wake-up; everything else gets a worker thread (at most
 * AGENT_MAX_WORKERS at once). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "lockbox/daemon.h"
#include "lockbox/json.h"
#include "lockbox/jsonflat.h"
#include "lockbox/util.h"

#define AGENT_READ_MS 2000 /* a module sends its question at once */
#define AGENT_INLINE_WAIT_MS 2 /* how long the accepting thread waits for it itself */

struct worker {
	struct agent *ag;
	int fd;
	int pid;            /* the asking process (SO_PEERCRED) */
	size_t len;         /* bytes of the question read so far */
	char buf[LB_AGENT_MAX_MSG + 1];
};

int agent_socket_open(struct agent *ag, int *fdp)
{
	const char *path = ag->conf.agent_socket;
	struct sockaddr_un sa;
	struct stat st;
	char dir[sizeof(sa.sun_path)], *slash;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			lb_log(LOG_ERR, "%s: mkdir: %s", dir, strerror(errno));
			return -1;
		}
	}
	/* a stale socket from a previous run goes; anything else at the path is an error */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			lb_log(LOG_ERR, "%s exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		lb_log(LOG_ERR, "socket: %s", strerror(errno));
		return -1;
	}
	{
		/* 0600 from the start: no moment at which another user could connect */
		mode_t old = umask(0177);
		int b = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
		if (b != 0 || listen(fd, 128) != 0) {
			lb_log(LOG_ERR, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	*fdp = fd;
	return 0;
}

/* Sends the LEN bytes of S (one line, its newline included). */
static void send_line(int fd, const char *s, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t w = send(fd, s + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

static void reply(int fd, json_t *ans /* stolen */)
{
	char *s = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
	size_t n;
	json_decref(ans);
	if (!s)
		return;
	n = strlen(s);
	s[n] = '\n'; /* replaces the NUL: n + 1 bytes go out */
	send_line(fd, s, n + 1);
	free(s);
}

static json_t *error_answer(const char *why)
{
	return json_pack("{s:b,s:s}", "ok", 0, "error", why);
}

/* Reads on into W->buf without waiting: 1 when a whole line is there, 0 when more is to
 * come, -1 when the peer closed or failed or the line is too long. */
static int read_more(struct worker *w, char *why, size_t whylen)
{
	for (;;) {
		ssize_t n;
		if (memchr(w->buf, '\n', w->len))
			return 1;
		if (w->len >= sizeof(w->buf) - 1) {
			snprintf(why, whylen, "question too large");
			return -1;
		}
		n = recv(w->fd, w->buf + w->len, sizeof(w->buf) - 1 - w->len, MSG_DONTWAIT);
		if (n > 0) {
			w->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		snprintf(why, whylen, "closed before a whole question");
		return -1;
	}
}

/* The question line in W->buf, parsed. */
static json_t *question_json(struct worker *w, char *why, size_t whylen)
{
	char *nl = memchr(w->buf, '\n', w->len);
	return lb_json_parse_object(w->buf, (size_t)(nl - w->buf), why, whylen);
}

/* Reads one question line within AGENT_READ_MS. */
static json_t *read_question(struct worker *w, char *why, size_t whylen)
{
	int64_t deadline = lb_mono_ms() + AGENT_READ_MS;

	for (;;) {
		struct pollfd p = {.fd = w->fd, .events = POLLIN};
		int64_t left;
		int r = read_more(w, why, whylen);
		if (r > 0)
			return question_json(w, why, whylen);
		if (r < 0)
			return NULL;
		left = deadline - lb_mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			snprintf(why, whylen, "no question within %d ms", AGENT_READ_MS);
			return NULL;
		}
	}
}

/* A string field of at most MAX-1 bytes of clean text; NULL when absent (OPTIONAL) or bad. */
static const char *field(const json_t *q, const char *key, size_t max, int optional, int *bad)
{
	const char *s = lb_json_str(q, key);
	if (!s) {
		if (!optional || (json_object_get(q, key) && !json_is_null(json_object_get(q, key))))
			*bad = 1;
		return NULL;
	}
	if (!lb_str_clean(s) || strlen(s) >= max)
		*bad = 1;
	return s;
}

/* A login the held grants allow, decided and recorded by the agent into A (the record is
 * made durable by the syncer once the answer is out): 1, or 0 when the grants do not
 * decide it. */
static int held_grants_allow(struct agent *ag, const char *user, const char *service,
			     const char *rhost, const char *tty, int pid, struct lb_check_answer *a)
{
	char why[256];
	if (agent_sessions_can_open(ag, why, sizeof(why)) != 0 ||
	    !agent_grants_decide(ag, user, service, a) ||
	    agent_record_decision(ag, a, service, rhost, tty, pid) != 0)
		return 0;
	a->recorded = 1;
	return 1;
}

/* A string member of the flat question Q, checked as field() does; -1 when bad. */
static int flat_field(const struct lb_jflat *q, const char *key, size_t max, int optional,
		      const char **out)
{
	const struct lb_jflat_field *f = lb_jflat_get(q, key);
	*out = NULL;
	if (!f || f->type == LB_JF_NULL)
		return optional ? 0 : -1;
	if (f->type != LB_JF_STRING || !lb_str_clean(f->str) || strlen(f->str) >= max)
		return -1;
	*out = f->str;
	return 0;
}

/* A login's question. From the held grants when they allow it, else from the gateway. */
static json_t *op_check(struct agent *ag, const json_t *q, int pid)
{
	struct lb_check_answer a;
	int bad = 0;
	const char *user = field(q, "user", 256, 0, &bad);
	const char *service = field(q, "service", 64, 0, &bad);
	const char *rhost = field(q, "rhost", 256, 1, &bad);
	const char *tty = field(q, "tty", 72, 1, &bad);
	char why[256];
	int64_t budget;

	if (bad || !*user || !*service)
		return error_answer("check needs user and service as clean text");
	if (held_grants_allow(ag, user, service, rhost, tty, pid, &a))
		return lb_check_answer_json(&a);
	/* answer before the module's own deadline runs out, so it can say why */
	budget = ag->conf.timeout * 1000 - 300;
	if (budget < 500)
		budget = 500;
	if (agent_sessions_can_open(ag, why, sizeof(why)) != 0) {
		/* what would refuse the session at open refuses the login now, in account:
		 * xrdp 0.9 tells its client "login successful" before pam_open_session */
		memset(&a, 0, sizeof(a));
		snprintf(a.reason, sizeof(a.reason), "session_table_unavailable");
		snprintf(a.message, sizeof(a.message), "lockbox-agent cannot watch a new session "
			 "on this host");
		snprintf(a.error, sizeof(a.error), "%s", why);
		snprintf(a.user, sizeof(a.user), "%s", user);
		agent_host_name(ag, a.host, sizeof(a.host));
		if (lb_uuid4(a.decision_id, sizeof(a.decision_id)) != 0)
			return error_answer("no randomness for a decision id");
		lb_log(LOG_ERR, "login of %s denied: %s", user, why);
	} else {
		agent_check(ag, user, service, rhost, tty, NULL, budget, &a);
	}
	return lb_check_answer_json(&a);
}

static json_t *op_session_open(struct agent *ag, const json_t *q, int pid)
{
	char err[256];
	if (agent_session_open(ag, q, pid, err, sizeof(err)) != 0)
		return error_answer(err);
	return json_pack("{s:b}", "ok", 1);
}

static json_t *op_session_close(struct agent *ag, const json_t *q)
{
	const char *id = lb_json_str(q, "session");
	if (!id || !lb_uuid_valid(id))
		return error_answer("session_close needs a session id");
	return json_pack("{s:b,s:b}", "ok", 1, "known", agent_session_close(ag, id) == 0);
}

/* "gateway_url" is the gateway in use (the last that answered, or the next to try), and
 * "gateway_urls" every one configured, in config order. */
static json_t *op_status(struct agent *ag)
{
	char host[256];
	json_t *urls = json_array();
	agent_host_name(ag, host, sizeof(host));
	for (size_t i = 0; urls && i < ag->conf.gateways.n; i++)
		json_array_append_new(urls, json_string(ag->conf.gateways.url[i]));
	return json_pack("{s:b,s:s,s:s,s:o,s:b,s:I,s:o,s:o}", "ok", 1, "host", host,
			 "gateway_url", lb_gwlist_current(&ag->conf.gateways), "gateway_urls",
			 urls ? urls : json_array(), "gateway_ok", (int)ag->gateway_ok,
			 "change_version", (json_int_t)ag->change_version, "grants",
			 agent_grants_json(ag), "sessions", agent_sessions_json(ag));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct agent *ag = w->ag;
	char why[256];
	json_t *q, *ans;
	const char *op;

	q = read_question(w, why, sizeof(why));
	if (!q) {
		reply(w->fd, error_answer(why));
		goto out;
	}
	op = lb_json_str(q, "op");
	if (!op)
		ans = error_answer("no op");
	else if (strcmp(op, "check") == 0)
		ans = op_check(ag, q, w->pid);
	else if (strcmp(op, "session_open") == 0)
		ans = op_session_open(ag, q, w->pid);
	else if (strcmp(op, "session_close") == 0)
		ans = op_session_close(ag, q);
	else if (strcmp(op, "status") == 0)
		ans = op_status(ag);
	else
		ans = error_answer("unknown op");
	reply(w->fd, ans);
	agent_record_kick(ag); /* a decision of ours, if any, becomes durable now */
out:
	json_decref(q);
	close(w->fd);
	free(w);
	ag->workers--;
	return NULL;
}

/* The accepting thread's own answer, for a check the held grants allow whose question is
 * there already: 1 answered, 0 for a worker to do (nothing has been sent). Read with the flat
 * reader and answered with the flat writer: this is every covered login's path. */
static int answer_inline(struct worker *w)
{
	char why[256], copy[LB_AGENT_MAX_MSG + 1], ans[LB_AGENT_MAX_MSG + 1];
	const char *op, *user, *service, *rhost, *tty;
	struct lb_check_answer a;
	struct lb_jflat q;
	size_t n;
	long len;
	int r = read_more(w, why, sizeof(why));

	if (r == 0) {
		/* the module sends its question right after connecting: wait for it a little
		 * (bounded: a slow asker goes to a worker, and holds up the others at most this) */
		struct pollfd p = {.fd = w->fd, .events = POLLIN};
		if (poll(&p, 1, AGENT_INLINE_WAIT_MS) == 1)
			r = read_more(w, why, sizeof(why));
	}
	if (r != 1)
		return 0;
	/* a copy: the reader decodes in place, and a worker may need the question as it came */
	n = (size_t)((char *)memchr(w->buf, '\n', w->len) - w->buf);
	memcpy(copy, w->buf, n);
	if (lb_jflat_parse(copy, n, &q, why, sizeof(why)) != 0 || !(op = lb_jflat_str(&q, "op")) ||
	    strcmp(op, "check") != 0 || flat_field(&q, "user", 256, 0, &user) != 0 ||
	    flat_field(&q, "service", 64, 0, &service) != 0 ||
	    flat_field(&q, "rhost", 256, 1, &rhost) != 0 ||
	    flat_field(&q, "tty", 72, 1, &tty) != 0 || !*user || !*service ||
	    !held_grants_allow(w->ag, user, service, rhost, tty, w->pid, &a))
		return 0;
	len = lb_check_answer_line(&a, ans, sizeof(ans) - 1);
	if (len < 0) {
		/* cannot happen with the sizes above; the decision is recorded, say so plainly */
		reply(w->fd, error_answer("the answer does not fit"));
	} else {
		ans[len] = '\n';
		send_line(w->fd, ans, (size_t)len + 1);
	}
	agent_record_kick(w->ag);
	return 1;
}

void *agent_accept_thread(void *arg)
{
	const struct agent_listener *l = arg;
	struct agent *ag = l->ag;
	int lfd = l->fd;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	while (!ag->stopping) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		struct worker *w;
		pthread_t t;
		unsigned uid = (unsigned)-1;
		int fd;

		if (poll(&p, 1, 250) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (!(w = malloc(sizeof(*w)))) {
			close(fd);
			continue;
		}
		w->ag = ag;
		w->fd = fd;
		w->len = 0;
		if (lb_agent_peer(fd, &uid, &w->pid) != 0 || (uid != 0 && uid != (unsigned)geteuid())) {
			lb_log(LOG_WARNING, "refused a question from uid %u (only root may ask)", uid);
			close(fd);
			free(w);
			continue;
		}
		if (answer_inline(w)) {
			close(fd);
			free(w);
			continue;
		}
		/* too many at once: closing answers "no answer", which the module denies */
		if (ag->workers >= AGENT_MAX_WORKERS) {
			lb_log(LOG_WARNING, "too many questions at once; one refused");
			close(fd);
			free(w);
			continue;
		}
		ag->workers++;
		if (pthread_create(&t, &attr, worker_main, w) != 0) {
			ag->workers--;
			close(fd);
			free(w);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}
