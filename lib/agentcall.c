/* lockbox: the module's side of the agent socket (include/lockbox/agentcall.h), without
 * jansson. This runs inside sshd and xrdp-sesman: one deadline, close-on-exec fds,
 * MSG_NOSIGNAL, no signals. */
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

#include "lockbox/agentcall.h"
#include "lockbox/escape.h"
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

enum lb_agent_result lb_agent_ask(const char *socket_path, const char *question, size_t qlen,
				  int64_t timeout_ms, char *answer, size_t cap, size_t *alen,
				  char *err, size_t errlen)
{
	int64_t deadline = lb_mono_ms() + timeout_ms;
	enum lb_agent_result r;
	int fd = -1;

	*alen = 0;
	if (cap)
		answer[0] = '\0';
	if (timeout_ms <= 0)
		return fail(LB_AGENT_ERR_TIMEOUT, err, errlen, "no time left", 0);
	if (qlen == 0 || qlen > LB_AGENT_MAX_MSG || question[qlen - 1] != '\n' ||
	    memchr(question, '\n', qlen - 1) || cap < 2)
		return fail(LB_AGENT_ERR_INTERNAL, err, errlen, "question not one line, or too large",
			    0);
	if ((r = connect_agent(socket_path, deadline, &fd, err, errlen)) != LB_AGENT_OK)
		return r;
	if ((r = send_all(fd, question, qlen, deadline, err, errlen)) == LB_AGENT_OK)
		r = read_line(fd, answer, cap, alen, deadline, err, errlen);
	close(fd);
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
static int opt_str(const struct lb_jflat *j, const char *key, size_t max, const char **out)
{
	const struct lb_jflat_field *v = lb_jflat_get(j, key);
	*out = NULL;
	if (!v || v->type == LB_JF_NULL)
		return 0;
	if (v->type != LB_JF_STRING || !lb_str_clean(v->str) || strlen(v->str) >= max)
		return -1;
	*out = v->str;
	return 0;
}

/* An optional boolean: -1 absent, 0 or 1; -2 for another type. */
static int opt_bool(const struct lb_jflat *j, const char *key)
{
	const struct lb_jflat_field *v = lb_jflat_get(j, key);
	if (!v)
		return -1;
	return v->type == LB_JF_BOOL ? (int)v->num : -2;
}

#define BAD(...)                                                                           \
	do {                                                                               \
		snprintf(why, whylen, __VA_ARGS__);                                        \
		return -1;                                                                 \
	} while (0)

int lb_check_answer_parse_flat(const struct lb_jflat *j, struct lb_check_answer *a, char *why,
			       size_t whylen)
{
	const char *decision, *reason, *request, *did, *gexp, *user, *host, *error, *access;
	const char *message = lb_jflat_str(j, "message");
	const struct lb_jflat_field *mf = lb_jflat_get(j, "message");
	int atg = opt_bool(j, "at_gateway"), rec = opt_bool(j, "recorded");
	int64_t ms = 0;

	memset(a, 0, sizeof(*a));
	decision = lb_jflat_str(j, "decision");
	reason = lb_jflat_str(j, "reason");
	did = lb_jflat_str(j, "decision_id");
	if (opt_str(j, "request", sizeof(a->request), &request) ||
	    opt_str(j, "grant_expires_at", sizeof(a->grant_expires_at), &gexp) ||
	    opt_str(j, "user", sizeof(a->user), &user) ||
	    opt_str(j, "host", sizeof(a->host), &host) ||
	    opt_str(j, "error", 4096, &error) ||
	    opt_str(j, "access", sizeof(a->access), &access))
		BAD("answer: request, grant_expires_at, user, host, error or access malformed");
	if (atg == -2)
		BAD("answer: 'at_gateway' is not a boolean");
	if (rec == -2)
		BAD("answer: 'recorded' is not a boolean");
	if (rec == 1 && atg != 0)
		BAD("answer: 'recorded' by the agent, yet made by the gateway");
	/* the message may hold anything printable (it is sanitized below), but it is text */
	if (mf && mf->type != LB_JF_NULL && !message)
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
	a->at_gateway = atg != 0; /* absent: the gateway's own answer */
	a->recorded = rec == 1;
	return 0;
}
#undef BAD


long lb_check_answer_line(const struct lb_check_answer *a, char *buf, size_t cap)
{
	struct lb_jw w;
	lb_jw_init(&w, buf, cap);
	lb_jw_str(&w, "decision", a->allow ? "allow" : "deny");
	lb_jw_str(&w, "reason", a->reason);
	lb_jw_str(&w, "message", a->message);
	lb_jw_str(&w, "decision_id", a->decision_id);
	lb_jw_str(&w, "user", a->user);
	lb_jw_str(&w, "host", a->host);
	lb_jw_bool(&w, "at_gateway", a->at_gateway);
	lb_jw_str(&w, "request", a->request[0] ? a->request : NULL);
	lb_jw_str(&w, "grant_expires_at", a->grant_expires_at[0] ? a->grant_expires_at : NULL);
	if (a->recorded)
		lb_jw_bool(&w, "recorded", 1);
	if (a->error[0])
		lb_jw_str(&w, "error", a->error);
	if (a->access[0])
		lb_jw_str(&w, "access", a->access);
	return lb_jw_finish(&w);
}
