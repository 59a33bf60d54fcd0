/* lockbox-gatewayd: the total deadline for receiving a request (gw_deadline.c). */
#ifndef LOCKBOX_GW_DEADLINE_H
#define LOCKBOX_GW_DEADLINE_H

#include <microhttpd.h>
#include <stdint.h>

/* Starts the timer that closes connections whose request is not received within
 * TIMEOUT_S seconds; 0 or -1. */
int gw_deadline_start(int64_t timeout_s);
/* Stops the timer; call after MHD_stop_daemon (no connection is left then). */
void gw_deadline_stop(void);
/* MHD_OPTION_NOTIFY_CONNECTION: tracks each connection from its start to its close. */
void gw_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode code);
/* The access handler has the whole request (header and body): the deadline no longer
 * applies to it (its handler, or a parked long-poll, may take as long as it takes). */
void gw_deadline_received(struct MHD_Connection *conn);
/* The request was answered: the clock starts again for the next one on the connection. */
void gw_deadline_rearm(struct MHD_Connection *conn);

#endif
