/* lockboxctl: directory commands (tenant, subscription, invitation, user, token, role) for
 * provider admins and a tenant's global admins, and the global admin's tenant lockbox switch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

/* tenant */

static const struct ctl_col tenant_cols[] = {
	{"ID", "id", COL_STR},
	{"NAME", "name", COL_STR},
	{"LOCKBOX", "lockbox_enabled", COL_BOOL},
	{"CREATED", "created_at", COL_TIME},
	{NULL, NULL, 0},
};

static int tenant_create(struct ctl *c, struct ctl_args *a)
{
	json_t *b = json_pack("{s:s}", "name", a->pos[0]);
	return cmd_call_show(c, "POST", "/v1/tenants", b);
}

static int tenant_list(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	ctl_query_init(&q, "/v1/tenants");
	return cmd_list(c, a, &q, tenant_cols);
}

/* Sets KEY in BODY to the tenant given by --tenant (id or name), if given: CTL_OK, or why
 * not. */
static int tenant_field(struct ctl *c, struct ctl_args *a, json_t *body, const char *key)
{
	char *id;
	if (!ctl_arg(a, "tenant"))
		return CTL_OK;
	if (ctl_resolve_tenant(c, ctl_arg(a, "tenant"), &id) != CTL_OK)
		return CTL_FAILED;
	json_object_set_new(body, key, json_string(id));
	free(id);
	return CTL_OK;
}

/* POST PATH with BODY (consumed), "tenant" set from --tenant (id or name) if given. */
static int post_with_tenant(struct ctl *c, struct ctl_args *a, const char *path, json_t *body)
{
	if (tenant_field(c, a, body, "tenant") != CTL_OK) {
		json_decref(body);
		return CTL_FAILED;
	}
	return cmd_call_show(c, "POST", path, body);
}

/* /v1/tenants/{id}SUFFIX for the tenant given by id or name; NULL (said why) if none. */
static char *tenant_path(struct ctl *c, const char *tenant, const char *suffix)
{
	char *id, *p;
	if (ctl_resolve_tenant(c, tenant, &id) != CTL_OK)
		return NULL;
	p = cmd_path_id("/v1/tenants", id, suffix);
	free(id);
	return p;
}

/* METHOD /v1/tenants/{id}SUFFIX with BODY (consumed) for the tenant TENANT, and shows the
 * answer. */
static int tenant_call_show(struct ctl *c, const char *method, const char *tenant,
			    const char *suffix, json_t *body)
{
	char *p = tenant_path(c, tenant, suffix);
	int rc = cmd_call_show(c, method, p, body);
	free(p);
	return rc;
}

/* GET PATH (malloc'ed, consumed; NULL: failed, said why) as a list command. */
static int list_at(struct ctl *c, struct ctl_args *a, char *path, const struct ctl_col *cols)
{
	struct ctl_query q;
	if (!path)
		return CTL_FAILED;
	ctl_query_init(&q, path);
	free(path);
	return cmd_list(c, a, &q, cols);
}

static int tenant_show(struct ctl *c, struct ctl_args *a)
{
	return tenant_call_show(c, "GET", a->pos[0], NULL, NULL);
}

static int tenant_lockbox(struct ctl *c, struct ctl_args *a)
{
	int enable = strcmp(a->cmd->path, "tenant lockbox enable") == 0;
	return tenant_call_show(c, "PUT", a->pos[0], "/lockbox",
				json_pack("{s:b}", "enabled", enable));
}

/* PUT /v1/tenants/{id}/policy with the options given; none given: shows the tenant (and
 * its policy). */
static int tenant_policy(struct ctl *c, struct ctl_args *a)
{
	const char *n = ctl_arg(a, "approvals-required"), *bg = ctl_arg(a, "break-glass");
	const char *max = ctl_arg(a, "break-glass-max");
	json_t *body = json_object();
	char *end = NULL;

	if (n) {
		long v = strtol(n, &end, 10);
		if (!*n || *end || v < 1 || v > 10) {
			json_decref(body);
			return ctl_usage(a, "--approvals-required: a number from 1 to 10");
		}
		json_object_set_new(body, "approvals_required", json_integer(v));
	}
	if (bg) {
		if (strcmp(bg, "on") != 0 && strcmp(bg, "off") != 0) {
			json_decref(body);
			return ctl_usage(a, "--break-glass: on or off");
		}
		json_object_set_new(body, "break_glass", json_boolean(strcmp(bg, "on") == 0));
	}
	if (max)
		json_object_set_new(body, "break_glass_max", json_string(max));
	if (json_object_size(body) == 0) {
		json_decref(body);
		return tenant_call_show(c, "GET", a->pos[0], NULL, NULL);
	}
	return tenant_call_show(c, "PUT", a->pos[0], "/policy", body);
}

/* invitations */

static const struct ctl_col invitation_cols[] = {
	{"ID", "id", COL_STR},
	{"LOGIN", "login", COL_STR},
	{"EMAIL", "email", COL_STR},
	{"CREATED", "created_at", COL_TIME},
	{"EXPIRES", "expires_at", COL_TIME},
	{"REDEEMED", "redeemed_at", COL_TIME},
	{"USER", "user", COL_STR},
	{NULL, NULL, 0},
};

/* POST /v1/tenants/{id}/invitations: the answer never holds the code (it goes by mail). */
static int tenant_invite(struct ctl *c, struct ctl_args *a)
{
	const char *login = cmd_need(a, "login"), *name, *email;
	char *p;
	int rc;
	if (!login || !(name = cmd_need(a, "name")) || !(email = cmd_need(a, "email")))
		return CTL_USAGE;
	p = tenant_path(c, a->pos[0], "/invitations");
	if (!p)
		return CTL_FAILED;
	rc = cmd_call_show(c, "POST", p,
			   json_pack("{s:s, s:s, s:s}", "login", login, "name", name, "email", email));
	free(p);
	if (rc == CTL_OK && !c->json && !c->quiet)
		fprintf(stderr, "lockboxctl: the one-time code was mailed to %s; the invitee runs "
				"'lockboxctl invitation redeem CODE'\n", email);
	return rc;
}

static int invitation_list(struct ctl *c, struct ctl_args *a)
{
	return list_at(c, a, tenant_path(c, a->pos[0], "/invitations"), invitation_cols);
}

/* POST /v1/invitations/redeem: the code is the credential, so no token is sent even if one is
 * configured (whoever redeems becomes the invitee). The new token is printed like token
 * create's: alone on stdout, shown once. */
static int invitation_redeem(struct ctl *c, struct ctl_args *a)
{
	char *code = ctl_secret_arg(a->pos[0]), what[256];
	json_t *body, *ans;
	const json_t *u;
	int rc;

	if (!code || !*code) {
		free(code);
		return ctl_usage(a, "CODE -: no code on stdin");
	}
	if (c->token) {
		lb_wipe(c->token, strlen(c->token));
		free(c->token);
		c->token = NULL;
	}
	body = json_pack("{s:s}", "code", code);
	lb_wipe(code, strlen(code));
	free(code);
	rc = ctl_api(c, "POST", "/v1/invitations/redeem", body, &ans);
	json_decref(body);
	if (rc != CTL_OK)
		return rc;
	u = json_object_get(ans, "user");
	snprintf(what, sizeof(what), "welcome, %.64s (%.32s), global admin of %.32s; your token",
		 lb_json_str(u, "login") ? lb_json_str(u, "login") : "?",
		 lb_json_str(u, "id") ? lb_json_str(u, "id") : "?",
		 lb_json_str(u, "tenant") ? lb_json_str(u, "tenant") : "?");
	return cmd_print_once(c, ans, what);
}

/* subscription */

static const struct ctl_col sub_cols[] = {
	{"ID", "id", COL_STR},
	{"NAME", "name", COL_STR},
	{"TENANT", "tenant", COL_STR},
	{"CREATED", "created_at", COL_TIME},
	{NULL, NULL, 0},
};

static int sub_create(struct ctl *c, struct ctl_args *a)
{
	json_t *b;
	if (!cmd_need(a, "tenant"))
		return CTL_USAGE;
	b = json_pack("{s:s}", "name", a->pos[0]);
	return post_with_tenant(c, a, "/v1/subscriptions", b);
}

static int sub_list(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	ctl_query_init(&q, "/v1/subscriptions");
	ctl_query_add(&q, "tenant", ctl_arg(a, "tenant"));
	return cmd_list(c, a, &q, sub_cols);
}

/* user */

static const struct ctl_col user_cols[] = {
	{"ID", "id", COL_STR},
	{"LOGIN", "login", COL_STR},
	{"NAME", "name", COL_STR},
	{"EMAIL", "email", COL_STR},
	{"SIDE", "side", COL_STR},
	{"TENANT", "tenant", COL_STR},
	{"DISABLED", "disabled", COL_BOOL},
	{NULL, NULL, 0},
};

static int user_create(struct ctl *c, struct ctl_args *a)
{
	const char *login = cmd_need(a, "login"), *name, *email, *side;
	json_t *b;
	if (!login || !(name = cmd_need(a, "name")) || !(email = cmd_need(a, "email")) ||
	    !(side = cmd_need(a, "side")))
		return CTL_USAGE;
	if (strcmp(side, "provider") != 0 && strcmp(side, "customer") != 0)
		return ctl_usage(a, "--side must be provider or customer");
	if (strcmp(side, "customer") == 0 && !ctl_arg(a, "tenant"))
		return ctl_usage(a, "a customer-side user needs --tenant");
	b = json_pack("{s:s, s:s, s:s, s:s}", "login", login, "name", name, "email", email, "side",
		      side);
	return post_with_tenant(c, a, "/v1/users", b);
}

static int user_list(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	ctl_query_init(&q, "/v1/users");
	return cmd_list(c, a, &q, user_cols);
}

/* *PATH = /v1/users/{id}SUFFIX (malloc'ed) for the user given by id or login: CTL_OK, or
 * why not (said). The resolver's own code is kept: an unreachable gateway stays
 * CTL_UNREACHABLE. */
static int user_path(struct ctl *c, const char *user, const char *suffix, char **path)
{
	char *uid;
	int rc = ctl_resolve_user(c, user, &uid);
	if (rc != CTL_OK)
		return rc;
	*path = cmd_path_id("/v1/users", uid, suffix);
	free(uid);
	return *path ? CTL_OK : CTL_FAILED;
}

/* POST /v1/users/{id}/disable or /enable. */
static int user_set_disabled(struct ctl *c, struct ctl_args *a, const char *what)
{
	char *p;
	int rc = user_path(c, a->pos[0], what, &p);
	if (rc != CTL_OK)
		return rc;
	rc = cmd_call_show(c, "POST", p, NULL);
	free(p);
	return rc;
}

static int user_disable(struct ctl *c, struct ctl_args *a)
{
	return user_set_disabled(c, a, "/disable");
}

static int user_enable(struct ctl *c, struct ctl_args *a)
{
	return user_set_disabled(c, a, "/enable");
}

/* token */

static int token_create(struct ctl *c, struct ctl_args *a)
{
	char *p;
	json_t *ans;
	int rc = user_path(c, a->pos[0], "/tokens", &p);
	if (rc != CTL_OK)
		return rc;
	json_t *b = json_pack("{s:b}", "mfa", ctl_flag(a, "mfa"));
	rc = ctl_api(c, "POST", p, b, &ans);
	json_decref(b);
	free(p);
	if (rc != CTL_OK)
		return rc;
	return cmd_print_once(c, ans, "token");
}

static const struct ctl_col token_cols[] = {
	{"ID", "id", COL_STR},
	{"CREATED", "created_at", COL_TIME},
	{"EXPIRES", "expires_at", COL_TIME},
	{"REVOKED", "revoked_at", COL_TIME},
	{"LAST_USED", "last_used_at", COL_TIME},
	{NULL, NULL, 0},
};

/* GET /v1/users/{id}/tokens: no secret in the answer. */
static int token_list(struct ctl *c, struct ctl_args *a)
{
	char *p;
	int rc = user_path(c, a->pos[0], "/tokens", &p);
	if (rc != CTL_OK)
		return rc;
	return list_at(c, a, p, token_cols);
}

/* DELETE /v1/tokens/{id} */
static int token_revoke(struct ctl *c, struct ctl_args *a)
{
	return cmd_call_show(c, "DELETE", cmd_path_id("/v1/tokens", a->pos[0], NULL), NULL);
}

/* role */

static const struct ctl_col role_cols[] = {
	{"ID", "id", COL_STR},
	{"USER", "user", COL_STR},
	{"LOGIN", "login", COL_STR},
	{"ROLE", "role", COL_STR},
	{"TENANT", "tenant", COL_STR},
	{"SUBSCRIPTION", "subscription", COL_STR},
	{"CREATED", "created_at", COL_TIME},
	{NULL, NULL, 0},
};

static int role_body(struct ctl *c, struct ctl_args *a, json_t **body)
{
	char *uid;
	int rc;
	if (ctl_arg(a, "tenant") && ctl_arg(a, "subscription"))
		return ctl_usage(a, "give --tenant or --subscription, not both");
	rc = ctl_resolve_user(c, a->pos[0], &uid);
	if (rc != CTL_OK)
		return rc;
	*body = json_pack("{s:s, s:s}", "user", uid, "role", a->pos[1]);
	free(uid);
	if (tenant_field(c, a, *body, "tenant") != CTL_OK) {
		json_decref(*body);
		*body = NULL;
		return CTL_FAILED;
	}
	if (ctl_arg(a, "subscription"))
		json_object_set_new(*body, "subscription", json_string(ctl_arg(a, "subscription")));
	return CTL_OK;
}

static int role_assign(struct ctl *c, struct ctl_args *a)
{
	json_t *b;
	int rc = role_body(c, a, &b);
	if (rc != CTL_OK)
		return rc;
	return cmd_call_show(c, "POST", "/v1/role-assignments", b);
}

static int role_remove(struct ctl *c, struct ctl_args *a)
{
	json_t *b, *ans;
	int rc = role_body(c, a, &b);
	if (rc != CTL_OK)
		return rc;
	rc = ctl_api(c, "DELETE", "/v1/role-assignments", b, &ans);
	json_decref(b);
	if (rc != CTL_OK)
		return rc;
	if (c->json)
		ctl_print_json(ans);
	else if (!c->quiet)
		printf("removed role %s from %s\n", a->pos[1], a->pos[0]);
	json_decref(ans);
	return CTL_OK;
}

/* user id -> login, for the LOGIN column of role list (the table only: --json is the API's
 * object as it is). Read by role_logins_prep; the CLI runs one command per process. */
static json_t *role_logins;

static void role_logins_prep(json_t *items)
{
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		json_t *login = json_object_get(role_logins, lb_json_str(it, "user") ?
							       lb_json_str(it, "user") : "");
		if (login)
			json_object_set(it, "login", login);
	}
}

static int role_list(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	json_t *users = NULL, *u;
	char *uid = NULL;
	size_t i;
	int rc;
	if (ctl_arg(a, "user")) {
		rc = ctl_resolve_user(c, ctl_arg(a, "user"), &uid);
		if (rc != CTL_OK)
			return rc;
	}
	/* logins beside ids: one list of the users the caller may read (none: ids only) */
	role_logins = json_object();
	if (!c->json && !c->quiet && ctl_list(c, "/v1/users", 1, "200", NULL, &users, NULL) == CTL_OK)
		json_array_foreach(users, i, u)
			if (lb_json_str(u, "id") && lb_json_str(u, "login"))
				json_object_set(role_logins, lb_json_str(u, "id"),
						json_object_get(u, "login"));
	json_decref(users);
	ctl_query_init(&q, "/v1/role-assignments");
	ctl_query_add(&q, "user", uid);
	free(uid);
	rc = cmd_list_prep(c, a, &q, role_cols, role_logins_prep);
	json_decref(role_logins);
	role_logins = NULL;
	return rc;
}

static const struct ctl_opt list_opts[] = {CMD_LIST_OPTS, {NULL, NULL, NULL, 0}};
static const struct ctl_opt sub_create_opts[] = {
	{"tenant", "TENANT", "the tenant (tnt_... or its name) the subscription belongs to", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt sub_list_opts[] = {
	{"tenant", "TENANT", "only this tenant's subscriptions", 0},
	CMD_LIST_OPTS,
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt user_create_opts[] = {
	{"login", "LOGIN", "the Unix login on hosts", 0},
	{"name", "NAME", "full name", 0},
	{"email", "EMAIL", "e-mail address (notifications)", 0},
	{"side", "SIDE", "provider or customer", 0},
	{"tenant", "TENANT", "the tenant (tnt_... or its name) of a customer-side user", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt policy_opts[] = {
	{"approvals-required", "N", "distinct designated approvers a request needs (1..10)", 0},
	{"break-glass", "on|off", "whether engineers may ask for break-glass access", 0},
	{"break-glass-max", "DURATION", "the longest break-glass grant (at most max_grant)", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt invite_opts[] = {
	{"login", "LOGIN", "the invitee's login (their Unix login on hosts)", 0},
	{"name", "NAME", "the invitee's full name", 0},
	{"email", "EMAIL", "where the one-time code is mailed", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt token_opts[] = {
	{"mfa", NULL, "set the token's mfa flag (a record only: require_mfa wants TOTP codes)", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt role_opts[] = {
	{"tenant", "TENANT", "the tenant, for global_admin, lockbox_approver, customer_user", 0},
	{"subscription", "SUB", "the subscription, for owner", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt role_list_opts[] = {
	{"user", "USER", "only this user's roles (id or login)", 0},
	CMD_LIST_OPTS,
	{NULL, NULL, NULL, 0},
};

#define ROLES_TEXT                                                                               \
	"ROLE is one of provider_admin, engineer, internal_approver (provider side: no scope;\n"  \
	"provider admins give them), global_admin, lockbox_approver, customer_user (customer\n"  \
	"side: --tenant) or owner (customer side: --subscription); the tenant's global admins\n" \
	"give the customer roles. USER is a user id (usr_...) or a login."

const struct ctl_cmd ctl_cmds_admin[] = {
	{"tenant create", "NAME", "create a tenant (provider admin)", 1, 1, NULL, tenant_create, 0,
	 NULL},
	{"tenant list", "", "list tenants (provider admin)", 0, 0, list_opts, tenant_list, 0,
	 NULL},
	{"tenant show", "TENANT", "show one tenant and its policy (provider admin, its global admin)",
	 1, 1, NULL, tenant_show, 0, NULL},
	{"tenant lockbox enable", "TENANT", "require customer approval for the tenant (global admin)",
	 1, 1, NULL, tenant_lockbox, 0, NULL},
	{"tenant lockbox disable", "TENANT",
	 "skip the customer approval step for the tenant (global admin)", 1, 1, NULL, tenant_lockbox,
	 0, "Requests of a tenant with lockbox disabled are approved right after the JIT rules;\n"
	    "the switch is audited."},
	{"tenant policy", "TENANT [--approvals-required N] [--break-glass on|off] "
	 "[--break-glass-max DURATION]", "show or change the tenant's approval policy (global admin)",
	 1, 1, policy_opts, tenant_policy, 0,
	 "Without options it shows the tenant with its policy. The options given change, the\n"
	 "rest stay; each change is audited as tenant.policy.update. With --approvals-required N\n"
	 "a request is approved when N distinct designated approvers have approved it (one deny\n"
	 "ends it; nobody approves twice; the requester never counts)."},
	{"subscription create", "--tenant TENANT NAME", "create a subscription (provider admin)", 1,
	 1, sub_create_opts, sub_create, 0, NULL},
	{"subscription list", "[--tenant TENANT]", "list subscriptions (provider admin)", 0, 0,
	 sub_list_opts, sub_list, 0, NULL},
	{"tenant invite", "TENANT --login LOGIN --name NAME --email EMAIL",
	 "invite a global admin of the tenant; the one-time code goes by mail", 1, 1,
	 invite_opts, tenant_invite, 0,
	 "A provider admin invites a tenant's first global admin (only while the tenant has\n"
	 "no enabled one); after that, only the tenant's global admins invite. The code is\n"
	 "mailed to EMAIL (the gateway needs smtp_url) and appears in no answer or log; it\n"
	 "works once, until invitation_ttl (default 72h) has passed."},
	{"invitation list", "TENANT", "list a tenant's invitations (never their codes)", 1, 1,
	 list_opts, invitation_list, 0,
	 "For provider admins and the tenant's global admins. REDEEMED and USER show who\n"
	 "took each invitation up."},
	{"invitation redeem", "CODE",
	 "accept an invitation: become the tenant's global admin; prints your token once", 1, 1,
	 NULL, invitation_redeem, CTL_CMD_NO_TOKEN,
	 "CODE is the one-time code from the invitation mail, or - to read it from stdin (it\n"
	 "then stays out of the process list and the shell history). Needs the gateway URL\n"
	 "but no token; any token configured is not sent. The new token goes to stdout\n"
	 "alone (a note to stderr), so TOKEN=$(lockboxctl invitation redeem -) captures it."},
	{"user create",
	 "--login LOGIN --name NAME --email EMAIL --side provider|customer [--tenant TENANT]",
	 "create a user (provider admin: provider side; global admin: its tenant's)", 0, 0,
	 user_create_opts, user_create, 0,
	 "Provider admins create provider-side users only; a tenant's customer-side users are\n"
	 "created by its global admins (the first of whom comes by 'tenant invite')."},
	{"user list", "", "list users (provider admin: all; global admin: its tenant's)", 0, 0,
	 list_opts, user_list, 0, NULL},
	{"user disable", "USER",
	 "disable a user: their tokens stop, their logins are denied, their live sessions end", 1,
	 1, NULL, user_disable, 0,
	 "USER is a user id (usr_...) or a login. Provider admins disable provider-side users;\n"
	 "a tenant's global admins disable its customer-side users."},
	{"user enable", "USER", "enable a disabled user again", 1, 1, NULL, user_enable, 0,
	 "USER is a user id (usr_...) or a login."},
	{"token create", "USER [--mfa]", "issue an API token for a user; prints it once", 1, 1,
	 token_opts, token_create, 0,
	 "USER is a user id (usr_...) or a login. Provider admins issue tokens for provider-side\n"
	 "users; a tenant's global admins for its customer-side users (never the provider).\n"
	 "The token goes to stdout alone (a note to stderr), so\n"
	 "TOKEN=$(lockboxctl token create alice) captures it."},
	{"token list", "USER", "list a user's tokens (never their secrets)", 1, 1, list_opts,
	 token_list, 0,
	 "USER is a user id (usr_...) or a login. Provider admins see provider-side users'\n"
	 "tokens; a tenant's global admins its customer-side users'."},
	{"token revoke", "TOKEN_ID", "revoke a token: it stops working at once", 1, 1, NULL,
	 token_revoke, 0,
	 "TOKEN_ID is a token id (tok_...). The user's managers revoke it, or the user."},
	{"role assign", "USER ROLE [--tenant TENANT | --subscription SUB]",
	 "give a user a role (the user's admin)", 2, 2, role_opts, role_assign, 0, ROLES_TEXT},
	{"role remove", "USER ROLE [--tenant TENANT | --subscription SUB]",
	 "take a role away (the user's admin)", 2, 2, role_opts, role_remove, 0, ROLES_TEXT},
	{"role list", "[--user USER]",
	 "list role assignments (provider admin: all; global admin: its tenant's)", 0, 0,
	 role_list_opts, role_list, 0, NULL},
	{NULL, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};
