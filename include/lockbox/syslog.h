/* lockbox: one line to the local syslog socket without openlog()/syslog(), which would change
 * the ident and facility of the daemon the PAM module lives in (sshd, xrdp-sesman). */
#ifndef LOCKBOX_SYSLOG_H
#define LOCKBOX_SYSLOG_H

#define LB_SYSLOG_PATH "/dev/log"
/* journald's native socket: structured fields beside the message */
#define LB_JOURNAL_PATH "/run/systemd/journal/socket"
#define LB_SYSLOG_LINE_MAX 1900

/* Sends MSG (already escaped; passed as data, never as a format) with priority PRIO
 * (facility | severity) and IDENT[pid] to /dev/log, datagram or stream. Best effort. */
void lb_syslog_send(const char *ident, int prio, const char *msg);

/* The same line with structured fields: FIELDS (FLEN bytes of "NAME=value\n" lines without
 * newlines in the values, from lb_kv_journal) go to journald's native socket with MESSAGE,
 * PRIORITY, SYSLOG_FACILITY, SYSLOG_IDENTIFIER and SYSLOG_PID, so `journalctl
 * LOCKBOX_REQUEST=req_...` finds a request's events; where journald does not listen (no
 * systemd, a container), the line goes to /dev/log as lb_syslog_send sends it. Either way
 * rsyslog gets the same key=value line (journald forwards it). Best effort. */
void lb_syslog_send_fields(const char *ident, int prio, const char *msg, const char *fields,
			   size_t flen);

#endif
