/* lockbox: the HTTPS client the PAM module and lockboxctl use to talk to the gateway.
 * Follows DESIGN.md's rules for code inside sshd: a fresh curl handle per call, no signals,
 * no proxies, no redirects, TLS verified against ca_file, one overall deadline, capped body. */
#ifndef LOCKBOX_HTTP_H
#define LOCKBOX_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct lb_http_opts {
	const char *ca_file;   /* CA bundle to verify the gateway; NULL = the system store,
				* looked up in /etc/ssl/certs by subject hash */
	const char *bearer;    /* Authorization: Bearer token, or NULL */
	int64_t timeout_ms;    /* one deadline for DNS, connect, TLS and body */
	size_t max_body;       /* response bytes kept; more is LB_HTTP_ERR_TOOBIG */
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
};

/* METHOD is "GET", "POST", "PUT" or "DELETE"; BODY (JSON) may be NULL. On any result but
 * LB_HTTP_OK, ERR holds a one-line reason. */
enum lb_http_result lb_http_request(const struct lb_http_opts *o, const char *method,
				    const char *url, const char *body,
				    struct lb_http_response *resp, char *err, size_t errlen);
void lb_http_response_free(struct lb_http_response *r);

/* 0 if URL is https://..., or http:// to 127.0.0.0/8, [::1] or localhost; else -1 and WHY. */
int lb_url_check(const char *url, char *why, size_t whylen);

const char *lb_http_strerror(enum lb_http_result r);

/* Writes BASE without trailing slashes followed by PATH (which starts with '/') into OUT.
 * Returns 0, or -1 if it does not fit. */
int lb_url_join(char *out, size_t outlen, const char *base, const char *path);

#endif
