/* lockbox: several gateway URLs: parsing, the order to try, the failover rule and the time
 * each attempt gets (include/lockbox/gwlist.h). No libcurl here: the host config the PAM
 * module reads parses gateway_url with it (lb_gw_request lives in lib/gwrequest.c). */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lockbox/gwlist.h"
#include "lockbox/util.h"

/* The same gateway spelled twice: equal but for letter case and trailing slashes. */
static int same_url(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	while (na && a[na - 1] == '/')
		na--;
	while (nb && b[nb - 1] == '/')
		nb--;
	return na == nb && strncasecmp(a, b, na) == 0;
}

static int is_sep(char c)
{
	return c == ',' || isspace((unsigned char)c);
}

int lb_gwlist_parse(struct lb_gwlist *l, const char *text, char *why, size_t whylen)
{
	const char *p = text ? text : "";

	memset(l, 0, sizeof(*l));
	atomic_store(&l->current, 0);
	for (;;) {
		char u[1024], uwhy[256];
		size_t len;

		while (*p && is_sep(*p))
			p++;
		if (!*p)
			break;
		len = 0;
		while (p[len] && !is_sep(p[len]))
			len++;
		if (len >= sizeof(u)) {
			snprintf(why, whylen, "a URL longer than %zu bytes", sizeof(u) - 1);
			goto bad;
		}
		memcpy(u, p, len);
		u[len] = '\0';
		p += len;
		if (l->n == LB_GWLIST_MAX) {
			snprintf(why, whylen, "more than %d gateway URLs", LB_GWLIST_MAX);
			goto bad;
		}
		if (lb_url_check(u, uwhy, sizeof(uwhy)) != 0) {
			snprintf(why, whylen, "%.300s: %s", u, uwhy);
			goto bad;
		}
		for (size_t i = 0; i < l->n; i++) {
			if (same_url(l->url[i], u)) {
				snprintf(why, whylen, "%.300s: given twice", u);
				goto bad;
			}
		}
		if (!(l->url[l->n] = strdup(u))) {
			snprintf(why, whylen, "out of memory");
			goto bad;
		}
		l->n++;
	}
	if (l->n == 0) {
		snprintf(why, whylen, "no gateway URL (give one or more, separated by blanks or "
			 "commas)");
		return -1;
	}
	return 0;
bad:
	lb_gwlist_free(l);
	return -1;
}

void lb_gwlist_free(struct lb_gwlist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->url[i]);
	memset(l->url, 0, sizeof(l->url));
	l->n = 0;
	atomic_store(&l->current, 0);
}

int lb_cfg_check_urls(void *cfg, const char *value, char *why, size_t whylen)
{
	struct lb_gwlist l;
	(void)cfg;
	if (lb_gwlist_parse(&l, value, why, whylen) != 0)
		return -1;
	lb_gwlist_free(&l);
	return 0;
}

char *lb_gwlist_text(const struct lb_gwlist *l)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < l->n; i++)
		len += strlen(l->url[i]) + 2;
	if (!(s = malloc(len)))
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			strcat(s, ", ");
		strcat(s, l->url[i]);
	}
	return s;
}

/* The gateway in use, within bounds whatever another thread did. */
static size_t current_of(struct lb_gwlist *l)
{
	int c = atomic_load(&l->current);
	return (c >= 0 && (size_t)c < l->n) ? (size_t)c : 0;
}

size_t lb_gwlist_order(struct lb_gwlist *l, size_t order[LB_GWLIST_MAX])
{
	size_t cur = current_of(l), k = 0;

	if (l->n == 0)
		return 0;
	order[k++] = cur;
	for (size_t i = 0; i < l->n; i++)
		if (i != cur)
			order[k++] = i;
	return k;
}

const char *lb_gwlist_current(struct lb_gwlist *l)
{
	return l->n ? l->url[current_of(l)] : "";
}

void lb_gwlist_answered(struct lb_gwlist *l, size_t i)
{
	if (i < l->n)
		atomic_store(&l->current, (int)i);
}

void lb_gwlist_failed(struct lb_gwlist *l, size_t i)
{
	int expect = (int)i;
	if (i < l->n && l->n > 1)
		/* only if no other thread moved it meanwhile (to a gateway that answered) */
		atomic_compare_exchange_strong(&l->current, &expect, (int)((i + 1) % l->n));
}

enum lb_gw_verdict lb_gw_verdict(enum lb_http_result hr, long status, int gw_body, int sent,
				 unsigned flags)
{
	switch (hr) {
	case LB_HTTP_OK:
		/* a proxy in front of a gateway that is down answers 502/503/504 with a page of
		 * its own; the gateway's own 503 (store busy) carries its error body, and is its
		 * answer */
		if ((status == 502 || status == 503 || status == 504) && !gw_body)
			return LB_GW_NEXT;
		return LB_GW_FINAL;
	case LB_HTTP_ERR_URL:
		return LB_GW_NEXT; /* this URL only: the next one may do */
	case LB_HTTP_ERR_CONNECT:
	case LB_HTTP_ERR_TLS:
		/* nothing was sent: a refused connection or a failed handshake carries no
		 * request */
		return LB_GW_NEXT;
	case LB_HTTP_ERR_TIMEOUT:
	case LB_HTTP_ERR_PROTOCOL:
		return (sent && (flags & LB_GW_ONCE)) ? LB_GW_FINAL : LB_GW_NEXT;
	case LB_HTTP_ERR_TOOBIG:
	case LB_HTTP_ERR_INTERNAL:
		return LB_GW_FINAL;
	}
	return LB_GW_FINAL;
}

int64_t lb_gw_attempt_ms(int64_t total_ms, int64_t remaining_ms, size_t k, size_t n,
			 unsigned flags, int64_t *connect_ms)
{
	int64_t t, c;

	if (remaining_ms <= 0 || n == 0 || k >= n) {
		if (connect_ms)
			*connect_ms = 0;
		return 0;
	}
	if (flags & LB_GW_LONG) {
		c = total_ms / (int64_t)n;
		if (c < LB_GW_MIN_ATTEMPT_MS)
			c = LB_GW_MIN_ATTEMPT_MS;
		if (c > remaining_ms)
			c = remaining_ms;
		t = remaining_ms;
	} else {
		if (k + 1 == n) {
			t = remaining_ms;
		} else {
			t = remaining_ms / (int64_t)(n - k);
			if (t < LB_GW_MIN_ATTEMPT_MS)
				t = LB_GW_MIN_ATTEMPT_MS;
			if (t > remaining_ms)
				t = remaining_ms;
		}
		c = t;
	}
	if (connect_ms)
		*connect_ms = c;
	return t;
}
