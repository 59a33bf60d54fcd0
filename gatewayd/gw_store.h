/* lockbox-gatewayd: the store interface. Handlers see resource kinds and JSON rows, never SQL;
 * store_sqlite.c implements it, and a PostgreSQL store can be added beside it. */
#ifndef LOCKBOX_GW_STORE_H
#define LOCKBOX_GW_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lockbox/auditlog.h"

enum gw_db {
	GW_DB_OK = 0,
	GW_DB_NOT_FOUND,
	GW_DB_CONFLICT, /* a unique value is taken */
	GW_DB_BUSY,     /* still locked after the bounded retries: reply 503 */
	GW_DB_ERROR,
	GW_DB_ABORT,    /* the transaction body already replied and wants a rollback */
};

enum gw_coltype { GW_C_TEXT, GW_C_INT, GW_C_BOOL, GW_C_JSON };

struct gw_col {
	const char *name;
	enum gw_coltype type;
	int hidden; /* stored and searchable, never returned (token hashes) */
};

/* A resource kind: its table, its key column for paging, its columns (NULL-terminated). */
struct gw_kind {
	const char *name;
	const char *table;
	const char *pk; /* integer paging key */
	const struct gw_col *cols;
};

extern const struct gw_kind gw_k_tenants, gw_k_subscriptions, gw_k_hosts, gw_k_users,
	gw_k_tokens, gw_k_roles, gw_k_tickets, gw_k_elevations, gw_k_requests, gw_k_audit, gw_k_notifications, gw_k_checkpoints;
/* one row per user with TOTP: the sealed secrets, the last step used, wrong codes, the lock */
extern const struct gw_kind gw_k_totp;
extern const struct gw_kind gw_k_invitations;
/* console sign-ins (gw_sessions.c) */
extern const struct gw_kind gw_k_web_sessions;

enum gw_fop { GW_EQ, GW_NE, GW_GE, GW_GT, GW_LT, GW_LE, GW_HAS /* JSON array column contains */ };

struct gw_filter {
	const char *col;
	enum gw_fop op;
	const char *val; /* NULL with GW_EQ matches SQL NULL */
};

/* One transaction of a store. A backend embeds it as the first member of its own
 * transaction (its connection, ...); handlers only pass it on. Every operation names the
 * transaction it runs in, or NULL to run as a statement of its own (a read outside any
 * body): nothing finds its transaction through the thread it runs on. */
struct gw_txn {
	/* Set by the backend when a statement failed in a way a new attempt may not
	 * (serialization failure, deadlock, busy, lost connection): the runner then rolls back
	 * and runs the whole body again, whatever the body returned. */
	int retry;
	/* Counted inside the body, published to /metrics only once it committed. */
	unsigned audit_accepted, audit_duplicates;
};

/* A transaction body. It may run more than once (see gw_txn.retry) and on another thread
 * than its caller's, so it starts from its inputs every time: whatever it accumulates in
 * ARG it resets first. */
typedef enum gw_db (*gw_txn_body)(struct gw_txn *t, void *arg);
typedef int (*gw_keep_fn)(const json_t *row, void *arg);
#define GW_SCAN_MAX 100000
#define GW_TXN_TRIES 5 /* attempts of one body before the caller gets GW_DB_BUSY */
/* No new attempt starts this long after the first began: a check or a write must answer
 * (503 store_busy) well inside request_timeout (10 s by default), with each attempt itself
 * bounded by the backend's wait for a lock (SQLite's busy timeout, PostgreSQL's
 * lock_timeout: 2 s). */
#define GW_TXN_BUDGET_MS 4000

/* The store contract. Each backend keeps one total order of the audit chain (see
 * audit_append) and compares times as fixed-width RFC 3339 UTC text
 * ("2026-12-01T22:40:00Z"), which sorts as the times do, so both backends filter and order
 * time columns alike. */
struct gw_store {
	void *cls;
	/* Runs BODY inside one transaction (write: may change rows) and commits if it returns
	 * GW_DB_OK; rolls back otherwise. On a retryable failure (gw_txn.retry) the whole body
	 * runs again in a new transaction, at most GW_TXN_TRIES times and not after
	 * GW_TXN_BUDGET_MS, then GW_DB_BUSY. */
	enum gw_db (*run)(void *cls, int write, gw_txn_body body, void *arg);
	/* Inserts OBJ (keys are column names of K). */
	enum gw_db (*insert)(void *cls, struct gw_txn *t, const struct gw_kind *k,
			     const json_t *obj);
	/* The row whose COL equals VAL (a unique column). */
	enum gw_db (*get)(void *cls, struct gw_txn *t, const struct gw_kind *k, const char *col,
			  const char *val, json_t **out);
	/* Up to LIMIT rows matching all filters (and KEEP, when given), by pk ascending (or
	 * descending) after CURSOR (0: start); *NEXT is the cursor for the following page, 0 at
	 * the end. With KEEP, at most GW_SCAN_MAX rows are examined per call. */
	enum gw_db (*list)(void *cls, struct gw_txn *t, const struct gw_kind *k,
			   const struct gw_filter *f, size_t nf, int64_t cursor, size_t limit,
			   int desc, gw_keep_fn keep, void *keep_arg, json_t **items,
			   int64_t *next);
	/* Sets FIELDS on the row with id ID. */
	enum gw_db (*update)(void *cls, struct gw_txn *t, const struct gw_kind *k, const char *id,
			     const json_t *fields);
	enum gw_db (*remove)(void *cls, struct gw_txn *t, const struct gw_kind *k, const char *id);
	enum gw_db (*count)(void *cls, struct gw_txn *t, const struct gw_kind *k, int64_t *n);
	/* Appends EV to the hash chain, setting its seq, prev_hash and hash; an event whose id
	 * exists already sets *DUPLICATE and changes nothing. Appends are one total order: SQLite
	 * has one writer; PostgreSQL takes an exclusive lock on the chain's head for the rest of
	 * the transaction. Only inside a write transaction. */
	enum gw_db (*audit_append)(void *cls, struct gw_txn *t, json_t *ev, int *duplicate);
	/* Background work done once across every gateway sharing the database (the sweeper,
	 * the outbox, checkpoints): takes the lock named NAME for the rest of T, or sets *GOT
	 * to 0 at once when another gateway holds it. */
	enum gw_db (*lock)(void *cls, struct gw_txn *t, const char *name, int *got);
	/* The change signal across gateways (DESIGN.md "Live sessions"): ANNOUNCE tells every
	 * other gateway sharing the database, once T commits, that TENANT changed; FOLLOW calls
	 * FN(TENANT, ARG) from a thread of the store's own for each change another gateway
	 * announced, and FN(NULL, ARG) when some may have been missed (a lost connection),
	 * until close. A store only one gateway uses leaves both NULL. */
	enum gw_db (*announce)(void *cls, struct gw_txn *t, const char *tenant);
	int (*follow)(void *cls, void (*fn)(const char *tenant, void *arg), void *arg);
	void (*close)(void *cls);
};

/* The database URIs, one registry (store_common.c): which backend a URI names, whether it is
 * well formed, and the file it names when it names one. */
enum gw_backend { GW_BACKEND_NONE, GW_BACKEND_SQLITE, GW_BACKEND_POSTGRESQL };
/* The backend of URI, after checking its form (sqlite:///ABSOLUTE/PATH,
 * postgresql://[user[:password]@][host][:port]/dbname[?param=value&...] or postgres://...);
 * GW_BACKEND_NONE with WHY filled when it is not usable. */
enum gw_backend gw_store_uri_check(const char *uri, char *why, size_t whylen);
/* The database file of a sqlite:// URI, NULL for every other backend (a pointer into URI). */
const char *gw_store_uri_file(const char *uri);
/* The URI with any password replaced by "***", for logs (WHY-sized buffer OUT). */
void gw_store_uri_redact(const char *uri, char *out, size_t outlen);

/* Opens the store named by URI, creating or migrating the schema; at most MAX_CONNS database
 * connections serve reads at once (the SQLite writer has its own). */
struct gw_store *gw_store_open(const char *uri, unsigned max_conns, char *err, size_t errlen);
/* Times every call of S's interface for /metrics (gw_metrics.c); returns S. */
struct gw_store *gw_metrics_store(struct gw_store *s);
void gw_store_close(struct gw_store *s);
struct gw_store *gw_store_sqlite_open(const char *path, unsigned max_conns, char *err,
				      size_t errlen);
/* CONNINFO is the postgresql:// URI as libpq takes it. */
struct gw_store *gw_store_postgresql_open(const char *conninfo, unsigned max_conns, char *err,
					  size_t errlen);
/* --check-config: connects to CONNINFO without changing anything and says what it found in
 * OUT (the schema version, or why it cannot connect); -1 when the gateway could not run. */
int gw_store_postgresql_probe(const char *conninfo, char *out, size_t outlen);

/* Sets the time column COL of K's row ID to NOW_MS, in a write transaction of its own (when
 * a token or a console session was last used). */
enum gw_db gw_store_touch(struct gw_store *s, const struct gw_kind *k, const char *id,
			  const char *col, int64_t now_ms);

/* Row <-> JSON helpers shared by store implementations. */
const struct gw_col *gw_kind_col(const struct gw_kind *k, const char *name);
/* The SQL comparison of a filter (both backends read "<>"; GW_HAS is the store's own). */
const char *gw_fop_sql(enum gw_fop op);
/* SHA-256 over the compact, key-sorted JSON of the event's chained fields and PREV_HASH. */
#define gw_audit_chain_hash lb_audit_chain_hash /* lockbox/auditlog.h: lockboxctl verifies too */
#define GW_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

#endif
