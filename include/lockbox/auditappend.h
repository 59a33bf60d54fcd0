/* lockbox: appending one event line to the host's local audit log, without jansson (the PAM
 * module links only this part; include/lockbox/jsonflat.h says why). The file format, the
 * locking and the delivery cursor are described in include/lockbox/auditlog.h. */
#ifndef LOCKBOX_AUDITAPPEND_H
#define LOCKBOX_AUDITAPPEND_H

#include <stddef.h>

/* Largest event line accepted by append (bytes of JSON). */
#define LB_AUDITLOG_MAX_LINE (16 * 1024)

enum lb_auditlog_result {
	LB_AUDITLOG_OK = 0,
	LB_AUDITLOG_ERR_ARG,     /* bad argument or malformed event */
	LB_AUDITLOG_ERR_IO,      /* open/lock/write/fsync failed, or unsafe file (not regular,
				  * wrong owner, symlink) */
	LB_AUDITLOG_ERR_BUSY,    /* another process held the delivery lock until the deadline */
	LB_AUDITLOG_ERR_GATEWAY, /* transport error or a non-2xx answer; events stay pending */
	LB_AUDITLOG_ERR_DEADLINE,/* delivered some, the deadline passed before the rest */
	LB_AUDITLOG_ERR_INTERNAL,/* out of memory */
};

const char *lb_auditlog_strerror(enum lb_auditlog_result r);

enum lb_auditlog_mode {
	/* fsync'ed before the call returns: the only copy of an event */
	LB_AUDITLOG_DURABLE = 0,
	/* not yet durable: the caller makes it so with lb_auditlog_sync before anything depends
	 * on it (the agent answers a login first and syncs right after) */
	LB_AUDITLOG_UNSYNCED,
	/* an event the gateway already holds (an access.check event whose id is the gateway's
	 * decision_id): not fsync'ed, and when nothing else is pending the delivery cursor steps
	 * over it, so no request re-sends it. A cursor that outlives the line in a crash is set
	 * back to 0 by the next append (everything is re-sent; nothing later counts as
	 * delivered). */
	LB_AUDITLOG_DELIVERED,
};

/* Appends LINE (LEN bytes: one event as compact JSON, {"id", "time", "type", ...}, without a
 * newline) to the log at PATH, creating the file (0600) and, if missing, its directory
 * (0700). The caller vouches for the JSON; a line that is not one object on one line is
 * refused. */
enum lb_auditlog_result lb_auditlog_append_line(const char *path, const char *line, size_t len,
						enum lb_auditlog_mode mode, char *err,
						size_t errlen);

/* An append handle for a process that appends often (lockbox-agent's decisions, one per login):
 * the log stays open between appends, so an append costs a stat of PATH, the lock, and the
 * write (LB_AUDITLOG_UNSYNCED: the caller syncs, lb_auditlog_sync). A log rotated away,
 * replaced or removed since the last append is seen by that stat, and PATH is opened afresh;
 * the lock and the torn-line repair are those of lb_auditlog_append_line, so appends through
 * a writer and through lb_auditlog_append_line (the PAM module) mix safely. One caller at a
 * time (the caller's lock). */
struct lb_auditlog_writer {
	int fd;
	unsigned long long dev, ino;
	long long last_end; /* where our last line ended (-1: unknown) */
};
void lb_auditlog_writer_init(struct lb_auditlog_writer *w);
enum lb_auditlog_result lb_auditlog_writer_append(struct lb_auditlog_writer *w, const char *path,
						  const char *line, size_t len, char *err,
						  size_t errlen);
void lb_auditlog_writer_close(struct lb_auditlog_writer *w);

/* An event line made without jansson (include/lockbox/jsonflat.h), the shape every event of
 * the log has: {"actor", "details": {...}, "id", "request", "time", "type"}. Begin opens
 * the details object for the caller's members; end closes it and writes the rest (TIME is
 * now) and returns the line's length, or -1 when it did not fit or held invalid UTF-8.
 * ACTOR and REQUEST may be NULL (null). */
struct lb_jw;
void lb_event_line_begin(struct lb_jw *w, char *buf, size_t cap, const char *actor);
long lb_event_line_end(struct lb_jw *w, const char *id, const char *request, const char *type);

/* fsync of the log at PATH: every line appended before the call is durable on return, and so
 * is the file's name in its directory. DIR_INO (may be NULL: always) keeps the inode whose
 * directory entry was last synced, so a caller syncing often fsyncs the directory once per
 * file (after a rotation or the file's creation), not once per call. */
enum lb_auditlog_result lb_auditlog_sync(const char *path, unsigned long long *dir_ino,
					 char *err, size_t errlen);

#endif
