/* lib/escape.c and lib/url.c: key=value escaping, text sanitising, the gateway URL rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lockbox/escape.h"
#include "lockbox/http.h"

static void esc(const char *in, const char *want)
{
	char out[256];
	size_t n = lb_escape_value(in, out, sizeof(out));
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_escape_value(void **state)
{
	(void)state;
	esc("alice", "alice");
	esc("10.0.0.5", "10.0.0.5");
	esc("req_0123-abc:/@+,", "req_0123-abc:/@+,");
	esc(NULL, "-");
	esc("", "\"\"");
	esc("two words", "\"two words\"");
	esc("a=b", "\"a=b\"");
	esc("q\"b\\s", "\"q\\\"b\\\\s\"");
	esc("l1\nl2\r\t", "\"l1\\nl2\\r\\t\"");
	esc("\x1b[2J\x7f", "\"\\x1b[2J\\x7f\"");
	esc("\xc3\xa9\xff", "\"\\xc3\\xa9\\xff\"");
	esc("%n%s", "\"%n%s\"");
}

static void test_escape_truncation(void **state)
{
	char out[8];
	size_t n;
	(void)state;
	n = lb_escape_value("abcdefghijkl", out, sizeof(out));
	assert_int_equal(n, 12);
	assert_string_equal(out, "abcdefg");
	n = lb_escape_value("\n\n\n\n", out, sizeof(out));
	assert_int_equal(n, 10);
	/* never cut inside an escape, always closed */
	assert_string_equal(out, "\"\\n\\n\"");
	n = lb_escape_value("x y", out, 2);
	assert_string_equal(out, "");
}

static void test_escape_text(void **state)
{
	char out[64];
	(void)state;
	lb_escape_text("pts/1\r%n\x07\xff \"q\" \\", out, sizeof(out));
	assert_string_equal(out, "pts/1\\r%n\\x07\\xff \"q\" \\\\");
	lb_escape_text("\n\n\n", out, 5);
	assert_string_equal(out, "\\n\\n");
}

static void test_kv(void **state)
{
	char buf[64];
	struct lb_kvbuf kv;
	(void)state;
	lb_kv_init(&kv, buf, sizeof(buf));
	assert_int_equal(lb_kv_add(&kv, "event", "session.start"), 0);
	assert_int_equal(lb_kv_add(&kv, "rhost", "a b\n"), 0);
	assert_int_equal(lb_kv_add_long(&kv, "pid", 42), 0);
	assert_string_equal(buf, "event=session.start rhost=\"a b\\n\" pid=42");
	assert_int_equal(lb_kv_add(&kv, "long", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), -1);
	assert_true(kv.truncated);
	assert_non_null(strstr(buf, " truncated=1"));
	assert_int_equal(lb_kv_add(&kv, "later", "x"), -1);
	lb_kv_init(&kv, buf, sizeof(buf));
	lb_kv_add(&kv, "Bad Key=", "v");
	assert_string_equal(buf, "bad_key=v");
}

static void test_sanitize(void **state)
{
	char out[16];
	(void)state;
	assert_string_equal(lb_sanitize_text("ok\x1b[1m\n\xc3\xa9", out, sizeof(out)),
			    "ok?[1m???");
	assert_string_equal(lb_sanitize_text(NULL, out, sizeof(out)), "");
	assert_string_equal(lb_sanitize_text("0123456789abcdefXYZ", out, sizeof(out)),
			    "0123456789abcde");
}

static void test_url_check(void **state)
{
	char why[256];
	static const char *good[] = {
		"https://gw.example:8443", "https://10.1.2.3/", "http://127.0.0.1:8080",
		"http://127.255.0.9", "http://[::1]:80/x", "http://localhost:9", "HTTPS://GW/",
		NULL};
	static const char *bad[] = {
		"", "ftp://x/", "http://10.0.0.1/", "http://127.1/", "http://0x7f000001/",
		"http://localhost.evil.example/", "http://127.0.0.1.evil.example/",
		"https://user@gw/", "http://evil@127.0.0.1/", "http://[::2]/", "https://gw /",
		"https://gw\n/", "gw.example:8443", "http://[::1", "https://", NULL};
	(void)state;
	for (int i = 0; good[i]; i++)
		assert_int_equal(lb_url_check(good[i], why, sizeof(why)), 0);
	for (int i = 0; bad[i]; i++) {
		why[0] = '\0';
		assert_int_equal(lb_url_check(bad[i], why, sizeof(why)), -1);
		assert_true(why[0] != '\0');
	}
	/* what every request goes through: the same verdicts, with libcurl's own parse of
	 * the scheme and host agreeing */
	for (int i = 0; good[i]; i++)
		assert_int_equal(lb_http_url_ok(good[i], why, sizeof(why)), 0);
	for (int i = 0; bad[i]; i++)
		assert_int_equal(lb_http_url_ok(bad[i], why, sizeof(why)), -1);
}

static void test_url_join(void **state)
{
	char out[32];
	(void)state;
	assert_int_equal(lb_url_join(out, sizeof(out), "https://gw//", "/v1/check"), 0);
	assert_string_equal(out, "https://gw/v1/check");
	assert_int_equal(lb_url_join(out, 8, "https://gw", "/v1/check"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_value), cmocka_unit_test(test_escape_truncation),
		cmocka_unit_test(test_escape_text),  cmocka_unit_test(test_kv),
		cmocka_unit_test(test_sanitize),     cmocka_unit_test(test_url_check),
		cmocka_unit_test(test_url_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
