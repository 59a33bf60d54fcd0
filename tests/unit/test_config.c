/* Unit tests for the shared config parser: good files, every kind of error, permissions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockbox/config.h"

struct tcfg {
	char *name;
	char *quoted;
	int64_t timeout;
	int enabled;
	unsigned long count;
	struct lb_strlist peers;
};

static int check_name(void *cfg, const char *v, char *why, size_t len)
{
	(void)cfg;
	if (strlen(v) > 8) {
		snprintf(why, len, "too long");
		return -1;
	}
	return 0;
}

static const struct lb_cfg_key keys[] = {
	{"name", LB_CFG_STRING, offsetof(struct tcfg, name), check_name},
	{"quoted", LB_CFG_STRING, offsetof(struct tcfg, quoted), NULL},
	{"timeout", LB_CFG_DURATION, offsetof(struct tcfg, timeout), NULL},
	{"enabled", LB_CFG_BOOL, offsetof(struct tcfg, enabled), NULL},
	{"count", LB_CFG_UINT, offsetof(struct tcfg, count), NULL},
	{"peers", LB_CFG_LIST, offsetof(struct tcfg, peers), NULL},
	{NULL, 0, 0, NULL},
};

static enum lb_cfg_result parse(const char *name, struct tcfg *c, char *err, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", LB_CONFS_DIR, name);
	memset(c, 0, sizeof(*c));
	return lb_config_parse_file(path, keys, c, 0, err, len);
}

static void test_good(void **state)
{
	struct tcfg c;
	char err[512] = "";
	(void)state;
	assert_int_equal(parse("good.conf", &c, err, sizeof(err)), LB_CFG_OK);
	assert_string_equal(c.name, "alpha");
	assert_int_equal(c.timeout, 90);
	assert_int_equal(c.enabled, 1);
	assert_int_equal(c.count, 42);
	assert_int_equal(c.peers.n, 3);
	assert_string_equal(c.peers.v[2], "c");
	assert_string_equal(c.quoted, "  spaced # not a comment  ");
	lb_config_free_fields(keys, &c);
	assert_null(c.name);
}

static void expect_error(const char *file, enum lb_cfg_result want, const char *needle)
{
	struct tcfg c;
	char err[512] = "";
	assert_int_equal(parse(file, &c, err, sizeof(err)), want);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
	lb_config_free_fields(keys, &c);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("unknown_key.conf", LB_CFG_ERR_KEY, "unknown_key.conf:2: bogus: unknown key");
	expect_error("bad_duration.conf", LB_CFG_ERR_VALUE, "bad_duration.conf:3: timeout:");
	expect_error("syntax.conf", LB_CFG_ERR_SYNTAX, "syntax.conf:2:");
	expect_error("twice.conf", LB_CFG_ERR_VALUE, "twice.conf:2: name: given twice");
	expect_error("bad_bool.conf", LB_CFG_ERR_VALUE, "bad_bool.conf:1: enabled:");
	expect_error("does-not-exist.conf", LB_CFG_ERR_OPEN, "cannot open");
}

static void test_set_validates(void **state)
{
	struct tcfg c;
	char why[256];
	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(lb_config_set(keys, &c, "name", "waytoolongname", why, sizeof(why)),
			 LB_CFG_ERR_VALUE);
	assert_string_equal(why, "too long");
	assert_int_equal(lb_config_set(keys, &c, "name", "a\x01" "b", why, sizeof(why)),
			 LB_CFG_ERR_VALUE);
	assert_int_equal(lb_config_set(keys, &c, "nope", "x", why, sizeof(why)), LB_CFG_ERR_KEY);
	assert_int_equal(lb_config_set(keys, &c, "count", "-1", why, sizeof(why)), LB_CFG_ERR_VALUE);
	assert_int_equal(lb_config_set(keys, &c, "name", "ok", why, sizeof(why)), LB_CFG_OK);
	assert_string_equal(c.name, "ok");
	lb_config_free_fields(keys, &c);
}

static void test_secure_mode(void **state)
{
	char path[] = "/tmp/lb-test-conf-XXXXXX", err[512];
	struct tcfg c;
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "name = x\n", 9), 9);
	close(fd);
	memset(&c, 0, sizeof(c));
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(lb_config_parse_file(path, keys, &c, LB_CFG_SECURE, err, sizeof(err)),
			 LB_CFG_ERR_PERM);
	assert_non_null(strstr(err, "insecure"));
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(lb_config_parse_file(path, keys, &c, LB_CFG_SECURE, err, sizeof(err)),
			 LB_CFG_OK);
	lb_config_free_fields(keys, &c);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_set_validates),
		cmocka_unit_test(test_secure_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
