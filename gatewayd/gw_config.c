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
	return gw_store_uri_check(v, why, len) == GW_BACKEND_NONE ? -1 : 0;
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

static int check_smtp_url(void *cfg, const char *v, char *why, size_t len)
{
	(void)cfg;
	if ((strncmp(v, "smtp://", 7) == 0 && v[7]) || (strncmp(v, "smtps://", 8) == 0 && v[8]))
		return 0;
	snprintf(why, len, "'%s' is not smtp://HOST[:PORT] or smtps://HOST[:PORT]", v);
	return -1;
}

static int check_http_url(void *cfg, const char *v, char *why, size_t len)
{
	(void)cfg;
	if ((strncmp(v, "https://", 8) == 0 && v[8]) || (strncmp(v, "http://", 7) == 0 && v[7]))
		return 0;
	snprintf(why, len, "'%s' is not an http:// or https:// URL", v);
	return -1;
}

static const struct lb_cfg_key gw_keys[] = {
	{"listen", LB_CFG_STRING, offsetof(struct gw_config, listen), check_listen},
	{"tls_cert", LB_CFG_STRING, offsetof(struct gw_config, tls_cert), NULL},
	{"tls_key", LB_CFG_STRING, offsetof(struct gw_config, tls_key), NULL},
	{"database", LB_CFG_STRING, offsetof(struct gw_config, database), check_database},
	{"pending_ttl", LB_CFG_DURATION, offsetof(struct gw_config, pending_ttl), NULL},
	{"token_ttl", LB_CFG_DURATION, offsetof(struct gw_config, token_ttl), NULL},
	{"invitation_ttl", LB_CFG_DURATION, offsetof(struct gw_config, invitation_ttl), NULL},
	{"default_grant", LB_CFG_DURATION, offsetof(struct gw_config, default_grant), NULL},
	{"max_grant", LB_CFG_DURATION, offsetof(struct gw_config, max_grant), NULL},
	{"max_elevation", LB_CFG_DURATION, offsetof(struct gw_config, max_elevation), NULL},
	{"require_mfa", LB_CFG_BOOL, offsetof(struct gw_config, require_mfa), NULL},
	{"approve_mfa", LB_CFG_BOOL, offsetof(struct gw_config, approve_mfa), NULL},
	{"totp_key_file", LB_CFG_STRING, offsetof(struct gw_config, totp_key_file), NULL},
	{"totp_lockout", LB_CFG_DURATION, offsetof(struct gw_config, totp_lockout), NULL},
	{"review_tenant_scope", LB_CFG_BOOL, offsetof(struct gw_config, review_tenant_scope), NULL},
	{"review_duration_over", LB_CFG_DURATION, offsetof(struct gw_config, review_duration_over),
	 NULL},
	{"service_map", LB_CFG_CUSTOM, offsetof(struct gw_config, service_map), check_service_map},
	{"sweep_interval", LB_CFG_DURATION, offsetof(struct gw_config, sweep_interval), NULL},
	{"session_lost_after", LB_CFG_DURATION, offsetof(struct gw_config, session_lost_after), NULL},
	{"checkpoint_interval", LB_CFG_DURATION, offsetof(struct gw_config, checkpoint_interval),
	 NULL},
	{"checkpoint_key_file", LB_CFG_STRING, offsetof(struct gw_config, checkpoint_key_file), NULL},
	{"checkpoint_every", LB_CFG_UINT, offsetof(struct gw_config, checkpoint_every), NULL},
	{"threads", LB_CFG_UINT, offsetof(struct gw_config, threads), NULL},
	{"max_body", LB_CFG_UINT, offsetof(struct gw_config, max_body), NULL},
	{"max_connections_per_ip", LB_CFG_UINT, offsetof(struct gw_config, max_connections_per_ip),
	 NULL},
	{"request_timeout", LB_CFG_DURATION, offsetof(struct gw_config, request_timeout), NULL},
	{"smtp_url", LB_CFG_STRING, offsetof(struct gw_config, smtp_url), check_smtp_url},
	{"smtp_from", LB_CFG_STRING, offsetof(struct gw_config, smtp_from), NULL},
	{"smtp_user", LB_CFG_STRING, offsetof(struct gw_config, smtp_user), NULL},
	{"smtp_password", LB_CFG_SECRET, offsetof(struct gw_config, smtp_password), NULL},
	{"smtp_ca_file", LB_CFG_STRING, offsetof(struct gw_config, smtp_ca_file), NULL},
	{"smtp_starttls", LB_CFG_BOOL, offsetof(struct gw_config, smtp_starttls), NULL},
	{"console_url", LB_CFG_STRING, offsetof(struct gw_config, console_url), check_http_url},
	{"console_dir", LB_CFG_STRING, offsetof(struct gw_config, console_dir), lb_cfg_check_abs_path},
	{"console_idle_timeout", LB_CFG_DURATION, offsetof(struct gw_config, console_idle_timeout),
	 NULL},
	{"console_absolute_timeout", LB_CFG_DURATION,
	 offsetof(struct gw_config, console_absolute_timeout), NULL},
	{"webhook_url", LB_CFG_LIST, offsetof(struct gw_config, webhook_url), check_http_url},
	{"webhook_secret", LB_CFG_SECRET, offsetof(struct gw_config, webhook_secret), NULL},
	{"notify_max_attempts", LB_CFG_UINT, offsetof(struct gw_config, notify_max_attempts), NULL},
	{"notify_interval", LB_CFG_DURATION, offsetof(struct gw_config, notify_interval), NULL},
	{"notify_backoff", LB_CFG_DURATION, offsetof(struct gw_config, notify_backoff), NULL},
	{"log_file", LB_CFG_STRING, offsetof(struct gw_config, log_file), lb_cfg_check_abs_path},
	{NULL, 0, 0, NULL},
};

void gw_config_default(struct gw_config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen = strdup("https://0.0.0.0:8443");
	c->database = strdup("sqlite:///var/lib/lockbox/gateway.db");
	c->pending_ttl = 4 * 86400;
	c->token_ttl = 90 * 86400;
	c->invitation_ttl = 72 * 3600;
	c->default_grant = 8 * 3600;
	c->max_grant = 8 * 3600;
	c->max_elevation = 8 * 3600;
	c->totp_lockout = 300;
	c->review_tenant_scope = 1;
	c->sweep_interval = 5;
	c->session_lost_after = 120;
	c->checkpoint_interval = 3600;
	c->checkpoint_every = 1000;
	c->threads = 16;
	c->max_body = 64 * 1024;
	/* hosts behind one NAT address share it: room for a large fleet */
	c->max_connections_per_ip = 1024;
	c->request_timeout = 10;
#ifdef GW_CONSOLE_DIR
	c->console_dir = strdup(GW_CONSOLE_DIR);
#endif
	/* a console left open on an approver's desk: half an hour without use, a working day */
	c->console_idle_timeout = 30 * 60;
	c->console_absolute_timeout = 12 * 3600;
	c->notify_max_attempts = 12;
	c->notify_interval = 1;
	c->notify_backoff = 2;
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
	/* the lower bound is 1s so that tests can see a token expire */
	if (c->token_ttl < 1 || c->token_ttl > 366 * 86400) {
		snprintf(err, errlen, "%s: token_ttl: must be from 1s to 366d", path ? path : "defaults");
		return -1;
	}
	/* a mailed code is a credential in a mailbox: days, not months (1s lets tests see it expire) */
	if (c->invitation_ttl < 1 || c->invitation_ttl > 30 * 86400) {
		snprintf(err, errlen, "%s: invitation_ttl: must be from 1s to 30d",
			 path ? path : "defaults");
		return -1;
	}
	/* the lower bound is 1s so that tests can see a lock end */
	if (c->totp_lockout < 1 || c->totp_lockout > 86400) {
		snprintf(err, errlen, "%s: totp_lockout: must be from 1s to 1d",
			 path ? path : "defaults");
		return -1;
	}
	if (c->session_lost_after < 0 || c->session_lost_after > 86400) {
		snprintf(err, errlen, "%s: session_lost_after: must be from 0s to 1d",
			 path ? path : "defaults");
		return -1;
	}
	if (c->smtp_url && !c->smtp_from) {
		snprintf(err, errlen, "%s: smtp_from: required with smtp_url", path ? path : "defaults");
		return -1;
	}
	if (c->webhook_url.n && (!c->webhook_secret || strlen(c->webhook_secret) < 16)) {
		snprintf(err, errlen, "%s: webhook_secret: required with webhook_url (16 characters or more)",
			 path ? path : "defaults");
		return -1;
	}
	if (c->notify_max_attempts < 1 || c->notify_max_attempts > 100 || c->notify_interval <= 0 ||
	    c->notify_backoff <= 0) {
		snprintf(err, errlen, "%s: notify_max_attempts (1..100) and notify_interval (> 0) are out of range",
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
	if (c->max_connections_per_ip > 1000000) {
		snprintf(err, errlen, "%s: max_connections_per_ip: must be 0 (no limit)..1000000",
			 path ? path : "defaults");
		return -1;
	}
	/* the lower bounds are 1s so that tests can see a session end */
	if (c->console_idle_timeout < 1 || c->console_idle_timeout > 86400 ||
	    c->console_absolute_timeout < 1 || c->console_absolute_timeout > 30 * 86400) {
		snprintf(err, errlen, "%s: console_idle_timeout (1s..1d), console_absolute_timeout "
			 "(1s..30d): out of range", path ? path : "defaults");
		return -1;
	}
	if (c->request_timeout < 1 || c->request_timeout > 3600) {
		snprintf(err, errlen, "%s: request_timeout: must be from 1s to 1h",
			 path ? path : "defaults");
		return -1;
	}
	return 0;
}

void gw_config_free(struct gw_config *c)
{
	lb_config_free_fields(gw_keys, c); /* wipes smtp_password and webhook_secret */
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
