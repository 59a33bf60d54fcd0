/* pam_lockbox: pam_lockbox.conf and module arguments, through liblockbox's config parser. */

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbpam.h"
#include "lockbox/http.h"
#include "lockbox/util.h"

static int check_url(void *cfg, const char *value, char *why, size_t whylen)
{
	(void)cfg;
	return lb_url_check(value, why, whylen);
}

static int check_abs_path(void *cfg, const char *value, char *why, size_t whylen)
{
	(void)cfg;
	if (value[0] != '/') {
		snprintf(why, whylen, "'%s' is not an absolute path", value);
		return -1;
	}
	return 0;
}

static int check_timeout(void *cfg, const char *value, char *why, size_t whylen)
{
	int64_t s;
	(void)cfg;
	if (lb_duration_parse(value, &s) != 0 || s < 1 || s > LBPAM_MAX_TIMEOUT) {
		snprintf(why, whylen, "'%s' must be a duration from 1s to %ds", value,
			 LBPAM_MAX_TIMEOUT);
		return -1;
	}
	return 0;
}

static int check_name(void *cfg, const char *value, char *why, size_t whylen)
{
	(void)cfg;
	if (!*value || strlen(value) > 255) {
		snprintf(why, whylen, "must be 1..255 characters");
		return -1;
	}
	return 0;
}

#define OFF(f) offsetof(struct lbpam_conf, f)
static const struct lb_cfg_key conf_keys[] = {
	{"gateway_url", LB_CFG_STRING, OFF(gateway_url), check_url},
	{"ca_file", LB_CFG_STRING, OFF(ca_file), check_abs_path},
	{"host_token_file", LB_CFG_STRING, OFF(host_token_file), check_abs_path},
	{"host_id", LB_CFG_STRING, OFF(host_id), check_name},
	{"gated_group", LB_CFG_STRING, OFF(gated_group), check_name},
	{"exempt_users", LB_CFG_LIST, OFF(exempt_users), NULL},
	{"timeout", LB_CFG_DURATION, OFF(timeout), check_timeout},
	{"audit_log", LB_CFG_STRING, OFF(audit_log), check_abs_path},
	{NULL, 0, 0, NULL},
};

/* Module arguments: a small table of their own (they are not config keys). */
static const struct lb_cfg_key arg_keys[] = {
	{"config", LB_CFG_STRING, OFF(config_path), check_abs_path},
	{NULL, 0, 0, NULL},
};
#undef OFF

static int set_default(char **field, const char *value)
{
	if (*field)
		return 0;
	*field = strdup(value);
	return *field ? 0 : -1;
}

int lbpam_conf_load(struct lbpam_conf *c, int argc, const char **argv, char *err, size_t errlen)
{
	char why[256];
	const char *path;

	memset(c, 0, sizeof(*c));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq;
		char key[32];
		size_t klen;

		if (strcmp(a, "debug") == 0) {
			c->debug = 1;
			continue;
		}
		eq = strchr(a, '=');
		klen = eq ? (size_t)(eq - a) : strlen(a);
		if (!eq || klen >= sizeof(key)) {
			snprintf(err, errlen, "module argument '%s': unknown (use config=PATH, debug)", a);
			return -1;
		}
		memcpy(key, a, klen);
		key[klen] = '\0';
		if (lb_config_set(arg_keys, c, key, eq + 1, why, sizeof(why)) != LB_CFG_OK) {
			snprintf(err, errlen, "module argument '%s': %s", a, why);
			return -1;
		}
	}
	path = c->config_path ? c->config_path : LBPAM_DEFAULT_CONFIG;
	if (lb_config_parse_file(path, conf_keys, c, LB_CFG_SECURE, err, errlen) != LB_CFG_OK)
		return -1;
	if (!c->gateway_url) {
		snprintf(err, errlen, "%s: gateway_url: missing (required)", path);
		return -1;
	}
	if (c->timeout == 0)
		c->timeout = LBPAM_DEFAULT_TIMEOUT;
	if (set_default(&c->gated_group, LBPAM_DEFAULT_GROUP) != 0 ||
	    set_default(&c->host_token_file, LBPAM_DEFAULT_TOKEN_FILE) != 0 ||
	    set_default(&c->audit_log, LBPAM_DEFAULT_AUDIT_LOG) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void lbpam_conf_free(struct lbpam_conf *c)
{
	lb_config_free_fields(conf_keys, c);
	lb_config_free_fields(arg_keys, c);
	memset(c, 0, sizeof(*c));
}

char *lbpam_read_token(const char *path, char *err, size_t errlen)
{
	char buf[512];
	struct stat st;
	ssize_t n;
	size_t len;
	char *tok = NULL;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open host token: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: host token is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) || (st.st_uid != 0 && st.st_uid != geteuid())) {
		snprintf(err, errlen, "%s: host token must be owned by root with mode 0600", path);
		goto out;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	len = strlen(buf);
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	if (len == 0 || (size_t)n == sizeof(buf) - 1 || !lb_str_clean(buf) || strchr(buf, ' ')) {
		snprintf(err, errlen, "%s: host token is empty or malformed", path);
		goto out;
	}
	tok = strdup(buf);
	if (!tok)
		snprintf(err, errlen, "out of memory");
out:
	lb_wipe(buf, sizeof(buf));
	close(fd);
	return tok;
}
