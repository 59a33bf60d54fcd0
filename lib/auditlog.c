/* lockbox: the host's local append-only audit log and its delivery to the gateway
 * (see include/lockbox/auditlog.h for the file format and the locking protocol). */

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
#include "lockbox/escape.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define CURSOR_SUFFIX ".cursor"
#define CURSOR_LEN 21 /* "%020lld\n" */
#define APPEND_LOCK_MS 3000
/* How long a deliverer waits for another one to finish. The one holding the lock re-reads the
 * log after every batch, so it usually takes our events along; what it misses goes out with
 * the next flush. Waiting longer would only make concurrent logins queue up. */
#define DELIVERY_LOCK_MS 1000

const char *lb_auditlog_strerror(enum lb_auditlog_result r)
{
	switch (r) {
	case LB_AUDITLOG_OK:
		return "ok";
	case LB_AUDITLOG_ERR_ARG:
		return "bad argument";
	case LB_AUDITLOG_ERR_IO:
		return "audit log I/O error";
	case LB_AUDITLOG_ERR_BUSY:
		return "audit log busy";
	case LB_AUDITLOG_ERR_GATEWAY:
		return "gateway did not accept the events";
	case LB_AUDITLOG_ERR_DEADLINE:
		return "deadline passed";
	case LB_AUDITLOG_ERR_INTERNAL:
		return "internal error";
	}
	return "unknown error";
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* flock with a bound: polls LOCK_NB until DEADLINE (monotonic ms). */
static int lock_until(int fd, int op, int64_t deadline)
{
	for (;;) {
		if (flock(fd, op | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (lb_mono_ms() >= deadline) {
			errno = EWOULDBLOCK;
			return -1;
		}
		sleep_ms(5);
	}
}

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

/* Checks an opened log/cursor file: a regular file of ours or root's; fixes its mode. */
static int check_file(int fd, const char *path, char *err, size_t errlen, struct stat *out)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: fstat: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "%s: owned by uid %u, not by root or uid %u", path,
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((st.st_mode & 07777) != 0600 && st.st_uid == geteuid() && fchmod(fd, 0600) != 0) {
		snprintf(err, errlen, "%s: fchmod 0600: %s", path, strerror(errno));
		return -1;
	}
	if (out)
		*out = st;
	return 0;
}

static int make_parent_dir(const char *path, char *err, size_t errlen)
{
	char *dir = strdup(path), *slash;
	int rc = 0;
	if (!dir) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: mkdir: %s", dir, strerror(errno));
			rc = -1;
		}
	}
	free(dir);
	return rc;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* ---- cursor ---- */

static char *cursor_path(const char *path)
{
	size_t n = strlen(path) + sizeof(CURSOR_SUFFIX);
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s", path, CURSOR_SUFFIX);
	return p;
}

static long long read_cursor_fd(int fd)
{
	char buf[CURSOR_LEN + 1];
	ssize_t n = pread(fd, buf, CURSOR_LEN, 0);
	char *end;
	long long v;
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || end == buf || v < 0)
		return 0;
	return v;
}

static int write_cursor_fd_sync(int fd, long long off, int sync)
{
	char buf[CURSOR_LEN + 1];
	snprintf(buf, sizeof(buf), "%020lld\n", off);
	if (pwrite(fd, buf, CURSOR_LEN, 0) != CURSOR_LEN)
		return -1;
	if (ftruncate(fd, CURSOR_LEN) != 0)
		return -1;
	return sync ? fsync(fd) : 0;
}

static int write_cursor_fd(int fd, long long off)
{
	return write_cursor_fd_sync(fd, off, 1);
}

/* Reads the cursor without taking the delivery lock (for listing). */
static long long peek_cursor(const char *path)
{
	char *cp = cursor_path(path);
	long long v = 0;
	int fd;
	if (!cp)
		return 0;
	fd = open(cp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		v = read_cursor_fd(fd);
		close(fd);
	}
	free(cp);
	return v;
}

/* Lines of events the gateway already holds are appended without fsync, and their cursor
 * step is not synced either, so a crash may keep a cursor that points past the end of what
 * reached the disk. Lines appended after that would then count as delivered and never be
 * sent. Every append holds the log's lock, so the first one after such a crash sees the
 * cursor past the end and sets it back to 0, the rule a flush applies to a replaced log:
 * everything is sent again, and the gateway drops what it already holds by id. CFD is the
 * cursor file when the caller holds it, or -1. */
static void cursor_clamp(const char *path, int cfd, off_t size)
{
	char *cp = NULL;
	int fd = cfd;

	if (fd < 0) {
		if (!(cp = cursor_path(path)))
			return;
		fd = open(cp, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		free(cp);
		if (fd < 0)
			return; /* no cursor: nothing counts as delivered */
	}
	if (read_cursor_fd(fd) > (long long)size)
		(void)write_cursor_fd(fd, 0);
	if (fd != cfd)
		close(fd);
}

/* fsync of PATH's directory, so that a file made there survives a crash. */
static void sync_parent_dir(const char *path)
{
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		int dfd;
		*(slash == dir ? slash + 1 : slash) = '\0';
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	free(dir);
}

/* Appends one event line; *START and *END (may be NULL) get the offsets of that line. SYNC:
 * fsync it (the only copy of an event) or not (the gateway holds it already). CFD: the
 * cursor file if the caller holds it open, or -1. */
static enum lb_auditlog_result append_line(const char *path, const json_t *event, char *err,
					   size_t errlen, off_t *start, off_t *end, int sync,
					   int cfd)
{
	enum lb_auditlog_result res = LB_AUDITLOG_ERR_IO;
	struct stat st;
	char *line = NULL;
	size_t len;
	int fd = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path || !event || !event_valid(event)) {
		snprintf(err, errlen, "event needs a UUID id, a time and a type");
		return LB_AUDITLOG_ERR_ARG;
	}
	/* compact JSON has no raw newline (strings escape them), so one event is one line */
	line = json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS);
	if (!line) {
		snprintf(err, errlen, "out of memory");
		return LB_AUDITLOG_ERR_INTERNAL;
	}
	len = strlen(line);
	if (len > LB_AUDITLOG_MAX_LINE) {
		snprintf(err, errlen, "event too large (%zu bytes)", len);
		res = LB_AUDITLOG_ERR_ARG;
		goto out;
	}
	line[len] = '\n'; /* json_dumps' NUL becomes the newline; we write len + 1 bytes */

	/* O_RDWR, not O_WRONLY: the last byte is read back to repair a torn line */
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0 && errno == ENOENT) {
		if (make_parent_dir(path, err, errlen) != 0)
			goto out;
		fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
			  0600);
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
		goto out;
	}
	if (check_file(fd, path, err, errlen, NULL) != 0)
		goto out;
	if (lock_until(fd, LOCK_EX, lb_mono_ms() + APPEND_LOCK_MS) != 0) {
		snprintf(err, errlen, "%s: lock: %s", path, strerror(errno));
		res = LB_AUDITLOG_ERR_BUSY;
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: fstat: %s", path, strerror(errno));
		goto out;
	}
	cursor_clamp(path, cfd, st.st_size);
	if (st.st_size > 0) {
		/* a torn write (crash mid-line) must not glue onto our event */
		char last;
		if (pread(fd, &last, 1, st.st_size - 1) != 1) {
			snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (last != '\n' && write_all(fd, "\n", 1) != 0) {
			snprintf(err, errlen, "%s: write: %s", path, strerror(errno));
			goto out;
		}
	}
	if (start) {
		/* O_APPEND writes at the end, which is ours while we hold the lock */
		*start = lseek(fd, 0, SEEK_END);
		*end = *start + (off_t)len + 1;
	}
	if (write_all(fd, line, len + 1) != 0 || (sync && fsync(fd) != 0)) {
		snprintf(err, errlen, "%s: write: %s", path, strerror(errno));
		goto out;
	}
	if (sync && st.st_size == 0)
		sync_parent_dir(path); /* a new file: its directory entry too */
	res = LB_AUDITLOG_OK;
out:
	if (fd >= 0)
		close(fd); /* releases the lock */
	free(line);
	return res;
}

enum lb_auditlog_result lb_auditlog_append(const char *path, const json_t *event, char *err,
					   size_t errlen)
{
	return append_line(path, event, err, errlen, NULL, NULL, 1, -1);
}

enum lb_auditlog_result lb_auditlog_append_unsynced(const char *path, const json_t *event,
						    char *err, size_t errlen)
{
	return append_line(path, event, err, errlen, NULL, NULL, 0, -1);
}

enum lb_auditlog_result lb_auditlog_sync(const char *path, char *err, size_t errlen)
{
	int fd;

	if (err && errlen)
		err[0] = '\0';
	/* fsync flushes the file whatever the fd's mode */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
		return LB_AUDITLOG_ERR_IO;
	}
	if (check_file(fd, path, err, errlen, NULL) != 0) {
		close(fd);
		return LB_AUDITLOG_ERR_IO;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "%s: fsync: %s", path, strerror(errno));
		close(fd);
		return LB_AUDITLOG_ERR_IO;
	}
	close(fd);
	/* and its directory entry, for a log the unsynced append created (cheap when clean) */
	sync_parent_dir(path);
	return LB_AUDITLOG_OK;
}

enum lb_auditlog_result lb_auditlog_append_delivered(const char *path, const json_t *event,
						     char *err, size_t errlen)
{
	enum lb_auditlog_result res;
	char *cp = cursor_path(path);
	off_t start = -1, end = -1;
	int cfd = -1;

	/* no fsync anywhere here: the gateway holds this event durably already (it decided and
	 * recorded it), so a login does not wait for the host's disk; a line lost in a crash
	 * is the host's copy only, and cursor_clamp keeps a cursor that outlived it from
	 * hiding later events */
	if (!cp)
		return append_line(path, event, err, errlen, NULL, NULL, 0, -1);
	cfd = open(cp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (cfd < 0 && errno == ENOENT && make_parent_dir(path, err, errlen) == 0)
		cfd = open(cp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	/* holding the delivery lock keeps a flush from moving the cursor under us; if someone
	 * is delivering, append plainly: the event then goes out again as a harmless duplicate */
	if (cfd < 0 || check_file(cfd, cp, err, errlen, NULL) != 0 ||
	    lock_until(cfd, LOCK_EX, lb_mono_ms() + 50) != 0) {
		if (cfd >= 0)
			close(cfd);
		free(cp);
		return append_line(path, event, err, errlen, NULL, NULL, 0, -1);
	}
	res = append_line(path, event, err, errlen, &start, &end, 0, cfd);
	/* only when nothing was pending before it may the cursor step over our own line */
	if (res == LB_AUDITLOG_OK && start >= 0 && read_cursor_fd(cfd) == (long long)start)
		/* no fsync: a cursor lost in a crash only re-sends an event the gateway
		 * keeps once by id; one that outlives our line is clamped (cursor_clamp) */
		(void)write_cursor_fd_sync(cfd, (long long)end, 0);
	close(cfd);
	free(cp);
	return res;
}

/* ---- reading ---- */

/* Opens the log for reading; 1 = opened, 0 = no log, -1 = error. */
static int open_log_read(const char *path, FILE **fp, off_t *size, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
		return -1;
	}
	if (check_file(fd, path, err, errlen, &st) != 0) {
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
	cursor = peek_cursor(path);
	rc = open_log_read(path, &fp, &size, err, errlen);
	if (rc <= 0)
		return rc == 0 ? LB_AUDITLOG_OK : LB_AUDITLOG_ERR_IO;
	if (cursor > (long long)size)
		cursor = 0; /* the log was replaced: nothing of it counts as delivered */
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

/* ---- delivery (not in the PAM module: lockbox-agent delivers) ---- */
#ifndef LB_AUDITLOG_NO_FLUSH

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

static void gateway_error(const struct lb_http_response *r, char *err, size_t errlen)
{
	char why[64], code[64] = "", msg[160] = "";
	json_t *j = lb_json_parse_object(r->body, r->len, why, sizeof(why));
	if (j) {
		json_t *e = json_object_get(j, "error");
		lb_sanitize_text(lb_json_str(e, "code"), code, sizeof(code));
		lb_sanitize_text(lb_json_str(e, "message"), msg, sizeof(msg));
		json_decref(j);
	}
	snprintf(err, errlen, "gateway answered HTTP %ld%s%s%s%s", r->status, code[0] ? " " : "",
		 code, msg[0] ? ": " : "", msg);
}

enum lb_auditlog_result lb_auditlog_flush(const char *path, const char *gateway_url,
					  const struct lb_http_opts *o, int64_t budget_ms,
					  struct lb_auditlog_flush_stats *stats, char *err,
					  size_t errlen)
{
	struct lb_auditlog_flush_stats st_local = {0};
	struct lb_auditlog_flush_stats *st = stats ? stats : &st_local;
	enum lb_auditlog_result res = LB_AUDITLOG_OK;
	int64_t deadline = lb_mono_ms() + (budget_ms > 0 ? budget_ms : 5000);
	char url[2048];
	char *cpath = NULL, *line = NULL;
	size_t cap = 0, max = LB_AUDITLOG_BATCH;
	struct batch b = {0};
	FILE *fp = NULL;
	off_t size;
	long long cursor = 0;
	int cfd = -1, rc;

	memset(st, 0, sizeof(*st));
	if (err && errlen)
		err[0] = '\0';
	if (!path || !gateway_url || !o) {
		snprintf(err, errlen, "missing argument");
		return LB_AUDITLOG_ERR_ARG;
	}
	if (lb_url_join(url, sizeof(url), gateway_url, "/v1/audit/events") != 0) {
		snprintf(err, errlen, "gateway URL too long");
		return LB_AUDITLOG_ERR_ARG;
	}
	cpath = cursor_path(path);
	b.events = json_array();
	if (!cpath || !b.events) {
		snprintf(err, errlen, "out of memory");
		res = LB_AUDITLOG_ERR_INTERNAL;
		goto out;
	}
	rc = open_log_read(path, &fp, &size, err, errlen);
	if (rc <= 0) {
		res = rc == 0 ? LB_AUDITLOG_OK : LB_AUDITLOG_ERR_IO;
		goto out;
	}
	cfd = open(cpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (cfd < 0) {
		snprintf(err, errlen, "%s: open: %s", cpath, strerror(errno));
		res = LB_AUDITLOG_ERR_IO;
		goto out;
	}
	if (check_file(cfd, cpath, err, errlen, NULL) != 0) {
		res = LB_AUDITLOG_ERR_IO;
		goto out;
	}
	/* one deliverer at a time; the others wait a little, within their own deadline */
	if (lock_until(cfd, LOCK_EX,
		       deadline < lb_mono_ms() + DELIVERY_LOCK_MS ? deadline
								: lb_mono_ms() + DELIVERY_LOCK_MS) != 0) {
		snprintf(err, errlen, "%s: another process is delivering events", cpath);
		res = LB_AUDITLOG_ERR_BUSY;
		goto out;
	}
	cursor = read_cursor_fd(cfd);
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

	for (;;) {
		struct lb_http_opts ho = *o;
		struct lb_http_response r = {0};
		enum lb_http_result hr;
		char herr[256];
		char *body;
		json_t *wrap;
		int64_t left;

		json_array_clear(b.events);
		if (read_batch(fp, (off_t)cursor, max, &b, &line, &cap) != 0) {
			snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
			res = LB_AUDITLOG_ERR_IO;
			break;
		}
		if (json_array_size(b.events) == 0) {
			if (b.end > (off_t)cursor) {
				/* only malformed lines: step over them */
				st->skipped += b.skipped;
				cursor = (long long)b.end;
				if (write_cursor_fd(cfd, cursor) != 0) {
					snprintf(err, errlen, "%s: write: %s", cpath,
						 strerror(errno));
					res = LB_AUDITLOG_ERR_IO;
					break;
				}
				continue;
			}
			break; /* all delivered */
		}
		left = deadline - lb_mono_ms();
		if (left <= 0) {
			snprintf(err, errlen, "deadline passed with events still to deliver");
			res = LB_AUDITLOG_ERR_DEADLINE;
			break;
		}
		ho.timeout_ms = left;
		if (ho.max_body == 0)
			ho.max_body = 16 * 1024;
		wrap = json_pack("{sO}", "events", b.events);
		body = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
		json_decref(wrap);
		if (!body) {
			snprintf(err, errlen, "out of memory");
			res = LB_AUDITLOG_ERR_INTERNAL;
			break;
		}
		hr = lb_http_request(&ho, "POST", url, body, &r, herr, sizeof(herr));
		free(body);
		if (hr != LB_HTTP_OK) {
			snprintf(err, errlen, "%s", herr);
			res = LB_AUDITLOG_ERR_GATEWAY;
			break;
		}
		st->sent += json_array_size(b.events);
		if (r.status >= 200 && r.status < 300) {
			char why[64];
			json_t *j = lb_json_parse_object(r.body, r.len, why, sizeof(why));
			int64_t v;
			if (j && lb_json_int(j, "accepted", &v) == 0 && v >= 0)
				st->accepted += (size_t)v;
			if (j && lb_json_int(j, "duplicates", &v) == 0 && v >= 0)
				st->duplicates += (size_t)v;
			json_decref(j);
		} else if ((r.status == 400 || r.status == 422 || r.status == 413) &&
			   json_array_size(b.events) > 1) {
			/* find the bad one: go on one event at a time */
			max = 1;
			lb_http_response_free(&r);
			continue;
		} else if (r.status == 400 || r.status == 422 || r.status == 413) {
			/* the gateway will never take this one: skip it (it stays in the local
			 * log) rather than block every later event */
			st->rejected++;
			gateway_error(&r, err, errlen);
		} else {
			gateway_error(&r, err, errlen);
			lb_http_response_free(&r);
			res = LB_AUDITLOG_ERR_GATEWAY;
			break;
		}
		lb_http_response_free(&r);
		st->skipped += b.skipped; /* counted once the cursor passes them */
		cursor = (long long)b.end;
		if (write_cursor_fd(cfd, cursor) != 0) {
			snprintf(err, errlen, "%s: write: %s", cpath, strerror(errno));
			res = LB_AUDITLOG_ERR_IO;
			break;
		}
	}
	if (fp) {
		/* count what is left (cheap: usually nothing) */
		size_t left = 0;
		off_t pos = (off_t)cursor;
		if (fseeko(fp, pos, SEEK_SET) == 0) {
			ssize_t n;
			while ((n = next_line(fp, &line, &cap)) > 0)
				left++;
		}
		st->pending = left;
	}
out:
	if (cfd >= 0)
		close(cfd); /* releases the delivery lock */
	if (fp)
		fclose(fp);
	json_decref(b.events);
	free(line);
	free(cpath);
	return res;
}
#endif /* LB_AUDITLOG_NO_FLUSH */
