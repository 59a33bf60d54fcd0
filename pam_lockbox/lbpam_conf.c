/* pam_lockbox: module arguments, then pam_lockbox.conf through liblockbox's host config (the
 * same keys, defaults and checks lockbox-agent and `lockboxctl host` use). */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbpam.h"

/* services=sshd,xrdp-sesman: PAM service names (letters, digits, '-', '_', '.', '@'),
 * comma-separated, none empty */
static int check_services(void *cfg, const char *value, char *why, size_t whylen)
{
	const char *p;
	int empty = 1;

	(void)cfg;
	for (p = value;; p++) {
		if (*p == ',' || *p == '\0') {
			if (empty) {
				snprintf(why, whylen, "an empty service name in '%s'", value);
				return -1;
			}
			if (*p == '\0')
				return 0;
			empty = 1;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			   (*p >= '0' && *p <= '9') || strchr("-_.@", *p)) {
			empty = 0;
		} else {
			snprintf(why, whylen, "'%s' is not a comma-separated list of PAM service names",
				 value);
			return -1;
		}
	}
}

/* Module arguments: a small table of their own (they are not config keys). */
static const struct lb_cfg_key arg_keys[] = {
	{"config", LB_CFG_STRING, offsetof(struct lbpam_conf, config_path), lb_cfg_check_abs_path},
	{"services", LB_CFG_STRING, offsetof(struct lbpam_conf, services), check_services},
	{NULL, 0, 0, NULL},
};

int lbpam_service_selected(const struct lbpam_conf *c, const char *service)
{
	const char *p = c->services;
	size_t n;

	if (!p)
		return 1;
	if (!service)
		return 0;
	n = strlen(service);
	while (*p) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, service, n) == 0)
			return 1;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

int lbpam_conf_load(struct lbpam_conf *c, int argc, const char **argv, char *err, size_t errlen)
{
	if (lbpam_args_load(c, argc, argv, err, errlen) != 0)
		return -1;
	return lbpam_conf_load_file(c, err, errlen);
}

int lbpam_conf_load_file(struct lbpam_conf *c, char *err, size_t errlen)
{
	return lb_hostconf_load(&c->h, c->config_path, err, errlen);
}

int lbpam_args_load(struct lbpam_conf *c, int argc, const char **argv, char *err, size_t errlen)
{
	char why[256];

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
			snprintf(err, errlen,
				 "module argument '%s': unknown (use config=PATH, services=LIST, debug)", a);
			return -1;
		}
		memcpy(key, a, klen);
		key[klen] = '\0';
		if (lb_config_set(arg_keys, c, key, eq + 1, why, sizeof(why)) != LB_CFG_OK) {
			snprintf(err, errlen, "module argument '%s': %s", a, why);
			return -1;
		}
	}
	return 0;
}

void lbpam_conf_free(struct lbpam_conf *c)
{
	lb_hostconf_free(&c->h);
	lb_config_free_fields(arg_keys, c);
	memset(c, 0, sizeof(*c));
}
