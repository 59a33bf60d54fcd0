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

typedef enum gw_db (*gw_txn_fn)(void *arg);
typedef int (*gw_keep_fn)(const json_t *row, void *arg);
#define GW_SCAN_MAX 100000

struct gw_store {
	void *cls;
	/* Runs FN inside one transaction (write: exclusive), retrying the whole body while the
	 * database is busy, a bounded number of times; commits if FN returns GW_DB_OK. */
	enum gw_db (*run)(void *cls, int write, gw_txn_fn fn, void *arg);
	/* Inserts OBJ (keys are column names of K). */
	enum gw_db (*insert)(void *cls, const struct gw_kind *k, const json_t *obj);
	/* The row whose COL equals VAL (a unique column). */
	enum gw_db (*get)(void *cls, const struct gw_kind *k, const char *col, const char *val,
			  json_t **out);
	/* Up to LIMIT rows matching all filters (and KEEP, when given), by pk ascending (or
	 * descending) after CURSOR (0: start); *NEXT is the cursor for the following page, 0 at
	 * the end. With KEEP, at most GW_SCAN_MAX rows are examined per call. */
	enum gw_db (*list)(void *cls, const struct gw_kind *k, const struct gw_filter *f, size_t nf,
			   int64_t cursor, size_t limit, int desc, gw_keep_fn keep, void *keep_arg,
			   json_t **items, int64_t *next);
	/* Sets FIELDS on the row with id ID. */
	enum gw_db (*update)(void *cls, const struct gw_kind *k, const char *id, const json_t *fields);
	enum gw_db (*remove)(void *cls, const struct gw_kind *k, const char *id);
	enum gw_db (*count)(void *cls, const struct gw_kind *k, int64_t *n);
	/* Appends EV to the hash chain, setting its seq, prev_hash and hash; an event whose id
	 * exists already sets *DUPLICATE and changes nothing. */
	enum gw_db (*audit_append)(void *cls, json_t *ev, int *duplicate);
	void (*close)(void *cls);
};

/* Opens the store named by URI ("sqlite:///path"), creating or migrating the schema; at most
 * MAX_CONNS database connections serve reads at once (the writer has its own). */
struct gw_store *gw_store_open(const char *uri, unsigned max_conns, char *err, size_t errlen);
/* Times every call of S's interface for /metrics (gw_metrics.c); returns S. */
struct gw_store *gw_metrics_store(struct gw_store *s);
void gw_store_close(struct gw_store *s);
struct gw_store *gw_store_sqlite_open(const char *path, unsigned max_conns, char *err,
				      size_t errlen);

/* Row <-> JSON helpers shared by store implementations. */
const struct gw_col *gw_kind_col(const struct gw_kind *k, const char *name);
/* SHA-256 over the compact, key-sorted JSON of the event's chained fields and PREV_HASH. */
#define gw_audit_chain_hash lb_audit_chain_hash /* lockbox/auditlog.h: lockboxctl verifies too */
#define GW_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

#endif
