/* lockbox: the syslog line writer shared by pam_lockbox.so and lockbox-agent. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lockbox/syslog.h"

void lb_syslog_send(const char *ident, int prio, const char *msg)
{
	struct sockaddr_un sa;
	char buf[LB_SYSLOG_LINE_MAX + 160], ts[32];
	struct tm tm;
	time_t now = time(NULL);
	int n, fd;

	if (!localtime_r(&now, &tm) || strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm) == 0)
		snprintf(ts, sizeof(ts), "Jan  1 00:00:00");
	n = snprintf(buf, sizeof(buf), "<%d>%s %s[%ld]: %s", prio, ts, ident, (long)getpid(),
		     msg);
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
