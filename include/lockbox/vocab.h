/* lockbox: the domain's words, each spelled once: request states, access-decision reasons
 * (with their human explanation), audit event types and roles. Plain C (no jansson): the
 * PAM module links it too. A unit test walks each table against docs/API.md and the man
 * pages, so a word cannot be added in one place only. */
#ifndef LOCKBOX_VOCAB_H
#define LOCKBOX_VOCAB_H

#include <stddef.h>

/* Request states (DESIGN.md "Request lifecycle"). */
#define LB_RS_INTERNAL_REVIEW "internal_review"
#define LB_RS_CUSTOMER_NOTIFIED "customer_notified"
#define LB_RS_APPROVED "approved"
#define LB_RS_DENIED "denied"
#define LB_RS_EXPIRED "expired"
#define LB_RS_REVOKED "revoked"
#define LB_RS_CANCELED "canceled"
#define LB_RS_COMPLETED "completed"
/* Not a state: the filter that means "either waiting state" (GET /v1/requests?state=). */
#define LB_RS_PENDING_FILTER "pending"

#define LB_STATE_PENDING 0x1u /* waits for a decision (pending_expires_at applies) */
#define LB_STATE_FINAL 0x2u   /* nothing leaves it */
struct lb_request_state {
	const char *name;
	unsigned flags;
};
/* Every state, ended by a NULL name. */
extern const struct lb_request_state lb_request_states[];
/* 1 if NAME is a request state. */
int lb_request_state_known(const char *name);
/* 1 if NAME is a state waiting for a decision (internal_review, customer_notified). */
int lb_request_state_pending(const char *name);

/* Reasons of an access decision (POST /v1/check, the agent, the module). */
#define LB_R_ALLOW "allow"
#define LB_R_NO_REQUEST "no_request"
#define LB_R_PENDING "pending"
#define LB_R_DENIED "denied"
#define LB_R_EXPIRED "expired"
#define LB_R_REVOKED "revoked"
#define LB_R_CANCELED "canceled"
#define LB_R_GRANT_ENDED "grant_ended"
#define LB_R_NO_ELEVATION "no_elevation"
#define LB_R_ELEVATION_AFTER_APPROVAL "elevation_after_approval"
#define LB_R_WRONG_ACCESS_TYPE "wrong_access_type"
#define LB_R_UNKNOWN_SERVICE "unknown_service"
#define LB_R_HOST_UNKNOWN "host_unknown"
#define LB_R_HOST_DISABLED "host_disabled"
#define LB_R_USER_DISABLED "user_disabled"
#define LB_R_NOT_ENGINEER "not_engineer"

#define LB_REASON_GATEWAY 0x1u /* decided by the gateway's access rule (docs/API.md "Check") */
#define LB_REASON_HOST 0x2u    /* decided on the host: nobody with the rule could be asked */
struct lb_reason {
	const char *code;
	unsigned flags;
	/* What happened, said to the person who tried to log in (no request id: the gateway's
	 * message adds that). */
	const char *what;
	/* What they can do about it: one sentence, said once. */
	const char *todo;
};
/* Every reason, ended by a NULL code. */
extern const struct lb_reason lb_reasons[];
/* The entry of CODE, or NULL for a code not in the table. */
const struct lb_reason *lb_reason_find(const char *code);
/* What CODE means and what to do; for an unknown code a generic text (never NULL). */
const char *lb_reason_what(const char *code);
const char *lb_reason_todo(const char *code);

/* Audit event types (DESIGN.md "Audit events"). */
#define LB_EVENT_HOST 0x1u /* a host may send it (POST /v1/audit/events) */
struct lb_event_type {
	const char *name;
	unsigned flags;
};
/* Every event type, ended by a NULL name. */
extern const struct lb_event_type lb_event_types[];
/* 1 if NAME is an event type. */
int lb_event_type_known(const char *name);

/* Roles (DESIGN.md "Actors"). */
struct lb_role {
	const char *name;
	int provider; /* 1: a provider-side role, 0: a customer-side one */
	const char *scope; /* the assignment's scope field: NULL, "tenant" or "subscription" */
};
/* Every role, ended by a NULL name; the order is that of enum gw_role minus one. */
extern const struct lb_role lb_roles[];
/* The entry of NAME, or NULL. */
const struct lb_role *lb_role_find(const char *name);

#endif
