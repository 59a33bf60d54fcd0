/* lockbox: the HTTPS client shared by pam_lockbox and lockboxctl (see include/lockbox/http.h).
 *
 * This code runs inside sshd and xrdp-sesman, so it follows DESIGN.md's rules: a fresh curl
 * handle per call (libcurl is not fork-safe and xrdp-sesman forks), CURLOPT_NOSIGNAL (never
 * touch the host's signal dispositions), no curl_global_cleanup (it would tear down the host
 * daemon's OpenSSL), proxies from the environment ignored, no redirects, TLS verified against
 * ca_file, one overall deadline, and a response body capped in the write callback. */

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "lockbox/http.h"
#include "lockbox/util.h"

#define LB_HTTP_DEFAULT_TIMEOUT_MS 5000
/* the system trust store, one certificate per file with subject-hash links, as Debian's
 * update-ca-certificates(8) keeps it */
#define LB_SYSTEM_CA_DIR "/etc/ssl/certs"
#define LB_HTTP_DEFAULT_MAX_BODY (64 * 1024)

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* The libcurl calls this file makes. lockboxctl and the gateway link libcurl; the PAM module
 * (built with LB_HTTP_DLOPEN) loads it at its first request instead. libcurl pulls in ~37
 * libraries, and loading and unloading them costs 8-11 ms (bench/findings.md), which a
 * login by a user outside gated_group, exempt or unknown to lockbox would otherwise pay in
 * pam_start for a module that never asks the gateway on its behalf. */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *h);
	const char *(*easy_strerror)(CURLcode rc);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
} cu
#ifndef LB_HTTP_DLOPEN
	= {curl_global_init,  curl_easy_init,    curl_easy_setopt,
	   curl_easy_perform, curl_easy_getinfo, curl_easy_cleanup,
	   curl_easy_strerror, curl_slist_append, curl_slist_free_all}
#endif
;

#ifdef LB_HTTP_DLOPEN
#include <dlfcn.h>

#define LB_LIBCURL_SONAME "libcurl.so.4"
static void *curl_lib;
static char curl_load_error[256];

static int load_curl(void)
{
	/* RTLD_LOCAL: none of libcurl's symbols may interpose on the host daemon's own */
	curl_lib = dlopen(LB_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!curl_lib) {
		const char *e = dlerror();
		snprintf(curl_load_error, sizeof(curl_load_error), "cannot load %s: %s",
			 LB_LIBCURL_SONAME, e ? e : "unknown error");
		return -1;
	}
#define SYM(field, name)                                                                   \
	do {                                                                               \
		*(void **)(&cu.field) = dlsym(curl_lib, name);                             \
		if (!cu.field) {                                                           \
			snprintf(curl_load_error, sizeof(curl_load_error),                 \
				 "%s has no %s", LB_LIBCURL_SONAME, name);                 \
			return -1;                                                         \
		}                                                                          \
	} while (0)
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
	return 0;
}

/* When the PAM module is unloaded (pam_end), libcurl goes with it, as it did when the module
 * linked it; curl_global_cleanup is still never called. */
__attribute__((destructor)) static void unload_curl(void)
{
	if (curl_lib)
		dlclose(curl_lib);
	curl_lib = NULL;
}
#endif

static void global_init(void)
{
#ifdef LB_HTTP_DLOPEN
	if (load_curl() != 0)
		return; /* global_rc stays CURLE_FAILED_INIT: every request fails (closed) */
#endif
	/* Once per process, never undone: curl_global_cleanup would also clean up OpenSSL,
	 * which the host daemon (sshd, xrdp-sesman) may still be using. */
	global_rc = cu.global_init(CURL_GLOBAL_DEFAULT);
}

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

struct body_buf {
	char *data;
	size_t len;
	size_t cap;   /* allocated */
	size_t max;   /* more than this: too big */
	int too_big;
	int oom;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body_buf *b = userdata;
	size_t n = size * nmemb;

	if (n > b->max - b->len) {
		b->too_big = 1;
		return 0; /* CURLE_WRITE_ERROR: the transfer stops here */
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;
		char *nd;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if (ncap > b->max + 1)
			ncap = b->max + 1;
		nd = realloc(b->data, ncap);
		if (!nd) {
			b->oom = 1;
			return 0;
		}
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Every socket curl opens is close-on-exec, so nothing leaks into a user's session even if
 * a host daemon forks and execs while a request is in flight. */
static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)clientp;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static enum lb_http_result map_curl_error(CURLcode rc, const struct body_buf *b)
{
	if (b->too_big)
		return LB_HTTP_ERR_TOOBIG;
	if (b->oom)
		return LB_HTTP_ERR_INTERNAL;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return LB_HTTP_ERR_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return LB_HTTP_ERR_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return LB_HTTP_ERR_TLS;
	case CURLE_FILESIZE_EXCEEDED:
		return LB_HTTP_ERR_TOOBIG;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return LB_HTTP_ERR_URL;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FAILED_INIT:
		return LB_HTTP_ERR_INTERNAL;
	default:
		return LB_HTTP_ERR_PROTOCOL;
	}
}

enum lb_http_result lb_http_request(const struct lb_http_opts *o, const char *method,
				    const char *url, const char *body,
				    struct lb_http_response *resp, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE];
	char why[256];
	struct body_buf b = {0};
	struct curl_slist *hdrs = NULL, *tmp;
	char *auth = NULL;
	size_t authlen = 0;
	CURL *h = NULL;
	CURLcode rc;
	enum lb_http_result res = LB_HTTP_ERR_INTERNAL;
	long timeout_ms;

	if (err && errlen)
		err[0] = '\0';
	if (resp) {
		resp->status = 0;
		resp->body = NULL;
		resp->len = 0;
	}
	if (!o || !method || !url || !resp) {
		snprintf(err, errlen, "internal error: missing argument");
		return LB_HTTP_ERR_INTERNAL;
	}
	if (lb_url_check(url, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s", why);
		return LB_HTTP_ERR_URL;
	}
	if (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "PUT") &&
	    strcmp(method, "DELETE")) {
		snprintf(err, errlen, "internal error: unsupported method");
		return LB_HTTP_ERR_INTERNAL;
	}
	if (o->bearer && !lb_str_clean(o->bearer)) {
		snprintf(err, errlen, "token has control characters");
		return LB_HTTP_ERR_INTERNAL;
	}
	timeout_ms = o->timeout_ms > 0 ? (long)(o->timeout_ms > 86400000 ? 86400000 : o->timeout_ms)
				       : LB_HTTP_DEFAULT_TIMEOUT_MS;
	b.max = o->max_body ? o->max_body : LB_HTTP_DEFAULT_MAX_BODY;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
#ifdef LB_HTTP_DLOPEN
		if (!curl_lib) {
			snprintf(err, errlen, "%s", curl_load_error);
			return LB_HTTP_ERR_INTERNAL;
		}
#endif
		snprintf(err, errlen, "curl_global_init failed: %s", cu.easy_strerror(global_rc));
		return LB_HTTP_ERR_INTERNAL;
	}
	h = cu.easy_init();
	if (!h) {
		snprintf(err, errlen, "curl_easy_init failed");
		return LB_HTTP_ERR_INTERNAL;
	}

	errbuf[0] = '\0';
#define SET(opt, val)                                                                   \
	do {                                                                            \
		if (cu.easy_setopt(h, opt, val) != CURLE_OK) {                          \
			snprintf(err, errlen, "curl_easy_setopt(%s) failed", #opt);     \
			res = LB_HTTP_ERR_INTERNAL;                                     \
			goto out;                                                       \
		}                                                                       \
	} while (0)

	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the string forms; the bitmasks are deprecated */
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_MAXREDIRS, 0L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file) {
		SET(CURLOPT_CAINFO, o->ca_file);
		/* only the configured CA: not the distribution's CA directory as well */
		SET(CURLOPT_CAPATH, (char *)NULL);
	} else {
		/* The system store through its hashed directory, where OpenSSL reads only the
		 * certificates a chain needs: libcurl's default also parses the whole bundle
		 * (~140 CAs), about 20 ms of CPU in every login on a 2-core machine, against
		 * 0.5 ms for the lookup (bench/findings.md). */
		SET(CURLOPT_CAINFO, (char *)NULL);
		SET(CURLOPT_CAPATH, LB_SYSTEM_CA_DIR);
	}
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b.max);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, &b);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
	SET(CURLOPT_USERAGENT, "lockbox/" PACKAGE_VERSION);
	SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	SET(CURLOPT_FORBID_REUSE, 1L);

	tmp = cu.slist_append(hdrs, "Accept: application/json");
	if (!tmp)
		goto oom;
	hdrs = tmp;
	/* no "Expect: 100-continue" round trip */
	tmp = cu.slist_append(hdrs, "Expect:");
	if (!tmp)
		goto oom;
	hdrs = tmp;
	if (body) {
		tmp = cu.slist_append(hdrs, "Content-Type: application/json");
		if (!tmp)
			goto oom;
		hdrs = tmp;
	}
	if (o->bearer) {
		authlen = strlen("Authorization: Bearer ") + strlen(o->bearer) + 1;
		auth = malloc(authlen);
		if (!auth)
			goto oom;
		snprintf(auth, authlen, "Authorization: Bearer %s", o->bearer);
		tmp = cu.slist_append(hdrs, auth);
		if (!tmp)
			goto oom;
		hdrs = tmp;
	}
	SET(CURLOPT_HTTPHEADER, hdrs);

	if (strcmp(method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, method);
		if (body || strcmp(method, "DELETE") != 0) {
			SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
			SET(CURLOPT_POSTFIELDS, body ? body : "");
		}
	}
#undef SET

	rc = cu.easy_perform(h);
	if (rc != CURLE_OK) {
		res = map_curl_error(rc, &b);
		if (res == LB_HTTP_ERR_TOOBIG)
			snprintf(err, errlen, "response body larger than %zu bytes", b.max);
		else
			snprintf(err, errlen, "%s: %s", lb_http_strerror(res),
				 errbuf[0] ? errbuf : cu.easy_strerror(rc));
		goto out;
	}
	cu.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (!b.data) {
		b.data = calloc(1, 1);
		if (!b.data)
			goto oom;
	}
	resp->body = b.data;
	resp->len = b.len;
	b.data = NULL;
	res = LB_HTTP_OK;
	goto out;

oom:
	snprintf(err, errlen, "out of memory");
	res = LB_HTTP_ERR_INTERNAL;
out:
	if (h)
		cu.easy_cleanup(h);
	if (hdrs)
		cu.slist_free_all(hdrs);
	if (auth) {
		lb_wipe(auth, authlen);
		free(auth);
	}
	free(b.data);
	/* the error text is one line */
	if (err)
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
				*p = ' ';
	return res;
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

void lb_http_response_free(struct lb_http_response *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
	r->status = 0;
}
