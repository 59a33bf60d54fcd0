/* lockbox: the host config shared by pam_lockbox.so, lockbox-agent and `lockboxctl host`:
 * one key table, one set of defaults and checks, one token reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lockbox/hostconf.h"
#include "lockbox/http.h"
#include "lockbox/util.h"

static int check_socket_path(void *cfg, const char *value, char *why, size_t whylen)
{
	if (lb_cfg_check_abs_path(cfg, value, why, whylen) != 0)
		return -1;
	if (strlen(value) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(why, whylen, "a UNIX socket path must be shorter than %zu bytes",
			 sizeof(((struct sockaddr_un *)0)->sun_path));
		return -1;
	}
	return 0;
}

static int check_range(const char *value, int64_t lo, int64_t hi, char *why, size_t whylen)
{
	int64_t s;
	char a[32], b[32];
	if (lb_duration_parse(value, &s) != 0 || s < lo || s > hi) {
		lb_duration_format(lo, a, sizeof(a));
		lb_duration_format(hi, b, sizeof(b));
		snprintf(why, whylen, "'%s' must be a duration from %s to %s", value, a, b);
		return -1;
	}
	return 0;
}

static int check_timeout(void *cfg, const char *value, char *why, size_t whylen)
{
	(void)cfg;
	return check_range(value, 1, LB_HOSTCONF_TIMEOUT_MAX, why, whylen);
}

static int check_warn_before(void *cfg, const char *value, char *why, size_t whylen)
{
	(void)cfg;
	return check_range(value, 0, 86400, why, whylen);
}

static int check_kill_grace(void *cfg, const char *value, char *why, size_t whylen)
{
	(void)cfg;
	return check_range(value, 1, LB_HOSTCONF_KILL_GRACE_MAX, why, whylen);
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

#define OFF(f) offsetof(struct lb_hostconf, f)
const struct lb_cfg_key lb_hostconf_keys[] = {
	{"gateway_url", LB_CFG_STRING, OFF(gateway_url), lb_cfg_check_urls},
	{"ca_file", LB_CFG_STRING, OFF(ca_file), lb_cfg_check_abs_path},
	{"host_token_file", LB_CFG_STRING, OFF(host_token_file), lb_cfg_check_abs_path},
	{"host_id", LB_CFG_STRING, OFF(host_id), check_name},
	{"gated_group", LB_CFG_STRING, OFF(gated_group), check_name},
	{"exempt_users", LB_CFG_LIST, OFF(exempt_users), NULL},
	{"timeout", LB_CFG_DURATION, OFF(timeout), check_timeout},
	{"audit_log", LB_CFG_STRING, OFF(audit_log), lb_cfg_check_abs_path},
	{"agent_socket", LB_CFG_STRING, OFF(agent_socket), check_socket_path},
	{"warn_before", LB_CFG_DURATION, OFF(warn_before), check_warn_before},
	{"kill_grace", LB_CFG_DURATION, OFF(kill_grace), check_kill_grace},
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

int lb_hostconf_load(struct lb_hostconf *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	/* durations start at their defaults, so an explicit 0 (warn_before = 0s) stays 0 */
	c->timeout = LB_HOSTCONF_TIMEOUT;
	c->warn_before = LB_HOSTCONF_WARN_BEFORE;
	c->kill_grace = LB_HOSTCONF_KILL_GRACE;
	if (!path)
		path = LB_HOSTCONF_PATH;
	if (!(c->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (lb_config_parse_file(path, lb_hostconf_keys, c, LB_CFG_SECURE, err, errlen) !=
	    LB_CFG_OK)
		return -1;
	if (!c->gateway_url) {
		snprintf(err, errlen, "%s: gateway_url: missing (required)", path);
		return -1;
	}
	{
		char why[512];
		/* checked line by line already (lb_cfg_check_urls): this only keeps the list */
		if (lb_gwlist_parse(&c->gateways, c->gateway_url, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: gateway_url: %s", path, why);
			return -1;
		}
	}
	if (set_default(&c->gated_group, LB_HOSTCONF_GROUP) != 0 ||
	    set_default(&c->host_token_file, LB_HOSTCONF_TOKEN_FILE) != 0 ||
	    set_default(&c->audit_log, LB_HOSTCONF_AUDIT_LOG) != 0 ||
	    set_default(&c->agent_socket, LB_HOSTCONF_AGENT_SOCKET) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void lb_hostconf_free(struct lb_hostconf *c)
{
	lb_config_free_fields(lb_hostconf_keys, c);
	lb_gwlist_free(&c->gateways);
	free(c->path);
	memset(c, 0, sizeof(*c));
}

char *lb_hostconf_read_token(const char *path, char *err, size_t errlen)
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
