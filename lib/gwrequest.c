/* lockbox: one request to whichever of several gateways answers first in their order, within
 * the caller's one deadline (include/lockbox/gwlist.h: lb_gw_request). Every attempt goes
 * through lb_http_request: the same client, the same rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/gwlist.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define LB_GW_DEFAULT_TIMEOUT_MS 5000

/* Whether R's body is the gateway API's error object ({"error": {"code": ...}}): a gateway
 * answered, not a proxy standing in for one. */
static int gateway_body(const struct lb_http_response *r)
{
	char why[64];
	json_t *j, *e;
	int yes;

	if (!r->body || !r->len)
		return 0;
	j = lb_json_parse_object(r->body, r->len, why, sizeof(why));
	e = json_object_get(j, "error");
	yes = json_is_object(e) && json_is_string(json_object_get(e, "code"));
	json_decref(j);
	return yes;
}

/* Appends "URL: why" to ERR (which holds the attempts before, if any). */
static void add_failure(char *err, size_t errlen, const char *url, const char *why)
{
	size_t n = strnlen(err, errlen);
	if (n + 1 >= errlen)
		return;
	snprintf(err + n, errlen - n, "%s%s: %s", n ? "; " : "", url, why);
}

enum lb_http_result lb_gw_request(struct lb_gwlist *l, const struct lb_http_opts *o,
				  unsigned flags, const char *method, const char *path,
				  const char *body, struct lb_http_response *resp,
				  struct lb_gw_trace *tr, char *err, size_t errlen)
{
	struct lb_gw_trace tr_local;
	size_t order[LB_GWLIST_MAX], n;
	enum lb_http_result hr = LB_HTTP_ERR_INTERNAL;
	int64_t total, deadline;
	char all[1024] = "";

	if (!tr)
		tr = &tr_local;
	memset(tr, 0, sizeof(*tr));
	tr->answered = -1;
	if (err && errlen)
		err[0] = '\0';
	if (resp)
		memset(resp, 0, sizeof(*resp));
	if (!l || !o || !resp || !path || l->n == 0) {
		snprintf(err, errlen, "internal error: missing argument");
		return LB_HTTP_ERR_INTERNAL;
	}
	total = o->timeout_ms > 0 ? o->timeout_ms : LB_GW_DEFAULT_TIMEOUT_MS;
	deadline = lb_mono_ms() + total;
	n = lb_gwlist_order(l, order);
	for (size_t k = 0; k < n; k++) {
		struct lb_http_opts ao = *o;
		const char *base = l->url[order[k]];
		char url[2048], why[sizeof(tr->at[0].why)];
		int64_t t0 = lb_mono_ms(), connect_ms;
		enum lb_gw_verdict v;

		ao.timeout_ms = lb_gw_attempt_ms(total, deadline - t0, k, n, flags, &connect_ms);
		if (ao.timeout_ms <= 0) {
			if (tr->n == 0) {
				hr = LB_HTTP_ERR_TIMEOUT;
				snprintf(all, sizeof(all), "no time left to ask a gateway");
			}
			break;
		}
		ao.connect_timeout_ms = connect_ms;
		lb_http_response_free(resp); /* a proxy's answer from the attempt before */
		why[0] = '\0';
		if (lb_url_join(url, sizeof(url), base, path) != 0) {
			hr = LB_HTTP_ERR_URL;
			snprintf(why, sizeof(why), "URL too long");
		} else {
			hr = lb_http_request(&ao, method, url, body, resp, why, sizeof(why));
		}
		tr->at[tr->n].gw = order[k];
		tr->at[tr->n].hr = hr;
		tr->at[tr->n].status = hr == LB_HTTP_OK ? resp->status : 0;
		tr->at[tr->n].ms = lb_mono_ms() - t0;
		v = lb_gw_verdict(hr, resp->status, hr == LB_HTTP_OK && gateway_body(resp),
				  resp->sent, flags);
		if (hr == LB_HTTP_OK && v == LB_GW_NEXT)
			snprintf(why, sizeof(why), "HTTP %ld from a proxy, not the gateway",
				 resp->status);
		snprintf(tr->at[tr->n].why, sizeof(tr->at[tr->n].why), "%s", why);
		tr->n++;
		if (v == LB_GW_FINAL) {
			if (hr == LB_HTTP_OK) {
				tr->answered = (int)order[k];
				lb_gwlist_answered(l, order[k]);
				return LB_HTTP_OK;
			}
			if (hr == LB_HTTP_ERR_TIMEOUT || hr == LB_HTTP_ERR_PROTOCOL) {
				/* LB_GW_ONCE: it did not answer, but it may have taken the request */
				lb_gwlist_failed(l, order[k]);
				if (k + 1 < n) {
					size_t m = strlen(tr->at[tr->n - 1].why);
					snprintf(tr->at[tr->n - 1].why + m,
						 sizeof(tr->at[0].why) - m,
						 " (not sent to another gateway: it may have reached "
						 "this one)");
					snprintf(why, sizeof(why), "%s", tr->at[tr->n - 1].why);
				}
			}
			/* (an oversized answer or our own failure: the gateway stays in use) */
			add_failure(all, sizeof(all), base, why);
			break;
		}
		lb_gwlist_failed(l, order[k]);
		add_failure(all, sizeof(all), base, why);
		if (o->client)
			lb_http_client_reset(o->client); /* a broken connection is not kept */
	}
	if (hr == LB_HTTP_OK)
		/* the last one tried was a proxy's 502/503/504 and no gateway answered: that
		 * answer is the result, for the caller to report as such */
		return LB_HTTP_OK;
	if (tr->n == 1)
		snprintf(err, errlen, "%s", tr->at[0].why);
	else
		snprintf(err, errlen, "%s", all);
	return hr;
}
