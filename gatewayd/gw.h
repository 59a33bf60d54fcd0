/* lockbox-gatewayd: what the gateway's files share (config, principal, request context). */
#ifndef LOCKBOX_GW_H
#define LOCKBOX_GW_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "lockbox/config.h"
#include "lockbox/daemon.h"
#include "gw_store.h"

#define GW_ID_LEN 24        /* "req_" + 16 hex + NUL, with room */
#define GW_MAX_ROLES 64     /* role assignments considered per user */
#define GW_MAX_ARGS 2       /* path segments captured by '*' */
#define GW_LIST_DEFAULT 50
#define GW_LIST_MAX 200

struct gw_config {
	char *listen;
	char *tls_cert;
	char *tls_key;
	char *database;
	int64_t pending_ttl;
	int64_t token_ttl; /* user tokens expire this long after they are issued */
	int64_t invitation_ttl; /* an invitation's code works this long after it is mailed */
	int64_t default_grant;
	int64_t max_grant;
	int64_t max_elevation;
	int require_mfa; /* elevations need a TOTP code; requests an elevation made with one */
	int approve_mfa; /* approve, deny and revoke need a TOTP code */
	char *totp_key_file;
	int64_t totp_lockout; /* how long 5 wrong TOTP codes lock a user's TOTP */
	int review_tenant_scope;
	int64_t review_duration_over;
	struct lb_strlist service_map;
	int64_t sweep_interval;
	int64_t session_lost_after; /* after a grant ends, when its unended sessions are lost */
	unsigned long threads;
	unsigned long max_body;
	unsigned long max_connections_per_ip; /* 0: no per-address limit */
	int64_t request_timeout; /* seconds to receive a request's header and body */
	int64_t checkpoint_interval;
	unsigned long checkpoint_every; /* events between checkpoints; 0: by interval only */
	/* notifications */
	char *smtp_url;
	char *smtp_from;
	char *smtp_user;
	char *smtp_password;
	char *smtp_ca_file;
	int smtp_starttls;
	char *console_url;
	char *console_dir; /* the web console's static files (gw_console.c) */
	int64_t console_idle_timeout; /* a console session unused this long ends */
	int64_t console_absolute_timeout; /* a console session ends this long after sign-in */
	struct lb_strlist webhook_url;
	char *webhook_secret;
	unsigned long notify_max_attempts;
	int64_t notify_interval; /* seconds between outbox rounds */
	int64_t notify_backoff;
	char *checkpoint_key_file;
	char *log_file; /* NULL: stderr/the journal (or syslog when detached); SIGHUP reopens it */
};

void gw_config_default(struct gw_config *c);
/* Parses PATH (NULL: defaults only) and validates cross-key rules; 0 or -1 with ERR. */
int gw_config_load(struct gw_config *c, const char *path, char *err, size_t errlen);
void gw_config_free(struct gw_config *c);
/* "ssh"/"rdp" for a PAM service name, or NULL. */
const char *gw_config_access_for_service(const struct gw_config *c, const char *service);

/* In the order of lb_roles (lockbox/vocab.h), which names them. */
enum gw_role {
	GW_ROLE_NONE = 0,
	GW_ROLE_PROVIDER_ADMIN,
	GW_ROLE_ENGINEER,
	GW_ROLE_INTERNAL_APPROVER,
	GW_ROLE_GLOBAL_ADMIN,
	GW_ROLE_LOCKBOX_APPROVER,
	GW_ROLE_OWNER,
	GW_ROLE_CUSTOMER_USER,
};
enum gw_role gw_role_from_name(const char *name);
const char *gw_role_name(enum gw_role r);
int gw_role_is_provider(enum gw_role r);

struct gw_assignment {
	enum gw_role role;
	char tenant[GW_ID_LEN];
	char subscription[GW_ID_LEN];
};

enum gw_principal_kind { GW_P_NONE = 0, GW_P_USER, GW_P_HOST };

struct gw_principal {
	enum gw_principal_kind kind;
	char id[GW_ID_LEN];
	json_t *obj; /* the user or host row */
	int mfa;     /* the token was issued MFA-verified */
	char session[GW_ID_LEN]; /* the console session when signed in by cookie, else "" */
	struct gw_assignment roles[GW_MAX_ROLES]; /* its role assignments (not access grants) */
	size_t nroles;
};

/* Authorization questions, answered from the principal's role assignments (gw_authz.c). */
int gw_is(const struct gw_principal *p, enum gw_role role);
int gw_is_in_tenant(const struct gw_principal *p, enum gw_role role, const char *tenant);
int gw_is_for_subscription(const struct gw_principal *p, enum gw_role role, const char *sub);
/* A set of roles as bits (the route table's "who may call" column): GW_ROLE_BIT(GW_ROLE_OWNER). */
#define GW_ROLE_BIT(r) (1u << (unsigned)(r))
/* Whether P holds at least one of ROLES, in any scope. */
int gw_holds_any(const struct gw_principal *p, unsigned roles);
/* A role held in one scope: the role assignments whose COLUMN ("tenant" or "subscription")
 * is ID. */
struct gw_role_scope {
	enum gw_role role;
	const char *column;
	const char *id; /* points into the request it was made from */
};
#define GW_APPROVER_SCOPES 3
/* The designated-approver rule, once: the role assignments that make someone a designated
 * approver of REQ (DESIGN.md: owners of its subscription for subscription scope, plus the
 * tenant's global admins and lockbox approvers). Fills OUT, returns how many. */
size_t gw_designated_approvers(const json_t *req, struct gw_role_scope out[GW_APPROVER_SCOPES]);
/* Whether P holds one of them. */
int gw_is_designated_approver(const struct gw_principal *p, const json_t *req);
int gw_may_read_request(const struct gw_principal *p, const json_t *req);
int gw_may_read_ticket(const struct gw_principal *p, const json_t *ticket);
int gw_may_read_audit(const struct gw_principal *p, const json_t *ev);

struct gw;
struct gw_req;

/* A long-poll of GET /v1/hosts/self/changes parked until its tenant changes or its wait
 * ends (gw_changes.c). Every field is guarded by the changes lock. */
enum gw_wait_state {
	GW_WAIT_NONE = 0, /* not a parked poll (or answered) */
	GW_WAIT_PARKED,   /* suspended, in the waiters list */
	GW_WAIT_WOKEN,    /* resumed, out of the list: the next handler call answers */
	GW_WAIT_ANSWERED, /* the answer is queued; the completion callback ends it */
};
struct gw_wait {
	enum gw_wait_state state;
	struct gw_req *prev, *next; /* the waiters list, while parked */
	char tenant[GW_ID_LEN];
	int64_t since;    /* the version the host holds */
	int64_t deadline; /* ms, CLOCK_MONOTONIC */
};

/* Per-connection state, freed in the completion callback. */
struct gw_req {
	struct gw *gw;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	char *body;
	size_t body_len;
	int too_big;
	char *args[GW_MAX_ARGS];
	struct gw_principal who;
	char actor[GW_ID_LEN];
	int responded;
	char *set_cookie; /* a Set-Cookie header for a 2xx reply (gw_sessions.c); freed at the end */
	int64_t now; /* request time, ms, gateway clock */
	struct gw_wait wait;
};

struct gw {
	struct gw_config cfg;
	/* this gateway among those sharing a database: its host name and listen address (the
	 * same after a restart, so it can hand back what its previous process claimed) */
	char instance[320];
	/* the checkpoint signing key (EVP_PKEY *, Ed25519), its public half and fingerprint */
	void *ckpt_pkey;
	char *ckpt_pubkey_pem;
	char ckpt_key_fpr[65];
	/* the last checkpoint signed or found stored: the chain may never fall behind it */
	pthread_mutex_t ckpt_lock;
	int64_t ckpt_seq;
	char ckpt_hash[65];
	char ckpt_broken[256]; /* why the chain is broken (""), as the checkpoints found it */
	struct gw_store *store;
	struct MHD_Daemon *mhd;
	int foreground;
	/* the AES-256-GCM key that seals TOTP secrets in the database (gw_totp.c) */
	unsigned char totp_key[32];
	int totp_key_loaded;
};

/* Logging: stderr in the foreground, syslog (daemon) once detached (lib/daemon.c). */
#define gw_log lb_log

/* Replies (gw_http.c). All return MHD_YES/MHD_NO for the access handler. */
enum MHD_Result gw_reply_json(struct gw_req *r, unsigned status, json_t *obj /* stolen */);
enum MHD_Result gw_reply_error(struct gw_req *r, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Maps a store result to a reply (503 busy, 404 not found, 409 conflict...). */
enum MHD_Result gw_reply_db(struct gw_req *r, enum gw_db rc, const char *what);

/* Body parsing: a field spec checked strictly (unknown fields, types, text, lengths). */
enum gw_ftype { GW_F_STR, GW_F_BOOL, GW_F_STRLIST, GW_F_OBJECT, GW_F_ARRAY, GW_F_INT };
struct gw_field {
	const char *name;
	enum gw_ftype type;
	int required;
	size_t maxlen; /* strings: bytes (0 = 256); GW_F_INT: the largest value (from 1) */
};
/* Returns the parsed object, or NULL after replying 400/413. */
json_t *gw_parse_body(struct gw_req *r, const struct gw_field *spec);
/* Query parameters. */
const char *gw_query(struct gw_req *r, const char *key);
/* limit + cursor; NULL after replying 400. */
int gw_parse_page(struct gw_req *r, size_t *limit, int64_t *cursor);
enum MHD_Result gw_reply_page(struct gw_req *r, json_t *items, int64_t next);
/* A paged list of K under the filters, keeping only rows VISIBLE to the caller (NULL: all);
 * reads limit and cursor from the query. */
/* gw_reply_list, with DECORATE adding to the page's ITEMS before they are sent. */
enum MHD_Result gw_reply_list_with(struct gw_req *r, const struct gw_kind *k,
				   const struct gw_filter *f, size_t nf,
				   int (*visible)(const json_t *row, void *principal),
				   void (*decorate)(struct gw_store *s, json_t *items));
enum MHD_Result gw_reply_list(struct gw_req *r, const struct gw_kind *k,
			      const struct gw_filter *f, size_t nf,
			      int (*visible)(const json_t *row, void *principal));
/* The same, filtered by equality on each of KEYS (NULL-terminated) given in the query; each
 * key is also the column's name. */
enum MHD_Result gw_reply_list_by(struct gw_req *r, const struct gw_kind *k,
				 const char *const *keys,
				 int (*visible)(const json_t *row, void *principal));

/* Validation helpers that reply 400 on failure and return -1. */
int gw_want_duration(struct gw_req *r, const char *field, const char *value, int64_t *secs);
int gw_want_time(struct gw_req *r, const char *field, const char *value, char out[32]);

/* Identifiers and tokens. */
void gw_new_id(const char *prefix, char out[GW_ID_LEN]);
/* A new bearer token "PREFIX" + 64 hex into TOKEN (>= 72 bytes), its hash into HASH. */
int gw_new_token(const char *prefix, char *token, size_t len, char hash[65]);
void gw_now_str(const struct gw_req *r, char out[32]);

/* The audit log (gw_audit.c): builds and appends one event in the current transaction. */
struct gw_event {
	const char *type;
	const char *tenant;
	const char *subscription; /* NULL for tenant-level */
	const char *level;        /* NULL: "subscription" if subscription set, else "tenant" */
	const char *actor;
	const char *host;
	const char *request;
	json_t *details; /* stolen; may be NULL */
	const char *id;   /* NULL: a new UUID */
	const char *time; /* NULL: now */
};
/* The secret key files (gw_keyfile.c), KEY naming the config key in messages. Creates PATH
 * holding LEN bytes of DATA, mode 0600: 0, 1 when another gateway made it first (read that
 * one), -1 with ERR. */
int gw_keyfile_create(const char *path, const char *key, const void *data, size_t len,
		      char *err, size_t errlen);
/* Opens PATH for reading once it is a regular file only its owner may read: the fd, -2 when
 * it does not exist, -1 with ERR (IF_READ says what to do if others may have read it). */
int gw_keyfile_open(const char *path, const char *key, const char *if_read, char *err,
		    size_t errlen);
/* Appends E to the audit chain inside T (a write transaction). */
enum gw_db gw_audit_emit(struct gw *gw, struct gw_txn *t, const struct gw_event *e,
			 char id_out[37]);
struct gw_call;
enum gw_db gw_directory_event(struct gw_call *call, const char *type, const char *tenant,
			      json_t *details);

enum gw_db gw_audit_verify_chain(struct gw *gw, json_t **result);
/* Verifies the events after (SEQ, HASH), a checkpoint, up to the head. */
enum gw_db gw_audit_verify_from(struct gw *gw, int64_t seq, const char *hash, json_t **result);
/* Signed audit checkpoints (gw_checkpoint.c). */
#define GW_DEFAULT_CHECKPOINT_KEY "/etc/lockbox/checkpoint.key"
const char *gw_checkpoint_key_path(const struct gw_config *c);
/* Loads the Ed25519 key (CREATE: make it, mode 0600, when missing); 0 or -1 with ERR. */
int gw_checkpoint_key_load(struct gw *gw, int create, char *err, size_t errlen);
void gw_checkpoint_key_free(struct gw *gw);
void gw_checkpoint_init(struct gw *gw);
/* Takes the newest stored checkpoint that verifies as the floor. */
void gw_checkpoint_resume(struct gw *gw);
/* Verifies the chain since the floor and signs, logs and stores its head. */
void gw_checkpoint_run(struct gw *gw, int force);
/* Counts appended events; 1 when checkpoint_every is reached (wake the sweeper). */
int gw_checkpoint_note(unsigned appended);
int gw_checkpoint_due(void);
/* The whole chain and the checkpoint records (GET /v1/audit/verify). */
enum gw_db gw_checkpoint_verify(struct gw *gw, json_t **result);
/* Why the chain is broken, or NULL. */
const char *gw_checkpoint_broken(struct gw *gw, char *buf, size_t len);
/* The sweeper thread (gw_sweeper.c): expiries, ends and the periodic checkpoints. */
int gw_sweeper_start(struct gw *gw);
/* Stops it and waits for its round to end. */
void gw_sweeper_stop(void);
/* Wakes it before its interval (checkpoint_every reached). */
void gw_sweeper_wake(void);
/* Records session.lost for the sessions of REQ whose end the host never sent. */
enum gw_db gw_sessions_reconcile(struct gw *gw, struct gw_txn *t, const json_t *req,
				  const char *why);

/* A handler's call: its request and its reply, made by one store transaction. The body fills
 * OUT or fails with an API error code; the reply is sent only once the transaction's outcome
 * is known. */
struct gw_call {
	struct gw_req *r;
	struct gw_txn *txn; /* the transaction the body runs in (set by gw_call_run) */
	enum gw_db rc;      /* its outcome, once gw_call_run returned */
	json_t *body; /* parsed request body (not owned) */
	json_t *out;  /* reply object (owned; sent on success) */
	const char *err_code;
	char err_msg[384];
	const char *what; /* resource name for not-found replies */
	const void *arg;  /* handler-specific input */
	/* tenants whose change version gw_call_run bumps once the transaction committed (a set,
	 * owned): an agent woken before the commit would re-check, still be allowed, and not
	 * be woken again */
	json_t *changed;
};
typedef enum gw_db (*gw_call_body)(struct gw_call *call);
enum gw_db gw_call_fail(struct gw_call *call, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A refusal that keeps what the body wrote: sets the error like gw_call_fail but returns
 * GW_DB_OK, so that gw_call_run commits and then replies the error (a wrong TOTP code must
 * count although the call it came with fails). The body returns at once after it. */
enum gw_db gw_call_refuse(struct gw_call *call, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum MHD_Result gw_call_run(struct gw_call *call, int write, gw_call_body fn, unsigned ok_status);
/* K's row ID into *OUT (owned; OUT NULL: only that it exists) within CALL's transaction;
 * a missing one fails CALL with not_found ("no tenant ..."). */
enum gw_db gw_call_get(struct gw_call *call, const struct gw_kind *k, const char *id,
		       json_t **out);
/* The usual write handler: the body parsed by SPEC (a bad one is answered), FN run on it in a
 * write transaction, OK_STATUS with its reply; WHAT names the resource in not-found replies. */
enum MHD_Result gw_call_parsed(struct gw_req *r, const struct gw_field *spec, const char *what,
			       gw_call_body fn, unsigned ok_status);

/* The change signal agents long-poll (gw_changes.c, DESIGN.md "Live sessions"): a version
 * per tenant, in memory, that starts at the gateway's start time in ms and grows with every
 * change that may end a live session, so a version from before a restart never matches. */
int gw_changes_start(void);
/* Answers every parked poll and refuses to park new ones; call before MHD_stop_daemon. */
void gw_changes_stop(void);
void gw_changes_bump(const char *tenant);
/* Bumps every tenant of the set TENANTS (tenant id -> anything), once its change committed. */
void gw_changes_bump_set(const json_t *tenants);
/* Announces every tenant of TENANTS to the other gateways inside T (delivered at its commit;
 * nothing for a store one gateway uses). */
enum gw_db gw_changes_announce(struct gw_store *s, struct gw_txn *t, const json_t *tenants);
/* Every tenant changed (another gateway's announcements may have been missed). */
void gw_changes_bump_all(void);
/* TENANT's current version (read it before the data it versions: a change committed after
 * the read moves it, so the reader's next poll answers at once). */
int64_t gw_changes_version(const char *tenant);
/* What changes a tenant, marked inside the transaction that makes the change: every request
 * decision and an approval at create (gw_requests.c), host disable (gw_hosts.c), role
 * removal (gw_users.c); the sweeper bumps after its own commits. A user disable, when it
 * comes, marks gw_call_changed_user_grants like role removal. */
/* Marks TENANT (NULL or "" ignored) as changed by TX; bumped after its commit. */
void gw_call_changed(struct gw_call *call, const char *tenant);
/* Marks the tenants where USER holds an approved grant. */
enum gw_db gw_call_changed_user_grants(struct gw_call *call, const char *user);
/* The access handler's calls for a parked poll: the answer after resume, the cleanup. */
enum MHD_Result gw_changes_answer(struct gw_req *r);
void gw_changes_forget(struct gw_req *r);
size_t gw_changes_waiting(void);

/* TOTP, RFC 6238 (gw_totp.c). The key that seals the secrets: */
#define GW_DEFAULT_TOTP_KEY "/etc/lockbox/totp.key"
const char *gw_totp_key_path(const struct gw_config *c);
/* Loads the AES-256 key (CREATE: make it, mode 0600, when missing); 0 or -1 with ERR. */
int gw_totp_key_load(struct gw *gw, int create, char *err, size_t errlen);
void gw_totp_key_free(struct gw *gw);
/* Checks the caller's TOTP CODE (NULL: none given) inside TX. No code: fails mfa_required
 * when REQUIRED, else passes unverified. A code is verified whether required or not: a good
 * one is used up (its step recorded) and sets *VERIFIED; a reused one fails totp_invalid, a
 * locked TOTP totp_locked; a wrong one is counted and refused with gw_call_refuse (the count
 * commits). The caller returns when the result is not GW_DB_OK or call->err_code is set. */
enum gw_db gw_totp_verify(struct gw_call *call, const char *code, int required, int *verified);
/* Whether the caller holds a running elevation activated with a TOTP code (gw_elevations.c). */
enum gw_db gw_elevation_mfa_running(struct gw_call *call, int *yes);

/* The request lifecycle (gw_requests.c) used by the sweeper too. */
enum gw_db gw_requests_sweep(struct gw *gw, int64_t now_ms, unsigned *changed);

/* Handlers: one file per API resource. */
typedef enum MHD_Result (*gw_handler)(struct gw_req *r);
enum MHD_Result gw_tenants_create(struct gw_req *r);
enum MHD_Result gw_tenants_list(struct gw_req *r);
enum MHD_Result gw_tenants_get(struct gw_req *r);
enum MHD_Result gw_tenants_set_lockbox(struct gw_req *r);
enum MHD_Result gw_tenants_set_policy(struct gw_req *r);
enum MHD_Result gw_requests_review(struct gw_req *r);
enum MHD_Result gw_requests_extend(struct gw_req *r);
/* A tenant's approval policy (DESIGN.md "Approval policies"), its defaults filled in. */
struct gw_policy {
	int approvals_required;
	int break_glass;
	int64_t break_glass_max; /* seconds */
};
void gw_tenant_policy(const json_t *tenant, struct gw_policy *p);
enum MHD_Result gw_subscriptions_create(struct gw_req *r);
enum MHD_Result gw_subscriptions_list(struct gw_req *r);
enum MHD_Result gw_hosts_create(struct gw_req *r);
enum MHD_Result gw_hosts_list(struct gw_req *r);
enum MHD_Result gw_hosts_disable(struct gw_req *r);
enum MHD_Result gw_hosts_self(struct gw_req *r);
enum MHD_Result gw_hosts_changes(struct gw_req *r);
enum MHD_Result gw_hosts_enable(struct gw_req *r);
enum MHD_Result gw_invitations_create(struct gw_req *r);
enum MHD_Result gw_invitations_list(struct gw_req *r);
enum MHD_Result gw_invitations_redeem(struct gw_req *r);
enum MHD_Result gw_users_create(struct gw_req *r);
enum MHD_Result gw_users_list(struct gw_req *r);
enum MHD_Result gw_users_token_create(struct gw_req *r);
enum MHD_Result gw_users_tokens_list(struct gw_req *r);
enum MHD_Result gw_tokens_revoke(struct gw_req *r);
enum MHD_Result gw_users_disable(struct gw_req *r);
enum MHD_Result gw_users_enable(struct gw_req *r);
enum MHD_Result gw_roles_assign(struct gw_req *r);
enum MHD_Result gw_roles_remove(struct gw_req *r);
enum MHD_Result gw_roles_list(struct gw_req *r);
enum MHD_Result gw_tickets_create(struct gw_req *r);
enum MHD_Result gw_tickets_list(struct gw_req *r);
enum MHD_Result gw_tickets_get(struct gw_req *r);
enum MHD_Result gw_tickets_close(struct gw_req *r);
enum MHD_Result gw_totp_enroll(struct gw_req *r);
enum MHD_Result gw_totp_confirm(struct gw_req *r);
enum MHD_Result gw_elevations_create(struct gw_req *r);
enum MHD_Result gw_elevations_list(struct gw_req *r);
enum MHD_Result gw_requests_create(struct gw_req *r);
enum MHD_Result gw_requests_list(struct gw_req *r);
enum MHD_Result gw_requests_get(struct gw_req *r);
enum MHD_Result gw_requests_internal_approve(struct gw_req *r);
enum MHD_Result gw_requests_approve(struct gw_req *r);
enum MHD_Result gw_requests_deny(struct gw_req *r);
enum MHD_Result gw_requests_revoke(struct gw_req *r);
enum MHD_Result gw_requests_cancel(struct gw_req *r);
enum MHD_Result gw_check(struct gw_req *r);
enum MHD_Result gw_hosts_grants(struct gw_req *r);
enum MHD_Result gw_audit_ingest(struct gw_req *r);
enum MHD_Result gw_audit_list(struct gw_req *r);
enum MHD_Result gw_audit_verify(struct gw_req *r);
enum MHD_Result gw_audit_public_key(struct gw_req *r);
enum MHD_Result gw_audit_checkpoints(struct gw_req *r);
enum MHD_Result gw_healthz(struct gw_req *r);
enum MHD_Result gw_metrics(struct gw_req *r);
enum MHD_Result gw_notifications_list(struct gw_req *r);
enum MHD_Result gw_sessions_create(struct gw_req *r);
enum MHD_Result gw_sessions_current(struct gw_req *r);
enum MHD_Result gw_sessions_delete(struct gw_req *r);
enum MHD_Result gw_console_redirect(struct gw_req *r);
enum MHD_Result gw_console_serve(struct gw_req *r);

/* Console sessions (gw_sessions.c): the cookie's value in the request, or NULL. */
const char *gw_session_cookie(struct MHD_Connection *c);
/* Loads the principal of a console session cookie like gw_authenticate (0, -1, -2). */
int gw_session_authenticate(struct gw *gw, const char *cookie, int64_t now,
			    struct gw_principal *p);
/* Whether the request carries the session's X-CSRF-Token (constant time). */
int gw_session_csrf_ok(struct MHD_Connection *c, const char *cookie);

/* Counters for /metrics (gw_metrics.c). */
void gw_metrics_http(unsigned status);
/* Now on the monotonic clock, in microseconds: T0 for gw_metrics_check. */
int64_t gw_metrics_clock(void);
/* A decided check: its outcome, its reason code and the gw_metrics_clock() of its start. */
void gw_metrics_check(int allow, const char *reason, int64_t t0);
/* A delivery attempt on CHANNEL ("email", "webhook"): RESULT 0 sent, else an error. */
void gw_metrics_notify(const char *channel, int result);
void gw_metrics_audit(unsigned appended, unsigned duplicates);
void gw_metrics_sweep(unsigned changed);

/* What gw_users.c shares with gw_invitations.c, which creates a user at redemption. */
/* A login is the Unix user on hosts: a portable Unix user name. */
int gw_login_ok(const char *login);
/* Inserts a new user token for USER issued at NOW, expiring TTL seconds later; the secret goes
 * to TOKEN (LEN >= 72), *OUT gets the token object as the API shows it (with the secret). */
enum gw_db gw_token_insert(struct gw_store *s, struct gw_txn *t, const char *user, int mfa, const char *now,
			   int64_t ttl, char *token, size_t len, json_t **out);

/* Bootstrap: the first provider admin on an empty database; prints its token. */
int gw_bootstrap_admin(struct gw *gw, const char *login, char *token, size_t len, char *err,
		       size_t errlen);

/* Loads the principal for a bearer token (gw_authz.c). 0 ok, -1 unknown, -2 store error. */
int gw_authenticate(struct gw *gw, const char *bearer, struct gw_principal *p);
/* Loads the principal of user USER_ID (refused when disabled) with its role grants; the
 * rest of gw_authenticate, for credentials other than a bearer token (0, -1, -2). */
int gw_authenticate_user(struct gw *gw, const char *user_id, struct gw_principal *p);
void gw_principal_clear(struct gw_principal *p);

#endif
