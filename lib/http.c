/* lockbox: the HTTPS client of lockbox-agent and lockboxctl (see include/lockbox/http.h).
 *
 * It keeps the rules DESIGN.md set for code that once ran inside sshd: CURLOPT_NOSIGNAL
 * (never touch signal dispositions), no curl_global_cleanup, proxies from the environment
 * ignored, no redirects, TLS verified against ca_file, one overall deadline, and a response
 * body capped in the write callback. A call makes a fresh handle, or uses a persistent
 * client's (the agent's keep-alive connection and TLS session to the gateway). */

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "lockbox/escape.h"
#include "lockbox/http.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define LB_HTTP_DEFAULT_TIMEOUT_MS 5000
/* the system trust store, one certificate per file with subject-hash links, as Debian's
 * update-ca-certificates(8) keeps it */
#define LB_SYSTEM_CA_DIR "/etc/ssl/certs"
#define LB_HTTP_DEFAULT_MAX_BODY (64 * 1024)

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;



struct lb_http_client {
	CURL *h;
};

static void global_init(void)
{
	/* Once per process, never undone: curl_global_cleanup would also clean up OpenSSL,
	 * which the host daemon (sshd, xrdp-sesman) may still be using. */
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
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

int lb_http_url_ok(const char *url, char *why, size_t whylen)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, rebuilt[600];
	int ok = -1;

	if (lb_url_check(url, why, whylen) != 0)
		return -1;
	/* libcurl parses the URL again when it connects: the scheme and host it sees must pass
	 * the same rule, or a URL the two parsers read differently could reach a host over
	 * plain http that lb_url_check never approved */
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (size_t)snprintf(rebuilt, sizeof(rebuilt), "%s://%s/", scheme, host) >= sizeof(rebuilt))
		snprintf(why, whylen, "libcurl cannot parse the URL");
	else if (lb_url_check(rebuilt, why, whylen) != 0)
		snprintf(why, whylen, "libcurl reads the URL as %s://%s/, which is not allowed "
			 "(http:// only to a loopback gateway)", scheme, host);
	else
		ok = 0;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* The arguments of lb_http_request, checked before anything is set up: LB_HTTP_OK, or the
 * error with ERR said. */
static enum lb_http_result request_args_ok(const struct lb_http_opts *o, const char *method,
					   const char *url, char *err, size_t errlen)
{
	char why[256];

	if (!o || !method || !url) {
		snprintf(err, errlen, "internal error: missing argument");
		return LB_HTTP_ERR_INTERNAL;
	}
	if (lb_http_url_ok(url, why, sizeof(why)) != 0) {
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
	return LB_HTTP_OK;
}

/* The easy handle: the client's own, reused (its options reset), or a new one; NULL with
 * ERR said. */
static CURL *request_handle(const struct lb_http_opts *o, char *err, size_t errlen)
{
	CURL *h;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init failed: %s", curl_easy_strerror(global_rc));
		return NULL;
	}
	if (o->client) {
		if (!o->client->h)
			o->client->h = curl_easy_init();
		h = o->client->h;
		if (h)
			/* options go back to their defaults; the live connection, the TLS session
			 * cache and the DNS cache stay */
			curl_easy_reset(h);
	} else {
		h = curl_easy_init();
	}
	if (!h)
		snprintf(err, errlen, "curl_easy_init failed");
	return h;
}

/* Sets one option of H, or says which one failed and returns -1 from the calling helper. */
#define SET(opt, val)                                                                   \
	do {                                                                            \
		if (curl_easy_setopt(h, opt, val) != CURLE_OK) {                          \
			snprintf(err, errlen, "curl_easy_setopt(%s) failed", #opt);     \
			return -1;                                                      \
		}                                                                       \
	} while (0)

/* Where and how H connects: URL, http(s) only and no redirect or proxy, the deadline, TLS
 * verified against the configured CA (or the system's), the body into B with its cap, and
 * the connection kept (a client) or not. 0, or -1 with ERR said. */
static int set_transport(CURL *h, const struct lb_http_opts *o, const char *url,
			 long timeout_ms, long connect_ms, struct body_buf *b, char *errbuf, char *err,
			 size_t errlen)
{
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
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
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
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->max);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, b);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
	SET(CURLOPT_USERAGENT, "lockbox/" PACKAGE_VERSION);
	SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	if (o->client) {
		SET(CURLOPT_TCP_KEEPALIVE, 1L);
		SET(CURLOPT_TCP_KEEPIDLE, 30L);
		SET(CURLOPT_TCP_KEEPINTVL, 10L);
	} else {
		SET(CURLOPT_FORBID_REUSE, 1L);
	}
	return 0;
}

/* The method and the body (a POST, PUT or DELETE with a body sends it). 0, or -1 with ERR
 * said. */
static int set_method(CURL *h, const char *method, const char *body, char *err, size_t errlen)
{
	if (strcmp(method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
		return 0;
	}
	if (strcmp(method, "POST") != 0)
		SET(CURLOPT_CUSTOMREQUEST, method);
	if (body || strcmp(method, "DELETE") != 0) {
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
		SET(CURLOPT_POSTFIELDS, body ? body : "");
	}
	return 0;
}
#undef SET

/* Appends LINE to *HDRS; -1 when out of memory (*HDRS stays what it was, for the caller to
 * free). */
static int add_header(struct curl_slist **hdrs, const char *line)
{
	struct curl_slist *tmp = curl_slist_append(*hdrs, line);
	if (!tmp)
		return -1;
	*hdrs = tmp;
	return 0;
}

/* The request's headers into *HDRS; the Authorization line is *AUTH (AUTHLEN bytes), which
 * the caller wipes. -1 when out of memory. */
static int make_headers(const struct lb_http_opts *o, const char *body,
			struct curl_slist **hdrs, char **auth, size_t *authlen)
{
	if (add_header(hdrs, "Accept: application/json") != 0 ||
	    /* no "Expect: 100-continue" round trip */
	    add_header(hdrs, "Expect:") != 0 ||
	    (body && add_header(hdrs, "Content-Type: application/json") != 0))
		return -1;
	if (!o->bearer)
		return 0;
	*authlen = strlen("Authorization: Bearer ") + strlen(o->bearer) + 1;
	*auth = malloc(*authlen);
	if (!*auth)
		return -1;
	snprintf(*auth, *authlen, "Authorization: Bearer %s", o->bearer);
	return add_header(hdrs, *auth);
}

/* Sends the request set up on H and takes the answer into RESP (the body from B). */
static enum lb_http_result perform(CURL *h, struct body_buf *b, const char *errbuf,
				   struct lb_http_response *resp, char *err, size_t errlen)
{
	enum lb_http_result res;
	CURLcode rc = curl_easy_perform(h);

	if (rc != CURLE_OK) {
		curl_off_t pre = 0;
		long reqsize = 0;
		/* whether the request went out before the failure: past the connection and TLS
		 * (pretransfer), or request bytes written */
		if ((curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre) == CURLE_OK && pre > 0) ||
		    (curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &reqsize) == CURLE_OK && reqsize > 0))
			resp->sent = 1;
		res = map_curl_error(rc, b);
		if (res == LB_HTTP_ERR_TOOBIG)
			snprintf(err, errlen, "response body larger than %zu bytes", b->max);
		else
			snprintf(err, errlen, "%s: %s", lb_http_strerror(res),
				 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return res;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->sent = 1;
	if (!b->data) {
		b->data = calloc(1, 1);
		if (!b->data) {
			snprintf(err, errlen, "out of memory");
			return LB_HTTP_ERR_INTERNAL;
		}
	}
	resp->body = b->data;
	resp->len = b->len;
	b->data = NULL;
	return LB_HTTP_OK;
}

enum lb_http_result lb_http_request(const struct lb_http_opts *o, const char *method,
				    const char *url, const char *body,
				    struct lb_http_response *resp, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE];
	struct body_buf b = {0};
	struct curl_slist *hdrs = NULL;
	char *auth = NULL;
	size_t authlen = 0;
	CURL *h;
	enum lb_http_result res = LB_HTTP_ERR_INTERNAL;
	long timeout_ms, connect_ms;

	if (err && errlen)
		err[0] = '\0';
	if (resp) {
		resp->status = 0;
		resp->body = NULL;
		resp->len = 0;
		resp->sent = 0;
	} else {
		snprintf(err, errlen, "internal error: missing argument");
		return LB_HTTP_ERR_INTERNAL;
	}
	if ((res = request_args_ok(o, method, url, err, errlen)) != LB_HTTP_OK)
		return res;
	res = LB_HTTP_ERR_INTERNAL;
	timeout_ms = o->timeout_ms > 0 ? (long)(o->timeout_ms > 86400000 ? 86400000 : o->timeout_ms)
				       : LB_HTTP_DEFAULT_TIMEOUT_MS;
	connect_ms = o->connect_timeout_ms > 0 && o->connect_timeout_ms < timeout_ms
			     ? (long)o->connect_timeout_ms
			     : timeout_ms;
	b.max = o->max_body ? o->max_body : LB_HTTP_DEFAULT_MAX_BODY;
	if (!(h = request_handle(o, err, errlen)))
		return LB_HTTP_ERR_INTERNAL;
	errbuf[0] = '\0';
	if (set_transport(h, o, url, timeout_ms, connect_ms, &b, errbuf, err, errlen) != 0)
		goto out;
	if (make_headers(o, body, &hdrs, &auth, &authlen) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK) {
		snprintf(err, errlen, "curl_easy_setopt(%s) failed", "CURLOPT_HTTPHEADER");
		goto out;
	}
	if (set_method(h, method, body, err, errlen) != 0)
		goto out;
	res = perform(h, &b, errbuf, resp, err, errlen);
out:
	if (!o->client)
		curl_easy_cleanup(h);
	if (hdrs)
		curl_slist_free_all(hdrs);
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

void lb_http_response_free(struct lb_http_response *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
	r->status = 0;
	r->sent = 0;
}

struct lb_http_client *lb_http_client_new(void)
{
	pthread_once(&global_once, global_init);
	return calloc(1, sizeof(struct lb_http_client));
}

void lb_http_client_free(struct lb_http_client *c)
{
	if (!c)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	free(c);
}

void lb_http_client_reset(struct lb_http_client *c)
{
	if (c && c->h) {
		curl_easy_cleanup(c->h);
		c->h = NULL;
	}
}

void lb_http_error_text(const struct lb_http_response *r, char *err, size_t errlen)
{
	char why[64], code[64] = "", msg[160] = "";
	json_t *j = lb_json_parse_object(r->body ? r->body : "", r->len, why, sizeof(why));
	if (j) {
		json_t *e = json_object_get(j, "error");
		lb_sanitize_text(lb_json_str(e, "code"), code, sizeof(code));
		lb_sanitize_text(lb_json_str(e, "message"), msg, sizeof(msg));
		json_decref(j);
	}
	snprintf(err, errlen, "gateway answered HTTP %ld%s%s%s%s", r->status, code[0] ? " " : "",
		 code, msg[0] ? ": " : "", msg);
}
