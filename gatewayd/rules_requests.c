/* lockbox-gatewayd: the request rules (rules_requests.h): state, coverage, who decides. */
#include <string.h>

#include "gw.h"
#include "rules_requests.h"
#include "lockbox/json.h"
#include "lockbox/util.h"
#include "lockbox/vocab.h"

const char *gw_request_effective_state(const json_t *req, int64_t now_ms)
{
	const char *state = lb_json_str(req, "state");
	char now[LB_TIME_BUFLEN];
	const char *until;

	lb_time_format(now_ms, now, sizeof(now));
	if (lb_request_state_pending(state)) {
		until = lb_json_str(req, "pending_expires_at");
		if (until && strcmp(now, until) >= 0)
			return LB_RS_EXPIRED;
	} else if (lb_str_eq(state, LB_RS_APPROVED)) {
		until = lb_json_str(req, "grant_expires_at");
		if (until && strcmp(now, until) >= 0)
			return LB_RS_COMPLETED;
	}
	return state ? state : "unknown";
}

int gw_request_covers_host(const json_t *req, const json_t *host)
{
	json_t *hosts = json_object_get(req, "hosts"), *h;
	size_t i;
	if (!lb_str_eq(lb_json_str(req, "tenant"), lb_json_str(host, "tenant")))
		return 0;
	if (lb_str_eq(lb_json_str(req, "scope"), "subscription") &&
	    !lb_str_eq(lb_json_str(req, "subscription"), lb_json_str(host, "subscription")))
		return 0;
	json_array_foreach(hosts, i, h) {
		const char *n = json_string_value(h);
		if (lb_str_eq(n, "*") || lb_str_eq(n, lb_json_str(host, "name")))
			return 1;
	}
	return 0;
}

int gw_request_is_pending(const char *state)
{
	return lb_request_state_pending(state);
}

/* Every decision on a request (the request lifecycle of DESIGN.md as a table). */
static const struct gw_transition transitions[] = {
	{"internal_approve", GW_BY_INTERNAL, {LB_RS_INTERNAL_REVIEW, NULL}, LB_RS_CUSTOMER_NOTIFIED, 0, 0},
	{"approve", GW_BY_APPROVER, {LB_RS_CUSTOMER_NOTIFIED, NULL}, LB_RS_APPROVED, 0, 1},
	{"deny", GW_BY_APPROVER_OR_INTERNAL, {LB_RS_CUSTOMER_NOTIFIED, LB_RS_INTERNAL_REVIEW}, LB_RS_DENIED, 1, 1},
	{"revoke", GW_BY_APPROVER_OR_ENGINEER, {LB_RS_APPROVED, NULL}, LB_RS_REVOKED, 1, 1},
	{"cancel", GW_BY_ENGINEER, {LB_RS_INTERNAL_REVIEW, LB_RS_CUSTOMER_NOTIFIED}, LB_RS_CANCELED, 0, 0},
};

const struct gw_transition *gw_request_transition(const char *action)
{
	for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++)
		if (lb_str_eq(transitions[i].action, action))
			return &transitions[i];
	return NULL;
}

int gw_request_may_act(const struct gw_principal *p, const struct gw_transition *t,
		       const json_t *req, const char *state)
{
	int engineer = lb_str_eq(lb_json_str(req, "requester"), p->id);
	int internal = gw_is(p, GW_ROLE_INTERNAL_APPROVER);
	int approver = gw_is_designated_approver(p, req);
	switch (t->who) {
	case GW_BY_INTERNAL: return internal;
	case GW_BY_APPROVER: return approver;
	case GW_BY_APPROVER_OR_INTERNAL:
		return approver || (internal && lb_str_eq(state, LB_RS_INTERNAL_REVIEW));
	case GW_BY_APPROVER_OR_ENGINEER: return approver || engineer;
	case GW_BY_ENGINEER: return engineer;
	}
	return 0;
}

int gw_transition_is_approval(const struct gw_transition *t)
{
	return t->who == GW_BY_APPROVER || t->who == GW_BY_INTERNAL ||
	       t->who == GW_BY_APPROVER_OR_INTERNAL;
}

int gw_transition_from(const struct gw_transition *t, const char *state)
{
	return lb_str_eq(t->from[0], state) || lb_str_eq(t->from[1], state);
}
