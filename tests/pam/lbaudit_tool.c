/* tests/pam: a command line around liblockbox's host audit log, for the concurrency and
 * delivery tests in test_auditlog.py.
 *
 *   lbaudit_tool append PATH N TAG        append N session.start events (details: tag, i)
 *   lbaudit_tool flush PATH URL TOKENFILE BUDGET_MS [CA]
 *                                          deliver; prints the stats; exit = result code
 *   lbaudit_tool list PATH                 "ID TYPE delivered|pending" per event
 *   lbaudit_tool pending PATH              the number of undelivered events */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/auditlog.h"
#include "lockbox/util.h"

static int list_cb(const json_t *ev, int delivered, void *arg)
{
	(void)arg;
	printf("%s %s %s\n", json_string_value(json_object_get(ev, "id")),
	       json_string_value(json_object_get(ev, "type")), delivered ? "delivered" : "pending");
	return 0;
}

static char *read_token(const char *path)
{
	char buf[512];
	FILE *f = fopen(path, "re");
	size_t n;
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

int main(int argc, char **argv)
{
	char err[512];
	enum lb_auditlog_result r;

	if (argc >= 5 && strcmp(argv[1], "append") == 0) {
		int n = atoi(argv[3]);
		for (int i = 0; i < n; i++) {
			json_t *ev = lb_audit_event_new(
				"session.start", NULL, 0, "eng", NULL,
				json_pack("{sssi}", "tag", argv[4], "i", i));
			r = lb_auditlog_append(argv[2], ev, err, sizeof(err));
			json_decref(ev);
			if (r != LB_AUDITLOG_OK) {
				fprintf(stderr, "append: %s: %s\n", lb_auditlog_strerror(r), err);
				return 1;
			}
		}
		return 0;
	}
	if (argc >= 6 && strcmp(argv[1], "flush") == 0) {
		struct lb_http_opts o = {0};
		struct lb_auditlog_flush_stats st;
		struct lb_gwlist gw;
		char *tok = read_token(argv[4]);
		if (lb_gwlist_parse(&gw, argv[3], err, sizeof(err)) != 0) {
			fprintf(stderr, "flush: %s\n", err);
			free(tok);
			return 2;
		}
		o.bearer = tok;
		o.ca_file = argc > 6 ? argv[6] : NULL;
		r = lb_auditlog_flush(argv[2], &gw, &o, atoll(argv[5]), &st, err, sizeof(err));
		lb_gwlist_free(&gw);
		printf("result=%s sent=%zu accepted=%zu duplicates=%zu rejected=%zu skipped=%zu "
		       "pending=%zu rotated_lost=%d err=%s\n",
		       lb_auditlog_strerror(r), st.sent, st.accepted, st.duplicates, st.rejected,
		       st.skipped, st.pending, st.rotated_lost, err);
		free(tok);
		return (int)r;
	}
	if (argc >= 3 && strcmp(argv[1], "list") == 0) {
		r = lb_auditlog_foreach(argv[2], list_cb, NULL, err, sizeof(err));
		if (r != LB_AUDITLOG_OK)
			fprintf(stderr, "list: %s: %s\n", lb_auditlog_strerror(r), err);
		return (int)r;
	}
	if (argc >= 3 && strcmp(argv[1], "pending") == 0) {
		size_t n;
		r = lb_auditlog_pending(argv[2], &n, err, sizeof(err));
		if (r != LB_AUDITLOG_OK) {
			fprintf(stderr, "pending: %s: %s\n", lb_auditlog_strerror(r), err);
			return (int)r;
		}
		printf("%zu\n", n);
		return 0;
	}
	fprintf(stderr, "usage: see the header of lbaudit_tool.c\n");
	return 2;
}
