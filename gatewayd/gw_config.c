/* lockbox-gatewayd: gatewayd.conf keys, defaults and the rules between them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "gw_listen.h"
#include "lockbox/util.h"

static int check_listen(void *cfg, const char *v, char *why, size_t len)
{
	struct gw_listen l;
	(void)cfg;
	return gw_listen_parse(v, &l, why, len);
}

static int check_database(void *cfg, const char *v, char *why, size_t len)
{
	(void)cfg;
	if (strncmp(v, "sqlite:///", 10) == 0 && strlen(v) > 10)
		return 0;
	if (strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0) {
		snprintf(why, len, "the PostgreSQL store is not available in this build yet");
		return -1;
	}
	snprintf(why, len, "'%s' is not sqlite:///ABSOLUTE/PATH", v);
	return -1;
}

static int check_service_map(void *cfg, const char *v, char *why, size_t len)
{
	struct gw_config *c = cfg;
	struct lb_strlist tmp = {0};
	char *copy = strdup(v), *save = NULL, *tok;
	int rc = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		char *colon = strchr(tok, ':');
		if (!colon || colon == tok ||
		    (strcmp(colon + 1, "ssh") != 0 && strcmp(colon + 1, "rdp") != 0)) {
			snprintf(why, len, "'%s' is not SERVICE:ssh or SERVICE:rdp", tok);
			rc = -1;
			break;
		}
		lb_strlist_add(&tmp, tok);
	}
	free(copy);
	if (rc == 0) {
		/* the key replaces the default map rather than adding to it */
		lb_strlist_free(&c->service_map);
		c->service_map = tmp;
	} else {
		lb_strlist_free(&tmp);
	}
	return rc;
}

static const struct lb_cfg_key gw_keys[] = {
	{"listen", LB_CFG_STRING, offsetof(struct gw_config, listen), check_listen},
	{"tls_cert", LB_CFG_STRING, offsetof(struct gw_config, tls_cert), NULL},
	{"tls_key", LB_CFG_STRING, offsetof(struct gw_config, tls_key), NULL},
	{"database", LB_CFG_STRING, offsetof(struct gw_config, database), check_database},
	{"pending_ttl", LB_CFG_DURATION, offsetof(struct gw_config, pending_ttl), NULL},
	{"default_grant", LB_CFG_DURATION, offsetof(struct gw_config, default_grant), NULL},
	{"max_grant", LB_CFG_DURATION, offsetof(struct gw_config, max_grant), NULL},
	{"max_elevation", LB_CFG_DURATION, offsetof(struct gw_config, max_elevation), NULL},
	{"require_mfa", LB_CFG_BOOL, offsetof(struct gw_config, require_mfa), NULL},
	{"review_tenant_scope", LB_CFG_BOOL, offsetof(struct gw_config, review_tenant_scope), NULL},
	{"review_duration_over", LB_CFG_DURATION, offsetof(struct gw_config, review_duration_over),
	 NULL},
	{"service_map", LB_CFG_CUSTOM, offsetof(struct gw_config, service_map), check_service_map},
	{"sweep_interval", LB_CFG_DURATION, offsetof(struct gw_config, sweep_interval), NULL},
	{"checkpoint_interval", LB_CFG_DURATION, offsetof(struct gw_config, checkpoint_interval),
	 NULL},
	{"threads", LB_CFG_UINT, offsetof(struct gw_config, threads), NULL},
	{"max_body", LB_CFG_UINT, offsetof(struct gw_config, max_body), NULL},
	{NULL, 0, 0, NULL},
};

void gw_config_default(struct gw_config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen = strdup("https://0.0.0.0:8443");
	c->database = strdup("sqlite:///var/lib/lockbox/gateway.db");
	c->pending_ttl = 4 * 86400;
	c->default_grant = 8 * 3600;
	c->max_grant = 8 * 3600;
	c->max_elevation = 8 * 3600;
	c->review_tenant_scope = 1;
	c->sweep_interval = 5;
	c->checkpoint_interval = 3600;
	c->threads = 4;
	c->max_body = 64 * 1024;
	lb_strlist_add(&c->service_map, "sshd:ssh");
	lb_strlist_add(&c->service_map, "xrdp-sesman:rdp");
}

int gw_config_load(struct gw_config *c, const char *path, char *err, size_t errlen)
{
	struct gw_listen l;
	char why[256];

	if (path && lb_config_parse_file(path, gw_keys, c, 0, err, errlen) != LB_CFG_OK)
		return -1;
	if (gw_listen_parse(c->listen, &l, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: listen: %s", path ? path : "defaults", why);
		return -1;
	}
	if (l.tls && (!c->tls_cert || !c->tls_key)) {
		snprintf(err, errlen, "%s: tls_cert/tls_key: required when listen is https://",
			 path ? path : "defaults");
		return -1;
	}
	if (c->max_grant <= 0 || c->default_grant <= 0 || c->default_grant > c->max_grant) {
		snprintf(err, errlen, "%s: default_grant: must be positive and at most max_grant",
			 path ? path : "defaults");
		return -1;
	}
	if (c->pending_ttl <= 0 || c->max_elevation <= 0 || c->sweep_interval <= 0 ||
	    c->checkpoint_interval <= 0) {
		snprintf(err, errlen,
			 "%s: pending_ttl, max_elevation, sweep_interval, checkpoint_interval: must be positive",
			 path ? path : "defaults");
		return -1;
	}
	if (c->threads < 1 || c->threads > 64) {
		snprintf(err, errlen, "%s: threads: must be 1..64", path ? path : "defaults");
		return -1;
	}
	if (c->max_body < 1024 || c->max_body > 16 * 1024 * 1024) {
		snprintf(err, errlen, "%s: max_body: must be 1024..16777216 bytes",
			 path ? path : "defaults");
		return -1;
	}
	return 0;
}

void gw_config_free(struct gw_config *c)
{
	lb_config_free_fields(gw_keys, c);
	lb_strlist_free(&c->service_map);
}

const char *gw_config_access_for_service(const struct gw_config *c, const char *service)
{
	size_t n;
	if (!service)
		return NULL;
	n = strlen(service);
	for (size_t i = 0; i < c->service_map.n; i++) {
		const char *m = c->service_map.v[i];
		if (strncmp(m, service, n) == 0 && m[n] == ':')
			return m + n + 1;
	}
	return NULL;
}
