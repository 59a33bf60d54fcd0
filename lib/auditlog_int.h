/* lockbox: what lib/auditappend.c shares with lib/auditlog.c (not installed, not public). */
#ifndef LOCKBOX_AUDITLOG_INT_H
#define LOCKBOX_AUDITLOG_INT_H

#include <stdint.h>
#include <sys/stat.h>

#include "lockbox/auditappend.h"

/* flock with a bound: polls LOCK_NB until DEADLINE (monotonic ms). */
int lb_auditlog_lock_until(int fd, int op, int64_t deadline);
/* Checks an opened log/cursor file: a regular file of ours or root's; fixes its mode. */
int lb_auditlog_check_file(int fd, const char *path, char *err, size_t errlen, struct stat *out);
/* The delivery cursor, PATH.cursor: every event before byte OFF of the log whose inode is INO
 * has been accepted by the gateway. INO 0: a cursor from before inodes were kept, which
 * belongs to whatever log is at PATH. A rotated log keeps its inode under its new name
 * (logrotate's rename), so the rest of it is found and delivered before the new log. */
struct lb_auditlog_cursor {
	long long off;
	unsigned long long ino;
};

/* PATH.cursor (malloc'ed). */
char *lb_auditlog_cursor_path(const char *path);
/* Reads the cursor (0/0 when missing or unreadable). */
void lb_auditlog_cursor_get(int fd, struct lb_auditlog_cursor *c);
/* Writes it (fsync'ed if SYNC). */
int lb_auditlog_cursor_put(int fd, long long off, unsigned long long ino, int sync);
/* 1 when the cursor C is an offset in the log whose inode is INO. */
static inline int lb_auditlog_cursor_in(const struct lb_auditlog_cursor *c, unsigned long long ino)
{
	return c->ino == 0 || c->ino == ino;
}

#endif
