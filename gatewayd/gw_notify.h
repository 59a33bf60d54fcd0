/* lockbox-gatewayd: the notification outbox (mail to approvers and engineers, webhooks). */
#ifndef LOCKBOX_GW_NOTIFY_H
#define LOCKBOX_GW_NOTIFY_H

#include <jansson.h>

#include "gw_store.h"

struct gw;

/* Queues the notifications of EVENT ("request.customer_notified", ...) for REQ; call it in
 * the transaction that made the change, so both commit or neither does. */
enum gw_db gw_notify_request(struct gw *gw, struct gw_txn *t, const json_t *req, const char *event);
/* Queues the mail that carries invitation INV's one-time CODE to the invitee (in the
 * transaction that stores the invitation); the code goes nowhere else. */
enum gw_db gw_notify_invitation(struct gw *gw, struct gw_txn *t, const json_t *inv, const char *tenant_name,
				const char *code);
/* A plausible mailbox address (no blanks, brackets or controls, one '@'). */
int gw_notify_address_ok(const char *addr);
/* Wakes the worker after a commit that may have queued something. */
void gw_notify_kick(void);
int gw_notify_start(struct gw *gw);
void gw_notify_stop(void);
unsigned gw_notify_deliver_due(struct gw *gw);

#endif
