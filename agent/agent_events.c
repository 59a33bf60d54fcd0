/* lockbox-agent: host events the agent records itself (session.warn, session.terminate, a
 * session.end for a session whose process went away, re-check decisions): one syslog line
 * (authpriv, ident pam_lockbox, key=value, as the module writes them) and the local audit
 * log, which the delivery thread sends on. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "agent.h"
#include "lockbox/auditlog.h"
#include "lockbox/daemon.h"
#include "lockbox/escape.h"
#include "lockbox/json.h"
#include "lockbox/syslog.h"
#include "lockbox/util.h"

static void syslog_line(struct agent *ag, const json_t *ev)
{
	char line[LB_SYSLOG_LINE_MAX];
	struct lb_kvbuf kv;
	const char *type = lb_json_str(ev, "type"), *key;
	json_t *details = json_object_get(ev, "details"), *v;

	lb_kv_init(&kv, line, sizeof(line));
	lb_kv_add(&kv, "event", type);
	lb_kv_add(&kv, "id", lb_json_str(ev, "id"));
	if (json_is_string(json_object_get(ev, "request")))
		lb_kv_add(&kv, "request", json_string_value(json_object_get(ev, "request")));
	json_object_foreach(details, key, v) {
		if (json_is_string(v))
			lb_kv_add(&kv, key, json_string_value(v));
		else if (json_is_integer(v))
			lb_kv_add_long(&kv, key, (long long)json_integer_value(v));
		else if (json_is_null(v))
			lb_kv_add(&kv, key, "-");
	}
	lb_syslog_send("pam_lockbox",
		       LOG_AUTHPRIV | (strcmp(type, "session.terminate") == 0 ? LOG_NOTICE
									      : LOG_INFO),
		       line);
	if (ag->foreground)
		fprintf(stderr, "lockbox-agent: %s\n", line);
}

void agent_event(struct agent *ag, const char *type, const char *id, const char *user,
		 const char *request, json_t *details, int at_gateway)
{
	char err[512], host[256];
	enum lb_auditlog_result r;
	json_t *ev;

	agent_host_name(ag, host, sizeof(host));
	if (details && host[0] && !json_object_get(details, "host"))
		json_object_set_new(details, "host", json_string(host));
	ev = lb_audit_event_new(type, id, 0, user && lb_str_clean(user) ? user : NULL,
				request && *request ? request : NULL, details);
	if (!ev) {
		lb_log(LOG_ERR, "cannot build a %s event (out of memory or bad id)", type);
		return;
	}
	syslog_line(ag, ev);
	r = at_gateway ? lb_auditlog_append_delivered(ag->conf.audit_log, ev, err, sizeof(err))
		       : lb_auditlog_append(ag->conf.audit_log, ev, err, sizeof(err));
	if (r != LB_AUDITLOG_OK)
		lb_log(LOG_ERR, "%s: cannot record %s: %s", ag->conf.audit_log, type, err);
	json_decref(ev);
	if (!at_gateway)
		agent_deliver_kick(ag);
}
