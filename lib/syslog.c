/* lockbox: the syslog line writer shared by pam_lockbox.so and lockbox-agent. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lockbox/syslog.h"

/* The line to /dev/log on FD, an unbound datagram socket (closed here), or on a socket of
 * its own when FD < 0. */
static void send_line(int fd, const char *ident, int prio, const char *msg)
{
	struct sockaddr_un sa;
	char buf[LB_SYSLOG_LINE_MAX + 160];
	int n;

	/* No timestamp: the receiver stamps the line when it arrives (journald with its
	 * realtime clock, rsyslog in its configured format, RFC 3339 with the zone in
	 * RSYSLOG_FileFormat). RFC 3164's "Mmm dd hh:mm:ss" has no year and no zone and is local
	 * time; an RFC 5424 header would not be parsed by journald's /dev/log (no identifier). */
	n = snprintf(buf, sizeof(buf), "<%d>%s[%ld]: %s", prio, ident, (long)getpid(), msg);
	if (n < 0)
		goto out;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", LB_SYSLOG_PATH);
	if (fd < 0)
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0 &&
	    errno == EPROTOTYPE) {
		/* a stream /dev/log: messages end with a NUL */
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			(void)send(fd, buf, (size_t)n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
out:
	if (fd >= 0)
		close(fd);
}

void lb_syslog_send(const char *ident, int prio, const char *msg)
{
	send_line(-1, ident, prio, msg);
}

/* One native journal datagram on FD; 0 when journald took it. */
static int send_journal(int fd, const char *ident, int prio, const char *msg, const char *fields,
			size_t flen)
{
	struct sockaddr_un sa;
	char buf[LB_SYSLOG_LINE_MAX + 6 * 1024];
	int n;

	if (strchr(msg, '\n') || strchr(ident, '\n'))
		return -1; /* a newline in a value needs the binary form: not ours to send */
	n = snprintf(buf, sizeof(buf),
		     "PRIORITY=%d\nSYSLOG_FACILITY=%d\nSYSLOG_IDENTIFIER=%s\nSYSLOG_PID=%ld\n"
		     "MESSAGE=%s\n",
		     prio & 7, prio >> 3, ident, (long)getpid(), msg);
	if (n < 0 || (size_t)n + flen >= sizeof(buf))
		return -1;
	memcpy(buf + n, fields, flen);
	n += (int)flen;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", LB_JOURNAL_PATH);
	return sendto(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa,
		      sizeof(sa)) == n ? 0 : -1;
}

void lb_syslog_send_fields(const char *ident, int prio, const char *msg, const char *fields,
			   size_t flen)
{
	/* one datagram socket for both tries: journald's native socket, then /dev/log */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && fields && memchr(fields, '\0', flen) == NULL &&
	    send_journal(fd, ident, prio, msg, fields, flen) == 0) {
		close(fd);
		return;
	}
	send_line(fd, ident, prio, msg);
}
