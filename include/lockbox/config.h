/* lockbox: the one `key = value` config parser shared by gatewayd, pam_lockbox and lockboxctl. */
#ifndef LOCKBOX_CONFIG_H
#define LOCKBOX_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum lb_cfg_type {
	LB_CFG_STRING,   /* char *, strdup'ed; repeating the key is an error */
	LB_CFG_SECRET,   /* like STRING, wiped on free */
	LB_CFG_DURATION, /* int64_t seconds, written 90s, 30m, 8h, 4d (or 1h30m) */
	LB_CFG_BOOL,     /* int: true/false/yes/no/on/off/1/0 */
	LB_CFG_UINT,     /* unsigned long */
	LB_CFG_LIST,     /* struct lb_strlist: repeating the key appends; commas also split */
	LB_CFG_CUSTOM,   /* setter does everything */
};

struct lb_strlist {
	char **v;
	size_t n;
};

struct lb_cfg_key {
	const char *key;
	enum lb_cfg_type type;
	size_t offset; /* of the field in the program's config struct */
	/* optional: validate (and for CUSTOM, store) the value; write why on failure */
	int (*check)(void *cfg, const char *value, char *why, size_t whylen);
};

/* Parse flags. */
#define LB_CFG_SECURE 0x1u /* refuse a file writable by group/others or owned by another non-root user */

enum lb_cfg_result {
	LB_CFG_OK = 0,
	LB_CFG_ERR_OPEN,   /* missing or unreadable */
	LB_CFG_ERR_PERM,   /* insecure owner or mode */
	LB_CFG_ERR_SYNTAX, /* a line that is not key = value */
	LB_CFG_ERR_KEY,    /* unknown key */
	LB_CFG_ERR_VALUE,  /* bad value */
};

/* Parses PATH into CFG; on error ERR holds "path:line: key: why". Keys seen in the file are
 * tracked so a repeated scalar key is reported. */
enum lb_cfg_result lb_config_parse_file(const char *path, const struct lb_cfg_key *keys, void *cfg,
					unsigned flags, char *err, size_t errlen);

/* Sets one key (used by the file parser and by PAM module arguments / CLI flags). */
enum lb_cfg_result lb_config_set(const struct lb_cfg_key *keys, void *cfg, const char *key,
				 const char *value, char *why, size_t whylen);

/* Frees the strings and lists the table points into; secrets are wiped first. */
void lb_config_free_fields(const struct lb_cfg_key *keys, void *cfg);

/* A key's check for one gateway URL (lb_url_check: https, or http to loopback only). The
 * host config's gateway_url and lockboxctl's url take several: lb_cfg_check_urls
 * (include/lockbox/gwlist.h). */
int lb_cfg_check_url(void *cfg, const char *value, char *why, size_t whylen);
/* A key's check for a file or socket path: it must be absolute (a daemon's working directory
 * is not the admin's). */
int lb_cfg_check_abs_path(void *cfg, const char *value, char *why, size_t whylen);

void lb_strlist_add(struct lb_strlist *l, const char *s);
int lb_strlist_contains(const struct lb_strlist *l, const char *s);
void lb_strlist_free(struct lb_strlist *l);

#endif
