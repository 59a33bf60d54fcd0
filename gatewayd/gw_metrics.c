/* lockbox-gatewayd: GET /metrics, counters in the Prometheus text format. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

static const unsigned tracked_status[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 422, 500, 503};
#define NSTATUS (sizeof(tracked_status) / sizeof(tracked_status[0]))
static atomic_ulong http_by_status[NSTATUS + 1]; /* last: any other status */
static atomic_ulong checks_allow, checks_deny, audit_appended, audit_duplicates, sweeps_changed;

void gw_metrics_http(unsigned status)
{
	size_t i;
	for (i = 0; i < NSTATUS && tracked_status[i] != status; i++)
		;
	atomic_fetch_add_explicit(&http_by_status[i], 1, memory_order_relaxed);
}

void gw_metrics_check(int allow)
{
	atomic_fetch_add_explicit(allow ? &checks_allow : &checks_deny, 1, memory_order_relaxed);
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

enum MHD_Result gw_metrics(struct gw_req *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!f)
		return MHD_NO;
	fprintf(f, "# HELP lockbox_build_info The gateway version.\n"
		   "# TYPE lockbox_build_info gauge\n"
		   "lockbox_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	fprintf(f, "# HELP lockbox_http_responses_total HTTP responses by status.\n"
		   "# TYPE lockbox_http_responses_total counter\n");
	for (size_t i = 0; i <= NSTATUS; i++) {
		char code[8];
		if (i < NSTATUS)
			snprintf(code, sizeof(code), "%u", tracked_status[i]);
		else
			snprintf(code, sizeof(code), "other");
		fprintf(f, "lockbox_http_responses_total{code=\"%s\"} %lu\n", code,
			atomic_load(&http_by_status[i]));
	}
	fprintf(f, "# HELP lockbox_checks_total Access decisions by outcome.\n"
		   "# TYPE lockbox_checks_total counter\n"
		   "lockbox_checks_total{decision=\"allow\"} %lu\n"
		   "lockbox_checks_total{decision=\"deny\"} %lu\n",
		atomic_load(&checks_allow), atomic_load(&checks_deny));
	fprintf(f, "# HELP lockbox_audit_events_total Audit events appended to the chain.\n"
		   "# TYPE lockbox_audit_events_total counter\n"
		   "lockbox_audit_events_total %lu\n"
		   "# HELP lockbox_audit_duplicates_total Host events received again (ignored).\n"
		   "# TYPE lockbox_audit_duplicates_total counter\n"
		   "lockbox_audit_duplicates_total %lu\n"
		   "# HELP lockbox_sweeper_changes_total Requests expired or completed and elevations ended by the sweeper.\n"
		   "# TYPE lockbox_sweeper_changes_total counter\n"
		   "lockbox_sweeper_changes_total %lu\n",
		atomic_load(&audit_appended), atomic_load(&audit_duplicates),
		atomic_load(&sweeps_changed));
	fprintf(f, "# HELP lockbox_changes_waiting Change long-polls (GET /v1/hosts/self/changes) parked now.\n"
		   "# TYPE lockbox_changes_waiting gauge\n"
		   "lockbox_changes_waiting %zu\n",
		gw_changes_waiting());
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
