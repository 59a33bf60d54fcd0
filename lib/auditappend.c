/* lockbox: appending to the host's local audit log, without jansson (the PAM module links
 * this; include/lockbox/auditappend.h). The file format and the locking protocol are in
 * include/lockbox/auditlog.h; delivery and reading are in lib/auditlog.c. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "auditlog_int.h"
#include "lockbox/jsonflat.h"
#include "lockbox/util.h"

#define CURSOR_SUFFIX ".cursor"
/* "%020lld %020llu\n": the offset and the inode of the log it is an offset in (a cursor of
 * 21 bytes, "%020lld\n", predates the inode and belongs to whatever log is there) */
#define CURSOR_LEN 42
#define APPEND_LOCK_MS 3000

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
int lb_auditlog_lock_until(int fd, int op, int64_t deadline)
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

/* Checks an opened log/cursor file: a regular file of ours or root's; fixes its mode. */
int lb_auditlog_check_file(int fd, const char *path, char *err, size_t errlen, struct stat *out)
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

/* Writes the N iovecs (LEN bytes in all) with as few calls as the kernel allows. */
static int writev_all(int fd, struct iovec *iov, int n, size_t len)
{
	while (len) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		len -= (size_t)w;
		while (n && (size_t)w >= iov[0].iov_len) {
			w -= (ssize_t)iov[0].iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov[0].iov_base = (char *)iov[0].iov_base + w;
			iov[0].iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* ---- cursor ---- */

char *lb_auditlog_cursor_path(const char *path)
{
	size_t n = strlen(path) + sizeof(CURSOR_SUFFIX);
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s", path, CURSOR_SUFFIX);
	return p;
}

void lb_auditlog_cursor_get(int fd, struct lb_auditlog_cursor *c)
{
	char buf[CURSOR_LEN + 1], *end;
	ssize_t n = pread(fd, buf, CURSOR_LEN, 0);

	c->off = 0;
	c->ino = 0;
	if (n <= 0)
		return;
	buf[n] = '\0';
	errno = 0;
	c->off = strtoll(buf, &end, 10);
	if (errno || end == buf || c->off < 0) {
		c->off = 0;
		return;
	}
	if (*end == ' ') {
		char *e2;
		unsigned long long ino = strtoull(end + 1, &e2, 10);
		if (!errno && e2 != end + 1 && *e2 == '\n')
			c->ino = ino;
	}
}

int lb_auditlog_cursor_put(int fd, long long off, unsigned long long ino, int sync)
{
	char buf[CURSOR_LEN + 1];
	snprintf(buf, sizeof(buf), "%020lld %020llu\n", off, ino);
	if (pwrite(fd, buf, CURSOR_LEN, 0) != CURSOR_LEN)
		return -1;
	if (ftruncate(fd, CURSOR_LEN) != 0)
		return -1;
	return sync ? fsync(fd) : 0;
}

/* Lines of events the gateway already holds are appended without fsync, and their cursor
 * step is not synced either, so a crash may keep a cursor that points past the end of what
 * reached the disk. Lines appended after that would then count as delivered and never be
 * sent. Every append holds the log's lock, so the first one after such a crash sees the
 * cursor past the end and sets it back to 0, the rule a flush applies to a replaced log:
 * everything is sent again, and the gateway drops what it already holds by id. A cursor in
 * another log (rotated away: lb_auditlog_flush delivers the rest of it first) is left alone.
 * CFD is the cursor file when the caller holds it, or -1. */
static void cursor_clamp(const char *path, int cfd, off_t size, unsigned long long ino)
{
	struct lb_auditlog_cursor c;
	char *cp = NULL;
	int fd = cfd;

	if (fd < 0) {
		if (!(cp = lb_auditlog_cursor_path(path)))
			return;
		fd = open(cp, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		free(cp);
		if (fd < 0)
			return; /* no cursor: nothing counts as delivered */
	}
	lb_auditlog_cursor_get(fd, &c);
	if (lb_auditlog_cursor_in(&c, ino) && c.off > (long long)size)
		(void)lb_auditlog_cursor_put(fd, 0, ino, 1);
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

/* Opens (creating it, and its directory, when missing) and checks the log at PATH. */
static int open_log(const char *path, struct stat *st, char *err, size_t errlen)
{
	int fd;

	/* O_RDWR, not O_WRONLY: the last byte is read back to repair a torn line */
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0 && errno == ENOENT) {
		if (make_parent_dir(path, err, errlen) != 0)
			return -1;
		fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
			  0600);
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
		return -1;
	}
	if (lb_auditlog_check_file(fd, path, err, errlen, st) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#define CURSOR_SKIP (-2) /* append_on's CFD: the cursor is not looked at */

/* Appends LINE (LEN bytes, without its newline) to the open log FD under its lock, which
 * stays held (closing FD, or LOCK_UN, releases it); *START and *END (may be NULL) get the
 * offsets of that line. SYNC: fsync it (the only copy of an event) or not (the gateway holds
 * it already, or the caller syncs later). CFD: the cursor file if the caller holds it open,
 * -1 to open it here, or CURSOR_SKIP to leave the cursor alone (a writer that looked at it
 * when it opened the log). LAST_END (may be NULL): where the caller's previous line ended; a log
 * still ending there ends with that line's newline, so it is not read back. */
static enum lb_auditlog_result append_on(int fd, const char *path, const char *line, size_t len,
					 char *err, size_t errlen, off_t *start, off_t *end,
					 unsigned long long *ino, int sync, int cfd,
					 off_t *last_end)
{
	struct iovec iov[2] = {{(void *)line, len}, {(void *)"\n", 1}};
	struct stat st;

	if (lb_auditlog_lock_until(fd, LOCK_EX, lb_mono_ms() + APPEND_LOCK_MS) != 0) {
		snprintf(err, errlen, "%s: lock: %s", path, strerror(errno));
		return LB_AUDITLOG_ERR_BUSY;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: fstat: %s", path, strerror(errno));
		return LB_AUDITLOG_ERR_IO;
	}
	if (cfd != CURSOR_SKIP || (last_end && *last_end > st.st_size)) /* unless it shrank */
		cursor_clamp(path, cfd == CURSOR_SKIP ? -1 : cfd, st.st_size,
			     (unsigned long long)st.st_ino);
	if (ino)
		*ino = (unsigned long long)st.st_ino;
	if (st.st_size > 0 && !(last_end && *last_end == st.st_size)) {
		/* a torn write (crash mid-line) must not glue onto our event */
		char last;
		if (pread(fd, &last, 1, st.st_size - 1) != 1) {
			snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
			return LB_AUDITLOG_ERR_IO;
		}
		struct iovec nl = {(void *)"\n", 1};
		if (last != '\n' && writev_all(fd, &nl, 1, 1) != 0) {
			snprintf(err, errlen, "%s: write: %s", path, strerror(errno));
			return LB_AUDITLOG_ERR_IO;
		}
		st.st_size += last != '\n';
	}
	if (start) {
		/* O_APPEND writes at the end, which is ours while we hold the lock */
		*start = st.st_size;
		*end = *start + (off_t)len + 1;
	}
	if (writev_all(fd, iov, 2, len + 1) != 0 || (sync && fsync(fd) != 0)) {
		snprintf(err, errlen, "%s: write: %s", path, strerror(errno));
		if (last_end)
			*last_end = -1;
		return LB_AUDITLOG_ERR_IO;
	}
	if (last_end)
		*last_end = st.st_size + (off_t)len + 1;
	if (sync && st.st_size == 0)
		sync_parent_dir(path); /* a new file: its directory entry too */
	return LB_AUDITLOG_OK;
}

static enum lb_auditlog_result append_line(const char *path, const char *line, size_t len,
					   char *err, size_t errlen, off_t *start, off_t *end,
					   unsigned long long *ino, int sync, int cfd)
{
	enum lb_auditlog_result res;
	int fd = open_log(path, NULL, err, errlen);

	if (fd < 0)
		return LB_AUDITLOG_ERR_IO;
	res = append_on(fd, path, line, len, err, errlen, start, end, ino, sync, cfd, NULL);
	close(fd); /* releases the lock */
	return res;
}

/* An event the gateway already holds: when nothing else is pending, the cursor steps over
 * it (auditappend.h). */
static enum lb_auditlog_result append_delivered(const char *path, const char *line, size_t len,
						char *err, size_t errlen)
{
	enum lb_auditlog_result res;
	char *cp = lb_auditlog_cursor_path(path);
	struct lb_auditlog_cursor c;
	off_t start = -1, end = -1;
	unsigned long long ino = 0;
	int cfd = -1;

	/* no fsync anywhere here: the gateway holds this event durably already (it decided and
	 * recorded it), so a login does not wait for the host's disk; a line lost in a crash
	 * is the host's copy only, and cursor_clamp keeps a cursor that outlived it from
	 * hiding later events */
	if (!cp)
		return append_line(path, line, len, err, errlen, NULL, NULL, NULL, 0, -1);
	cfd = open(cp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (cfd < 0 && errno == ENOENT && make_parent_dir(path, err, errlen) == 0)
		cfd = open(cp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	/* holding the delivery lock keeps a flush from moving the cursor under us; if someone
	 * is delivering, append plainly: the event then goes out again as a harmless duplicate */
	if (cfd < 0 || lb_auditlog_check_file(cfd, cp, err, errlen, NULL) != 0 ||
	    lb_auditlog_lock_until(cfd, LOCK_EX, lb_mono_ms() + 50) != 0) {
		if (cfd >= 0)
			close(cfd);
		free(cp);
		return append_line(path, line, len, err, errlen, NULL, NULL, NULL, 0, -1);
	}
	res = append_line(path, line, len, err, errlen, &start, &end, &ino, 0, cfd);
	/* only when nothing was pending before it may the cursor step over our own line */
	if (res == LB_AUDITLOG_OK && start >= 0) {
		lb_auditlog_cursor_get(cfd, &c);
		if (lb_auditlog_cursor_in(&c, ino) && c.off == (long long)start)
			/* no fsync: a cursor lost in a crash only re-sends an event the gateway
			 * keeps once by id; one that outlives our line is clamped */
			(void)lb_auditlog_cursor_put(cfd, (long long)end, ino, 0);
	}
	close(cfd);
	free(cp);
	return res;
}

/* An event line the log accepts: one JSON object on one line, at most the maximum size. */
static int check_line(const char *path, const char *line, size_t len, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path || !line || len < 2 || line[0] != '{' || memchr(line, '\n', len) ||
	    memchr(line, '\0', len)) {
		snprintf(err, errlen, "an event is one JSON object on one line");
		return -1;
	}
	if (len > LB_AUDITLOG_MAX_LINE) {
		snprintf(err, errlen, "event too large (%zu bytes)", len);
		return -1;
	}
	return 0;
}

enum lb_auditlog_result lb_auditlog_append_line(const char *path, const char *line, size_t len,
						enum lb_auditlog_mode mode, char *err,
						size_t errlen)
{
	if (check_line(path, line, len, err, errlen) != 0)
		return LB_AUDITLOG_ERR_ARG;
	switch (mode) {
	case LB_AUDITLOG_DELIVERED:
		return append_delivered(path, line, len, err, errlen);
	case LB_AUDITLOG_UNSYNCED:
		return append_line(path, line, len, err, errlen, NULL, NULL, NULL, 0, -1);
	case LB_AUDITLOG_DURABLE:
		break;
	}
	return append_line(path, line, len, err, errlen, NULL, NULL, NULL, 1, -1);
}

void lb_auditlog_writer_init(struct lb_auditlog_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->last_end = -1;
}

void lb_auditlog_writer_close(struct lb_auditlog_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	lb_auditlog_writer_init(w);
}

enum lb_auditlog_result lb_auditlog_writer_append(struct lb_auditlog_writer *w, const char *path,
						  const char *line, size_t len, char *err,
						  size_t errlen)
{
	enum lb_auditlog_result res;
	struct stat st;
	off_t last_end = (off_t)w->last_end;
	int cfd = CURSOR_SKIP;

	if (check_line(path, line, len, err, errlen) != 0)
		return LB_AUDITLOG_ERR_ARG;
	/* the log we hold is still the one at PATH (not rotated away, replaced, removed, or made
	 * a symlink: lstat, as the open is O_NOFOLLOW) and still a file we may write; otherwise
	 * PATH is opened afresh */
	if (w->fd >= 0 && (lstat(path, &st) != 0 || (unsigned long long)st.st_dev != w->dev ||
			   (unsigned long long)st.st_ino != w->ino || !S_ISREG(st.st_mode) ||
			   (st.st_uid != 0 && st.st_uid != geteuid()) ||
			   (st.st_mode & 07777) != 0600))
		lb_auditlog_writer_close(w);
	/* the first append to a log looks at its cursor (cursor_clamp), later ones need not:
	 * only a crash or a truncation leaves a cursor past the end, and either shows here as
	 * another file or a log shorter than our last line's end */
	if (w->fd < 0) {
		w->fd = open_log(path, &st, err, errlen);
		if (w->fd < 0)
			return LB_AUDITLOG_ERR_IO;
		w->dev = (unsigned long long)st.st_dev;
		w->ino = (unsigned long long)st.st_ino;
		last_end = -1;
		cfd = -1;
	}
	res = append_on(w->fd, path, line, len, err, errlen, NULL, NULL, NULL, 0, cfd, &last_end);
	(void)flock(w->fd, LOCK_UN);
	w->last_end = (long long)last_end;
	if (res != LB_AUDITLOG_OK)
		lb_auditlog_writer_close(w); /* the next append starts over */
	return res;
}

enum lb_auditlog_result lb_auditlog_sync(const char *path, unsigned long long *dir_ino,
					 char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (err && errlen)
		err[0] = '\0';
	/* fsync flushes the file whatever the fd's mode */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
		return LB_AUDITLOG_ERR_IO;
	}
	if (lb_auditlog_check_file(fd, path, err, errlen, &st) != 0) {
		close(fd);
		return LB_AUDITLOG_ERR_IO;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "%s: fsync: %s", path, strerror(errno));
		close(fd);
		return LB_AUDITLOG_ERR_IO;
	}
	close(fd);
	/* and its directory entry, for a log an unsynced append created; once per file */
	if (!dir_ino || *dir_ino != (unsigned long long)st.st_ino) {
		sync_parent_dir(path);
		if (dir_ino)
			*dir_ino = (unsigned long long)st.st_ino;
	}
	return LB_AUDITLOG_OK;
}


void lb_event_line_begin(struct lb_jw *w, char *buf, size_t cap, const char *actor)
{
	lb_jw_init(w, buf, cap);
	lb_jw_str(w, "actor", actor);
	lb_jw_object(w, "details");
}

long lb_event_line_end(struct lb_jw *w, const char *id, const char *request, const char *type)
{
	char now[LB_TIME_BUFLEN];
	lb_time_format(lb_time_now_ms(), now, sizeof(now));
	lb_jw_end(w);
	lb_jw_str(w, "id", id);
	lb_jw_str(w, "request", request);
	lb_jw_str(w, "time", now);
	lb_jw_str(w, "type", type);
	return lb_jw_finish(w);
}
