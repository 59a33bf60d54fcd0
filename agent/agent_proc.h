/* lockbox-agent: processes of a live session (agent_proc.c). */
#ifndef LOCKBOX_AGENT_PROC_H
#define LOCKBOX_AGENT_PROC_H

#include <stddef.h>

struct agent_procinfo {
	int pid, ppid, sid;
	unsigned long long start;
	int zombie;
};

int agent_proc_stat(int pid, struct agent_procinfo *pi);
/* 1 if PID runs and is still the process that started at START. */
int agent_proc_alive(int pid, unsigned long long start);
/* LEADER (if still the same process) and its descendants, then every process left in their
 * login sessions except SPARE_SID's (the daemon's). Returns how many went into OUT. */
size_t agent_proc_tree(int leader, unsigned long long start, int spare_sid,
		       struct agent_procinfo *out, size_t max);
/* The terminals (/dev/pts/N, /dev/ttyN) the processes have on fds 0-2. */
size_t agent_proc_terminals(const struct agent_procinfo *procs, size_t n, char (*out)[64],
			    size_t max);
/* Writes TEXT to the terminal TTY without blocking. */
void agent_proc_notice(const char *tty, const char *text);
/* Signals PID if it is still the process that started at START; 0 or -1. */
int agent_proc_signal(int pid, unsigned long long start, int sig);

/* agent_logind.c: asks systemd-logind to terminate the session PID belongs to. 0 done (its
 * name in SESSION), -1 no logind session or the call failed. */
int agent_logind_terminate(int pid, char *session, size_t len);

#endif
