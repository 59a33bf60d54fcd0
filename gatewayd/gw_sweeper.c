/* lockbox-gatewayd: the sweeper, the one housekeeping thread: expires and ends requests on
 * time and signs the periodic and every-N-events audit checkpoints. */
#include <pthread.h>
#include <sys/resource.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "gw.h"
#include "lockbox/util.h"

static pthread_mutex_t sweep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweep_cond = PTHREAD_COND_INITIALIZER;
static int sweep_stop;
static pthread_t sweep_thread;

void gw_sweeper_wake(void)
{
	pthread_mutex_lock(&sweep_lock);
	pthread_cond_signal(&sweep_cond);
	pthread_mutex_unlock(&sweep_lock);
}

static void *sweeper(void *arg)
{
	struct gw *gw = arg;
	int64_t last_checkpoint = lb_time_now_ms();
	/* housekeeping yields to requests: the first chain walk of a large store takes a while */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	gw_checkpoint_run(gw, 1);
	pthread_mutex_lock(&sweep_lock);
	while (!sweep_stop) {
		struct timespec ts;
		unsigned changed = 0;
		int64_t now;
		pthread_mutex_unlock(&sweep_lock);
		now = lb_time_now_ms();
		if (gw_requests_sweep(gw, now, &changed) != GW_DB_OK)
			gw_log(LOG_WARNING, "sweeper: the database was busy or failed; retrying next round");
		if (now - last_checkpoint >= gw->cfg.checkpoint_interval * 1000 ||
		    gw_checkpoint_due()) {
			gw_checkpoint_run(gw, 0);
			last_checkpoint = now;
		}
		pthread_mutex_lock(&sweep_lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += gw->cfg.sweep_interval;
		/* checkpoint_every wakes it early (gw_sweeper_wake) */
		if (!sweep_stop && !gw_checkpoint_due())
			pthread_cond_timedwait(&sweep_cond, &sweep_lock, &ts);
	}
	pthread_mutex_unlock(&sweep_lock);
	return NULL;
}

int gw_sweeper_start(struct gw *gw)
{
	return pthread_create(&sweep_thread, NULL, sweeper, gw) == 0 ? 0 : -1;
}

void gw_sweeper_stop(void)
{
	pthread_mutex_lock(&sweep_lock);
	sweep_stop = 1;
	pthread_cond_signal(&sweep_cond);
	pthread_mutex_unlock(&sweep_lock);
	pthread_join(sweep_thread, NULL);
}
