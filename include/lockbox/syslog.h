/* lockbox: one line to the local syslog socket without openlog()/syslog(), which would change
 * the ident and facility of the daemon the PAM module lives in (sshd, xrdp-sesman). */
#ifndef LOCKBOX_SYSLOG_H
#define LOCKBOX_SYSLOG_H

#define LB_SYSLOG_PATH "/dev/log"
#define LB_SYSLOG_LINE_MAX 1900

/* Sends MSG (already escaped; passed as data, never as a format) with priority PRIO
 * (facility | severity) and IDENT[pid] to /dev/log, datagram or stream. Best effort. */
void lb_syslog_send(const char *ident, int prio, const char *msg);

#endif
