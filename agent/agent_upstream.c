/* lockbox-agent: the gateway side. Checks go out on a small pool of kept-alive HTTPS
 * connections (one lb_http_client each: the TCP connection and the TLS session are reused, so
 * a login costs one request, not a handshake); the change long-poll has its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "lockbox/daemon.h"
#include "lockbox/escape.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define AGENT_MAX_ANSWER (8 * 1024)
/* Seconds a long-poll waits at the gateway. It also bounds how long held grants outlive a
 * gateway that went silent without closing the connection (a network partition): they are
 * used only until AGENT_CHANGES_WAIT + AGENT_GRANTS_SLACK seconds after the last answer. */
#define AGENT_CHANGES_WAIT 25
#define AGENT_GRANTS_SLACK 5
#define AGENT_MAX_GRANTS_ANSWER (4 * 1024 * 1024)
#define AGENT_BACKOFF_MAX_MS 30000

int agent_upstream_init(struct agent *ag)
{
	pthread_mutex_init(&ag->pool_lock, NULL);
	pthread_mutex_init(&ag->host_lock, NULL);
	if (ag->conf.host_id)
		snprintf(ag->host_name, sizeof(ag->host_name), "%s", ag->conf.host_id);
	return 0;
}

void agent_upstream_free(struct agent *ag)
{
	for (size_t i = 0; i < ag->npool; i++)
		lb_http_client_free(ag->pool[i]);
	ag->npool = 0;
}

void agent_host_name(struct agent *ag, char *out, size_t len)
{
	pthread_mutex_lock(&ag->host_lock);
	snprintf(out, len, "%s", ag->host_name);
	pthread_mutex_unlock(&ag->host_lock);
}

/* A kept-alive client from the pool, or a new one when all are busy. */
static struct lb_http_client *client_get(struct agent *ag)
{
	struct lb_http_client *c = NULL;
	pthread_mutex_lock(&ag->pool_lock);
	if (ag->npool > 0)
		c = ag->pool[--ag->npool];
	pthread_mutex_unlock(&ag->pool_lock);
	return c ? c : lb_http_client_new();
}

static void client_put(struct agent *ag, struct lb_http_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&ag->pool_lock);
	if (ag->npool < AGENT_POOL) {
		ag->pool[ag->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&ag->pool_lock);
	lb_http_client_free(c);
}

/* METHOD PATH on the gateways of gateway_url, the one in use first (lb_gw_request: a
 * gateway that does not answer hands the request to the next within TIMEOUT_MS; one that
 * answers is final). FLAGS: LB_GW_LONG for the change long-poll. */
static enum lb_http_result gateway_call(struct agent *ag, struct lb_http_client *c,
					unsigned flags, const char *method, const char *path,
					const char *body, int64_t timeout_ms, size_t max_body,
					struct lb_http_response *r, char *err, size_t errlen)
{
	struct lb_http_opts o = {0};
	struct lb_gw_trace tr;
	enum lb_http_result hr;

	o.ca_file = ag->conf.ca_file;
	o.bearer = ag->token;
	o.timeout_ms = timeout_ms;
	o.max_body = max_body;
	o.client = c;
	hr = lb_gw_request(&ag->conf.gateways, &o, flags, method, path, body, r, &tr, err,
			   errlen);
	ag->gateway_ok = hr == LB_HTTP_OK && tr.answered >= 0;
	if (hr != LB_HTTP_OK)
		lb_http_client_reset(c); /* a broken connection is not kept */
	if (tr.answered >= 0 && tr.n > 1)
		/* said once per move: the next calls go to this one first */
		lb_log(LOG_WARNING, "gateway %s did not answer (%s); now using %s",
		       ag->conf.gateways.url[tr.at[0].gw], tr.at[0].why,
		       ag->conf.gateways.url[tr.answered]);
	return hr;
}

static const char *reason_for_transport(enum lb_http_result hr)
{
	switch (hr) {
	case LB_HTTP_ERR_TIMEOUT:
		return "gateway_timeout";
	case LB_HTTP_ERR_TLS:
		return "gateway_tls_error";
	case LB_HTTP_ERR_TOOBIG:
	case LB_HTTP_ERR_PROTOCOL:
		return "gateway_bad_answer";
	case LB_HTTP_ERR_URL:
		return "config_error";
	case LB_HTTP_ERR_INTERNAL:
		return "internal_error";
	default:
		return "gateway_unreachable";
	}
}

/* A deny the agent makes itself: the gateway could not decide. */
static void local_deny(struct lb_check_answer *a, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void local_deny(struct lb_check_answer *a, const char *reason, const char *fmt, ...)
{
	char why[sizeof(a->error)];
	va_list ap;
	/* formatted before A is cleared (the arguments may point into A: the answer's user
	 * and host), and sanitized: the text may quote the gateway's bytes (a JSON parser's
	 * "near '...'"), and the module refuses an answer with control characters in it */
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	memset(a, 0, sizeof(*a));
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
	lb_sanitize_text(why, a->error, sizeof(a->error));
	snprintf(a->message, sizeof(a->message),
		 "lockbox: the gateway could not decide (%s), so access is denied", reason);
	if (lb_uuid4(a->decision_id, sizeof(a->decision_id)) != 0)
		snprintf(a->decision_id, sizeof(a->decision_id),
			 "00000000-0000-4000-8000-000000000000");
	a->at_gateway = 0;
}

/* Types the gateway's answer: a 200 with a well-formed decision about this user and host,
 * or a deny saying what was wrong with it. */
static void type_answer(struct agent *ag, const struct lb_http_response *r, const char *user,
			struct lb_check_answer *a)
{
	char why[256], host[256];
	json_t *j;

	if (r->status != 200) {
		char text[300];
		lb_http_error_text(r, text, sizeof(text));
		/* 401 on /v1/check: the gateway does not know this host's token (host_unknown:
		 * never enrolled, or the token was replaced) */
		local_deny(a, r->status == 401 ? "host_unknown" : "gateway_http_error", "%s", text);
		return;
	}
	/* JSON_REJECT_DUPLICATES: a second "decision" key must never win */
	j = lb_json_parse_object(r->body, r->len, why, sizeof(why));
	if (!j) {
		local_deny(a, "gateway_bad_answer", "gateway answer is not valid JSON: %s", why);
		return;
	}
	if (lb_check_answer_parse(j, a, why, sizeof(why)) != 0) {
		local_deny(a, "gateway_bad_answer", "gateway %s", why);
		goto out;
	}
	agent_host_name(ag, host, sizeof(host));
	/* the answer must be about the question: this user, this host */
	if (strcmp(a->user, user) != 0 || !a->host[0] || (host[0] && strcmp(a->host, host) != 0)) {
		local_deny(a, "gateway_bad_answer",
			   "gateway answered for another user or host (%.64s on %.64s)", a->user,
			   a->host);
		goto out;
	}
	if (!host[0] && a->host[0]) {
		pthread_mutex_lock(&ag->host_lock);
		snprintf(ag->host_name, sizeof(ag->host_name), "%s", a->host);
		pthread_mutex_unlock(&ag->host_lock);
	}
	a->at_gateway = 1;
	a->error[0] = '\0';
out:
	json_decref(j);
}

void agent_check(struct agent *ag, const char *user, const char *service, const char *rhost,
		 const char *tty, const char *session, int64_t timeout_ms,
		 struct lb_check_answer *a)
{
	struct lb_http_response r = {0};
	struct lb_http_client *c;
	enum lb_http_result hr;
	char err[512];
	char *body;
	json_t *q;

	q = json_pack("{s:s,s:s}", "user", user, "service", service);
	if (q && rhost && *rhost)
		json_object_set_new(q, "rhost", json_string(rhost));
	if (q && tty && *tty)
		json_object_set_new(q, "tty", json_string(tty));
	if (q && session)
		json_object_set_new(q, "session", json_string(session));
	body = q ? json_dumps(q, JSON_COMPACT) : NULL;
	json_decref(q);
	if (!body) {
		local_deny(a, "internal_error", "out of memory");
		goto fill;
	}
	c = client_get(ag);
	if (!c) {
		free(body);
		local_deny(a, "internal_error", "out of memory");
		goto fill;
	}
	hr = gateway_call(ag, c, 0, "POST", "/v1/check", body, timeout_ms, AGENT_MAX_ANSWER, &r, err,
			  sizeof(err));
	client_put(ag, c);
	free(body);
	if (hr != LB_HTTP_OK)
		local_deny(a, reason_for_transport(hr), "%s", err);
	else
		type_answer(ag, &r, user, a);
	lb_http_response_free(&r);
fill:
	/* the answer names what it decided about */
	snprintf(a->user, sizeof(a->user), "%s", user);
	if (!a->host[0])
		agent_host_name(ag, a->host, sizeof(a->host));
}

int agent_grants_fetch(struct agent *ag, struct lb_http_client *c)
{
	struct lb_http_response r = {0};
	char err[512], why[256];
	int64_t sent = lb_mono_ms();
	json_t *j = NULL;
	int rc = -1;

	agent_grants_drop(ag);
	if (gateway_call(ag, c, 0, "GET", "/v1/hosts/self/grants", NULL, ag->conf.timeout * 1000,
			 AGENT_MAX_GRANTS_ANSWER, &r, err, sizeof(err)) != LB_HTTP_OK) {
		lb_log(LOG_WARNING, "grants: %s (logins ask the gateway)", err);
		goto out;
	}
	if (r.status != 200) {
		lb_log(LOG_WARNING, "grants: HTTP %ld (logins ask the gateway)", r.status);
		goto out;
	}
	j = lb_json_parse_object(r.body, r.len, why, sizeof(why));
	if (!j || agent_grants_set(ag, j, sent, why, sizeof(why)) != 0) {
		lb_log(LOG_WARNING, "grants: %s (logins ask the gateway)", why);
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	lb_http_response_free(&r);
	return rc;
}

/* GET /v1/hosts/self once the gateway answers: the enrolled name answers carry. */
static void learn_host_name(struct agent *ag, struct lb_http_client *c)
{
	struct lb_http_response r = {0};
	char err[512], why[128];
	json_t *j;

	if (ag->host_name[0])
		return;
	if (gateway_call(ag, c, 0, "GET", "/v1/hosts/self", NULL, ag->conf.timeout * 1000,
			 AGENT_MAX_ANSWER, &r, err, sizeof(err)) != LB_HTTP_OK || r.status != 200)
		goto out;
	j = lb_json_parse_object(r.body, r.len, why, sizeof(why));
	if (j && lb_json_str(j, "name") && lb_str_clean(lb_json_str(j, "name"))) {
		pthread_mutex_lock(&ag->host_lock);
		snprintf(ag->host_name, sizeof(ag->host_name), "%s", lb_json_str(j, "name"));
		pthread_mutex_unlock(&ag->host_lock);
	}
	json_decref(j);
out:
	lb_http_response_free(&r);
}

static void sleep_until_stop(struct agent *ag, int64_t ms)
{
	int64_t end = lb_mono_ms() + ms;
	while (!ag->stopping && lb_mono_ms() < end)
		usleep(50 * 1000);
}

/* One long-poll: 1 changed (or the first answer), 0 nothing changed, -1 no answer. */
static int poll_changes(struct agent *ag, struct lb_http_client *c, long long *since,
			int have_since)
{
	struct lb_http_response r = {0};
	char path[128], err[512], why[128];
	json_int_t v;
	json_t *j;
	int rc = -1;

	if (have_since)
		snprintf(path, sizeof(path), "/v1/hosts/self/changes?since=%lld&wait=%d", *since,
			 AGENT_CHANGES_WAIT);
	else
		snprintf(path, sizeof(path), "/v1/hosts/self/changes?wait=0");
	/* the first question is answered at once: it fails over like a check; a long poll
	 * holds one gateway for its whole wait once connected (LB_GW_LONG) */
	if (gateway_call(ag, c, have_since ? LB_GW_LONG : 0, "GET", path, NULL,
			 have_since ? (AGENT_CHANGES_WAIT + 15) * 1000 : ag->conf.timeout * 1000,
			 4096, &r, err, sizeof(err)) != LB_HTTP_OK) {
		lb_log(LOG_WARNING, "gateway change signal: %s", err);
		goto out;
	}
	if (r.status != 200) {
		lb_log(LOG_WARNING, "gateway change signal: HTTP %ld", r.status);
		goto out;
	}
	j = lb_json_parse_object(r.body, r.len, why, sizeof(why));
	if (!j || !json_is_integer(json_object_get(j, "version"))) {
		lb_log(LOG_WARNING, "gateway change signal: malformed answer");
		json_decref(j);
		goto out;
	}
	v = json_integer_value(json_object_get(j, "version"));
	rc = (!have_since || v != *since) ? 1 : 0;
	*since = v;
	ag->change_version = v;
	json_decref(j);
out:
	lb_http_response_free(&r);
	return rc;
}

void *agent_changes_thread(void *arg)
{
	struct agent *ag = arg;
	struct lb_http_client *c = lb_http_client_new();
	long long since = 0;
	int have_since = 0, answered = 0;
	int64_t backoff = 500;

	if (!c) {
		lb_log(LOG_ERR, "change signal: out of memory");
		return NULL;
	}
	while (!ag->stopping) {
		int rc;
		learn_host_name(ag, c);
		rc = poll_changes(ag, c, &since, have_since);
		if (rc < 0) {
			/* after an outage we may have missed a signal: re-check when it answers;
			 * until then no login is answered from grants that may be stale */
			agent_grants_drop(ag);
			have_since = 0;
			sleep_until_stop(ag, backoff);
			backoff = backoff * 2 > AGENT_BACKOFF_MAX_MS ? AGENT_BACKOFF_MAX_MS : backoff * 2;
			continue;
		}
		backoff = 500;
		/* a change drops the held grants before anything else, so the next login asks
		 * the gateway until the new list is here */
		/* (the very first answer is no change: nothing was decided before it) */
		if (rc == 1 && answered)
			ag->last_change_ms = lb_mono_ms();
		answered = 1;
		if (rc == 1 || !agent_grants_valid(ag))
			(void)agent_grants_fetch(ag, c);
		agent_grants_live(ag, lb_mono_ms() + (AGENT_CHANGES_WAIT + AGENT_GRANTS_SLACK) * 1000);
		if (rc == 1)
			agent_sessions_recheck_all(ag);
		have_since = 1;
	}
	lb_http_client_free(c);
	return NULL;
}
