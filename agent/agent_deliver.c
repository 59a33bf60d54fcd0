/* lockbox-agent: delivers the host's local audit log to the gateway, continuously: the module
 * and the agent append, this thread sends what lies past the delivery cursor over its own
 * kept-alive connection, within a second of an append while the gateway answers, and backs
 * off while it does not (nothing is lost: the log is the queue). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent.h"
#include "lockbox/auditlog.h"
#include "lockbox/daemon.h"
#include "lockbox/util.h"

#define DELIVER_POLL_MS 250
/* After an append, wait this long for more before sending: a burst of logins goes out as
 * one request (one TLS write, one commit at the gateway) instead of one per login. */
#define DELIVER_COALESCE_MS 150
/* And under a steady stream of logins, at most one request per this long: each request costs
 * the gateway a TLS read, a verification pass and a commit whatever its size, and on a small
 * host that work competes with the next logins for the CPU (bench/findings.md: the PAM
 * account phase in a 3000-login run went from 1.37x pam_radius_auth to 0.8-1.0x). An event
 * appended just after a request started waits at most this long plus the coalescing, so
 * delivery stays within the second promised while the gateway answers. */
#define DELIVER_SPACING_MS 800
#define DELIVER_BUDGET_MS 20000
#define DELIVER_BACKOFF_MAX_MS 30000

void agent_deliver_kick(struct agent *ag)
{
	pthread_mutex_lock(&ag->deliver_lock);
	ag->deliver_now = 1;
	pthread_cond_signal(&ag->deliver_wake);
	pthread_mutex_unlock(&ag->deliver_lock);
}

/* The log's size and mtime: when they move, there is something to send. */
static int log_changed(const char *path, struct stat *last)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return 0;
	if (st.st_size == last->st_size && st.st_mtim.tv_sec == last->st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == last->st_mtim.tv_nsec && st.st_ino == last->st_ino)
		return 0;
	*last = st;
	return 1;
}

static void wait_ms(struct agent *ag, int64_t ms)
{
	struct timespec ts;
	pthread_mutex_lock(&ag->deliver_lock);
	if (!ag->deliver_now) {
		lb_mono_deadline(&ts, ms);
		pthread_cond_timedwait(&ag->deliver_wake, &ag->deliver_lock, &ts);
	}
	pthread_mutex_unlock(&ag->deliver_lock);
}

/* Sleeps until monotonic time AT, or until the agent stops (a stop does not wait for it). */
static void pace_until(struct agent *ag, int64_t at)
{
	struct timespec ts;
	pthread_mutex_lock(&ag->deliver_lock);
	while (!ag->stopping && lb_mono_ms() < at) {
		lb_mono_deadline(&ts, at - lb_mono_ms());
		if (pthread_cond_timedwait(&ag->deliver_wake, &ag->deliver_lock, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&ag->deliver_lock);
}

void *agent_deliver_thread(void *arg)
{
	struct agent *ag = arg;
	struct lb_http_client *c = lb_http_client_new();
	struct stat last;
	int64_t backoff = 0, retry_at = 0, last_sent = 0;
	int pending = 1; /* deliver what an earlier run left at once */

	memset(&last, 0, sizeof(last));
	if (!c) {
		lb_log(LOG_ERR, "delivery: out of memory");
		return NULL;
	}
	while (!ag->stopping) {
		struct lb_auditlog_flush_stats st;
		struct lb_http_opts o = {0};
		enum lb_auditlog_result r;
		char err[512];
		int kicked, fresh;

		wait_ms(ag, DELIVER_POLL_MS);
		pthread_mutex_lock(&ag->deliver_lock);
		kicked = ag->deliver_now;
		ag->deliver_now = 0;
		pthread_mutex_unlock(&ag->deliver_lock);
		fresh = kicked | log_changed(ag->conf.audit_log, &last);
		pending |= fresh;
		/* a new event while the gateway answers the agent again (a login's check just went
		 * through): send now, not at the end of a backoff that grew during the outage */
		if (fresh && retry_at && ag->gateway_ok)
			retry_at = 0;
		if (!pending || lb_mono_ms() < retry_at)
			continue;
		if (kicked && !ag->stopping) {
			int64_t now = lb_mono_ms(), at = now + DELIVER_COALESCE_MS;
			if (last_sent && at < last_sent + DELIVER_SPACING_MS)
				at = last_sent + DELIVER_SPACING_MS;
			pace_until(ag, at);
		}
		last_sent = lb_mono_ms();
		o.ca_file = ag->conf.ca_file;
		o.bearer = ag->token;
		o.timeout_ms = ag->conf.timeout * 1000;
		o.max_body = 64 * 1024;
		o.client = c;
		memset(&st, 0, sizeof(st));
		err[0] = '\0';
		/* a batch no gateway answered goes to the next one (lb_gw_request); sending it
		 * again after the first took it is harmless: the gateway keeps events by id */
		r = lb_auditlog_flush(ag->conf.audit_log, &ag->conf.gateways, &o,
				      DELIVER_BUDGET_MS, &st, err, sizeof(err));
		if (r == LB_AUDITLOG_OK || r == LB_AUDITLOG_ERR_BUSY) {
			/* BUSY: `lockboxctl host flush` is delivering; look again soon */
			pending = r == LB_AUDITLOG_ERR_BUSY || st.pending > 0;
			backoff = 0;
			retry_at = 0;
			if (st.rotated_lost)
				lb_log(LOG_ERR, "delivery: %s", err);
			else if (st.rejected)
				lb_log(LOG_WARNING, "delivery: %zu event(s) refused by the gateway: %s",
				       st.rejected, err);
			continue;
		}
		lb_http_client_reset(c);
		backoff = backoff ? (backoff * 2 > DELIVER_BACKOFF_MAX_MS ? DELIVER_BACKOFF_MAX_MS
									   : backoff * 2)
				  : 500;
		retry_at = lb_mono_ms() + backoff;
		lb_log(LOG_WARNING, "delivery: %s: %s (%zu pending; next try in %lld ms)",
		       lb_auditlog_strerror(r), err, st.pending, (long long)backoff);
	}
	lb_http_client_free(c);
	return NULL;
}
