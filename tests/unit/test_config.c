/* Unit tests for the shared config parser (good files, every kind of error, permissions) and
 * for the host config built on it, lib/hostconf.c: defaults, bounds, paths, the host token. */
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
#include "lockbox/hostconf.h"

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

/* A value may carry a trailing '# comment' (issue 14); a '#' inside a word or in quotes stays. */
static void test_trailing_comments(void **state)
{
	struct tcfg c;
	char err[512] = "";
	(void)state;
	assert_int_equal(parse("comments.conf", &c, err, sizeof(err)), LB_CFG_OK);
	assert_string_equal(c.name, "a#b");
	assert_int_equal(c.timeout, 90);
	assert_int_equal(c.enabled, 1);
	assert_string_equal(c.quoted, "x # kept");
	assert_int_equal(c.peers.n, 2);
	assert_string_equal(c.peers.v[1], "b");
	lb_config_free_fields(keys, &c);
	/* "42#not..." is one word: a bad number, not 42 with a comment */
	memset(&c, 0, sizeof(c));
	assert_int_equal(lb_config_set(keys, &c, "count", "42#x", err, sizeof(err)),
			 LB_CFG_ERR_VALUE);
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

/* ---- lib/hostconf.c ---- */

/* A private copy of a fixture (mode 0600, ours): the host config must not be writable by
 * group or others, whatever the checkout's umask left on tests/confs. */
static char tmpdir[64];

static const char *copy_fixture(const char *name, char *out, size_t outlen)
{
	char src[1024], buf[4096];
	FILE *in, *o;
	size_t n;

	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/lb-hostconf-XXXXXX");
		assert_non_null(mkdtemp(tmpdir));
	}
	snprintf(src, sizeof(src), "%s/%s", LB_CONFS_DIR, name);
	snprintf(out, outlen, "%s/%s", tmpdir, name);
	in = fopen(src, "re");
	if (!in)
		fail_msg("fixture %s: cannot open", src);
	o = fopen(out, "we");
	assert_non_null(o);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, o), n);
	fclose(in);
	assert_int_equal(fclose(o), 0);
	assert_int_equal(chmod(out, 0600), 0);
	return out;
}

static int load_fixture(const char *name, struct lb_hostconf *c, char *err, size_t errlen)
{
	char path[1024];
	err[0] = '\0';
	return lb_hostconf_load(c, copy_fixture(name, path, sizeof(path)), err, errlen);
}

/* Loading NAME fails, and the error names PATH:LINE: KEY (NEEDLE is that tail). */
static void host_error(const char *name, const char *needle)
{
	struct lb_hostconf c;
	char err[1024], want[1200];
	if (load_fixture(name, &c, err, sizeof(err)) == 0)
		fail_msg("%s: loaded, but should fail with '%s'", name, needle);
	snprintf(want, sizeof(want), "%s/%s%s", tmpdir, name, needle);
	if (!strstr(err, want))
		fail_msg("%s: error '%s' lacks '%s'", name, err, want);
	if (strchr(err, '\n'))
		fail_msg("%s: error '%s' is not one line", name, err);
	lb_hostconf_free(&c);
	lb_hostconf_free(&c); /* freeing twice is safe: free leaves it empty */
}

static void test_hostconf_defaults(void **state)
{
	struct lb_hostconf c;
	char err[1024];
	(void)state;
	if (load_fixture("host_minimal.conf", &c, err, sizeof(err)) != 0)
		fail_msg("host_minimal.conf: %s", err);
	assert_string_equal(c.gateway_url, "https://gw.example:8443");
	assert_null(c.ca_file);  /* the system CA store */
	assert_null(c.host_id);  /* learnt from the gateway */
	assert_string_equal(c.host_token_file, "/etc/lockbox/host.token");
	assert_string_equal(c.gated_group, "lockbox-engineers");
	assert_int_equal(c.exempt_users.n, 0);
	assert_int_equal(c.timeout, 5);
	assert_string_equal(c.audit_log, "/var/log/lockbox/audit.log");
	assert_string_equal(c.agent_socket, "/run/lockbox/agent.sock");
	assert_int_equal(c.warn_before, 600);
	assert_int_equal(c.kill_grace, 5);
	assert_non_null(strstr(c.path, "host_minimal.conf"));
	lb_hostconf_free(&c);
	assert_null(c.gateway_url);
	assert_null(c.agent_socket);
	assert_null(c.path);
}

static void test_hostconf_full(void **state)
{
	struct lb_hostconf c;
	char err[1024];
	(void)state;
	if (load_fixture("host_full.conf", &c, err, sizeof(err)) != 0)
		fail_msg("host_full.conf: %s", err);
	assert_string_equal(c.gateway_url, "https://gw1.example:8443");
	assert_string_equal(c.ca_file, "/etc/lockbox/ca.pem");
	assert_string_equal(c.host_token_file, "/etc/lockbox/other.token");
	assert_string_equal(c.host_id, "web-01.example.com");
	assert_string_equal(c.gated_group, "support");
	assert_int_equal(c.exempt_users.n, 2);
	assert_string_equal(c.exempt_users.v[0], "root");
	assert_string_equal(c.exempt_users.v[1], "backup");
	assert_int_equal(c.timeout, 120);
	assert_string_equal(c.audit_log, "/var/log/lockbox/other.log");
	assert_string_equal(c.agent_socket, "/run/lockbox/other.sock");
	assert_int_equal(c.warn_before, 86400);
	assert_int_equal(c.kill_grace, 300);
	lb_hostconf_free(&c);
}

static void test_hostconf_bounds(void **state)
{
	struct lb_hostconf c;
	char err[1024];
	(void)state;
	/* warn_before = 0s: no warning, and it stays 0 (not the default) */
	if (load_fixture("host_warn_zero.conf", &c, err, sizeof(err)) != 0)
		fail_msg("host_warn_zero.conf: %s", err);
	assert_int_equal(c.warn_before, 0);
	assert_int_equal(c.kill_grace, 5);
	lb_hostconf_free(&c);
	host_error("host_warn_big.conf", ":2: warn_before:");
	host_error("host_kill_grace_zero.conf", ":2: kill_grace:");
	host_error("host_kill_grace_big.conf", ":2: kill_grace:");
	host_error("host_timeout_zero.conf", ":2: timeout:");
	host_error("host_timeout_big.conf", ":3: timeout:");
}

static void test_hostconf_paths(void **state)
{
	(void)state;
	host_error("host_socket_long.conf", ":2: agent_socket: a UNIX socket path must be shorter");
	host_error("host_socket_relative.conf", ":2: agent_socket: 'run/agent.sock' is not an "
						"absolute path");
	host_error("host_audit_relative.conf", ":2: audit_log:");
	host_error("host_ca_relative.conf", ":2: ca_file:");
	host_error("host_token_relative.conf", ":2: host_token_file:");
}

static void test_hostconf_errors(void **state)
{
	struct lb_hostconf c;
	char err[1024], path[1024];
	(void)state;
	host_error("host_no_gateway.conf", ": gateway_url: missing");
	host_error("host_http_remote.conf", ":1: gateway_url:");
	host_error("host_unknown_key.conf", ":2: agent_sock: unknown key");
	/* group- or world-writable: refused (the module and the agent trust this file) */
	copy_fixture("host_minimal.conf", path, sizeof(path));
	assert_int_equal(chmod(path, 0620), 0);
	assert_int_equal(lb_hostconf_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "insecure"));
	lb_hostconf_free(&c);
	assert_int_equal(chmod(path, 0644), 0); /* world-readable is fine */
	assert_int_equal(lb_hostconf_load(&c, path, err, sizeof(err)), 0);
	lb_hostconf_free(&c);
	assert_int_equal(lb_hostconf_load(&c, "/nonexistent/pam_lockbox.conf", err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "/nonexistent/pam_lockbox.conf"));
	lb_hostconf_free(&c);
}

static void test_hostconf_key_table(void **state)
{
	static const char *const want[] = {"gateway_url", "ca_file", "host_token_file", "host_id",
					   "gated_group", "exempt_users", "timeout", "audit_log",
					   "agent_socket", "warn_before", "kill_grace"};
	size_t n = 0;
	(void)state;
	for (const struct lb_cfg_key *k = lb_hostconf_keys; k->key; k++)
		n++;
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(lb_hostconf_keys[i].key, want[i]);
}

static void write_token(const char *path, const char *text, mode_t mode)
{
	FILE *f;
	unlink(path);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void token_refused(const char *path, const char *needle)
{
	char err[512] = "";
	char *t = lb_hostconf_read_token(path, err, sizeof(err));
	if (t)
		fail_msg("token '%s' accepted, expected '%s'", t, needle);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_hostconf_token(void **state)
{
	char path[1024], link[1100], err[512], big[600];
	char *t;
	(void)state;
	if (!tmpdir[0])
		copy_fixture("host_minimal.conf", path, sizeof(path));
	snprintf(path, sizeof(path), "%s/host.token", tmpdir);
	write_token(path, "lbh_0123456789abcdef\n", 0600);
	t = lb_hostconf_read_token(path, err, sizeof(err));
	assert_non_null(t);
	assert_string_equal(t, "lbh_0123456789abcdef");
	free(t);
	write_token(path, "lbh_0123456789abcdef\r\n  ", 0400);
	t = lb_hostconf_read_token(path, err, sizeof(err));
	assert_non_null(t); /* trailing CR and spaces go; 0400 is fine */
	assert_string_equal(t, "lbh_0123456789abcdef");
	free(t);
	write_token(path, "lbh_0123456789abcdef\n", 0640);
	token_refused(path, "0600");
	write_token(path, "lbh_0123456789abcdef\n", 0604);
	token_refused(path, "0600");
	write_token(path, "\n", 0600);
	token_refused(path, "empty or malformed");
	write_token(path, "lbh_a b\n", 0600);
	token_refused(path, "empty or malformed");
	write_token(path, "lbh_\x1b[2J\n", 0600);
	token_refused(path, "empty or malformed");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_token(path, big, 0600);
	token_refused(path, "empty or malformed");
	write_token(path, "lbh_0123456789abcdef\n", 0600);
	snprintf(link, sizeof(link), "%s.link", path);
	unlink(link);
	assert_int_equal(symlink(path, link), 0);
	token_refused(link, "cannot open"); /* O_NOFOLLOW */
	unlink(link);
	token_refused(tmpdir, "not a regular file");
	unlink(path);
	token_refused(path, "cannot open");
}

static int cleanup_tmp(void **state)
{
	char cmd[128];
	(void)state;
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_trailing_comments),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_set_validates),
		cmocka_unit_test(test_secure_mode),
		cmocka_unit_test(test_hostconf_defaults),
		cmocka_unit_test(test_hostconf_full),
		cmocka_unit_test(test_hostconf_bounds),
		cmocka_unit_test(test_hostconf_paths),
		cmocka_unit_test(test_hostconf_errors),
		cmocka_unit_test(test_hostconf_key_table),
		cmocka_unit_test(test_hostconf_token),
	};
	return cmocka_run_group_tests(tests, NULL, cleanup_tmp);
}
