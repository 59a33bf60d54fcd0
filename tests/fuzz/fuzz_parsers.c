/* Fuzz target for the parsers that read untrusted text: durations, RFC 3339 times, JSON
 * bodies (duplicate keys, deep nesting), URLs, log escaping, the config file parser, the host
 * config (lib/hostconf.c) and the check answer the agent hands the module (lib/agentproto.c:
 * a parsed allow is always fully formed, and the agent's encoding of any answer it accepted
 * parses back to the same answer), and the gateway's checks on a host's audit event
 * (lib/hostevent.c: what passes is clean and passes again unchanged).
 * Built with clang -fsanitize=fuzzer it is a libFuzzer target; otherwise fuzz_main.c drives
 * it with seeded random mutations for `make check` (under ASan+UBSan in CI). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "lockbox/agentproto.h"
#include "lockbox/config.h"
#include "lockbox/escape.h"
#include "lockbox/gwlist.h"
#include "lockbox/hostconf.h"
#include "lockbox/hostevent.h"
#include "lockbox/http.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fcfg {
	char *s;
	int64_t d;
	int b;
	unsigned long u;
	struct lb_strlist l;
};

static const struct lb_cfg_key keys[] = {
	{"s", LB_CFG_STRING, offsetof(struct fcfg, s), NULL},
	{"d", LB_CFG_DURATION, offsetof(struct fcfg, d), NULL},
	{"b", LB_CFG_BOOL, offsetof(struct fcfg, b), NULL},
	{"u", LB_CFG_UINT, offsetof(struct fcfg, u), NULL},
	{"l", LB_CFG_LIST, offsetof(struct fcfg, l), NULL},
	{NULL, 0, 0, NULL},
};

static void fuzz_config(const char *text, size_t len)
{
	static char path[64];
	struct fcfg c;
	char err[512];
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/lb-fuzz-conf-%ld", (long)getpid());
	f = fopen(path, "we");
	if (!f)
		return;
	fwrite(text, 1, len, f);
	fclose(f);
	memset(&c, 0, sizeof(c));
	lb_config_parse_file(path, keys, &c, 0, err, sizeof(err));
	/* whatever it said must be one line of text */
	if (memchr(err, '\n', strnlen(err, sizeof(err))))
		abort();
	lb_config_free_fields(keys, &c);
	unlink(path);
}

/* The host config: a file of ours, mode 0600 (else LB_CFG_SECURE refuses it unread). */
static void fuzz_hostconf(const char *text, size_t len)
{
	static char path[64];
	struct lb_hostconf c;
	char err[1024];
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/lb-fuzz-hostconf-%ld", (long)getpid());
	f = fopen(path, "we");
	if (!f)
		return;
	fwrite(text, 1, len, f);
	fclose(f);
	chmod(path, 0600);
	if (lb_hostconf_load(&c, path, err, sizeof(err)) == 0) {
		/* whatever loads is complete and within bounds */
		if (!c.gateway_url || !c.agent_socket || c.agent_socket[0] != '/' ||
		    strlen(c.agent_socket) >= 108 || c.timeout < 1 || c.timeout > 120 ||
		    c.warn_before < 0 || c.kill_grace < 1 || !c.audit_log || c.audit_log[0] != '/' ||
		    c.gateways.n < 1 || c.gateways.n > LB_GWLIST_MAX)
			abort();
		/* every gateway URL kept passes the URL check on its own */
		for (size_t i = 0; i < c.gateways.n; i++)
			if (lb_url_check(c.gateways.url[i], err, sizeof(err)) != 0)
				abort();
	} else if (memchr(err, '\n', strnlen(err, sizeof(err)))) {
		abort();
	}
	lb_hostconf_free(&c);
	unlink(path);
}

static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* An answer as the module reads it: an allow is never half-formed, and what the agent would
 * send for an accepted answer is accepted again, unchanged. */
static void fuzz_answer(const json_t *j)
{
	struct lb_check_answer a, b;
	char why[256];
	json_t *again;

	if (lb_check_answer_parse(j, &a, why, sizeof(why)) != 0) {
		if (a.allow)
			abort();
		return;
	}
	if (a.allow && (strcmp(a.reason, "allow") != 0 || !a.request[0] ||
			!a.grant_expires_at[0] || !lb_uuid_valid(a.decision_id)))
		abort();
	if (!printable(a.message) || !printable(a.error) || !a.reason[0])
		abort();
	again = lb_check_answer_json(&a);
	if (!again)
		abort();
	if (lb_check_answer_parse(again, &b, why, sizeof(why)) != 0 ||
	    memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	json_decref(again);
}

/* One host event as POST /v1/audit/events checks it (the gateway's clock fixed). */
static void fuzz_host_event(const json_t *ev)
{
	const int64_t now = 1790000000000LL, enrolled = now - 86400000LL;
	const char *code = NULL;
	char msg[384];
	json_t *e = json_deep_copy(ev), *again;
	int64_t ms;

	if (!e)
		return;
	if (lb_host_event_check(e, 0, now, enrolled, &code, msg, sizeof(msg)) != 0) {
		if (!code || !lb_str_clean(msg))
			abort(); /* a refusal names its code, in one line of clean text */
		json_decref(e);
		return;
	}
	if (!lb_host_event_type(lb_json_str(e, "type")) ||
	    lb_time_parse(lb_json_str(e, "time"), &ms) != 0 ||
	    ms > now + LB_HOSTEV_FUTURE_MS || ms < enrolled - LB_HOSTEV_SKEW_MS)
		abort();
	again = json_deep_copy(e);
	if (!again || lb_host_event_check(again, 0, now, enrolled, &code, msg, sizeof(msg)) != 0 ||
	    !json_equal(again, e))
		abort(); /* what passed (time made canonical) passes again, unchanged */
	json_decref(again);
	json_decref(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[600], why[256];
	int64_t v;
	json_t *j;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (lb_duration_parse(s, &v) == 0 && (v < 0 || v > LB_DURATION_MAX))
		abort();
	if (lb_time_parse(s, &v) == 0) {
		char buf[LB_TIME_BUFLEN];
		int64_t again;
		lb_time_format(v, buf, sizeof(buf));
		/* whatever parses formats back to a time that parses to the same instant */
		if (lb_time_parse(buf, &again) != 0 || again != v)
			abort();
	}
	j = lb_json_parse_object(s, size, why, sizeof(why));
	if (j) {
		json_t *evs = json_object_get(j, "events"), *ev;
		size_t i;
		fuzz_answer(j);
		fuzz_host_event(j);
		json_array_foreach(evs, i, ev)
			fuzz_host_event(ev);
	}
	json_decref(j);
	lb_url_check(s, why, sizeof(why));
	{
		/* several gateway URLs: what parses holds 1..LB_GWLIST_MAX checked, distinct URLs */
		struct lb_gwlist gl;
		if (lb_gwlist_parse(&gl, s, why, sizeof(why)) == 0) {
			if (gl.n < 1 || gl.n > LB_GWLIST_MAX)
				abort();
			for (size_t i = 0; i < gl.n; i++)
				if (lb_url_check(gl.url[i], why, sizeof(why)) != 0)
					abort();
		}
		lb_gwlist_free(&gl);
	}
	lb_escape_value(s, out, sizeof(out));
	for (const char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			abort(); /* an escaped value never carries a control character */
	lb_sanitize_text(s, out, sizeof(out));
	(void)lb_str_clean(s);
	fuzz_config(s, size);
	fuzz_hostconf(s, size);
	free(s);
	return 0;
}
