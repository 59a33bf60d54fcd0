/* lockbox: jansson helpers for untrusted JSON. */
#include <stdio.h>
#include <string.h>

#include "lockbox/json.h"
#include "lockbox/util.h"

json_t *lb_json_parse_object(const char *text, size_t len, char *why, size_t whylen)
{
	json_error_t e;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		snprintf(why, whylen, "malformed JSON at line %d column %d: %s", e.line, e.column,
			 e.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(why, whylen, "expected a JSON object");
		json_decref(j);
		return NULL;
	}
	return j;
}

const char *lb_json_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int lb_json_bool(const json_t *obj, const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_boolean(v))
		return -1;
	*out = json_is_true(v);
	return 0;
}

int lb_json_int(const json_t *obj, const char *key, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 0;
}

int lb_json_set_time(json_t *obj, const char *key, int64_t ms)
{
	char buf[LB_TIME_BUFLEN];
	if (ms <= 0)
		return json_object_set_new(obj, key, json_null());
	lb_time_format(ms, buf, sizeof(buf));
	return json_object_set_new(obj, key, json_string(buf));
}

int lb_json_set_str_or_null(json_t *obj, const char *key, const char *s)
{
	return json_object_set_new(obj, key, s ? json_string(s) : json_null());
}
