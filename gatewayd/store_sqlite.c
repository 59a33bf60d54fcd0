/* lockbox-gatewayd: the SQLite store (WAL, synchronous=FULL, BEGIN IMMEDIATE, bounded busy
 * retry). Write transactions are group-committed: one writer thread runs every queued
 * transaction body inside its own savepoint of one SQLite transaction and commits them with a
 * single fsync, and each caller gets its answer only after that commit. Reads run on the
 * calling thread with a connection from a bounded pool: HTTP threads come and go with their
 * client connections, and a pooled connection keeps its page cache and prepared statements. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gw.h"
#include "gw_store.h"
#include "lockbox/util.h"
#include "sql_schema.h"
#include "store_pool.h"

#define SQ_BUSY_TIMEOUT_MS 2000
#define SQ_STMT_CACHE 96
#define SQ_POOL_WAIT_S 5 /* a reader waits this long for a free connection, then 503 */
#define SQ_SQL_MAX 2048

struct sq_conn {
	sqlite3 *db;
	struct {
		char *sql;
		sqlite3_stmt *st;
	} cache[SQ_STMT_CACHE];
	size_t ncache;
};

/* A transaction as the store's operations see it: the common part and the connection. */
struct sq_txn {
	struct gw_txn base; /* first: a struct gw_txn * is a struct sq_txn * */
	struct sq_conn *c;
};

struct sq_job {
	gw_txn_body fn;
	void *arg;
	struct sq_txn txn;
	enum gw_db rc;
	int done;
	pthread_cond_t cond; /* its caller waits on it: only finished callers are woken */
	struct sq_job *next;
};

struct sq_store {
	char *path;
	/* set while this thread runs a body: a store call inside it without its transaction is
	 * a bug (it would read around the body's own writes), refused and logged */
	pthread_key_t key;
	struct gw_pool pool; /* readers' connections (the writer has its own) */
	pthread_mutex_t lock;
	pthread_cond_t work; /* the writer waits for jobs */
	struct sq_job *head, *tail;
	int stop;
	pthread_t writer;
	int writer_running;
};


#define SQ_BATCH_MAX 256

static void sq_conn_close(void *p)
{
	struct sq_conn *c = p;
	if (!c)
		return;
	for (size_t i = 0; i < c->ncache; i++) {
		sqlite3_finalize(c->cache[i].st);
		free(c->cache[i].sql);
	}
	sqlite3_close_v2(c->db);
	free(c);
}

static int sq_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		gw_log(LOG_ERR, "sqlite: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
	}
	return rc;
}

static struct sq_conn *sq_open_conn(const char *path, char *err, size_t errlen)
{
	struct sq_conn *c = calloc(1, sizeof(*c));
	int rc;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rc = sqlite3_open_v2(path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sq_conn_close(c);
		return NULL;
	}
	sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(c->db, 1);
	if (sq_exec(c->db, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
	    sq_exec(c->db, "PRAGMA synchronous=FULL") != SQLITE_OK ||
	    sq_exec(c->db, "PRAGMA foreign_keys=ON") != SQLITE_OK ||
	    /* the savepoint journals of a group commit stay in memory instead of spilling to
	     * a temporary file (an open, unlink and write per batch under load) */
	    sq_exec(c->db, "PRAGMA temp_store=MEMORY") != SQLITE_OK) {
		snprintf(err, errlen, "cannot configure %s: %s", path, sqlite3_errmsg(c->db));
		sq_conn_close(c);
		return NULL;
	}
	return c;
}

static void *sq_pool_open(void *cls, char *err, size_t errlen)
{
	return sq_open_conn(((struct sq_store *)cls)->path, err, errlen);
}

static struct sq_conn *sq_pool_take(struct sq_store *s, enum gw_db *why)
{
	return gw_pool_take(&s->pool, why);
}

static void sq_pool_give(struct sq_store *s, struct sq_conn *c)
{
	gw_pool_give(&s->pool, c);
}

/* Store operations run inside the transaction T, or, with T NULL, outside any on a pooled
 * connection lent for that statement alone (SQLite autocommit). */
static struct sq_conn *sq_use(struct sq_store *s, struct gw_txn *t, int *lent, enum gw_db *why)
{
	*lent = 0;
	if (t)
		return ((struct sq_txn *)t)->c;
	if (pthread_getspecific(s->key)) {
		gw_log(LOG_ERR, "store: a call without its transaction inside a transaction body");
		*why = GW_DB_ERROR;
		return NULL;
	}
	*lent = 1;
	return sq_pool_take(s, why);
}

static void sq_unuse(struct sq_store *s, struct sq_conn *c, int lent)
{
	if (lent)
		sq_pool_give(s, c);
}

/* The body's outcome, marking T for a new attempt when SQLite was busy. */
static enum gw_db sq_note(struct gw_txn *t, enum gw_db rc)
{
	if (rc == GW_DB_BUSY && t)
		t->retry = 1;
	return rc;
}

static enum gw_db sq_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return GW_DB_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return GW_DB_BUSY;
	case SQLITE_CONSTRAINT:
		return GW_DB_CONFLICT;
	default:
		return GW_DB_ERROR;
	}
}

/* Prepared statements are cached per connection, keyed by their text. */
static sqlite3_stmt *sq_prepare(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	for (size_t i = 0; i < c->ncache; i++) {
		if (strcmp(c->cache[i].sql, sql) == 0) {
			sqlite3_reset(c->cache[i].st);
			sqlite3_clear_bindings(c->cache[i].st);
			return c->cache[i].st;
		}
	}
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		gw_log(LOG_ERR, "sqlite prepare: %s: %s", sql, sqlite3_errmsg(c->db));
		return NULL;
	}
	if (c->ncache == SQ_STMT_CACHE) {
		sqlite3_finalize(c->cache[0].st);
		free(c->cache[0].sql);
		memmove(&c->cache[0], &c->cache[1], (SQ_STMT_CACHE - 1) * sizeof(c->cache[0]));
		c->ncache--;
	}
	c->cache[c->ncache].sql = strdup(sql);
	if (!c->cache[c->ncache].sql) {
		sqlite3_finalize(st);
		return NULL;
	}
	c->cache[c->ncache++].st = st;
	return st;
}

static void sq_done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

static int sq_bind_json(sqlite3_stmt *st, int idx, const json_t *v)
{
	if (!v || json_is_null(v))
		return sqlite3_bind_null(st, idx);
	if (json_is_string(v))
		return sqlite3_bind_text(st, idx, json_string_value(v), (int)json_string_length(v),
					 SQLITE_TRANSIENT);
	if (json_is_boolean(v))
		return sqlite3_bind_int(st, idx, json_is_true(v));
	if (json_is_integer(v))
		return sqlite3_bind_int64(st, idx, json_integer_value(v));
	{
		char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		int rc;
		if (!text)
			return SQLITE_NOMEM;
		rc = sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
		free(text);
		return rc;
	}
}

static json_t *sq_column_json(sqlite3_stmt *st, int i, enum gw_coltype t)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	switch (t) {
	case GW_C_INT:
		return json_integer(sqlite3_column_int64(st, i));
	case GW_C_BOOL:
		return json_boolean(sqlite3_column_int(st, i) != 0);
	case GW_C_JSON: {
		const char *text = (const char *)sqlite3_column_text(st, i);
		json_t *j = json_loads(text ? text : "null", JSON_DECODE_ANY, NULL);
		return j ? j : json_null();
	}
	case GW_C_TEXT:
	default:
		return json_stringn((const char *)sqlite3_column_text(st, i),
				    (size_t)sqlite3_column_bytes(st, i));
	}
}

/* "pk, col1, col2, ..." of the visible columns. */
static void sq_select_list(const struct gw_kind *k, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "%s", k->pk);
	for (const struct gw_col *c = k->cols; c->name && off < len; c++) {
		if (c->hidden || strcmp(c->name, k->pk) == 0)
			continue;
		off += (size_t)snprintf(buf + off, len - off, ", \"%s\"", c->name);
	}
}

static json_t *sq_row(const struct gw_kind *k, sqlite3_stmt *st, int64_t *pk)
{
	json_t *o = json_object();
	int i = 1;
	if (pk)
		*pk = sqlite3_column_int64(st, 0);
	for (const struct gw_col *c = k->cols; c->name; c++) {
		if (c->hidden)
			continue;
		if (strcmp(c->name, k->pk) == 0) {
			json_object_set_new(o, c->name, json_integer(sqlite3_column_int64(st, 0)));
			continue;
		}
		json_object_set_new(o, c->name, sq_column_json(st, i++, c->type));
	}
	return o;
}

/* BEGIN (IMMEDIATE for writes), retried a bounded number of times while busy. */
/* BEGIN (IMMEDIATE for writes); busy is the caller's to retry, with the whole body. */
static enum gw_db sq_begin(struct sq_conn *c, int write)
{
	int brc = sqlite3_exec(c->db, write ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL, NULL);
	enum gw_db rc = sq_rc(brc);
	if (rc != GW_DB_OK && rc != GW_DB_BUSY)
		gw_log(LOG_ERR, "store: begin: %s", sqlite3_errmsg(c->db));
	return rc;
}

/* Runs a body in T, marking the thread so that a call without T inside it is caught. */
static enum gw_db sq_body(struct sq_store *s, struct sq_txn *t, gw_txn_body fn, void *arg)
{
	enum gw_db rc;
	memset(&t->base, 0, sizeof(t->base));
	pthread_setspecific(s->key, t);
	rc = fn(&t->base, arg);
	pthread_setspecific(s->key, NULL);
	if (t->base.retry && rc == GW_DB_OK)
		rc = GW_DB_BUSY; /* the body went on after a busy statement: not committed */
	return rc;
}

/* Runs a batch of write jobs in one transaction; each job's changes live in a savepoint
 * that is rolled back alone when its body fails. */
static void sq_run_batch(struct sq_store *s, struct sq_conn *c, struct sq_job *jobs)
{
	enum gw_db rc;
	struct sq_job *j;

	if (!c) {
		for (j = jobs; j; j = j->next)
			j->rc = GW_DB_ERROR;
		return;
	}
	rc = sq_begin(c, 1);
	if (rc != GW_DB_OK) {
		for (j = jobs; j; j = j->next)
			j->rc = rc;
		return;
	}
	for (j = jobs; j; j = j->next) {
		if (sqlite3_exec(c->db, "SAVEPOINT lb_job", NULL, NULL, NULL) != SQLITE_OK) {
			j->rc = GW_DB_ERROR;
			continue;
		}
		j->txn.c = c;
		j->rc = sq_body(s, &j->txn, j->fn, j->arg);
		if (j->rc != GW_DB_OK)
			sqlite3_exec(c->db, "ROLLBACK TO lb_job", NULL, NULL, NULL);
		sqlite3_exec(c->db, "RELEASE lb_job", NULL, NULL, NULL);
	}
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = sq_rc(sqlite3_extended_errcode(c->db));
		gw_log(LOG_ERR, "store: commit: %s", sqlite3_errmsg(c->db));
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		for (j = jobs; j; j = j->next)
			if (j->rc == GW_DB_OK)
				j->rc = rc == GW_DB_OK ? GW_DB_ERROR : rc;
	}
}

static void *sq_writer(void *arg)
{
	struct sq_store *s = arg;
	char err[512];
	/* the writer's own connection, outside the pool: writes never wait for a reader */
	struct sq_conn *wc = sq_open_conn(s->path, err, sizeof(err));
	if (!wc)
		gw_log(LOG_ERR, "store: writer: %s", err);
	/* WAL checkpoints run here, between batches (SQLite's automatic one, every 1000 pages):
	 * a checkpoint that finishes while no frame is appended lets the next batch restart the
	 * WAL from its start, so the file stays small and its fsyncs touch no metadata. A
	 * checkpointer thread beside the writer never caught up under load (the WAL grew by
	 * 17 MB/s) and made a check cost 40% more CPU (bench/findings.md). After a long reader
	 * held the WAL back, its file is cut back to 64 MiB. */
	if (wc && sq_exec(wc->db, "PRAGMA journal_size_limit=67108864") != SQLITE_OK)
		gw_log(LOG_WARNING, "store: journal_size_limit: %s", sqlite3_errmsg(wc->db));
	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct sq_job *batch, *last, *j, *next;
		int n = 1;
		while (!s->head && !s->stop)
			pthread_cond_wait(&s->work, &s->lock);
		if (!s->head)
			break;
		batch = last = s->head;
		while (last->next && n < SQ_BATCH_MAX) {
			last = last->next;
			n++;
		}
		s->head = last->next;
		if (!s->head)
			s->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->lock);
		sq_run_batch(s, wc, batch);
		pthread_mutex_lock(&s->lock);
		for (j = batch; j; j = next) {
			next = j->next; /* the caller may reuse its job as soon as it is done */
			j->done = 1;
			pthread_cond_signal(&j->cond);
		}
	}
	pthread_mutex_unlock(&s->lock);
	sq_conn_close(wc);
	return NULL;
}

/* One attempt of a write body through the writer's group commit. */
static enum gw_db sq_run_queued(struct sq_store *s, gw_txn_body fn, void *arg)
{
	struct sq_job job;
	memset(&job, 0, sizeof(job));
	job.fn = fn;
	job.arg = arg;
	job.rc = GW_DB_ERROR;
	pthread_cond_init(&job.cond, NULL);
	pthread_mutex_lock(&s->lock);
	if (s->stop) {
		pthread_mutex_unlock(&s->lock);
		pthread_cond_destroy(&job.cond);
		return GW_DB_ERROR;
	}
	if (s->tail)
		s->tail->next = &job;
	else
		s->head = &job;
	s->tail = &job;
	pthread_cond_signal(&s->work);
	while (!job.done)
		pthread_cond_wait(&job.cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	pthread_cond_destroy(&job.cond);
	return job.rc;
}

/* One attempt of a body on a pooled connection of this thread: reads, and writes before the
 * writer runs. */
static enum gw_db sq_run_here(struct sq_store *s, int write, gw_txn_body fn, void *arg)
{
	struct sq_txn t;
	enum gw_db rc;

	if (!(t.c = sq_pool_take(s, &rc)))
		return rc;
	if ((rc = sq_begin(t.c, write)) == GW_DB_OK) {
		rc = sq_body(s, &t, fn, arg);
		if (rc == GW_DB_OK && sqlite3_exec(t.c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			rc = sq_rc(sqlite3_extended_errcode(t.c->db));
			if (rc == GW_DB_OK)
				rc = GW_DB_ERROR;
			gw_log(LOG_ERR, "store: commit: %s", sqlite3_errmsg(t.c->db));
		}
		if (rc != GW_DB_OK)
			sqlite3_exec(t.c->db, "ROLLBACK", NULL, NULL, NULL);
	}
	sq_pool_give(s, t.c);
	return rc;
}

/* The whole body again while SQLite is busy (a statement, BEGIN or COMMIT), a bounded number
 * of times: a body that ran in a rolled-back transaction left nothing behind. */
static enum gw_db sq_run(void *cls, int write, gw_txn_body fn, void *arg)
{
	struct sq_store *s = cls;
	enum gw_db rc = GW_DB_BUSY;

	if (pthread_getspecific(s->key)) {
		/* the writer would wait for itself */
		gw_log(LOG_ERR, "store: a transaction started inside a transaction body");
		return GW_DB_ERROR;
	}
	int64_t first = lb_mono_ms();

	for (int attempt = 0; attempt < GW_TXN_TRIES; attempt++) {
		if (attempt && lb_mono_ms() - first >= GW_TXN_BUDGET_MS)
			break;
		if (attempt)
			usleep((useconds_t)(1000 << attempt));
		rc = write && s->writer_running ? sq_run_queued(s, fn, arg)
						: sq_run_here(s, write, fn, arg);
		if (rc != GW_DB_BUSY)
			return rc;
	}
	gw_log(LOG_WARNING, "store: database busy after %d attempts", GW_TXN_TRIES);
	return rc;
}

static int sq_valid_col(const struct gw_kind *k, const char *name)
{
	return strcmp(name, k->pk) == 0 || gw_kind_col(k, name) != NULL;
}

static enum gw_db sq_insert_on(struct sq_conn *c, const struct gw_kind *k, const json_t *obj)
{
	char sql[SQ_SQL_MAX], vals[SQ_SQL_MAX];
	size_t off, voff = 0;
	const char *key;
	json_t *v;
	sqlite3_stmt *st;
	int idx = 1, rc;

	off = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s (", k->table);
	json_object_foreach((json_t *)obj, key, v) {
		if (!sq_valid_col(k, key)) {
			gw_log(LOG_ERR, "store: %s has no column %s", k->table, key);
			return GW_DB_ERROR;
		}
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s\"%s\"", idx > 1 ? ", " : "",
					key);
		voff += (size_t)snprintf(vals + voff, sizeof(vals) - voff, "%s?", idx > 1 ? ", " : "");
		idx++;
	}
	snprintf(sql + off, sizeof(sql) - off, ") VALUES (%s)", vals);
	st = sq_prepare(c, sql);
	if (!st)
		return GW_DB_ERROR;
	idx = 1;
	json_object_foreach((json_t *)obj, key, v) sq_bind_json(st, idx++, v);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && (rc & 0xff) != SQLITE_CONSTRAINT)
		gw_log(LOG_ERR, "store: insert into %s: %s", k->table, sqlite3_errmsg(c->db));
	sq_done(st);
	return sq_rc(rc);
}

static enum gw_db sq_get_on(struct sq_conn *c, const struct gw_kind *k, const char *col, const char *val,
			 json_t **out)
{
	char sql[SQ_SQL_MAX], sel[SQ_SQL_MAX / 2];
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	if (!sq_valid_col(k, col))
		return GW_DB_ERROR;
	sq_select_list(k, sel, sizeof(sel));
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE \"%s\" = ?", sel, k->table, col);
	st = sq_prepare(c, sql);
	if (!st)
		return GW_DB_ERROR;
	sqlite3_bind_text(st, 1, val, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sq_row(k, st, NULL);
		sq_done(st);
		return GW_DB_OK;
	}
	sq_done(st);
	return rc == SQLITE_DONE ? GW_DB_NOT_FOUND : sq_rc(rc);
}

static enum gw_db sq_list_on(struct sq_conn *c, const struct gw_kind *k, const struct gw_filter *f,
			  size_t nf, int64_t cursor, size_t limit, int desc, gw_keep_fn keep,
			  void *keep_arg, json_t **items, int64_t *next)
{
	char sql[SQ_SQL_MAX], sel[SQ_SQL_MAX / 2];
	size_t off;
	sqlite3_stmt *st;
	int idx = 1, rc;
	size_t n = 0, scanned = 0;
	int64_t pk = 0;

	*items = NULL;
	*next = 0;
	sq_select_list(k, sel, sizeof(sel));
	off = (size_t)snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE 1", sel, k->table);
	for (size_t i = 0; i < nf; i++) {
		if (!sq_valid_col(k, f[i].col))
			return GW_DB_ERROR;
		if (f[i].op == GW_HAS)
			off += (size_t)snprintf(sql + off, sizeof(sql) - off,
						" AND EXISTS (SELECT 1 FROM json_each(%s.\"%s\") "
						"WHERE json_each.value = ?)",
						k->table, f[i].col);
		else if (!f[i].val)
			off += (size_t)snprintf(sql + off, sizeof(sql) - off, " AND \"%s\" IS %sNULL",
						f[i].col, f[i].op == GW_NE ? "NOT " : "");
		else
			off += (size_t)snprintf(sql + off, sizeof(sql) - off, " AND \"%s\" %s ?",
						f[i].col, gw_fop_sql(f[i].op));
	}
	if (cursor > 0)
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, " AND %s %s ?", k->pk,
					desc ? "<" : ">");
	snprintf(sql + off, sizeof(sql) - off, " ORDER BY %s %s LIMIT ?", k->pk,
		 desc ? "DESC" : "ASC");
	/* with a KEEP filter the page is filled by scanning, bounded by GW_SCAN_MAX */
	st = sq_prepare(c, sql);
	if (!st)
		return GW_DB_ERROR;
	for (size_t i = 0; i < nf; i++)
		if (f[i].val)
			sqlite3_bind_text(st, idx++, f[i].val, -1, SQLITE_TRANSIENT);
	if (cursor > 0)
		sqlite3_bind_int64(st, idx++, cursor);
	sqlite3_bind_int64(st, idx, keep ? GW_SCAN_MAX + 1 : (sqlite3_int64)limit + 1);
	*items = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t this_pk;
		json_t *row;
		if (n == limit) {
			*next = pk;
			break;
		}
		row = sq_row(k, st, &this_pk);
		pk = this_pk;
		if (keep && !keep(row, keep_arg)) {
			json_decref(row);
			if (++scanned >= GW_SCAN_MAX) {
				*next = pk;
				break;
			}
			continue;
		}
		json_array_append_new(*items, row);
		n++;
	}
	sq_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		json_decref(*items);
		*items = NULL;
		return sq_rc(rc);
	}
	return GW_DB_OK;
}

static enum gw_db sq_update_on(struct sq_conn *c, const struct gw_kind *k, const char *id,
			    const json_t *fields)
{
	char sql[SQ_SQL_MAX];
	size_t off;
	const char *key;
	json_t *v;
	sqlite3_stmt *st;
	int idx = 1, rc;

	off = (size_t)snprintf(sql, sizeof(sql), "UPDATE %s SET ", k->table);
	json_object_foreach((json_t *)fields, key, v) {
		if (!sq_valid_col(k, key))
			return GW_DB_ERROR;
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s\"%s\" = ?",
					idx > 1 ? ", " : "", key);
		idx++;
	}
	snprintf(sql + off, sizeof(sql) - off, " WHERE id = ?");
	st = sq_prepare(c, sql);
	if (!st)
		return GW_DB_ERROR;
	idx = 1;
	json_object_foreach((json_t *)fields, key, v) sq_bind_json(st, idx++, v);
	sqlite3_bind_text(st, idx, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_rc(rc);
	return sqlite3_changes(c->db) ? GW_DB_OK : GW_DB_NOT_FOUND;
}

static enum gw_db sq_remove_on(struct sq_conn *c, const struct gw_kind *k, const char *id)
{
	char sql[256];
	sqlite3_stmt *st;
	int rc;
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = ?", k->table);
	st = sq_prepare(c, sql);
	if (!st)
		return GW_DB_ERROR;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_rc(rc);
	return sqlite3_changes(c->db) ? GW_DB_OK : GW_DB_NOT_FOUND;
}

static enum gw_db sq_count_on(struct sq_conn *c, const struct gw_kind *k, int64_t *n)
{
	char sql[256];
	sqlite3_stmt *st;
	int rc;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", k->table);
	st = sq_prepare(c, sql);
	if (!st)
		return GW_DB_ERROR;
	rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sq_done(st);
	return rc == SQLITE_ROW ? GW_DB_OK : sq_rc(rc);
}

static enum gw_db sq_audit_append_on(struct sq_conn *c, json_t *ev, int *duplicate)
{
	sqlite3_stmt *st;
	char prev[65] = GW_ZERO_HASH, hash[65];
	int64_t seq = 1;
	int rc;

	*duplicate = 0;
	st = sq_prepare(c, "SELECT 1 FROM audit WHERE id = ?");
	if (!st)
		return GW_DB_ERROR;
	sqlite3_bind_text(st, 1, json_string_value(json_object_get(ev, "id")), -1,
			  SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc == SQLITE_ROW) {
		*duplicate = 1;
		return GW_DB_OK;
	}
	if (rc != SQLITE_DONE)
		return sq_rc(rc);
	st = sq_prepare(c, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
	if (!st)
		return GW_DB_ERROR;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0) + 1;
		snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(st, 1));
	}
	sq_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_rc(rc);
	json_object_set_new(ev, "seq", json_integer(seq));
	gw_audit_chain_hash(ev, prev, hash);
	json_object_set_new(ev, "prev_hash", json_string(prev));
	json_object_set_new(ev, "hash", json_string(hash));
	return sq_insert_on(c, &gw_k_audit, ev);
}

/* The store's operations: each runs on sq_use's connection. */
#define SQ_ON(call)                                                                      \
	do {                                                                             \
		int lent_;                                                               \
		enum gw_db rc_ = GW_DB_ERROR;                                            \
		struct sq_conn *c = sq_use(cls, t, &lent_, &rc_);                         \
		if (!c)                                                                  \
			return sq_note(t, rc_);                                          \
		rc_ = (call);                                                            \
		sq_unuse(cls, c, lent_);                                                 \
		return sq_note(t, rc_);                                                  \
	} while (0)

static enum gw_db sq_insert(void *cls, struct gw_txn *t, const struct gw_kind *k,
			    const json_t *obj)
{
	SQ_ON(sq_insert_on(c, k, obj));
}

static enum gw_db sq_get(void *cls, struct gw_txn *t, const struct gw_kind *k, const char *col,
			 const char *val, json_t **out)
{
	*out = NULL;
	SQ_ON(sq_get_on(c, k, col, val, out));
}

static enum gw_db sq_list(void *cls, struct gw_txn *t, const struct gw_kind *k,
			  const struct gw_filter *f, size_t nf, int64_t cursor, size_t limit,
			  int desc, gw_keep_fn keep, void *keep_arg, json_t **items, int64_t *next)
{
	*items = NULL;
	*next = 0;
	SQ_ON(sq_list_on(c, k, f, nf, cursor, limit, desc, keep, keep_arg, items, next));
}

static enum gw_db sq_update(void *cls, struct gw_txn *t, const struct gw_kind *k,
			    const char *id, const json_t *fields)
{
	SQ_ON(sq_update_on(c, k, id, fields));
}

static enum gw_db sq_remove(void *cls, struct gw_txn *t, const struct gw_kind *k,
			    const char *id)
{
	SQ_ON(sq_remove_on(c, k, id));
}

static enum gw_db sq_count(void *cls, struct gw_txn *t, const struct gw_kind *k, int64_t *n)
{
	*n = 0;
	SQ_ON(sq_count_on(c, k, n));
}

static enum gw_db sq_audit_append(void *cls, struct gw_txn *t, json_t *ev, int *duplicate)
{
	*duplicate = 0;
	if (!t) {
		gw_log(LOG_ERR, "store: audit_append outside a write transaction");
		return GW_DB_ERROR;
	}
	SQ_ON(sq_audit_append_on(c, ev, duplicate));
}

/* One writer at a time holds the database: whoever runs a body holds every lock. */
static enum gw_db sq_lock(void *cls, struct gw_txn *t, const char *name, int *got)
{
	(void)cls;
	(void)t;
	(void)name;
	*got = 1;
	return GW_DB_OK;
}

static void sq_close(void *cls)
{
	struct sq_store *s = cls;
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->lock);
	if (s->writer_running)
		pthread_join(s->writer, NULL);
	s->writer_running = 0;
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->work);
	gw_pool_destroy(&s->pool);
	pthread_key_delete(s->key);
	free(s->path);
	free(s);
}

static int sq_migrate(struct sq_conn *c, char *err, size_t errlen)
{
	int version = 0, rc;
	size_t n = 0;
	sqlite3_stmt *st = NULL;

	if (sq_exec(c->db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)") !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot create schema_version: %s", sqlite3_errmsg(c->db));
		return -1;
	}
	if (sqlite3_prepare_v2(c->db, "SELECT max(version) FROM schema_version", -1, &st, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	while (gw_sql_sqlite_migrations[n])
		n++;
	if ((size_t)version > n) {
		snprintf(err, errlen, "database schema version %d is newer than this gateway (%zu)",
			 version, n);
		return -1;
	}
	for (size_t i = (size_t)version; i < n; i++) {
		char bump[96];
		if (sq_exec(c->db, "BEGIN IMMEDIATE") != SQLITE_OK)
			goto fail;
		rc = sq_exec(c->db, gw_sql_sqlite_migrations[i]);
		snprintf(bump, sizeof(bump), "INSERT INTO schema_version VALUES (%zu)", i + 1);
		if (rc != SQLITE_OK || sq_exec(c->db, bump) != SQLITE_OK) {
			/* keep SQLite's reason: the ROLLBACK below would clear it */
			snprintf(err, errlen, "schema migration %zu failed: %s", i + 1,
				 sqlite3_errmsg(c->db));
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		if (sq_exec(c->db, "COMMIT") != SQLITE_OK)
			goto fail;
		gw_log(LOG_INFO, "store: applied migration %zu", i + 1);
	}
	return 0;
fail:
	snprintf(err, errlen, "schema migration failed: %s", sqlite3_errmsg(c->db));
	return -1;
}

struct gw_store *gw_store_sqlite_open(const char *path, unsigned max_conns, char *err,
				      size_t errlen)
{
	struct gw_store *st = calloc(1, sizeof(*st));
	struct sq_store *s = calloc(1, sizeof(*s));
	struct sq_conn *c;

	/* SQLite's allocation statistics take one process-wide mutex per malloc, which every
	 * thread's connection then contends for; nothing here reads them. Fails harmlessly
	 * (SQLITE_MISUSE) once SQLite is initialized. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (!st || !s || !(s->path = strdup(path)) || pthread_key_create(&s->key, NULL)) {
		snprintf(err, errlen, "out of memory");
		free(s ? s->path : NULL);
		free(s);
		free(st);
		return NULL;
	}
	c = sq_open_conn(path, err, errlen);
	if (!c || sq_migrate(c, err, errlen) != 0 ||
	    gw_pool_init(&s->pool, max_conns, SQ_POOL_WAIT_S, sq_pool_open, sq_conn_close, s) != 0) {
		sq_conn_close(c);
		pthread_key_delete(s->key);
		free(s->path);
		free(s);
		free(st);
		return NULL;
	}
	gw_pool_adopt(&s->pool, c); /* the migration's connection is the pool's first */
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	if (pthread_create(&s->writer, NULL, sq_writer, s) == 0)
		s->writer_running = 1;
	else
		gw_log(LOG_WARNING, "store: no writer thread; writes commit one by one");
	st->cls = s;
	st->run = sq_run;
	st->insert = sq_insert;
	st->get = sq_get;
	st->list = sq_list;
	st->update = sq_update;
	st->remove = sq_remove;
	st->count = sq_count;
	st->audit_append = sq_audit_append;
	st->lock = sq_lock;
	st->close = sq_close;
	return st;
}
