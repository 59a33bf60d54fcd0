/* lockbox-gatewayd: /v1/hosts: enrolment (the host token is shown once), listing, disabling
 * and enabling again. */
#include <string.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

/* Host names are what `hosts` in a request name, e.g. an FQDN: letters, digits, '.', '-', '_'. */
static int host_name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 253 || strcmp(n, "*") == 0)
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '-' || *p == '_'))
			return 0;
	return 1;
}

static enum gw_db host_create_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	const char *sub = lb_json_str(call->body, "subscription");
	const char *name = lb_json_str(call->body, "name");
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN], token[80], hash[65];
	json_t *subo, *row;
	enum gw_db rc;
	struct gw_event ev = {0};

	rc = s->get(s->cls, call->txn, &gw_k_subscriptions, "id", sub, &subo);
	if (rc == GW_DB_NOT_FOUND)
		return gw_call_fail(call, "not_found", "no subscription %s", sub);
	if (rc != GW_DB_OK)
		return rc;
	gw_new_id("hst_", id);
	gw_now_str(call->r, now);
	if (gw_new_token("lbh_", token, sizeof(token), hash) != 0) {
		json_decref(subo);
		return GW_DB_ERROR;
	}
	row = json_pack("{s:s,s:s,s:s,s:O,s:b,s:s,s:s,s:s}", "id", id, "name", name, "subscription",
			sub, "tenant", json_object_get(subo, "tenant"), "disabled", 0, "token_hash",
			hash, "created_at", now, "updated_at", now);
	rc = s->insert(s->cls, call->txn, &gw_k_hosts, row);
	if (rc == GW_DB_OK) {
		ev.type = "host.enroll";
		ev.tenant = lb_json_str(subo, "tenant");
		ev.subscription = sub;
		ev.actor = call->r->who.id;
		ev.host = name;
		ev.details = json_pack("{s:s}", "host_id", id);
		rc = gw_audit_emit(call->r->gw, call->txn, &ev, NULL);
	}
	json_decref(subo);
	json_object_del(row, "token_hash");
	json_object_set_new(row, "token", json_string(token));
	lb_wipe(token, sizeof(token));
	call->out = row;
	if (rc == GW_DB_CONFLICT)
		return gw_call_fail(call, "conflict", "a host named %s is enrolled already", name);
	return rc;
}

enum MHD_Result gw_hosts_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"subscription", GW_F_STR, 1, 64}, {"name", GW_F_STR, 1, 253}, {NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "host"};
	enum MHD_Result ret;

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	if (!host_name_ok(lb_json_str(call.body, "name"))) {
		json_decref(call.body);
		return gw_reply_error(r, "bad_value",
				      "name: use a host name (letters, digits, '.', '-', '_')");
	}
	ret = gw_call_run(&call, 1, host_create_body, 201);
	json_decref(call.body);
	return ret;
}

enum MHD_Result gw_hosts_list(struct gw_req *r)
{
	static const char *const by[] = {"tenant", "subscription", NULL};
	return gw_reply_list_by(r, &gw_k_hosts, by, NULL);
}

/* POST /v1/hosts/{id}/disable and /enable: host.disable / host.enable (DESIGN.md names
 * host.enroll and host.disable; enable is their pair), subscription-level like the enrolment, so
 * the tenant's admins and the subscription's owners read them. */
static enum gw_db host_set_disabled_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	int disable = *(const int *)call->arg;
	char now[LB_TIME_BUFLEN];
	json_t *fields;
	enum gw_db rc;
	struct gw_event ev = {0};

	rc = s->get(s->cls, call->txn, &gw_k_hosts, "id", call->r->args[0], &call->out);
	if (rc != GW_DB_OK)
		return rc;
	if (json_is_true(json_object_get(call->out, "disabled")) == disable)
		return GW_DB_OK; /* already so: harmless, and not audited twice */
	gw_now_str(call->r, now);
	fields = json_pack("{s:b,s:s}", "disabled", disable, "updated_at", now);
	rc = s->update(s->cls, call->txn, &gw_k_hosts, call->r->args[0], fields);
	json_object_update(call->out, fields);
	json_decref(fields);
	if (rc != GW_DB_OK)
		return rc;
	/* disabled: its agent ends its sessions; enabled: its agent fetches the host's grants
	 * again (it held none while the host was disabled) */
	gw_call_changed(call, lb_json_str(call->out, "tenant"));
	ev.type = disable ? "host.disable" : "host.enable";
	ev.tenant = lb_json_str(call->out, "tenant");
	ev.subscription = lb_json_str(call->out, "subscription");
	ev.actor = call->r->who.id;
	ev.host = lb_json_str(call->out, "name");
	ev.details = json_pack("{s:s,s:b}", "host_id", call->r->args[0], "disabled", disable);
	return gw_audit_emit(call->r->gw, call->txn, &ev, NULL);
}

static enum MHD_Result host_set_disabled(struct gw_req *r, int disable)
{
	struct gw_call call = {.r = r, .what = "host", .arg = &disable};
	return gw_call_run(&call, 1, host_set_disabled_body, 200);
}

enum MHD_Result gw_hosts_disable(struct gw_req *r)
{
	return host_set_disabled(r, 1);
}

enum MHD_Result gw_hosts_enable(struct gw_req *r)
{
	return host_set_disabled(r, 0);
}

/* A host learns its own enrolment (id, name, subscription, disabled) with its token. */
enum MHD_Result gw_hosts_self(struct gw_req *r)
{
	return gw_reply_json(r, 200, json_incref(r->who.obj));
}
