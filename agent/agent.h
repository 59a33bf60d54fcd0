/* lockbox-agent: what the agent's files share. */
#ifndef LOCKBOX_AGENT_H
#define LOCKBOX_AGENT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "lockbox/agentproto.h"
#include "lockbox/auditappend.h"
#include "lockbox/hostconf.h"
#include "lockbox/http.h"

/* not below /var/lib/lockbox, which lockbox-gatewayd's unit hands to the user lockbox where
 * the gateway runs on the same machine */
#define AGENT_STATE_DIR "/var/lib/lockbox-agent"
#define AGENT_MAX_WORKERS 64   /* module questions answered at once */
/* How long the syncer gathers decisions before one fsync makes them durable (a session of
 * one of them that opens sooner syncs at once: agent_record_wait) */
#define AGENT_SYNC_GATHER_MS 5
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
	char tty[72];              /* PAM_TTY the decision was asked with (re-checks use it) */
	char session_tty[72];      /* PAM_TTY at session open (xrdp-sesman: the X display) */
	char access[16];           /* the access type the gateway decided for, or "" */
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

#define AGENT_MAX_GRANTS 20000

struct agent_grant {
	char user[256];
	char access[16];
	char request[80];
	char expires_at[40];
	int64_t expires_mono; /* the grant's end on the agent's monotonic clock (ms) */
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
	_Atomic int64_t last_change_ms; /* monotonic: the last change the gateway signalled */

	/* the grants answered from (agent_grants.c) */
	struct {
		pthread_mutex_t lock;
		struct agent_grant *v;
		size_t n;
		json_t *services;     /* PAM service -> access type, the gateway's map */
		long long version;
		int valid;            /* fetched after the last signalled change */
		int64_t live_until;   /* monotonic ms: the change signal answered recently */
	} grants;

	/* the agent's own decisions in the local audit log (agent_events.c) */
	struct {
		pthread_mutex_t lock;
		pthread_cond_t cond;             /* CLOCK_MONOTONIC: synced moved */
		pthread_cond_t work;             /* CLOCK_MONOTONIC: something to sync */
		unsigned long long appended;     /* decisions appended */
		unsigned long long synced;       /* of those, durable */
		pthread_mutex_t sync_lock;       /* one lb_auditlog_sync at a time (dir_ino) */
		unsigned long long dir_ino;      /* the log whose directory entry is synced */
		struct lb_auditlog_writer log;   /* under lock: the log kept open for decisions */
	} rec;

	/* sessions (agent_sessions.c) */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct agent_session *sessions;
	size_t nsessions;
	int recheck_all;            /* the gateway signalled a change */
	int persist_failed;         /* the last rewrite of the table failed */
	int64_t persist_ms;         /* monotonic: when it was last rewritten (or tried) */
#define AGENT_PERSIST_PROBE_MS 2000
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

/* The grants of this host (GET /v1/hosts/self/grants) fetched now; 0, or -1 (the held
 * ones are dropped either way). */
int agent_grants_fetch(struct agent *ag, struct lb_http_client *c);

/* agent_grants.c: the grants the agent answers logins from. */
void agent_grants_init(struct agent *ag);
/* Replaces the held grants with the gateway's answer ANS to a question sent at SENT_MONO_MS;
 * 0, or -1 with WHY (nothing held then). */
int agent_grants_set(struct agent *ag, const json_t *ans, int64_t sent_mono_ms, char *why,
		     size_t whylen);
void agent_grants_drop(struct agent *ag);
int agent_grants_valid(struct agent *ag);
/* The change signal answered: the held grants may be used until UNTIL_MONO_MS. */
void agent_grants_live(struct agent *ag, int64_t until_mono_ms);
/* 1 and A filled with an allow (at_gateway = 0) when a current grant covers USER on SERVICE;
 * 0: ask the gateway. */
int agent_grants_decide(struct agent *ag, const char *user, const char *service,
			struct lb_check_answer *a);
/* Whether the current grants hold REQUEST for USER: 1, 0, or -1 (none current). */
int agent_grants_covers(struct agent *ag, const char *user, const char *request);
json_t *agent_grants_json(struct agent *ag);

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
/* Whether a session could be registered now (the table has room and can be saved): asked
 * before a login is decided, so that what would refuse the session at open refuses the login
 * in account instead (xrdp 0.9 has told its client "login successful" before session open).
 * 0, or -1 with ERR. */
int agent_sessions_can_open(struct agent *ag, char *err, size_t errlen);
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

/* Writes the agent's own decision A (made from the held grants) to the local audit log as
 * access.check.*, not yet fsync'ed; 0, or -1 (then the decision must not be used). */
int agent_record_decision(struct agent *ag, const struct lb_check_answer *a, const char *service,
			  const char *rhost, const char *tty, int pid);
/* Makes every decision appended so far durable (fsync). */
int agent_record_sync(struct agent *ag);
/* Tells the syncer thread that decisions wait to be made durable (after their answer). */
void agent_record_kick(struct agent *ag);
/* The syncer thread: fsyncs the agent's decisions soon after their answers went out. */
void *agent_record_syncer(void *arg /* struct agent * */);
/* Waits until every decision appended so far is durable; 0, or -1 after TIMEOUT_MS or when
 * the log cannot be synced. */
int agent_record_wait(struct agent *ag, int64_t timeout_ms);

#endif
