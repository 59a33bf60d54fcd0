/* Unit tests for the host's local audit log: delivered appends step the cursor, and a
 * cursor that outlived its line (a crash after an append that is not fsync'ed) never makes a
 * later event count as delivered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockbox/auditlog.h"

struct seen {
	int n;
	char ids[8][40];
	int delivered[8];
};

static int collect(const json_t *ev, int delivered, void *arg)
{
	struct seen *s = arg;
	if (s->n < 8) {
		snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s",
			 json_string_value(json_object_get(ev, "id")));
		s->delivered[s->n] = delivered;
	}
	s->n++;
	return 0;
}

static json_t *event(const char *id, const char *type, size_t pad)
{
	json_t *d = json_object();
	char *p = malloc(pad + 1);
	assert_non_null(p);
	memset(p, 'x', pad);
	p[pad] = '\0';
	json_object_set_new(d, "pad", json_string(p));
	free(p);
	return lb_audit_event_new(type, id, 0, "eng", NULL, d);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static long long cursor_of(const char *log)
{
	char cp[512], buf[64] = {0};
	FILE *f;
	snprintf(cp, sizeof(cp), "%s.cursor", log);
	f = fopen(cp, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return atoll(buf);
}

static void test_delivered_and_crash(void **state)
{
	char dir[] = "/tmp/lbtest-auditlog-XXXXXX", log[512], err[256];
	const char *id1 = "00000000-0000-4000-8000-000000000001";
	const char *id2 = "00000000-0000-4000-8000-000000000002";
	const char *id3 = "00000000-0000-4000-8000-000000000003";
	const char *id4 = "00000000-0000-4000-8000-000000000004";
	struct seen s;
	json_t *e;
	off_t after1;
	size_t pending;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(log, sizeof(log), "%s/sub/audit.log", dir);

	/* two decisions the gateway holds: the cursor steps over both */
	e = event(id1, "access.check.allow", 10);
	assert_int_equal(lb_auditlog_append_delivered(log, e, err, sizeof(err)), LB_AUDITLOG_OK);
	json_decref(e);
	after1 = file_size(log);
	assert_int_equal(cursor_of(log), (long long)after1);
	e = event(id2, "access.check.allow", 10);
	assert_int_equal(lb_auditlog_append_delivered(log, e, err, sizeof(err)), LB_AUDITLOG_OK);
	json_decref(e);
	assert_int_equal(cursor_of(log), (long long)file_size(log));
	assert_int_equal(lb_auditlog_pending(log, &pending, err, sizeof(err)), LB_AUDITLOG_OK);
	assert_int_equal(pending, 0);

	/* the crash: the second line never reached the disk, its cursor step did */
	assert_int_equal(truncate(log, after1), 0);
	assert_true(cursor_of(log) > (long long)after1);

	/* a host event (the only copy), longer than the lost line, so that without the clamp
	 * the old cursor would fall inside it and it would count as delivered */
	e = event(id3, "session.start", 200);
	assert_int_equal(lb_auditlog_append(log, e, err, sizeof(err)), LB_AUDITLOG_OK);
	json_decref(e);
	assert_int_equal(cursor_of(log), 0);

	memset(&s, 0, sizeof(s));
	assert_int_equal(lb_auditlog_foreach(log, collect, &s, err, sizeof(err)), LB_AUDITLOG_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.ids[0], id1);
	assert_string_equal(s.ids[1], id3);
	assert_int_equal(s.delivered[1], 0); /* the session event waits for delivery */
	assert_int_equal(lb_auditlog_pending(log, &pending, err, sizeof(err)), LB_AUDITLOG_OK);
	assert_int_equal(pending, 2); /* both go out again; the gateway drops id1 by id */

	/* with something pending, a delivered append does not step the cursor */
	e = event(id4, "access.check.deny", 10);
	assert_int_equal(lb_auditlog_append_delivered(log, e, err, sizeof(err)), LB_AUDITLOG_OK);
	json_decref(e);
	assert_int_equal(cursor_of(log), 0);
	assert_int_equal(lb_auditlog_pending(log, &pending, err, sizeof(err)), LB_AUDITLOG_OK);
	assert_int_equal(pending, 3);

	/* a cursor within the log is left alone by appends */
	{
		char cp[600];
		FILE *f;
		snprintf(cp, sizeof(cp), "%s.cursor", log);
		f = fopen(cp, "w");
		assert_non_null(f);
		fprintf(f, "%020lld\n", (long long)after1);
		fclose(f);
	}
	e = event("00000000-0000-4000-8000-000000000005", "session.end", 10);
	assert_int_equal(lb_auditlog_append(log, e, err, sizeof(err)), LB_AUDITLOG_OK);
	json_decref(e);
	assert_int_equal(cursor_of(log), (long long)after1);
	assert_int_equal(lb_auditlog_pending(log, &pending, err, sizeof(err)), LB_AUDITLOG_OK);
	assert_int_equal(pending, 3);

	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delivered_and_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
