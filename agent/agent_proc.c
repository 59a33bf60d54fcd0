/* lockbox-agent: the processes of a session, from /proc: start times (a PID is only the same
 * process while its start time is), the tree under the process that opened the session plus
 * everything left in the login sessions (setsid) of that tree, and the session's terminals. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_proc.h"

int agent_proc_stat(int pid, struct agent_procinfo *pi)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: fields start after the last ')' */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -1;
	{
		char state;
		int ppid, pgrp, sid;
		unsigned long long start;
		/* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime
		 * stime cutime cstime priority nice num_threads itrealvalue starttime */
		if (sscanf(p + 2,
			   "%c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			   &state, &ppid, &pgrp, &sid, &start) != 5)
			return -1;
		pi->pid = pid;
		pi->ppid = ppid;
		pi->sid = sid;
		pi->start = start;
		pi->zombie = state == 'Z' || state == 'X';
	}
	return 0;
}

int agent_proc_alive(int pid, unsigned long long start)
{
	struct agent_procinfo pi;
	return pid > 1 && agent_proc_stat(pid, &pi) == 0 && pi.start == start && !pi.zombie;
}

/* Every process on the system (bounded), for one pass over the tree. */
static size_t all_procs(struct agent_procinfo *v, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while (n < max && (e = readdir(d))) {
		char *end;
		long pid;
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 1 || pid > 0x7fffffff)
			continue;
		if (agent_proc_stat((int)pid, &v[n]) == 0 && !v[n].zombie)
			n++;
	}
	closedir(d);
	return n;
}

static int have(const struct agent_procinfo *set, size_t n, int pid)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].pid == pid)
			return 1;
	return 0;
}

size_t agent_proc_tree(int leader, unsigned long long start, int spare_sid,
		       struct agent_procinfo *out, size_t max)
{
	enum { ALL = 32768 };
	struct agent_procinfo *all = malloc(ALL * sizeof(*all));
	int sids[64];
	size_t nall, n = 0, nsids = 0;
	int self_sid = getsid(0);

	if (!all)
		return 0;
	nall = all_procs(all, ALL);
	/* the tree under the leader, if the leader is still the process that opened it */
	for (size_t i = 0; i < nall && n < max; i++)
		if (all[i].pid == leader && all[i].start == start)
			out[n++] = all[i];
	for (size_t k = 0; k < n && n < max; k++)
		for (size_t i = 0; i < nall && n < max; i++)
			if (all[i].ppid == out[k].pid && !have(out, n, all[i].pid))
				out[n++] = all[i];
	/* what the tree's login sessions still hold after their parents went (nohup, &):
	 * never the session of the daemon that opened it (sshd, xrdp-sesman) nor our own */
	for (size_t k = 0; k < n && nsids < 64; k++) {
		int sid = out[k].sid, dup = 0;
		if (sid <= 1 || sid == spare_sid || sid == self_sid)
			continue;
		for (size_t j = 0; j < nsids; j++)
			dup |= sids[j] == sid;
		if (!dup)
			sids[nsids++] = sid;
	}
	for (size_t i = 0; i < nall && n < max; i++)
		for (size_t j = 0; j < nsids; j++)
			if (all[i].sid == sids[j] && !have(out, n, all[i].pid)) {
				out[n++] = all[i];
				break;
			}
	free(all);
	return n;
}

size_t agent_proc_terminals(const struct agent_procinfo *procs, size_t n, char (*out)[64],
			    size_t max)
{
	size_t nt = 0;
	for (size_t i = 0; i < n; i++) {
		for (int fdn = 0; fdn <= 2; fdn++) {
			char link[64], target[64];
			ssize_t len;
			int dup = 0;
			snprintf(link, sizeof(link), "/proc/%d/fd/%d", procs[i].pid, fdn);
			len = readlink(link, target, sizeof(target) - 1);
			if (len <= 0)
				continue;
			target[len] = '\0';
			if (strncmp(target, "/dev/pts/", 9) != 0 && strncmp(target, "/dev/tty", 8) != 0)
				continue;
			for (size_t j = 0; j < nt; j++)
				dup |= strcmp(out[j], target) == 0;
			if (!dup && nt < max)
				snprintf(out[nt++], 64, "%s", target);
		}
	}
	return nt;
}

void agent_proc_notice(const char *tty, const char *text)
{
	struct stat st;
	int fd = open(tty, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	/* a terminal, never a file someone linked there */
	if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode)) {
		ssize_t w = write(fd, text, strlen(text));
		(void)w;
	}
	close(fd);
}

int agent_proc_signal(int pid, unsigned long long start, int sig)
{
	/* the start time is checked right before the signal: a reused PID is left alone */
	if (pid <= 1 || pid == getpid() || !agent_proc_alive(pid, start))
		return -1;
	return kill(pid, sig);
}
