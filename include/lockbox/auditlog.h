/* lockbox: the host's local audit log, append-only, with a delivery cursor (store-and-forward).
 *
 * The log (pam_lockbox.conf `audit_log`, default /var/log/lockbox/audit.log) holds one audit
 * event per line as compact JSON, exactly the object sent to the gateway's
 * POST /v1/audit/events: {"id", "time", "type", "actor", "request", "details"}. The file is
 * mode 0600, every append is flock'ed (LOCK_EX) and fsync'ed before lb_auditlog_append returns
 * (lb_auditlog_append_delivered, for events the gateway already holds, skips the fsync),
 * so the PAM module in many sshd processes and `lockboxctl host` may use it at once.
 *
 * Delivery state lives next to it in PATH.cursor: the byte offset up to which every event has
 * been accepted by the gateway, and the inode of the log that offset is in (log rotation,
 * below). lb_auditlog_flush sends what lies past the cursor in batches
 * and advances the cursor after each accepted batch (fsync'ed). The gateway is idempotent by
 * event id, so a crash between its answer and the cursor update only causes duplicates the
 * gateway ignores: nothing is lost, nothing is counted twice. Only one process delivers at a
 * time (flock on the cursor file); another one waits for it at most 1 s (and within its own
 * budget), then gives up with LB_AUDITLOG_ERR_BUSY: the deliverer re-reads the log after each
 * batch and usually takes the waiting process's events along.
 *
 * Every fd is opened O_CLOEXEC|O_NOFOLLOW and closed before the call returns. */
#ifndef LOCKBOX_AUDITLOG_H
#define LOCKBOX_AUDITLOG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lockbox/auditappend.h"
#include "lockbox/gwlist.h"
#include "lockbox/http.h"

/* Events per POST (the gateway accepts 1..500) and the largest body sent (it accepts 64 KiB). */
#define LB_AUDITLOG_BATCH 100
#define LB_AUDITLOG_MAX_BODY (48 * 1024)

/* The audit chain's hash of EV after PREV_HASH (SHA-256 over the canonical JSON, compact with
 * sorted keys, of the chained fields and prev_hash), as the gateway stores it and anyone who
 * verifies the chain recomputes it (lib/hash.c). */
void lb_audit_chain_hash(const json_t *ev, const char *prev_hash, char out[65]);

/* Builds a new event object {"id", "time", "type", "actor", "request", "details"}.
 * ID: a UUID to use (e.g. the gateway's decision_id) or NULL for a fresh random one.
 * TIME_MS: 0 = now. ACTOR and REQUEST may be NULL (JSON null). DETAILS is stolen (may be NULL
 * for {}). Returns NULL on a bad id or out of memory. */
json_t *lb_audit_event_new(const char *type, const char *id, int64_t time_ms, const char *actor,
			   const char *request, json_t *details);

/* Appends EVENT (must have string "id" (a UUID), "time" and "type") to the log at PATH,
 * creating the file (0600) and, if missing, its directory (0700). Durable on return. */
enum lb_auditlog_result lb_auditlog_append(const char *path, const json_t *event, char *err,
					   size_t errlen);

/* Like lb_auditlog_append for an event the gateway already holds (an access.check event
 * whose id is the gateway's decision_id): when nothing else is pending, the delivery cursor
 * steps over it, so no request re-sends it. Otherwise it waits like any event (re-sending it
 * is harmless: the gateway keeps events by id). Not fsync'ed: the gateway holds the event
 * durably, and a cursor that outlives the line in a crash is set back to 0 by the next
 * append (everything is re-sent; nothing later counts as delivered). */
enum lb_auditlog_result lb_auditlog_append_delivered(const char *path, const json_t *event,
						     char *err, size_t errlen);


struct lb_auditlog_flush_stats {
	size_t sent;       /* events POSTed (including re-sends) */
	size_t accepted;   /* the gateway's "accepted" total */
	size_t duplicates; /* the gateway's "duplicates" total */
	size_t rejected;   /* single events the gateway refused with 400/422: skipped, logged */
	size_t skipped;    /* local lines that are not valid events (e.g. a torn write): skipped */
	size_t pending;    /* events still past the cursor when flush returned */
	long http_status;  /* the gateway's last refusal (a non-2xx status), 0 when it answered
			    * every request or could not be reached */
	int rotated_lost;  /* the log was rotated and the rotated file (PATH.1, same inode) was
			    * gone before what was pending in it was delivered (ERR says so) */
};

/* Log rotation: the cursor names the inode of the log it is an offset in. When the log at
 * PATH is another file than that (logrotate renamed it to PATH.1 and made a new one), flush
 * first delivers the rest of PATH.1 (found by that inode), then the new log from its start:
 * nothing pending is lost, nothing is sent twice. logrotate must keep PATH.1 uncompressed
 * (delaycompress) and use rename, not copytruncate (contrib/logrotate/lockbox).
 *
 * Delivers every event past the cursor to POST /v1/audit/events on the gateways GW
 * (lb_gw_request: a batch that gets no answer from one goes to the next; re-sending one that
 * the first took is harmless, the gateway keeps events by id) with HTTP options O (token,
 * CA, body cap, O->timeout_ms: the deadline of one batch over all the gateways, 0: none but
 * the budget); BUDGET_MS bounds the whole call, lock waits and HTTP included (each batch
 * gets at most the time that remains). STATS may be NULL. A missing log is OK with nothing
 * to do. */
enum lb_auditlog_result lb_auditlog_flush(const char *path, struct lb_gwlist *gw,
					  const struct lb_http_opts *o, int64_t budget_ms,
					  struct lb_auditlog_flush_stats *stats, char *err,
					  size_t errlen);

/* Calls CB for each event in the log, oldest first, with DELIVERED = 1 when the event lies
 * before the delivery cursor. Malformed lines are skipped. CB returns 0 to go on, non-zero to
 * stop (that value is then returned as LB_AUDITLOG_OK). A missing log is OK with no calls. */
typedef int (*lb_auditlog_cb)(const json_t *event, int delivered, void *arg);
enum lb_auditlog_result lb_auditlog_foreach(const char *path, lb_auditlog_cb cb, void *arg,
					    char *err, size_t errlen);

/* Counts events past the cursor into *PENDING. */
enum lb_auditlog_result lb_auditlog_pending(const char *path, size_t *pending, char *err,
					    size_t errlen);

#endif
