/* lockbox: the daemons' jansson helpers for the agent socket protocol
 * (include/lockbox/agentproto.h); the protocol's checks live once, in lib/agentcall.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/agentproto.h"
#include "lockbox/json.h"

enum lb_agent_result lb_agent_call(const char *socket_path, const json_t *req,
				   int64_t timeout_ms, json_t **answer, char *err, size_t errlen)
{
	char *line, *buf, why[256];
	size_t len = 0, n;
	enum lb_agent_result r;

	*answer = NULL;
	line = json_dumps(req, JSON_COMPACT);
	buf = malloc(LB_AGENT_MAX_MSG + 1);
	if (!line || !buf) {
		snprintf(err, errlen, "%s: out of memory", lb_agent_strerror(LB_AGENT_ERR_INTERNAL));
		r = LB_AGENT_ERR_INTERNAL;
		goto out;
	}
	n = strlen(line);
	line[n] = '\n'; /* json_dumps left room: replace the NUL, send n + 1 bytes */
	r = lb_agent_ask(socket_path, line, n + 1, timeout_ms, buf, LB_AGENT_MAX_MSG + 1, &len, err,
			 errlen);
	if (r != LB_AGENT_OK)
		goto out;
	/* JSON_REJECT_DUPLICATES: a second "decision" key must never win */
	*answer = lb_json_parse_object(buf, len, why, sizeof(why));
	if (!*answer) {
		snprintf(err, errlen, "%s: %s", lb_agent_strerror(LB_AGENT_ERR_PROTOCOL), why);
		r = LB_AGENT_ERR_PROTOCOL;
	}
out:
	free(line);
	free(buf);
	return r;
}

int lb_check_answer_parse(const json_t *j, struct lb_check_answer *a, char *why, size_t whylen)
{
	struct lb_jflat o = {0};
	const char *key;
	json_t *v;

	if (!json_is_object(j)) {
		snprintf(why, whylen, "answer: not an object");
		return -1;
	}
	json_object_foreach((json_t *)j, key, v) {
		enum lb_jflat_type t = json_is_string(v)    ? LB_JF_STRING
				       : json_is_integer(v) ? LB_JF_INT
				       : json_is_boolean(v) ? LB_JF_BOOL
				       : json_is_null(v)    ? LB_JF_NULL
							    : LB_JF_OTHER;
		/* jansson keeps a "\u0000" inside a string: such text is not text */
		if (t == LB_JF_STRING && strlen(json_string_value(v)) != json_string_length(v))
			t = LB_JF_OTHER;
		if (lb_jflat_add(&o, key, t, json_string_value(v),
				 t == LB_JF_INT    ? (long long)json_integer_value(v)
				 : t == LB_JF_BOOL ? json_is_true(v)
						   : 0) != 0) {
			snprintf(why, whylen, "answer: more than %d members", LB_JFLAT_MAX);
			return -1;
		}
	}
	return lb_check_answer_parse_flat(&o, a, why, whylen);
}

json_t *lb_check_answer_json(const struct lb_check_answer *a)
{
	/* one writer for the answer (lb_check_answer_line); jansson reads it back */
	char line[LB_AGENT_MAX_MSG];
	long n = lb_check_answer_line(a, line, sizeof(line));
	return n < 0 ? NULL : json_loadb(line, (size_t)n, 0, NULL);
}
