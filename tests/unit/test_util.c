/* Unit tests for durations, RFC 3339 times, UUIDs, hashing and string checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "lockbox/util.h"
#include "lockbox/json.h"

static void test_durations(void **state)
{
	int64_t s;
	char buf[32];
	(void)state;
	assert_int_equal(lb_duration_parse("90s", &s), 0); assert_int_equal(s, 90);
	assert_int_equal(lb_duration_parse("30m", &s), 0); assert_int_equal(s, 1800);
	assert_int_equal(lb_duration_parse("8h", &s), 0); assert_int_equal(s, 28800);
	assert_int_equal(lb_duration_parse("4d", &s), 0); assert_int_equal(s, 345600);
	assert_int_equal(lb_duration_parse("1h30m", &s), 0); assert_int_equal(s, 5400);
	const char *bad[] = {"", "h", "10", "10x", "-5m", "5 m", "1.5h", "400d",
			     "99999999999999999999s", "1h ", NULL};
	for (int i = 0; bad[i]; i++)
		assert_int_equal(lb_duration_parse(bad[i], &s), -1);
	lb_duration_format(5400, buf, sizeof(buf));
	assert_string_equal(buf, "1h30m");
	lb_duration_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "0s");
	lb_duration_format(4 * 86400, buf, sizeof(buf));
	assert_string_equal(buf, "4d");
}

static void test_times(void **state)
{
	int64_t ms;
	char buf[LB_TIME_BUFLEN];
	(void)state;
	assert_int_equal(lb_time_parse("2026-11-23T06:44:32Z", &ms), 0);
	assert_int_equal(ms, 1795416272000LL);
	lb_time_format(ms + 123, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-23T06:44:32.123Z");
	assert_int_equal(lb_time_parse(buf, &ms), 0);
	assert_int_equal(ms, 1795416272123LL);
	assert_int_equal(lb_time_parse("2026-11-23T08:44:32+02:00", &ms), 0);
	assert_int_equal(ms, 1795416272000LL);
	assert_int_equal(lb_time_parse("2024-02-29T00:00:00Z", &ms), 0);
	const char *bad[] = {"2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "1969-12-31T23:59:59Z",
			     "10000-01-01T00:00:00Z", "2026-11-23 06:44:32Z", "2026-11-23T06:44:32",
			     "2026-11-23T24:00:00Z", "2026-11-23T06:44:32.Z", "yesterday", "", NULL};
	for (int i = 0; bad[i]; i++)
		assert_int_equal(lb_time_parse(bad[i], &ms), -1);
	assert_true(lb_time_now_ms() > 1795416272000LL - 86400000LL * 365);
}

static void test_random_and_hash(void **state)
{
	char a[37], b[37], h[65];
	(void)state;
	assert_int_equal(lb_uuid4(a, sizeof(a)), 0);
	assert_int_equal(lb_uuid4(b, sizeof(b)), 0);
	assert_true(lb_uuid_valid(a));
	assert_string_not_equal(a, b);
	assert_int_equal(a[14], '4');
	/* version 7: valid, variant bits set, and later ids sort after earlier ones */
	assert_int_equal(lb_uuid7(a, sizeof(a)), 0);
	usleep(2000);
	assert_int_equal(lb_uuid7(b, sizeof(b)), 0);
	assert_true(lb_uuid_valid(a) && lb_uuid_valid(b));
	assert_int_equal(a[14], '7');
	assert_true(strchr("89ab", a[19]) != NULL);
	assert_true(strcmp(a, b) < 0);
	assert_int_equal(lb_uuid7(a, 36), -1);
	assert_false(lb_uuid_valid("not-a-uuid"));
	lb_sha256_hex("abc", 3, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	lb_hmac_sha256_hex("key", 3, "The quick brown fox jumps over the lazy dog", 43, h);
	assert_string_equal(h, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
	assert_true(lb_streq_ct("abc", "abc"));
	assert_false(lb_streq_ct("abc", "abd"));
	assert_false(lb_streq_ct("abc", "abcd"));
}

static void test_clean(void **state)
{
	(void)state;
	assert_true(lb_str_clean("plain ascii; DROP TABLE x; --'\""));
	assert_true(lb_str_clean("caf\xc3\xa9 \xe2\x82\xac"));
	assert_false(lb_str_clean("line\nbreak"));
	assert_false(lb_str_clean("esc\x1b[31m"));
	assert_false(lb_str_clean("del\x7f"));
	assert_false(lb_str_clean("bad\xc3"));
	assert_false(lb_str_clean("overlong\xc0\xaf"));
	assert_false(lb_str_clean("c1\xc2\x85"));
}

static void test_json(void **state)
{
	char why[256];
	json_t *j;
	(void)state;
	assert_null(lb_json_parse_object("{\"a\":1,\"a\":2}", 13, why, sizeof(why)));
	assert_null(lb_json_parse_object("[1]", 3, why, sizeof(why)));
	assert_null(lb_json_parse_object("{", 1, why, sizeof(why)));
	j = lb_json_parse_object("{\"a\":\"x\",\"b\":true}", 18, why, sizeof(why));
	assert_non_null(j);
	assert_string_equal(lb_json_str(j, "a"), "x");
	assert_null(lb_json_str(j, "b"));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations), cmocka_unit_test(test_times),
		cmocka_unit_test(test_random_and_hash), cmocka_unit_test(test_clean),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
