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
/* PATH.cursor (malloc'ed), its value (0 when unreadable), and writing it (fsync'ed if SYNC). */
char *lb_auditlog_cursor_path(const char *path);
long long lb_auditlog_cursor_read(int fd);
int lb_auditlog_cursor_write(int fd, long long off, int sync);

#endif
