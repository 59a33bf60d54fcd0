/* lb_bench_wlock.so: an LD_PRELOAD prototype of a fix the benchmark suggests for the gateway,
 * so its effect can be measured without touching gatewayd/: one process-wide mutex around
 * every write transaction (from "BEGIN IMMEDIATE" to its COMMIT or ROLLBACK), so the gateway's
 * threads queue on a mutex instead of colliding on SQLite's write lock and sleeping in its
 * busy handler (1, 2, 5, 10, ... 100 ms naps). Nothing else changes.
 *
 *   LD_PRELOAD=bench/.libs/lb_bench_wlock.so lockbox-gatewayd -c ... --foreground */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <strings.h>

#include <sqlite3.h>

typedef int (*exec_fn)(sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *,
		       char **);

static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static __thread int held;

int sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
		 void *arg, char **err)
{
	static exec_fn real;
	int rc;

	if (!real)
		real = (exec_fn)dlsym(RTLD_NEXT, "sqlite3_exec");
	if (!held && strncasecmp(sql, "BEGIN IMMEDIATE", 15) == 0) {
		pthread_mutex_lock(&wlock);
		held = 1;
		rc = real(db, sql, cb, arg, err);
		if (rc != SQLITE_OK) {
			held = 0;
			pthread_mutex_unlock(&wlock);
		}
		return rc;
	}
	rc = real(db, sql, cb, arg, err);
	if (held && ((strncasecmp(sql, "COMMIT", 6) == 0 && rc == SQLITE_OK) ||
		     strncasecmp(sql, "ROLLBACK", 8) == 0)) {
		held = 0;
		pthread_mutex_unlock(&wlock);
	}
	return rc;
}
