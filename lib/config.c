/* lockbox: table-driven `key = value` config parsing with file:line: key: why errors. */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockbox/config.h"
#include "lockbox/http.h"
#include "lockbox/util.h"

#define LB_CFG_MAX_LINE 4096
#define LB_CFG_MAX_KEYS 128

static const struct lb_cfg_key *find_key(const struct lb_cfg_key *keys, const char *key)
{
	for (const struct lb_cfg_key *k = keys; k->key; k++)
		if (strcmp(k->key, key) == 0)
			return k;
	return NULL;
}

static int parse_bool(const char *v, int *out)
{
	static const char *yes[] = {"true", "yes", "on", "1"};
	static const char *no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

void lb_strlist_add(struct lb_strlist *l, const char *s)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	char *d = strdup(s);
	if (!nv || !d) {
		free(d);
		if (nv)
			l->v = nv;
		return;
	}
	l->v = nv;
	l->v[l->n++] = d;
}

int lb_strlist_contains(const struct lb_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

void lb_strlist_free(struct lb_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

enum lb_cfg_result lb_config_set(const struct lb_cfg_key *keys, void *cfg, const char *key,
				 const char *value, char *why, size_t whylen)
{
	const struct lb_cfg_key *k = find_key(keys, key);
	char *field;

	if (!k) {
		snprintf(why, whylen, "unknown key");
		return LB_CFG_ERR_KEY;
	}
	if (!lb_str_clean(value)) {
		snprintf(why, whylen, "value has control characters or invalid UTF-8");
		return LB_CFG_ERR_VALUE;
	}
	if (k->check && k->type != LB_CFG_CUSTOM && k->check(cfg, value, why, whylen) != 0)
		return LB_CFG_ERR_VALUE;
	field = (char *)cfg + k->offset;
	switch (k->type) {
	case LB_CFG_STRING:
	case LB_CFG_SECRET: {
		char **dst = (char **)(void *)field;
		char *d = strdup(value);
		if (!d) {
			snprintf(why, whylen, "out of memory");
			return LB_CFG_ERR_VALUE;
		}
		if (*dst) {
			if (k->type == LB_CFG_SECRET)
				lb_wipe(*dst, strlen(*dst));
			free(*dst);
		}
		*dst = d;
		break;
	}
	case LB_CFG_DURATION: {
		int64_t secs;
		if (lb_duration_parse(value, &secs) != 0) {
			snprintf(why, whylen, "'%s' is not a duration (write e.g. 90s, 30m, 8h, 4d)", value);
			return LB_CFG_ERR_VALUE;
		}
		*(int64_t *)(void *)field = secs;
		break;
	}
	case LB_CFG_BOOL:
		if (parse_bool(value, (int *)(void *)field) != 0) {
			snprintf(why, whylen, "'%s' is not a boolean (true or false)", value);
			return LB_CFG_ERR_VALUE;
		}
		break;
	case LB_CFG_UINT: {
		char *end;
		unsigned long v;
		errno = 0;
		v = strtoul(value, &end, 10);
		if (!isdigit((unsigned char)value[0]) || *end || errno) {
			snprintf(why, whylen, "'%s' is not a non-negative integer", value);
			return LB_CFG_ERR_VALUE;
		}
		*(unsigned long *)(void *)field = v;
		break;
	}
	case LB_CFG_LIST: {
		struct lb_strlist *l = (struct lb_strlist *)(void *)field;
		char *copy = strdup(value), *save = NULL, *tok;
		if (!copy) {
			snprintf(why, whylen, "out of memory");
			return LB_CFG_ERR_VALUE;
		}
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			while (isspace((unsigned char)*tok))
				tok++;
			size_t n = strlen(tok);
			while (n && isspace((unsigned char)tok[n - 1]))
				tok[--n] = '\0';
			if (n)
				lb_strlist_add(l, tok);
		}
		free(copy);
		break;
	}
	case LB_CFG_CUSTOM:
		if (!k->check || k->check(cfg, value, why, whylen) != 0)
			return LB_CFG_ERR_VALUE;
		break;
	}
	return LB_CFG_OK;
}

static char *trim(char *s)
{
	char *e;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* The value part of a line (trimmed): a value in double quotes keeps its blanks and any '#';
 * otherwise a '#' after a blank starts a comment ("timeout = 5s  # the default"), and a '#'
 * inside a word stays (a URL's fragment, a password). A comment after a quoted value goes
 * too. */
static char *value_of(char *v)
{
	/* the closing quote is the first one that only blanks or a comment follow */
	for (char *close = v[0] == '"' ? strchr(v + 1, '"') : NULL; close;
	     close = strchr(close + 1, '"')) {
		char *rest = close + 1 + strspn(close + 1, " \t");
		if (*rest == '\0' || *rest == '#') {
			*close = '\0';
			return v + 1;
		}
	}
	for (char *p = v; *p; p++) {
		if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return trim(v);
		}
	}
	return v;
}

/* Lines of a file read with read(2) into a buffer of our own, not stdio: no FILE to allocate
 * and probe (the PAM module reads the host config on every login), and the buffer, which may
 * hold a secret, is wiped by the caller. */
struct line_reader {
	int fd;
	int err; /* errno of a failed read */
	size_t pos, len;
	char buf[4096];
};

/* The next line as fgets(3) gives it: at most CAP - 1 bytes, up to and including a newline,
 * NUL-terminated. 0 at the end of the file or on a read error (R->err). */
static int next_line(struct line_reader *r, char *line, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		if (r->pos == r->len) {
			ssize_t got = read(r->fd, r->buf, sizeof(r->buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				if (got < 0)
					r->err = errno;
				break;
			}
			r->pos = 0;
			r->len = (size_t)got;
		}
		line[n] = r->buf[r->pos++];
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	return n > 0 && !r->err;
}

enum lb_cfg_result lb_config_parse_file(const char *path, const struct lb_cfg_key *keys, void *cfg,
					unsigned flags, char *err, size_t errlen)
{
	char line[LB_CFG_MAX_LINE + 2], why[512];
	const char *seen[LB_CFG_MAX_KEYS];
	size_t nseen = 0;
	unsigned lineno = 0;
	struct stat st;
	enum lb_cfg_result rc = LB_CFG_OK;
	struct line_reader r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return LB_CFG_ERR_OPEN;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return LB_CFG_ERR_OPEN;
	}
	if ((flags & LB_CFG_SECURE) &&
	    ((st.st_mode & (S_IWGRP | S_IWOTH)) || (st.st_uid != 0 && st.st_uid != geteuid()))) {
		snprintf(err, errlen,
			 "%s: insecure: must be owned by root and not writable by group or others", path);
		close(fd);
		return LB_CFG_ERR_PERM;
	}
	r.fd = fd;
	r.err = 0;
	r.pos = r.len = 0;
	while (next_line(&r, line, sizeof(line))) {
		char *p, *eq, *key, *value;
		const struct lb_cfg_key *k;
		lineno++;
		if (strlen(line) > LB_CFG_MAX_LINE) {
			snprintf(err, errlen, "%s:%u: line too long", path, lineno);
			rc = LB_CFG_ERR_SYNTAX;
			break;
		}
		p = trim(line);
		if (*p == '\0' || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
			rc = LB_CFG_ERR_SYNTAX;
			break;
		}
		*eq = '\0';
		key = trim(p);
		value = value_of(trim(eq + 1));
		k = find_key(keys, key);
		if (!k) {
			snprintf(err, errlen, "%s:%u: %s: unknown key", path, lineno, key);
			rc = LB_CFG_ERR_KEY;
			break;
		}
		if (k->type != LB_CFG_LIST) {
			int dup = 0;
			for (size_t i = 0; i < nseen; i++)
				if (seen[i] == k->key)
					dup = 1;
			if (dup) {
				snprintf(err, errlen, "%s:%u: %s: given twice", path, lineno, key);
				rc = LB_CFG_ERR_VALUE;
				break;
			}
			if (nseen < LB_CFG_MAX_KEYS)
				seen[nseen++] = k->key;
		}
		why[0] = '\0';
		rc = lb_config_set(keys, cfg, key, value, why, sizeof(why));
		if (rc != LB_CFG_OK) {
			snprintf(err, errlen, "%s:%u: %s: %s", path, lineno, key, why);
			break;
		}
	}
	if (rc == LB_CFG_OK && r.err) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(r.err));
		rc = LB_CFG_ERR_OPEN;
	}
	lb_wipe(line, sizeof(line));
	lb_wipe(r.buf, sizeof(r.buf));
	close(fd);
	return rc;
}

void lb_config_free_fields(const struct lb_cfg_key *keys, void *cfg)
{
	for (const struct lb_cfg_key *k = keys; k->key; k++) {
		char *field = (char *)cfg + k->offset;
		if (k->type == LB_CFG_STRING || k->type == LB_CFG_SECRET) {
			char **s = (char **)(void *)field;
			if (*s && k->type == LB_CFG_SECRET)
				lb_wipe(*s, strlen(*s));
			free(*s);
			*s = NULL;
		} else if (k->type == LB_CFG_LIST) {
			lb_strlist_free((struct lb_strlist *)(void *)field);
		}
	}
}

int lb_cfg_check_url(void *cfg, const char *value, char *why, size_t whylen)
{
	(void)cfg;
	return lb_url_check(value, why, whylen);
}

int lb_cfg_check_abs_path(void *cfg, const char *value, char *why, size_t whylen)
{
	(void)cfg;
	if (value[0] != '/') {
		snprintf(why, whylen, "'%s' is not an absolute path", value);
		return -1;
	}
	return 0;
}
