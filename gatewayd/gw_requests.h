/* lockbox-gatewayd: request state helpers shared by the lifecycle and the access check. */
#ifndef LOCKBOX_GW_REQUESTS_H
#define LOCKBOX_GW_REQUESTS_H

#include <jansson.h>
#include <stdint.h>

/* The state at NOW: a pending request past pending_expires_at is "expired" and an approved
 * one past grant_expires_at is "completed" even before the sweeper has written that. */
const char *gw_request_effective_state(const json_t *req, int64_t now_ms);
int gw_request_is_pending(const char *state);
/* Does REQ name HOST (by name, or "*"), in HOST's tenant and within REQ's scope? */
int gw_request_covers_host(const json_t *req, const json_t *host);

#endif
