/* lockbox: the checks a gateway makes on one event a host sends (include/lockbox/hostevent.h). */
#include <stdio.h>
#include <string.h>

#include "lockbox/escape.h"
#include "lockbox/hostevent.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define FAIL(c, ...)                                   \
	do {                                           \
		*code = (c);                           \
		snprintf(msg, msglen, __VA_ARGS__);    \
		return -1;                             \
	} while (0)

/* Keys only the gateway writes into an event's details: a host setting them would speak with
 * the gateway's voice (unverified_request: gw_audit.c marks a link it refused; reconciled and
 * source: reserved for the gateway's own records). */
static const char *const gateway_only[] = {"unverified_request", "reconciled", "source",
					   "verified", "unverified_reason", NULL};

int lb_host_event_type(const char *t)
{
	static const char *const session[] = {"session.start", "session.end", "session.warn",
					      "session.terminate", "session.lost", NULL};
	if (!t)
		return 0;
	for (size_t i = 0; session[i]; i++)
		if (strcmp(session[i], t) == 0)
			return 1;
	if (strcmp(t, "access.check.allow") == 0 || strcmp(t, "access.check.deny") == 0)
		return 2;
	return 0;
}

/* A JSON string is clean text: no NUL inside (jansson keeps them), no control characters,
 * valid UTF-8. */
static int clean(const json_t *v)
{
	const char *s = json_string_value(v);
	return s && strlen(s) == json_string_length(v) && lb_str_clean(s);
}

/* Appends TEXT to the path at PLEN; a path cut short never ends inside a UTF-8 sequence
 * (the message quoting it must be valid text). Returns the new length. */
static size_t path_add(char *path, size_t plen, size_t cap, const char *sep, const char *text)
{
	size_t n;
	snprintf(path + plen, cap - plen, "%s%s", sep, text);
	n = strnlen(path, cap);
	if (n + 1 >= cap) {
		while (n > plen && ((unsigned char)path[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > plen && ((unsigned char)path[n - 1] & 0x80))
			n--; /* the lead byte of the cut sequence */
		path[n] = '\0';
	}
	return n;
}

/* Walks V (found at PATH) and every value below it. */
static int details_walk(const json_t *v, char *path, size_t plen, size_t cap, int depth,
			const char **code, char *msg, size_t msglen)
{
	const char *key;
	const json_t *x;
	size_t idx;

	if (depth > LB_HOSTEV_MAX_DEPTH)
		FAIL("bad_value", "%s: nested more than %d deep", path, LB_HOSTEV_MAX_DEPTH);
	if (json_is_string(v)) {
		if (!clean(v))
			FAIL("bad_text", "%s: control characters or invalid UTF-8", path);
		return 0;
	}
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, x) {
			if (strlen(key) > 256 || !lb_str_clean(key))
				FAIL("bad_text", "%s: a key with control characters, invalid UTF-8 "
						 "or over 256 bytes", path);
			size_t n = path_add(path, plen, cap, ".", key);
			if (details_walk(x, path, n, cap, depth + 1, code, msg, msglen) != 0)
				return -1;
			path[plen] = '\0';
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, idx, x) {
			char num[32];
			size_t n;
			snprintf(num, sizeof(num), "[%zu]", idx);
			n = path_add(path, plen, cap, "", num);
			if (details_walk(x, path, n, cap, depth + 1, code, msg, msglen) != 0)
				return -1;
			path[plen] = '\0';
		}
	}
	return 0;
}

int lb_host_event_check(json_t *e, size_t i, int64_t now_ms, int64_t enrolled_ms,
			const char **code, char *msg, size_t msglen)
{
	static const char *const allowed[] = {"id", "time", "type", "actor", "request", "details",
					      NULL};
	const char *key, *s;
	json_t *v, *d;
	char norm[LB_TIME_BUFLEN], path[160];
	int64_t ms;

	if (!json_is_object(e))
		FAIL("bad_type", "events[%zu] must be an object", i);
	json_object_foreach(e, key, v) {
		int ok = 0;
		for (size_t k = 0; allowed[k]; k++)
			if (strcmp(allowed[k], key) == 0)
				ok = 1;
		if (!ok) {
			char k64[65];
			lb_sanitize_text(key, k64, sizeof(k64));
			FAIL("unknown_field", "events[%zu]: unknown field '%s'", i, k64);
		}
		if (strcmp(key, "details") == 0) {
			if (!json_is_object(v) && !json_is_null(v))
				FAIL("bad_type", "events[%zu].details must be an object", i);
		} else if (!json_is_string(v) &&
			   !(json_is_null(v) &&
			     (strcmp(key, "actor") == 0 || strcmp(key, "request") == 0))) {
			FAIL("bad_type", "events[%zu].%s must be a string", i, key);
		} else if (json_is_string(v) && (!clean(v) || json_string_length(v) > 256)) {
			FAIL("bad_text", "events[%zu].%s: control characters, invalid UTF-8 or too long",
			     i, key);
		}
	}
	s = lb_json_str(e, "id");
	if (!s || !lb_uuid_valid(s))
		FAIL(s ? "bad_value" : "missing_field", "events[%zu].id must be a UUID", i);
	s = lb_json_str(e, "type");
	if (!lb_host_event_type(s))
		FAIL(s ? "bad_value" : "missing_field",
		     "events[%zu].type: a host sends only session.start, .end, .warn, .terminate, "
		     ".lost and access.check.* decisions", i);
	s = lb_json_str(e, "time");
	if (!s || lb_time_parse(s, &ms) != 0)
		FAIL(s ? "bad_time" : "missing_field", "events[%zu].time must be an RFC 3339 time", i);
	if (ms > now_ms + LB_HOSTEV_FUTURE_MS)
		FAIL("event_time_out_of_range",
		     "events[%zu].time is more than %lld minutes ahead of the gateway's clock", i,
		     LB_HOSTEV_FUTURE_MS / 60000);
	if (enrolled_ms > 0 && ms < enrolled_ms - LB_HOSTEV_SKEW_MS)
		FAIL("event_time_out_of_range",
		     "events[%zu].time is before this host was enrolled (by more than %lld minutes)",
		     i, LB_HOSTEV_SKEW_MS / 60000);
	d = json_object_get(e, "details");
	if (json_is_object(d)) {
		snprintf(path, sizeof(path), "events[%zu].details", i);
		if (details_walk(d, path, strlen(path), sizeof(path), 1, code, msg, msglen) != 0)
			return -1;
		for (size_t k = 0; gateway_only[k]; k++)
			if (json_object_get(d, gateway_only[k]))
				FAIL("gateway_only_key",
				     "events[%zu].details.%s: only the gateway writes this key", i,
				     gateway_only[k]);
	}
	lb_time_format(ms, norm, sizeof(norm));
	json_object_set_new(e, "time", json_string(norm));
	return 0;
}
