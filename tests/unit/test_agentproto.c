/* Unit tests for the module <-> agent protocol (lib/agentproto.c): the check answer is either
 * fully formed or refused (never an allow by accident), it survives the agent's own encoding,
 * and the client keeps one deadline, refuses garbage, huge and duplicate-key answers, and
 * leaks no fd, against a small server thread on a real UNIX socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lockbox/agentproto.h"
#include "lockbox/json.h"

#define UUID "0b6f1c4e-2f59-4c7e-9a51-3d2a8c1f0e77"
#define GOOD_ALLOW                                                                         \
	"{\"decision\":\"allow\",\"reason\":\"allow\",\"message\":\"granted\","            \
	"\"request\":\"req_0123456789abcdef\",\"decision_id\":\"" UUID "\","              \
	"\"grant_expires_at\":\"2099-01-01T00:00:00.000Z\",\"user\":\"eng\",\"host\":\"web-01\"," \
	"\"at_gateway\":true}"

static json_t *parse_json(const char *text)
{
	char why[256];
	json_t *j = lb_json_parse_object(text, strlen(text), why, sizeof(why));
	if (!j)
		fail_msg("test JSON '%s': %s", text, why);
	return j;
}

/* Parses GOOD_ALLOW with KEY set to VALUE (JSON text; NULL removes the key). */
static int parse_with(const char *key, const char *value, struct lb_check_answer *a, char *why,
		      size_t whylen)
{
	json_t *j = parse_json(GOOD_ALLOW);
	int rc;
	if (value) {
		json_error_t e;
		json_t *v = json_loads(value, JSON_DECODE_ANY, &e);
		if (!v)
			fail_msg("value '%s': %s", value, e.text);
		json_object_set_new(j, key, v);
	} else {
		json_object_del(j, key);
	}
	rc = lb_check_answer_parse(j, a, why, whylen);
	json_decref(j);
	return rc;
}

static void refused(const char *key, const char *value, const char *needle)
{
	struct lb_check_answer a;
	char why[256] = "";
	if (parse_with(key, value, &a, why, sizeof(why)) == 0)
		fail_msg("%s=%s accepted (allow=%d)", key, value ? value : "(absent)", a.allow);
	if (!strstr(why, needle))
		fail_msg("%s=%s: why '%s' lacks '%s'", key, value ? value : "(absent)", why, needle);
	assert_int_equal(a.allow, 0); /* a refused answer never reads as an allow */
}

static void test_parse_good(void **state)
{
	struct lb_check_answer a, b;
	char why[256];
	json_t *j = parse_json(GOOD_ALLOW), *again;
	(void)state;
	assert_int_equal(lb_check_answer_parse(j, &a, why, sizeof(why)), 0);
	assert_int_equal(a.allow, 1);
	assert_string_equal(a.reason, "allow");
	assert_string_equal(a.request, "req_0123456789abcdef");
	assert_string_equal(a.decision_id, UUID);
	assert_string_equal(a.user, "eng");
	assert_string_equal(a.host, "web-01");
	assert_int_equal(a.at_gateway, 1);
	assert_string_equal(a.error, "");
	assert_string_equal(a.access, ""); /* optional */
	json_decref(j);
	/* the access type the service maps to (issue 15): kept, and passed on to the module */
	j = parse_json(GOOD_ALLOW);
	json_object_set_new(j, "access", json_string("rdp"));
	assert_int_equal(lb_check_answer_parse(j, &a, why, sizeof(why)), 0);
	assert_string_equal(a.access, "rdp");
	/* what the agent sends is what the module reads */
	again = lb_check_answer_json(&a);
	assert_non_null(again);
	assert_int_equal(lb_check_answer_parse(again, &b, why, sizeof(why)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	json_decref(again);
	json_decref(j);
}

static void test_parse_deny_forms(void **state)
{
	struct lb_check_answer a, b;
	char why[256];
	json_t *j, *again;
	(void)state;
	/* the agent's own deny: no request, no grant, at_gateway false, an error text */
	j = parse_json("{\"decision\":\"deny\",\"reason\":\"gateway_timeout\",\"message\":"
		       "\"evil \\u001b[31m\\nline\",\"request\":null,\"decision_id\":\"" UUID "\","
		       "\"grant_expires_at\":null,\"user\":\"eng\",\"host\":\"\",\"at_gateway\":false,"
		       "\"error\":\"timed out after 1700 ms\"}");
	assert_int_equal(lb_check_answer_parse(j, &a, why, sizeof(why)), 0);
	assert_int_equal(a.allow, 0);
	assert_int_equal(a.at_gateway, 0);
	assert_string_equal(a.reason, "gateway_timeout");
	assert_string_equal(a.request, "");
	assert_string_equal(a.error, "timed out after 1700 ms");
	assert_string_equal(a.message, "evil ?[31m?line"); /* sanitized, not refused */
	again = lb_check_answer_json(&a);
	assert_int_equal(lb_check_answer_parse(again, &b, why, sizeof(why)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	json_decref(again);
	json_decref(j);
	/* at_gateway absent: a gateway answer (the gateway does not send it) */
	j = parse_json("{\"decision\":\"deny\",\"reason\":\"pending\",\"decision_id\":\"" UUID "\"}");
	assert_int_equal(lb_check_answer_parse(j, &a, why, sizeof(why)), 0);
	assert_int_equal(a.at_gateway, 1);
	assert_string_equal(a.message, "");
	json_decref(j);
}

static void test_parse_refusals(void **state)
{
	char longid[200], longv[512];
	(void)state;
	refused("decision", NULL, "decision");
	refused("decision", "\"Allow\"", "decision");
	refused("decision", "\"allow \"", "decision");
	refused("decision", "[\"allow\"]", "decision");
	refused("decision", "true", "decision");
	refused("reason", NULL, "reason");
	refused("reason", "\"pending\"", "reason=allow"); /* an allow's reason must agree */
	refused("reason", "\"Allow\"", "reason");
	refused("reason", "\"a b\"", "reason");
	refused("reason", "42", "reason");
	refused("decision_id", NULL, "decision_id");
	refused("decision_id", "\"not-a-uuid\"", "decision_id");
	refused("decision_id", "\"" UUID "x\"", "decision_id");
	refused("request", NULL, "request");
	refused("request", "\"req 1\"", "request");
	refused("request", "\"req/../x\"", "request");
	refused("request", "7", "malformed");
	refused("grant_expires_at", NULL, "grant_expires_at");
	refused("grant_expires_at", "null", "grant_expires_at");
	refused("grant_expires_at", "\"tomorrow\"", "grant_expires_at");
	refused("grant_expires_at", "1767225600", "malformed");
	refused("user", "\"e\\u001bng\"", "malformed");
	refused("host", "[]", "malformed");
	refused("error", "\"x\\ny\"", "malformed");
	refused("at_gateway", "\"true\"", "at_gateway");
	refused("at_gateway", "1", "at_gateway");
	refused("message", "42", "message");
	refused("message", "{}", "message");
	refused("access", "\"RDP\"", "access");
	refused("access", "\"rdp \"", "access");
	refused("access", "\"rdp-and-a-very-long-name\"", "access");
	refused("access", "3", "malformed");
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	snprintf(longv, sizeof(longv), "\"req_%s\"", longid);
	refused("request", longv, "malformed");
	snprintf(longv, sizeof(longv), "\"%s%s\"", longid, longid + 100);
	refused("reason", longv, "reason");
}

static void test_parse_deny_with_allow_reason(void **state)
{
	struct lb_check_answer a;
	char why[256];
	json_t *j = parse_json("{\"decision\":\"deny\",\"reason\":\"allow\",\"decision_id\":\"" UUID
			       "\"}");
	(void)state;
	assert_int_equal(lb_check_answer_parse(j, &a, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "reason=allow"));
	json_decref(j);
}

static void test_duplicate_keys(void **state)
{
	char why[256];
	const char *text = "{\"decision\":\"deny\",\"reason\":\"pending\",\"decision_id\":\"" UUID
			   "\",\"decision\":\"allow\"}";
	(void)state;
	assert_null(lb_json_parse_object(text, strlen(text), why, sizeof(why)));
	assert_non_null(strstr(why, "duplicate"));
}

/* ---- the client against a server thread ---- */

enum mode { M_ALLOW, M_HANG, M_GARBAGE, M_HUGE, M_DUPKEY, M_CLOSE, M_NOEOL, M_SLOWOK };

struct server {
	char path[108];
	int lfd;
	enum mode mode;
	char question[LB_AGENT_MAX_MSG + 1];
	pthread_t t;
};

static void send_str(int fd, const char *s)
{
	size_t off = 0, n = strlen(s);
	while (off < n) {
		ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void *serve_one(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	size_t len = 0;
	if (fd < 0)
		return NULL;
	/* read the question line */
	while (len < sizeof(s->question) - 1) {
		ssize_t n = recv(fd, s->question + len, sizeof(s->question) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(s->question, '\n', len))
			break;
	}
	s->question[len] = '\0';
	switch (s->mode) {
	case M_ALLOW:
		send_str(fd, GOOD_ALLOW "\n");
		break;
	case M_SLOWOK: {
		struct timespec ts = {0, 200 * 1000 * 1000};
		const char *p = GOOD_ALLOW "\n";
		send_str(fd, "{");
		nanosleep(&ts, NULL);
		send_str(fd, p + 1);
		break;
	}
	case M_HANG: {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		poll(&p, 1, 5000); /* until the client gives up and closes */
		break;
	}
	case M_GARBAGE:
		send_str(fd, "<html>not json</html>\n");
		break;
	case M_HUGE: {
		char *big = malloc(64 * 1024);
		memset(big, ' ', 64 * 1024 - 1);
		big[64 * 1024 - 1] = '\0';
		send_str(fd, big);
		free(big);
		break;
	}
	case M_DUPKEY:
		send_str(fd, "{\"decision\":\"deny\",\"reason\":\"pending\",\"decision_id\":\"" UUID
			     "\",\"decision\":\"allow\"}\n");
		break;
	case M_CLOSE:
		break;
	case M_NOEOL:
		send_str(fd, GOOD_ALLOW);
		break;
	}
	close(fd);
	return NULL;
}

static void server_start(struct server *s, enum mode mode)
{
	struct sockaddr_un sa;
	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "/tmp/lb-agentproto-%ld.sock", (long)getpid());
	unlink(s->path);
	s->mode = mode;
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(pthread_create(&s->t, NULL, serve_one, s), 0);
}

static void server_stop(struct server *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->t, NULL);
	close(s->lfd);
	unlink(s->path);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own */
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One call in MODE with TIMEOUT_MS; returns the result, *ELAPSED in ms, the answer freed. */
static enum lb_agent_result call(enum mode mode, int64_t timeout_ms, int64_t *elapsed,
				 char *err, size_t errlen, char *question, size_t qlen)
{
	struct server s;
	json_t *q = json_pack("{s:s,s:s,s:s}", "op", "check", "user", "eng", "service", "sshd");
	json_t *ans = NULL;
	enum lb_agent_result r;
	int64_t t0;
	int fds0;

	fds0 = count_fds();
	server_start(&s, mode);
	t0 = now_ms();
	r = lb_agent_call(s.path, q, timeout_ms, &ans, err, errlen);
	*elapsed = now_ms() - t0;
	if (r == LB_AGENT_OK)
		assert_non_null(ans);
	else
		assert_null(ans);
	json_decref(ans);
	json_decref(q);
	server_stop(&s);
	assert_int_equal(count_fds(), fds0); /* every fd of the call (and the server) closed */
	if (question)
		snprintf(question, qlen, "%s", s.question);
	return r;
}

static void test_call(void **state)
{
	char err[512], question[LB_AGENT_MAX_MSG + 1];
	int64_t el;
	(void)state;
	assert_int_equal(call(M_ALLOW, 2000, &el, err, sizeof(err), question, sizeof(question)),
			 LB_AGENT_OK);
	assert_string_equal(question,
			    "{\"op\":\"check\",\"user\":\"eng\",\"service\":\"sshd\"}\n");
	assert_int_equal(call(M_SLOWOK, 2000, &el, err, sizeof(err), NULL, 0), LB_AGENT_OK);
	assert_int_equal(call(M_HANG, 300, &el, err, sizeof(err), NULL, 0), LB_AGENT_ERR_TIMEOUT);
	assert_true(el >= 250 && el < 1500);
	assert_non_null(strstr(err, "did not answer in time"));
	assert_int_equal(call(M_SLOWOK, 100, &el, err, sizeof(err), NULL, 0),
			 LB_AGENT_ERR_TIMEOUT); /* one deadline for the whole answer */
	assert_true(el < 1000);
	assert_int_equal(call(M_GARBAGE, 2000, &el, err, sizeof(err), NULL, 0),
			 LB_AGENT_ERR_PROTOCOL);
	assert_int_equal(call(M_HUGE, 2000, &el, err, sizeof(err), NULL, 0), LB_AGENT_ERR_PROTOCOL);
	assert_non_null(strstr(err, "too large"));
	assert_int_equal(call(M_DUPKEY, 2000, &el, err, sizeof(err), NULL, 0),
			 LB_AGENT_ERR_PROTOCOL);
	assert_non_null(strstr(err, "duplicate"));
	assert_int_equal(call(M_CLOSE, 2000, &el, err, sizeof(err), NULL, 0),
			 LB_AGENT_ERR_PROTOCOL);
	assert_non_null(strstr(err, "closed before answering"));
	assert_int_equal(call(M_NOEOL, 2000, &el, err, sizeof(err), NULL, 0),
			 LB_AGENT_ERR_PROTOCOL);
}

static void test_call_no_agent(void **state)
{
	char err[512], path[300];
	json_t *q = json_pack("{s:s}", "op", "status"), *ans = (json_t *)1;
	int fds0 = count_fds();
	(void)state;
	assert_int_equal(lb_agent_call("/nonexistent/agent.sock", q, 1000, &ans, err, sizeof(err)),
			 LB_AGENT_ERR_CONNECT);
	assert_null(ans);
	assert_non_null(strstr(err, "No such file"));
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(lb_agent_call(path, q, 1000, &ans, err, sizeof(err)), LB_AGENT_ERR_CONNECT);
	assert_non_null(strstr(err, "too long"));
	assert_int_equal(lb_agent_call("/tmp", q, 0, &ans, err, sizeof(err)), LB_AGENT_ERR_TIMEOUT);
	assert_int_equal(count_fds(), fds0);
	json_decref(q);
}

static void test_peer(void **state)
{
	int sv[2];
	unsigned uid = 12345;
	int pid = 0;
	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(lb_agent_peer(sv[0], &uid, &pid), 0);
	assert_int_equal(uid, (unsigned)geteuid());
	assert_int_equal(pid, (int)getpid());
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(lb_agent_peer(-1, &uid, &pid), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_deny_forms),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_parse_deny_with_allow_reason),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_call),
		cmocka_unit_test(test_call_no_agent),
		cmocka_unit_test(test_peer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
