/* Unit tests for the host's local audit log: delivered appends step the cursor, and a
 * cursor that outlived its line (a crash after an append that is not fsync'ed) never makes a
 * later event count as delivered. The agent's kept-open writer: appends mixed with the
 * module's, a torn line, a rotation, a replaced file, a truncation under it. */
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

#include "lockbox/auditappend.h"
#include "lockbox/auditlog.h"
#include "lockbox/jsonflat.h"

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

/* One event line as the agent writes it (no jansson). */
static size_t line_of(char *buf, size_t cap, const char *id)
{
	struct lb_jw w;
	long n;
	lb_event_line_begin(&w, buf, cap, "eng");
	lb_jw_str(&w, "user", "eng");
	n = lb_event_line_end(&w, id, NULL, "access.check.allow");
	assert_true(n > 0);
	return (size_t)n;
}

static void test_writer(void **state)
{
	char dir[] = "/tmp/lbtest-auditwriter-XXXXXX", log[512], old[600], err[256], buf[1024];
	const char *ids[] = {"00000000-0000-4000-8000-0000000000a1",
			     "00000000-0000-4000-8000-0000000000a2",
			     "00000000-0000-4000-8000-0000000000a3",
			     "00000000-0000-4000-8000-0000000000a4",
			     "00000000-0000-4000-8000-0000000000a5",
			     "00000000-0000-4000-8000-0000000000a6",
			     "00000000-0000-4000-8000-0000000000a7"};
	struct lb_auditlog_writer w;
	struct seen s;
	size_t n, pending;
	FILE *f;
	json_t *e;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(log, sizeof(log), "%s/sub/audit.log", dir);
	lb_auditlog_writer_init(&w);

	/* made with its directory, 0600 */
	n = line_of(buf, sizeof(buf), ids[0]);
	assert_int_equal(lb_auditlog_writer_append(&w, log, buf, n, err, sizeof(err)),
			 LB_AUDITLOG_OK);
	{
		struct stat st;
		assert_int_equal(stat(log, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
	}
	/* the module appends between two of ours */
	e = event(ids[1], "session.start", 10);
	assert_int_equal(lb_auditlog_append(log, e, err, sizeof(err)), LB_AUDITLOG_OK);
	json_decref(e);
	n = line_of(buf, sizeof(buf), ids[2]);
	assert_int_equal(lb_auditlog_writer_append(&w, log, buf, n, err, sizeof(err)),
			 LB_AUDITLOG_OK);
	/* a torn line (a crash mid-write) does not glue onto our next one */
	f = fopen(log, "a");
	assert_non_null(f);
	fputs("{\"torn\":", f);
	fclose(f);
	n = line_of(buf, sizeof(buf), ids[3]);
	assert_int_equal(lb_auditlog_writer_append(&w, log, buf, n, err, sizeof(err)),
			 LB_AUDITLOG_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(lb_auditlog_foreach(log, collect, &s, err, sizeof(err)), LB_AUDITLOG_OK);
	assert_int_equal(s.n, 4); /* the torn line is skipped, every event is whole */
	assert_string_equal(s.ids[0], ids[0]);
	assert_string_equal(s.ids[1], ids[1]);
	assert_string_equal(s.ids[2], ids[2]);
	assert_string_equal(s.ids[3], ids[3]);

	/* rotated away (renamed): the next append goes to a new log at the path */
	snprintf(old, sizeof(old), "%s.1", log);
	assert_int_equal(rename(log, old), 0);
	n = line_of(buf, sizeof(buf), ids[4]);
	assert_int_equal(lb_auditlog_writer_append(&w, log, buf, n, err, sizeof(err)),
			 LB_AUDITLOG_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(lb_auditlog_foreach(log, collect, &s, err, sizeof(err)), LB_AUDITLOG_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ids[0], ids[4]);
	memset(&s, 0, sizeof(s));
	assert_int_equal(lb_auditlog_foreach(old, collect, &s, err, sizeof(err)), LB_AUDITLOG_OK);
	assert_int_equal(s.n, 4); /* nothing written to the rotated log after its rename */

	/* truncated under the writer with a cursor past the new end: the cursor is set back,
	 * so our next line is not counted as delivered */
	{
		char cp[600];
		snprintf(cp, sizeof(cp), "%s.cursor", log);
		f = fopen(cp, "w");
		assert_non_null(f);
		fprintf(f, "%020lld\n", (long long)file_size(log));
		fclose(f);
	}
	assert_int_equal(truncate(log, 0), 0);
	n = line_of(buf, sizeof(buf), ids[5]);
	assert_int_equal(lb_auditlog_writer_append(&w, log, buf, n, err, sizeof(err)),
			 LB_AUDITLOG_OK);
	assert_int_equal(cursor_of(log), 0);
	assert_int_equal(lb_auditlog_pending(log, &pending, err, sizeof(err)), LB_AUDITLOG_OK);
	assert_int_equal(pending, 1);

	/* replaced by a file of the wrong mode: not written until it is ours again (0600) */
	assert_int_equal(chmod(log, 0644), 0);
	n = line_of(buf, sizeof(buf), ids[6]);
	assert_int_equal(lb_auditlog_writer_append(&w, log, buf, n, err, sizeof(err)),
			 LB_AUDITLOG_OK);
	{
		struct stat st;
		assert_int_equal(stat(log, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600); /* reopened and checked: mode fixed */
	}
	/* replaced by a symlink to a file elsewhere: refused, nothing written through it */
	{
		char other[600];
		snprintf(other, sizeof(other), "%s/elsewhere", dir);
		f = fopen(other, "w");
		assert_non_null(f);
		fclose(f);
		assert_int_equal(unlink(log), 0);
		assert_int_equal(symlink(other, log), 0);
		n = line_of(buf, sizeof(buf), ids[6]);
		assert_int_equal(lb_auditlog_writer_append(&w, log, buf, n, err, sizeof(err)),
				 LB_AUDITLOG_ERR_IO);
		assert_int_equal(file_size(other), 0);
		assert_int_equal(unlink(log), 0);
	}
	/* not one object on one line: refused */
	assert_int_equal(lb_auditlog_writer_append(&w, log, "{\n}", 3, err, sizeof(err)),
			 LB_AUDITLOG_ERR_ARG);
	lb_auditlog_writer_close(&w);
	assert_int_equal(w.fd, -1);

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
		cmocka_unit_test(test_writer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
