/* lockbox-gatewayd: the PostgreSQL store (libpq), for several gateways sharing one database.
 * Write transactions are SERIALIZABLE and reads REPEATABLE READ READ ONLY, so a body sees one
 * snapshot and the database, not the gateway, settles races between gateways: a body that
 * lost one (serialization failure, deadlock, lock timeout, lost connection) runs again in a
 * new transaction. Connections come from a bounded pool, each keeps its prepared statements,
 * and a transaction holds its connection from BEGIN to COMMIT. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <libpq-fe.h>

#include "gw.h"
#include "gw_store.h"
#include "lockbox/util.h"
#include "sql_schema.h"
#include "store_pool.h"

#define PG_POOL_WAIT_S 5 /* a caller waits this long for a free connection, then 503 */
#define PG_STMT_CACHE 128
#define PG_SQL_MAX 4096
#define PG_MAX_PARAMS 96
#define PG_SCAN_CHUNK 1000 /* rows a KEEP scan fetches at a time */
#define PG_CONNECT_TIMEOUT "5" /* seconds; the URI may set its own connect_timeout */
/* A statement stuck longer than this is cancelled, and a lock waited for longer than this
 * fails as lock_not_available (a retry): no HTTP thread hangs on the database. */
#define PG_SESSION_SETUP "SET statement_timeout = '10s'; SET lock_timeout = '2s'"
/* The session lock that serializes migrations of gateways starting at once ("lockbox\1"). */
#define PG_MIGRATE_LOCK "7813573191375222785"
/* The audit chain's lock (schema version 14): every append takes it first, so appends are one
 * order; it conflicts with itself only, and, unlike an advisory lock taken by a SELECT, takes
 * no snapshot, so a transaction that starts with it sees the chain's true head. A table of
 * its own, since the gateway's role keeps no right to lock audit itself in such a mode. */
#define PG_AUDIT_LOCK "LOCK TABLE audit_lock IN EXCLUSIVE MODE"
/* How long after appends last collided write transactions keep taking that lock first. */
#define PG_CONTENDED_MS 1000
/* The channel of the change signal between gateways; its payload is "INSTANCE TENANT". */
#define PG_CHANGES_CHANNEL "lockbox_changes"
#define PG_FOLLOW_POLL_MS 500 /* how soon the follower notices close */

struct pg_conn {
	PGconn *db;
	struct {
		char *sql;
		char name[16];
	} cache[PG_STMT_CACHE];
	size_t ncache;
};

struct pg_store {
	char *conninfo;
	/* Until then (CLOCK_MONOTONIC ms) appends collide: write transactions take the chain's
	 * lock before their snapshot rather than lose the race and run twice. */
	_Atomic long long contended_until;
	struct gw_pool pool;
	/* the change signal: this gateway's own announcements carry INSTANCE and are skipped */
	char instance[33];
	pthread_t follower;
	int following;
	atomic_int stop_following;
	void (*follow_fn)(const char *tenant, void *arg);
	void *follow_arg;
};

/* A transaction of this store: gw_txn first, so handlers' gw_txn pointers cast back. */
struct pg_txn {
	struct gw_txn t;
	struct pg_conn *c;
	int in_txn;   /* inside BEGIN (else one statement in autocommit) */
	int aborted;  /* a statement failed: PostgreSQL refuses the rest until ROLLBACK */
	int appended; /* audit_append ran: a new attempt takes the chain's lock first */
	/* the chain's head as this transaction left it: once it holds the chain's lock the head
	 * moves only by its own appends, so a batch reads it once, not once per event */
	int head_known;
	int64_t head_seq;
	char head_hash[65];
};

/* Query parameters in text format; OWN holds what is freed after the statement. */
struct pg_params {
	const char *v[PG_MAX_PARAMS];
	char *own[PG_MAX_PARAMS];
	int n, over;
};

/* An SQL text built from kind tables; OVER when it did not fit (the statement is refused). */
struct pg_sql {
	char buf[PG_SQL_MAX];
	size_t off;
	int over;
};

__attribute__((format(printf, 2, 3))) static void pg_sql_add(struct pg_sql *q, const char *fmt,
							     ...)
{
	va_list ap;
	int n;
	if (q->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(q->buf + q->off, sizeof(q->buf) - q->off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(q->buf) - q->off)
		q->over = 1;
	else
		q->off += (size_t)n;
}

/* ---- parameters ---- */

static int pg_param(struct pg_params *p, const char *borrowed, char *owned)
{
	if (p->n == PG_MAX_PARAMS) {
		free(owned);
		p->over = 1;
		return -1;
	}
	p->own[p->n] = owned;
	p->v[p->n++] = owned ? owned : borrowed;
	return p->n; /* its $number */
}

static int pg_param_int(struct pg_params *p, long long v)
{
	char *s = NULL;
	if (asprintf(&s, "%lld", v) < 0)
		s = NULL;
	if (!s)
		p->over = 1;
	return pg_param(p, NULL, s);
}

static void pg_params_free(struct pg_params *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->own[i]);
	p->n = 0;
}

/* A JSON value as the text PostgreSQL parses into column C's type (NULL: SQL NULL). */
static int pg_param_json(struct pg_params *p, const struct gw_col *c, const json_t *v)
{
	int is_bool = c && c->type == GW_C_BOOL;
	char *text;
	if (!v || json_is_null(v))
		return pg_param(p, NULL, NULL);
	if (json_is_string(v))
		return pg_param(p, json_string_value(v), NULL);
	if (json_is_boolean(v))
		return pg_param(p, is_bool ? (json_is_true(v) ? "true" : "false")
					   : (json_is_true(v) ? "1" : "0"), NULL);
	if (json_is_integer(v) && is_bool)
		return pg_param(p, json_integer_value(v) ? "true" : "false", NULL);
	if (json_is_integer(v))
		return pg_param_int(p, (long long)json_integer_value(v));
	text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!text)
		p->over = 1;
	return pg_param(p, NULL, text);
}

/* ---- connections ---- */

static void pg_cache_clear(struct pg_conn *c)
{
	for (size_t i = 0; i < c->ncache; i++)
		free(c->cache[i].sql);
	c->ncache = 0;
}

static void pg_conn_close(struct pg_conn *c)
{
	if (!c)
		return;
	pg_cache_clear(c);
	PQfinish(c->db);
	free(c);
}

/* The message of a failed connection or result, on one line. */
static const char *pg_msg(const char *m, char *buf, size_t len)
{
	size_t n;
	snprintf(buf, len, "%s", m && *m ? m : "unknown error");
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	for (char *s = buf; *s; s++)
		if (*s == '\n' || *s == '\t')
			*s = ' ';
	return buf;
}

/* Server notices (a migration's "already exists, skipping") are not the gateway's log. */
static void pg_notice_drop(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int pg_setup(struct pg_conn *c)
{
	PGresult *r;
	int ok;
	PQsetNoticeProcessor(c->db, pg_notice_drop, NULL);
	r = PQexec(c->db, PG_SESSION_SETUP);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok ? 0 : -1;
}

static struct pg_conn *pg_open_conn(const char *conninfo, char *err, size_t errlen)
{
	/* dbname (the URI) after our defaults: the URI's own settings win */
	const char *keys[] = {"fallback_application_name", "connect_timeout", "dbname", NULL};
	const char *vals[] = {"lockbox-gatewayd", PG_CONNECT_TIMEOUT, conninfo, NULL};
	struct pg_conn *c = calloc(1, sizeof(*c));
	char uri[512], msg[512];

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->db = PQconnectdbParams(keys, vals, 1);
	if (!c->db || PQstatus(c->db) != CONNECTION_OK || pg_setup(c) != 0) {
		gw_store_uri_redact(conninfo, uri, sizeof(uri));
		snprintf(err, errlen, "cannot connect to %s: %s", uri,
			 pg_msg(c->db ? PQerrorMessage(c->db) : "out of memory", msg, sizeof(msg)));
		pg_conn_close(c);
		return NULL;
	}
	return c;
}

/* A connection the server or the network dropped is opened again (its prepared statements
 * went with the old session); one left inside a transaction is rolled back. -1: the database
 * is still unreachable. */
static int pg_heal(struct pg_conn *c)
{
	PGresult *r;
	if (PQstatus(c->db) != CONNECTION_OK) {
		pg_cache_clear(c);
		PQreset(c->db);
		if (PQstatus(c->db) != CONNECTION_OK || pg_setup(c) != 0) {
			char msg[512];
			gw_log(LOG_WARNING, "store: cannot reconnect: %s",
			       pg_msg(PQerrorMessage(c->db), msg, sizeof(msg)));
			return -1;
		}
		return 0;
	}
	if (PQtransactionStatus(c->db) != PQTRANS_IDLE) {
		r = PQexec(c->db, "ROLLBACK");
		PQclear(r);
	}
	return 0;
}

static void *pg_pool_open(void *cls, char *err, size_t errlen)
{
	return pg_open_conn(((struct pg_store *)cls)->conninfo, err, errlen);
}

static void pg_pool_close(void *c)
{
	pg_conn_close(c);
}

/* A pooled connection, healed when the server or the network dropped it while idle. */
static struct pg_conn *pg_pool_take(struct pg_store *s, enum gw_db *why)
{
	struct pg_conn *c = gw_pool_take(&s->pool, why);
	if (c)
		pg_heal(c);
	return c;
}

static void pg_pool_give(struct pg_store *s, struct pg_conn *c)
{
	gw_pool_give(&s->pool, c);
}

/* ---- statements ---- */

/* The name of SQL's prepared statement on C, prepared on first use; NULL when the cache is
 * full (the statement then runs unnamed) or preparing failed (*FAILED: its result). */
static const char *pg_prepared(struct pg_conn *c, const char *sql, int nparams,
			       PGresult **failed)
{
	PGresult *r;
	size_t i;
	*failed = NULL;
	for (i = 0; i < c->ncache; i++)
		if (strcmp(c->cache[i].sql, sql) == 0)
			return c->cache[i].name;
	if (c->ncache == PG_STMT_CACHE || !(c->cache[i].sql = strdup(sql)))
		return NULL;
	snprintf(c->cache[i].name, sizeof(c->cache[i].name), "lb%zu", i);
	r = PQprepare(c->db, c->cache[i].name, sql, nparams, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		free(c->cache[i].sql);
		*failed = r; /* keeps the reason: the transaction is aborted now */
		return NULL;
	}
	PQclear(r);
	c->ncache++;
	return c->cache[i].name;
}

static int pg_retryable(const char *state)
{
	return state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
			 strcmp(state, "55P03") == 0);
}

/* The store's answer for result R of statement WHAT; sets x->t.retry when a new attempt may
 * succeed. */
static enum gw_db pg_check(struct pg_txn *x, PGresult *r, const char *what)
{
	ExecStatusType st = PQresultStatus(r);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	char msg[1024];

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return GW_DB_OK;
	x->aborted = x->in_txn;
	if (PQstatus(x->c->db) != CONNECTION_OK || pg_retryable(state)) {
		x->t.retry = 1;
		return GW_DB_BUSY;
	}
	if (state && strncmp(state, "23", 2) == 0)
		return GW_DB_CONFLICT;
	if (state && strcmp(state, "57014") == 0) { /* statement_timeout: overloaded, a 503 */
		gw_log(LOG_WARNING, "store: %s: cancelled after the statement timeout", what);
		return GW_DB_BUSY;
	}
	gw_log(LOG_ERR, "store: %.200s: %s", what,
	       pg_msg(r ? PQresultErrorMessage(r) : PQerrorMessage(x->c->db), msg, sizeof(msg)));
	return GW_DB_ERROR;
}

/* Runs SQL with P on X's connection; *OUT gets the result (to PQclear) when it succeeded. */
static enum gw_db pg_exec(struct pg_txn *x, const struct pg_sql *q, const struct pg_params *p,
			  const char *what, PGresult **out)
{
	const char *name;
	PGresult *r;
	enum gw_db rc;

	*out = NULL;
	if (x->aborted) /* the error that aborted the transaction was reported already */
		return x->t.retry ? GW_DB_BUSY : GW_DB_ERROR;
	if (q->over || p->over) {
		gw_log(LOG_ERR, "store: %s: statement too long", what);
		return GW_DB_ERROR;
	}
	name = pg_prepared(x->c, q->buf, p->n, &r);
	if (name)
		r = PQexecPrepared(x->c->db, name, p->n, p->v, NULL, NULL, 0);
	else if (!r)
		r = PQexecParams(x->c->db, q->buf, p->n, NULL, p->v, NULL, NULL, 0);
	rc = pg_check(x, r, q->buf); /* the statement names its table; values are not in it */
	if (rc == GW_DB_OK)
		*out = r;
	else
		PQclear(r);
	return rc;
}

/* A statement without parameters or results (BEGIN, COMMIT, LOCK). */
static enum gw_db pg_simple(struct pg_txn *x, const char *sql)
{
	PGresult *r;
	enum gw_db rc;
	if (x->aborted)
		return x->t.retry ? GW_DB_BUSY : GW_DB_ERROR;
	r = PQexec(x->c->db, sql);
	rc = pg_check(x, r, sql);
	PQclear(r);
	return rc;
}

/* ---- rows ---- */

static json_t *pg_value(const PGresult *r, int row, int col, enum gw_coltype t)
{
	const char *v = PQgetvalue(r, row, col);
	json_t *j;
	if (PQgetisnull(r, row, col))
		return json_null();
	switch (t) {
	case GW_C_INT:
		return json_integer(strtoll(v, NULL, 10));
	case GW_C_BOOL:
		return json_boolean(v[0] == 't');
	case GW_C_JSON:
		j = json_loads(v, JSON_DECODE_ANY, NULL);
		return j ? j : json_null();
	case GW_C_TEXT:
	default:
		return json_stringn(v, (size_t)PQgetlength(r, row, col));
	}
}

/* "pk", "col1", ... of the visible columns (the order pg_row reads them in). */
static void pg_select_list(const struct gw_kind *k, struct pg_sql *q)
{
	pg_sql_add(q, "SELECT \"%s\"", k->pk);
	for (const struct gw_col *c = k->cols; c->name; c++)
		if (!c->hidden && strcmp(c->name, k->pk) != 0)
			pg_sql_add(q, ", \"%s\"", c->name);
	pg_sql_add(q, " FROM \"%s\"", k->table);
}

static json_t *pg_row(const struct gw_kind *k, const PGresult *r, int row, int64_t *pk)
{
	json_t *o = json_object();
	int i = 1;
	int64_t key = strtoll(PQgetvalue(r, row, 0), NULL, 10);
	if (pk)
		*pk = key;
	for (const struct gw_col *c = k->cols; c->name; c++) {
		if (c->hidden)
			continue;
		if (strcmp(c->name, k->pk) == 0)
			json_object_set_new(o, c->name, json_integer(key));
		else
			json_object_set_new(o, c->name, pg_value(r, row, i++, c->type));
	}
	return o;
}

static const struct gw_col *pg_col(const struct gw_kind *k, const char *name)
{
	static const struct gw_col pk_int = {"", GW_C_INT, 0};
	const struct gw_col *c = gw_kind_col(k, name);
	if (!c && strcmp(name, k->pk) == 0)
		return &pk_int;
	if (!c)
		gw_log(LOG_ERR, "store: %s has no column %s", k->table, name);
	return c;
}

/* ---- the operations, inside transaction X ---- */

static enum gw_db pg_insert_on(struct pg_txn *x, const struct gw_kind *k, const json_t *obj)
{
	struct pg_sql q = {.off = 0}, vals = {.off = 0};
	struct pg_params p = {.n = 0};
	const char *key;
	json_t *v;
	PGresult *r = NULL;
	enum gw_db rc = GW_DB_ERROR;

	pg_sql_add(&q, "INSERT INTO \"%s\" (", k->table);
	json_object_foreach((json_t *)obj, key, v) {
		const struct gw_col *c = pg_col(k, key);
		int i;
		if (!c)
			goto out;
		i = pg_param_json(&p, c, v);
		pg_sql_add(&q, "%s\"%s\"", i > 1 ? ", " : "", key);
		pg_sql_add(&vals, "%s$%d", i > 1 ? ", " : "", i);
	}
	/* a taken unique value answers CONFLICT without aborting the transaction: bodies may
	 * go on after it, as they do on SQLite */
	pg_sql_add(&q, ") VALUES (%s) ON CONFLICT DO NOTHING", vals.buf);
	q.over |= vals.over;
	rc = pg_exec(x, &q, &p, "insert", &r);
	if (rc == GW_DB_OK && strcmp(PQcmdTuples(r), "1") != 0)
		rc = GW_DB_CONFLICT;
out:
	PQclear(r);
	pg_params_free(&p);
	return rc;
}

static enum gw_db pg_get_on(struct pg_txn *x, const struct gw_kind *k, const char *col,
			    const char *val, json_t **out)
{
	struct pg_sql q = {.off = 0};
	struct pg_params p = {.n = 0};
	PGresult *r;
	enum gw_db rc;

	if (!pg_col(k, col))
		return GW_DB_ERROR;
	pg_select_list(k, &q);
	pg_sql_add(&q, " WHERE \"%s\" = $%d LIMIT 1", col, pg_param(&p, val, NULL));
	rc = pg_exec(x, &q, &p, "get", &r);
	if (rc == GW_DB_OK && PQntuples(r) == 0)
		rc = GW_DB_NOT_FOUND;
	else if (rc == GW_DB_OK)
		*out = pg_row(k, r, 0, NULL);
	PQclear(r);
	return rc;
}

/* The WHERE clause of a list: the filters, then the cursor. */
static int pg_where(const struct gw_kind *k, const struct gw_filter *f, size_t nf,
		    int64_t cursor, int desc, struct pg_sql *q, struct pg_params *p)
{
	pg_sql_add(q, " WHERE true");
	for (size_t i = 0; i < nf; i++) {
		if (!pg_col(k, f[i].col))
			return -1;
		if (f[i].op == GW_HAS && f[i].val) /* JSON text: parsed only for this test */
			pg_sql_add(q, " AND (\"%s\")::jsonb @> jsonb_build_array($%d::text)",
				   f[i].col, pg_param(p, f[i].val, NULL));
		else if (!f[i].val)
			pg_sql_add(q, " AND \"%s\" IS %sNULL", f[i].col,
				   f[i].op == GW_NE ? "NOT " : "");
		else
			pg_sql_add(q, " AND \"%s\" %s $%d", f[i].col, gw_fop_sql(f[i].op),
				   pg_param(p, f[i].val, NULL));
	}
	if (cursor > 0)
		pg_sql_add(q, " AND \"%s\" %s $%d", k->pk, desc ? "<" : ">",
			   pg_param_int(p, (long long)cursor));
	return 0;
}

struct pg_list_args {
	const struct gw_kind *k;
	const struct gw_filter *f;
	size_t nf;
	int64_t cursor;
	size_t limit;
	int desc;
	gw_keep_fn keep;
	void *keep_arg;
	json_t **items;
	int64_t *next;
};

/* Where a list stands: rows kept, rows passed over, the last key examined. */
struct pg_scan {
	size_t n, scanned, fetched;
	int64_t pk;
	int done;
};

/* Adds the rows of R to the page, as SQLite's list does: *NEXT is set once a row follows a
 * full page, or when GW_SCAN_MAX rows were passed over. */
static void pg_list_rows(const struct pg_list_args *a, const PGresult *r, struct pg_scan *sc)
{
	for (int i = 0; i < PQntuples(r) && !sc->done; i++) {
		json_t *row;
		if (sc->n == a->limit) {
			*a->next = sc->pk;
			sc->done = 1;
			break;
		}
		row = pg_row(a->k, r, i, &sc->pk);
		if (a->keep && !a->keep(row, a->keep_arg)) {
			json_decref(row);
			if (++sc->scanned >= GW_SCAN_MAX) {
				*a->next = sc->pk;
				sc->done = 1;
			}
			continue;
		}
		json_array_append_new(*a->items, row);
		sc->n++;
	}
}

/* One chunk of at most LIM rows after the key CURSOR. */
static enum gw_db pg_list_chunk(struct pg_txn *x, const struct pg_list_args *a, int64_t cursor,
				long long lim, PGresult **r)
{
	struct pg_sql q = {.off = 0};
	struct pg_params p = {.n = 0};
	enum gw_db rc = GW_DB_ERROR;

	*r = NULL;
	pg_select_list(a->k, &q);
	if (pg_where(a->k, a->f, a->nf, cursor, a->desc, &q, &p) == 0) {
		pg_sql_add(&q, " ORDER BY \"%s\" %s LIMIT $%d", a->k->pk,
			   a->desc ? "DESC" : "ASC", pg_param_int(&p, lim));
		rc = pg_exec(x, &q, &p, "list", r);
	}
	pg_params_free(&p);
	return rc;
}

/* A page is one query; a KEEP scan (up to GW_SCAN_MAX + 1 rows) goes in chunks of
 * PG_SCAN_CHUNK, so that libpq never holds the whole scan in memory. */
static enum gw_db pg_list_on(struct pg_txn *x, const struct pg_list_args *a)
{
	struct pg_scan sc = {.pk = a->cursor};
	long long total = a->keep ? GW_SCAN_MAX + 1 : (long long)a->limit + 1;
	enum gw_db rc = GW_DB_OK;

	*a->items = json_array();
	while (!sc.done && rc == GW_DB_OK && (long long)sc.fetched < total) {
		long long lim = total - (long long)sc.fetched;
		PGresult *r;
		if (a->keep && lim > PG_SCAN_CHUNK)
			lim = PG_SCAN_CHUNK;
		rc = pg_list_chunk(x, a, sc.pk, lim, &r);
		if (rc != GW_DB_OK)
			break;
		sc.fetched += (size_t)PQntuples(r);
		pg_list_rows(a, r, &sc);
		sc.done |= PQntuples(r) < lim; /* the end of the rows */
		PQclear(r);
	}
	if (rc != GW_DB_OK) { /* an attempt in autocommit may come again */
		json_decref(*a->items);
		*a->items = NULL;
	}
	return rc;
}

/* UPDATE and DELETE: NOT_FOUND when no row changed. */
static enum gw_db pg_exec_changed(struct pg_txn *x, const struct pg_sql *q,
				  const struct pg_params *p, const char *what)
{
	PGresult *r;
	enum gw_db rc = pg_exec(x, q, p, what, &r);
	if (rc == GW_DB_OK && strcmp(PQcmdTuples(r), "0") == 0)
		rc = GW_DB_NOT_FOUND;
	PQclear(r);
	return rc;
}

static enum gw_db pg_update_on(struct pg_txn *x, const struct gw_kind *k, const char *id,
			       const json_t *fields)
{
	struct pg_sql q = {.off = 0};
	struct pg_params p = {.n = 0};
	const char *key;
	json_t *v;
	enum gw_db rc = GW_DB_ERROR;

	pg_sql_add(&q, "UPDATE \"%s\" SET ", k->table);
	json_object_foreach((json_t *)fields, key, v) {
		const struct gw_col *c = pg_col(k, key);
		int i;
		if (!c)
			goto out;
		i = pg_param_json(&p, c, v);
		pg_sql_add(&q, "%s\"%s\" = $%d", i > 1 ? ", " : "", key, i);
	}
	pg_sql_add(&q, " WHERE id = $%d", pg_param(&p, id, NULL));
	rc = pg_exec_changed(x, &q, &p, "update");
out:
	pg_params_free(&p);
	return rc;
}

static enum gw_db pg_remove_on(struct pg_txn *x, const struct gw_kind *k, const char *id)
{
	struct pg_sql q = {.off = 0};
	struct pg_params p = {.n = 0};
	pg_sql_add(&q, "DELETE FROM \"%s\" WHERE id = $%d", k->table, pg_param(&p, id, NULL));
	return pg_exec_changed(x, &q, &p, "remove");
}

static enum gw_db pg_count_on(struct pg_txn *x, const struct gw_kind *k, int64_t *n)
{
	struct pg_sql q = {.off = 0};
	struct pg_params p = {.n = 0};
	PGresult *r;
	enum gw_db rc;
	pg_sql_add(&q, "SELECT count(*) FROM \"%s\"", k->table);
	rc = pg_exec(x, &q, &p, "count", &r);
	if (rc == GW_DB_OK)
		*n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return rc;
}

/* A fixed query with at most one parameter; *OUT (to PQclear) when it succeeded. */
static enum gw_db pg_query1(struct pg_txn *x, const char *sql, const char *param,
			    PGresult **out)
{
	struct pg_sql q = {.off = 0};
	struct pg_params p = {.n = 0};
	pg_sql_add(&q, "%s", sql);
	if (param)
		pg_param(&p, param, NULL);
	return pg_exec(x, &q, &p, sql, out);
}

/* Whether the event is there already, and the chain's head: one round trip. */
#define PG_AUDIT_HEAD                                                                      \
	"SELECT EXISTS (SELECT 1 FROM audit WHERE id = $1), h.seq, h.hash FROM (SELECT 1) o " \
	"LEFT JOIN (SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1) h ON true"

/* The chain's lock, then its head and whether EV's id is there already: one round trip. */
static enum gw_db pg_audit_head(struct pg_txn *x, const json_t *ev, int *duplicate)
{
	PGresult *r;
	enum gw_db rc;

	if ((rc = pg_simple(x, PG_AUDIT_LOCK)) != GW_DB_OK)
		return rc;
	rc = pg_query1(x, PG_AUDIT_HEAD, json_string_value(json_object_get(ev, "id")), &r);
	if (rc != GW_DB_OK)
		return rc;
	*duplicate = PQgetvalue(r, 0, 0)[0] == 't';
	x->head_seq = 0;
	snprintf(x->head_hash, sizeof(x->head_hash), "%s", GW_ZERO_HASH);
	if (!PQgetisnull(r, 0, 1)) {
		x->head_seq = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
		snprintf(x->head_hash, sizeof(x->head_hash), "%s", PQgetvalue(r, 0, 2));
	}
	PQclear(r);
	x->head_known = 1;
	return GW_DB_OK;
}

static enum gw_db pg_audit_append_on(struct pg_txn *x, json_t *ev, int *duplicate)
{
	char hash[65];
	enum gw_db rc;

	x->appended = 1;
	if (!x->head_known && ((rc = pg_audit_head(x, ev, duplicate)) != GW_DB_OK || *duplicate))
		return rc;
	json_object_set_new(ev, "seq", json_integer(x->head_seq + 1));
	gw_audit_chain_hash(ev, x->head_hash, hash);
	json_object_set_new(ev, "prev_hash", json_string(x->head_hash));
	json_object_set_new(ev, "hash", json_string(hash));
	/* the chain's lock makes the head current unless this transaction's snapshot predates
	 * it; the insert then meets the newer row and fails as a serialization failure, and the
	 * next attempt takes the lock first. Past the first append, a conflict can only be the
	 * event's id, taken by a row this transaction sees: a duplicate, and the head stays. */
	rc = pg_insert_on(x, &gw_k_audit, ev);
	if (rc == GW_DB_CONFLICT && !x->aborted) { /* ON CONFLICT DO NOTHING: no row, no error */
		*duplicate = 1;
		json_object_del(ev, "seq");
		json_object_del(ev, "prev_hash");
		json_object_del(ev, "hash");
		return GW_DB_OK;
	}
	if (rc == GW_DB_OK) {
		x->head_seq++;
		memcpy(x->head_hash, hash, sizeof(x->head_hash));
	}
	return rc;
}

static enum gw_db pg_lock_on(struct pg_txn *x, const char *name, int *got)
{
	PGresult *r;
	enum gw_db rc = pg_query1(x, "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
				  name, &r);
	if (rc == GW_DB_OK)
		*got = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return rc;
}

/* ---- transactions ---- */

static long long pg_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pg_backoff(int attempt)
{
	/* 2, 4, 8, 16 ms, each plus up to as much again at random: retries of bodies that
	 * collided once do not collide again in step */
	long ms = 2L << (attempt - 1);
	struct timespec ts;
	ms += random() % (ms + 1);
	ts.tv_sec = 0;
	ts.tv_nsec = ms * 1000000L;
	nanosleep(&ts, NULL);
}

/* Before attempt ATTEMPT (> 0): C reconnected if it was lost, then a pause. -1: the database
 * is unreachable, and another attempt now would only wait for it again. */
static int pg_again(struct pg_conn *c, int attempt)
{
	if (pg_heal(c) != 0)
		return -1;
	pg_backoff(attempt);
	return 0;
}

/* A connection lost during COMMIT leaves the outcome unknown: the body may have committed,
 * and running it again could do its work twice, so the caller gets a 503 instead. */
static enum gw_db pg_commit(struct pg_txn *x)
{
	enum gw_db rc = pg_simple(x, "COMMIT");
	if (rc != GW_DB_OK && PQstatus(x->c->db) != CONNECTION_OK) {
		gw_log(LOG_WARNING, "store: connection lost during COMMIT: outcome unknown");
		x->t.retry = 0;
		return GW_DB_BUSY;
	}
	return rc;
}

/* One attempt: BEGIN, the body, COMMIT or ROLLBACK. */
static enum gw_db pg_attempt(struct pg_store *s, struct pg_txn *x, int write,
			     gw_txn_body body, void *arg)
{
	enum gw_db rc;
	rc = pg_simple(x, write ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
				: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (rc != GW_DB_OK)
		return rc;
	x->in_txn = 1;
	/* a body that lost the chain's race takes its lock before its snapshot this time */
	if (write && (x->appended || pg_now_ms() < atomic_load(&s->contended_until)))
		rc = pg_simple(x, PG_AUDIT_LOCK);
	if (rc == GW_DB_OK)
		rc = body(&x->t, arg);
	if (rc == GW_DB_OK && !x->t.retry && !x->aborted)
		rc = pg_commit(x);
	else if (rc == GW_DB_OK)
		rc = x->t.retry ? GW_DB_BUSY : GW_DB_ERROR;
	if (rc != GW_DB_OK && PQstatus(x->c->db) == CONNECTION_OK &&
	    PQtransactionStatus(x->c->db) != PQTRANS_IDLE) {
		PGresult *r = PQexec(x->c->db, "ROLLBACK");
		PQclear(r);
	}
	x->in_txn = 0;
	return rc;
}

static enum gw_db pg_run(void *cls, int write, gw_txn_body body, void *arg)
{
	struct pg_store *s = cls;
	struct pg_txn x = {.c = NULL};
	enum gw_db rc;
	struct pg_conn *c = pg_pool_take(s, &rc);
	int appended = 0;

	long long first = pg_now_ms();

	if (!c)
		return rc;
	for (int attempt = 0; attempt < GW_TXN_TRIES; attempt++) {
		if (attempt && pg_now_ms() - first >= GW_TXN_BUDGET_MS)
			break;
		if (attempt && pg_again(c, attempt) != 0)
			break; /* rc is GW_DB_BUSY: the database is down, not busy, but 503 fits */
		memset(&x, 0, sizeof(x));
		x.c = c;
		x.appended = appended;
		rc = pg_attempt(s, &x, write, body, arg);
		appended = x.appended;
		if (!x.t.retry)
			break;
		if (appended)
			atomic_store(&s->contended_until, pg_now_ms() + PG_CONTENDED_MS);
		rc = GW_DB_BUSY;
	}
	/* the counters of x.t (audit_accepted, ...) are the last attempt's: gw_metrics.c
	 * publishes them once this returns GW_DB_OK */
	if (x.t.retry)
		gw_log(LOG_WARNING, "store: transaction given up: the database stays busy or "
				    "unreachable");
	pg_pool_give(s, c);
	return rc;
}

/* ---- the store's operations: in T, or alone in autocommit on a pooled connection ---- */

enum pg_opcode { PG_INSERT, PG_GET, PG_LIST, PG_UPDATE, PG_REMOVE, PG_COUNT };

struct pg_op {
	enum pg_opcode code;
	const struct gw_kind *k;
	const json_t *obj;
	const char *col, *val;
	json_t **out;
	int64_t *n;
	struct pg_list_args list;
};

static enum gw_db pg_op_on(struct pg_txn *x, const struct pg_op *op)
{
	switch (op->code) {
	case PG_INSERT: return pg_insert_on(x, op->k, op->obj);
	case PG_GET: return pg_get_on(x, op->k, op->col, op->val, op->out);
	case PG_LIST: return pg_list_on(x, &op->list);
	case PG_UPDATE: return pg_update_on(x, op->k, op->val, op->obj);
	case PG_REMOVE: return pg_remove_on(x, op->k, op->val);
	case PG_COUNT: return pg_count_on(x, op->k, op->n);
	default: return GW_DB_ERROR;
	}
}

/* A statement of its own commits alone, so it is simply sent again when the connection was
 * lost or the statement lost a race. */
static enum gw_db pg_do(void *cls, struct gw_txn *t, const struct pg_op *op)
{
	struct pg_txn x = {.c = NULL};
	enum gw_db rc;
	struct pg_conn *c;

	if (t)
		return pg_op_on((struct pg_txn *)t, op);
	if (!(c = pg_pool_take(cls, &rc)))
		return rc;
	for (int attempt = 0; attempt < GW_TXN_TRIES; attempt++) {
		if (attempt && pg_again(c, attempt) != 0)
			break;
		memset(&x, 0, sizeof(x));
		x.c = c;
		rc = pg_op_on(&x, op);
		if (!x.t.retry)
			break;
	}
	pg_pool_give(cls, c);
	return rc;
}

static enum gw_db pg_insert(void *cls, struct gw_txn *t, const struct gw_kind *k,
			    const json_t *obj)
{
	struct pg_op op = {.code = PG_INSERT, .k = k, .obj = obj};
	return pg_do(cls, t, &op);
}

static enum gw_db pg_get(void *cls, struct gw_txn *t, const struct gw_kind *k, const char *col,
			 const char *val, json_t **out)
{
	struct pg_op op = {.code = PG_GET, .k = k, .col = col, .val = val, .out = out};
	*out = NULL;
	return pg_do(cls, t, &op);
}

static enum gw_db pg_list(void *cls, struct gw_txn *t, const struct gw_kind *k,
			  const struct gw_filter *f, size_t nf, int64_t cursor, size_t limit,
			  int desc, gw_keep_fn keep, void *keep_arg, json_t **items, int64_t *next)
{
	struct pg_op op = {.code = PG_LIST,
			   .list = {k, f, nf, cursor, limit, desc, keep, keep_arg, items, next}};
	enum gw_db rc;
	*items = NULL;
	*next = 0;
	rc = pg_do(cls, t, &op);
	if (rc != GW_DB_OK) {
		json_decref(*items);
		*items = NULL;
		*next = 0;
	}
	return rc;
}

static enum gw_db pg_update(void *cls, struct gw_txn *t, const struct gw_kind *k,
			    const char *id, const json_t *fields)
{
	struct pg_op op = {.code = PG_UPDATE, .k = k, .val = id, .obj = fields};
	return pg_do(cls, t, &op);
}

static enum gw_db pg_remove(void *cls, struct gw_txn *t, const struct gw_kind *k,
			    const char *id)
{
	struct pg_op op = {.code = PG_REMOVE, .k = k, .val = id};
	return pg_do(cls, t, &op);
}

static enum gw_db pg_count(void *cls, struct gw_txn *t, const struct gw_kind *k, int64_t *n)
{
	struct pg_op op = {.code = PG_COUNT, .k = k, .n = n};
	*n = 0;
	return pg_do(cls, t, &op);
}

/* Appends and locks hold something until the end of a transaction: outside one they would
 * mean nothing, so they are refused. */
static enum gw_db pg_audit_append(void *cls, struct gw_txn *t, json_t *ev, int *duplicate)
{
	(void)cls;
	*duplicate = 0;
	if (!t || !((struct pg_txn *)t)->in_txn) {
		gw_log(LOG_ERR, "store: audit_append outside a write transaction");
		return GW_DB_ERROR;
	}
	return pg_audit_append_on((struct pg_txn *)t, ev, duplicate);
}

static enum gw_db pg_lock(void *cls, struct gw_txn *t, const char *name, int *got)
{
	(void)cls;
	*got = 0;
	if (!t || !((struct pg_txn *)t)->in_txn) {
		gw_log(LOG_ERR, "store: lock %s outside a transaction", name);
		return GW_DB_ERROR;
	}
	return pg_lock_on((struct pg_txn *)t, name, got);
}

/* ---- opening: the schema ---- */

static int pg_exec_msg(PGconn *db, const char *sql, char *err, size_t errlen, const char *what)
{
	PGresult *r = PQexec(db, sql);
	ExecStatusType st = PQresultStatus(r);
	char msg[512];
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	snprintf(err, errlen, "%s: %s", what,
		 pg_msg(r ? PQresultErrorMessage(r) : PQerrorMessage(db), msg, sizeof(msg)));
	PQclear(r);
	return -1;
}

static int pg_schema_version(PGconn *db, long *version, char *err, size_t errlen)
{
	PGresult *r;
	if (pg_exec_msg(db, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)",
			err, errlen, "cannot create schema_version") != 0)
		return -1;
	r = PQexec(db, "SELECT coalesce(max(version), 0) FROM schema_version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		char msg[512];
		snprintf(err, errlen, "cannot read schema_version: %s",
			 pg_msg(PQresultErrorMessage(r), msg, sizeof(msg)));
		PQclear(r);
		return -1;
	}
	*version = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

/* Migration I+1 in a transaction of its own, recorded in the same transaction. */
static int pg_migrate_one(PGconn *db, size_t i, char *err, size_t errlen)
{
	char bump[96], what[64];
	PGresult *r;
	snprintf(what, sizeof(what), "schema migration %zu failed", i + 1);
	snprintf(bump, sizeof(bump), "INSERT INTO schema_version VALUES (%zu)", i + 1);
	if (pg_exec_msg(db, "BEGIN", err, errlen, what) != 0)
		return -1;
	if (pg_exec_msg(db, gw_sql_postgresql_migrations[i], err, errlen, what) != 0 ||
	    pg_exec_msg(db, bump, err, errlen, what) != 0 ||
	    pg_exec_msg(db, "COMMIT", err, errlen, what) != 0) {
		r = PQexec(db, "ROLLBACK");
		PQclear(r);
		return -1;
	}
	gw_log(LOG_INFO, "store: applied migration %zu", i + 1);
	return 0;
}

static int pg_migrate_locked(PGconn *db, char *err, size_t errlen)
{
	long version = 0;
	size_t n = 0;
	if (pg_schema_version(db, &version, err, errlen) != 0)
		return -1;
	while (gw_sql_postgresql_migrations[n])
		n++;
	if (version < 0 || (size_t)version > n) {
		snprintf(err, errlen, "database schema version %ld is newer than this gateway (%zu)",
			 version, n);
		return -1;
	}
	for (size_t i = (size_t)version; i < n; i++)
		if (pg_migrate_one(db, i, err, errlen) != 0)
			return -1;
	return 0;
}

/* Gateways starting at once migrate one after the other: the later ones find nothing to do. */
static int pg_migrate(struct pg_conn *c, char *err, size_t errlen)
{
	int rc;
	PGresult *r;
	/* a migration may wait for a running gateway's transactions and take its time */
	if (pg_exec_msg(c->db, "SET statement_timeout = 0; SET lock_timeout = 0", err, errlen,
			"migration") != 0 ||
	    pg_exec_msg(c->db, "SELECT pg_advisory_lock(" PG_MIGRATE_LOCK ")", err, errlen,
			"cannot take the migration lock") != 0)
		return -1;
	rc = pg_migrate_locked(c->db, err, errlen);
	r = PQexec(c->db, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")");
	PQclear(r);
	if (rc == 0 && pg_setup(c) != 0) {
		snprintf(err, errlen, "cannot set the session's timeouts");
		return -1;
	}
	return rc;
}

/* ---- the change signal between gateways: NOTIFY is sent at commit, and only then ---- */

static enum gw_db pg_announce(void *cls, struct gw_txn *t, const char *tenant)
{
	struct pg_store *s = cls;
	char payload[600];
	PGresult *r;
	enum gw_db rc;
	if (!t || !((struct pg_txn *)t)->in_txn || !tenant || !*tenant)
		return t ? GW_DB_OK : GW_DB_ERROR;
	snprintf(payload, sizeof(payload), "%s %s", s->instance, tenant);
	rc = pg_query1((struct pg_txn *)t, "SELECT pg_notify('" PG_CHANGES_CHANNEL "', $1)", payload,
		       &r);
	PQclear(r);
	return rc;
}

/* Waits up to PG_FOLLOW_POLL_MS for the listening connection to have something to read. */
static int pg_follow_wait(PGconn *db)
{
	struct pollfd p = {.fd = PQsocket(db), .events = POLLIN};
	if (p.fd < 0)
		return -1;
	return poll(&p, 1, PG_FOLLOW_POLL_MS) < 0 ? -1 : 0;
}

/* Hands every pending notification of another gateway to the follower's callback. */
static void pg_follow_drain(struct pg_store *s, PGconn *db)
{
	PGnotify *n;
	while ((n = PQnotifies(db))) {
		const char *sp = strchr(n->extra, ' ');
		size_t ilen = strlen(s->instance);
		if (sp && !((size_t)(sp - n->extra) == ilen && strncmp(n->extra, s->instance, ilen) == 0))
			s->follow_fn(sp + 1, s->follow_arg);
		PQfreemem(n);
	}
}

static void *pg_follower(void *arg)
{
	struct pg_store *s = arg;
	int connected_once = 0;
	char err[512];

	while (!atomic_load(&s->stop_following)) {
		struct pg_conn *c = pg_open_conn(s->conninfo, err, sizeof(err));
		PGresult *r = c ? PQexec(c->db, "LISTEN " PG_CHANGES_CHANNEL) : NULL;
		int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok) {
			gw_log(LOG_WARNING, "store: change signal: %s; retrying",
			       c ? PQerrorMessage(c->db) : err);
			pg_conn_close(c);
			for (int i = 0; i < 2 && !atomic_load(&s->stop_following); i++)
				poll(NULL, 0, PG_FOLLOW_POLL_MS);
			continue;
		}
		if (connected_once++) /* what other gateways changed meanwhile went unheard */
			s->follow_fn(NULL, s->follow_arg);
		while (!atomic_load(&s->stop_following)) {
			if (pg_follow_wait(c->db) != 0 || !PQconsumeInput(c->db))
				break;
			pg_follow_drain(s, c->db);
		}
		if (!atomic_load(&s->stop_following))
			gw_log(LOG_WARNING, "store: change signal: connection lost: %s",
			       PQerrorMessage(c->db));
		pg_conn_close(c);
	}
	return NULL;
}

static int pg_follow(void *cls, void (*fn)(const char *tenant, void *arg), void *arg)
{
	struct pg_store *s = cls;
	if (s->following)
		return -1;
	s->follow_fn = fn;
	s->follow_arg = arg;
	if (pthread_create(&s->follower, NULL, pg_follower, s) != 0)
		return -1;
	s->following = 1;
	return 0;
}

static void pg_close(void *cls)
{
	struct pg_store *s = cls;
	if (s->following) {
		atomic_store(&s->stop_following, 1);
		pthread_join(s->follower, NULL);
		s->following = 0;
	}
	gw_pool_destroy(&s->pool);
	free(s->conninfo);
	free(s);
}

struct gw_store *gw_store_postgresql_open(const char *conninfo, unsigned max_conns, char *err,
					  size_t errlen)
{
	struct gw_store *st = calloc(1, sizeof(*st));
	struct pg_store *s = calloc(1, sizeof(*s));
	struct pg_conn *c = NULL;

	if (!st || !s || !(s->conninfo = strdup(conninfo))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (lb_random_hex(s->instance, sizeof(s->instance), 16) != 0) {
		snprintf(err, errlen, "no randomness for the gateway's instance id");
		goto fail;
	}
	if (!(c = pg_open_conn(conninfo, err, errlen)) || pg_migrate(c, err, errlen) != 0)
		goto fail;
	if (gw_pool_init(&s->pool, max_conns, PG_POOL_WAIT_S, pg_pool_open, pg_pool_close, s)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	gw_pool_adopt(&s->pool, c); /* the migration's connection is the pool's first */
	st->cls = s;
	st->run = pg_run;
	st->insert = pg_insert;
	st->get = pg_get;
	st->list = pg_list;
	st->update = pg_update;
	st->remove = pg_remove;
	st->count = pg_count;
	st->audit_append = pg_audit_append;
	st->lock = pg_lock;
	st->announce = pg_announce;
	st->follow = pg_follow;
	st->close = pg_close;
	return st;
fail:
	pg_conn_close(c);
	free(s ? s->conninfo : NULL);
	free(s);
	free(st);
	return NULL;
}

int gw_store_postgresql_probe(const char *conninfo, char *out, size_t outlen)
{
	struct pg_conn *c = pg_open_conn(conninfo, out, outlen);
	PGresult *r;
	size_t known = 0;
	long version = -1;

	if (!c)
		return -1;
	while (gw_sql_postgresql_migrations[known])
		known++;
	/* read only: a check must not create what it checks */
	r = PQexec(c->db, "SELECT coalesce(max(version), 0) FROM schema_version");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		version = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (version < 0)
		snprintf(out, outlen, "connected; the database has no lockbox schema yet (the "
			 "gateway creates it at its first start)");
	else if (version > (long)known)
		snprintf(out, outlen, "connected; but the database's schema version %ld is newer "
			 "than this gateway's (%zu): upgrade the gateway", version, known);
	else
		snprintf(out, outlen, "connected; schema version %ld of %zu%s", version, known,
			 version < (long)known ? " (the gateway migrates it at its start)" : "");
	pg_conn_close(c);
	return version > (long)known ? -1 : 0;
}
