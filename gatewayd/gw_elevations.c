/* lockbox-gatewayd: /v1/elevations: an engineer's time-bound activation (PIM-style). */
#include <stdio.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

static enum gw_db elevation_create_body(struct gw_call *call)
{
	struct gw_store *s = call->r->gw->store;
	struct gw_req *r = call->r;
	int64_t secs = 0;
	char id[GW_ID_LEN], now[LB_TIME_BUFLEN], until[LB_TIME_BUFLEN], dur[32];
	struct gw_event ev = {0};
	int mfa = 0;
	enum gw_db rc;

	/* the second factor is a TOTP code given now: the token's own mfa flag, set by whoever
	 * issued it, proves nothing about who holds it */
	rc = gw_totp_verify(call, lb_json_str(call->body, "totp"), r->gw->cfg.require_mfa, &mfa);
	if (rc != GW_DB_OK || call->err_code)
		return rc;
	lb_duration_parse(lb_json_str(call->body, "duration"), &secs);
	lb_duration_format(secs, dur, sizeof(dur));
	gw_new_id("elv_", id);
	gw_now_str(r, now);
	lb_time_format(r->now + secs * 1000, until, sizeof(until));
	call->out = json_pack("{s:s,s:s,s:O,s:s,s:O,s:s,s:s,s:b}", "id", id, "user", r->who.id,
			    "login", json_object_get(r->who.obj, "login"), "duration", dur,
			    "justification", json_object_get(call->body, "justification"),
			    "activated_at", now, "expires_at", until, "mfa", mfa);
	if ((rc = s->insert(s->cls, call->txn, &gw_k_elevations, call->out)) != GW_DB_OK)
		return rc;
	ev.type = "pim.elevation.activate";
	ev.level = "tenant";
	ev.actor = r->who.id;
	ev.details = json_pack("{s:s,s:s,s:s,s:O,s:b}", "elevation", id, "expires_at", until,
			       "duration", dur, "justification",
			       json_object_get(call->body, "justification"), "mfa", mfa);
	return gw_audit_emit(r->gw, call->txn, &ev, NULL);
}

enum MHD_Result gw_elevations_create(struct gw_req *r)
{
	static const struct gw_field spec[] = {
		{"duration", GW_F_STR, 1, 32}, {"justification", GW_F_STR, 1, 1000},
		{"totp", GW_F_STR, 0, 16}, {NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "elevation"};
	enum MHD_Result ret;
	int64_t secs;

	if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	if (gw_want_duration(r, "duration", lb_json_str(call.body, "duration"), &secs) != 0)
		ret = MHD_YES;
	else if (secs > r->gw->cfg.max_elevation)
		ret = gw_reply_error(r, "duration_too_long", "duration: at most %llds (max_elevation)",
				     (long long)r->gw->cfg.max_elevation);
	else
		ret = gw_call_run(&call, 1, elevation_create_body, 201);
	json_decref(call.body);
	return ret;
}

enum gw_db gw_elevation_mfa_running(struct gw_call *call, int *yes)
{
	struct gw_store *s = call->r->gw->store;
	char now[LB_TIME_BUFLEN];
	struct gw_filter f[3] = {{"user", GW_EQ, call->r->who.id}, {"mfa", GW_EQ, "1"},
				 {"expires_at", GW_GT, now}};
	json_t *items = NULL;
	int64_t next;
	enum gw_db rc;

	gw_now_str(call->r, now);
	/* newest first: a running elevation is among the user's last ones */
	rc = s->list(s->cls, call->txn, &gw_k_elevations, f, 3, 0, 1, 1, NULL, NULL, &items, &next);
	*yes = rc == GW_DB_OK && json_array_size(items) > 0;
	json_decref(items);
	return rc;
}

enum MHD_Result gw_elevations_list(struct gw_req *r)
{
	struct gw_filter f[1] = {{"user", GW_EQ, r->who.id}};
	return gw_reply_list(r, &gw_k_elevations, f, 1, NULL);
}
