/* lockbox: the module <-> agent socket protocol (see include/lockbox/agentproto.h). This runs
 * inside sshd and xrdp-sesman: one deadline, close-on-exec fds, MSG_NOSIGNAL, no signals. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lockbox/agentproto.h"
#include "lockbox/escape.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

const char *lb_agent_strerror(enum lb_agent_result r)
{
	switch (r) {
	case LB_AGENT_OK:
		return "ok";
	case LB_AGENT_ERR_CONNECT:
		return "cannot connect to lockbox-agent";
	case LB_AGENT_ERR_PEER:
		return "the agent socket is not served by root";
	case LB_AGENT_ERR_TIMEOUT:
		return "lockbox-agent did not answer in time";
	case LB_AGENT_ERR_PROTOCOL:
		return "lockbox-agent answered garbage";
	case LB_AGENT_ERR_INTERNAL:
		return "internal error";
	}
	return "unknown error";
}

int lb_agent_peer(int fd, unsigned *uid, int *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof(cr))
		return -1;
	if (uid)
		*uid = (unsigned)cr.uid;
	if (pid)
		*pid = (int)cr.pid;
	return 0;
}

/* Waits for EVENTS on FD until DEADLINE (monotonic ms): 0 ready, -1 timeout or error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - lb_mono_ms();
		int n;
		if (left <= 0)
			return -1;
		n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static enum lb_agent_result fail(enum lb_agent_result r, char *err, size_t errlen,
				 const char *what, int e)
{
	if (e)
		snprintf(err, errlen, "%s: %s: %s", lb_agent_strerror(r), what, strerror(e));
	else
		snprintf(err, errlen, "%s: %s", lb_agent_strerror(r), what);
	return r;
}

static enum lb_agent_result connect_agent(const char *path, int64_t deadline, int *fdp,
					  char *err, size_t errlen)
{
	struct sockaddr_un sa;
	unsigned uid;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(LB_AGENT_ERR_CONNECT, err, errlen, "socket path too long", 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(LB_AGENT_ERR_INTERNAL, err, errlen, "socket", errno);
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		if (e == EINTR)
			continue;
		/* a full listen backlog: wait for room within the deadline */
		if ((e == EAGAIN || e == EINPROGRESS) && wait_fd(fd, POLLOUT, deadline) == 0) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
				break;
			e = soerr ? soerr : e;
		} else if (e == EAGAIN || e == EINPROGRESS) {
			close(fd);
			return fail(LB_AGENT_ERR_TIMEOUT, err, errlen, "connect", 0);
		}
		close(fd);
		return fail(LB_AGENT_ERR_CONNECT, err, errlen, path, e);
	}
	if (lb_agent_peer(fd, &uid, NULL) != 0) {
		close(fd);
		return fail(LB_AGENT_ERR_PEER, err, errlen, "SO_PEERCRED", errno);
	}
	if (uid != 0 && uid != (unsigned)geteuid()) {
		char why[64];
		close(fd);
		snprintf(why, sizeof(why), "peer uid %u", uid);
		return fail(LB_AGENT_ERR_PEER, err, errlen, why, 0);
	}
	*fdp = fd;
	return LB_AGENT_OK;
}

static enum lb_agent_result send_all(int fd, const char *buf, size_t len, int64_t deadline,
				     char *err, size_t errlen)
{
	size_t off = 0;
	while (off < len) {
		ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLOUT, deadline) != 0)
				return fail(LB_AGENT_ERR_TIMEOUT, err, errlen, "send", 0);
			continue;
		}
		return fail(LB_AGENT_ERR_CONNECT, err, errlen, "send", errno);
	}
	return LB_AGENT_OK;
}

/* Reads one line (without '\n') into BUF; a line over CAP-1 bytes is a protocol error. */
static enum lb_agent_result read_line(int fd, char *buf, size_t cap, size_t *lenp,
				      int64_t deadline, char *err, size_t errlen)
{
	size_t len = 0;
	for (;;) {
		ssize_t n;
		char *nl;
		if (len >= cap - 1)
			return fail(LB_AGENT_ERR_PROTOCOL, err, errlen, "answer too large", 0);
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n > 0) {
			nl = memchr(buf + len, '\n', (size_t)n);
			len += (size_t)n;
			if (nl) {
				*nl = '\0';
				*lenp = (size_t)(nl - buf);
				return LB_AGENT_OK;
			}
			continue;
		}
		if (n == 0)
			return fail(LB_AGENT_ERR_PROTOCOL, err, errlen, "the agent closed before answering",
				    0);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return fail(LB_AGENT_ERR_CONNECT, err, errlen, "recv", errno);
		if (wait_fd(fd, POLLIN, deadline) != 0)
			return fail(LB_AGENT_ERR_TIMEOUT, err, errlen, "waiting for the answer", 0);
	}
}

enum lb_agent_result lb_agent_call(const char *socket_path, const json_t *req,
				   int64_t timeout_ms, json_t **answer, char *err, size_t errlen)
{
	int64_t deadline = lb_mono_ms() + timeout_ms;
	char *line = NULL, *buf = NULL, why[256];
	size_t len = 0, n;
	enum lb_agent_result r;
	int fd = -1;

	*answer = NULL;
	if (timeout_ms <= 0)
		return fail(LB_AGENT_ERR_TIMEOUT, err, errlen, "no time left", 0);
	line = json_dumps(req, JSON_COMPACT);
	buf = malloc(LB_AGENT_MAX_MSG + 1);
	if (!line || !buf) {
		r = fail(LB_AGENT_ERR_INTERNAL, err, errlen, "out of memory", 0);
		goto out;
	}
	n = strlen(line);
	if (n + 1 > LB_AGENT_MAX_MSG) {
		r = fail(LB_AGENT_ERR_INTERNAL, err, errlen, "question too large", 0);
		goto out;
	}
	line[n] = '\n'; /* json_dumps left room: replace the NUL, send n + 1 bytes */
	if ((r = connect_agent(socket_path, deadline, &fd, err, errlen)) != LB_AGENT_OK)
		goto out;
	if ((r = send_all(fd, line, n + 1, deadline, err, errlen)) != LB_AGENT_OK)
		goto out;
	if ((r = read_line(fd, buf, LB_AGENT_MAX_MSG + 1, &len, deadline, err, errlen)) !=
	    LB_AGENT_OK)
		goto out;
	/* JSON_REJECT_DUPLICATES: a second "decision" key must never win */
	*answer = lb_json_parse_object(buf, len, why, sizeof(why));
	if (!*answer) {
		r = fail(LB_AGENT_ERR_PROTOCOL, err, errlen, why, 0);
		goto out;
	}
	r = LB_AGENT_OK;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(buf);
	return r;
}

/* A short machine token: [a-z0-9_] only. */
static int token_ok(const char *s, size_t max)
{
	size_t n = 0;
	if (!s || !*s)
		return 0;
	for (; *s; s++, n++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
			return 0;
	return n < max;
}

/* An object id such as req_0123456789abcdef: [A-Za-z0-9_-] only. */
static int id_ok(const char *s, size_t max)
{
	size_t n = 0;
	if (!s || !*s)
		return 0;
	for (; *s; s++, n++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-'))
			return 0;
	return n < max;
}

/* An optional string field: NULL when absent or null; -1 for another type or bad text. */
static int opt_str(const json_t *j, const char *key, size_t max, const char **out)
{
	json_t *v = json_object_get(j, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !lb_str_clean(json_string_value(v)) ||
	    strlen(json_string_value(v)) >= max)
		return -1;
	*out = json_string_value(v);
	return 0;
}

#define BAD(...)                                                                           \
	do {                                                                               \
		snprintf(why, whylen, __VA_ARGS__);                                        \
		return -1;                                                                 \
	} while (0)

int lb_check_answer_parse(const json_t *j, struct lb_check_answer *a, char *why, size_t whylen)
{
	const char *decision, *reason, *request, *did, *gexp, *user, *host, *error, *access;
	const char *message = lb_json_str(j, "message");
	json_t *atg = json_object_get(j, "at_gateway");
	json_t *rec = json_object_get(j, "recorded");
	int64_t ms = 0;

	memset(a, 0, sizeof(*a));
	decision = lb_json_str(j, "decision");
	reason = lb_json_str(j, "reason");
	did = lb_json_str(j, "decision_id");
	if (opt_str(j, "request", sizeof(a->request), &request) ||
	    opt_str(j, "grant_expires_at", sizeof(a->grant_expires_at), &gexp) ||
	    opt_str(j, "user", sizeof(a->user), &user) ||
	    opt_str(j, "host", sizeof(a->host), &host) ||
	    opt_str(j, "error", 4096, &error) ||
	    opt_str(j, "access", sizeof(a->access), &access))
		BAD("answer: request, grant_expires_at, user, host, error or access malformed");
	if (atg && !json_is_boolean(atg))
		BAD("answer: 'at_gateway' is not a boolean");
	if (rec && !json_is_boolean(rec))
		BAD("answer: 'recorded' is not a boolean");
	if (json_is_true(rec) && (!atg || json_is_true(atg)))
		BAD("answer: 'recorded' by the agent, yet made by the gateway");
	/* the message may hold anything printable (it is sanitized below), but it is text */
	if (json_object_get(j, "message") && !json_is_null(json_object_get(j, "message")) &&
	    !message)
		BAD("answer: 'message' is not a string");
	if (!decision || (strcmp(decision, "allow") != 0 && strcmp(decision, "deny") != 0))
		BAD("answer: 'decision' missing or not allow/deny");
	if (!reason || !token_ok(reason, sizeof(a->reason)))
		BAD("answer: 'reason' missing or malformed");
	if (!did || !lb_uuid_valid(did))
		BAD("answer: 'decision_id' missing or not a UUID");
	if (request && !id_ok(request, sizeof(a->request)))
		BAD("answer: 'request' malformed");
	if (gexp && lb_time_parse(gexp, &ms) != 0)
		BAD("answer: 'grant_expires_at' malformed");
	if (access && !token_ok(access, sizeof(a->access)))
		BAD("answer: 'access' malformed");
	if (strcmp(decision, "allow") == 0) {
		/* an allow must be fully formed, and its reason must agree */
		if (strcmp(reason, "allow") != 0 || !request || !gexp)
			BAD("answer: allow without reason=allow, request and grant_expires_at");
		/* a grant that has ended allows nothing, whatever the rest says */
		if (ms <= lb_time_now_ms())
			BAD("answer: allow whose grant_expires_at has passed");
		a->allow = 1;
	} else if (strcmp(reason, "allow") == 0) {
		BAD("answer: deny with reason=allow");
	}
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
	snprintf(a->decision_id, sizeof(a->decision_id), "%s", did);
	snprintf(a->request, sizeof(a->request), "%s", request ? request : "");
	snprintf(a->grant_expires_at, sizeof(a->grant_expires_at), "%s", gexp ? gexp : "");
	snprintf(a->user, sizeof(a->user), "%s", user ? user : "");
	snprintf(a->host, sizeof(a->host), "%s", host ? host : "");
	snprintf(a->access, sizeof(a->access), "%s", access ? access : "");
	lb_sanitize_text(message, a->message, sizeof(a->message));
	if (error)
		lb_sanitize_text(error, a->error, sizeof(a->error));
	a->at_gateway = atg ? json_is_true(atg) : 1;
	a->recorded = json_is_true(rec);
	return 0;
}
#undef BAD

json_t *lb_check_answer_json(const struct lb_check_answer *a)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "decision",
			      a->allow ? "allow" : "deny", "reason", a->reason, "message",
			      a->message, "decision_id", a->decision_id, "user", a->user, "host",
			      a->host, "at_gateway", a->at_gateway);
	if (!o)
		return NULL;
	lb_json_set_str_or_null(o, "request", a->request[0] ? a->request : NULL);
	lb_json_set_str_or_null(o, "grant_expires_at",
				a->grant_expires_at[0] ? a->grant_expires_at : NULL);
	if (a->recorded)
		json_object_set_new(o, "recorded", json_true());
	if (a->error[0])
		json_object_set_new(o, "error", json_string(a->error));
	if (a->access[0])
		json_object_set_new(o, "access", json_string(a->access));
	return o;
}
