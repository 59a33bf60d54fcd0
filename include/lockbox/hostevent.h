/* lockbox: what a gateway accepts from a host as one audit event (POST /v1/audit/events).
 *
 * The host sends {"id", "time", "type", "actor"?, "request"?, "details"?} (lib/auditlog.c).
 * DESIGN.md "Audit events": a host speaks only for its sessions (session.*) and repeats
 * access.check.* decisions the gateway made (same id; the gateway checks that id exists,
 * which needs its store and is not done here). Kept in lib/ so the fuzz target reaches it. */
#ifndef LOCKBOX_HOSTEVENT_H
#define LOCKBOX_HOSTEVENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* A host's event time may be this far ahead of the gateway's clock... */
#define LB_HOSTEV_FUTURE_MS (5LL * 60 * 1000)
/* ...and this far before the host's enrolment (clock skew between host and gateway). */
#define LB_HOSTEV_SKEW_MS (15LL * 60 * 1000)
/* How deep `details` may nest. */
#define LB_HOSTEV_MAX_DEPTH 8

/* Checks the event E (the I-th of its batch) as a host sent it. NOW_MS is the gateway's clock,
 * ENROLLED_MS the host's enrolment time (0: unknown, no lower bound). On success returns 0 and
 * rewrites E's "time" in the canonical form. Otherwise returns -1 with *CODE set to an API
 * error code (bad_type, unknown_field, missing_field, bad_text, bad_value, bad_time: 400;
 * event_time_out_of_range, gateway_only_key: 422) and MSG naming the field. */
int lb_host_event_check(json_t *e, size_t i, int64_t now_ms, int64_t enrolled_ms,
			const char **code, char *msg, size_t msglen);

/* 1 for the types a host may send at all, 2 for access.check.* (accepted only as a copy of
 * an event the gateway already holds under the same id), 0 for the rest. */
int lb_host_event_type(const char *type);

#endif
