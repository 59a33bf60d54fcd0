/* lockbox-gatewayd: request_timeout, a total deadline for receiving a request's header and
 * body, so a client that trickles a byte now and then cannot hold a connection for long. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>

#include "gw.h"
#include "gw_deadline.h"
#include "lockbox/util.h"

/* How often the timer looks: a connection is closed at most this late. */
#define DEADLINE_TICK_MS 250
/* At most one log line per this many seconds about closed connections (an attack would
 * otherwise flood the log). */
#define DEADLINE_LOG_EVERY_S 60

/* MHD's idle timeout is reset by every byte received, and MHD has no total one. Each
 * connection is tracked from MHD's connection notification: while it waits for a request
 * (from its start, or from the answer to its previous request) it sits in one list, in the
 * order its clock started, so the timer looks only at the head. Once the access handler has
 * the whole request the connection leaves the list: a handler or a parked long-poll
 * (suspended, gw_changes.c) is never cut. A connection past its deadline is shut down
 * (shutdown(2), not close: the descriptor stays MHD's); MHD's worker then sees the end of
 * the stream and closes it as if the client had gone. MHD reports a connection closed
 * before it closes its descriptor, and that report takes the lock, so the timer never
 * shuts down a descriptor that was reused for another connection. */
struct dl_conn {
	struct dl_conn *prev, *next;
	int64_t since; /* ms, monotonic: when the clock started */
	int fd;
	int linked; /* in the list: a request is awaited */
	int cut;    /* shut down by the timer */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	struct dl_conn *head, *tail;
	int64_t timeout_ms;
	int started, stopping;
	pthread_t timer;
} dl = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void unlink_conn(struct dl_conn *c)
{
	if (!c->linked)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		dl.head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		dl.tail = c->prev;
	c->prev = c->next = NULL;
	c->linked = 0;
}

static void link_tail(struct dl_conn *c)
{
	c->prev = dl.tail;
	c->next = NULL;
	if (dl.tail)
		dl.tail->next = c;
	else
		dl.head = c;
	dl.tail = c;
	c->linked = 1;
}

static struct dl_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

void gw_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	struct dl_conn *c = *socket_context;
	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || ci->connect_fd < 0 || !(c = calloc(1, sizeof(*c)))) {
			gw_log(LOG_WARNING, "http: a connection without a request deadline (out of memory)");
			return;
		}
		c->fd = ci->connect_fd;
		pthread_mutex_lock(&dl.lock);
		c->since = lb_mono_ms();
		link_tail(c);
		pthread_mutex_unlock(&dl.lock);
		*socket_context = c;
		return;
	}
	if (!c)
		return;
	pthread_mutex_lock(&dl.lock);
	unlink_conn(c);
	pthread_mutex_unlock(&dl.lock);
	free(c);
	*socket_context = NULL;
}

void gw_deadline_received(struct MHD_Connection *conn)
{
	struct dl_conn *c = conn_of(conn);
	if (!c)
		return;
	pthread_mutex_lock(&dl.lock);
	unlink_conn(c);
	pthread_mutex_unlock(&dl.lock);
}

void gw_deadline_rearm(struct MHD_Connection *conn)
{
	struct dl_conn *c = conn_of(conn);
	if (!c)
		return;
	pthread_mutex_lock(&dl.lock);
	if (!c->cut) {
		unlink_conn(c);
		c->since = lb_mono_ms();
		link_tail(c);
	}
	pthread_mutex_unlock(&dl.lock);
}

static void *timer_main(void *arg)
{
	uint64_t cut = 0;
	int64_t last_log = lb_mono_ms();
	(void)arg;
	pthread_mutex_lock(&dl.lock);
	while (!dl.stopping) {
		struct timespec ts;
		int64_t now = lb_mono_ms(), wake = now + DEADLINE_TICK_MS;
		while (dl.head && now - dl.head->since >= dl.timeout_ms) {
			struct dl_conn *c = dl.head;
			unlink_conn(c);
			c->cut = 1;
			(void)shutdown(c->fd, SHUT_RDWR);
			cut++;
		}
		if (cut && now - last_log >= DEADLINE_LOG_EVERY_S * 1000) {
			gw_log(LOG_WARNING, "http: closed %llu connections that did not send a whole "
					    "request within request_timeout",
			       (unsigned long long)cut);
			cut = 0;
			last_log = now;
		}
		ts.tv_sec = wake / 1000;
		ts.tv_nsec = (wake % 1000) * 1000000;
		pthread_cond_timedwait(&dl.cond, &dl.lock, &ts);
	}
	pthread_mutex_unlock(&dl.lock);
	return NULL;
}

int gw_deadline_start(int64_t timeout_s)
{
	pthread_condattr_t ca;
	int rc;

	if (pthread_condattr_init(&ca) != 0)
		return -1;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&dl.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -1;
	dl.timeout_ms = timeout_s * 1000;
	dl.stopping = 0;
	if (pthread_create(&dl.timer, NULL, timer_main, NULL) != 0) {
		pthread_cond_destroy(&dl.cond);
		return -1;
	}
	dl.started = 1;
	return 0;
}

void gw_deadline_stop(void)
{
	if (!dl.started)
		return;
	pthread_mutex_lock(&dl.lock);
	dl.stopping = 1;
	pthread_cond_signal(&dl.cond);
	pthread_mutex_unlock(&dl.lock);
	pthread_join(dl.timer, NULL);
	pthread_cond_destroy(&dl.cond);
	dl.started = 0;
}
