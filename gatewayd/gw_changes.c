/* lockbox-gatewayd: GET /v1/hosts/self/changes, the change signal agents long-poll
 * (DESIGN.md "Live sessions"): a version per tenant and the polls parked until it moves. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "gw.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define CHANGES_WAIT_DEFAULT 30 /* seconds */
#define CHANGES_WAIT_MAX 60
/* Deadlines are rounded up to this grid, so the timer wakes at most ten times a second
 * however many thousand polls end at slightly different times. */
#define CHANGES_TICK_MS 100
/* At shutdown, how long the woken polls get to send their answers before the server stops. */
#define CHANGES_DRAIN_MS 1000
/* Pages of a user's approved requests read to find the tenants of their grants. */
#define CHANGES_GRANT_PAGES 50

/* Parked polls are suspended MHD connections: no thread waits for them. They sit in one
 * list sorted by deadline, so the timer only ever looks at its head and most inserts (the
 * usual wait is the same for every agent) end at the tail. A bump walks the whole list;
 * bumps are rare (approvals, revokes, the sweeper). Resume happens under the lock, after
 * the poll left the list, and the completion callback takes the same lock: a poll is
 * touched by this file only while it is in the list, and by MHD only once resumed. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t timer_cond; /* CLOCK_MONOTONIC: the timer sleeps until the head's deadline */
	pthread_cond_t drained;    /* CLOCK_MONOTONIC: shutdown waits for woken polls' answers */
	json_t *versions;          /* tenant id -> version; a tenant not in it has start_ms */
	int64_t start_ms;
	struct gw_req *head, *tail;
	size_t parked;
	size_t woken; /* resumed and not completed yet: their answers may still be on the way */
	int started, stopping;
	pthread_t timer;
} ch = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct timespec mono_at(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	return ts;
}

static int64_t version_of(const char *tenant)
{
	json_t *v = json_object_get(ch.versions, tenant);
	return v ? json_integer_value(v) : ch.start_ms;
}

/* Inserts R by deadline, searching from the tail (usually its place). */
static void park(struct gw_req *r)
{
	struct gw_req *after = ch.tail;
	while (after && after->wait.deadline > r->wait.deadline)
		after = after->wait.prev;
	r->wait.prev = after;
	r->wait.next = after ? after->wait.next : ch.head;
	if (r->wait.next)
		r->wait.next->wait.prev = r;
	else
		ch.tail = r;
	if (after)
		after->wait.next = r;
	else
		ch.head = r;
	r->wait.state = GW_WAIT_PARKED;
	ch.parked++;
}

static void unpark(struct gw_req *r)
{
	if (r->wait.prev)
		r->wait.prev->wait.next = r->wait.next;
	else
		ch.head = r->wait.next;
	if (r->wait.next)
		r->wait.next->wait.prev = r->wait.prev;
	else
		ch.tail = r->wait.prev;
	r->wait.prev = r->wait.next = NULL;
	ch.parked--;
}

/* Takes R out of the list and hands its connection back to MHD, which calls the access
 * handler again (gw_changes_answer). */
static void wake(struct gw_req *r)
{
	unpark(r);
	r->wait.state = GW_WAIT_WOKEN;
	ch.woken++;
	MHD_resume_connection(r->conn);
}

static void *timer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&ch.lock);
	while (!ch.stopping) {
		int64_t now = lb_mono_ms();
		while (ch.head && ch.head->wait.deadline <= now)
			wake(ch.head);
		if (ch.head) {
			struct timespec at = mono_at(ch.head->wait.deadline);
			pthread_cond_timedwait(&ch.timer_cond, &ch.lock, &at);
		} else {
			pthread_cond_wait(&ch.timer_cond, &ch.lock);
		}
	}
	pthread_mutex_unlock(&ch.lock);
	return NULL;
}

static int cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int rc = pthread_condattr_init(&a);
	if (rc == 0)
		rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return rc;
}

/* Before the HTTP server starts: a failure here must stop the gateway. */
int gw_changes_start(void)
{
	if (cond_init_monotonic(&ch.timer_cond) != 0 || cond_init_monotonic(&ch.drained) != 0 ||
	    !(ch.versions = json_object()))
		return -1;
	ch.start_ms = lb_time_now_ms();
	if (pthread_create(&ch.timer, NULL, timer_main, NULL) != 0)
		return -1;
	ch.started = 1;
	return 0;
}

void gw_changes_stop(void)
{
	struct timespec until = mono_at(lb_mono_ms() + CHANGES_DRAIN_MS);

	if (!ch.started)
		return;
	pthread_mutex_lock(&ch.lock);
	/* from now on a poll is answered at once (gw_hosts_changes): MHD must not be stopped
	 * with a suspended connection */
	ch.stopping = 1;
	while (ch.head)
		wake(ch.head);
	pthread_cond_signal(&ch.timer_cond);
	while (ch.woken > 0)
		if (pthread_cond_timedwait(&ch.drained, &ch.lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&ch.lock);
	pthread_join(ch.timer, NULL);
	ch.started = 0;
}

void gw_changes_bump(const char *tenant)
{
	struct gw_req *r, *next;
	int64_t v, now = lb_time_now_ms();

	if (!tenant || !*tenant)
		return;
	pthread_mutex_lock(&ch.lock);
	v = version_of(tenant);
	json_object_set_new(ch.versions, tenant, json_integer(v + 1 > now ? v + 1 : now));
	for (r = ch.head; r; r = next) {
		next = r->wait.next;
		if (strcmp(r->wait.tenant, tenant) == 0)
			wake(r);
	}
	pthread_mutex_unlock(&ch.lock);
}

void gw_changes_bump_set(const json_t *tenants)
{
	const char *tenant;
	json_t *v;
	json_object_foreach((json_t *)tenants, tenant, v)
		gw_changes_bump(tenant);
}

enum gw_db gw_changes_announce(struct gw_store *s, struct gw_txn *t, const json_t *tenants)
{
	const char *tenant;
	json_t *v;
	enum gw_db rc = GW_DB_OK;
	if (!s->announce)
		return rc;
	json_object_foreach((json_t *)tenants, tenant, v)
		if ((rc = s->announce(s->cls, t, tenant)) != GW_DB_OK)
			break;
	return rc;
}

void gw_changes_bump_all(void)
{
	struct gw_req *r, *next;
	int64_t top = lb_time_now_ms();
	const char *tenant;
	json_t *v;

	pthread_mutex_lock(&ch.lock);
	/* every tenant moves past every version handed out so far */
	if (ch.start_ms >= top)
		top = ch.start_ms + 1;
	json_object_foreach(ch.versions, tenant, v)
		if (json_integer_value(v) >= top)
			top = json_integer_value(v) + 1;
	json_object_clear(ch.versions);
	ch.start_ms = top;
	for (r = ch.head; r; r = next) {
		next = r->wait.next;
		wake(r);
	}
	pthread_mutex_unlock(&ch.lock);
}

size_t gw_changes_waiting(void)
{
	size_t n;
	pthread_mutex_lock(&ch.lock);
	n = ch.parked;
	pthread_mutex_unlock(&ch.lock);
	return n;
}

int64_t gw_changes_version(const char *tenant)
{
	int64_t v;
	pthread_mutex_lock(&ch.lock);
	v = version_of(tenant ? tenant : "");
	pthread_mutex_unlock(&ch.lock);
	return v;
}

static enum MHD_Result reply_version(struct gw_req *r, int64_t version, int changed)
{
	return gw_reply_json(r, 200, json_pack("{s:I,s:b}", "version", (json_int_t)version,
					       "changed", changed));
}

enum MHD_Result gw_changes_answer(struct gw_req *r)
{
	int64_t v;
	pthread_mutex_lock(&ch.lock);
	v = version_of(r->wait.tenant);
	r->wait.state = GW_WAIT_ANSWERED;
	pthread_mutex_unlock(&ch.lock);
	return reply_version(r, v, v != r->wait.since);
}

/* The completion callback: a poll still parked (MHD closed its connection) leaves the list;
 * a woken one, answered (MHD sent the answer, or gave up) or not, stops counting. */
void gw_changes_forget(struct gw_req *r)
{
	/* Read without the lock: other threads change the state only of a parked poll, and MHD
	 * completes a parked poll only at MHD_stop_daemon, after gw_changes_stop woke them all
	 * (a wake happens before the resume MHD acts on, through MHD's own lock). */
	if (r->wait.state == GW_WAIT_NONE)
		return;
	pthread_mutex_lock(&ch.lock);
	if (r->wait.state == GW_WAIT_PARKED)
		unpark(r);
	else if (--ch.woken == 0)
		pthread_cond_signal(&ch.drained);
	r->wait.state = GW_WAIT_NONE;
	pthread_mutex_unlock(&ch.lock);
}

/* A query value that is a non-negative decimal integer no greater than MAX. */
static int query_uint(const char *s, long long max, long long *out)
{
	char *end;
	if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 19)
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || *out > max ? -1 : 0;
}

enum MHD_Result gw_hosts_changes(struct gw_req *r)
{
	const char *since_s = gw_query(r, "since"), *wait_s = gw_query(r, "wait");
	long long since = 0, wait = CHANGES_WAIT_DEFAULT;
	int64_t v;

	if (since_s && query_uint(since_s, INT64_MAX, &since) != 0)
		return gw_reply_error(r, "bad_query", "since: a version this gateway returned");
	if (wait_s && query_uint(wait_s, CHANGES_WAIT_MAX, &wait) != 0)
		return gw_reply_error(r, "bad_query", "wait: whole seconds, 0..%d",
				      CHANGES_WAIT_MAX);
	snprintf(r->wait.tenant, sizeof(r->wait.tenant), "%s",
		 lb_json_str(r->who.obj, "tenant") ? lb_json_str(r->who.obj, "tenant") : "");
	r->wait.since = since;
	pthread_mutex_lock(&ch.lock);
	v = version_of(r->wait.tenant);
	if (!since_s || since != v || wait == 0 || ch.stopping) {
		pthread_mutex_unlock(&ch.lock);
		return reply_version(r, v, !since_s || since != v);
	}
	r->wait.deadline = (lb_mono_ms() + wait * 1000 + CHANGES_TICK_MS - 1) / CHANGES_TICK_MS *
			   CHANGES_TICK_MS;
	park(r);
	if (ch.head == r)
		pthread_cond_signal(&ch.timer_cond);
	/* suspended under the lock: no wake can reach the connection before it is suspended */
	MHD_suspend_connection(r->conn);
	pthread_mutex_unlock(&ch.lock);
	return MHD_YES;
}

void gw_call_changed(struct gw_call *call, const char *tenant)
{
	if (!tenant || !*tenant)
		return;
	if (!call->changed)
		call->changed = json_object();
	if (call->changed)
		json_object_set_new(call->changed, tenant, json_true());
}

enum gw_db gw_call_changed_user_grants(struct gw_call *call, const char *user)
{
	struct gw_store *s = call->r->gw->store;
	struct gw_filter f[2] = {{"requester", GW_EQ, user}, {"state", GW_EQ, "approved"}};
	int64_t cursor = 0, next;
	int pages = 0;

	do {
		json_t *items, *req;
		size_t i;
		enum gw_db rc = s->list(s->cls, call->txn, &gw_k_requests, f, 2, cursor, GW_LIST_MAX, 0,
					NULL, NULL, &items, &next);
		if (rc != GW_DB_OK)
			return rc;
		json_array_foreach(items, i, req)
			gw_call_changed(call, lb_json_str(req, "tenant"));
		json_decref(items);
		cursor = next;
	} while (next && ++pages < CHANGES_GRANT_PAGES);
	return GW_DB_OK;
}
