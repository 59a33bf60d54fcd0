/* lockboxctl: the central audit log: list with filters, export as JSON lines, verify the chain. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "lockbox/auditlog.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

/* ACTOR is the actor as recorded (a user id, or a host event's Unix login); LOGIN beside it
 * is the actor_login the gateway adds to the events of users it knows ("-" otherwise), as
 * role list shows LOGIN beside USER. */
static const struct ctl_col audit_cols[] = {
	{"SEQ", "seq", COL_ANY},
	{"TIME", "time", COL_TIME},
	{"TYPE", "type", COL_STR},
	{"LEVEL", "level", COL_STR},
	{"ACTOR", "actor", COL_STR},
	{"LOGIN", "actor_login", COL_STR},
	{"HOST", "host", COL_STR},
	{"REQUEST", "request", COL_STR},
	{NULL, NULL, 0},
};

/* The filtered query; returns CTL_OK or a usage error. */
static int audit_query(const struct ctl_args *a, struct ctl_query *q)
{
	static const char *const plain[] = {"level", "tenant", "subscription", "host",
					    "type",  "request", NULL};
	static const char *const times[] = {"since", "until", NULL};
	ctl_query_init(q, "/v1/audit/events");
	for (size_t i = 0; plain[i]; i++)
		ctl_query_add(q, plain[i], ctl_arg(a, plain[i]));
	for (size_t i = 0; times[i]; i++) {
		const char *v = ctl_arg(a, times[i]);
		char *t;
		if (!v)
			continue;
		if (!(t = cmd_time_arg(v))) {
			free(ctl_query_take(q));
			return ctl_usage(a, "--%s: '%s' is neither a time (2026-12-01 22:40:00 UTC, "
					 "2026-12-01, RFC 3339) nor a duration (2h: two hours ago)",
					 times[i], v);
		}
		ctl_query_add(q, times[i], t);
		free(t);
	}
	return CTL_OK;
}

static int audit_list(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	int rc = audit_query(a, &q);
	if (rc != CTL_OK)
		return rc;
	return cmd_list(c, a, &q, audit_cols);
}

/* Every page, one compact JSON object per line, printed as pages arrive. */
static int audit_export(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	char *path, *cur = NULL;
	const char *limit = ctl_arg(a, "limit") ? ctl_arg(a, "limit") : "200";
	int rc = audit_query(a, &q);
	size_t n = 0;

	if (rc != CTL_OK)
		return rc;
	if (!(path = ctl_query_take(&q)))
		return CTL_FAILED;
	for (int page = 0; page < 10000000; page++) {
		json_t *items, *e;
		char *next = NULL, *prev = cur;
		size_t i;
		rc = ctl_list(c, path, 0, limit, cur, &items, &next);
		if (rc != CTL_OK)
			break;
		json_array_foreach(items, i, e) {
			char *line = json_dumps(e, JSON_COMPACT);
			if (line) {
				puts(line);
				free(line);
				n++;
			}
		}
		json_decref(items);
		cur = next;
		if (prev && cur && strcmp(prev, cur) == 0) {
			ctl_err("the gateway repeated cursor %s; stopping", cur);
			rc = CTL_FAILED;
		}
		free(prev);
		if (!cur || rc != CTL_OK)
			break;
	}
	free(cur);
	free(path);
	if (rc == CTL_OK)
		fprintf(stderr, "lockboxctl: exported %zu events\n", n);
	return rc;
}

struct pv {
	json_t *ckpts; /* the Ed25519 records, oldest first */
	size_t next;   /* the next record to meet in the walk */
	int64_t expect, count, legacy, first_signed;
	char prev[65];
	int64_t broken_at;
	char why[256];
};

static int pv_fail(struct pv *v, int64_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int pv_fail(struct pv *v, int64_t at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
	v->broken_at = at;
	return -1;
}

/* Every checkpoint record must be signed by PUB; the HMAC records of before Ed25519 are
 * counted and proven by nothing. */
static int pv_records(struct pv *v, json_t *items, void *pub)
{
	size_t i;
	json_t *row;
	json_array_foreach(items, i, row) {
		json_int_t seq = json_integer_value(json_object_get(row, "seq"));
		const char *alg = lb_json_str(row, "alg"), *h = lb_json_str(row, "head_hash");
		char text[160];
		if (alg && strcmp(alg, "hmac-sha256") == 0) {
			if (v->first_signed && seq > v->first_signed)
				return pv_fail(v, seq, "the checkpoint record at seq=%lld claims to be a "
					       "legacy HMAC record but is newer than the first Ed25519 one "
					       "(forged record)", (long long)seq);
			v->legacy++;
			continue;
		}
		snprintf(text, sizeof(text), "seq=%lld head_hash=%s", (long long)seq, h ? h : "");
		if (!alg || strcmp(alg, "ed25519") != 0 || !h ||
		    !lb_ed25519_verify_hex(pub, text, lb_json_str(row, "sig")))
			return pv_fail(v, seq, "the checkpoint record at seq=%lld does not verify with "
				       "the public key (forged, or another gateway's key)", (long long)seq);
		if (!v->first_signed)
			v->first_signed = seq;
		json_array_append(v->ckpts, row);
	}
	return 0;
}

/* One page of events, in seq order, against the chain so far and the records. */
static int pv_events(struct pv *v, json_t *items)
{
	size_t i;
	json_t *ev;
	json_array_foreach(items, i, ev) {
		json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
		const char *ph = lb_json_str(ev, "prev_hash"), *hh = lb_json_str(ev, "hash");
		char hash[65];
		if (seq != v->expect)
			return pv_fail(v, v->expect, "sequence gap (events removed, or this token "
				       "does not see every event: use a provider admin's)");
		lb_audit_chain_hash(ev, v->prev, hash);
		if (!ph || strcmp(ph, v->prev) != 0)
			return pv_fail(v, seq, "prev_hash does not match the previous event");
		if (!hh || strcmp(hh, hash) != 0)
			return pv_fail(v, seq, "hash does not match the event's content");
		while (v->next < json_array_size(v->ckpts)) {
			json_t *ck = json_array_get(v->ckpts, v->next);
			json_int_t cs = json_integer_value(json_object_get(ck, "seq"));
			if (cs > seq)
				break;
			if (cs == seq && strcmp(lb_json_str(ck, "head_hash"), hash) != 0)
				return pv_fail(v, seq, "event seq=%lld differs from its signed checkpoint "
					       "(history rewritten)", (long long)seq);
			v->next++;
		}
		snprintf(v->prev, sizeof(v->prev), "%s", hash);
		v->expect++;
		v->count++;
	}
	return 0;
}

/* --public-key: checks the chain here, from the events, and every checkpoint record's
 * signature with the gateway's public key: no secret, and no trust in the gateway's own
 * verdict. */
static int audit_verify_pub(struct ctl *c, const char *keyfile)
{
	char err[600], fpr[65], *cur = NULL;
	void *pub = lb_ed25519_pubkey_load(keyfile, fpr, err, sizeof(err));
	struct pv v;
	json_t *items = NULL, *out;
	int rc, bad = 0;
	int64_t newest = 0;

	if (!pub) {
		ctl_err("--public-key: %s", err);
		return CTL_USAGE;
	}
	memset(&v, 0, sizeof(v));
	v.ckpts = json_array();
	v.expect = 1;
	snprintf(v.prev, sizeof(v.prev), "%064d", 0);
	rc = ctl_list(c, "/v1/audit/checkpoints", 1, "200", NULL, &items, NULL);
	if (rc != CTL_OK) {
		ctl_err("cannot read the checkpoint records: verification failed");
		goto out;
	}
	bad = pv_records(&v, items, pub) != 0;
	json_decref(items);
	items = NULL;
	for (int page = 0; !bad && page < 10000000; page++) {
		char *next = NULL;
		rc = ctl_list(c, "/v1/audit/events", 0, "200", cur, &items, &next);
		if (rc != CTL_OK)
			break;
		bad = pv_events(&v, items) != 0;
		json_decref(items);
		items = NULL;
		free(cur);
		cur = next;
		if (!cur)
			break;
	}
	if (rc != CTL_OK)
		goto out;
	if (json_array_size(v.ckpts))
		newest = json_integer_value(
			json_object_get(json_array_get(v.ckpts, json_array_size(v.ckpts) - 1), "seq"));
	if (!bad && newest > v.count)
		bad = pv_fail(&v, v.count + 1, "the chain's head seq=%lld is below the signed checkpoint "
			      "seq=%lld (chain regressed: events removed)", (long long)v.count,
			      (long long)newest) != 0;
	if (!bad && v.count > 0 && newest == 0)
		bad = pv_fail(&v, 1, "no checkpoint record signed with this key (missing records)") != 0;
	if (bad)
		out = json_pack("{s:b,s:I,s:s,s:I,s:s}", "ok", 0, "broken_at", (json_int_t)v.broken_at,
				"reason", v.why, "count", (json_int_t)v.count, "public_key_sha256", fpr);
	else
		out = json_pack("{s:b,s:I,s:I,s:s,s:I,s:I,s:I,s:s}", "ok", 1, "count",
				(json_int_t)v.count, "head_seq", (json_int_t)v.count, "head_hash",
				v.prev, "checkpoints", (json_int_t)json_array_size(v.ckpts),
				"legacy_checkpoints", (json_int_t)v.legacy, "checkpoint_seq",
				(json_int_t)newest, "public_key_sha256", fpr);
	if (c->json)
		ctl_print_json(out);
	else if (c->quiet)
		;
	else if (bad)
		printf("audit chain BROKEN at seq %lld: %s\n", (long long)v.broken_at, v.why);
	else
		printf("audit chain ok: %lld events, head seq %lld, head hash %s; %zu checkpoints "
		       "signed by key sha256 %s (newest seq %lld), %lld legacy\n",
		       (long long)v.count, (long long)v.count, v.prev, json_array_size(v.ckpts), fpr,
		       (long long)newest, (long long)v.legacy);
	json_decref(out);
	rc = bad ? CTL_FAILED : CTL_OK;
out:
	free(cur);
	json_decref(items);
	json_decref(v.ckpts);
	lb_ed25519_pubkey_free(pub);
	return rc;
}

static int audit_verify(struct ctl *c, struct ctl_args *a)
{
	json_t *ans;
	int ok = 0, rc;
	int64_t count = 0, head = 0, broken = 0;
	if (ctl_arg(a, "public-key"))
		return audit_verify_pub(c, ctl_arg(a, "public-key"));
	rc = ctl_api(c, "GET", "/v1/audit/verify", NULL, &ans);
	if (rc != CTL_OK)
		return rc;
	if (lb_json_bool(ans, "ok", &ok) != 0) {
		ctl_err("the gateway's answer has no 'ok'");
		json_decref(ans);
		return CTL_FAILED;
	}
	if (c->json) {
		ctl_print_json(ans);
	} else if (c->quiet) {
		/* the exit status says it */
	} else if (ok) {
		char *h = ctl_human(json_object_get(ans, "head_hash"), COL_STR);
		lb_json_int(ans, "count", &count);
		lb_json_int(ans, "head_seq", &head);
		printf("audit chain ok: %lld events, head seq %lld, head hash %s\n", (long long)count,
		       (long long)head, h ? h : "?");
		free(h);
	} else {
		char *why = ctl_human(json_object_get(ans, "reason"), COL_STR);
		lb_json_int(ans, "broken_at", &broken);
		printf("audit chain BROKEN at seq %lld: %s\n", (long long)broken, why ? why : "?");
		free(why);
	}
	json_decref(ans);
	return ok ? CTL_OK : CTL_FAILED;
}

#define AUDIT_FILTERS                                                                          \
	{"level", "LEVEL", "subscription (activity log) or tenant (directory audit log)", 0},   \
	{"tenant", "TENANT", "only this tenant's events", 0},                                  \
	{"subscription", "SUB", "only this subscription's events", 0},                         \
	{"host", "NAME", "only events of this host (its enrolled name)", 0},                                       \
	{"type", "TYPE", "only this event type, e.g. session.start", 0},                       \
	{"request", "REQUEST", "only events of this request", 0},                              \
	{"since", "TIME", "from this RFC 3339 time, or a duration back from now (2h)", 0},      \
	{"until", "TIME", "before this RFC 3339 time, or a duration back from now", 0}

static const struct ctl_opt audit_list_opts[] = {AUDIT_FILTERS, CMD_LIST_OPTS,
						 {NULL, NULL, NULL, 0}};
static const struct ctl_opt audit_export_opts[] = {
	AUDIT_FILTERS,
	{"limit", "N", "events per page fetched (default 200)", 0},
	{NULL, NULL, NULL, 0},
};

static const struct ctl_opt audit_verify_opts[] = {
	{"public-key", "FILE", "verify locally with the gateway's checkpoint public key (PEM)", 0},
	{NULL, NULL, NULL, 0},
};

const struct ctl_cmd ctl_cmds_audit[] = {
	{"audit list", "[FILTERS]", "list audit events (admins, approvers of the scope)", 0, 0,
	 audit_list_opts, audit_list, 0, NULL},
	{"audit export", "[FILTERS]", "print every matching audit event as JSON lines", 0, 0,
	 audit_export_opts, audit_export, 0,
	 "Fetches all pages; one compact JSON object per line on stdout, a count on stderr."},
	{"audit verify", "[--public-key FILE]", "check the audit hash chain (provider admin)", 0, 0,
	 audit_verify_opts, audit_verify, 0,
	 "Exit status 1 if the chain is broken. With --public-key (the gateway's checkpoint key, "
	 "from lockbox-gatewayd --print-public-key) the chain is checked here from the events and "
	 "every checkpoint record's Ed25519 signature with that key; needs a provider admin's "
	 "token. A record that does not verify, a head below a signed checkpoint, or no signed "
	 "checkpoint at all fails."},
	{NULL, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};
