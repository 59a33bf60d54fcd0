/* lib/jsonflat.c: the PAM module's JSON writer and reader, checked against jansson (which the
 * agent on the other end of the socket uses): what one writes the other reads the same, and
 * the reader accepts exactly the flat objects jansson accepts, on a fixed set of cases and on
 * many mutations of real answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "lockbox/jsonflat.h"

/* ---- writer ---- */

static void test_writer_roundtrip(void **state)
{
	char buf[512];
	struct lb_jw w;
	json_error_t e;
	json_t *j, *d;
	long n;
	(void)state;

	lb_jw_init(&w, buf, sizeof(buf));
	lb_jw_str(&w, "plain", "alice");
	lb_jw_str(&w, "hard", "q\"b\\s/\x01\t\n\x1f\x7f é 💡");
	lb_jw_int(&w, "neg", -9223372036854775807LL - 1);
	lb_jw_int(&w, "pos", 42);
	lb_jw_bool(&w, "t", 1);
	lb_jw_bool(&w, "f", 0);
	lb_jw_null(&w, "nothing");
	lb_jw_str(&w, "also_null", NULL);
	lb_jw_object(&w, "details");
	lb_jw_str(&w, "k", "v");
	lb_jw_object(&w, "deeper");
	lb_jw_end(&w);
	lb_jw_end(&w);
	lb_jw_str(&w, "after", "x");
	n = lb_jw_finish(&w);
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_null(memchr(buf, '\n', (size_t)n)); /* one line, whatever the values hold */
	j = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &e);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "plain")), "alice");
	assert_string_equal(json_string_value(json_object_get(j, "hard")),
			    "q\"b\\s/\x01\t\n\x1f\x7f é 💡");
	assert_true(json_integer_value(json_object_get(j, "neg")) == INT64_MIN);
	assert_int_equal(json_integer_value(json_object_get(j, "pos")), 42);
	assert_true(json_is_true(json_object_get(j, "t")));
	assert_true(json_is_false(json_object_get(j, "f")));
	assert_true(json_is_null(json_object_get(j, "nothing")));
	assert_true(json_is_null(json_object_get(j, "also_null")));
	d = json_object_get(j, "details");
	assert_string_equal(json_string_value(json_object_get(d, "k")), "v");
	assert_true(json_is_object(json_object_get(d, "deeper")));
	assert_string_equal(json_string_value(json_object_get(j, "after")), "x");
	json_decref(j);
}

static void test_writer_refuses(void **state)
{
	char buf[64], small[16];
	struct lb_jw w;
	(void)state;

	/* invalid UTF-8 (a lone continuation byte, an overlong '/', a surrogate) */
	const char *bad[] = {"a\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lb_jw_init(&w, buf, sizeof(buf));
		lb_jw_str(&w, "k", bad[i]);
		assert_int_equal(lb_jw_finish(&w), -1);
	}
	lb_jw_init(&w, buf, sizeof(buf));
	lb_jw_str(&w, bad[0], "value");
	assert_int_equal(lb_jw_finish(&w), -1);
	/* does not fit: refused, never cut */
	lb_jw_init(&w, small, sizeof(small));
	lb_jw_str(&w, "key", "a value too long");
	assert_int_equal(lb_jw_finish(&w), -1);
	/* exactly fits (with its NUL) */
	lb_jw_init(&w, small, sizeof(small));
	lb_jw_str(&w, "k", "1234567");
	assert_int_equal(lb_jw_finish(&w), 15);
	assert_string_equal(small, "{\"k\":\"1234567\"}");
	/* too deep, and closing more than was opened */
	lb_jw_init(&w, buf, sizeof(buf));
	for (int i = 0; i < LB_JW_MAX_DEPTH; i++)
		lb_jw_object(&w, "o");
	assert_int_equal(lb_jw_finish(&w), -1);
	lb_jw_init(&w, buf, sizeof(buf));
	lb_jw_end(&w);
	lb_jw_end(&w);
	assert_int_equal(lb_jw_finish(&w), -1);
	/* an empty object */
	lb_jw_init(&w, buf, sizeof(buf));
	assert_int_equal(lb_jw_finish(&w), 2);
	assert_string_equal(buf, "{}");
}

/* ---- reader ---- */

static int parse(const char *text, struct lb_jflat *o, char *copy, size_t cap)
{
	char why[128];
	size_t n = strlen(text);
	assert_true(n < cap);
	memcpy(copy, text, n + 1);
	return lb_jflat_parse(copy, n, o, why, sizeof(why));
}

static void test_reader_cases(void **state)
{
	static const char *good[] = {
		"{}",
		" \t\r\n{ } \n",
		"{\"a\":\"b\",\"n\":-0,\"m\":123,\"t\":true,\"f\":false,\"z\":null}",
		"{\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\udca1\"}",
		"{\"max\":9223372036854775807,\"min\":-9223372036854775808}",
		"{\"\":\"empty key\"}",
		"{\"utf8\":\"é💡\x7f\"}",
	};
	static const char *bad[] = {
		"", " ", "[]", "\"s\"", "1", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
		"{,\"a\":1}", "{\"a\":1}x", "{\"a\":1}{}", "{\"a\":1 \"b\":2}", "{'a':1}",
		"{a:1}", "{\"a\":01}", "{\"a\":1.5}", "{\"a\":1e3}", "{\"a\":-}", "{\"a\":+1}",
		"{\"a\":9223372036854775808}", "{\"a\":-9223372036854775809}",
		"{\"a\":tru}", "{\"a\":truex}", "{\"a\":nul}", "{\"a\":[1]}", "{\"a\":{}}",
		"{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
		"{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\\x41\"}", "{\"a\":\"\\u12\"}",
		"{\"a\":\"\x01\"}", "{\"a\":\"\n\"}", "{\"a\":\"\x80\"}", "{\"a\":\"\xc0\xaf\"}",
		"{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"abc",
		"{\"a\":1,\"a\":2}", "{\"decision\":\"deny\",\"decision\":\"allow\"}",
	};
	struct lb_jflat o;
	char copy[256];
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(parse(good[i], &o, copy, sizeof(copy)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &o, copy, sizeof(copy)) != -1)
			fail_msg("accepted: %s", bad[i]);
	}
	assert_int_equal(parse(good[2], &o, copy, sizeof(copy)), 0);
	assert_int_equal(o.n, 6);
	assert_string_equal(lb_jflat_str(&o, "a"), "b");
	assert_int_equal(lb_jflat_get(&o, "n")->type, LB_JF_INT);
	assert_int_equal(lb_jflat_get(&o, "m")->num, 123);
	assert_int_equal(lb_jflat_get(&o, "t")->type, LB_JF_BOOL);
	assert_int_equal(lb_jflat_get(&o, "t")->num, 1);
	assert_int_equal(lb_jflat_get(&o, "f")->num, 0);
	assert_int_equal(lb_jflat_get(&o, "z")->type, LB_JF_NULL);
	assert_null(lb_jflat_str(&o, "m"));
	assert_null(lb_jflat_get(&o, "missing"));
	assert_int_equal(parse(good[3], &o, copy, sizeof(copy)), 0);
	assert_string_equal(lb_jflat_str(&o, "esc"), "\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x92\xa1");
	assert_int_equal(parse(good[4], &o, copy, sizeof(copy)), 0);
	assert_true(lb_jflat_get(&o, "max")->num == INT64_MAX);
	assert_true(lb_jflat_get(&o, "min")->num == INT64_MIN);
}

static void test_reader_limits(void **state)
{
	char text[2048], why[128];
	struct lb_jflat o;
	size_t n = 0;
	(void)state;

	/* LB_JFLAT_MAX members fit, one more does not */
	n += (size_t)snprintf(text + n, sizeof(text) - n, "{");
	for (int i = 0; i < LB_JFLAT_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\"k%d\":%d", i ? "," : "", i, i);
	snprintf(text + n, sizeof(text) - n, "}");
	assert_int_equal(lb_jflat_parse(text, strlen(text), &o, why, sizeof(why)), 0);
	assert_int_equal(o.n, LB_JFLAT_MAX);
	snprintf(text + n, sizeof(text) - n, ",\"one_more\":1}");
	assert_int_equal(lb_jflat_parse(text, strlen(text), &o, why, sizeof(why)), -1);
	/* the length given is the end, whatever follows in memory */
	strcpy(text, "{\"a\":1}garbage");
	assert_int_equal(lb_jflat_parse(text, 7, &o, why, sizeof(why)), 0);
	assert_int_equal(lb_jflat_parse(text, 6, &o, why, sizeof(why)), -1);
	/* a NUL inside the given length is not whitespace */
	memcpy(text, "{\"a\":1}\0", 8);
	assert_int_equal(lb_jflat_parse(text, 8, &o, why, sizeof(why)), -1);
	/* lb_jflat_add refuses a key twice and a full view */
	memset(&o, 0, sizeof(o));
	assert_int_equal(lb_jflat_add(&o, "k", LB_JF_INT, NULL, 1), 0);
	assert_int_equal(lb_jflat_add(&o, "k", LB_JF_INT, NULL, 2), -1);
}

/* ---- the reader against jansson ---- */

/* 1 when jansson's J is what the reader must accept: an object of at most LB_JFLAT_MAX
 * members whose values are strings (without NUL), integers, booleans or null. */
static int flat_for_jansson(const json_t *j)
{
	const char *k;
	json_t *v;
	if (!json_is_object(j) || json_object_size(j) > LB_JFLAT_MAX)
		return 0;
	json_object_foreach((json_t *)j, k, v) {
		if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
			return 0;
		if (!(json_is_string(v) || json_is_integer(v) || json_is_boolean(v) ||
		      json_is_null(v)))
			return 0;
	}
	return 1;
}

static void same(const struct lb_jflat *o, const json_t *j, const char *text)
{
	if (o->n != json_object_size(j))
		fail_msg("member count differs for %s", text);
	for (size_t i = 0; i < o->n; i++) {
		const struct lb_jflat_field *f = &o->f[i];
		json_t *v = json_object_get(j, f->key);
		int ok = v != NULL;
		if (ok && f->type == LB_JF_STRING)
			ok = json_is_string(v) && strcmp(json_string_value(v), f->str) == 0;
		else if (ok && f->type == LB_JF_INT)
			ok = json_is_integer(v) && json_integer_value(v) == f->num;
		else if (ok && f->type == LB_JF_BOOL)
			ok = json_is_boolean(v) && json_is_true(v) == (int)f->num;
		else if (ok)
			ok = f->type == LB_JF_NULL && json_is_null(v);
		if (!ok)
			fail_msg("member '%s' differs for %s", f->key, text);
	}
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void test_reader_vs_jansson(void **state)
{
	static const char *seeds[] = {
		"{\"decision\":\"allow\",\"reason\":\"allow\",\"message\":\"lockbox: access granted "
		"by request req_b000000000000013 until 2026-12-03T04:20:50.000Z\",\"decision_id\":"
		"\"69970c2f-b0cd-4afa-874e-c9235c19ee14\",\"user\":\"root\",\"host\":\"bench-host\","
		"\"at_gateway\":false,\"request\":\"req_b000000000000013\",\"grant_expires_at\":"
		"\"2026-12-03T04:20:50.000Z\",\"recorded\":true,\"access\":\"ssh\"}",
		"{\"ok\":false,\"error\":\"no such session \\u00e9\\ud83d\\udca1\\n\"}",
		"{\"a\":-12,\"b\":null,\"c\":[1,{\"d\":2.5e3}],\"e\":\"\\\"q\\\"\"}",
	};
	static const char alphabet[] = "{}[]\":,\\u0123456789abcdefnulltruefalse -+.eE\t\n\x80\xc3\xa9";
	char text[1024], copy[1024], why[128];
	unsigned accepted = 0, refused = 0;
	(void)state;

	for (int round = 0; round < 60000; round++) {
		const char *seed = seeds[next() % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t n = strlen(seed), edits = 1 + next() % 3;
		struct lb_jflat o;
		json_error_t e;
		json_t *j;
		int rc;

		memcpy(text, seed, n);
		for (size_t k = 0; k < edits && round % 16; k++) {
			size_t at = next() % (n + 1);
			switch (next() % 4) {
			case 0: /* replace a byte */
				if (at < n)
					text[at] = alphabet[next() % (sizeof(alphabet) - 1)];
				break;
			case 1: /* insert a byte */
				if (n + 1 < sizeof(text)) {
					memmove(text + at + 1, text + at, n - at);
					text[at] = alphabet[next() % (sizeof(alphabet) - 1)];
					n++;
				}
				break;
			case 2: /* delete a byte */
				if (at < n) {
					memmove(text + at, text + at + 1, n - at - 1);
					n--;
				}
				break;
			default: /* cut the end */
				n = at;
				break;
			}
		}
		memcpy(copy, text, n);
		copy[n] = '\0';
		rc = lb_jflat_parse(copy, n, &o, why, sizeof(why));
		j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &e);
		text[n] = '\0';
		if (rc == 0) {
			accepted++;
			if (!j || !flat_for_jansson(j))
				fail_msg("the reader accepted what jansson refuses or nests: %s", text);
			same(&o, j, text);
		} else {
			refused++;
			if (j && flat_for_jansson(j))
				fail_msg("the reader refused a flat object jansson accepts (%s): %s",
					 why, text);
		}
		json_decref(j);
	}
	/* the mutations reach both sides */
	assert_true(accepted > 1000);
	assert_true(refused > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_roundtrip),
		cmocka_unit_test(test_writer_refuses),
		cmocka_unit_test(test_reader_cases),
		cmocka_unit_test(test_reader_limits),
		cmocka_unit_test(test_reader_vs_jansson),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
