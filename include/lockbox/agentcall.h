/* lockbox: the local protocol between pam_lockbox.so (and `lockboxctl host`) and
 * lockbox-agent, over the UNIX stream socket `agent_socket`.
 *
 * One question per connection: the client sends one JSON object on one line (at most
 * LB_AGENT_MAX_MSG bytes, ending in '\n'), the agent answers one JSON object on one line and
 * closes. Both ends check the peer with SO_PEERCRED: only root (or the other end's own uid)
 * may ask, and the module only believes an agent running as root (or as itself).
 *
 *   {"op":"check", "user", "service", "rhost"?, "tty"?}
 *       -> a check answer: {"decision", "reason", "message", "request", "decision_id",
 *          "grant_expires_at", "user", "host", "at_gateway", "recorded"?, "error"?}
 *          (recorded: the agent decided from the grants it holds and has written the
 *          access.check event to the local audit log itself; the module must not again)
 *   {"op":"session_open", "session", "user", "service", "rhost"?, "tty"?, "decision_id",
 *    "request", "grant_expires_at"}  (the session's process is the caller: SO_PEERCRED pid)
 *       -> {"ok": true} or {"ok": false, "error"}
 *   {"op":"session_close", "session"}  -> {"ok": true|false}
 *   {"op":"status"}  -> {"ok": true, "host", "gateway_url" (the gateway in use),
 *                        "gateway_urls" (all, config order), "gateway_ok", "change_version",
 *                        "grants", "sessions": [...]}
 */
#ifndef LOCKBOX_AGENTCALL_H
#define LOCKBOX_AGENTCALL_H

/* The module's side of it needs no jansson (include/lockbox/jsonflat.h says why): this
 * header and lib/agentcall.c. The daemons' jansson helpers are in agentproto.h. */

#include <stddef.h>
#include <stdint.h>

#include "lockbox/jsonflat.h"

#define LB_AGENT_MAX_MSG (8 * 1024)

enum lb_agent_result {
	LB_AGENT_OK = 0,
	LB_AGENT_ERR_CONNECT,  /* no socket, refused, not a socket */
	LB_AGENT_ERR_PEER,     /* the socket's owner is not root (nor us) */
	LB_AGENT_ERR_TIMEOUT,  /* the deadline passed */
	LB_AGENT_ERR_PROTOCOL, /* garbage, too large, duplicate keys, not an object, closed early */
	LB_AGENT_ERR_INTERNAL, /* out of memory */
};

const char *lb_agent_strerror(enum lb_agent_result r);

/* Sends QUESTION (one line of QLEN bytes ending in '\n') to the agent at SOCKET_PATH and reads
 * its one-line answer within TIMEOUT_MS (one deadline for connect, send and the whole
 * answer) into ANSWER (CAP bytes, at least LB_AGENT_MAX_MSG + 1), NUL-terminated and without
 * its '\n'; *ALEN gets its length. Every fd is close-on-exec and closed on return; no signal
 * disposition is touched (MSG_NOSIGNAL). */
enum lb_agent_result lb_agent_ask(const char *socket_path, const char *question, size_t qlen,
				  int64_t timeout_ms, char *answer, size_t cap, size_t *alen,
				  char *err, size_t errlen);

/* The uid and pid of the peer of a connected UNIX socket; 0 or -1. */
int lb_agent_peer(int fd, unsigned *uid, int *pid);

/* A decision as the agent hands it to the module (and as the gateway answers /v1/check),
 * every field checked: the untrusted answer is either fully formed or refused. */
struct lb_check_answer {
	int allow;
	char reason[64];           /* [a-z0-9_] */
	char message[256];         /* sanitized text for the user */
	char request[80];          /* the request id, or "" */
	char decision_id[40];      /* a UUID */
	char grant_expires_at[40]; /* RFC 3339, or "" */
	char access[16];           /* the access type the service maps to (ssh, rdp), or "" */
	char user[256];            /* the user it decided for, or "" when not echoed */
	char host[256];            /* the host it decided for, or "" when not echoed */
	int at_gateway;            /* the gateway made it (and holds its audit event) */
	int recorded;              /* the agent made it and wrote its access.check event to
				    * the local audit log (durable before the session opens) */
	char error[384];           /* why, for a deny the agent made itself */
};

/* Fills A from the answer O. Returns 0, or -1 with WHY (a malformed answer never becomes an
 * allow). */
int lb_check_answer_parse_flat(const struct lb_jflat *o, struct lb_check_answer *a, char *why,
			       size_t whylen);
/* The answer object for A as one line of JSON in BUF (no newline): its length, or -1 when
 * it did not fit. What the agent sends the module. */
long lb_check_answer_line(const struct lb_check_answer *a, char *buf, size_t cap);

#endif
