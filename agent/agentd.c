/* lockbox-agent: the resident host daemon (DESIGN.md "Components", "Live sessions"). It
 * answers pam_lockbox's questions on agent_socket, asks the gateway over kept-alive HTTPS,
 * delivers the local audit log, and ends live sessions whose grant ended. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "lockbox/daemon.h"
#include "lockbox/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: lockbox-agent [-c PATH] [--foreground] [--state-dir DIR] [--check-config]\n"
		"\n"
		"The lockbox host agent: answers pam_lockbox.so on agent_socket, keeps a\n"
		"kept-alive HTTPS connection to the gateway, delivers the local audit log and\n"
		"ends live sessions whose grant ended. With several gateway_url URLs it uses\n"
		"the last one that answered and moves to the next when one does not answer\n"
		"(within timeout); an answer, even a refusal, is never asked again elsewhere.\n"
		"\n"
		"  -c, --config PATH     the host config (default " LB_HOSTCONF_PATH ")\n"
		"  -f, --foreground      stay in the foreground and log to stderr (systemd, tests)\n"
		"      --state-dir DIR   where the live-session table is kept\n"
		"                        (default " AGENT_STATE_DIR ")\n"
		"      --check-config    check the config and the host token, then exit\n"
		"  -h, --help            this text\n"
		"  -V, --version         the version\n");
}

static void init_sync(struct agent *ag)
{
	pthread_condattr_t ca;
	pthread_mutex_init(&ag->deliver_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ag->deliver_wake, &ca);
	pthread_mutex_init(&ag->rec.lock, NULL);
	pthread_mutex_init(&ag->rec.sync_lock, NULL);
	lb_auditlog_writer_init(&ag->rec.log);
	pthread_cond_init(&ag->rec.cond, &ca);
	pthread_cond_init(&ag->rec.work, &ca);
	pthread_condattr_destroy(&ca);
}

static int start(pthread_t *t, void *(*fn)(void *), void *arg, const char *what)
{
	int e = pthread_create(t, NULL, fn, arg);
	if (e != 0)
		lb_log(LOG_ERR, "cannot start the %s thread: %s", what, strerror(e));
	return e ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"foreground", no_argument, NULL, 'f'},
		{"state-dir", required_argument, NULL, 's'},
		{"check-config", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static struct agent ag;
	const char *config = NULL;
	char err[1024];
	sigset_t sigs;
	pthread_t t_sessions, t_changes, t_deliver, t_accept, t_sync;
	int opt, check_only = 0, ready_fd = -1, lfd = -1, sig;
	static struct agent_listener listener;

	ag.state_dir = AGENT_STATE_DIR;
	while ((opt = getopt_long(argc, argv, "c:fhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'f':
			ag.foreground = 1;
			break;
		case 's':
			ag.state_dir = optarg;
			break;
		case 'k':
			check_only = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("lockbox-agent " PACKAGE_VERSION "\n");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	lb_log_init("lockbox-agent");
	if (ag.state_dir[0] != '/') {
		lb_log(LOG_ERR, "--state-dir %s: must be an absolute path", ag.state_dir);
		return 2;
	}
	/* a bad config or token is refused at start, as the gateway does */
	if (lb_hostconf_load(&ag.conf, config, err, sizeof(err)) != 0) {
		lb_log(LOG_ERR, "%s", err);
		return 1;
	}
	ag.token = lb_hostconf_read_token(ag.conf.host_token_file, err, sizeof(err));
	if (!ag.token) {
		lb_log(LOG_ERR, "%s", err);
		return 1;
	}
	if (check_only) {
		printf("lockbox-agent: %s and %s are good\n", ag.conf.path, ag.conf.host_token_file);
		return 0;
	}
	if (!ag.foreground && lb_daemon_detach(&ready_fd) != 0) {
		lb_log(LOG_ERR, "cannot detach: %s", strerror(errno));
		return 1;
	}
	/* signals are taken by sigwait below, in this thread only */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	init_sync(&ag);
	agent_grants_init(&ag);
	if (agent_upstream_init(&ag) != 0 || agent_sessions_load(&ag) != 0 ||
	    agent_socket_open(&ag, &lfd) != 0)
		return 1;
	listener.ag = &ag;
	listener.fd = lfd;
	if (start(&t_sessions, agent_sessions_thread, &ag, "session") != 0 ||
	    start(&t_changes, agent_changes_thread, &ag, "change signal") != 0 ||
	    start(&t_deliver, agent_deliver_thread, &ag, "delivery") != 0 ||
	    start(&t_sync, agent_record_syncer, &ag, "decision sync") != 0 ||
	    start(&t_accept, agent_accept_thread, &listener, "socket") != 0)
		return 1;
	lb_log(LOG_INFO, "serving %s for %s (gateway%s %s, state %s)", ag.conf.agent_socket,
	       ag.conf.path, ag.conf.gateways.n > 1 ? "s, in this order," : "",
	       ag.conf.gateway_url, ag.state_dir);
	if (ready_fd >= 0) {
		lb_log_detached(LOG_AUTHPRIV);
		lb_daemon_ready(ready_fd);
	}
	/* Type=notify: sshd and xrdp-sesman (ordered after the agent) start once it answers */
	lb_daemon_notify("READY=1");
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			lb_log(LOG_INFO, "SIGHUP: nothing to reload (restart to read a new config)");
			continue;
		}
		break;
	}
	lb_log(LOG_INFO, "stopping (signal %d); live sessions stay in %s/sessions.json", sig,
	       ag.state_dir);
	lb_daemon_notify("STOPPING=1");
	ag.stopping = 1;
	agent_sessions_recheck_all(&ag); /* wakes the session thread */
	agent_deliver_kick(&ag);
	agent_record_kick(&ag);
	pthread_join(t_accept, NULL);
	pthread_join(t_sync, NULL);
	pthread_join(t_sessions, NULL);
	pthread_join(t_deliver, NULL);
	/* the change long-poll may sit in the gateway for a minute: not waited for */
	unlink(ag.conf.agent_socket);
	close(lfd);
	/* the change long-poll thread and detached workers may still use the config, the
	 * token and the pool: they stay allocated (reachable from AG) until the process ends */
	return 0;
}
