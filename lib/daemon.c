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

/* The log file (lb_log_open), or -1. Its number never changes once open: a reopen dup3()s
 * the new file onto it, so a thread writing at that moment writes whole lines to either the
 * old file or the new one, with no lock and nothing lost. */
static _Atomic int log_fd = -1;
static char *log_path;

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

static int open_log(const char *path)
{
	/* 0640 (minus the umask): the daemon's own file; O_APPEND keeps each line whole even
	 * when logrotate's copy or another writer shares the file */
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	/* started with stdio closed, it could get 0-2, which lb_daemon_ready points at /dev/null */
	if (fd >= 0 && fd <= STDERR_FILENO) {
		int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		int e = errno;
		close(fd);
		errno = e;
		fd = moved;
	}
	return fd;
}

int lb_log_open(const char *path)
{
	int fd;
	char *copy = strdup(path);

	if (!copy)
		return -1;
	fd = open_log(path);
	if (fd < 0) {
		int e = errno;
		free(copy);
		errno = e;
		return -1;
	}
	free(log_path);
	log_path = copy;
	if (log_fd >= 0) {
		/* a second call: the same swap as a reopen */
		int rc = dup3(fd, log_fd, O_CLOEXEC) < 0 ? -1 : 0;
		int e = errno;
		close(fd);
		errno = e;
		return rc;
	}
	log_fd = fd;
	return 0;
}

int lb_log_reopen(void)
{
	int fd, rc, e;

	if (log_fd < 0 || !log_path)
		return 0;
	fd = open_log(log_path);
	if (fd < 0)
		return -1; /* keep writing to the old file: a full disk must not silence the log */
	rc = dup3(fd, log_fd, O_CLOEXEC) < 0 ? -1 : 0;
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

static const char *prio_name(int prio)
{
	return prio <= LOG_ERR ? "error" : prio == LOG_WARNING ? "warning" : "info";
}

/* One line, one write(2): with O_APPEND it lands whole even while other threads log. */
static void log_file_line(int fd, int prio, const char *fmt, va_list ap)
{
	char line[2048], ts[LB_TIME_BUFLEN];
	int n, m;

	lb_time_format(lb_time_now_ms(), ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "%s %s[%s]: ", ts, log_ident, prio_name(prio));
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m < (int)(sizeof(line) - (size_t)n - 1) ? m : (int)(sizeof(line) - (size_t)n - 2);
	/* a line per event: an embedded newline must not forge a line of its own */
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	for (int off = 0, tries = 0; off < n && tries < 8; tries++) {
		ssize_t w = write(fd, line + off, (size_t)(n - off));
		if (w < 0 && errno != EINTR)
			return;
		if (w > 0)
			off += (int)w;
	}
}

void lb_log(int prio, const char *fmt, ...)
{
	va_list ap;
	int fd = log_fd;
	va_start(ap, fmt);
	if (fd >= 0) {
		log_file_line(fd, prio, fmt, ap);
	} else if (!log_to_syslog && log_to_journal) {
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
		fprintf(stderr, "%s %s[%s]: ", ts, log_ident, prio_name(prio));
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
