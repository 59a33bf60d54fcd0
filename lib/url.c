/* lockbox: gateway URLs: the checks every program applies (https://, or http:// only to a
 * loopback address), joining a base URL and a path, and the HTTP client's error names. No
 * libcurl here: the PAM module links this file and must not load libcurl. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lockbox/http.h"
#include "lockbox/util.h"

const char *lb_http_strerror(enum lb_http_result r)
{
	switch (r) {
	case LB_HTTP_OK:
		return "ok";
	case LB_HTTP_ERR_URL:
		return "bad gateway URL";
	case LB_HTTP_ERR_CONNECT:
		return "cannot connect to the gateway";
	case LB_HTTP_ERR_TIMEOUT:
		return "gateway timed out";
	case LB_HTTP_ERR_TLS:
		return "TLS failure";
	case LB_HTTP_ERR_TOOBIG:
		return "gateway response too large";
	case LB_HTTP_ERR_PROTOCOL:
		return "gateway protocol error";
	case LB_HTTP_ERR_INTERNAL:
		return "internal error";
	}
	return "unknown error";
}

/* Copies the host part of URL (after "scheme://", without userinfo and port) into HOST. */
static int url_host(const char *rest, char *host, size_t hostlen, char *why, size_t whylen)
{
	const char *end = rest + strcspn(rest, "/?#");
	const char *at;
	size_t n;

	/* userinfo is never expected; refuse it rather than reason about '@' tricks */
	for (at = rest; at < end; at++) {
		if (*at == '@') {
			snprintf(why, whylen, "user information in the URL is not allowed");
			return -1;
		}
	}
	if (*rest == '[') {
		const char *close = memchr(rest, ']', (size_t)(end - rest));
		if (!close) {
			snprintf(why, whylen, "unterminated IPv6 address in the URL");
			return -1;
		}
		n = (size_t)(close - rest - 1);
		if (n == 0 || n >= hostlen) {
			snprintf(why, whylen, "bad IPv6 address in the URL");
			return -1;
		}
		memcpy(host, rest + 1, n);
		host[n] = '\0';
		rest = close + 1;
		if (rest < end && *rest != ':') {
			snprintf(why, whylen, "garbage after the IPv6 address in the URL");
			return -1;
		}
		return 0;
	}
	n = strcspn(rest, ":/?#");
	if (n == 0 || n >= hostlen) {
		snprintf(why, whylen, "missing or overlong host in the URL");
		return -1;
	}
	memcpy(host, rest, n);
	host[n] = '\0';
	return 0;
}

int lb_url_check(const char *url, char *why, size_t whylen)
{
	char host[256];
	const char *rest;
	int is_http;

	if (!url || !*url) {
		snprintf(why, whylen, "empty URL");
		return -1;
	}
	if (!lb_str_clean(url)) {
		snprintf(why, whylen, "URL has control characters or invalid UTF-8");
		return -1;
	}
	for (const char *p = url; *p; p++) {
		if (isspace((unsigned char)*p) || (unsigned char)*p >= 0x80) {
			snprintf(why, whylen, "URL has spaces or non-ASCII characters");
			return -1;
		}
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		rest = url + 8;
		is_http = 0;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		rest = url + 7;
		is_http = 1;
	} else {
		snprintf(why, whylen, "URL must start with https:// (or http:// for a loopback gateway)");
		return -1;
	}
	if (url_host(rest, host, sizeof(host), why, whylen) != 0)
		return -1;
	if (!is_http)
		return 0;
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return 0;
	{
		struct in_addr a;
		/* inet_pton accepts only the dotted-quad form, so "127.1" or "0x7f.1" are refused */
		if (inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127)
			return 0;
	}
	snprintf(why, whylen, "http:// is allowed only for a loopback gateway (127.0.0.0/8, [::1], localhost); use https://");
	return -1;
}

int lb_url_join(char *out, size_t outlen, const char *base, const char *path)
{
	size_t n = strlen(base);
	int w;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n > INT32_MAX)
		return -1;
	w = snprintf(out, outlen, "%.*s%s", (int)n, base, path);
	return (w < 0 || (size_t)w >= outlen) ? -1 : 0;
}
