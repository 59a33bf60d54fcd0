/* lockbox: the daemons' (jansson) side of the module <-> agent protocol; the protocol itself
 * and the module's side are in include/lockbox/agentcall.h. */
#ifndef LOCKBOX_AGENTPROTO_H
#define LOCKBOX_AGENTPROTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lockbox/agentcall.h"

/* lb_agent_ask for a JSON question REQ: on LB_AGENT_OK *ANSWER is a JSON object the caller
 * owns (duplicate keys refused); otherwise ERR says why. */
enum lb_agent_result lb_agent_call(const char *socket_path, const json_t *req,
				   int64_t timeout_ms, json_t **answer, char *err, size_t errlen);

/* lb_check_answer_parse_flat for an answer jansson parsed (the gateway's /v1/check answer,
 * read by the agent): the same checks, one place. */
int lb_check_answer_parse(const json_t *j, struct lb_check_answer *a, char *why, size_t whylen);
/* The answer object for A (what the agent sends the module). */
json_t *lb_check_answer_json(const struct lb_check_answer *a);

#endif
