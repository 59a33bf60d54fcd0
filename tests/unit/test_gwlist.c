/* Unit tests for several gateway URLs (lib/gwlist.c): parsing (blanks and commas, each URL
 * checked, duplicates, too many, empty), the host config's gateway_url errors as
 * path:line: key, the order to try (the gateway in use first, then config order), the
 * failover rule and each attempt's share of the deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockbox/gwlist.h"
#include "lockbox/hostconf.h"
#include "lockbox/util.h"

static void parse_ok(const char *text, size_t n, const char *const *want)
{
	struct lb_gwlist l;
	char why[512] = "";
	if (lb_gwlist_parse(&l, text, why, sizeof(why)) != 0)
		fail_msg("'%s': refused: %s", text, why);
	assert_int_equal(l.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l.url[i], want[i]);
	lb_gwlist_free(&l);
	assert_int_equal(l.n, 0);
	lb_gwlist_free(&l); /* twice is safe */
}

static void parse_bad(const char *text, const char *needle)
{
	struct lb_gwlist l;
	char why[512] = "";
	if (lb_gwlist_parse(&l, text, why, sizeof(why)) == 0)
		fail_msg("'%s': accepted, should fail with '%s'", text, needle);
	if (!strstr(why, needle))
		fail_msg("'%s': '%s' lacks '%s'", text, why, needle);
	assert_int_equal(l.n, 0);
	lb_gwlist_free(&l);
}

static void test_parse(void **state)
{
	static const char *const one[] = {"https://gw1.example:8443"};
	static const char *const two[] = {"https://gw1.example:8443", "https://gw2.example:8443"};
	static const char *const three[] = {"https://gw1.example", "http://127.0.0.1:9",
					    "http://[::1]:8080/base/"};
	(void)state;
	parse_ok("https://gw1.example:8443", 1, one);
	parse_ok("  https://gw1.example:8443  ", 1, one);
	parse_ok("https://gw1.example:8443 https://gw2.example:8443", 2, two);
	parse_ok("https://gw1.example:8443, https://gw2.example:8443", 2, two);
	parse_ok("https://gw1.example:8443,https://gw2.example:8443", 2, two);
	parse_ok("https://gw1.example:8443 ,\t https://gw2.example:8443,", 2, two);
	parse_ok("https://gw1.example http://127.0.0.1:9 http://[::1]:8080/base/", 3, three);
}

static void test_parse_bad(void **state)
{
	char many[2048] = "";
	(void)state;
	parse_bad("", "no gateway URL");
	parse_bad(" , ,, ", "no gateway URL");
	parse_bad(NULL, "no gateway URL");
	parse_bad("https://gw1.example https://gw1.example", "https://gw1.example: given twice");
	parse_bad("https://gw1.example/ HTTPS://GW1.EXAMPLE", "given twice");
	parse_bad("https://gw1.example http://gw2.example:8080",
		  "http://gw2.example:8080: http:// is allowed only for a loopback gateway");
	parse_bad("http://10.0.0.1", "http:// is allowed only for a loopback");
	parse_bad("https://gw1.example ftp://gw2.example", "ftp://gw2.example: URL must start");
	parse_bad("https://gw1.example https://user@gw2.example", "user information");
	for (int i = 0; i <= LB_GWLIST_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "https://gw%d.example ",
			 i);
	parse_bad(many, "more than 8 gateway URLs");
	many[strlen(many) - strlen("https://gw8.example ")] = '\0';
	{
		struct lb_gwlist l;
		char why[256];
		assert_int_equal(lb_gwlist_parse(&l, many, why, sizeof(why)), 0);
		assert_int_equal(l.n, LB_GWLIST_MAX);
		lb_gwlist_free(&l);
	}
	assert_int_equal(lb_cfg_check_urls(NULL, "https://a.example, https://b.example", many,
					   sizeof(many)),
			 0);
	assert_int_equal(lb_cfg_check_urls(NULL, "https://a.example https://a.example", many,
					   sizeof(many)),
			 -1);
}

static void test_text(void **state)
{
	struct lb_gwlist l;
	char why[256], *t;
	(void)state;
	assert_int_equal(lb_gwlist_parse(&l, "https://a.example\thttps://b.example:8443", why,
					 sizeof(why)),
			 0);
	t = lb_gwlist_text(&l);
	assert_string_equal(t, "https://a.example, https://b.example:8443");
	free(t);
	lb_gwlist_free(&l);
}

static void order_is(struct lb_gwlist *l, const char *want)
{
	size_t order[LB_GWLIST_MAX], n = lb_gwlist_order(l, order);
	char got[64] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%zu", order[i]);
	assert_string_equal(got, want);
}

static void test_order(void **state)
{
	struct lb_gwlist l;
	char why[256];
	(void)state;
	assert_int_equal(lb_gwlist_parse(&l, "https://a https://b https://c", why, sizeof(why)),
			 0);
	order_is(&l, "012");
	assert_string_equal(lb_gwlist_current(&l), "https://a");
	/* the one that answered is asked first from now on (sticky), the others in config
	 * order after it */
	lb_gwlist_answered(&l, 2);
	order_is(&l, "201");
	assert_string_equal(lb_gwlist_current(&l), "https://c");
	lb_gwlist_answered(&l, 1);
	order_is(&l, "102");
	/* one that is not in use failing changes nothing */
	lb_gwlist_failed(&l, 0);
	order_is(&l, "102");
	/* the one in use failing: the next in config order takes its place */
	lb_gwlist_failed(&l, 1);
	order_is(&l, "201");
	lb_gwlist_failed(&l, 2);
	order_is(&l, "012"); /* wraps around */
	lb_gwlist_free(&l);

	/* a single URL is always in use */
	assert_int_equal(lb_gwlist_parse(&l, "https://a", why, sizeof(why)), 0);
	lb_gwlist_failed(&l, 0);
	order_is(&l, "0");
	lb_gwlist_free(&l);
}

static void test_verdict(void **state)
{
	(void)state;
	/* no answer: the next gateway */
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_CONNECT, 0, 0, 0, 0), LB_GW_NEXT);
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_TLS, 0, 0, 0, 0), LB_GW_NEXT);
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_TIMEOUT, 0, 0, 1, 0), LB_GW_NEXT);
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_PROTOCOL, 0, 0, 1, 0), LB_GW_NEXT);
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_URL, 0, 0, 0, 0), LB_GW_NEXT);
	/* a proxy's 502/503/504 (no gateway error body) is no answer */
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 502, 0, 1, 0), LB_GW_NEXT);
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 503, 0, 1, LB_GW_ONCE), LB_GW_NEXT);
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 504, 0, 1, 0), LB_GW_NEXT);
	/* a gateway's answer is final, refusals and its own 503 included */
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 200, 0, 1, 0), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 201, 0, 1, 0), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 403, 1, 1, 0), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 404, 0, 1, 0), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 401, 1, 1, 0), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 500, 0, 1, 0), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 503, 1, 1, 0), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_OK, 302, 0, 1, 0), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_TOOBIG, 0, 0, 1, 0), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_INTERNAL, 0, 0, 0, 0), LB_GW_FINAL);
	/* not safe to send twice: only what surely did not go out moves on */
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_TIMEOUT, 0, 0, 1, LB_GW_ONCE), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_PROTOCOL, 0, 0, 1, LB_GW_ONCE), LB_GW_FINAL);
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_TIMEOUT, 0, 0, 0, LB_GW_ONCE), LB_GW_NEXT);
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_CONNECT, 0, 0, 0, LB_GW_ONCE), LB_GW_NEXT);
	assert_int_equal(lb_gw_verdict(LB_HTTP_ERR_TLS, 0, 0, 0, LB_GW_ONCE), LB_GW_NEXT);
}

static void test_attempt_ms(void **state)
{
	int64_t c;
	(void)state;
	/* a fair share of what remains; the last attempt gets all of it */
	assert_int_equal(lb_gw_attempt_ms(5000, 5000, 0, 2, 0, &c), 2500);
	assert_int_equal(c, 2500);
	assert_int_equal(lb_gw_attempt_ms(5000, 4990, 1, 2, 0, &c), 4990);
	assert_int_equal(lb_gw_attempt_ms(6000, 6000, 0, 3, 0, &c), 2000);
	assert_int_equal(lb_gw_attempt_ms(6000, 5000, 1, 3, 0, &c), 2500);
	/* at least the minimal connect time, so a black hole first cannot starve the rest */
	assert_int_equal(lb_gw_attempt_ms(1000, 1000, 0, 8, 0, &c), LB_GW_MIN_ATTEMPT_MS);
	/* but never more than remains */
	assert_int_equal(lb_gw_attempt_ms(1000, 200, 3, 8, 0, &c), 200);
	assert_int_equal(c, 200);
	/* nothing left: no attempt */
	assert_int_equal(lb_gw_attempt_ms(1000, 0, 1, 2, 0, &c), 0);
	assert_int_equal(lb_gw_attempt_ms(1000, -5, 1, 2, 0, &c), 0);
	assert_int_equal(lb_gw_attempt_ms(1000, 100, 2, 2, 0, &c), 0);
	/* a single gateway: the whole deadline, as before */
	assert_int_equal(lb_gw_attempt_ms(5000, 5000, 0, 1, 0, &c), 5000);
	/* a long poll: the whole time once connected; the connection gets the share */
	assert_int_equal(lb_gw_attempt_ms(40000, 40000, 0, 2, LB_GW_LONG, &c), 40000);
	assert_int_equal(c, 20000);
	assert_int_equal(lb_gw_attempt_ms(40000, 1000, 1, 2, LB_GW_LONG, &c), 1000);
	assert_int_equal(c, 1000);
	assert_int_equal(lb_gw_attempt_ms(400, 400, 0, 8, LB_GW_LONG, &c), 400);
	assert_int_equal(c, LB_GW_MIN_ATTEMPT_MS);
}

/* ---- lb_gw_request against loopback listeners ---- */

/* A loopback HTTP server answering every request with STATUS and BODY (a thread), or, with
 * STATUS 0, a black hole: it listens, the kernel completes the handshakes, nobody answers. */
struct srv {
	int fd, port, status;
	const char *body;
	_Atomic int requests, stop;
	pthread_t t;
};

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	while (!atomic_load(&s->stop)) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		char buf[8192], out[1024];
		size_t len = 0;
		int c;
		if (poll(&p, 1, 50) != 1)
			continue;
		if ((c = accept(s->fd, NULL, NULL)) < 0)
			continue;
		/* the headers (and a small body: the tests send little) */
		for (;;) {
			ssize_t r = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
			if (r <= 0)
				break;
			len += (size_t)r;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n")) {
				usleep(20 * 1000); /* the body, if any */
				break;
			}
		}
		atomic_fetch_add(&s->requests, 1);
		snprintf(out, sizeof(out),
			 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 s->status, strlen(s->body), s->body);
		(void)!send(c, out, strlen(out), MSG_NOSIGNAL);
		close(c);
	}
	return NULL;
}

static void srv_start(struct srv *s, int status, const char *body)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	memset(s, 0, sizeof(*s));
	s->status = status;
	s->body = body;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	if (status)
		assert_int_equal(pthread_create(&s->t, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
	atomic_store(&s->stop, 1);
	if (s->status)
		pthread_join(s->t, NULL);
	close(s->fd);
}

/* A loopback port nothing listens on (bound, then closed). */
static int dead_port(void)
{
	struct srv s;
	int port;
	srv_start(&s, 0, "");
	port = s.port;
	srv_stop(&s);
	return port;
}

static enum lb_http_result ask(const char *urls, unsigned flags, int64_t timeout_ms,
			       const char *method, struct lb_gw_trace *tr,
			       struct lb_http_response *r, char *err, size_t errlen,
			       int64_t *took)
{
	struct lb_gwlist l;
	struct lb_http_opts o = {0};
	enum lb_http_result hr;
	char why[256];
	int64_t t0 = lb_mono_ms();
	if (lb_gwlist_parse(&l, urls, why, sizeof(why)) != 0)
		fail_msg("%s: %s", urls, why);
	o.timeout_ms = timeout_ms;
	hr = lb_gw_request(&l, &o, flags, method, "/v1/check", strcmp(method, "GET") ? "{}" : NULL,
			   r, tr, err, errlen);
	*took = lb_mono_ms() - t0;
	lb_gwlist_free(&l);
	return hr;
}

static void test_request_refused_then_live(void **state)
{
	struct srv live;
	struct lb_gw_trace tr;
	struct lb_http_response r;
	char urls[256], err[1024];
	int64_t took;
	(void)state;
	srv_start(&live, 200, "{\"ok\":true}");
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d http://127.0.0.1:%d", dead_port(),
		 live.port);
	assert_int_equal(ask(urls, 0, 3000, "POST", &tr, &r, err, sizeof(err), &took),
			 LB_HTTP_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(tr.n, 2);
	assert_int_equal(tr.at[0].hr, LB_HTTP_ERR_CONNECT);
	assert_int_equal(tr.answered, 1);
	assert_int_equal(atomic_load(&live.requests), 1);
	assert_true(took < 2000);
	lb_http_response_free(&r);
	srv_stop(&live);
}

static void test_request_blackhole_then_live(void **state)
{
	struct srv hole, live;
	struct lb_gw_trace tr;
	struct lb_http_response r;
	char urls[256], err[1024];
	int64_t took;
	(void)state;
	srv_start(&hole, 0, "");
	srv_start(&live, 200, "{\"ok\":true}");
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d, http://127.0.0.1:%d", hole.port,
		 live.port);
	/* the black hole gets its share (half of 2 s), the second one the rest */
	assert_int_equal(ask(urls, 0, 2000, "POST", &tr, &r, err, sizeof(err), &took),
			 LB_HTTP_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(tr.n, 2);
	assert_int_equal(tr.at[0].hr, LB_HTTP_ERR_TIMEOUT);
	assert_true(tr.at[0].ms >= 900 && tr.at[0].ms < 1500);
	assert_true(took < 2000 + 300);
	lb_http_response_free(&r);
	/* a call that must not be sent twice stops at the black hole: it may have taken it */
	assert_int_equal(ask(urls, LB_GW_ONCE, 1000, "POST", &tr, &r, err, sizeof(err), &took),
			 LB_HTTP_ERR_TIMEOUT);
	assert_int_equal(tr.n, 1);
	assert_int_equal(atomic_load(&live.requests), 1);
	lb_http_response_free(&r);
	srv_stop(&hole);
	srv_stop(&live);
}

static void test_request_answer_is_final(void **state)
{
	struct srv first, second;
	struct lb_gw_trace tr;
	struct lb_http_response r;
	char urls[256], err[1024];
	int64_t took;
	(void)state;
	srv_start(&second, 200, "{\"ok\":true}");
	/* a refusal from a gateway is its answer: the second one is never asked */
	srv_start(&first, 403, "{\"error\":{\"code\":\"forbidden\",\"message\":\"no\"}}");
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d http://127.0.0.1:%d", first.port,
		 second.port);
	assert_int_equal(ask(urls, 0, 3000, "POST", &tr, &r, err, sizeof(err), &took),
			 LB_HTTP_OK);
	assert_int_equal(r.status, 403);
	assert_int_equal(tr.n, 1);
	assert_int_equal(tr.answered, 0);
	lb_http_response_free(&r);
	srv_stop(&first);
	/* so is the gateway's own 503 (its error body) */
	srv_start(&first, 503, "{\"error\":{\"code\":\"store_busy\",\"message\":\"busy\"}}");
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d http://127.0.0.1:%d", first.port,
		 second.port);
	assert_int_equal(ask(urls, 0, 3000, "GET", &tr, &r, err, sizeof(err), &took), LB_HTTP_OK);
	assert_int_equal(r.status, 503);
	assert_int_equal(tr.n, 1);
	lb_http_response_free(&r);
	srv_stop(&first);
	/* a proxy's 502 page is no answer: the next gateway is asked */
	srv_start(&first, 502, "<html>bad gateway</html>");
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d http://127.0.0.1:%d", first.port,
		 second.port);
	assert_int_equal(ask(urls, LB_GW_ONCE, 3000, "POST", &tr, &r, err, sizeof(err), &took),
			 LB_HTTP_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(tr.n, 2);
	assert_int_equal(tr.answered, 1);
	lb_http_response_free(&r);
	/* ... but when it is the last one tried, its answer is what the caller gets */
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d", first.port);
	assert_int_equal(ask(urls, 0, 3000, "GET", &tr, &r, err, sizeof(err), &took), LB_HTTP_OK);
	assert_int_equal(r.status, 502);
	assert_int_equal(tr.answered, -1);
	lb_http_response_free(&r);
	assert_int_equal(atomic_load(&second.requests), 1);
	srv_stop(&first);
	srv_stop(&second);
}

static void test_request_all_down(void **state)
{
	struct lb_gw_trace tr;
	struct lb_http_response r;
	char urls[256], err[1024], a[64], b[64];
	int64_t took;
	(void)state;
	snprintf(a, sizeof(a), "http://127.0.0.1:%d", dead_port());
	snprintf(b, sizeof(b), "http://127.0.0.1:%d", dead_port());
	snprintf(urls, sizeof(urls), "%s %s", a, b);
	assert_int_equal(ask(urls, 0, 2000, "GET", &tr, &r, err, sizeof(err), &took),
			 LB_HTTP_ERR_CONNECT);
	assert_int_equal(tr.n, 2);
	assert_int_equal(tr.answered, -1);
	/* the error names each gateway and what it did */
	assert_non_null(strstr(err, a));
	assert_non_null(strstr(err, b));
	assert_non_null(strstr(err, "; "));
	lb_http_response_free(&r);
	/* one gateway: the error is what it did, as with a single URL before */
	assert_int_equal(ask(a, 0, 2000, "GET", &tr, &r, err, sizeof(err), &took),
			 LB_HTTP_ERR_CONNECT);
	assert_null(strstr(err, a));
	assert_non_null(strstr(err, "cannot connect"));
}

/* ---- gateway_url in the host config: errors name path:line: key ---- */

static char tmpdir[256];

static int write_conf(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;
	snprintf(path, len, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	fclose(f);
	return chmod(path, 0600);
}

static void host_bad(const char *name, const char *text, const char *needle)
{
	struct lb_hostconf c;
	char path[512], err[1024], want[1200];
	assert_int_equal(write_conf(name, text, path, sizeof(path)), 0);
	if (lb_hostconf_load(&c, path, err, sizeof(err)) == 0)
		fail_msg("%s: loaded, should fail with '%s'", name, needle);
	snprintf(want, sizeof(want), "%s%s", path, needle);
	if (!strstr(err, want))
		fail_msg("%s: error '%s' lacks '%s'", name, err, want);
	lb_hostconf_free(&c);
}

static void test_hostconf(void **state)
{
	struct lb_hostconf c;
	char path[512], err[1024];
	(void)state;
	assert_int_equal(write_conf("two.conf",
				    "# two gateways\n"
				    "gateway_url = https://gw1.example:8443 https://gw2.example:8443\n"
				    "timeout = 3s\n",
				    path, sizeof(path)),
			 0);
	if (lb_hostconf_load(&c, path, err, sizeof(err)) != 0)
		fail_msg("two.conf: %s", err);
	assert_string_equal(c.gateway_url, "https://gw1.example:8443 https://gw2.example:8443");
	assert_int_equal(c.gateways.n, 2);
	assert_string_equal(c.gateways.url[0], "https://gw1.example:8443");
	assert_string_equal(c.gateways.url[1], "https://gw2.example:8443");
	assert_string_equal(lb_gwlist_current(&c.gateways), "https://gw1.example:8443");
	lb_hostconf_free(&c);
	assert_int_equal(c.gateways.n, 0);

	assert_int_equal(write_conf("commas.conf",
				    "gateway_url = \"https://gw1.example, http://127.0.0.1:9\"\n",
				    path, sizeof(path)),
			 0);
	if (lb_hostconf_load(&c, path, err, sizeof(err)) != 0)
		fail_msg("commas.conf: %s", err);
	assert_int_equal(c.gateways.n, 2);
	assert_string_equal(c.gateways.url[1], "http://127.0.0.1:9");
	lb_hostconf_free(&c);

	host_bad("empty.conf", "timeout = 3s\ngateway_url =\n", ":2: gateway_url: no gateway URL");
	host_bad("commas_only.conf", "gateway_url = , ,\n", ":1: gateway_url: no gateway URL");
	host_bad("dup.conf", "\ngateway_url = https://gw1.example https://gw1.example/\n",
		 ":2: gateway_url: https://gw1.example/: given twice");
	host_bad("remote_http.conf",
		 "gateway_url = https://gw1.example, http://gw2.example:8080\n",
		 ":1: gateway_url: http://gw2.example:8080: http:// is allowed only for a loopback");
	host_bad("many.conf",
		 "gateway_url = https://a https://b https://c https://d https://e https://f "
		 "https://g https://h https://i\n",
		 ":1: gateway_url: more than 8 gateway URLs");
	host_bad("twice.conf", "gateway_url = https://a\ngateway_url = https://b\n",
		 ":2: gateway_url: given twice");
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/lbtest-gwlist-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[512];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),    cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_text),     cmocka_unit_test(test_order),
		cmocka_unit_test(test_verdict),  cmocka_unit_test(test_attempt_ms),
		cmocka_unit_test(test_hostconf),
		cmocka_unit_test(test_request_refused_then_live),
		cmocka_unit_test(test_request_blackhole_then_live),
		cmocka_unit_test(test_request_answer_is_final),
		cmocka_unit_test(test_request_all_down),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
