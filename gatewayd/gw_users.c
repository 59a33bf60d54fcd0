/* lockbox-gatewayd: /v1/users (create, list, disable, enable), their tokens and role
 * assignments, bootstrap. Provider admins manage provider-side users; a tenant's global admins
 * its customer-side users (DESIGN.md "Actors": the provider never issues a customer credential). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

/* The login is the Unix user on hosts, so it must be a portable Unix user name. */
int gw_login_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32 || !(islower((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (const char *p = s; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' ||
		      *p == '-' || *p == '.'))
			return 0;
	return 1;
}

static enum gw_db user_create_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *tenant = lb_json_str(call->body, "tenant");
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN];
	enum gw_db rc;

	if (tenant && (rc = gw_call_get(call, &gw_k_tenants, tenant, NULL)) != GW_DB_OK)
		return rc;
	gw_new_id("usr_", id);
	gw_now_str(call->r, now);
	call->out = json_pack("{s:s,s:O,s:O,s:O,s:O,s:O,s:b,s:s}", "id", id, "login",
			    json_object_get(call->body, "login"), "name",
			    json_object_get(call->body, "name"), "email",
			    json_object_get(call->body, "email"), "side",
			    json_object_get(call->body, "side"), "tenant",
			    tenant ? json_object_get(call->body, "tenant") : json_null(), "disabled", 0,
			    "created_at", now);
	rc = s->insert(s->cls, call->txn, &gw_k_users, call->out);
	if (rc == GW_DB_CONFLICT)
		return gw_call_fail(call, "conflict", "a user with that login exists already");
	if (rc == GW_DB_OK)
		rc = gw_directory_event(call, "directory.user.create", tenant,
					json_pack("{s:s,s:O,s:O,s:O,s:O}", "user", id, "login",
						  json_object_get(call->out, "login"), "name",
						  json_object_get(call->out, "name"), "email",
						  json_object_get(call->out, "email"), "side",
						  json_object_get(call->out, "side")));
	return rc;
}

enum MHD_Result gw_users_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"login", GW_F_STR, 1, 32},  {"name", GW_F_STR, 1, 128}, {"email", GW_F_STR, 1, 254},
		{"side", GW_F_STR, 1, 16},   {"tenant", GW_F_STR, 0, 64}, {NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "user"};
	enum MHD_Result ret;
	const char *side, *tenant, *err = NULL;
	int padmin = gw_is(&r->who, GW_ROLE_PROVIDER_ADMIN);

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	side = lb_json_str(call.body, "side");
	tenant = lb_json_str(call.body, "tenant");
	if (!gw_login_ok(lb_json_str(call.body, "login")))
		err = "login: must be a Unix user name (lowercase letters, digits, '_', '-', '.')";
	else if (strcmp(side, "provider") != 0 && strcmp(side, "customer") != 0)
		err = "side: must be provider or customer";
	else if (strcmp(side, "customer") == 0 && !json_object_get(call.body, "tenant"))
		err = "tenant: a customer-side user belongs to a tenant";
	else if (strcmp(side, "provider") == 0 && json_object_get(call.body, "tenant"))
		err = "tenant: a provider-side user belongs to no tenant";
	if (err) {
		json_decref(call.body);
		return gw_reply_error(r, "bad_value", "%s", err);
	}
	/* who creates which side: a customer user is its tenant's business alone, and another
	 * tenant's admin does not learn whether the tenant exists */
	if (strcmp(side, "provider") == 0 && !padmin)
		err = "provider-side users are created by provider admins";
	else if (strcmp(side, "customer") == 0 && !gw_is_in_tenant(&r->who, GW_ROLE_GLOBAL_ADMIN, tenant))
		err = padmin ? "customer-side users are created by their tenant's global admins (a "
			       "tenant gets its first one by invitation: POST /v1/tenants/{id}/invitations)"
			     : "";
	if (err) {
		ret = *err ? gw_reply_error(r, "forbidden", "%s", err)
			   : gw_reply_error(r, "not_found", "no tenant %s", tenant);
		json_decref(call.body);
		return ret;
	}
	ret = gw_call_run(&call, 1, user_create_body, 201);
	json_decref(call.body);
	return ret;
}

/* A global admin sees the users of the tenants they administer. */
static int user_visible(const json_t *row, void *principal)
{
	return gw_is_in_tenant(principal, GW_ROLE_GLOBAL_ADMIN, lb_json_str(row, "tenant"));
}

enum MHD_Result gw_users_list(struct gw_req *r)
{
	if (gw_is(&r->who, GW_ROLE_PROVIDER_ADMIN))
		return gw_reply_list(r, &gw_k_users, NULL, 0, NULL);
	return gw_reply_list(r, &gw_k_users, NULL, 0, user_visible);
}

/* Who may change USER (DESIGN.md "Identities"): provider admins for provider-side users,
 * the tenant's global admins for its customer-side users and nobody else: a provider admin
 * never changes a customer credential (403), and another tenant's admin does not even learn
 * the user exists (404). */
static enum gw_db may_manage_user(struct gw_call *call, const json_t *user)
{
	const struct gw_principal *p = &call->r->who;
	const char *side = lb_json_str(user, "side"), *tenant = lb_json_str(user, "tenant");

	if (side && strcmp(side, "provider") == 0) {
		if (gw_is(p, GW_ROLE_PROVIDER_ADMIN))
			return GW_DB_OK;
		return gw_call_fail(call, "forbidden", "provider-side users are managed by provider admins");
	}
	if (tenant && gw_is_in_tenant(p, GW_ROLE_GLOBAL_ADMIN, tenant))
		return GW_DB_OK;
	if (gw_is(p, GW_ROLE_PROVIDER_ADMIN))
		return gw_call_fail(call, "forbidden",
				  "customer-side users are managed by their tenant's global admins");
	return gw_call_fail(call, "not_found", "no such user");
}

/* POST /v1/users/{id}/disable and /enable: a disabled user's tokens stop at once (the
 * principal is refused), the check denies their logins (user_disabled), and the agents of
 * the tenants where they hold a grant are signalled to end their live sessions. */
static enum gw_db user_set_disabled_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	int disable = *(const int *)call->arg;
	char now[LB_TIME_BUFLEN];
	struct gw_event ev = {0};
	json_t *fields;
	enum gw_db rc;

	rc = s->get(s->cls, call->txn, &gw_k_users, "id", call->r->args[0], &call->out);
	if (rc != GW_DB_OK)
		return rc;
	if ((rc = may_manage_user(call, call->out)) != GW_DB_OK)
		return rc;
	if (disable && strcmp(call->r->who.id, call->r->args[0]) == 0)
		return gw_call_fail(call, "rule_violated",
				  "you cannot disable yourself (another admin can)");
	if (json_is_true(json_object_get(call->out, "disabled")) == disable)
		return GW_DB_OK; /* already so: nothing changes, nothing is audited twice */
	gw_now_str(call->r, now);
	fields = json_pack("{s:b}", "disabled", disable);
	rc = s->update(s->cls, call->txn, &gw_k_users, call->r->args[0], fields);
	json_object_update(call->out, fields);
	json_decref(fields);
	/* either way the hosts of their grants learn it: disabled, their agents end the
	 * sessions; enabled, their agents hold the grants again */
	if (rc == GW_DB_OK)
		rc = gw_call_changed_user_grants(call, call->r->args[0]);
	if (rc != GW_DB_OK)
		return rc;
	ev.type = disable ? "directory.user.disable" : "directory.user.enable";
	ev.tenant = lb_json_str(call->out, "tenant");
	ev.level = ev.tenant ? "tenant" : "provider";
	ev.actor = call->r->who.id;
	ev.details = json_pack("{s:s,s:s,s:s,s:b}", "user", call->r->args[0], "login",
			       lb_json_str(call->out, "login"), "side", lb_json_str(call->out, "side"),
			       "disabled", disable);
	return gw_audit_emit(call->r->gw, call->txn, &ev, NULL);
}

static enum MHD_Result user_set_disabled(struct gw_req *r, int disable)
{
	struct gw_call call = {.r = r, .what = "user", .arg = &disable};
	return gw_call_run(&call, 1, user_set_disabled_body, 200);
}

enum MHD_Result gw_users_disable(struct gw_req *r)
{
	return user_set_disabled(r, 1);
}

enum MHD_Result gw_users_enable(struct gw_req *r)
{
	return user_set_disabled(r, 0);
}

/* A token row as the API shows it: never the hash (hidden in the store), the secret only in
 * the create answer. */
enum gw_db gw_token_insert(struct gw_store *s, struct gw_txn *t, const char *user, int mfa, const char *now,
			   int64_t ttl, char *token, size_t len, json_t **out)
{
	char id[GW_ID_LEN], hash[65], until[LB_TIME_BUFLEN];
	int64_t now_ms;
	json_t *row;
	enum gw_db rc;

	*out = NULL;
	if (lb_time_parse(now, &now_ms) != 0)
		return GW_DB_ERROR;
	lb_time_format(now_ms + ttl * 1000, until, sizeof(until));
	gw_new_id("tok_", id);
	if (gw_new_token("lbu_", token, len, hash) != 0)
		return GW_DB_ERROR;
	row = json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:n,s:n}", "id", id, "user", user, "hash", hash,
			"mfa", mfa, "created_at", now, "expires_at", until, "revoked_at",
			"last_used_at");
	rc = s->insert(s->cls, t, &gw_k_tokens, row);
	json_object_del(row, "hash");
	json_object_set_new(row, "token", json_string(token));
	*out = row;
	return rc;
}

/* The directory.token.* event of a change to TOKEN of USER: a customer-side user's tokens are
 * their tenant's business, a provider-side user's the provider's; never the secret. */
static enum gw_db token_audit(struct gw_call *call, const char *type, const json_t *user,
			      const json_t *token)
{
	struct gw_event ev = {0};
	ev.type = type;
	ev.tenant = lb_json_str(user, "tenant");
	ev.level = ev.tenant ? "tenant" : "provider";
	ev.actor = call->r->who.id;
	ev.details = json_pack("{s:s?,s:s?,s:s?,s:s?}", "token", lb_json_str(token, "id"), "user",
			       lb_json_str(user, "id"), "login", lb_json_str(user, "login"),
			       "expires_at", lb_json_str(token, "expires_at"));
	return gw_audit_emit(call->r->gw, call->txn, &ev, NULL);
}

static enum gw_db token_create_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	char now[LB_TIME_BUFLEN], token[80];
	json_t *u;
	enum gw_db rc;

	rc = s->get(s->cls, call->txn, &gw_k_users, "id", call->r->args[0], &u);
	if (rc != GW_DB_OK)
		return rc;
	if ((rc = may_manage_user(call, u)) != GW_DB_OK) {
		json_decref(u);
		return rc;
	}
	gw_now_str(call->r, now);
	rc = gw_token_insert(s, call->txn, call->r->args[0], json_is_true(json_object_get(call->body, "mfa")), now,
			  call->r->gw->cfg.token_ttl, token, sizeof(token), &call->out);
	lb_wipe(token, sizeof(token));
	if (rc == GW_DB_OK)
		rc = token_audit(call, "directory.token.create", u, call->out);
	json_decref(u);
	return rc;
}

enum MHD_Result gw_users_token_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {{"mfa", GW_F_BOOL, 0, 0}, {NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "user"};
	enum MHD_Result ret;

	if (r->body_len == 0 && !r->too_big)
		call.body = json_object();
	else if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	ret = gw_call_run(&call, 1, token_create_body, 201);
	json_decref(call.body);
	return ret;
}

/* GET /v1/users/{id}/tokens: the user's managers (may_manage_user) see the tokens, never a
 * secret (the store does not return the hash, and the secret is not stored). */
struct token_page {
	size_t limit;
	int64_t cursor;
};

static enum gw_db token_list_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const struct token_page *pg = call->arg;
	struct gw_filter f = {"user", GW_EQ, call->r->args[0]};
	json_t *u, *items;
	int64_t next;
	char buf[32];
	enum gw_db rc;

	rc = s->get(s->cls, call->txn, &gw_k_users, "id", call->r->args[0], &u);
	if (rc != GW_DB_OK)
		return rc;
	rc = may_manage_user(call, u);
	json_decref(u);
	if (rc != GW_DB_OK)
		return rc;
	rc = s->list(s->cls, call->txn, &gw_k_tokens, &f, 1, pg->cursor, pg->limit, 0, NULL, NULL, &items,
		     &next);
	if (rc != GW_DB_OK)
		return rc;
	call->out = json_pack("{s:o}", "items", items);
	if (next > 0) {
		snprintf(buf, sizeof(buf), "%lld", (long long)next);
		json_object_set_new(call->out, "next_cursor", json_string(buf));
	} else {
		json_object_set_new(call->out, "next_cursor", json_null());
	}
	return GW_DB_OK;
}

enum MHD_Result gw_users_tokens_list(struct gw_req *r)
{
	struct token_page pg;
	struct gw_call call = {.r = r, .what = "user", .arg = &pg};

	if (gw_parse_page(r, &pg.limit, &pg.cursor) != 0)
		return MHD_YES;
	return gw_call_run(&call, 0, token_list_body, 200);
}

/* DELETE /v1/tokens/{id}: the owner's managers (may_manage_user) or the owner themself
 * revoke it; it is refused (401) from the next request on. Revoking twice changes nothing
 * and is audited once. */
static enum gw_db token_revoke_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	char now[LB_TIME_BUFLEN];
	json_t *u, *fields;
	enum gw_db rc;

	rc = s->get(s->cls, call->txn, &gw_k_tokens, "id", call->r->args[0], &call->out);
	if (rc != GW_DB_OK)
		return rc;
	rc = s->get(s->cls, call->txn, &gw_k_users, "id", lb_json_str(call->out, "user"), &u);
	if (rc == GW_DB_NOT_FOUND)
		return gw_call_fail(call, "not_found", "no such token");
	if (rc != GW_DB_OK)
		return rc;
	if (strcmp(call->r->who.id, lb_json_str(call->out, "user")) != 0) {
		if (!gw_is(&call->r->who, GW_ROLE_PROVIDER_ADMIN) &&
		    !gw_is(&call->r->who, GW_ROLE_GLOBAL_ADMIN))
			rc = gw_call_fail(call, "forbidden", "you may revoke only your own tokens");
		else
			rc = may_manage_user(call, u);
		if (rc != GW_DB_OK) {
			json_decref(u);
			return rc;
		}
	}
	if (json_is_string(json_object_get(call->out, "revoked_at"))) {
		json_decref(u);
		return GW_DB_OK; /* revoked already: nothing changes, nothing is audited twice */
	}
	gw_now_str(call->r, now);
	fields = json_pack("{s:s}", "revoked_at", now);
	rc = s->update(s->cls, call->txn, &gw_k_tokens, call->r->args[0], fields);
	json_object_update(call->out, fields);
	json_decref(fields);
	if (rc == GW_DB_OK)
		rc = token_audit(call, "directory.token.revoke", u, call->out);
	json_decref(u);
	return rc;
}

enum MHD_Result gw_tokens_revoke(struct gw_req *r)
{
	struct gw_call call = {.r = r, .what = "token"};
	return gw_call_run(&call, 1, token_revoke_body, 200);
}

/* Checks the assignment against the user's side and tenant; fills tenant for owners. */
static enum gw_db role_resolve(struct gw_call *call, json_t *user, enum gw_role role,
			       const char **tenant, const char *sub)
{
	struct gw_store *s = call->r->gw->store;
	const char *side = lb_json_str(user, "side");
	const char *utenant = lb_json_str(user, "tenant");

	if (gw_role_is_provider(role)) {
		if (strcmp(side, "provider") != 0)
			return gw_call_fail(call, "rule_violated", "%s is a provider role; the user is customer-side", gw_role_name(role));
		if (*tenant || sub)
			return gw_call_fail(call, "bad_value", "provider roles take no tenant or subscription");
		return GW_DB_OK;
	}
	if (strcmp(side, "customer") != 0)
		return gw_call_fail(call, "rule_violated", "%s is a customer role; the user is provider-side", gw_role_name(role));
	if (role == GW_ROLE_OWNER) {
		json_t *so;
		enum gw_db rc;
		if (!sub || *tenant)
			return gw_call_fail(call, "bad_value", "owner takes a subscription (and no tenant)");
		rc = s->get(s->cls, call->txn, &gw_k_subscriptions, "id", sub, &so);
		if (rc == GW_DB_NOT_FOUND)
			return gw_call_fail(call, "not_found", "no subscription %s", sub);
		if (rc != GW_DB_OK)
			return rc;
		if (!utenant || strcmp(lb_json_str(so, "tenant"), utenant) != 0) {
			json_decref(so);
			return gw_call_fail(call, "rule_violated", "the subscription belongs to another tenant than the user");
		}
		json_decref(so);
		*tenant = utenant;
		return GW_DB_OK;
	}
	if (!*tenant || sub)
		return gw_call_fail(call, "bad_value", "%s takes a tenant (and no subscription)", gw_role_name(role));
	if (!utenant || strcmp(*tenant, utenant) != 0)
		return gw_call_fail(call, "rule_violated", "a customer user holds roles only in their own tenant");
	return GW_DB_OK;
}

/* Finds the assignment equal to (user, role, tenant, subscription). */
static enum gw_db role_find(struct gw_store *s, struct gw_txn *t, const char *user, const char *role,
			    const char *tenant, const char *sub, json_t **found)
{
	struct gw_filter f[4] = {{"user", GW_EQ, user}, {"role", GW_EQ, role},
				 {"tenant", GW_EQ, tenant}, {"subscription", GW_EQ, sub}};
	json_t *items;
	int64_t next;
	enum gw_db rc = s->list(s->cls, t, &gw_k_roles, f, 4, 0, 1, 0, NULL, NULL, &items, &next);
	*found = NULL;
	if (rc != GW_DB_OK)
		return rc;
	if (json_array_size(items) == 1)
		*found = json_incref(json_array_get(items, 0));
	json_decref(items);
	return *found ? GW_DB_OK : GW_DB_NOT_FOUND;
}

static enum gw_db role_assign_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *uid = lb_json_str(call->body, "user");
	const char *rname = lb_json_str(call->body, "role");
	const char *tenant = lb_json_str(call->body, "tenant");
	const char *sub = lb_json_str(call->body, "subscription");
	enum gw_role role = gw_role_from_name(rname);
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN];
	json_t *user, *dup;
	enum gw_db rc;

	if (role == GW_ROLE_NONE)
		return gw_call_fail(call, "bad_value", "role: unknown role '%.32s'", rname);
	rc = s->get(s->cls, call->txn, &gw_k_users, "id", uid, &user);
	if (rc == GW_DB_NOT_FOUND)
		return gw_call_fail(call, "not_found", "no user %s", uid);
	if (rc != GW_DB_OK)
		return rc;
	rc = may_manage_user(call, user);
	if (rc == GW_DB_OK)
		rc = role_resolve(call, user, role, &tenant, sub);
	if (rc == GW_DB_OK) {
		rc = role_find(s, call->txn, uid, rname, tenant, sub, &dup);
		json_decref(dup);
		if (rc == GW_DB_OK)
			rc = gw_call_fail(call, "conflict", "the user holds that role already");
		else if (rc == GW_DB_NOT_FOUND)
			rc = GW_DB_OK;
	}
	if (rc == GW_DB_OK) {
		gw_new_id("rol_", id);
		gw_now_str(call->r, now);
		call->out = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s}", "id", id, "user", uid, "role",
				    rname, "tenant", tenant, "subscription", sub, "created_at", now);
		rc = s->insert(s->cls, call->txn, &gw_k_roles, call->out);
	}
	if (rc == GW_DB_OK)
		rc = gw_directory_event(call, "directory.role.assign", tenant,
					json_pack("{s:s,s:s,s:s,s:s?,s:s?}", "role_assignment", id,
						  "user", uid, "role", rname, "tenant", tenant,
						  "subscription", sub));
	json_decref(user);
	return rc;
}

static const struct gw_field role_spec[] = {
	{"id", GW_F_STR, 0, 64},     {"user", GW_F_STR, 0, 64},
	{"role", GW_F_STR, 0, 32},   {"tenant", GW_F_STR, 0, 64},
	{"subscription", GW_F_STR, 0, 64}, {NULL, 0, 0, 0}};

enum MHD_Result gw_roles_assign(struct gw_req *r)
{
	struct gw_call call = {.r = r, .what = "user"};
	enum MHD_Result ret;

	if (!(call.body = gw_parse_body(r, role_spec)))
		return MHD_YES;
	if (!json_object_get(call.body, "user") || !json_object_get(call.body, "role") ||
	    json_object_get(call.body, "id")) {
		json_decref(call.body);
		return gw_reply_error(r, "missing_field", "'user' and 'role' are required ('id' is not accepted)");
	}
	ret = gw_call_run(&call, 1, role_assign_body, 201);
	json_decref(call.body);
	return ret;
}

static enum gw_db role_remove_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *id = lb_json_str(call->body, "id");
	json_t *found = NULL, *user;
	enum gw_db rc;

	if (id) {
		rc = s->get(s->cls, call->txn, &gw_k_roles, "id", id, &found);
	} else {
		const char *tenant = lb_json_str(call->body, "tenant");
		const char *sub = lb_json_str(call->body, "subscription");
		if (sub && !tenant) {
			/* owners are stored with their subscription's tenant */
			json_t *so;
			rc = s->get(s->cls, call->txn, &gw_k_subscriptions, "id", sub, &so);
			if (rc == GW_DB_OK) {
				rc = role_find(s, call->txn, lb_json_str(call->body, "user"), lb_json_str(call->body, "role"),
					       lb_json_str(so, "tenant"), sub, &found);
				json_decref(so);
			}
		} else {
			rc = role_find(s, call->txn, lb_json_str(call->body, "user"), lb_json_str(call->body, "role"),
				       tenant, sub, &found);
		}
	}
	if (rc == GW_DB_NOT_FOUND)
		return gw_call_fail(call, "not_found", "no such role assignment");
	if (rc != GW_DB_OK)
		return rc;
	/* the assignment is its user's: the same managers (and the same 403/404) */
	rc = s->get(s->cls, call->txn, &gw_k_users, "id", lb_json_str(found, "user"), &user);
	if (rc == GW_DB_OK) {
		rc = may_manage_user(call, user);
		json_decref(user);
	} else if (rc == GW_DB_NOT_FOUND) {
		rc = gw_call_fail(call, "not_found", "no such role assignment");
	}
	if (rc != GW_DB_OK) {
		json_decref(found);
		return rc;
	}
	rc = s->remove(s->cls, call->txn, &gw_k_roles, lb_json_str(found, "id"));
	/* an engineer who lost the role may not go on in the sessions of their grants (customer
	 * roles hold no grants: nothing to mark) */
	if (rc == GW_DB_OK)
		rc = gw_call_changed_user_grants(call, lb_json_str(found, "user"));
	if (rc == GW_DB_OK)
		rc = gw_directory_event(call, "directory.role.unassign", lb_json_str(found, "tenant"),
					json_pack("{s:O,s:O,s:O,s:O?,s:O?}", "role_assignment",
						  json_object_get(found, "id"), "user",
						  json_object_get(found, "user"), "role",
						  json_object_get(found, "role"), "tenant",
						  json_object_get(found, "tenant"), "subscription",
						  json_object_get(found, "subscription")));
	call->out = json_pack("{s:O}", "deleted", json_object_get(found, "id"));
	json_decref(found);
	return rc;
}

enum MHD_Result gw_roles_remove(struct gw_req *r)
{
	struct gw_call call = {.r = r, .what = "role assignment"};
	enum MHD_Result ret;

	if (!(call.body = gw_parse_body(r, role_spec)))
		return MHD_YES;
	if (!json_object_get(call.body, "id") &&
	    (!json_object_get(call.body, "user") || !json_object_get(call.body, "role"))) {
		json_decref(call.body);
		return gw_reply_error(r, "missing_field", "give 'id', or 'user' and 'role'");
	}
	ret = gw_call_run(&call, 1, role_remove_body, 200);
	json_decref(call.body);
	return ret;
}

enum MHD_Result gw_roles_list(struct gw_req *r)
{
	static const char *const by[] = {"user", NULL};
	if (gw_is(&r->who, GW_ROLE_PROVIDER_ADMIN))
		return gw_reply_list_by(r, &gw_k_roles, by, NULL);
	/* the assignments in the tenants they administer (owners are stored with their
	 * subscription's tenant) */
	return gw_reply_list_by(r, &gw_k_roles, by, user_visible);
}

struct bootstrap {
	struct gw *gw;
	const char *login;
	char *token;
	size_t len;
	const char *err;
};

/* On a database with users: a new token for LOGIN if it is an enabled provider admin. Tokens
 * expire (token_ttl), so whoever runs the gateway (and can read its database anyway) must be
 * able to let a provider admin back in; it is audited like any token issued. */
static enum gw_db bootstrap_again(struct gw_txn *t, struct bootstrap *b)
{
	struct gw_store *s = b->gw->store;
	struct gw_filter f[2] = {{"user", GW_EQ, NULL}, {"role", GW_EQ, "provider_admin"}};
	char now[LB_TIME_BUFLEN];
	struct gw_event ev = {0};
	json_t *user = NULL, *roles = NULL, *tok = NULL;
	int64_t next;
	enum gw_db rc;

	rc = s->get(s->cls, t, &gw_k_users, "login", b->login, &user);
	if (rc == GW_DB_NOT_FOUND) {
		b->err = "the database has users already and none is LOGIN: --bootstrap-admin "
			 "then only issues a new token for an existing provider admin";
		return GW_DB_ABORT;
	}
	if (rc != GW_DB_OK)
		return rc;
	f[0].val = lb_json_str(user, "id");
	rc = s->list(s->cls, t, &gw_k_roles, f, 2, 0, 1, 0, NULL, NULL, &roles, &next);
	if (rc == GW_DB_OK && (json_array_size(roles) == 0 ||
			       json_is_true(json_object_get(user, "disabled")))) {
		b->err = "LOGIN is not an enabled provider admin: no token issued";
		rc = GW_DB_ABORT;
	}
	if (rc == GW_DB_OK) {
		lb_time_format(lb_time_now_ms(), now, sizeof(now));
		rc = gw_token_insert(s, t, f[0].val, 1, now, b->gw->cfg.token_ttl, b->token, b->len, &tok);
	}
	if (rc == GW_DB_OK) {
		ev.type = "directory.token.create";
		ev.level = "provider";
		ev.actor = f[0].val;
		ev.details = json_pack("{s:s?,s:s?,s:s?,s:s?,s:s}", "token", lb_json_str(tok, "id"),
				       "user", f[0].val, "login", b->login, "expires_at",
				       lb_json_str(tok, "expires_at"), "via", "bootstrap-admin");
		rc = gw_audit_emit(b->gw, t, &ev, NULL);
	}
	json_decref(tok);
	json_decref(roles);
	json_decref(user);
	return rc;
}

static enum gw_db bootstrap_body(struct gw_txn *t, void *arg)
{
	struct bootstrap *b = arg;
	struct gw_store *s = b->gw->store;
	char uid[GW_ID_LEN], rid[GW_ID_LEN], now[LB_TIME_BUFLEN];
	int64_t n;
	json_t *row;
	enum gw_db rc;

	if ((rc = s->count(s->cls, t, &gw_k_users, &n)) != GW_DB_OK)
		return rc;
	if (n > 0)
		return bootstrap_again(t, b);
	lb_time_format(lb_time_now_ms(), now, sizeof(now));
	gw_new_id("usr_", uid);
	row = json_pack("{s:s,s:s,s:s,s:s,s:s,s:n,s:b,s:s}", "id", uid, "login", b->login, "name",
			b->login, "email", "", "side", "provider", "tenant", "disabled", 0,
			"created_at", now);
	rc = s->insert(s->cls, t, &gw_k_users, row);
	json_decref(row);
	if (rc != GW_DB_OK)
		return rc;
	gw_new_id("rol_", rid);
	row = json_pack("{s:s,s:s,s:s,s:n,s:n,s:s}", "id", rid, "user", uid, "role",
			"provider_admin", "tenant", "subscription", "created_at", now);
	rc = s->insert(s->cls, t, &gw_k_roles, row);
	json_decref(row);
	if (rc != GW_DB_OK)
		return rc;
	rc = gw_token_insert(s, t, uid, 1, now, b->gw->cfg.token_ttl, b->token, b->len, &row);
	json_decref(row);
	return rc;
}

int gw_bootstrap_admin(struct gw *gw, const char *login, char *token, size_t len, char *err,
		       size_t errlen)
{
	struct bootstrap b = {gw, login, token, len, NULL};
	enum gw_db rc;
	if (!gw_login_ok(login)) {
		snprintf(err, errlen, "'%s' is not a valid login (a Unix user name)", login);
		return -1;
	}
	rc = gw->store->run(gw->store->cls, 1, bootstrap_body, &b);
	if (rc != GW_DB_OK) {
		snprintf(err, errlen, "%s", b.err ? b.err : "database error");
		return -1;
	}
	return 0;
}
