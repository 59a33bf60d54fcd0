/* lockbox-gatewayd: the request rules with no HTTP in them: the state a request is in, which
 * hosts it covers, and who may move it from which state to which (DESIGN.md "Request
 * lifecycle"). The handlers (gw_requests.c), the access check (gw_check.c), the audit intake
 * (gw_audit.c) and the notifications (gw_notify.c) read them; they call nothing above them. */
#ifndef LOCKBOX_RULES_REQUESTS_H
#define LOCKBOX_RULES_REQUESTS_H

#include <jansson.h>
#include <stdint.h>

struct gw_principal;

/* The state at NOW: a pending request past pending_expires_at is "expired" and an approved
 * one past grant_expires_at is "completed" even before the sweeper has written that. */
const char *gw_request_effective_state(const json_t *req, int64_t now_ms);
int gw_request_is_pending(const char *state);
/* Does REQ name HOST (by name, or "*"), in HOST's tenant and within REQ's scope? */
int gw_request_covers_host(const json_t *req, const json_t *host);

/* Who may take a decision on a request. */
enum gw_actor_rule {
	GW_BY_INTERNAL,             /* an internal approver */
	GW_BY_APPROVER,             /* a designated approver (gw_is_designated_approver) */
	GW_BY_APPROVER_OR_INTERNAL, /* either; the internal approver only in internal_review */
	GW_BY_APPROVER_OR_ENGINEER, /* a designated approver or the request's engineer */
	GW_BY_ENGINEER,             /* the request's engineer */
};

/* One decision on a request: who may, from which states, to which state. */
struct gw_transition {
	const char *action; /* internal_approve, approve, deny, revoke, cancel */
	enum gw_actor_rule who;
	const char *from[2];
	const char *to;
	int reason_required;
	int approve_mfa; /* needs a TOTP code when the gateway sets approve_mfa */
};

/* The transition named ACTION, or NULL. */
const struct gw_transition *gw_request_transition(const char *action);
/* Whether P may take T on REQ, which is in STATE (its effective state). */
int gw_request_may_act(const struct gw_principal *p, const struct gw_transition *t,
		       const json_t *req, const char *state);
/* Whether T is a decision someone other than the requester must take (nobody decides on
 * their own request). */
int gw_transition_is_approval(const struct gw_transition *t);
/* Whether T leaves STATE. */
int gw_transition_from(const struct gw_transition *t, const char *state);

#endif
