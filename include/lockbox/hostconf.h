/* lockbox: the host's one config, /etc/lockbox/pam_lockbox.conf, read by pam_lockbox.so,
 * lockbox-agent and `lockboxctl host` (DESIGN.md "Files and config"), and the host token. */
#ifndef LOCKBOX_HOSTCONF_H
#define LOCKBOX_HOSTCONF_H

#include <stddef.h>
#include <stdint.h>

#include "lockbox/config.h"
#include "lockbox/gwlist.h"

#define LB_HOSTCONF_PATH "/etc/lockbox/pam_lockbox.conf"
#define LB_HOSTCONF_GROUP "lockbox-engineers"
#define LB_HOSTCONF_TOKEN_FILE "/etc/lockbox/host.token"
#define LB_HOSTCONF_AUDIT_LOG "/var/log/lockbox/audit.log"
#define LB_HOSTCONF_AGENT_SOCKET "/run/lockbox/agent.sock"
#define LB_HOSTCONF_TIMEOUT 5         /* seconds */
#define LB_HOSTCONF_TIMEOUT_MAX 120
#define LB_HOSTCONF_WARN_BEFORE 600   /* 10m */
#define LB_HOSTCONF_KILL_GRACE 5
#define LB_HOSTCONF_KILL_GRACE_MAX 300

struct lb_hostconf {
	char *gateway_url;   /* as written: one or several URLs (lb_gwlist_parse) */
	struct lb_gwlist gateways; /* gateway_url parsed: what the agent and lockboxctl use */
	char *ca_file;
	char *host_token_file;
	char *host_id;
	char *gated_group;
	struct lb_strlist exempt_users;
	int64_t timeout;     /* seconds, 1..LB_HOSTCONF_TIMEOUT_MAX */
	char *audit_log;
	char *agent_socket;
	int64_t warn_before; /* seconds; 0 = no warning */
	int64_t kill_grace;  /* seconds between SIGTERM and SIGKILL */
	char *path;          /* the file it was read from */
};

/* Reads PATH (NULL: LB_HOSTCONF_PATH) with the checks DESIGN.md asks for (owner root or us,
 * not group/world-writable, unknown keys and bad values are errors naming path:line: key)
 * and fills the defaults. Returns 0, or -1 with ERR. C is always safe to free after. */
int lb_hostconf_load(struct lb_hostconf *c, const char *path, char *err, size_t errlen);
void lb_hostconf_free(struct lb_hostconf *c);

/* The key table, for the docs test and for callers that set one key from an argument. */
extern const struct lb_cfg_key lb_hostconf_keys[];

/* Reads the host token from PATH (regular file, not a symlink, owned by root or us, no
 * group/other access, one clean line). Returns a malloc'ed string the caller wipes
 * (lb_wipe) and frees, or NULL with ERR. */
char *lb_hostconf_read_token(const char *path, char *err, size_t errlen);

#endif
