/* lockbox-agent: the grants the agent holds, so a login costs a local socket, not a round
 * trip to the gateway.
 *
 * The gateway's GET /v1/hosts/self/grants lists every (user, access) its check would allow on
 * this host now, with each grant's end. The agent answers a login from that list only while
 * the list is known to be current: it was fetched after the last change the gateway
 * signalled, and the change long-poll that would signal the next one is live (answered
 * within the last AGENT_GRANTS_LIVE_MS). A signalled change drops the list at once, before
 * it is fetched again, so between a revoke and the new list every login asks the gateway.
 * Anything the list does not allow -- an unknown user, a grant about to end, a list that is
 * stale or missing -- goes to the gateway's /v1/check as before: the list can only make an
 * allow faster, never make one the gateway would not give.
 *
 * An allow made here is the agent's decision (at_gateway = 0, recorded = 1): the agent writes
 * it as access.check.allow to the local audit log before it answers, fsyncs it right after
 * (a session it opens waits for that: agent_events.c), and delivers it like any host event;
 * the gateway checks it against the request it names (details.verified). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "lockbox/daemon.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

/* A grant ending this soon is left to the gateway: the session would be ended at once. */
#define AGENT_GRANTS_MARGIN_MS 2000

void agent_grants_init(struct agent *ag)
{
	pthread_mutex_init(&ag->grants.lock, NULL);
}

static void drop_locked(struct agent *ag)
{
	free(ag->grants.v);
	ag->grants.v = NULL;
	ag->grants.n = 0;
	json_decref(ag->grants.services);
	ag->grants.services = NULL;
	ag->grants.valid = 0;
	ag->grants.live_until = 0;
}

void agent_grants_drop(struct agent *ag)
{
	pthread_mutex_lock(&ag->grants.lock);
	drop_locked(ag);
	pthread_mutex_unlock(&ag->grants.lock);
}

int agent_grants_valid(struct agent *ag)
{
	int v;
	pthread_mutex_lock(&ag->grants.lock);
	v = ag->grants.valid;
	pthread_mutex_unlock(&ag->grants.lock);
	return v;
}

void agent_grants_live(struct agent *ag, int64_t until_mono_ms)
{
	pthread_mutex_lock(&ag->grants.lock);
	if (ag->grants.valid)
		ag->grants.live_until = until_mono_ms;
	pthread_mutex_unlock(&ag->grants.lock);
}

static int text_ok(const json_t *v, size_t max)
{
	const char *s = json_string_value(v);
	return s && *s && strlen(s) == json_string_length(v) && strlen(s) < max &&
	       lb_str_clean(s);
}

int agent_grants_set(struct agent *ag, const json_t *ans, int64_t sent_mono_ms, char *why,
		     size_t whylen)
{
	const json_t *list = json_object_get(ans, "grants");
	const json_t *services = json_object_get(ans, "services");
	const char *now_s = lb_json_str(ans, "now"), *key;
	struct agent_grant *v = NULL;
	char host[256];
	int64_t gw_now;
	json_t *g, *sv;
	size_t i, n;

	agent_host_name(ag, host, sizeof(host));
	if (!json_is_integer(json_object_get(ans, "version")) || !now_s ||
	    lb_time_parse(now_s, &gw_now) != 0 || !json_is_array(list) ||
	    !json_is_object(services) || !json_is_boolean(json_object_get(ans, "disabled"))) {
		snprintf(why, whylen, "malformed answer (version, now, services, disabled, grants)");
		return -1;
	}
	if (!lb_json_str(ans, "host") || (host[0] && strcmp(lb_json_str(ans, "host"), host) != 0)) {
		snprintf(why, whylen, "the answer is about another host");
		return -1;
	}
	json_object_foreach((json_t *)services, key, sv) {
		if (!text_ok(sv, 16) || strlen(key) >= 64) {
			snprintf(why, whylen, "malformed service map");
			return -1;
		}
	}
	n = json_array_size(list);
	if (n > AGENT_MAX_GRANTS) {
		snprintf(why, whylen, "%zu grants: more than the agent keeps (%d)", n,
			 AGENT_MAX_GRANTS);
		return -1;
	}
	if (n && !(v = calloc(n, sizeof(*v)))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	json_array_foreach(list, i, g) {
		int64_t end;
		if (!text_ok(json_object_get(g, "user"), sizeof(v[i].user)) ||
		    !text_ok(json_object_get(g, "access"), sizeof(v[i].access)) ||
		    !text_ok(json_object_get(g, "request"), sizeof(v[i].request)) ||
		    !text_ok(json_object_get(g, "grant_expires_at"), sizeof(v[i].expires_at)) ||
		    lb_time_parse(lb_json_str(g, "grant_expires_at"), &end) != 0) {
			free(v);
			snprintf(why, whylen, "grants[%zu] is malformed", i);
			return -1;
		}
		snprintf(v[i].user, sizeof(v[i].user), "%s", lb_json_str(g, "user"));
		snprintf(v[i].access, sizeof(v[i].access), "%s", lb_json_str(g, "access"));
		snprintf(v[i].request, sizeof(v[i].request), "%s", lb_json_str(g, "request"));
		snprintf(v[i].expires_at, sizeof(v[i].expires_at), "%s",
			 lb_json_str(g, "grant_expires_at"));
		/* on the agent's monotonic clock, from the gateway's own now: the host's wall
		 * clock plays no part. Counted from when the question left, so never late. */
		v[i].expires_mono = sent_mono_ms + (end - gw_now);
	}
	pthread_mutex_lock(&ag->grants.lock);
	drop_locked(ag);
	ag->grants.v = v;
	ag->grants.n = n;
	ag->grants.services = json_deep_copy(services);
	ag->grants.version = json_integer_value(json_object_get(ans, "version"));
	ag->grants.valid = ag->grants.services != NULL;
	pthread_mutex_unlock(&ag->grants.lock);
	return 0;
}

int agent_grants_decide(struct agent *ag, const char *user, const char *service,
			struct lb_check_answer *a)
{
	int64_t now = lb_mono_ms();
	const struct agent_grant *best = NULL;
	const char *access;
	char host[256];

	agent_host_name(ag, host, sizeof(host));
	if (!host[0])
		return 0;
	pthread_mutex_lock(&ag->grants.lock);
	if (!ag->grants.valid || now >= ag->grants.live_until)
		goto out;
	access = json_string_value(json_object_get(ag->grants.services, service));
	if (!access)
		goto out;
	for (size_t i = 0; i < ag->grants.n; i++) {
		const struct agent_grant *g = &ag->grants.v[i];
		if (strcmp(g->user, user) != 0 || strcmp(g->access, access) != 0 ||
		    g->expires_mono - AGENT_GRANTS_MARGIN_MS <= now)
			continue;
		if (!best || g->expires_mono > best->expires_mono)
			best = g;
	}
	if (best) {
		memset(a, 0, sizeof(*a));
		a->allow = 1;
		snprintf(a->reason, sizeof(a->reason), "allow");
		snprintf(a->request, sizeof(a->request), "%s", best->request);
		snprintf(a->grant_expires_at, sizeof(a->grant_expires_at), "%s", best->expires_at);
		snprintf(a->access, sizeof(a->access), "%s", access);
		snprintf(a->message, sizeof(a->message),
			 "lockbox: access granted by request %.40s until %s", best->request,
			 best->expires_at);
		snprintf(a->user, sizeof(a->user), "%s", user);
		snprintf(a->host, sizeof(a->host), "%s", host);
		a->at_gateway = 0;
	}
out:
	pthread_mutex_unlock(&ag->grants.lock);
	if (best && lb_uuid4(a->decision_id, sizeof(a->decision_id)) != 0)
		return 0; /* no id, no record: let the gateway decide */
	return best != NULL;
}

int agent_grants_covers(struct agent *ag, const char *user, const char *request)
{
	int rc = -1;
	pthread_mutex_lock(&ag->grants.lock);
	if (ag->grants.valid && lb_mono_ms() < ag->grants.live_until) {
		rc = 0;
		for (size_t i = 0; i < ag->grants.n && !rc; i++)
			rc = strcmp(ag->grants.v[i].user, user) == 0 &&
			     strcmp(ag->grants.v[i].request, request) == 0;
	}
	pthread_mutex_unlock(&ag->grants.lock);
	return rc;
}

json_t *agent_grants_json(struct agent *ag)
{
	int64_t now = lb_mono_ms();
	json_t *o;
	pthread_mutex_lock(&ag->grants.lock);
	o = json_pack("{s:b,s:I,s:I}", "current",
		      ag->grants.valid && now < ag->grants.live_until, "version",
		      (json_int_t)ag->grants.version, "count", (json_int_t)ag->grants.n);
	pthread_mutex_unlock(&ag->grants.lock);
	return o;
}
