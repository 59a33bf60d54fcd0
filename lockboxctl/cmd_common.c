/* lockboxctl: the helpers every command file uses (cmd.h): required options, id paths,
 * printing answers and lists, tokens shown once, time arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

const char *cmd_need(const struct ctl_args *a, const char *name)
{
	const char *v = ctl_arg(a, name);
	if (!v || !*v) {
		ctl_usage(a, "missing --%s", name);
		return NULL;
	}
	return v;
}

char *cmd_path_id(const char *prefix, const char *id, const char *suffix)
{
	struct ctl_query q;
	char *p;
	ctl_query_init(&q, prefix);
	ctl_query_seg(&q, id);
	p = ctl_query_take(&q);
	if (p && suffix) {
		char *full;
		if (asprintf(&full, "%s%s", p, suffix) < 0)
			full = NULL;
		free(p);
		p = full;
	}
	return p;
}

int cmd_print_object(struct ctl *c, json_t *obj, const char *const *skip)
{
	if (c->json) {
		ctl_print_json(obj);
	} else if (c->quiet) {
		json_t *one = json_pack("[O]", obj);
		ctl_print_ids(one);
		json_decref(one);
	} else {
		ctl_show(obj, skip);
	}
	json_decref(obj);
	return CTL_OK;
}

int cmd_call_show(struct ctl *c, const char *method, const char *path, json_t *body)
{
	json_t *ans;
	int rc;
	if (!path) {
		json_decref(body);
		return CTL_FAILED;
	}
	rc = ctl_api(c, method, path, body, &ans);
	json_decref(body);
	if (rc != CTL_OK)
		return rc;
	return cmd_print_object(c, ans, NULL);
}

int cmd_list(struct ctl *c, const struct ctl_args *a, struct ctl_query *q,
	     const struct ctl_col *cols)
{
	return cmd_list_prep(c, a, q, cols, NULL);
}

int cmd_list_prep(struct ctl *c, const struct ctl_args *a, struct ctl_query *q,
		  const struct ctl_col *cols, void (*prep)(json_t *items))
{
	json_t *items;
	char *path = ctl_query_take(q), *next = NULL;
	const char *limit;
	int rc;
	if (!path)
		return CTL_FAILED;
	/* --all without --limit: the largest pages, fewest round trips */
	limit = ctl_arg(a, "limit") ? ctl_arg(a, "limit") : ctl_flag(a, "all") ? "200" : NULL;
	rc = ctl_list(c, path, ctl_flag(a, "all"), limit, ctl_arg(a, "cursor"), &items, &next);
	free(path);
	if (rc != CTL_OK)
		return rc;
	if (c->json)
		ctl_print_json(items);
	else if (c->quiet)
		ctl_print_ids(items);
	else {
		if (prep)
			prep(items);
		ctl_table(items, cols);
	}
	ctl_more_hint(next);
	free(next);
	json_decref(items);
	return CTL_OK;
}

/* Prints a secret the gateway shows once: the bare token on stdout (so scripts can capture
 * it), a note on stderr; --json prints the whole object. */
int cmd_print_once(struct ctl *c, json_t *obj, const char *what)
{
	const char *tok = lb_json_str(obj, "token");
	if (c->json) {
		ctl_print_json(obj);
	} else if (!tok) {
		ctl_err("the gateway's answer has no token");
		json_decref(obj);
		return CTL_FAILED;
	} else {
		const char *id = lb_json_str(obj, "id");
		fprintf(stderr, "lockboxctl: %s%s%s: the token below is shown only once; store it now\n",
			what, id ? " " : "", id ? id : "");
		printf("%s\n", tok);
	}
	json_decref(obj);
	return CTL_OK;
}

/* What the tables print comes back as input: "2026-12-01 22:40:00" (tables show UTC), a
 * date ("2026-12-01", its midnight UTC), and a time with its zone ("2026-12-01
 * 22:40:00+01:00") besides RFC 3339 and durations ("2h": two hours ago). */
char *cmd_time_arg(const char *v)
{
	int64_t secs, ms;
	char buf[LB_TIME_BUFLEN], t[64];
	size_t n = strlen(v);

	if (lb_duration_parse(v, &secs) == 0) {
		lb_time_format(lb_time_now_ms() - secs * 1000, buf, sizeof(buf));
		return strdup(buf);
	}
	if (lb_time_parse(v, &ms) == 0)
		return strdup(v);
	if (n < 10 || n > 40)
		return NULL;
	if (n == 10)
		snprintf(t, sizeof(t), "%sT00:00:00Z", v);
	else if (v[10] == ' ' && (n == 16 || n == 19)) /* a table's time, without seconds too */
		snprintf(t, sizeof(t), "%.10sT%s%sZ", v, v + 11, n == 16 ? ":00" : "");
	else if (v[10] == ' ')
		snprintf(t, sizeof(t), "%.10sT%s", v, v + 11);
	else
		return NULL;
	if (lb_time_parse(t, &ms) != 0)
		return NULL;
	lb_time_format(ms, buf, sizeof(buf));
	return strdup(buf);
}
