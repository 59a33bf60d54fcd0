/* lockbox-gatewayd: who is calling (bearer tokens) and what their roles let them do. */
#include <stdio.h>
#include <string.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"
#include "lockbox/vocab.h"

/* enum gw_role follows lb_roles (lockbox/vocab.h): GW_ROLE_NONE, then the table's order. */
#define NROLES ((size_t)GW_ROLE_CUSTOMER_USER)

enum gw_role gw_role_from_name(const char *name)
{
	for (size_t i = 0; i < NROLES; i++)
		if (lb_str_eq(lb_roles[i].name, name))
			return (enum gw_role)(i + 1);
	return GW_ROLE_NONE;
}

const char *gw_role_name(enum gw_role r)
{
	return r > GW_ROLE_NONE && (size_t)r <= NROLES ? lb_roles[r - 1].name : "none";
}

int gw_role_is_provider(enum gw_role r)
{
	return r > GW_ROLE_NONE && (size_t)r <= NROLES && lb_roles[r - 1].provider;
}

void gw_principal_clear(struct gw_principal *p)
{
	json_decref(p->obj);
	memset(p, 0, sizeof(*p));
}

static void copy_id(char dst[GW_ID_LEN], const char *src)
{
	snprintf(dst, GW_ID_LEN, "%s", src ? src : "");
}

/* A user token works until it is revoked or expires (a token without expires_at, which
 * migration 8 does not leave, never expires). */
static int token_live(const json_t *tok, int64_t now)
{
	const char *exp = lb_json_str(tok, "expires_at");
	int64_t until;
	if (json_is_string(json_object_get(tok, "revoked_at")))
		return 0;
	if (!exp)
		return 1;
	return lb_time_parse(exp, &until) == 0 && now < until;
}

/* last_used_at is written at most once a minute per token: no write per request. A failed
 * write (busy store) only leaves it older; the request goes on. */
#define GW_TOKEN_TOUCH_MS 60000
static void token_touch(struct gw_store *s, const json_t *tok, int64_t now)
{
	const char *last = lb_json_str(tok, "last_used_at");
	int64_t ms;

	if (last && lb_time_parse(last, &ms) == 0 && now - ms < GW_TOKEN_TOUCH_MS && now >= ms)
		return;
	(void)gw_store_touch(s, &gw_k_tokens, lb_json_str(tok, "id"), "last_used_at", now);
}

int gw_authenticate(struct gw *gw, const char *bearer, struct gw_principal *p)
{
	struct gw_store *s = gw->store;
	char hash[65];
	json_t *tok = NULL;
	enum gw_db rc;
	int64_t now;
	int ret;

	memset(p, 0, sizeof(*p));
	if (!bearer || strlen(bearer) != 68 || !lb_str_clean(bearer))
		return -1;
	lb_sha256_hex(bearer, strlen(bearer), hash);
	if (strncmp(bearer, "lbh_", 4) == 0) {
		rc = s->get(s->cls, NULL, &gw_k_hosts, "token_hash", hash, &p->obj);
		if (rc != GW_DB_OK)
			return rc == GW_DB_NOT_FOUND ? -1 : -2;
		p->kind = GW_P_HOST;
		copy_id(p->id, lb_json_str(p->obj, "id"));
		return 0;
	}
	if (strncmp(bearer, "lbu_", 4) != 0)
		return -1;
	rc = s->get(s->cls, NULL, &gw_k_tokens, "hash", hash, &tok);
	if (rc != GW_DB_OK)
		return rc == GW_DB_NOT_FOUND ? -1 : -2;
	now = lb_time_now_ms();
	if (!token_live(tok, now)) {
		json_decref(tok);
		return -1;
	}
	ret = gw_authenticate_user(gw, lb_json_str(tok, "user"), p);
	if (ret == 0) {
		lb_json_bool(tok, "mfa", &p->mfa);
		token_touch(s, tok, now);
	}
	json_decref(tok);
	return ret;
}

int gw_authenticate_user(struct gw *gw, const char *user_id, struct gw_principal *p)
{
	struct gw_store *s = gw->store;
	json_t *items = NULL;
	struct gw_filter f = {"user", GW_EQ, NULL};
	int64_t next;
	enum gw_db rc;
	size_t i;
	json_t *row;

	memset(p, 0, sizeof(*p));
	if (!user_id)
		return -1;
	rc = s->get(s->cls, NULL, &gw_k_users, "id", user_id, &p->obj);
	if (rc != GW_DB_OK)
		return rc == GW_DB_NOT_FOUND ? -1 : -2;
	if (json_is_true(json_object_get(p->obj, "disabled"))) {
		gw_principal_clear(p);
		return -1;
	}
	p->kind = GW_P_USER;
	copy_id(p->id, lb_json_str(p->obj, "id"));
	f.val = p->id;
	rc = s->list(s->cls, NULL, &gw_k_roles, &f, 1, 0, GW_MAX_ROLES, 0, NULL, NULL, &items, &next);
	if (rc != GW_DB_OK) {
		gw_principal_clear(p);
		return -2;
	}
	json_array_foreach(items, i, row) {
		struct gw_assignment *g = &p->roles[p->nroles++];
		g->role = gw_role_from_name(lb_json_str(row, "role"));
		copy_id(g->tenant, lb_json_str(row, "tenant"));
		copy_id(g->subscription, lb_json_str(row, "subscription"));
	}
	json_decref(items);
	return 0;
}

int gw_is(const struct gw_principal *p, enum gw_role role)
{
	for (size_t i = 0; i < p->nroles; i++)
		if (p->roles[i].role == role)
			return 1;
	return 0;
}

int gw_is_in_tenant(const struct gw_principal *p, enum gw_role role, const char *tenant)
{
	for (size_t i = 0; tenant && i < p->nroles; i++)
		if (p->roles[i].role == role && strcmp(p->roles[i].tenant, tenant) == 0)
			return 1;
	return 0;
}

int gw_is_for_subscription(const struct gw_principal *p, enum gw_role role, const char *sub)
{
	for (size_t i = 0; sub && i < p->nroles; i++)
		if (p->roles[i].role == role && strcmp(p->roles[i].subscription, sub) == 0)
			return 1;
	return 0;
}

static int tenant_approver(const struct gw_principal *p, const char *tenant)
{
	return gw_is_in_tenant(p, GW_ROLE_GLOBAL_ADMIN, tenant) ||
	       gw_is_in_tenant(p, GW_ROLE_LOCKBOX_APPROVER, tenant);
}

int gw_holds_any(const struct gw_principal *p, unsigned roles)
{
	for (size_t i = 0; i < p->nroles; i++)
		if (roles & GW_ROLE_BIT(p->roles[i].role))
			return 1;
	return 0;
}

/* DESIGN.md "Request lifecycle": subscription scope -> that subscription's owners, plus the
 * tenant's global admins and lockbox approvers; tenant scope -> global admins and lockbox
 * approvers only. Written once: the authorization check below and the notification
 * recipients (gw_notify.c) both read it, so who may approve and who is asked cannot differ. */
size_t gw_designated_approvers(const json_t *req, struct gw_role_scope out[GW_APPROVER_SCOPES])
{
	const char *tenant = lb_json_str(req, "tenant");
	const char *sub = lb_json_str(req, "subscription");
	size_t n = 0;
	if (tenant) {
		out[n++] = (struct gw_role_scope){GW_ROLE_GLOBAL_ADMIN, "tenant", tenant};
		out[n++] = (struct gw_role_scope){GW_ROLE_LOCKBOX_APPROVER, "tenant", tenant};
	}
	if (sub && lb_str_eq(lb_json_str(req, "scope"), "subscription"))
		out[n++] = (struct gw_role_scope){GW_ROLE_OWNER, "subscription", sub};
	return n;
}

int gw_is_designated_approver(const struct gw_principal *p, const json_t *req)
{
	struct gw_role_scope rs[GW_APPROVER_SCOPES];
	size_t n = gw_designated_approvers(req, rs);
	if (p->kind != GW_P_USER)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int tenant_wide = strcmp(rs[i].column, "tenant") == 0;
		if (tenant_wide ? gw_is_in_tenant(p, rs[i].role, rs[i].id)
				: gw_is_for_subscription(p, rs[i].role, rs[i].id))
			return 1;
	}
	return 0;
}

int gw_may_read_request(const struct gw_principal *p, const json_t *req)
{
	const char *requester = lb_json_str(req, "requester");
	if (p->kind != GW_P_USER)
		return 0;
	if (requester && strcmp(requester, p->id) == 0)
		return 1;
	return gw_is(p, GW_ROLE_INTERNAL_APPROVER) || gw_is_designated_approver(p, req);
}

int gw_may_read_ticket(const struct gw_principal *p, const json_t *ticket)
{
	const char *tenant = lb_json_str(ticket, "tenant");
	if (p->kind != GW_P_USER)
		return 0;
	if (gw_is(p, GW_ROLE_ENGINEER) || gw_is(p, GW_ROLE_INTERNAL_APPROVER))
		return 1;
	return gw_is_in_tenant(p, GW_ROLE_CUSTOMER_USER, tenant) || tenant_approver(p, tenant) ||
	       gw_is_in_tenant(p, GW_ROLE_OWNER, tenant);
}

int gw_may_read_audit(const struct gw_principal *p, const json_t *ev)
{
	const char *tenant = lb_json_str(ev, "tenant");
	const char *level = lb_json_str(ev, "level");
	if (p->kind != GW_P_USER)
		return 0;
	if (gw_is(p, GW_ROLE_PROVIDER_ADMIN))
		return 1;
	if (tenant_approver(p, tenant))
		return 1;
	return level && strcmp(level, "subscription") == 0 &&
	       gw_is_for_subscription(p, GW_ROLE_OWNER, lb_json_str(ev, "subscription"));
}
