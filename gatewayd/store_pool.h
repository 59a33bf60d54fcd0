/* lockbox-gatewayd: the bounded pool of database connections both stores keep. */
#ifndef LOCKBOX_STORE_POOL_H
#define LOCKBOX_STORE_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "gw_store.h"

/* Idle connections are reused; a new one is opened while fewer than MAX are open; a caller
 * that finds all MAX busy waits at most WAIT_S for one (then GW_DB_BUSY: a 503, never an
 * unbounded wait on an HTTP thread). Connections are the store's own (void *). */
struct gw_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	void **idle; /* a stack of at most MAX */
	size_t nidle;
	unsigned nopen, max, wait_s;
	void *(*open)(void *cls, char *err, size_t errlen);
	void (*close)(void *conn);
	void *cls;
};

int gw_pool_init(struct gw_pool *p, unsigned max, unsigned wait_s,
		 void *(*open)(void *cls, char *err, size_t errlen), void (*close)(void *conn),
		 void *cls);
/* Takes an idle connection or opens one; NULL with *WHY = GW_DB_BUSY (all busy) or
 * GW_DB_ERROR (it could not be opened: logged). */
void *gw_pool_take(struct gw_pool *p, enum gw_db *why);
/* Gives CONN back (also one opened outside the pool, counted once by gw_pool_adopt). */
void gw_pool_give(struct gw_pool *p, void *conn);
/* Counts CONN, opened by the store itself (the migration's connection), as the pool's. */
void gw_pool_adopt(struct gw_pool *p, void *conn);
/* Closes the idle connections; every taken one must have been given back. */
void gw_pool_destroy(struct gw_pool *p);

#endif
