/* lockbox: the host's local audit log: events as jansson objects, reading, and delivery to
 * the gateway (see include/lockbox/auditlog.h for the file format and the locking protocol;
 * appending lines is lib/auditappend.c, which the PAM module links without jansson). */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lockbox/auditlog.h"
#include "auditlog_int.h"
#include "lockbox/escape.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

/* How long a deliverer waits for another one to finish. The one holding the lock re-reads the
 * log after every batch, so it usually takes our events along; what it misses goes out with
 * the next flush. Waiting longer would only make concurrent logins queue up. */
#define DELIVERY_LOCK_MS 1000

json_t *lb_audit_event_new(const char *type, const char *id, int64_t time_ms, const char *actor,
			   const char *request, json_t *details)
{
	char uuid[37];
	json_t *e;

	if (!type || (id && !lb_uuid_valid(id))) {
		json_decref(details);
		return NULL;
	}
	if (!id) {
		if (lb_uuid4(uuid, sizeof(uuid)) != 0) {
			json_decref(details);
			return NULL;
		}
		id = uuid;
	}
	e = json_object();
	if (!e) {
		json_decref(details);
		return NULL;
	}
	if (json_object_set_new(e, "id", json_string(id)) ||
	    lb_json_set_time(e, "time", time_ms > 0 ? time_ms : lb_time_now_ms()) ||
	    json_object_set_new(e, "type", json_string(type)) ||
	    lb_json_set_str_or_null(e, "actor", actor) ||
	    lb_json_set_str_or_null(e, "request", request) ||
	    json_object_set_new(e, "details", details ? details : json_object())) {
		json_decref(e);
		return NULL;
	}
	return e;
}

static int event_valid(const json_t *ev)
{
	const char *id = lb_json_str(ev, "id");
	return json_is_object(ev) && id && lb_uuid_valid(id) && lb_json_str(ev, "time") &&
	       lb_json_str(ev, "type");
}

/* Reads the cursor without taking the delivery lock (for listing). */
static void peek_cursor(const char *path, struct lb_auditlog_cursor *c)
{
	char *cp = lb_auditlog_cursor_path(path);
	int fd;
	c->off = 0;
	c->ino = 0;
	if (!cp)
		return;
	fd = open(cp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		lb_auditlog_cursor_get(fd, c);
		close(fd);
	}
	free(cp);
}

/* The event as one line: compact JSON (no raw newline: strings escape them), keys sorted. */
static enum lb_auditlog_result append_event(const char *path, const json_t *event,
					    enum lb_auditlog_mode mode, char *err, size_t errlen)
{
	enum lb_auditlog_result r;
	char *line;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path || !event || !event_valid(event)) {
		snprintf(err, errlen, "event needs a UUID id, a time and a type");
		return LB_AUDITLOG_ERR_ARG;
	}
	line = json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS);
	if (!line) {
		snprintf(err, errlen, "out of memory");
		return LB_AUDITLOG_ERR_INTERNAL;
	}
	r = lb_auditlog_append_line(path, line, strlen(line), mode, err, errlen);
	free(line);
	return r;
}

enum lb_auditlog_result lb_auditlog_append(const char *path, const json_t *event, char *err,
					   size_t errlen)
{
	return append_event(path, event, LB_AUDITLOG_DURABLE, err, errlen);
}

enum lb_auditlog_result lb_auditlog_append_delivered(const char *path, const json_t *event,
						     char *err, size_t errlen)
{
	return append_event(path, event, LB_AUDITLOG_DELIVERED, err, errlen);
}

/* ---- reading ---- */

/* Opens the log for reading; 1 = opened, 0 = no log, -1 = error. */
static int open_log_read(const char *path, FILE **fp, off_t *size, unsigned long long *ino,
			 char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
		return -1;
	}
	if (lb_auditlog_check_file(fd, path, err, errlen, &st) != 0) {
		close(fd);
		return -1;
	}
	*fp = fdopen(fd, "r");
	if (!*fp) {
		snprintf(err, errlen, "%s: fdopen: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	*size = st.st_size;
	*ino = (unsigned long long)st.st_ino;
	return 1;
}

/* Reads the next complete line at *OFF; returns its length including '\n', 0 at the end (or
 * when only an incomplete last line is left), -1 on error. *LINE is getline's buffer. */
static ssize_t next_line(FILE *fp, char **line, size_t *cap)
{
	ssize_t n = getline(line, cap, fp);
	if (n <= 0)
		return ferror(fp) ? -1 : 0;
	if ((*line)[n - 1] != '\n')
		return 0; /* being written right now, or torn: not ours yet */
	(*line)[n - 1] = '\0';
	return n;
}

enum lb_auditlog_result lb_auditlog_foreach(const char *path, lb_auditlog_cb cb, void *arg,
					    char *err, size_t errlen)
{
	FILE *fp = NULL;
	char *line = NULL;
	size_t cap = 0;
	off_t size, off = 0;
	struct lb_auditlog_cursor c;
	unsigned long long ino;
	long long cursor;
	ssize_t n;
	int rc;
	enum lb_auditlog_result res = LB_AUDITLOG_OK;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !cb) {
		snprintf(err, errlen, "missing argument");
		return LB_AUDITLOG_ERR_ARG;
	}
	peek_cursor(path, &c);
	rc = open_log_read(path, &fp, &size, &ino, err, errlen);
	if (rc <= 0)
		return rc == 0 ? LB_AUDITLOG_OK : LB_AUDITLOG_ERR_IO;
	/* a cursor in a log rotated away, or past the end of a replaced one: nothing of this
	 * log counts as delivered */
	cursor = lb_auditlog_cursor_in(&c, ino) && c.off <= (long long)size ? c.off : 0;
	while ((n = next_line(fp, &line, &cap)) > 0) {
		char why[128];
		json_t *ev;
		off += n;
		ev = lb_json_parse_object(line, strlen(line), why, sizeof(why));
		if (!ev)
			continue;
		if (event_valid(ev) && cb(ev, (long long)off <= cursor, arg) != 0) {
			json_decref(ev);
			break;
		}
		json_decref(ev);
	}
	if (n < 0) {
		snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
		res = LB_AUDITLOG_ERR_IO;
	}
	free(line);
	fclose(fp);
	return res;
}

static int count_pending(const json_t *ev, int delivered, void *arg)
{
	(void)ev;
	if (!delivered)
		(*(size_t *)arg)++;
	return 0;
}

enum lb_auditlog_result lb_auditlog_pending(const char *path, size_t *pending, char *err,
					    size_t errlen)
{
	*pending = 0;
	return lb_auditlog_foreach(path, count_pending, pending, err, errlen);
}

/* ---- delivery ---- */

struct batch {
	json_t *events;   /* array */
	size_t bytes;     /* of the serialized lines */
	off_t end;        /* offset just past the last line taken (valid or skipped) */
	size_t skipped;
};

/* Fills B from offset START with at most MAX events; stops at the end of the file. */
static int read_batch(FILE *fp, off_t start, size_t max, struct batch *b, char **line,
		      size_t *cap)
{
	ssize_t n;
	b->end = start;
	b->bytes = 0;
	b->skipped = 0;
	if (fseeko(fp, start, SEEK_SET) != 0)
		return -1;
	while (json_array_size(b->events) < max) {
		char why[128];
		json_t *ev;
		n = next_line(fp, line, cap);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if (json_array_size(b->events) > 0 && b->bytes + (size_t)n > LB_AUDITLOG_MAX_BODY)
			break; /* this line starts the next batch */
		b->end += n;
		ev = lb_json_parse_object(*line, strlen(*line), why, sizeof(why));
		if (!ev || !event_valid(ev)) {
			json_decref(ev);
			b->skipped++;
			continue;
		}
		b->bytes += (size_t)n;
		json_array_append_new(b->events, ev);
	}
	return 0;
}

/* What one flush carries from one log file to the next. */
struct flush {
	const struct lb_http_opts *o;
	struct lb_gwlist *gw;
	char *cpath;
	int cfd;          /* the cursor, locked */
	int64_t deadline;
	size_t max;       /* events per batch */
	struct batch b;
	char *line;       /* getline's buffer */
	size_t cap;
	struct lb_auditlog_flush_stats *st;
};

/* Delivers FP (the log FPATH, inode INO) from *CURSOR to its end, moving the cursor after
 * each batch the gateway accepted. */
static enum lb_auditlog_result deliver_from(struct flush *f, FILE *fp, const char *fpath,
					    unsigned long long ino, long long *cursor, char *err,
					    size_t errlen)
{
	for (;;) {
		struct lb_http_opts ho = *f->o;
		struct lb_http_response r = {0};
		enum lb_http_result hr;
		char herr[1024];
		char *body;
		json_t *wrap;
		int64_t left;

		json_array_clear(f->b.events);
		if (read_batch(fp, (off_t)*cursor, f->max, &f->b, &f->line, &f->cap) != 0) {
			snprintf(err, errlen, "%s: read: %s", fpath, strerror(errno));
			return LB_AUDITLOG_ERR_IO;
		}
		if (json_array_size(f->b.events) == 0) {
			if (f->b.end > (off_t)*cursor) {
				/* only malformed lines: step over them */
				f->st->skipped += f->b.skipped;
				*cursor = (long long)f->b.end;
				if (lb_auditlog_cursor_put(f->cfd, *cursor, ino, 1) != 0) {
					snprintf(err, errlen, "%s: write: %s", f->cpath,
						 strerror(errno));
					return LB_AUDITLOG_ERR_IO;
				}
				continue;
			}
			return LB_AUDITLOG_OK; /* all delivered */
		}
		left = f->deadline - lb_mono_ms();
		if (left <= 0) {
			snprintf(err, errlen, "deadline passed with events still to deliver");
			return LB_AUDITLOG_ERR_DEADLINE;
		}
		if (ho.timeout_ms <= 0 || ho.timeout_ms > left)
			ho.timeout_ms = left;
		if (ho.max_body == 0)
			ho.max_body = 16 * 1024;
		wrap = json_pack("{sO}", "events", f->b.events);
		body = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
		json_decref(wrap);
		if (!body) {
			snprintf(err, errlen, "out of memory");
			return LB_AUDITLOG_ERR_INTERNAL;
		}
		hr = lb_gw_request(f->gw, &ho, 0, "POST", "/v1/audit/events", body, &r, NULL, herr,
				   sizeof(herr));
		free(body);
		if (hr != LB_HTTP_OK) {
			snprintf(err, errlen, "%s", herr);
			return LB_AUDITLOG_ERR_GATEWAY;
		}
		f->st->sent += json_array_size(f->b.events);
		if (r.status >= 200 && r.status < 300) {
			char why[64];
			json_t *j = lb_json_parse_object(r.body, r.len, why, sizeof(why));
			int64_t v;
			if (j && lb_json_int(j, "accepted", &v) == 0 && v >= 0)
				f->st->accepted += (size_t)v;
			if (j && lb_json_int(j, "duplicates", &v) == 0 && v >= 0)
				f->st->duplicates += (size_t)v;
			json_decref(j);
		} else if ((r.status == 400 || r.status == 422 || r.status == 413) &&
			   json_array_size(f->b.events) > 1) {
			/* find the bad one: go on one event at a time */
			f->max = 1;
			lb_http_response_free(&r);
			continue;
		} else if (r.status == 400 || r.status == 422 || r.status == 413) {
			/* the gateway will never take this one: skip it (it stays in the local
			 * log) rather than block every later event */
			f->st->rejected++;
			lb_http_error_text(&r, err, errlen);
			f->st->http_status = r.status;
		} else {
			lb_http_error_text(&r, err, errlen);
			f->st->http_status = r.status;
			lb_http_response_free(&r);
			return LB_AUDITLOG_ERR_GATEWAY;
		}
		lb_http_response_free(&r);
		f->st->skipped += f->b.skipped; /* counted once the cursor passes them */
		*cursor = (long long)f->b.end;
		if (lb_auditlog_cursor_put(f->cfd, *cursor, ino, 1) != 0) {
			snprintf(err, errlen, "%s: write: %s", f->cpath, strerror(errno));
			return LB_AUDITLOG_ERR_IO;
		}
	}
}

/* The log at PATH was rotated since the cursor was written (its inode is another): deliver
 * what is left of the rotated log first (logrotate renames it PATH.1, keeping its inode;
 * docs: lockbox-agent(8) "Log rotation"). Returns OK when the cursor may move to the new
 * log. */
static enum lb_auditlog_result deliver_rotated(struct flush *f, const char *path,
					       const struct lb_auditlog_cursor *c, char *err,
					       size_t errlen)
{
	enum lb_auditlog_result res = LB_AUDITLOG_OK;
	unsigned long long ino = 0;
	long long cursor = c->off;
	size_t n = strlen(path) + 3;
	char *old = malloc(n);
	FILE *fp = NULL;
	off_t size;
	int rc;

	if (!old) {
		snprintf(err, errlen, "out of memory");
		return LB_AUDITLOG_ERR_INTERNAL;
	}
	snprintf(old, n, "%s.1", path);
	rc = open_log_read(old, &fp, &size, &ino, err, errlen);
	if (rc < 0) {
		res = LB_AUDITLOG_ERR_IO;
	} else if (rc == 0 || ino != c->ino) {
		/* gone (compressed or removed while events were pending): what was past the
		 * cursor in it cannot be sent any more; say so, and go on with the new log */
		f->st->rotated_lost = 1;
		snprintf(err, errlen, "%s was rotated and %s is not the log the delivery cursor "
			 "was in: events past byte %lld of that log were not delivered", path, old,
			 c->off);
	} else if (cursor <= (long long)size) {
		res = deliver_from(f, fp, old, ino, &cursor, err, errlen);
	}
	if (fp)
		fclose(fp);
	free(old);
	return res;
}

enum lb_auditlog_result lb_auditlog_flush(const char *path, struct lb_gwlist *gw,
					  const struct lb_http_opts *o, int64_t budget_ms,
					  struct lb_auditlog_flush_stats *stats, char *err,
					  size_t errlen)
{
	struct lb_auditlog_flush_stats st_local = {0};
	struct flush f = {.o = o, .gw = gw, .cfd = -1, .max = LB_AUDITLOG_BATCH};
	enum lb_auditlog_result res = LB_AUDITLOG_OK;
	struct lb_auditlog_cursor c;
	unsigned long long ino = 0;
	FILE *fp = NULL;
	off_t size;
	long long cursor = 0;
	int rc;

	f.st = stats ? stats : &st_local;
	f.deadline = lb_mono_ms() + (budget_ms > 0 ? budget_ms : 5000);
	memset(f.st, 0, sizeof(*f.st));
	if (err && errlen)
		err[0] = '\0';
	if (!path || !gw || gw->n == 0 || !o) {
		snprintf(err, errlen, "missing argument");
		return LB_AUDITLOG_ERR_ARG;
	}
	f.cpath = lb_auditlog_cursor_path(path);
	f.b.events = json_array();
	if (!f.cpath || !f.b.events) {
		snprintf(err, errlen, "out of memory");
		res = LB_AUDITLOG_ERR_INTERNAL;
		goto out;
	}
	rc = open_log_read(path, &fp, &size, &ino, err, errlen);
	if (rc <= 0) {
		res = rc == 0 ? LB_AUDITLOG_OK : LB_AUDITLOG_ERR_IO;
		goto out;
	}
	f.cfd = open(f.cpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (f.cfd < 0) {
		snprintf(err, errlen, "%s: open: %s", f.cpath, strerror(errno));
		res = LB_AUDITLOG_ERR_IO;
		goto out;
	}
	if (lb_auditlog_check_file(f.cfd, f.cpath, err, errlen, NULL) != 0) {
		res = LB_AUDITLOG_ERR_IO;
		goto out;
	}
	/* one deliverer at a time; the others wait a little, within their own deadline */
	if (lb_auditlog_lock_until(f.cfd, LOCK_EX,
				   f.deadline < lb_mono_ms() + DELIVERY_LOCK_MS
					   ? f.deadline
					   : lb_mono_ms() + DELIVERY_LOCK_MS) != 0) {
		snprintf(err, errlen, "%s: another process is delivering events", f.cpath);
		res = LB_AUDITLOG_ERR_BUSY;
		goto out;
	}
	lb_auditlog_cursor_get(f.cfd, &c);
	if (!lb_auditlog_cursor_in(&c, ino)) {
		res = deliver_rotated(&f, path, &c, err, errlen);
		if (res != LB_AUDITLOG_OK)
			goto out;
		/* the rotated log is done: the new one from its start */
		if (lb_auditlog_cursor_put(f.cfd, 0, ino, 1) != 0) {
			snprintf(err, errlen, "%s: write: %s", f.cpath, strerror(errno));
			res = LB_AUDITLOG_ERR_IO;
			goto out;
		}
		c.off = 0;
	}
	cursor = c.off;
	{
		/* the size now, not when the log was opened: while we waited for the lock,
		 * another deliverer may have sent lines appended since (and moved the cursor
		 * past our old size), which is no sign of a replaced log */
		struct stat now;
		if (fstat(fileno(fp), &now) == 0)
			size = now.st_size;
	}
	if (cursor > (long long)size) {
		/* the log was replaced or truncated: send it all again; the gateway drops
		 * whatever it already has by id */
		cursor = 0;
	}
	res = deliver_from(&f, fp, path, ino, &cursor, err + strnlen(err, errlen),
			   errlen - strnlen(err, errlen));
	{
		/* count what is left (cheap: usually nothing) */
		size_t left = 0;
		if (fseeko(fp, (off_t)cursor, SEEK_SET) == 0)
			while (next_line(fp, &f.line, &f.cap) > 0)
				left++;
		f.st->pending = left;
	}
out:
	if (f.cfd >= 0)
		close(f.cfd); /* releases the delivery lock */
	if (fp)
		fclose(fp);
	json_decref(f.b.events);
	free(f.line);
	free(f.cpath);
	return res;
}
