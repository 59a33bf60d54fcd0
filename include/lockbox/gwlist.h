/* lockbox: several gateway URLs (DESIGN.md "Several gateways"): the parsed list, the order
 * they are tried in, which failures move on to the next one, and the time each attempt gets
 * from the caller's one deadline. Shared by lockbox-agent and lockboxctl (and the host
 * config the PAM module reads: the parsing half needs no libcurl). */
#ifndef LOCKBOX_GWLIST_H
#define LOCKBOX_GWLIST_H

#include <stddef.h>
#include <stdint.h>

#include "lockbox/http.h"

#define LB_GWLIST_MAX 8
/* Each attempt but the last gets at least this long, even when the deadline shared among the
 * URLs would give it less: enough to connect to a gateway that is there. */
#define LB_GW_MIN_ATTEMPT_MS 300

/* The URLs in config order, and the one in use: the last one that answered; when it fails,
 * the next one in config order, until another one answers. One list is shared by a program's
 * threads (the agent's checks, change long-poll and delivery), so what one of them learned
 * about a gateway the others use at once. */
struct lb_gwlist {
	char *url[LB_GWLIST_MAX];
	size_t n;
	_Atomic int current;
};

/* Parses TEXT: one or more https:// (or loopback http://) URLs separated by blanks and/or
 * commas, each checked by lb_url_check, at most LB_GWLIST_MAX, none given twice (trailing
 * slashes and letter case aside). 0, or -1 with WHY (naming the URL at fault); L is
 * always safe to free after. */
int lb_gwlist_parse(struct lb_gwlist *l, const char *text, char *why, size_t whylen);
void lb_gwlist_free(struct lb_gwlist *l);
/* A config key's check for a list of gateway URLs (host gateway_url, lockboxctl url). */
int lb_cfg_check_urls(void *cfg, const char *value, char *why, size_t whylen);
/* The URLs written back as one config value ("URL1, URL2"); malloc'ed, or NULL. */
char *lb_gwlist_text(const struct lb_gwlist *l);

/* The order to try now: the one in use first, then the others in config order. Fills ORDER
 * with indexes into L->url and returns how many (L->n). */
size_t lb_gwlist_order(struct lb_gwlist *l, size_t order[LB_GWLIST_MAX]);
/* The URL in use (the first to be tried next). */
const char *lb_gwlist_current(struct lb_gwlist *l);
/* Gateway I answered: it is the one in use. */
void lb_gwlist_answered(struct lb_gwlist *l, size_t i);
/* Gateway I failed (no answer): if it was the one in use, the next in config order is. */
void lb_gwlist_failed(struct lb_gwlist *l, size_t i);

/* How a request may be repeated on another gateway. */
#define LB_GW_LONG 0x1u /* a long poll: once connected, an attempt may use all the time left */
#define LB_GW_ONCE 0x2u /* not safe to send twice: a failure after the request may have reached
			 * a gateway (sent on an open connection) is final */

enum lb_gw_verdict {
	LB_GW_FINAL = 0, /* the answer (or the error) is the result: ask no other gateway */
	LB_GW_NEXT,      /* no gateway answered: try the next one */
};
/* The rule. A transport failure (bad URL, DNS, refused, timeout, TLS, a broken connection)
 * and a proxy's 502/503/504 (an answer without the gateway's {"error": {...}} body: GW_BODY
 * = 0) move on; an HTTP answer from a gateway (2xx, 3xx, 4xx, any other 5xx, or 502/503/504
 * with its error body) is final, as are an oversized answer and an internal error. With
 * LB_GW_ONCE in FLAGS, a failure after the request was SENT is final too. */
enum lb_gw_verdict lb_gw_verdict(enum lb_http_result hr, long status, int gw_body, int sent,
				 unsigned flags);

/* The time attempt K (0-based) of N gets, REMAINING_MS before the caller's deadline of
 * TOTAL_MS: the last gets all that remains; the others a fair share, REMAINING / (N - K),
 * but at least LB_GW_MIN_ATTEMPT_MS (never more than remains). *CONNECT_MS: how long the
 * connection (TCP and TLS) may take. With LB_GW_LONG an attempt may take all that remains
 * once connected, and only its connection is bounded by the share (TOTAL / N, at least
 * LB_GW_MIN_ATTEMPT_MS). Returns the attempt's whole timeout; 0 when no time is left. */
int64_t lb_gw_attempt_ms(int64_t total_ms, int64_t remaining_ms, size_t k, size_t n,
			 unsigned flags, int64_t *connect_ms);

/* What happened on the way to an answer, for logs and `lockboxctl --verbose`. */
struct lb_gw_trace {
	size_t n;                    /* attempts made */
	struct {
		size_t gw;           /* index into the list */
		enum lb_http_result hr;
		long status;         /* when it answered */
		int64_t ms;          /* how long it took */
		char why[200];       /* a failure, one line */
	} at[LB_GWLIST_MAX];
	int answered;                /* index of the gateway whose answer is the result, or -1 */
};

/* METHOD BASE+PATH on the gateways of L in lb_gwlist_order, by lb_gw_verdict, within
 * O->timeout_ms in all (O->client, when set, is reset after a failed attempt). The result of
 * the last attempt: LB_HTTP_OK with RESP filled when a gateway answered (or when the last
 * one tried was a proxy's 502/503/504: TR->answered is then -1); otherwise ERR says what
 * each gateway tried did ("URL: why; URL: why", or only "why" after one attempt). TR may be
 * NULL. Moves L's gateway in use (lb_gwlist_answered / lb_gwlist_failed). */
enum lb_http_result lb_gw_request(struct lb_gwlist *l, const struct lb_http_opts *o,
				  unsigned flags, const char *method, const char *path,
				  const char *body, struct lb_http_response *resp,
				  struct lb_gw_trace *tr, char *err, size_t errlen);

#endif
