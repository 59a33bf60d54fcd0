/* lockboxctl: the support workflow: tickets (customers), elevations and access requests
 * (engineers), and the decisions on requests (internal and customer approvers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

/* ticket */

static const struct ctl_col ticket_cols[] = {
	{"ID", "id", COL_STR},
	{"STATE", "state", COL_STR},
	{"TENANT", "tenant", COL_STR},
	{"SUBSCRIPTION", "subscription", COL_STR},
	{"TITLE", "title", COL_STR},
	{"CREATED", "created_at", COL_TIME},
	{NULL, NULL, 0},
};

static int ticket_create(struct ctl *c, struct ctl_args *a)
{
	const char *t = cmd_need(a, "tenant"), *title, *desc;
	json_t *b;
	if (!t || !(title = cmd_need(a, "title")) || !(desc = cmd_need(a, "description")))
		return CTL_USAGE;
	b = json_pack("{s:s, s:s, s:s}", "tenant", t, "title", title, "description", desc);
	if (ctl_arg(a, "subscription"))
		json_object_set_new(b, "subscription", json_string(ctl_arg(a, "subscription")));
	return cmd_call_show(c, "POST", "/v1/tickets", b);
}

static int ticket_list(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	ctl_query_init(&q, "/v1/tickets");
	ctl_query_add(&q, "tenant", ctl_arg(a, "tenant"));
	return cmd_list(c, a, &q, ticket_cols);
}

static int ticket_show(struct ctl *c, struct ctl_args *a)
{
	char *p = cmd_path_id("/v1/tickets", a->pos[0], NULL);
	int rc = cmd_call_show(c, "GET", p, NULL);
	free(p);
	return rc;
}

static int ticket_close(struct ctl *c, struct ctl_args *a)
{
	char *p = cmd_path_id("/v1/tickets", a->pos[0], "/close");
	int rc = cmd_call_show(c, "POST", p, NULL);
	free(p);
	return rc;
}

/* elevations */

static const struct ctl_col elevation_cols[] = {
	{"ID", "id", COL_STR},
	{"ACTIVATED", "activated_at", COL_TIME},
	{"EXPIRES", "expires_at", COL_TIME},
	{"MFA", "mfa", COL_BOOL},
	{"JUSTIFICATION", "justification", COL_STR},
	{NULL, NULL, 0},
};

static int elevate(struct ctl *c, struct ctl_args *a)
{
	const char *d = cmd_need(a, "duration"), *r, *code = ctl_arg(a, "totp");
	int64_t secs;
	json_t *b, *ans;
	int rc;
	if (!d || !(r = cmd_need(a, "reason")))
		return CTL_USAGE;
	if (lb_duration_parse(d, &secs) != 0)
		return ctl_usage(a, "--duration: '%s' is not a duration (write e.g. 30m, 2h)", d);
	if (code && !cmd_totp_code_ok(code))
		return ctl_usage(a, "--totp: a TOTP code is 6 digits");
	b = json_pack("{s:s, s:s}", "duration", d, "justification", r);
	if (code)
		json_object_set_new(b, "totp", json_string(code));
	rc = cmd_call_totp(c, "POST", "/v1/elevations", b, &ans);
	json_decref(b);
	if (rc != CTL_OK)
		return rc;
	return cmd_print_object(c, ans, NULL);
}

static int elevation_list(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	ctl_query_init(&q, "/v1/elevations");
	return cmd_list(c, a, &q, elevation_cols);
}

/* requests */

static const struct ctl_col request_cols[] = {
	{"ID", "id", COL_STR},
	{"STATE", "state", COL_STR},
	{"REQUESTER", "requester_login", COL_STR},
	{"TICKET", "ticket", COL_STR},
	{"SCOPE", "scope", COL_STR},
	{"HOSTS", "hosts", COL_LIST},
	{"ACCESS", "access", COL_STR},
	{"DURATION", "duration", COL_STR},
	{"EXTENDS", "extends", COL_STR},
	{"BREAK-GLASS", "break_glass", COL_BOOL},
	{"REVIEW", "review", COL_STR},
	{"CREATED", "created_at", COL_TIME},
	{NULL, NULL, 0},
};

static const struct ctl_col history_cols[] = {
	{"TIME", "time", COL_TIME},
	{"ACTION", "action", COL_STR},
	{"ACTOR", "actor", COL_STR},
	{"REASON", "reason", COL_STR},
	{NULL, NULL, 0},
};

/* The subscription of ticket TICKET (or NULL if it has none), via GET /v1/tickets/{id}. */
static int ticket_subscription(struct ctl *c, const char *ticket, char **sub)
{
	char *p = cmd_path_id("/v1/tickets", ticket, NULL);
	json_t *t;
	int rc;
	*sub = NULL;
	if (!p)
		return CTL_FAILED;
	rc = ctl_api(c, "GET", p, NULL, &t);
	free(p);
	if (rc != CTL_OK)
		return rc;
	if (lb_json_str(t, "subscription"))
		*sub = strdup(lb_json_str(t, "subscription"));
	json_decref(t);
	return CTL_OK;
}

static int request_create(struct ctl *c, struct ctl_args *a)
{
	const char *ticket = cmd_need(a, "ticket"), *reason, *scope = ctl_arg(a, "scope");
	const char *access = ctl_arg(a, "access"), *h;
	char *sub = NULL;
	json_t *b, *hosts, *ans = NULL, *w;
	int64_t secs;
	size_t k;
	int rc;

	if (!ticket || !(reason = cmd_need(a, "reason")))
		return CTL_USAGE;
	if (ctl_arg(a, "duration") && lb_duration_parse(ctl_arg(a, "duration"), &secs) != 0)
		return ctl_usage(a, "--duration: '%s' is not a duration (write e.g. 30m, 4h)",
				 ctl_arg(a, "duration"));
	if (!scope)
		scope = "subscription";
	if (strcmp(scope, "subscription") != 0 && strcmp(scope, "tenant") != 0)
		return ctl_usage(a, "--scope must be subscription or tenant");
	if (!access)
		access = "ssh";
	if (ctl_flag(a, "all-hosts") && ctl_arg(a, "host"))
		return ctl_usage(a, "give --host or --all-hosts, not both");
	if (!ctl_flag(a, "all-hosts") && !ctl_arg(a, "host"))
		return ctl_usage(a, "name the hosts: --host NAME (repeatable) or --all-hosts");
	if (strcmp(scope, "tenant") == 0 && ctl_arg(a, "subscription"))
		return ctl_usage(a, "--subscription goes with --scope subscription only");
	if (strcmp(scope, "subscription") == 0) {
		if (ctl_arg(a, "subscription")) {
			sub = strdup(ctl_arg(a, "subscription"));
		} else {
			rc = ticket_subscription(c, ticket, &sub);
			if (rc != CTL_OK)
				return rc;
			if (!sub)
				return ctl_usage(a, "ticket %s names no subscription: give "
						    "--subscription SUB or --scope tenant", ticket);
		}
	}
	hosts = json_array();
	if (ctl_flag(a, "all-hosts"))
		json_array_append_new(hosts, json_string("*"));
	for (size_t i = 0; (h = ctl_arg_nth(a, "host", i)); i++)
		json_array_append_new(hosts, json_string(h));
	b = json_pack("{s:s, s:s, s:o, s:s, s:s}", "ticket", ticket, "scope", scope, "hosts", hosts,
		      "access", access, "justification", reason);
	if (sub)
		json_object_set_new(b, "subscription", json_string(sub));
	free(sub);
	if (ctl_arg(a, "duration"))
		json_object_set_new(b, "duration", json_string(ctl_arg(a, "duration")));
	if (ctl_flag(a, "break-glass")) {
		json_object_set_new(b, "break_glass", json_true());
		if (!c->quiet && !c->json)
			fprintf(stderr, "lockboxctl: BREAK-GLASS: the grant opens at once; every "
					"designated approver and provider admin is told now and reviews it\n");
	}
	rc = ctl_api(c, "POST", "/v1/requests", b, &ans);
	json_decref(b);
	if (rc != CTL_OK)
		return rc;
	json_array_foreach(json_object_get(ans, "warnings"), k, w)
		if (json_is_string(w) && !c->quiet)
			fprintf(stderr, "lockboxctl: warning: %s\n", json_string_value(w));
	return cmd_print_object(c, ans, NULL);
}

/* POST /v1/requests/{id}/extend: a new request that continues this grant when approved. */
static int request_extend(struct ctl *c, struct ctl_args *a)
{
	const char *reason = cmd_need(a, "reason"), *dur = ctl_arg(a, "duration");
	int64_t secs;
	json_t *b;
	char *p;
	int rc;
	if (!reason)
		return CTL_USAGE;
	if (dur && lb_duration_parse(dur, &secs) != 0)
		return ctl_usage(a, "--duration: '%s' is not a duration (write e.g. 30m, 4h)", dur);
	b = json_pack("{s:s}", "justification", reason);
	if (dur)
		json_object_set_new(b, "duration", json_string(dur));
	p = cmd_path_id("/v1/requests", a->pos[0], "/extend");
	rc = cmd_call_show(c, "POST", p, b);
	free(p);
	return rc;
}

/* POST /v1/requests/{id}/review: a designated approver's verdict on a break-glass request. */
static int request_review(struct ctl *c, struct ctl_args *a)
{
	const char *verdict = cmd_need(a, "verdict"), *reason = ctl_arg(a, "reason");
	char *p;
	int rc;
	if (!verdict)
		return CTL_USAGE;
	if (strcmp(verdict, "accepted") != 0 && strcmp(verdict, "rejected") != 0)
		return ctl_usage(a, "--verdict: accepted or rejected");
	p = cmd_path_id("/v1/requests", a->pos[0], "/review");
	rc = cmd_call_show(c, "POST", p,
			   reason ? json_pack("{s:s,s:s}", "verdict", verdict, "reason", reason)
				  : json_pack("{s:s}", "verdict", verdict));
	free(p);
	return rc;
}

static void request_query(struct ctl_query *q, const struct ctl_args *a, const char *state)
{
	ctl_query_init(q, "/v1/requests");
	ctl_query_add(q, "state", state);
	ctl_query_add(q, "tenant", ctl_arg(a, "tenant"));
	ctl_query_add(q, "subscription", ctl_arg(a, "subscription"));
	ctl_query_add(q, "host", ctl_arg(a, "host"));
	if (ctl_flag(a, "mine"))
		ctl_query_add(q, "mine", "true");
}

static int request_list(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	request_query(&q, a, ctl_arg(a, "state"));
	return cmd_list(c, a, &q, request_cols);
}

static int request_show(struct ctl *c, struct ctl_args *a)
{
	static const char *const skip[] = {"history", NULL};
	char *p = cmd_path_id("/v1/requests", a->pos[0], NULL);
	json_t *r, *t = NULL, *hist;
	const char *ticket;
	int rc;

	if (!p)
		return CTL_FAILED;
	rc = ctl_api(c, "GET", p, NULL, &r);
	free(p);
	if (rc != CTL_OK)
		return rc;
	if (c->json || c->quiet)
		return cmd_print_object(c, r, NULL);
	ctl_show(r, skip);
	/* the ticket, for context; a caller who may read the request may read its ticket, but
	 * an answer we cannot get does not make the request unreadable */
	ticket = lb_json_str(r, "ticket");
	if (ticket && (p = cmd_path_id("/v1/tickets", ticket, NULL))) {
		json_t *ans = NULL;
		long status;
		if (ctl_http(c, &c->gw, c->token, c->ca_file, c->timeout, "GET", p, NULL,
			     &status, &ans) == CTL_OK && status == 200)
			t = ans;
		else
			json_decref(ans);
		free(p);
	}
	if (t) {
		char *title = ctl_human(json_object_get(t, "title"), COL_STR);
		char *state = ctl_human(json_object_get(t, "state"), COL_STR);
		printf("\nTicket %s (%s): %s\n", ticket, state ? state : "?", title ? title : "?");
		free(title);
		free(state);
		json_decref(t);
	}
	hist = json_object_get(r, "history");
	if (json_is_array(hist)) {
		/* name the requester by login: the only actor whose login the request carries */
		const char *rid = lb_json_str(r, "requester"), *rlogin = lb_json_str(r, "requester_login");
		json_t *h = json_deep_copy(hist), *e;
		size_t i;
		json_array_foreach(h, i, e) {
			const char *actor = lb_json_str(e, "actor");
			if (actor && rid && rlogin && strcmp(actor, rid) == 0)
				json_object_set_new(e, "actor", json_string(rlogin));
		}
		printf("\nHistory:\n");
		ctl_table(h, history_cols);
		json_decref(h);
	}
	json_decref(r);
	return CTL_OK;
}

/* internal-approve, approve, deny, revoke, cancel: the last word of the command path */
static int request_decide(struct ctl *c, struct ctl_args *a)
{
	const char *action = strrchr(a->cmd->path, ' ') + 1, *reason = ctl_arg(a, "reason");
	const char *code = ctl_arg(a, "totp");
	char suffix[64];
	json_t *b, *ans;
	char *p;
	int rc;

	if (!reason && (strcmp(action, "deny") == 0 || strcmp(action, "revoke") == 0))
		return ctl_usage(a, "%s needs --reason", action);
	if (code && !cmd_totp_code_ok(code))
		return ctl_usage(a, "--totp: a TOTP code is 6 digits");
	snprintf(suffix, sizeof(suffix), "/%s", action);
	p = cmd_path_id("/v1/requests", a->pos[0], suffix);
	b = reason ? json_pack("{s:s}", "reason", reason) : json_object();
	if (code)
		json_object_set_new(b, "totp", json_string(code));
	/* approve, deny and revoke ask for a code on a terminal when the gateway wants one */
	rc = cmd_call_totp(c, "POST", p, b, &ans);
	json_decref(b);
	if (c->json) {
		if (rc == CTL_OK)
			rc = cmd_print_object(c, ans, NULL);
	} else {
		if (rc == CTL_OK) {
			char *st = ctl_human(json_object_get(ans, "state"), COL_STR);
			if (!c->quiet)
				printf("request %s: %s\n", a->pos[0], st ? st : "?");
			free(st);
			json_decref(ans);
		}
	}
	free(p);
	return rc;
}

static const struct ctl_opt ticket_create_opts[] = {
	{"tenant", "TENANT", "the tenant (tnt_...) the ticket is for", 0},
	{"subscription", "SUB", "the subscription concerned (optional)", 0},
	{"title", "TEXT", "one-line summary", 0},
	{"description", "TEXT", "what is wrong", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt ticket_list_opts[] = {
	{"tenant", "TENANT", "only this tenant's tickets", 0},
	CMD_LIST_OPTS,
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt elevate_opts[] = {
	{"duration", "DURATION", "how long the elevation lasts, e.g. 2h (at most max_elevation)", 0},
	{"reason", "TEXT", "justification, recorded in the audit log", 0},
	{"totp", "CODE", "a TOTP code (needed with require_mfa; asked for on a terminal)", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt plain_list_opts[] = {CMD_LIST_OPTS, {NULL, NULL, NULL, 0}};
static const struct ctl_opt request_create_opts[] = {
	{"ticket", "TICKET", "the customer's ticket (tkt_...) this work is for", 0},
	{"host", "NAME", "a host to access, by its enrolled name", CTL_OPT_REPEAT},
	{"all-hosts", NULL, "every host in the scope", 0},
	{"scope", "SCOPE", "subscription (default) or tenant", 0},
	{"subscription", "SUB", "the subscription (default: the ticket's)", 0},
	{"access", "TYPE", "ssh (default) or rdp", 0},
	{"duration", "DURATION", "length of the grant window, e.g. 4h (default: the gateway's "
				 "default_grant)", 0},
	{"reason", "TEXT", "justification shown to the approvers", 0},
	{"break-glass", NULL, "emergency access: approved at once, reviewed afterwards (the "
			      "tenant's policy must allow it)", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt extend_opts[] = {
	{"duration", "DURATION", "length of the extension, e.g. 2h (default: default_grant)", 0},
	{"reason", "TEXT", "justification shown to the approvers", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt review_opts[] = {
	{"verdict", "accepted|rejected", "rejected revokes the grant if it is still live", 0},
	{"reason", "TEXT", "why; recorded in the request's history and the audit log", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt request_list_opts[] = {
	{"state", "STATE", "pending (internal_review or customer_notified), internal_review, "
			   "customer_notified, approved, denied, expired, revoked, canceled or "
			   "completed", 0},
	{"mine", NULL, "only my own requests", 0},
	{"tenant", "TENANT", "only this tenant's requests", 0},
	{"subscription", "SUB", "only this subscription's requests", 0},
	{"host", "NAME", "only requests naming this host", 0},
	CMD_LIST_OPTS,
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt reason_opts[] = {
	{"reason", "TEXT", "why; recorded in the request's history and the audit log", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt decide_opts[] = {
	{"reason", "TEXT", "why; recorded in the request's history and the audit log", 0},
	{"totp", "CODE", "a TOTP code (needed with approve_mfa; asked for on a terminal)", 0},
	{NULL, NULL, NULL, 0},
};

const struct ctl_cmd ctl_cmds_work[] = {
	{"ticket create", "--tenant TENANT [--subscription SUB] --title TEXT --description TEXT",
	 "open a support ticket (customer user)", 0, 0, ticket_create_opts, ticket_create, 0, NULL},
	{"ticket list", "[--tenant TENANT]", "list tickets", 0, 0, ticket_list_opts, ticket_list, 0,
	 NULL},
	{"ticket show", "TICKET", "show one ticket", 1, 1, NULL, ticket_show, 0, NULL},
	{"ticket close", "TICKET", "close a ticket (customer user, global admin)", 1, 1, NULL,
	 ticket_close, 0, NULL},
	{"elevate", "--duration DURATION --reason TEXT [--totp CODE]",
	 "activate an elevation (engineer)", 0, 0, elevate_opts, elevate, 0,
	 "Activate the elevation BEFORE the request is approved: a grant only counts with an\n"
	 "elevation activated no later than the approval. With require_mfa the gateway wants\n"
	 "a TOTP code (lockboxctl totp enroll); without --totp it is asked for on a terminal."},
	{"elevation list", "", "list my elevations (engineer)", 0, 0, plain_list_opts,
	 elevation_list, 0, NULL},
	{"request create",
	 "--ticket TICKET (--host NAME... | --all-hosts) [--scope subscription|tenant] "
	 "[--subscription SUB] [--access ssh|rdp] [--duration DURATION] [--break-glass] "
	 "--reason TEXT",
	 "ask for access to hosts (engineer)", 0, 0, request_create_opts, request_create, 0,
	 "With --scope subscription (the default) the subscription is --subscription, else the\n"
	 "ticket's subscription; a ticket without one needs --subscription or --scope tenant.\n"
	 "--break-glass: only where the tenant's policy allows it, on an elevation activated\n"
	 "with a TOTP code, at most the policy's break_glass_max; approved at once, and every\n"
	 "designated approver and provider admin is told and reviews it."},
	{"request extend", "REQUEST [--duration DURATION] --reason TEXT",
	 "ask for more time on an approved grant (its engineer)", 1, 1, extend_opts,
	 request_extend, 0,
	 "Opens a new request (extends = REQUEST) with the same ticket, scope, hosts and\n"
	 "access, decided like any other. Approved, its window starts where REQUEST's grant\n"
	 "ends, and live sessions go on across the boundary."},
	{"request review", "REQUEST --verdict accepted|rejected [--reason TEXT]",
	 "review a break-glass request (designated approver)", 1, 1, review_opts, request_review,
	 0, "A rejected review revokes the grant if it is still live (its sessions end)."},
	{"request list", "[--state STATE] [--mine] [--tenant TENANT] [--host NAME]",
	 "list the requests I may see", 0, 0, request_list_opts, request_list, 0, NULL},
	{"request show", "REQUEST", "show a request with its ticket and decision history", 1, 1,
	 NULL, request_show, 0, NULL},
	{"request internal-approve", "REQUEST [--reason TEXT]",
	 "pass a request flagged by the JIT rules on to the customer (internal approver)", 1, 1,
	 reason_opts, request_decide, 0, NULL},
	{"request approve", "REQUEST [--reason TEXT] [--totp CODE]",
	 "approve a request (customer approver)", 1, 1, decide_opts, request_decide, 0,
	 "The grant window opens now and lasts the request's duration. With approve_mfa the\n"
	 "gateway wants a TOTP code; without --totp it is asked for on a terminal."},
	{"request deny", "REQUEST --reason TEXT [--totp CODE]", "deny a request (approver)", 1, 1,
	 decide_opts, request_decide, 0, NULL},
	{"request revoke", "REQUEST --reason TEXT [--totp CODE]",
	 "end an approved grant early (approver or its engineer)", 1, 1, decide_opts,
	 request_decide, 0, NULL},
	{"request cancel", "REQUEST [--reason TEXT]",
	 "withdraw a request not yet decided (its engineer)", 1, 1, reason_opts, request_decide, 0,
	 NULL},
	{NULL, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};
