/* lockbox: the HTTPS client lockbox-agent and lockboxctl use to talk to the gateway: no
 * signals, no proxies, no redirects, TLS verified against ca_file, one overall deadline,
 * capped body; a fresh connection per call, or a persistent client's kept-alive one. */
#ifndef LOCKBOX_HTTP_H
#define LOCKBOX_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* A persistent client: one curl handle whose connection and TLS session are reused from one
 * call to the next. Not thread-safe: one call at a time per client. */
struct lb_http_client;
struct lb_http_client *lb_http_client_new(void);
void lb_http_client_free(struct lb_http_client *c);
/* Drops the connection (the next call makes a new one), e.g. after a transport error. */
void lb_http_client_reset(struct lb_http_client *c);

struct lb_http_opts {
	const char *ca_file;   /* CA bundle to verify the gateway; NULL = the system store,
				* looked up in /etc/ssl/certs by subject hash */
	const char *bearer;    /* Authorization: Bearer token, or NULL */
	int64_t timeout_ms;    /* one deadline for DNS, connect, TLS and body */
	int64_t connect_timeout_ms; /* DNS, connect and TLS alone; 0: timeout_ms */
	size_t max_body;       /* response bytes kept; more is LB_HTTP_ERR_TOOBIG */
	struct lb_http_client *client; /* NULL: a new connection for this call alone */
};

enum lb_http_result {
	LB_HTTP_OK = 0,        /* a complete HTTP response arrived (any status) */
	LB_HTTP_ERR_URL,       /* malformed URL, or http:// to a non-loopback host */
	LB_HTTP_ERR_CONNECT,   /* DNS, refused, unreachable */
	LB_HTTP_ERR_TIMEOUT,   /* the deadline passed */
	LB_HTTP_ERR_TLS,       /* handshake or verification failed */
	LB_HTTP_ERR_TOOBIG,    /* body over max_body */
	LB_HTTP_ERR_PROTOCOL,  /* anything else curl reports */
	LB_HTTP_ERR_INTERNAL,  /* out of memory, curl init */
};

struct lb_http_response {
	long status;
	char *body; /* NUL-terminated */
	size_t len;
	int sent;   /* the request may have reached the server: the connection was up and the
		     * request went out (set on failures too; lockbox's failover rule uses it) */
};

/* METHOD is "GET", "POST", "PUT" or "DELETE"; BODY (JSON) may be NULL. On any result but
 * LB_HTTP_OK, ERR holds a one-line reason. */
enum lb_http_result lb_http_request(const struct lb_http_opts *o, const char *method,
				    const char *url, const char *body,
				    struct lb_http_response *resp, char *err, size_t errlen);
void lb_http_response_free(struct lb_http_response *r);
/* "gateway answered HTTP 503 code: message" for a non-2xx answer R, with the API error's code
 * and message (docs/API.md "Errors") when its body has them, sanitized: one wording for
 * every program that reports a gateway's refusal. */
void lb_http_error_text(const struct lb_http_response *r, char *err, size_t errlen);

/* 0 if URL is https://..., or http:// to 127.0.0.0/8, [::1] or localhost; else -1 and WHY. */
int lb_url_check(const char *url, char *why, size_t whylen);
/* lb_url_check, and the same verdict on the scheme and host libcurl parses out of URL (what
 * it will connect to): 0, or -1 and WHY. Every request goes through it. */
int lb_http_url_ok(const char *url, char *why, size_t whylen);

const char *lb_http_strerror(enum lb_http_result r);

/* Writes BASE without trailing slashes followed by PATH (which starts with '/') into OUT.
 * Returns 0, or -1 if it does not fit. */
int lb_url_join(char *out, size_t outlen, const char *base, const char *path);

#endif
