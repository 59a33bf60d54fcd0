/* lockbox: what the two daemons (lockbox-gatewayd, lockbox-agent) share: logging to stderr in
 * the foreground, to syslog once detached, or to a log file that SIGHUP reopens; detaching
 * that reports start-up failures in the starting process's exit code. (No pid file: under
 * systemd both run in the foreground.) */
#ifndef LOCKBOX_DAEMON_H
#define LOCKBOX_DAEMON_H

#include <syslog.h>

/* IDENT is kept (not copied). Until lb_log_detached, lines go to stderr; when stderr is the
 * journal ($JOURNAL_STREAM names it) each line starts with its "<N>" priority instead of a
 * timestamp (sd-daemon(3)), so journald keeps the priority and adds the time itself. */
void lb_log_init(const char *ident);
/* From now on lines go to syslog (facility FACILITY, e.g. LOG_DAEMON). */
void lb_log_detached(int facility);
void lb_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* From now on lines go to the file PATH (appended; made 0640 minus the umask), one whole
 * line per write with a UTC timestamp, instead of stderr, the journal or syslog: a daemon's
 * `log_file`. Call it before threads start. 0, or -1 with errno (nothing changes). */
int lb_log_open(const char *path);
/* Reopens the lb_log_open file at its path, for logrotate's postrotate (SIGHUP): lines
 * logged until the swap went to the renamed file, later ones to the new one, none lost.
 * Safe while other threads log. 0 (also without a log file), or -1 with errno: the old file
 * stays in use. */
int lb_log_reopen(void);

/* Forks before any thread starts: the parent waits until the child calls lb_daemon_ready
 * (exit 0) or dies or gives up (exit 1), so a bad config or a socket in use shows on the
 * terminal and in the exit code. In the child: *READY_FD is set, the session is new.
 * Returns 0 in the child, -1 on error (the parent never returns). */
int lb_daemon_detach(int *ready_fd);
/* The child serves: stdio to /dev/null, cwd /, release the parent. */
void lb_daemon_ready(int ready_fd);

/* Tells the service manager STATE ("READY=1", "STOPPING=1", "STATUS=...") through
 * $NOTIFY_SOCKET (the sd_notify protocol, spoken directly: no libsystemd needed). A no-op
 * without $NOTIFY_SOCKET. Returns 1 if sent, 0 if there is no manager to tell, -1 on error. */
int lb_daemon_notify(const char *state);

#endif
