/* lockbox-gatewayd: invitations (POST/GET /v1/tenants/{id}/invitations, POST
 * /v1/invitations/redeem): how a tenant gets its global admins without the provider ever
 * holding a customer credential. The one-time code goes to the invitee by mail and nowhere
 * else (no answer, no log, no event); the store keeps only its hash. */
#include <string.h>

#include "gw.h"
#include "gw_notify.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define GW_INVITE_PREFIX "lbi_" /* + 64 hex: 256 random bits */
#define GW_CODE_MAX 128
#define GW_ADMIN_SCAN_PAGES 50 /* global admins of one tenant examined: 50 x GW_LIST_MAX */

/* 1 in *HAS if TENANT has a global admin whose user is enabled. */
static enum gw_db tenant_has_global_admin(struct gw_store *s, struct gw_txn *t, const char *tenant, int *has)
{
	struct gw_filter f[2] = {{"role", GW_EQ, "global_admin"}, {"tenant", GW_EQ, tenant}};
	int64_t cursor = 0, next;
	int pages = 0;

	*has = 0;
	do {
		json_t *items, *row;
		size_t i;
		enum gw_db rc = s->list(s->cls, t, &gw_k_roles, f, 2, cursor, GW_LIST_MAX, 0, NULL,
					NULL, &items, &next);
		if (rc != GW_DB_OK)
			return rc;
		json_array_foreach(items, i, row) {
			json_t *u = NULL;
			rc = s->get(s->cls, t, &gw_k_users, "id", lb_json_str(row, "user"), &u);
			if (rc == GW_DB_OK && !json_is_true(json_object_get(u, "disabled")))
				*has = 1;
			json_decref(u);
			if (rc != GW_DB_OK && rc != GW_DB_NOT_FOUND) {
				json_decref(items);
				return rc;
			}
			if (*has)
				break;
		}
		json_decref(items);
		cursor = next;
	} while (!*has && next && ++pages < GW_ADMIN_SCAN_PAGES);
	return GW_DB_OK;
}

/* Who may invite to TENANT (DESIGN.md "Identities"): its global admins; a provider admin only
 * while it has no enabled global admin, which is how a tenant gets its first one. A global
 * admin of another tenant does not learn that the tenant exists (404). */
static enum gw_db may_invite(struct gw_call *call, const char *tenant)
{
	const struct gw_principal *p = &call->r->who;
	int has;
	enum gw_db rc;

	if (gw_is_in_tenant(p, GW_ROLE_GLOBAL_ADMIN, tenant))
		return GW_DB_OK;
	if (!gw_is(p, GW_ROLE_PROVIDER_ADMIN))
		return gw_call_fail(call, "not_found", "no tenant %s", tenant);
	if ((rc = tenant_has_global_admin(call->r->gw->store, call->txn, tenant, &has)) != GW_DB_OK)
		return rc;
	if (has)
		return gw_call_fail(call, "forbidden", "tenant %s has a global admin: from now on only "
				  "its global admins invite", tenant);
	return GW_DB_OK;
}

/* An invitation is only as good as its inviter's right to invite at redemption: one a
 * provider admin made before the customer's first admin came stops working once that admin
 * exists, and one made by a global admin who was since disabled or lost the role is void. */
static enum gw_db inviter_still_may(struct gw_store *s, struct gw_txn *t, const json_t *inv, int *ok)
{
	const char *tenant = lb_json_str(inv, "tenant");
	struct gw_filter f = {"user", GW_EQ, lb_json_str(inv, "created_by")};
	json_t *u = NULL, *roles = NULL, *row;
	int64_t next;
	int padmin = 0, gadmin = 0, has;
	size_t i;
	enum gw_db rc;

	*ok = 0;
	rc = s->get(s->cls, t, &gw_k_users, "id", f.val, &u);
	if (rc == GW_DB_NOT_FOUND)
		return GW_DB_OK;
	if (rc != GW_DB_OK)
		return rc;
	if (json_is_true(json_object_get(u, "disabled"))) {
		json_decref(u);
		return GW_DB_OK;
	}
	json_decref(u);
	rc = s->list(s->cls, t, &gw_k_roles, &f, 1, 0, GW_MAX_ROLES, 0, NULL, NULL, &roles, &next);
	if (rc != GW_DB_OK)
		return rc;
	json_array_foreach(roles, i, row) {
		const char *role = lb_json_str(row, "role");
		if (role && strcmp(role, "provider_admin") == 0)
			padmin = 1;
		else if (role && strcmp(role, "global_admin") == 0 &&
			 strcmp(lb_json_str(row, "tenant") ? lb_json_str(row, "tenant") : "", tenant) == 0)
			gadmin = 1;
	}
	json_decref(roles);
	if (gadmin) {
		*ok = 1;
	} else if (padmin) {
		if ((rc = tenant_has_global_admin(s, t, tenant, &has)) != GW_DB_OK)
			return rc;
		*ok = !has;
	}
	return GW_DB_OK;
}

static enum gw_db invitation_create_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *tenant = call->r->args[0], *login = lb_json_str(call->body, "login");
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN], until[LB_TIME_BUFLEN], code[80], hash[65];
	json_t *t = NULL, *u = NULL, *row;
	enum gw_db rc;

	if ((rc = gw_call_get(call, &gw_k_tenants, tenant, &t)) != GW_DB_OK)
		return rc;
	if ((rc = may_invite(call, tenant)) != GW_DB_OK)
		goto out;
	/* the login is the invitee's Unix login on hosts: taken now, it could never be redeemed */
	rc = s->get(s->cls, call->txn, &gw_k_users, "login", login, &u);
	json_decref(u);
	if (rc == GW_DB_OK) {
		rc = gw_call_fail(call, "conflict", "a user with login %s exists already", login);
		goto out;
	}
	if (rc != GW_DB_NOT_FOUND)
		goto out;
	gw_new_id("inv_", id);
	gw_now_str(call->r, now);
	lb_time_format(call->r->now + call->r->gw->cfg.invitation_ttl * 1000, until, sizeof(until));
	if (gw_new_token(GW_INVITE_PREFIX, code, sizeof(code), hash) != 0) {
		rc = GW_DB_ERROR;
		goto out;
	}
	row = json_pack("{s:s,s:s,s:s,s:O,s:O,s:s,s:s,s:s,s:s,s:n,s:n}", "id", id, "tenant", tenant,
			"login", login, "name", json_object_get(call->body, "name"), "email",
			json_object_get(call->body, "email"), "code_hash", hash, "created_by",
			call->r->who.id, "created_at", now, "expires_at", until, "redeemed_at", "user");
	rc = row ? s->insert(s->cls, call->txn, &gw_k_invitations, row) : GW_DB_ERROR;
	if (rc == GW_DB_OK)
		rc = gw_notify_invitation(call->r->gw, call->txn, row, lb_json_str(t, "name"), code);
	lb_wipe(code, sizeof(code));
	json_object_del(row, "code_hash");
	call->out = row;
	if (rc == GW_DB_OK)
		rc = gw_directory_event(call, "directory.invitation.create", tenant,
					json_pack("{s:s,s:s,s:O,s:O,s:s}", "invitation", id,
						  "login", login, "name",
						  json_object_get(row, "name"), "email",
						  json_object_get(row, "email"), "expires_at", until));
out:
	json_decref(t);
	return rc;
}

enum MHD_Result gw_invitations_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {{"login", GW_F_STR, 1, 32},
					       {"name", GW_F_STR, 1, 128},
					       {"email", GW_F_STR, 1, 254},
					       {NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "tenant"};
	enum MHD_Result ret;
	const char *err = NULL;

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	if (!gw_login_ok(lb_json_str(call.body, "login")))
		err = "login: must be a Unix user name (lowercase letters, digits, '_', '-', '.')";
	else if (!gw_notify_address_ok(lb_json_str(call.body, "email")))
		err = "email: must be a mail address (the code is mailed to it)";
	if (err) {
		json_decref(call.body);
		return gw_reply_error(r, "bad_value", "%s", err);
	}
	if (!r->gw->cfg.smtp_url) {
		json_decref(call.body);
		return gw_reply_error(r, "mail_not_configured", "invitations are mailed, and this "
				      "gateway has no smtp_url (gatewayd.conf(5))");
	}
	ret = gw_call_run(&call, 1, invitation_create_body, 201);
	json_decref(call.body);
	gw_notify_kick(); /* the mail leaves now, not at the worker's next round */
	return ret;
}

/* GET /v1/tenants/{id}/invitations: the tenant's global admins and provider admins (who
 * follow the bootstrap); never a code, nor its hash. */
enum MHD_Result gw_invitations_list(struct gw_req *r)
{
	struct gw_filter f = {"tenant", GW_EQ, r->args[0]};
	json_t *t;
	enum gw_db rc;

	/* another tenant's global admin does not learn that this tenant exists */
	if (!gw_is(&r->who, GW_ROLE_PROVIDER_ADMIN) &&
	    !gw_is_in_tenant(&r->who, GW_ROLE_GLOBAL_ADMIN, r->args[0]))
		return gw_reply_error(r, "not_found", "no tenant %s", r->args[0]);
	rc = r->gw->store->get(r->gw->store->cls, NULL, &gw_k_tenants, "id", r->args[0], &t);
	json_decref(t);
	if (rc != GW_DB_OK)
		return gw_reply_db(r, rc, "tenant");
	return gw_reply_list(r, &gw_k_invitations, &f, 1, NULL);
}

/* One answer for every code that does not work, so a guess learns nothing. */
#define GW_INVALID_MSG "the invitation code is unknown, used or expired; ask for a new invitation"

static enum gw_db invitation_redeem_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *code = lb_json_str(call->body, "code");
	char hash[65], now[LB_TIME_BUFLEN], uid[GW_ID_LEN], rid[GW_ID_LEN], token[80];
	json_t *inv = NULL, *user = NULL, *role = NULL, *tok = NULL, *fields;
	int64_t until;
	int ok;
	enum gw_db rc;

	lb_sha256_hex(code, strlen(code), hash);
	rc = s->get(s->cls, call->txn, &gw_k_invitations, "code_hash", hash, &inv);
	if (rc == GW_DB_NOT_FOUND)
		return gw_call_fail(call, "invitation_invalid", GW_INVALID_MSG);
	if (rc != GW_DB_OK)
		return rc;
	if (json_is_string(json_object_get(inv, "redeemed_at")) ||
	    lb_time_parse(lb_json_str(inv, "expires_at"), &until) != 0 || call->r->now >= until) {
		rc = gw_call_fail(call, "invitation_invalid", GW_INVALID_MSG);
		goto out;
	}
	if ((rc = inviter_still_may(s, call->txn, inv, &ok)) != GW_DB_OK)
		goto out;
	if (!ok) {
		rc = gw_call_fail(call, "invitation_invalid", GW_INVALID_MSG);
		goto out;
	}
	gw_now_str(call->r, now);
	gw_new_id("usr_", uid);
	user = json_pack("{s:s,s:O,s:O,s:O,s:s,s:O,s:b,s:s}", "id", uid, "login",
			 json_object_get(inv, "login"), "name", json_object_get(inv, "name"),
			 "email", json_object_get(inv, "email"), "side", "customer", "tenant",
			 json_object_get(inv, "tenant"), "disabled", 0, "created_at", now);
	rc = user ? s->insert(s->cls, call->txn, &gw_k_users, user) : GW_DB_ERROR;
	if (rc == GW_DB_CONFLICT) {
		rc = gw_call_fail(call, "conflict", "the login %s was taken since the invitation was "
				"made; ask for a new invitation", lb_json_str(inv, "login"));
		goto out;
	}
	if (rc != GW_DB_OK)
		goto out;
	gw_new_id("rol_", rid);
	role = json_pack("{s:s,s:s,s:s,s:O,s:n,s:s}", "id", rid, "user", uid, "role",
			 "global_admin", "tenant", json_object_get(inv, "tenant"), "subscription",
			 "created_at", now);
	rc = role ? s->insert(s->cls, call->txn, &gw_k_roles, role) : GW_DB_ERROR;
	if (rc == GW_DB_OK)
		rc = gw_token_insert(s, call->txn, uid, 0, now, call->r->gw->cfg.token_ttl, token, sizeof(token),
				     &tok);
	lb_wipe(token, sizeof(token));
	if (rc != GW_DB_OK)
		goto out;
	fields = json_pack("{s:s,s:s}", "redeemed_at", now, "user", uid);
	rc = s->update(s->cls, call->txn, &gw_k_invitations, lb_json_str(inv, "id"), fields);
	json_decref(fields);
	if (rc == GW_DB_OK) {
		/* one change, one event: the user, their role and their first token came with it;
		 * the invitee is the actor (they hold the code, nobody else does) */
		struct gw_event ev = {0};
		ev.type = "directory.invitation.redeem";
		ev.tenant = lb_json_str(inv, "tenant");
		ev.level = "tenant";
		ev.actor = uid;
		ev.details = json_pack("{s:O,s:s,s:O,s:O,s:O,s:s,s:s,s:O,s:O,s:O}", "invitation",
				       json_object_get(inv, "id"), "user", uid, "login",
				       json_object_get(inv, "login"), "name",
				       json_object_get(inv, "name"), "email",
				       json_object_get(inv, "email"), "role", "global_admin",
				       "role_assignment", rid, "token", json_object_get(tok, "id"),
				       "token_expires_at", json_object_get(tok, "expires_at"),
				       "invited_by", json_object_get(inv, "created_by"));
		rc = gw_audit_emit(call->r->gw, call->txn, &ev, NULL);
	}
	if (rc == GW_DB_OK)
		call->out = json_pack("{s:O,s:O,s:O}", "user", user, "token",
				    json_object_get(tok, "token"), "invitation",
				    json_object_get(inv, "id"));
out:
	if (tok)
		json_object_del(tok, "token");
	json_decref(tok);
	json_decref(role);
	json_decref(user);
	json_decref(inv);
	return rc;
}

/* No bearer token: the code is the credential. It is 256 random bits looked up by its
 * SHA-256, so guessing is hopeless and a miss costs one indexed read. */
enum MHD_Result gw_invitations_redeem(struct gw_req *r)
{
	static const struct gw_field spec[] = {{"code", GW_F_STR, 1, GW_CODE_MAX},
					       {NULL, 0, 0, 0}};
	return gw_call_parsed(r, spec, "invitation", invitation_redeem_body, 201);
}
