/* lockbox: the syslog line writer shared by pam_lockbox.so and lockbox-agent. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lockbox/syslog.h"

void lb_syslog_send(const char *ident, int prio, const char *msg)
{
	struct sockaddr_un sa;
	char buf[LB_SYSLOG_LINE_MAX + 160];
	int n, fd;

	/* No timestamp: the receiver stamps the line when it arrives (journald with its
	 * realtime clock, rsyslog in its configured format, RFC 3339 with the zone in
	 * RSYSLOG_FileFormat). RFC 3164's "Mmm dd hh:mm:ss" has no year and no zone and is local
	 * time; an RFC 5424 header would not be parsed by journald's /dev/log (no identifier). */
	n = snprintf(buf, sizeof(buf), "<%d>%s[%ld]: %s", prio, ident, (long)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", LB_SYSLOG_PATH);
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
	if (fd >= 0)
		close(fd);
}
