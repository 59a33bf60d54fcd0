/* lockbox-gatewayd: the bounded pool of database connections (store_pool.h). HTTP threads
 * come and go with their client connections; a pooled connection keeps its cache (prepared
 * statements, pages) across them. */
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

#include "gw.h"
#include "store_pool.h"

int gw_pool_init(struct gw_pool *p, unsigned max, unsigned wait_s,
		 void *(*open)(void *cls, char *err, size_t errlen), void (*close)(void *conn),
		 void *cls)
{
	p->max = max ? max : 1;
	p->idle = calloc(p->max, sizeof(*p->idle));
	if (!p->idle)
		return -1;
	p->nidle = 0;
	p->nopen = 0;
	p->wait_s = wait_s;
	p->open = open;
	p->close = close;
	p->cls = cls;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	return 0;
}

void *gw_pool_take(struct gw_pool *p, enum gw_db *why)
{
	void *c = NULL;
	struct timespec until;
	char err[512];
	int open_one = 0;

	*why = GW_DB_BUSY;
	pthread_mutex_lock(&p->lock);
	if (!p->nidle && p->nopen >= p->max) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += p->wait_s;
		while (!p->nidle && p->nopen >= p->max)
			if (pthread_cond_timedwait(&p->freed, &p->lock, &until) != 0)
				break;
	}
	if (p->nidle)
		c = p->idle[--p->nidle];
	else if (p->nopen < p->max) {
		p->nopen++; /* reserved: opened below without holding the lock */
		open_one = 1;
	}
	pthread_mutex_unlock(&p->lock);
	if (open_one && !(c = p->open(p->cls, err, sizeof(err)))) {
		gw_log(LOG_ERR, "store: %s", err);
		*why = GW_DB_ERROR;
		pthread_mutex_lock(&p->lock);
		p->nopen--;
		pthread_cond_signal(&p->freed);
		pthread_mutex_unlock(&p->lock);
	} else if (!c) {
		gw_log(LOG_WARNING, "store: all %u database connections busy for %u s", p->max,
		       p->wait_s);
	}
	return c;
}

void gw_pool_give(struct gw_pool *p, void *conn)
{
	pthread_mutex_lock(&p->lock);
	if (p->nidle < p->max)
		p->idle[p->nidle++] = conn;
	else /* cannot happen while only taken connections come back; never leak one */
		p->close(conn);
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

void gw_pool_adopt(struct gw_pool *p, void *conn)
{
	pthread_mutex_lock(&p->lock);
	p->nopen++;
	pthread_mutex_unlock(&p->lock);
	gw_pool_give(p, conn);
}

void gw_pool_destroy(struct gw_pool *p)
{
	while (p->nidle)
		p->close(p->idle[--p->nidle]);
	free(p->idle);
	p->idle = NULL;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->freed);
}
