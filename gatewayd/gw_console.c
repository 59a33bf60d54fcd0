/* lockbox-gatewayd: the web console's static files under /console/ (console_dir): the
 * security headers on every answer, fingerprinted asset URLs that may be cached for good, and
 * no way out of the directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw.h"
#include "lockbox/util.h"

#define CONSOLE_MAX_FILE (4 * 1024 * 1024)
#define CONSOLE_MAX_DEPTH 4 /* path segments below the directory */
/* index.html names its assets through this placeholder: "/console/v/FINGERPRINT" */
#define ASSET_PLACEHOLDER "@ASSET_BASE@"

/* No inline script or style, nothing from elsewhere, never in a frame; Trusted Types make a
 * string written to innerHTML and the like an error in the browser, not markup. */
#define CONSOLE_CSP                                                                          \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "          \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "      \
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

static const struct {
	const char *ext;
	const char *type;
} content_types[] = {
	{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
	{".png", "image/png"},                 {".ico", "image/x-icon"},
	{".txt", "text/plain; charset=utf-8"}, {".json", "application/json"},
};

/* The paths of the console's own pages (its client-side routes) that a link may name, as
 * console_url/requests/ID in a notification mail does: they answer index.html, which moves
 * the route into the URL's fragment. */
static const char *const page_routes[] = {"requests", NULL};

static const char *content_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot && i < sizeof(content_types) / sizeof(content_types[0]); i++)
		if (strcmp(dot, content_types[i].ext) == 0)
			return content_types[i].type;
	return NULL;
}

static void add_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy", CONSOLE_CSP);
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
	MHD_add_response_header(resp, "Permissions-Policy",
				"camera=(), microphone=(), geolocation=(), payment=()");
}

static enum MHD_Result queue(struct gw_req *r, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret;
	if (!resp)
		return MHD_NO;
	add_headers(resp);
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	r->responded = 1;
	gw_metrics_http(status);
	return ret;
}

enum MHD_Result gw_console_redirect(struct gw_req *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
								    MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Location", "/console/");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return queue(r, MHD_HTTP_MOVED_PERMANENTLY, resp);
}

/* A path segment served from the directory: letters, digits, '.', '_', '-', not starting with
 * '.' (so never "." or ".." and no hidden file). Everything else is simply not there. */
static int segment_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

/* Opens REL below DIR, one segment at a time and never through a symbolic link (O_NOFOLLOW
 * on every step): a link in the directory, to wherever it points, is not served. Returns a
 * descriptor of a regular file, or -1. */
static int open_below(const char *dir, const char *rel, struct stat *st)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1, depth = 0;
	const char *p = rel;

	if (dfd < 0)
		return -1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		char seg[65];
		int next;
		if (!segment_ok(p, n) || ++depth > CONSOLE_MAX_DEPTH)
			break;
		memcpy(seg, p, n);
		seg[n] = '\0';
		next = openat(dfd, seg, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
					(slash ? O_DIRECTORY : 0));
		if (next < 0)
			break;
		close(dfd);
		dfd = -1;
		if (!slash) {
			if (fstat(next, st) == 0 && S_ISREG(st->st_mode) &&
			    st->st_size <= CONSOLE_MAX_FILE)
				fd = next;
			else
				close(next);
			break;
		}
		dfd = next;
		p = slash + 1;
	}
	if (dfd >= 0)
		close(dfd);
	return fd;
}

/* Adds what identifies the files of DIR (names, sizes, times, inodes, to DEPTH levels) to
 * *SUM, in no particular order: an install or an edit changes it. */
static void fingerprint_dir(int dfd, const char *prefix, int depth, uint64_t *sum)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		struct stat st;
		char buf[600], hex[65];
		if (e->d_name[0] == '.' ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth > 1) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
								  O_CLOEXEC);
			snprintf(buf, sizeof(buf), "%s%s/", prefix, e->d_name);
			if (sub >= 0)
				fingerprint_dir(sub, buf, depth - 1, sum);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		snprintf(buf, sizeof(buf), "%s%s|%lld|%lld.%09ld|%llu", prefix, e->d_name,
			 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			 (unsigned long long)st.st_ino);
		lb_sha256_hex(buf, strlen(buf), hex);
		hex[16] = '\0';
		*sum += strtoull(hex, NULL, 16);
	}
	closedir(d);
}

/* The fingerprint of the installed console as 16 hex digits: the assets' URLs carry it, so a
 * browser may keep them for a year and still never runs an old file with a new one. */
static void fingerprint(const char *dir, char out[17])
{
	uint64_t sum = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fingerprint_dir(dfd, "", CONSOLE_MAX_DEPTH, &sum);
	snprintf(out, 17, "%016" PRIx64, sum);
}

static enum MHD_Result not_found(struct gw_req *r, const char *what)
{
	return gw_reply_error(r, "not_found", "%s", what);
}

/* index.html with its asset placeholder replaced, never cached: it names the assets of the
 * console installed now. */
static enum MHD_Result serve_index(struct gw_req *r, const char *dir)
{
	struct stat st;
	int fd = open_below(dir, "index.html", &st);
	char fp[17], base[40], *text, *out, *o;
	const char *p, *hit;
	size_t len, n = 0, blen;
	struct MHD_Response *resp;

	if (fd < 0)
		return not_found(r, "the console is not installed (console_dir)");
	len = (size_t)st.st_size;
	text = malloc(len + 1);
	if (!text || read(fd, text, len) != (ssize_t)len) {
		free(text);
		close(fd);
		return gw_reply_error(r, "store_error", "cannot read the console's index.html");
	}
	close(fd);
	text[len] = '\0';
	fingerprint(dir, fp);
	blen = (size_t)snprintf(base, sizeof(base), "/console/v/%s", fp);
	for (p = text; (hit = strstr(p, ASSET_PLACEHOLDER)); p = hit + strlen(ASSET_PLACEHOLDER))
		n++;
	out = malloc(len + n * blen + 1);
	if (!out) {
		free(text);
		return MHD_NO;
	}
	for (p = text, o = out; (hit = strstr(p, ASSET_PLACEHOLDER));
	     p = hit + strlen(ASSET_PLACEHOLDER)) {
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, base, blen);
		o += blen;
	}
	memcpy(o, p, strlen(p) + 1);
	free(text);
	resp = MHD_create_response_from_buffer(strlen(out), out, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(out);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return queue(r, MHD_HTTP_OK, resp);
}

enum MHD_Result gw_console_serve(struct gw_req *r)
{
	const char *dir = r->gw->cfg.console_dir, *rel = r->url + strlen("/console/");
	const char *type, *cache = "no-cache";
	char fp[17];
	struct stat st;
	struct MHD_Response *resp;
	int fd;

	if (!dir)
		return not_found(r, "the console is not installed (console_dir)");
	if (*rel == '\0' || strcmp(rel, "index.html") == 0)
		return serve_index(r, dir);
	for (size_t i = 0; page_routes[i]; i++) {
		size_t n = strlen(page_routes[i]);
		if (strncmp(rel, page_routes[i], n) == 0 && (rel[n] == '/' || rel[n] == '\0') &&
		    !strchr(rel, '.'))
			return serve_index(r, dir);
	}
	if (strncmp(rel, "v/", 2) == 0) {
		/* v/FINGERPRINT/FILE: the file as installed now; immutable only when the
		 * fingerprint is today's (an old page asking for an old one gets today's file,
		 * which must not be kept under the old name) */
		const char *slash = strchr(rel + 2, '/');
		if (!slash || slash - (rel + 2) != 16)
			return not_found(r, "no such file in the console");
		fingerprint(dir, fp);
		if (strncmp(rel + 2, fp, 16) == 0)
			cache = "public, max-age=31536000, immutable";
		rel = slash + 1;
	}
	type = content_type(rel);
	if (!type || (fd = open_below(dir, rel, &st)) < 0)
		return not_found(r, "no such file in the console");
	resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", cache);
	return queue(r, MHD_HTTP_OK, resp);
}
