/* lockbox: daemon plumbing shared by lockbox-gatewayd and lockbox-agent. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lockbox/daemon.h"
#include "lockbox/util.h"

static const char *log_ident = "lockbox";
/* switched once, when a detached daemon starts serving, while other threads may log */
static _Atomic int log_to_syslog;

/* stderr is journald's stream: "<N>" prefixes, no timestamp (journald adds its own) */
static int log_to_journal;

static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void lb_log_init(const char *ident)
{
	log_ident = ident;
	log_to_journal = stderr_is_journal();
}

void lb_log_detached(int facility)
{
	openlog(log_ident, LOG_PID, facility);
	log_to_syslog = 1;
}

void lb_log(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (!log_to_syslog && log_to_journal) {
		char line[2048];
		/* one write per line: journald splits the stream at newlines only */
		vsnprintf(line, sizeof(line), fmt, ap);
		for (char *p = line; *p; p++)
			if (*p == '\n')
				*p = ' ';
		fprintf(stderr, "<%d>%s\n", prio & LOG_PRIMASK, line);
	} else if (!log_to_syslog) {
		char ts[LB_TIME_BUFLEN];
		lb_time_format(lb_time_now_ms(), ts, sizeof(ts));
		fprintf(stderr, "%s %s[%s]: ", ts, log_ident,
			prio <= LOG_ERR ? "error" : prio == LOG_WARNING ? "warning" : "info");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

/* The fork comes before any thread starts: a fork keeps only the calling thread. */
int lb_daemon_detach(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 && c == 'R' ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0) {
		close(p[1]);
		return -1;
	}
	*ready_fd = p[1];
	return 0;
}

void lb_daemon_ready(int ready_fd)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ssize_t n;

	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (chdir("/") != 0) {
		/* harmless: every path a daemon opens from now on is absolute */
	}
	do
		n = write(ready_fd, "R", 1);
	while (n < 0 && errno == EINTR);
	close(ready_fd);
}

int lb_daemon_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len;
	socklen_t salen;
	ssize_t n;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return 0;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* an abstract socket */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	do
		n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == (ssize_t)strlen(state) ? 1 : -1;
}
