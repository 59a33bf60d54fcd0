/* lockbox-gatewayd: GET /metrics, counters, gauges and latency histograms in the Prometheus
 * text format (documented in lockbox-gatewayd(8), METRICS). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw.h"
#include "lockbox/json.h"

static const unsigned tracked_status[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 503};
#define NSTATUS (sizeof(tracked_status) / sizeof(tracked_status[0]))
static atomic_ulong http_by_status[NSTATUS + 1]; /* last: any other status */
static atomic_ulong checks_allow, checks_deny, audit_appended, audit_duplicates, sweeps_changed;

/* ---- latency histograms ---- */

/* Upper bounds in microseconds, from a cached SQLite read (~100 us) to a store that stalls
 * (10 s, past request_timeout): Prometheus' own default buckets lack the sub-millisecond
 * end, where the check and most store calls live. */
static const uint64_t bucket_us[] = {100,    250,    500,     1000,    2500,    5000,
				     10000,  25000,  50000,   100000,  250000,  500000,
				     1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

/* Per-bucket (not cumulative) counts, the last one past every bound: one atomic add per
 * observation, and the cumulative counts, +Inf and _count are summed at scrape time from the
 * same reads, so they always agree (promtool and Prometheus check that). */
struct hist {
	atomic_ullong n[NBUCKETS + 1];
	atomic_ullong sum_us;
};

static void observe(struct hist *h, uint64_t us)
{
	size_t i = 0;
	while (i < NBUCKETS && us > bucket_us[i])
		i++;
	atomic_fetch_add_explicit(&h->n[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

/* One histogram's series: LABELS is "" or `name="value",` (with the comma). */
static void print_hist(FILE *f, const char *name, const char *labels, struct hist *h)
{
	unsigned long long cum = 0;
	for (size_t i = 0; i <= NBUCKETS; i++) {
		cum += atomic_load_explicit(&h->n[i], memory_order_relaxed);
		if (i < NBUCKETS)
			fprintf(f, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels,
				(double)bucket_us[i] / 1e6, cum);
		else
			fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, cum);
	}
	/* labels without their trailing comma for _sum and _count */
	fprintf(f, "%s_sum%s%.*s%s %.6f\n", name, *labels ? "{" : "",
		*labels ? (int)strlen(labels) - 1 : 0, labels, *labels ? "}" : "",
		(double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
	fprintf(f, "%s_count%s%.*s%s %llu\n", name, *labels ? "{" : "",
		*labels ? (int)strlen(labels) - 1 : 0, labels, *labels ? "}" : "", cum);
}

int64_t gw_metrics_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t since(int64_t t0)
{
	int64_t d = gw_metrics_clock() - t0;
	return d > 0 ? (uint64_t)d : 0;
}

/* ---- the access check: latency, and denies by reason ---- */

static struct hist check_hist;

/* Reason codes are the gateway's own (DESIGN.md), never client text, so the label set stays
 * small; the table is bounded anyway and a surplus reason counts as "other". The DESIGN.md
 * codes are listed from the start so that each series exists (at 0) before its first deny. */
#define MAX_REASONS 32
static const char *const known_reasons[] = {
	"no_request",	 "pending",	 "denied",	      "expired",
	"revoked",	 "no_elevation", "elevation_after_approval", "host_unknown",
	"wrong_access_type", "user_disabled", "not_engineer", NULL};
static pthread_mutex_t reasons_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char name[40];
	unsigned long n;
} reasons[MAX_REASONS];
static size_t nreasons;

static void reasons_seed(void)
{
	/* under reasons_lock */
	if (nreasons)
		return;
	for (size_t i = 0; known_reasons[i] && nreasons < MAX_REASONS - 1; i++)
		snprintf(reasons[nreasons++].name, sizeof(reasons[0].name), "%s", known_reasons[i]);
}

static void count_deny(const char *reason)
{
	char name[sizeof(reasons[0].name)];
	size_t i, j = 0;

	/* a label value in the text format: keep [a-z0-9_] and nothing that needs escaping */
	for (i = 0; reason && reason[i] && j + 1 < sizeof(name); i++) {
		char ch = reason[i];
		name[j++] = ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')
				    ? ch
				    : '_';
	}
	name[j] = '\0';
	if (!j)
		snprintf(name, sizeof(name), "unknown");
	pthread_mutex_lock(&reasons_lock);
	reasons_seed();
	for (i = 0; i < nreasons && strcmp(reasons[i].name, name) != 0; i++)
		;
	if (i == nreasons) {
		if (nreasons < MAX_REASONS - 1)
			snprintf(reasons[nreasons++].name, sizeof(name), "%s", name);
		else {
			/* the last slot is "other" */
			i = MAX_REASONS - 1;
			snprintf(reasons[i].name, sizeof(name), "other");
			nreasons = MAX_REASONS;
		}
	}
	reasons[i].n++;
	pthread_mutex_unlock(&reasons_lock);
}

void gw_metrics_check(int allow, const char *reason, int64_t t0)
{
	atomic_fetch_add_explicit(allow ? &checks_allow : &checks_deny, 1, memory_order_relaxed);
	observe(&check_hist, since(t0));
	if (!allow)
		count_deny(reason);
}

/* ---- the store: every call through its interface, timed (gw_metrics_store) ---- */

enum store_op { OP_READ, OP_WRITE, OP_INSERT, OP_GET, OP_LIST, OP_UPDATE, OP_REMOVE, OP_COUNT,
		OP_AUDIT_APPEND, NOPS };
static const char *const op_names[NOPS] = {"txn_read", "txn_write", "insert", "get", "list",
					    "update", "remove", "count", "audit_append"};
static struct hist store_hist[NOPS];
/* The backend's own functions. One store per process (the gateway opens one); a second
 * open of the same backend finds the same functions. */
static struct gw_store inner;

/* The body of each wrapper below: the backend's call, timed into its op's histogram. */
#define TIMED(op, call)                                                                   \
	do {                                                                              \
		int64_t t0_ = gw_metrics_clock();                                         \
		enum gw_db rc_ = (call);                                                  \
		observe(&store_hist[(op)], since(t0_));                                   \
		return rc_;                                                               \
	} while (0)

/* The body as the backend runs it: what it counted is kept only from an attempt that
 * returned OK, and published only once the backend committed that attempt. */
struct m_body {
	gw_txn_body fn;
	void *arg;
	unsigned audit_accepted, audit_duplicates;
};

static enum gw_db m_body_run(struct gw_txn *t, void *arg)
{
	struct m_body *b = arg;
	enum gw_db rc = b->fn(t, b->arg);
	b->audit_accepted = rc == GW_DB_OK ? t->audit_accepted : 0;
	b->audit_duplicates = rc == GW_DB_OK ? t->audit_duplicates : 0;
	return rc;
}

static enum gw_db m_run(void *cls, int write, gw_txn_body fn, void *arg)
{
	struct m_body b = {fn, arg, 0, 0};
	int64_t t0 = gw_metrics_clock();
	enum gw_db rc = inner.run(cls, write, m_body_run, &b);
	observe(&store_hist[write ? OP_WRITE : OP_READ], since(t0));
	if (rc == GW_DB_OK && (b.audit_accepted || b.audit_duplicates))
		gw_metrics_audit(b.audit_accepted, b.audit_duplicates);
	return rc;
}

static enum gw_db m_insert(void *cls, struct gw_txn *t, const struct gw_kind *k,
			   const json_t *obj)
{
	TIMED(OP_INSERT, inner.insert(cls, t, k, obj));
}

static enum gw_db m_get(void *cls, struct gw_txn *t, const struct gw_kind *k, const char *col,
			const char *val, json_t **out)
{
	TIMED(OP_GET, inner.get(cls, t, k, col, val, out));
}

static enum gw_db m_list(void *cls, struct gw_txn *t, const struct gw_kind *k,
			 const struct gw_filter *f, size_t nf, int64_t cursor, size_t limit,
			 int desc, gw_keep_fn keep, void *keep_arg, json_t **items, int64_t *next)
{
	TIMED(OP_LIST,
	      inner.list(cls, t, k, f, nf, cursor, limit, desc, keep, keep_arg, items, next));
}

static enum gw_db m_update(void *cls, struct gw_txn *t, const struct gw_kind *k,
			   const char *id, const json_t *fields)
{
	TIMED(OP_UPDATE, inner.update(cls, t, k, id, fields));
}

static enum gw_db m_remove(void *cls, struct gw_txn *t, const struct gw_kind *k,
			   const char *id)
{
	TIMED(OP_REMOVE, inner.remove(cls, t, k, id));
}

static enum gw_db m_count(void *cls, struct gw_txn *t, const struct gw_kind *k, int64_t *n)
{
	TIMED(OP_COUNT, inner.count(cls, t, k, n));
}

static enum gw_db m_audit_append(void *cls, struct gw_txn *t, json_t *ev, int *duplicate)
{
	TIMED(OP_AUDIT_APPEND, inner.audit_append(cls, t, ev, duplicate));
}

struct gw_store *gw_metrics_store(struct gw_store *s)
{
	if (!s || s->run == m_run)
		return s;
	inner = *s;
	s->run = m_run;
	s->insert = m_insert;
	s->get = m_get;
	s->list = m_list;
	s->update = m_update;
	s->remove = m_remove;
	s->count = m_count;
	s->audit_append = m_audit_append;
	return s;
}

/* ---- notifications ---- */

static atomic_ulong notify_sent[2], notify_error[2]; /* [0] email, [1] webhook */

void gw_metrics_notify(const char *channel, int result)
{
	int web = channel && strcmp(channel, "email") != 0;
	atomic_fetch_add_explicit(result == 0 ? &notify_sent[web] : &notify_error[web], 1,
				  memory_order_relaxed);
}

/* The outbox by state, read from the store (so every gateway sharing it reports the same)
 * and cached: /metrics is open to anyone, and must not become a way to make the gateway
 * scan its outbox as fast as someone can ask. */
#define OUTBOX_CACHE_US 5000000
static pthread_mutex_t outbox_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t outbox_at = INT64_MIN;
static long long outbox_n[2] = {-1, -1}; /* pending, failed; -1: the store did not answer */
static int outbox_more[2];

static int count_row(const json_t *row, void *arg)
{
	(void)row;
	++*(long long *)arg;
	return 0; /* keep nothing: the store only scans (at most GW_SCAN_MAX rows) */
}

static void outbox_counts(struct gw *gw, long long n[2], int more[2])
{
	static const char *const states[2] = {"pending", "failed"};
	int64_t now = gw_metrics_clock();

	pthread_mutex_lock(&outbox_lock);
	if (outbox_at == INT64_MIN || now - outbox_at >= OUTBOX_CACHE_US) {
		for (int i = 0; i < 2; i++) {
			struct gw_filter f = {"state", GW_EQ, states[i]};
			json_t *items = NULL;
			int64_t next = 0;
			long long c = 0;
			enum gw_db rc = gw->store->list(gw->store->cls, NULL, &gw_k_notifications, &f, 1, 0, 1,
							0, count_row, &c, &items, &next);
			json_decref(items);
			outbox_n[i] = rc == GW_DB_OK ? c : -1;
			outbox_more[i] = rc == GW_DB_OK && next != 0;
		}
		outbox_at = now;
	}
	memcpy(n, outbox_n, sizeof(outbox_n));
	memcpy(more, outbox_more, sizeof(outbox_more));
	pthread_mutex_unlock(&outbox_lock);
}

/* ---- the rest ---- */

void gw_metrics_http(unsigned status)
{
	size_t i;
	for (i = 0; i < NSTATUS && tracked_status[i] != status; i++)
		;
	atomic_fetch_add_explicit(&http_by_status[i], 1, memory_order_relaxed);
}

void gw_metrics_audit(unsigned appended, unsigned duplicates)
{
	atomic_fetch_add_explicit(&audit_appended, appended, memory_order_relaxed);
	atomic_fetch_add_explicit(&audit_duplicates, duplicates, memory_order_relaxed);
	/* checkpoint_every: the sweeper signs once that many events were appended */
	if (gw_checkpoint_note(appended))
		gw_sweeper_wake();
}

void gw_metrics_sweep(unsigned changed)
{
	atomic_fetch_add_explicit(&sweeps_changed, changed, memory_order_relaxed);
}

static void print_header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

enum MHD_Result gw_metrics(struct gw_req *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	const union MHD_DaemonInfo *info;
	long long outbox[2];
	int more[2];

	/* before the buffer: the store call may take a while, and buf is ours alone anyway */
	outbox_counts(r->gw, outbox, more);
	f = open_memstream(&buf, &len);
	if (!f)
		return MHD_NO;
	print_header(f, "lockbox_build_info", "gauge", "The gateway version.");
	fprintf(f, "lockbox_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	print_header(f, "lockbox_http_responses_total", "counter", "HTTP responses by status.");
	for (size_t i = 0; i <= NSTATUS; i++) {
		char code[8];
		if (i < NSTATUS)
			snprintf(code, sizeof(code), "%u", tracked_status[i]);
		else
			snprintf(code, sizeof(code), "other");
		fprintf(f, "lockbox_http_responses_total{code=\"%s\"} %lu\n", code,
			atomic_load(&http_by_status[i]));
	}
	print_header(f, "lockbox_http_connections", "gauge",
		     "Client connections open now (agents keep one for requests and one for the "
		     "change long-poll).");
	info = r->gw->mhd ? MHD_get_daemon_info(r->gw->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS)
			  : NULL;
	fprintf(f, "lockbox_http_connections %u\n", info ? info->num_connections : 0u);

	print_header(f, "lockbox_checks_total", "counter", "Access decisions by outcome.");
	fprintf(f, "lockbox_checks_total{decision=\"allow\"} %lu\n"
		   "lockbox_checks_total{decision=\"deny\"} %lu\n",
		atomic_load(&checks_allow), atomic_load(&checks_deny));
	print_header(f, "lockbox_check_denies_total", "counter",
		     "Access decisions that denied, by reason code.");
	pthread_mutex_lock(&reasons_lock);
	reasons_seed();
	for (size_t i = 0; i < nreasons; i++)
		fprintf(f, "lockbox_check_denies_total{reason=\"%s\"} %lu\n", reasons[i].name,
			reasons[i].n);
	pthread_mutex_unlock(&reasons_lock);
	print_header(f, "lockbox_check_duration_seconds", "histogram",
		     "Time to decide and record an access check (POST /v1/check), the audit "
		     "event's commit included.");
	print_hist(f, "lockbox_check_duration_seconds", "", &check_hist);
	print_header(f, "lockbox_store_duration_seconds", "histogram",
		     "Time of each store call by op; a transaction (txn_read, txn_write) includes "
		     "the calls made inside it.");
	for (size_t i = 0; i < NOPS; i++) {
		char labels[48];
		snprintf(labels, sizeof(labels), "op=\"%s\",", op_names[i]);
		print_hist(f, "lockbox_store_duration_seconds", labels, &store_hist[i]);
	}

	print_header(f, "lockbox_audit_events_total", "counter",
		     "Audit events appended to the chain.");
	fprintf(f, "lockbox_audit_events_total %lu\n", atomic_load(&audit_appended));
	print_header(f, "lockbox_audit_duplicates_total", "counter",
		     "Host events received again (ignored).");
	fprintf(f, "lockbox_audit_duplicates_total %lu\n", atomic_load(&audit_duplicates));
	print_header(f, "lockbox_sweeper_changes_total", "counter",
		     "Requests expired or completed and elevations ended by the sweeper.");
	fprintf(f, "lockbox_sweeper_changes_total %lu\n", atomic_load(&sweeps_changed));
	print_header(f, "lockbox_changes_waiting", "gauge",
		     "Change long-polls (GET /v1/hosts/self/changes) parked now: about one per "
		     "connected agent.");
	fprintf(f, "lockbox_changes_waiting %zu\n", gw_changes_waiting());

	print_header(f, "lockbox_notify_attempts_total", "counter",
		     "Notification delivery attempts by channel and result.");
	for (int web = 0; web < 2; web++)
		fprintf(f, "lockbox_notify_attempts_total{channel=\"%s\",result=\"sent\"} %lu\n"
			   "lockbox_notify_attempts_total{channel=\"%s\",result=\"error\"} %lu\n",
			web ? "webhook" : "email", atomic_load(&notify_sent[web]),
			web ? "webhook" : "email", atomic_load(&notify_error[web]));
	print_header(f, "lockbox_notify_outbox", "gauge",
		     "Notifications in the outbox: pending (waiting for delivery or a retry) and "
		     "failed (given up); counted up to 100000, at most every 5 s.");
	for (int i = 0; i < 2; i++)
		if (outbox[i] >= 0)
			fprintf(f, "lockbox_notify_outbox{state=\"%s\"} %lld\n",
				i ? "failed" : "pending", outbox[i]);
	print_header(f, "lockbox_notify_outbox_truncated", "gauge",
		     "1 when lockbox_notify_outbox stopped counting at 100000 (or the store did "
		     "not answer), else 0.");
	for (int i = 0; i < 2; i++)
		fprintf(f, "lockbox_notify_outbox_truncated{state=\"%s\"} %d\n",
			i ? "failed" : "pending", more[i] || outbox[i] < 0);
	fclose(f);
	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(r->conn, 200, resp);
	MHD_destroy_response(resp);
	r->responded = 1;
	gw_metrics_http(200);
	return ret;
}
