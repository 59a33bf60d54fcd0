/* lockboxctl: the central audit log: list with filters, export as JSON lines, verify the chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

char *cmd_time_arg(const char *v)
{
	int64_t secs, ms;
	char buf[LB_TIME_BUFLEN];
	if (lb_duration_parse(v, &secs) == 0) {
		lb_time_format(lb_time_now_ms() - secs * 1000, buf, sizeof(buf));
		return strdup(buf);
	}
	if (lb_time_parse(v, &ms) == 0)
		return strdup(v);
	return NULL;
}

static const struct ctl_col audit_cols[] = {
	{"SEQ", "seq", COL_ANY},
	{"TIME", "time", COL_TIME},
	{"TYPE", "type", COL_STR},
	{"LEVEL", "level", COL_STR},
	{"ACTOR", "actor", COL_STR},
	{"HOST", "host", COL_STR},
	{"REQUEST", "request", COL_STR},
	{NULL, NULL, 0},
};

/* The filtered query; returns CTL_OK or a usage error. */
static int audit_query(const struct ctl_args *a, struct ctl_query *q)
{
	static const char *const plain[] = {"level", "tenant", "subscription", "host",
					    "type",  "request", NULL};
	static const char *const times[] = {"since", "until", NULL};
	ctl_query_init(q, "/v1/audit/events");
	for (size_t i = 0; plain[i]; i++)
		ctl_query_add(q, plain[i], ctl_arg(a, plain[i]));
	for (size_t i = 0; times[i]; i++) {
		const char *v = ctl_arg(a, times[i]);
		char *t;
		if (!v)
			continue;
		if (!(t = cmd_time_arg(v))) {
			free(ctl_query_take(q));
			return ctl_usage(a, "--%s: '%s' is neither an RFC 3339 time nor a duration",
					 times[i], v);
		}
		ctl_query_add(q, times[i], t);
		free(t);
	}
	return CTL_OK;
}

static int audit_list(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	int rc = audit_query(a, &q);
	if (rc != CTL_OK)
		return rc;
	return cmd_list(c, a, &q, audit_cols);
}

/* Every page, one compact JSON object per line, printed as pages arrive. */
static int audit_export(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	char *path, *cur = NULL;
	const char *limit = ctl_arg(a, "limit") ? ctl_arg(a, "limit") : "200";
	int rc = audit_query(a, &q);
	size_t n = 0;

	if (rc != CTL_OK)
		return rc;
	if (!(path = ctl_query_take(&q)))
		return CTL_FAILED;
	for (int page = 0; page < 10000000; page++) {
		json_t *items, *e;
		char *next = NULL, *prev = cur;
		size_t i;
		rc = ctl_list(c, path, 0, limit, cur, &items, &next);
		if (rc != CTL_OK)
			break;
		json_array_foreach(items, i, e) {
			char *line = json_dumps(e, JSON_COMPACT);
			if (line) {
				puts(line);
				free(line);
				n++;
			}
		}
		json_decref(items);
		cur = next;
		if (prev && cur && strcmp(prev, cur) == 0) {
			ctl_err("the gateway repeated cursor %s; stopping", cur);
			rc = CTL_FAILED;
		}
		free(prev);
		if (!cur || rc != CTL_OK)
			break;
	}
	free(cur);
	free(path);
	if (rc == CTL_OK)
		fprintf(stderr, "lockboxctl: exported %zu events\n", n);
	return rc;
}

static int audit_verify(struct ctl *c, struct ctl_args *a)
{
	json_t *ans;
	int ok = 0, rc = ctl_api(c, "GET", "/v1/audit/verify", NULL, &ans);
	int64_t count = 0, head = 0, broken = 0;
	(void)a;
	if (rc != CTL_OK)
		return rc;
	if (lb_json_bool(ans, "ok", &ok) != 0) {
		ctl_err("the gateway's answer has no 'ok'");
		json_decref(ans);
		return CTL_FAILED;
	}
	if (c->json) {
		ctl_print_json(ans);
	} else if (c->quiet) {
		/* the exit status says it */
	} else if (ok) {
		char *h = ctl_human(json_object_get(ans, "head_hash"), COL_STR);
		lb_json_int(ans, "count", &count);
		lb_json_int(ans, "head_seq", &head);
		printf("audit chain ok: %lld events, head seq %lld, head hash %s\n", (long long)count,
		       (long long)head, h ? h : "?");
		free(h);
	} else {
		char *why = ctl_human(json_object_get(ans, "reason"), COL_STR);
		lb_json_int(ans, "broken_at", &broken);
		printf("audit chain BROKEN at seq %lld: %s\n", (long long)broken, why ? why : "?");
		free(why);
	}
	json_decref(ans);
	return ok ? CTL_OK : CTL_FAILED;
}

#define AUDIT_FILTERS                                                                          \
	{"level", "LEVEL", "subscription (activity log) or tenant (directory audit log)", 0},   \
	{"tenant", "TENANT", "only this tenant's events", 0},                                  \
	{"subscription", "SUB", "only this subscription's events", 0},                         \
	{"host", "NAME", "only events of this host (its enrolled name)", 0},                                       \
	{"type", "TYPE", "only this event type, e.g. session.start", 0},                       \
	{"request", "REQUEST", "only events of this request", 0},                              \
	{"since", "TIME", "from this RFC 3339 time, or a duration back from now (2h)", 0},      \
	{"until", "TIME", "before this RFC 3339 time, or a duration back from now", 0}

static const struct ctl_opt audit_list_opts[] = {AUDIT_FILTERS, CMD_LIST_OPTS,
						 {NULL, NULL, NULL, 0}};
static const struct ctl_opt audit_export_opts[] = {
	AUDIT_FILTERS,
	{"limit", "N", "events per page fetched (default 200)", 0},
	{NULL, NULL, NULL, 0},
};

const struct ctl_cmd ctl_cmds_audit[] = {
	{"audit list", "[FILTERS]", "list audit events (admins, approvers of the scope)", 0, 0,
	 audit_list_opts, audit_list, 0, NULL},
	{"audit export", "[FILTERS]", "print every matching audit event as JSON lines", 0, 0,
	 audit_export_opts, audit_export, 0,
	 "Fetches all pages; one compact JSON object per line on stdout, a count on stderr."},
	{"audit verify", "", "check the audit hash chain (provider admin, global admin)", 0, 0,
	 NULL, audit_verify, 0, "Exit status 1 if the chain is broken."},
	{NULL, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};
