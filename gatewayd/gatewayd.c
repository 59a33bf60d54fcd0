/* lockbox-gatewayd: the access authority: options, the route table and dispatch, the HTTP
 * server, and main's start and stop (the sweeper, health and checkpoints have their files). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "gw.h"
#include "gw_deadline.h"
#include "gw_listen.h"
#include "gw_notify.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define GW_DEFAULT_CONFIG "/etc/lockbox/gatewayd.conf"

/* WHO_INVITEE: no bearer token; the invitation code in the body is the credential.
 * WHO_SIGNIN: no bearer token; the user token in the body is (POST /v1/sessions). */
enum gw_who { WHO_ANYONE, WHO_USER, WHO_HOST, WHO_INVITEE, WHO_SIGNIN };
static const char *const who_names[] = {"anyone", "user", "host", "invitee", "signin"};

/* The roles column: a WHO_USER caller holding none of them is refused 403 before the
 * handler runs. It is the coarse gate only (which roles can ever call the route): whether
 * this caller may act on this object (its tenant, its subscription, its requester) stays in
 * the handler, which answers 404 for objects out of the caller's reach so that their
 * existence does not leak. That is also why the routes whose handler answers such 404s to
 * users of any role name no roles here (ANY_USER): a 403 from the gate would tell a caller
 * without the role something the 404 hides, and a requester keeps reading their own
 * request after losing the engineer role. */
#define ROLE(x) GW_ROLE_BIT(GW_ROLE_##x)
#define ANY_USER 0u
#define PADMIN ROLE(PROVIDER_ADMIN)
#define GADMIN ROLE(GLOBAL_ADMIN)
#define ENGINEER ROLE(ENGINEER)
#define PADMIN_GADMIN (PADMIN | GADMIN)
/* the tenant's approvers: global admins, lockbox approvers, owners (DESIGN.md "Actors") */
#define APPROVERS (GADMIN | ROLE(LOCKBOX_APPROVER) | ROLE(OWNER))
/* a decision needs some role; which one, the request's transition decides (gw_requests.c) */
#define ANY_ROLE (PADMIN | ENGINEER | ROLE(INTERNAL_APPROVER) | APPROVERS | ROLE(CUSTOMER_USER))

/* The route table: {method, path pattern ('*' = one segment, a final '**' = the rest of the
 * path, which the handler checks), handler, who may call, the roles of which a user needs
 * one}. `lockbox-gatewayd --print-routes` prints it; tests/api/test_routeauthz.py calls every
 * route as every role from that print. */
static const struct route {
	const char *method;
	const char *pattern;
	gw_handler handler;
	enum gw_who who;
	unsigned roles;
} routes[] = {
	{"GET", "/healthz", gw_healthz, WHO_ANYONE, 0},
	{"GET", "/metrics", gw_metrics, WHO_ANYONE, 0},
	{"POST", "/v1/tenants", gw_tenants_create, WHO_USER, PADMIN},
	{"GET", "/v1/tenants", gw_tenants_list, WHO_USER, PADMIN},
	{"GET", "/v1/tenants/*", gw_tenants_get, WHO_USER, PADMIN_GADMIN},
	{"PUT", "/v1/tenants/*/lockbox", gw_tenants_set_lockbox, WHO_USER, GADMIN},
	{"PUT", "/v1/tenants/*/policy", gw_tenants_set_policy, WHO_USER, GADMIN},
	{"POST", "/v1/tenants/*/invitations", gw_invitations_create, WHO_USER, PADMIN_GADMIN},
	{"GET", "/v1/tenants/*/invitations", gw_invitations_list, WHO_USER, PADMIN_GADMIN},
	{"POST", "/v1/invitations/redeem", gw_invitations_redeem, WHO_INVITEE, 0},
	{"POST", "/v1/subscriptions", gw_subscriptions_create, WHO_USER, PADMIN},
	{"GET", "/v1/subscriptions", gw_subscriptions_list, WHO_USER, PADMIN},
	{"POST", "/v1/hosts", gw_hosts_create, WHO_USER, PADMIN},
	{"GET", "/v1/hosts", gw_hosts_list, WHO_USER, PADMIN},
	{"POST", "/v1/hosts/*/disable", gw_hosts_disable, WHO_USER, PADMIN},
	{"POST", "/v1/hosts/*/enable", gw_hosts_enable, WHO_USER, PADMIN},
	{"GET", "/v1/hosts/self", gw_hosts_self, WHO_HOST, 0},
	{"GET", "/v1/hosts/self/changes", gw_hosts_changes, WHO_HOST, 0},
	{"GET", "/v1/hosts/self/grants", gw_hosts_grants, WHO_HOST, 0},
	{"POST", "/v1/users", gw_users_create, WHO_USER, PADMIN_GADMIN},
	{"GET", "/v1/users", gw_users_list, WHO_USER, PADMIN_GADMIN},
	{"POST", "/v1/users/self/totp", gw_totp_enroll, WHO_USER, ANY_USER},
	{"POST", "/v1/users/self/totp/confirm", gw_totp_confirm, WHO_USER, ANY_USER},
	{"POST", "/v1/users/*/tokens", gw_users_token_create, WHO_USER, PADMIN_GADMIN},
	{"GET", "/v1/users/*/tokens", gw_users_tokens_list, WHO_USER, PADMIN_GADMIN},
	/* anyone revokes their own tokens; the admins, the tokens of users they manage */
	{"DELETE", "/v1/tokens/*", gw_tokens_revoke, WHO_USER, ANY_USER},
	{"POST", "/v1/users/*/disable", gw_users_disable, WHO_USER, PADMIN_GADMIN},
	{"POST", "/v1/users/*/enable", gw_users_enable, WHO_USER, PADMIN_GADMIN},
	{"POST", "/v1/role-assignments", gw_roles_assign, WHO_USER, PADMIN_GADMIN},
	{"DELETE", "/v1/role-assignments", gw_roles_remove, WHO_USER, PADMIN_GADMIN},
	{"GET", "/v1/role-assignments", gw_roles_list, WHO_USER, PADMIN_GADMIN},
	{"POST", "/v1/tickets", gw_tickets_create, WHO_USER, ROLE(CUSTOMER_USER)},
	{"GET", "/v1/tickets", gw_tickets_list, WHO_USER,
	 ROLE(CUSTOMER_USER) | APPROVERS | ENGINEER | ROLE(INTERNAL_APPROVER)},
	{"GET", "/v1/tickets/*", gw_tickets_get, WHO_USER, ANY_USER},
	{"POST", "/v1/tickets/*/close", gw_tickets_close, WHO_USER, ANY_USER},
	{"POST", "/v1/elevations", gw_elevations_create, WHO_USER, ENGINEER},
	{"GET", "/v1/elevations", gw_elevations_list, WHO_USER, ENGINEER},
	{"POST", "/v1/requests", gw_requests_create, WHO_USER, ENGINEER},
	{"GET", "/v1/requests", gw_requests_list, WHO_USER,
	 ENGINEER | ROLE(INTERNAL_APPROVER) | APPROVERS},
	{"GET", "/v1/requests/*", gw_requests_get, WHO_USER, ANY_USER},
	{"POST", "/v1/requests/*/internal-approve", gw_requests_internal_approve, WHO_USER, ANY_ROLE},
	{"POST", "/v1/requests/*/approve", gw_requests_approve, WHO_USER, ANY_ROLE},
	{"POST", "/v1/requests/*/deny", gw_requests_deny, WHO_USER, ANY_ROLE},
	{"POST", "/v1/requests/*/revoke", gw_requests_revoke, WHO_USER, ANY_ROLE},
	{"POST", "/v1/requests/*/cancel", gw_requests_cancel, WHO_USER, ANY_ROLE},
	{"POST", "/v1/requests/*/review", gw_requests_review, WHO_USER, ANY_USER},
	{"POST", "/v1/requests/*/extend", gw_requests_extend, WHO_USER, ENGINEER},
	{"POST", "/v1/check", gw_check, WHO_HOST, 0},
	{"POST", "/v1/audit/events", gw_audit_ingest, WHO_HOST, 0},
	{"GET", "/v1/audit/events", gw_audit_list, WHO_USER, PADMIN | APPROVERS},
	/* the chain is one order over every tenant: a tenant's admin would read the others' */
	{"GET", "/v1/audit/verify", gw_audit_verify, WHO_USER, PADMIN},
	{"GET", "/v1/audit/checkpoints", gw_audit_checkpoints, WHO_USER, PADMIN},
	{"GET", "/v1/audit/public-key", gw_audit_public_key, WHO_ANYONE, 0},
	{"GET", "/v1/notifications", gw_notifications_list, WHO_USER, PADMIN},
	{"POST", "/v1/sessions", gw_sessions_create, WHO_SIGNIN, 0},
	{"GET", "/v1/sessions/current", gw_sessions_current, WHO_USER, ANY_USER},
	{"DELETE", "/v1/sessions/current", gw_sessions_delete, WHO_USER, ANY_USER},
	{"GET", "/console", gw_console_redirect, WHO_ANYONE, 0},
	{"GET", "/console/**", gw_console_serve, WHO_ANYONE, 0},
};

/* The role names of ROLES, comma-separated, into BUF ("-" for none). */
static const char *role_names(unsigned roles, char *buf, size_t len)
{
	size_t off = 0;
	snprintf(buf, len, "-");
	for (enum gw_role g = GW_ROLE_PROVIDER_ADMIN; g <= GW_ROLE_CUSTOMER_USER; g++)
		if (roles & GW_ROLE_BIT(g) && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						gw_role_name(g));
	return buf;
}

/* --print-routes: one line per route, "METHOD PATTERN WHO ROLES", for the tests that call
 * every route as every role and for an operator who wants to know who may call what. */
static void print_routes(void)
{
	char buf[256];
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		printf("%s %s %s %s\n", routes[i].method, routes[i].pattern,
		       who_names[routes[i].who], role_names(routes[i].roles, buf, sizeof(buf)));
}

/* Matches URL against PATTERN; captured segments are strdup'ed into ARGS. */
static int route_match(const char *pattern, const char *url, char **args)
{
	size_t na = 0;
	const char *p = pattern, *u = url;
	for (;;) {
		if (p[0] == '*' && p[1] == '*' && p[2] == '\0')
			return 1;
		if (!*p || !*u)
			break;
		if (*p == '*') {
			const char *end = strchr(u, '/');
			size_t len = end ? (size_t)(end - u) : strlen(u);
			if (len == 0 || len > 128 || na >= GW_MAX_ARGS)
				goto nomatch;
			args[na] = strndup(u, len);
			na++;
			u += len;
			p++;
		} else if (*p == *u) {
			p++;
			u++;
		} else {
			goto nomatch;
		}
	}
	if (*p == '\0' && *u == '\0')
		return 1;
nomatch:
	for (size_t i = 0; i < na; i++) {
		free(args[i]);
		args[i] = NULL;
	}
	return 0;
}

static const char *bearer_of(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return h;
}

struct query_check {
	const char *bad; /* first offending key */
};

static enum MHD_Result query_arg_ok(void *cls, enum MHD_ValueKind kind, const char *key,
				    size_t key_size, const char *value, size_t value_size)
{
	struct query_check *q = cls;
	(void)kind;
	/* a value with an embedded NUL would be cut short by every C string that sees it */
	if (!key || strlen(key) != key_size || !lb_str_clean(key) || key_size > 64 ||
	    (value && (strlen(value) != value_size || value_size > 256 || !lb_str_clean(value)))) {
		q->bad = key ? key : "";
		return MHD_NO;
	}
	return MHD_YES;
}

static enum MHD_Result dispatch(struct gw_req *r)
{
	struct query_check q = {NULL};
	const struct route *rt = NULL;
	int path_known = 0;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		char *args[GW_MAX_ARGS] = {NULL};
		if (!route_match(routes[i].pattern, r->url, args))
			continue;
		path_known = 1;
		if (strcmp(routes[i].method, r->method) == 0) {
			rt = &routes[i];
			memcpy(r->args, args, sizeof(args));
			break;
		}
		for (size_t k = 0; k < GW_MAX_ARGS; k++)
			free(args[k]);
	}
	MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, query_arg_ok, &q);
	if (q.bad)
		return gw_reply_error(r, strcmp(q.bad, "cursor") == 0 ? "bad_cursor" : "bad_query",
				      "query parameter '%.64s': control characters, NUL, invalid UTF-8 or too long",
				      lb_str_clean(q.bad) ? q.bad : "?");
	if (!rt) {
		if (path_known)
			return gw_reply_error(r, "method_not_allowed", "%s is not allowed on %.128s",
					      r->method, r->url);
		return gw_reply_error(r, "not_found", "no endpoint %.128s", r->url);
	}
	if (rt->who != WHO_ANYONE && rt->who != WHO_INVITEE && rt->who != WHO_SIGNIN) {
		const char *bearer = bearer_of(r->conn);
		/* the console's cookie stands in for a bearer token, never beside one */
		const char *cookie = bearer ? NULL : gw_session_cookie(r->conn);
		int a = cookie ? gw_session_authenticate(r->gw, cookie, lb_time_now_ms(), &r->who)
			       : gw_authenticate(r->gw, bearer, &r->who);
		if (a == -2)
			return gw_reply_error(r, "store_busy", "cannot check the token right now");
		if (a != 0 && cookie)
			return gw_reply_error(r, "unauthenticated", "the console session has ended "
					      "(signed out, idle or too old) or is unknown: sign in again");
		if (a != 0)
			return gw_reply_error(r, "unauthenticated", "a valid bearer token is required");
		/* a browser sends the cookie with whatever a page makes it send; only the
		 * console's own script knows the CSRF token (DESIGN.md "Web console") */
		if (cookie && strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 &&
		    !gw_session_csrf_ok(r->conn, cookie))
			return gw_reply_error(r, "csrf_failed", "a call with the console's session "
					      "cookie that changes something needs its X-CSRF-Token");
		if (rt->who == WHO_HOST && r->who.kind != GW_P_HOST)
			return gw_reply_error(r, "forbidden", "this endpoint is for enrolled hosts");
		if (rt->who == WHO_USER && r->who.kind != GW_P_USER)
			return gw_reply_error(r, "forbidden", "host tokens may only call /v1/check, /v1/audit/events and /v1/hosts/self[/changes]");
		if (rt->who == WHO_USER && rt->roles && !gw_holds_any(&r->who, rt->roles)) {
			char buf[256];
			return gw_reply_error(r, "forbidden", "%s %s needs one of the roles %s",
					      rt->method, rt->pattern,
					      role_names(rt->roles, buf, sizeof(buf)));
		}
	}
	r->now = lb_time_now_ms();
	return rt->handler(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct gw *gw = cls;
	struct gw_req *r = *con_cls;
	(void)version;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->gw = gw;
		r->conn = conn;
		r->method = method;
		r->url = url;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		/* keep reading an oversized body (and drop it) so the 413 reaches the client */
		if (!r->too_big && r->body_len + *upload_size <= gw->cfg.max_body) {
			char *nb = realloc(r->body, r->body_len + *upload_size + 1);
			if (!nb)
				return MHD_NO;
			r->body = nb;
			memcpy(r->body + r->body_len, upload, *upload_size);
			r->body_len += *upload_size;
			r->body[r->body_len] = '\0';
		} else {
			r->too_big = 1;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	gw_deadline_received(conn); /* header and body are in */
	if (r->wait.state == GW_WAIT_WOKEN) /* a long-poll MHD resumed */
		return gw_changes_answer(r);
	if (r->responded)
		return MHD_YES;
	if (r->too_big)
		return gw_reply_error(r, "body_too_large", "the body exceeds %lu bytes",
				      gw->cfg.max_body);
	return dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct gw_req *r = *con_cls;
	(void)cls;
	(void)toe;
	gw_deadline_rearm(conn);
	if (!r)
		return;
	gw_changes_forget(r);
	for (size_t i = 0; i < GW_MAX_ARGS; i++)
		free(r->args[i]);
	gw_principal_clear(&r->who);
	free(r->set_cookie);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	gw_log(LOG_WARNING, "http: %s", buf);
}

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	long n;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 1024 * 1024 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = calloc(1, (size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		fclose(f);
		return buf;
	}
	free(buf);
	fclose(f);
	snprintf(err, errlen, "%s: cannot read", path);
	return NULL;
}

/* --key-owner: the unit's root pre-start makes the keys in root's /etc/lockbox and hands them
 * to the unprivileged user the gateway runs as (still 0600: only that user reads them) */
static int give_keys(struct gw *g, const char *owner, char *err, size_t errlen)
{
	const char *paths[2];
	struct passwd *pw;

	if (gw_totp_key_load(g, 1, err, errlen) != 0)
		return -1;
	pw = getpwnam(owner);
	if (!pw) {
		snprintf(err, errlen, "--key-owner %s: no such user", owner);
		return -1;
	}
	paths[0] = gw_checkpoint_key_path(&g->cfg);
	paths[1] = gw_totp_key_path(&g->cfg);
	for (size_t i = 0; i < 2; i++) {
		if (chown(paths[i], pw->pw_uid, pw->pw_gid) != 0) {
			snprintf(err, errlen, "--key-owner: chown %s: %s", paths[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: lockbox-gatewayd [-c FILE] [--foreground]\n"
		"       lockbox-gatewayd [-c FILE] --bootstrap-admin LOGIN\n"
		"       lockbox-gatewayd [-c FILE] --check-config\n"
		"       lockbox-gatewayd [-c FILE] --print-public-key [--key-owner USER]\n"
		"       lockbox-gatewayd --print-routes\n"
		"\n"
		"The lockbox access authority: REST/JSON API over HTTPS, SQLite store.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE          configuration file (default " GW_DEFAULT_CONFIG ")\n"
		"  -f, --foreground           stay in the foreground and log to stderr (without it:\n"
		"                             detach once listening, log to syslog)\n"
		"      --bootstrap-admin LOGIN\n"
		"                             on an empty database, create the first provider admin\n"
		"                             LOGIN and print its token once, then exit; on one\n"
		"                             with users, print a new token for the existing\n"
		"                             provider admin LOGIN (audited)\n"
		"      --check-config         parse the configuration, report errors, exit\n"
		"      --print-public-key     print the public key of the audit checkpoints (PEM),\n"
		"                             making the key pair if it is missing, and exit\n"
		"      --key-owner USER       with --print-public-key, as root: also make the TOTP\n"
		"                             key if missing, and give both keys to USER (the\n"
		"                             systemd unit: the gateway runs as the user lockbox)\n"
		"      --print-routes         print the API's routes, who may call each (anyone,\n"
		"                             user, host...) and the roles of which a user needs\n"
		"                             one ('-': any user; the object decides), and exit\n"
		"  -h, --help                 show this help and exit\n"
		"  -V, --version              show the version and exit\n"
		"\n"
		"See lockbox-gatewayd(8) and gatewayd.conf(5).\n");
}

static int make_db_dir(const char *uri)
{
	char *path, *slash;
	if (!gw_store_uri_file(uri))
		return 0;
	path = strdup(gw_store_uri_file(uri));
	if (!path)
		return -1;
	slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		if (mkdir(path, 0750) != 0 && errno != EEXIST) {
			free(path);
			return -1;
		}
	}
	free(path);
	return 0;
}

/* An existing database keeps its mode (the administrator chose it), but one that others
 * may read is worth a word: it holds every tenant's audit trail and token hashes. */
static void warn_db_modes(const char *uri)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", NULL};
	char path[4096];
	struct stat st;

	if (!gw_store_uri_file(uri))
		return;
	for (size_t i = 0; suffixes[i]; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s%s", gw_store_uri_file(uri), suffixes[i]) >=
			    sizeof(path) ||
		    stat(path, &st) != 0)
			continue;
		if (st.st_mode & (S_IRGRP | S_IROTH))
			gw_log(LOG_WARNING, "%s is readable by %s (mode %04o): the database holds "
					    "every tenant's audit trail; chmod 600 it",
			       path, (st.st_mode & S_IROTH) ? "everyone" : "its group",
			       (unsigned)(st.st_mode & 07777));
	}
}

/* Detaching without --foreground (lib/daemon.c): the parent stays until the child listens
 * (or fails) and exits with the child's status, so a bad database, a bad key or a port in use
 * shows on the terminal and in the exit code. The fork comes before any thread starts: a
 * fork keeps only the calling thread, and a store writer started before it would be lost in
 * the child, where every write would then wait for it forever. */

#define GW_CONN_MEMORY (8 * 1024)

/* Stacks of the HTTP server's threads: 1 MiB holds the deepest work a request does (jansson
 * parses up to 2048 levels of nesting, tests/api/test_badinput.py) with room to spare. */
#define GW_THREAD_STACK (1024 * 1024)

/* Every agent holds a change long-poll open (DESIGN.md "Live sessions": many thousands at
 * once), each one a connection and a file descriptor. */
#define GW_MAX_CONNECTIONS 20000
/* Descriptors kept for everything else: database files, logs, notification sockets. */
#define GW_RESERVED_FDS 128

/* Raises the soft limit on open files to the hard one; returns the limit in effect. */
static rlim_t raise_open_files_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		gw_log(LOG_WARNING, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return 1024;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = {rl.rlim_max, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = rl.rlim_max;
		else
			gw_log(LOG_WARNING, "cannot raise the open files limit from %llu to %llu: %s",
			       (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
			       strerror(errno));
	}
	return rl.rlim_cur;
}

/* The client connections that fit under NOFILE open files. */
static unsigned connection_limit(rlim_t nofile)
{
	if (nofile == RLIM_INFINITY || nofile >= (rlim_t)GW_MAX_CONNECTIONS + GW_RESERVED_FDS)
		return GW_MAX_CONNECTIONS;
	return nofile > 2 * GW_RESERVED_FDS ? (unsigned)(nofile - GW_RESERVED_FDS)
					    : (unsigned)(nofile / 2);
}

/* The HTTP server: a pool of `threads` event-loop threads (epoll) serves every connection.
 * A handler blocks on the store (a decision waits for the group commit that holds its audit
 * event), so a pool thread serves one request at a time, and `threads` also sizes the
 * store's pool of read connections (main) so that no handler waits for one. A change
 * long-poll is a suspended connection and holds no thread (gw_changes.c); suspended
 * connections do not time out, every other one is closed after 30 s without traffic, or
 * request_timeout after its start (or its last answer) if no whole request came in by then
 * (gw_deadline.c), and one address holds at most max_connections_per_ip of them. */
static struct MHD_Daemon *http_start(struct gw *gw, const struct gw_listen *l, char *cert,
				     char *key)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem extra[4];
	size_t n = 0;
	rlim_t nofile = raise_open_files_limit();
	unsigned max_conns = connection_limit(nofile);

	if (l->ipv6)
		flags |= MHD_USE_IPv6;
	if (l->tls)
		flags |= MHD_USE_TLS;
	/* MHD takes a pool size of 1 as a mistake and says so: one thread is no pool */
	if (gw->cfg.threads > 1)
		extra[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
						     (intptr_t)gw->cfg.threads, NULL};
	if (l->tls) {
		extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
		extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
	}
	extra[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	gw_log(LOG_INFO, "open files limit %llu: at most %u client connections",
	       (unsigned long long)nofile, max_conns);
	return MHD_start_daemon(
		flags, (uint16_t)l->port, NULL, NULL, on_request, gw,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&l->addr,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
		MHD_OPTION_CONNECTION_LIMIT, max_conns,
		/* each connection's buffer pool: a request's header and what MHD buffers of its
		 * body (handlers take bodies piece by piece) fit in 8 KiB, and at 10,000 parked
		 * agent long-polls MHD's 32 KiB default alone would hold 320 MB (bench/findings.md) */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)GW_CONN_MEMORY,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)GW_THREAD_STACK,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, gw_deadline_notify, NULL,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)gw->cfg.max_connections_per_ip,
		MHD_OPTION_ARRAY, extra,
		MHD_OPTION_END);
}

/* What the command line asks for. */
struct gw_opts {
	const char *config, *bootstrap, *key_owner;
	int foreground, check_only, print_pub;
};

/* Reads the command line into O; returns -1 to go on, or the exit status (--help,
 * --version, --print-routes, a usage error). */
static int parse_options(int argc, char **argv, struct gw_opts *o)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"foreground", no_argument, NULL, 'f'},
		{"bootstrap-admin", required_argument, NULL, 'b'},
		{"check-config", no_argument, NULL, 'k'},
		{"print-public-key", no_argument, NULL, 'p'},
		{"key-owner", required_argument, NULL, 'o'},
		{"print-routes", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	memset(o, 0, sizeof(*o));
	o->config = GW_DEFAULT_CONFIG;
	while ((opt = getopt_long(argc, argv, "c:fhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': o->config = optarg; break;
		case 'f': o->foreground = 1; break;
		case 'b': o->bootstrap = optarg; break;
		case 'k': o->check_only = 1; break;
		case 'p': o->print_pub = 1; break;
		case 'o': o->key_owner = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("lockbox-gatewayd %s\n", PACKAGE_VERSION); return 0;
		case 'r': print_routes(); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* --print-public-key: the public half of the checkpoint key (made here if missing), for
 * auditors and hosts to pin: `lockboxctl audit verify --public-key FILE`. Returns the exit
 * status. */
/* --check-config: a PostgreSQL database is also reached (read only), since its URI names a
 * server, credentials and a database that the file alone cannot vouch for. */
static int check_database(struct gw *gw, const struct gw_opts *o)
{
	char what[1024], db[1024];
	if (gw_store_uri_file(gw->cfg.database)) {
		printf("%s: ok\n", o->config);
		return 0;
	}
	gw_store_uri_redact(gw->cfg.database, db, sizeof(db));
	if (gw_store_postgresql_probe(gw->cfg.database, what, sizeof(what)) != 0) {
		fprintf(stderr, "lockbox-gatewayd: %s: database: %s\n", o->config, what);
		return 1;
	}
	printf("%s: ok (database %s: %s)\n", o->config, db, what);
	return 0;
}

static int print_public_key(struct gw *gw, const struct gw_opts *o)
{
	char err[1024];
	int rc;

	if (gw_checkpoint_key_load(gw, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "lockbox-gatewayd: %s: %s\n", o->config, err);
		return 1;
	}
	fputs(gw->ckpt_pubkey_pem, stdout);
	fprintf(stderr, "lockbox-gatewayd: %s: Ed25519, sha256 %s\n",
		gw_checkpoint_key_path(&gw->cfg), gw->ckpt_key_fpr);
	rc = fflush(stdout) == 0 ? 0 : 1;
	if (rc == 0 && o->key_owner && give_keys(gw, o->key_owner, err, sizeof(err)) != 0) {
		fprintf(stderr, "lockbox-gatewayd: %s: %s\n", o->config, err);
		rc = 1;
	}
	return rc;
}

/* The TLS certificate and key of a TLS listener, into CERT and KEY; 0 or -1 (said). */
static int read_tls_files(const struct gw *gw, const struct gw_opts *o, char **cert,
			  char **key)
{
	char err[1024];

	if (!(*cert = read_file(gw->cfg.tls_cert, err, sizeof(err)))) {
		fprintf(stderr, "lockbox-gatewayd: %s: tls_cert: %s\n", o->config, err);
		return -1;
	}
	if (!(*key = read_file(gw->cfg.tls_key, err, sizeof(err)))) {
		fprintf(stderr, "lockbox-gatewayd: %s: tls_key: %s\n", o->config, err);
		return -1;
	}
	return 0;
}

/* Signals are taken synchronously by the main thread; every other thread blocks them, the
 * store's writer too, so they are blocked before it starts: a SIGTERM during the start-up
 * waits for sigwait instead of killing the process from another thread. */
static void block_signals(sigset_t *sigs, int bootstrap)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGHUP);
	if (!bootstrap)
		pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The database (its directory made if missing); 0 or -1 (said). */
static int open_store(struct gw *gw)
{
	char err[1024];

	if (make_db_dir(gw->cfg.database) != 0)
		fprintf(stderr, "lockbox-gatewayd: cannot create the database directory: %s\n",
			strerror(errno));
	warn_db_modes(gw->cfg.database);
	/* a read connection for every HTTP thread (http_start), the sweeper and the notifier */
	gw->store = gw_store_open(gw->cfg.database, (unsigned)gw->cfg.threads + 2, err,
				  sizeof(err));
	if (!gw->store) {
		fprintf(stderr, "lockbox-gatewayd: %s\n", err);
		return -1;
	}
	return 0;
}

/* --bootstrap-admin LOGIN: prints the token once; returns the exit status. */
static int bootstrap_admin(struct gw *gw, const char *login)
{
	char token[80], err[1024];

	if (gw_bootstrap_admin(gw, login, token, sizeof(token), err, sizeof(err)) != 0) {
		fprintf(stderr, "lockbox-gatewayd: --bootstrap-admin: %s\n", err);
		return 1;
	}
	printf("%s\n", token);
	fflush(stdout);
	lb_wipe(token, sizeof(token));
	return 0;
}

/* The checkpoint key and the key that seals the TOTP secrets, each made on first start;
 * 0 or -1 (said). */
static int load_keys(struct gw *gw, const struct gw_opts *o)
{
	char err[1024];

	if (gw_checkpoint_key_load(gw, 1, err, sizeof(err)) != 0 ||
	    gw_totp_key_load(gw, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "lockbox-gatewayd: %s: %s\n", o->config, err);
		return -1;
	}
	return 0;
}

/* Host name and listen address: what names this gateway among those sharing a database, and
 * stays the same across its restarts. */
static void gw_instance_name(struct gw *gw)
{
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	snprintf(gw->instance, sizeof(gw->instance), "%s %s", host, gw->cfg.listen);
}

static void on_remote_change(const char *tenant, void *arg)
{
	(void)arg;
	if (tenant)
		gw_changes_bump(tenant);
	else
		gw_changes_bump_all();
}

/* The checkpoint floor, the timers, the HTTP server, the notifier and the sweeper, in that
 * order; 0 or -1 (logged; what started is stopped by main's way out). */
static int start_serving(struct gw *gw, const struct gw_listen *l, char *cert, char *key)
{
	gw_instance_name(gw);
	gw_checkpoint_init(gw);
	/* before serving: verify must compare with the stored checkpoint from the first call */
	gw_checkpoint_resume(gw);
	if (gw_changes_start() != 0) {
		gw_log(LOG_ERR, "cannot start the change signal's timer");
		return -1;
	}
	/* what other gateways sharing the database change wakes this one's agents too */
	if (gw->store->follow && gw->store->follow(gw->store->cls, on_remote_change, gw) != 0) {
		gw_log(LOG_ERR, "cannot follow the other gateways' change signal");
		return -1;
	}
	if (gw_deadline_start(gw->cfg.request_timeout) != 0) {
		gw_log(LOG_ERR, "cannot start the request deadline's timer");
		return -1;
	}
	gw->mhd = http_start(gw, l, cert, key);
	if (!gw->mhd) {
		gw_log(LOG_ERR, "cannot listen on %s (address in use, or bad TLS key/cert?)",
		       gw->cfg.listen);
		return -1;
	}
	if (gw_notify_start(gw) != 0) {
		gw_log(LOG_ERR, "cannot start the notification worker");
		return -1;
	}
	if (gw_sweeper_start(gw) != 0) {
		gw_log(LOG_ERR, "cannot start the sweeper");
		return -1;
	}
	return 0;
}

/* Serves until SIGTERM or SIGINT; a SIGHUP reopens log_file. */
static void wait_for_stop(const struct gw *gw, sigset_t *sigs)
{
	int sig;

	for (;;) {
		if (sigwait(sigs, &sig) != 0)
			break;
		if (sig != SIGHUP)
			break;
		/* logrotate's postrotate: the renamed file got every line until now */
		if (lb_log_reopen() != 0)
			gw_log(LOG_ERR, "SIGHUP: cannot reopen log_file %s: %s (still "
					"writing to the old file)", gw->cfg.log_file, strerror(errno));
		gw_log(LOG_INFO, "SIGHUP: %s; restart the gateway to apply configuration "
				 "changes", gw->cfg.log_file ? "log_file reopened" : "no log_file");
	}
}

/* Stops the threads start_serving started, then signs the last checkpoint. */
static void stop_serving(struct gw *gw)
{
	gw_log(LOG_INFO, "stopping");
	lb_daemon_notify("STOPPING=1");
	gw_sweeper_stop();
	gw_notify_stop();
	/* the last checkpoint covers every event: once no request runs, sign the head, so that
	 * events written since the last interval cannot be removed while the gateway is down */
	gw_changes_stop();
	MHD_stop_daemon(gw->mhd);
	gw->mhd = NULL;
	gw_checkpoint_run(gw, 0);
}

int main(int argc, char **argv)
{
	struct gw_opts o;
	int rc = 1, ready_fd = -1;
	char err[1024];
	struct gw gw;
	struct gw_listen l;
	char *cert = NULL, *key = NULL;
	sigset_t sigs;

	/* the database, its -wal and -shm, and the checkpoint key hold every tenant's audit
	 * trail and the gateway's secrets: whatever this process creates is its owner's only */
	umask(077);
	memset(&gw, 0, sizeof(gw));
	pthread_mutex_init(&gw.ckpt_lock, NULL);
	if ((rc = parse_options(argc, argv, &o)) >= 0)
		return rc;
	rc = 1;
	lb_log_init("lockbox-gatewayd");
	gw_config_default(&gw.cfg);
	if (gw_config_load(&gw.cfg, o.config, err, sizeof(err)) != 0) {
		fprintf(stderr, "lockbox-gatewayd: %s\n", err);
		gw_config_free(&gw.cfg);
		return 1;
	}
	if (o.print_pub) {
		rc = print_public_key(&gw, &o);
		gw_checkpoint_key_free(&gw);
		gw_totp_key_free(&gw);
		gw_config_free(&gw.cfg);
		return rc;
	}
	gw_listen_parse(gw.cfg.listen, &l, err, sizeof(err));
	if (l.tls && !o.bootstrap && read_tls_files(&gw, &o, &cert, &key) != 0)
		goto out;
	if (o.check_only) {
		rc = check_database(&gw, &o);
		goto out;
	}
	/* log_file: opened here, as the serving user, so a bad path stops the start visibly */
	if (gw.cfg.log_file && !o.bootstrap && lb_log_open(gw.cfg.log_file) != 0) {
		fprintf(stderr, "lockbox-gatewayd: %s: log_file %s: %s\n", o.config,
			gw.cfg.log_file, strerror(errno));
		goto out;
	}
	if (!o.foreground && !o.bootstrap && lb_daemon_detach(&ready_fd) != 0) {
		fprintf(stderr, "lockbox-gatewayd: cannot detach: %s\n", strerror(errno));
		goto out;
	}
	block_signals(&sigs, o.bootstrap != NULL);
	if (open_store(&gw) != 0)
		goto out;
	if (o.bootstrap) {
		rc = bootstrap_admin(&gw, o.bootstrap);
		goto out;
	}
	if (load_keys(&gw, &o) != 0)
		goto out;
	gw.foreground = o.foreground;
	if (start_serving(&gw, &l, cert, key) != 0)
		goto out;
	if (ready_fd >= 0) {
		lb_daemon_ready(ready_fd);
		ready_fd = -1;
		lb_log_detached(LOG_DAEMON);
	}
	{
		char db[1024];
		gw_store_uri_redact(gw.cfg.database, db, sizeof(db));
		gw_log(LOG_INFO, "listening on %s (database %s)", gw.cfg.listen, db);
	}
	/* Type=notify: systemd starts what is ordered after the gateway only now */
	lb_daemon_notify("READY=1");
	wait_for_stop(&gw, &sigs);
	stop_serving(&gw);
	rc = 0;
out:
	/* MHD must not be stopped while a connection is suspended */
	gw_changes_stop();
	if (gw.mhd)
		MHD_stop_daemon(gw.mhd);
	gw_deadline_stop();
	if (key) {
		lb_wipe(key, strlen(key));
		free(key);
	}
	free(cert);
	gw_checkpoint_key_free(&gw);
	gw_totp_key_free(&gw);
	gw_store_close(gw.store);
	gw_config_free(&gw.cfg);
	return rc;
}
