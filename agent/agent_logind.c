/* lockbox-agent: ending a session through systemd-logind where it runs. TerminateSession
 * stops the session's whole scope (its cgroup), so nothing that daemonized inside it survives;
 * the agent's own signals to the process tree still follow, for hosts without logind and
 * for processes logind does not know. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_proc.h"
#include "lockbox/daemon.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>

int agent_logind_terminate(int pid, char *session, size_t len)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus *bus = NULL;
	char *name = NULL;
	int r;

	session[0] = '\0';
	/* no logind, or the process is in no logind session (tests, containers) */
	if (sd_booted() <= 0 || sd_pid_get_session(pid, &name) < 0 || !name)
		return -1;
	snprintf(session, len, "%s", name);
	r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1",
				       "org.freedesktop.login1.Manager", "TerminateSession", &e,
				       NULL, "s", name);
	if (r < 0)
		lb_log(LOG_WARNING, "logind TerminateSession(%s): %s", name,
		       e.message ? e.message : strerror(-r));
	sd_bus_error_free(&e);
	sd_bus_unref(bus);
	free(name);
	return r < 0 ? -1 : 0;
}
#else
int agent_logind_terminate(int pid, char *session, size_t len)
{
	(void)pid;
	session[0] = '\0';
	(void)len;
	return -1;
}
#endif
