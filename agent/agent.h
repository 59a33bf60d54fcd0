/* lockbox-agent: what the agent's files share. */
#ifndef LOCKBOX_AGENT_H
#define LOCKBOX_AGENT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "lockbox/agentproto.h"
#include "lockbox/hostconf.h"
#include "lockbox/http.h"

#define AGENT_STATE_DIR "/var/lib/lockbox/agent"
#define AGENT_MAX_WORKERS 64   /* module questions answered at once */
#define AGENT_POOL 8           /* kept-alive gateway connections for checks */
#define AGENT_MAX_SESSIONS 4096
#define AGENT_MAX_PIDS 256     /* processes of one session tracked for SIGKILL */

struct agent_pid {
	int pid;
	unsigned long long start; /* /proc/PID/stat starttime: guards against PID reuse */
};

struct agent_session {
	char id[40];
	char user[256];
	char service[64];
	char rhost[256];
	char tty[72];
	char request[80];
	char decision_id[40];
	struct agent_pid leader;   /* the process that opened the PAM session */
	int spare_sid;             /* the login session of the leader's parent (the daemon) */
	int64_t started_ms;
	int64_t grant_end_ms;      /* when the grant ends (min of grant and elevation) */
	int warned;                /* the warn_before notice was written */
	int closed;                /* the module's session close arrived */
	/* ending it */
	int prechecked;            /* asked the gateway shortly before the grant's end */
	int64_t term_ms;           /* SIGTERM due, wall clock, a moment after the terminal
				    * notice (0: not ending) */
	char term_reason[64];
	int termed;                /* SIGTERM sent */
	int killed;                /* SIGKILL sent */
	struct agent_pid procs[AGENT_MAX_PIDS]; /* the tree seen at SIGTERM and since */
	size_t nprocs;
};

struct agent {
	struct lb_hostconf conf;
	const char *state_dir;
	int foreground;
	char *token;
	char host_name[256];        /* the enrolled name (host_id, or the gateway's word) */
	pthread_mutex_t host_lock;

	/* upstream (agent_upstream.c) */
	pthread_mutex_t pool_lock;
	struct lb_http_client *pool[AGENT_POOL];
	size_t npool;
	_Atomic int gateway_ok;     /* the last request got an answer */
	_Atomic long long change_version;

	/* sessions (agent_sessions.c) */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct agent_session *sessions;
	size_t nsessions;
	int recheck_all;            /* the gateway signalled a change */
	int recheck_running;        /* a batch of re-checks is out (one at a time) */
#define AGENT_MAX_LOGIND 64
	int logind[AGENT_MAX_LOGIND]; /* leaders whose logind session is to be terminated */
	size_t nlogind;

	/* delivery (agent_deliver.c) */
	pthread_mutex_t deliver_lock;
	pthread_cond_t deliver_wake;
	int deliver_now;

	_Atomic int stopping;
	_Atomic int workers;
};

/* agent_upstream.c: the gateway. */
int agent_upstream_init(struct agent *ag);
void agent_upstream_free(struct agent *ag);
/* POST /v1/check for USER/SERVICE (SESSION: a re-check of a live session, or NULL), within
 * TIMEOUT_MS. Always fills A: the gateway's decision, or a deny the agent made itself
 * (at_gateway = 0) saying why the gateway could not decide. */
void agent_check(struct agent *ag, const char *user, const char *service, const char *rhost,
		 const char *tty, const char *session, int64_t timeout_ms,
		 struct lb_check_answer *a);
/* The change long-poll loop (a thread). */
void *agent_changes_thread(void *arg);
/* The enrolled host name for answers ("" while unknown). */
void agent_host_name(struct agent *ag, char *out, size_t len);

/* agent_socket.c: the module's questions. */
int agent_socket_open(struct agent *ag, int *fd);
struct agent_listener {
	struct agent *ag;
	int fd;
};
void *agent_accept_thread(void *arg /* struct agent_listener * */);

/* agent_sessions.c: the live-session table. */
int agent_sessions_load(struct agent *ag);
/* Registers a session; 0, or -1 with ERR. */
int agent_session_open(struct agent *ag, const json_t *q, int peer_pid, char *err, size_t errlen);
/* The module closed session ID; 0 found, -1 unknown. */
int agent_session_close(struct agent *ag, const char *id);
json_t *agent_sessions_json(struct agent *ag);
void agent_sessions_recheck_all(struct agent *ag);
void *agent_sessions_thread(void *arg);

/* agent_deliver.c: the local audit log to the gateway. */
void *agent_deliver_thread(void *arg);
void agent_deliver_kick(struct agent *ag);

/* agent_events.c: host events (syslog line + local audit log). */
void agent_event(struct agent *ag, const char *type, const char *id, const char *user,
		 const char *request, json_t *details /* stolen */, int at_gateway);

#endif
