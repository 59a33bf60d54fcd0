/* lockbox: the domain's vocabulary tables (include/lockbox/vocab.h). */
#include <string.h>

#include "lockbox/util.h"
#include "lockbox/vocab.h"

const struct lb_request_state lb_request_states[] = {
	{LB_RS_INTERNAL_REVIEW, LB_STATE_PENDING},
	{LB_RS_CUSTOMER_NOTIFIED, LB_STATE_PENDING},
	{LB_RS_APPROVED, 0},
	{LB_RS_DENIED, LB_STATE_FINAL},
	{LB_RS_EXPIRED, LB_STATE_FINAL},
	{LB_RS_REVOKED, LB_STATE_FINAL},
	{LB_RS_CANCELED, LB_STATE_FINAL},
	{LB_RS_COMPLETED, LB_STATE_FINAL},
	{NULL, 0},
};

static const struct lb_request_state *state_find(const char *name)
{
	for (const struct lb_request_state *s = lb_request_states; s->name; s++)
		if (lb_str_eq(s->name, name))
			return s;
	return NULL;
}

int lb_request_state_known(const char *name)
{
	return state_find(name) != NULL;
}

int lb_request_state_pending(const char *name)
{
	const struct lb_request_state *s = state_find(name);
	return s && (s->flags & LB_STATE_PENDING);
}

/* The advice after a deny is said here once; the gateway's message says only what happened
 * (with the request's id and details) and the module adds the advice. */
#define TODO_NEW_REQUEST "Open a new lockbox access request if you still need access."
#define TODO_ELEVATE                                                                     \
	"Activate an elevation first (lockboxctl elevate), then open a new request: the " \
	"elevation must be active before the approval."
#define TODO_HOST_ADMIN "Tell the host's administrators."
#define TODO_RETRY                                                                 \
	"Access is denied while it cannot be asked (fail closed): try again later or " \
	"tell the host's administrators."

const struct lb_reason lb_reasons[] = {
	{LB_R_ALLOW, LB_REASON_GATEWAY, "access granted", ""},
	{LB_R_NO_REQUEST, LB_REASON_GATEWAY, "no approved access request covers this login",
	 "Open a lockbox access request for this host (lockboxctl request create) and wait for "
	 "the customer's approval."},
	{LB_R_PENDING, LB_REASON_GATEWAY, "the access request waits for approval",
	 "Wait until the request is approved, then log in again."},
	{LB_R_DENIED, LB_REASON_GATEWAY, "the access request was denied", TODO_NEW_REQUEST},
	{LB_R_EXPIRED, LB_REASON_GATEWAY, "the access request expired: nobody decided in time",
	 TODO_NEW_REQUEST},
	{LB_R_REVOKED, LB_REASON_GATEWAY, "the access request was revoked", TODO_NEW_REQUEST},
	{LB_R_CANCELED, LB_REASON_GATEWAY, "the access request was canceled", TODO_NEW_REQUEST},
	{LB_R_GRANT_ENDED, LB_REASON_GATEWAY, "the access request's grant has ended",
	 TODO_NEW_REQUEST},
	{LB_R_NO_ELEVATION, LB_REASON_GATEWAY,
	 "the access request is approved, but you hold no running elevation activated before "
	 "its approval",
	 TODO_ELEVATE},
	{LB_R_ELEVATION_AFTER_APPROVAL, LB_REASON_GATEWAY,
	 "your elevation was activated after the access request was approved", TODO_ELEVATE},
	{LB_R_WRONG_ACCESS_TYPE, LB_REASON_GATEWAY,
	 "the access request grants another access type (ssh or rdp)",
	 "Open a request for the access type of this login."},
	{LB_R_UNKNOWN_SERVICE, LB_REASON_GATEWAY,
	 "this login service is not mapped to ssh or rdp on the gateway", TODO_HOST_ADMIN},
	{LB_R_HOST_UNKNOWN, LB_REASON_GATEWAY | LB_REASON_HOST,
	 "the gateway does not know this host's token", TODO_HOST_ADMIN},
	{LB_R_HOST_DISABLED, LB_REASON_GATEWAY, "this host is disabled on the gateway",
	 TODO_HOST_ADMIN},
	{LB_R_USER_DISABLED, LB_REASON_GATEWAY, "your lockbox user is disabled",
	 "Ask your lockbox administrator."},
	{LB_R_NOT_ENGINEER, LB_REASON_GATEWAY, "you no longer hold the engineer role",
	 "Ask a provider admin."},
	{"agent_unavailable", LB_REASON_HOST, "lockbox-agent on this host could not be asked",
	 TODO_RETRY},
	{"session_table_unavailable", LB_REASON_HOST,
	 "lockbox-agent on this host cannot watch one more session", TODO_HOST_ADMIN},
	{"audit_log_unwritable", LB_REASON_HOST,
	 "the local audit log on this host cannot be written, so the login would go unrecorded",
	 TODO_HOST_ADMIN},
	{"config_error", LB_REASON_HOST, "pam_lockbox is not configured correctly on this host",
	 TODO_HOST_ADMIN},
	{"internal_error", LB_REASON_HOST, "an internal error on this host", TODO_RETRY},
	{"gateway_unreachable", LB_REASON_HOST, "the lockbox gateway could not be reached",
	 TODO_RETRY},
	{"gateway_timeout", LB_REASON_HOST, "the lockbox gateway did not answer in time",
	 TODO_RETRY},
	{"gateway_tls_error", LB_REASON_HOST, "the lockbox gateway's certificate did not verify",
	 TODO_RETRY},
	{"gateway_http_error", LB_REASON_HOST, "the lockbox gateway answered with an error",
	 TODO_RETRY},
	{"gateway_bad_answer", LB_REASON_HOST, "the lockbox gateway's answer was not usable",
	 TODO_RETRY},
	{NULL, 0, NULL, NULL},
};

const struct lb_reason *lb_reason_find(const char *code)
{
	for (const struct lb_reason *r = lb_reasons; r->code; r++)
		if (lb_str_eq(r->code, code))
			return r;
	return NULL;
}

const char *lb_reason_what(const char *code)
{
	const struct lb_reason *r = lb_reason_find(code);
	return r ? r->what : "access denied";
}

const char *lb_reason_todo(const char *code)
{
	const struct lb_reason *r = lb_reason_find(code);
	return r ? r->todo : "Ask your lockbox administrator.";
}

const struct lb_event_type lb_event_types[] = {
	{"lockbox.request.create", 0},
	{"lockbox.request.internal_approve", 0},
	{"lockbox.request.approve", 0},
	{"lockbox.request.deny", 0},
	{"lockbox.request.expire", 0},
	{"lockbox.request.revoke", 0},
	{"lockbox.request.cancel", 0},
	{"lockbox.request.complete", 0},
	{"lockbox.request.break_glass", 0},
	{"lockbox.request.review", 0},
	{"lockbox.request.extend", 0},
	{"pim.elevation.activate", 0},
	{"pim.elevation.expire", 0},
	{"access.check.allow", LB_EVENT_HOST},
	{"access.check.deny", LB_EVENT_HOST},
	{"session.start", LB_EVENT_HOST},
	{"session.end", LB_EVENT_HOST},
	{"session.warn", LB_EVENT_HOST},
	{"session.terminate", LB_EVENT_HOST},
	{"session.lost", LB_EVENT_HOST},
	{"tenant.lockbox.enable", 0},
	{"tenant.lockbox.disable", 0},
	{"tenant.policy.update", 0},
	{"host.enroll", 0},
	{"host.disable", 0},
	{"host.enable", 0},
	{"directory.tenant.create", 0},
	{"directory.subscription.create", 0},
	{"directory.invitation.create", 0},
	{"directory.invitation.redeem", 0},
	{"directory.user.create", 0},
	{"directory.user.disable", 0},
	{"directory.user.enable", 0},
	{"directory.role.assign", 0},
	{"directory.role.unassign", 0},
	{"directory.token.create", 0},
	{"directory.token.revoke", 0},
	{"directory.totp.enroll", 0},
	{"directory.session.create", 0},
	{"directory.session.revoke", 0},
	{NULL, 0},
};

int lb_event_type_known(const char *name)
{
	for (const struct lb_event_type *e = lb_event_types; e->name; e++)
		if (lb_str_eq(e->name, name))
			return 1;
	return 0;
}

const struct lb_role lb_roles[] = {
	{"provider_admin", 1, NULL},
	{"engineer", 1, NULL},
	{"internal_approver", 1, NULL},
	{"global_admin", 0, "tenant"},
	{"lockbox_approver", 0, "tenant"},
	{"owner", 0, "subscription"},
	{"customer_user", 0, "tenant"},
	{NULL, 0, NULL},
};

const struct lb_role *lb_role_find(const char *name)
{
	for (const struct lb_role *r = lb_roles; r->name; r++)
		if (lb_str_eq(r->name, name))
			return r;
	return NULL;
}
