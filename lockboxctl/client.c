/* lockboxctl: client settings and the calls to the gateway (errors, pagination, queries). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ctl.h"
#include "lockbox/config.h"
#include "lockbox/gwlist.h"
#include "lockbox/http.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define CTL_DEFAULT_TIMEOUT 30            /* seconds */
#define CTL_MAX_BODY (64u * 1024u * 1024u) /* a page of 200 audit events fits easily */
#define CTL_MAX_PAGES 100000

struct client_conf {
	char *url;
	char *token;
	char *ca_file;
	int64_t timeout;
};

static const struct lb_cfg_key client_keys[] = {
	{"url", LB_CFG_STRING, offsetof(struct client_conf, url), lb_cfg_check_urls},
	{"token", LB_CFG_SECRET, offsetof(struct client_conf, token), NULL},
	{"ca_file", LB_CFG_STRING, offsetof(struct client_conf, ca_file), NULL},
	{"timeout", LB_CFG_DURATION, offsetof(struct client_conf, timeout), NULL},
	{NULL, 0, 0, NULL},
};

static void replace(char **dst, const char *v)
{
	if (*dst) {
		lb_wipe(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = v ? strdup(v) : NULL;
}

char *ctl_secret_arg(const char *value)
{
	char line[4096];
	size_t n;
	if (strcmp(value, "-") != 0)
		return strdup(value);
	if (!fgets(line, sizeof(line), stdin))
		return NULL;
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = '\0';
	char *s = strdup(line);
	lb_wipe(line, sizeof(line));
	return s;
}

int ctl_settings_load(struct ctl *c)
{
	struct client_conf cf = {NULL, NULL, NULL, 0};
	char err[1024], path[4096];
	const char *file = c->flag_config, *v;
	struct stat st;

	if (!file) {
		const char *xdg = secure_getenv("XDG_CONFIG_HOME"), *home = secure_getenv("HOME");
		if (xdg && xdg[0] == '/')
			snprintf(path, sizeof(path), "%s/lockbox/lockboxctl.conf", xdg);
		else if (home && home[0])
			snprintf(path, sizeof(path), "%s/.config/lockbox/lockboxctl.conf", home);
		else
			path[0] = '\0';
		if (path[0] && stat(path, &st) == 0)
			file = path;
	}
	if (file) {
		if (lb_config_parse_file(file, client_keys, &cf, 0, err, sizeof(err)) != LB_CFG_OK) {
			ctl_err("%s", err);
			lb_config_free_fields(client_keys, &cf);
			return CTL_USAGE;
		}
		if (cf.token && stat(file, &st) == 0 && (st.st_mode & 077))
			ctl_err("warning: %s holds a token but is readable by others (chmod 600 it)",
				file);
	}
	c->url = cf.url;
	c->token = cf.token;
	c->ca_file = cf.ca_file;
	c->timeout = cf.timeout > 0 ? cf.timeout : CTL_DEFAULT_TIMEOUT;

	if ((v = secure_getenv("LOCKBOX_URL")) && *v)
		replace(&c->url, v);
	if ((v = secure_getenv("LOCKBOX_TOKEN")) && *v)
		replace(&c->token, v);
	if ((v = secure_getenv("LOCKBOX_CA_FILE")) && *v)
		replace(&c->ca_file, v);
	if (c->flag_url)
		replace(&c->url, c->flag_url);
	if (c->flag_ca_file)
		replace(&c->ca_file, c->flag_ca_file);
	if (c->flag_token) {
		char *t = ctl_secret_arg(c->flag_token);
		if (!t || !*t) {
			free(t);
			ctl_err("--token -: no token on stdin");
			return CTL_USAGE;
		}
		replace(&c->token, NULL);
		c->token = t;
	}
	if (c->flag_timeout &&
	    ctl_duration_why(c->flag_timeout, &c->timeout, err, sizeof(err))) {
		ctl_err("--timeout: %s", err);
		return CTL_USAGE;
	}
	if (!c->url) {
		ctl_err("no gateway URL: give --url, set LOCKBOX_URL, or put url = ... in "
			"~/.config/lockbox/lockboxctl.conf");
		return CTL_USAGE;
	}
	/* one URL or several (blanks or commas between), each checked */
	if (lb_gwlist_parse(&c->gw, c->url, err, sizeof(err)) != 0) {
		ctl_err("gateway URL %s", err);
		return CTL_USAGE;
	}
	if (!c->token && !c->token_optional) {
		ctl_err("no token: give --token, set LOCKBOX_TOKEN, or put token = ... in "
			"~/.config/lockbox/lockboxctl.conf");
		return CTL_USAGE;
	}
	return CTL_OK;
}

void ctl_settings_free(struct ctl *c)
{
	replace(&c->url, NULL);
	replace(&c->token, NULL);
	replace(&c->ca_file, NULL);
	lb_gwlist_free(&c->gw);
}

/* Text for a human: control characters replaced so nothing reaches the terminal raw. */
static void print_clean(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s, f);
}

/* The gateway that gave the last answer, for ctl_refused when several are configured. */
static const char *answered_by;
static size_t configured;

/* Prints what the attempts of TR before the last did (--verbose). */
static void print_attempts(const struct lb_gwlist *gw, const struct lb_gw_trace *tr, size_t upto)
{
	for (size_t i = 0; i < upto && i < tr->n; i++) {
		fputs("lockboxctl: ", stderr);
		print_clean(stderr, gw->url[tr->at[i].gw]);
		fputs(": ", stderr);
		print_clean(stderr, tr->at[i].why[0] ? tr->at[i].why : lb_http_strerror(tr->at[i].hr));
		fputs(i + 1 < tr->n ? " (trying the next gateway)\n" : "\n", stderr);
	}
}

int ctl_http(const struct ctl *c, struct lb_gwlist *gw, const char *bearer, const char *ca_file,
	     int64_t timeout_s, const char *method, const char *path, json_t *body, long *status,
	     json_t **out)
{
	struct lb_http_opts o;
	struct lb_http_response r = {0, NULL, 0, 0};
	struct lb_gw_trace tr;
	enum lb_http_result res;
	char err[1024], *text = NULL;
	/* a call that changes something is not sent to a second gateway once the first may
	 * have taken it: only when it surely did not (refused, TLS) */
	unsigned flags = strcmp(method, "GET") == 0 ? 0 : LB_GW_ONCE;

	*out = NULL;
	*status = 0;
	answered_by = NULL;
	configured = gw->n;
	if (body && !(text = json_dumps(body, JSON_COMPACT))) {
		ctl_err("out of memory");
		return CTL_FAILED;
	}
	memset(&o, 0, sizeof(o));
	o.ca_file = ca_file && *ca_file ? ca_file : NULL;
	o.bearer = bearer;
	o.timeout_ms = timeout_s * 1000;
	o.max_body = CTL_MAX_BODY;
	err[0] = '\0';
	res = lb_gw_request(gw, &o, flags, method, path, text, &r, &tr, err, sizeof(err));
	free(text);
	if (res != LB_HTTP_OK) {
		int rc;
		switch (res) {
		case LB_HTTP_ERR_URL:
			rc = CTL_USAGE;
			break;
		case LB_HTTP_ERR_TOOBIG:
		case LB_HTTP_ERR_INTERNAL:
			rc = CTL_FAILED;
			break;
		default:
			rc = CTL_UNREACHABLE;
			break;
		}
		if (tr.n > 1) {
			/* every gateway tried, and what it did */
			fputs(rc == CTL_UNREACHABLE ? "lockboxctl: cannot reach any gateway ("
						    : "lockboxctl: (", stderr);
			fprintf(stderr, "%zu tried): ", tr.n);
			print_clean(stderr, err[0] ? err : lb_http_strerror(res));
		} else {
			const char *base = tr.n ? gw->url[tr.at[0].gw] : lb_gwlist_current(gw);
			char *url = malloc(strlen(base) + strlen(path) + 1);
			fputs(rc == CTL_UNREACHABLE ? "lockboxctl: cannot reach the gateway ("
						    : "lockboxctl: (", stderr);
			/* the URL asked, as lb_gw_request joined it */
			if (url && lb_url_join(url, strlen(base) + strlen(path) + 1, base, path) == 0)
				print_clean(stderr, url);
			else
				print_clean(stderr, base);
			free(url);
			fputs("): ", stderr);
			print_clean(stderr, err[0] ? err : lb_http_strerror(res));
		}
		fputc('\n', stderr);
		lb_http_response_free(&r);
		return rc;
	}
	if (tr.answered >= 0)
		answered_by = gw->url[tr.answered];
	if (c && c->verbose) {
		print_attempts(gw, &tr, tr.n - 1);
		fprintf(stderr, "lockboxctl: %s %s: HTTP %ld from ", method, path, r.status);
		print_clean(stderr, tr.n ? gw->url[tr.at[tr.n - 1].gw] : "?");
		fputs(tr.answered >= 0 ? "\n" : " (a proxy: no gateway answered)\n", stderr);
	}
	*status = r.status;
	if (r.body && r.len) {
		char why[256];
		*out = lb_json_parse_object(r.body, r.len, why, sizeof(why));
	}
	lb_http_response_free(&r);
	return CTL_OK;
}

int ctl_refused(long status, json_t *answer)
{
	json_t *e = json_object_get(answer, "error");
	const char *code = lb_json_str(e, "code"), *msg = lb_json_str(e, "message");

	fputs("lockboxctl: the gateway refused: ", stderr);
	if (code) {
		print_clean(stderr, code);
		if (msg) {
			fputs(": ", stderr);
			print_clean(stderr, msg);
		}
	} else {
		fputs(answer ? "unexpected answer" : "no JSON answer", stderr);
	}
	fprintf(stderr, " (HTTP %ld", status);
	if (answered_by && configured > 1) {
		/* several gateways: name the one that said it */
		fputs(" from ", stderr);
		print_clean(stderr, answered_by);
	}
	fputs(")\n", stderr);
	return CTL_FAILED;
}

int ctl_answer(long status, json_t *answer, json_t **out)
{
	if (out)
		*out = NULL;
	if (status < 200 || status > 299) {
		int rc = ctl_refused(status, answer);
		json_decref(answer);
		return rc;
	}
	if (!answer && status != 204) {
		ctl_err("the gateway answered HTTP %ld without a JSON object", status);
		return CTL_FAILED;
	}
	if (out)
		*out = answer ? answer : json_object();
	else
		json_decref(answer);
	return CTL_OK;
}

int ctl_api(struct ctl *c, const char *method, const char *path, json_t *body, json_t **out)
{
	json_t *ans = NULL;
	long status;
	int rc = ctl_http(c, &c->gw, c->token, c->ca_file, c->timeout, method, path, body, &status,
			  &ans);

	if (rc != CTL_OK) {
		if (out)
			*out = NULL;
		return rc;
	}
	return ctl_answer(status, ans, out);
}

static void q_append(struct ctl_query *q, const char *s, size_t n)
{
	if (!q->buf)
		return;
	if (q->len + n + 1 > q->cap) {
		size_t cap = (q->len + n + 1) * 2;
		char *nb = realloc(q->buf, cap);
		if (!nb) {
			free(q->buf);
			q->buf = NULL;
			return;
		}
		q->buf = nb;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, s, n);
	q->len += n;
	q->buf[q->len] = '\0';
}

static void q_encode(struct ctl_query *q, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			q_append(q, s, 1);
		} else {
			char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			q_append(q, e, 3);
		}
	}
}

void ctl_query_init(struct ctl_query *q, const char *path)
{
	q->cap = 256;
	q->len = 0;
	q->has_q = strchr(path, '?') != NULL;
	q->buf = malloc(q->cap);
	if (q->buf)
		q->buf[0] = '\0';
	q_append(q, path, strlen(path));
}

void ctl_query_seg(struct ctl_query *q, const char *seg)
{
	q_append(q, "/", 1);
	q_encode(q, seg);
}

void ctl_query_add(struct ctl_query *q, const char *key, const char *value)
{
	if (!value)
		return;
	q_append(q, q->has_q ? "&" : "?", 1);
	q->has_q = 1;
	q_encode(q, key);
	q_append(q, "=", 1);
	q_encode(q, value);
}

char *ctl_query_take(struct ctl_query *q)
{
	char *b = q->buf;
	q->buf = NULL;
	if (!b)
		ctl_err("out of memory");
	return b;
}

int ctl_list(struct ctl *c, const char *path, int all, const char *limit, const char *cursor,
	     json_t **items, char **next)
{
	char *cur = cursor ? strdup(cursor) : NULL, *prev = NULL;
	int rc = CTL_OK;

	*items = json_array();
	if (next)
		*next = NULL;
	for (int page = 0; page < CTL_MAX_PAGES; page++) {
		struct ctl_query q;
		json_t *ans = NULL, *its, *nx;
		char *url;

		ctl_query_init(&q, path);
		ctl_query_add(&q, "limit", limit);
		ctl_query_add(&q, "cursor", cur);
		if (!(url = ctl_query_take(&q))) {
			rc = CTL_FAILED;
			break;
		}
		rc = ctl_api(c, "GET", url, NULL, &ans);
		free(url);
		if (rc != CTL_OK)
			break;
		its = json_object_get(ans, "items");
		nx = json_object_get(ans, "next_cursor");
		if (!json_is_array(its) || (nx && !json_is_null(nx) && !json_is_string(nx) &&
					    !json_is_integer(nx))) {
			ctl_err("the gateway answered a list without items/next_cursor");
			json_decref(ans);
			rc = CTL_FAILED;
			break;
		}
		json_array_extend(*items, its);
		free(prev);
		prev = cur;
		cur = NULL;
		if (json_is_string(nx))
			cur = strdup(json_string_value(nx));
		else if (json_is_integer(nx) && asprintf(&cur, "%lld",
							 (long long)json_integer_value(nx)) < 0)
			cur = NULL;
		json_decref(ans);
		if (!cur || !all)
			break;
		if (prev && strcmp(cur, prev) == 0) {
			ctl_err("the gateway repeated cursor %s; stopping", cur);
			rc = CTL_FAILED;
			break;
		}
	}
	free(prev);
	if (rc == CTL_OK && next)
		*next = cur;
	else
		free(cur);
	if (rc != CTL_OK) {
		json_decref(*items);
		*items = NULL;
	}
	return rc;
}

/* What a name stands for: its id's prefix, where to list them, and the field to match. */
static const struct ctl_kind {
	const char *what, *prefix, *path, *field;
	int fold; /* a second pass ignoring case (the gateway may fold logins to lower case) */
} kinds[] = {
	{"user", "usr_", "/v1/users", "login", 1},
	{"host", "hst_", "/v1/hosts", "name", 0},
	{"tenant", "tnt_", "/v1/tenants", "name", 0},
};

/* GIVEN as an id of KIND (kept as it is), or as a name/login found in the list the caller
 * may read: users print ids, people type names (issue 14). */
static int resolve(struct ctl *c, const struct ctl_kind *k, const char *given, char **id)
{
	json_t *items, *it;
	size_t i;
	int rc;

	*id = NULL;
	if (strncmp(given, k->prefix, strlen(k->prefix)) == 0) {
		*id = strdup(given);
		return *id ? CTL_OK : CTL_FAILED;
	}
	rc = ctl_list(c, k->path, 1, "200", NULL, &items, NULL);
	if (rc != CTL_OK)
		return rc;
	for (int pass = 0; pass < 1 + k->fold && !*id; pass++) {
		json_array_foreach(items, i, it) {
			const char *name = lb_json_str(it, k->field), *iid = lb_json_str(it, "id");
			if (name && iid && (pass ? strcasecmp(name, given) : strcmp(name, given)) == 0) {
				*id = strdup(iid);
				break;
			}
		}
	}
	json_decref(items);
	if (!*id) {
		ctl_err("no %s with %s '%s' (give the %s id %s... or an existing %s)", k->what,
			k->field, given, k->what, k->prefix, k->field);
		return CTL_FAILED;
	}
	return CTL_OK;
}

int ctl_resolve_user(struct ctl *c, const char *user, char **id)
{
	return resolve(c, &kinds[0], user, id);
}

int ctl_resolve_host(struct ctl *c, const char *host, char **id)
{
	return resolve(c, &kinds[1], host, id);
}

int ctl_resolve_tenant(struct ctl *c, const char *tenant, char **id)
{
	return resolve(c, &kinds[2], tenant, id);
}

void ctl_more_hint(const char *next)
{
	if (next)
		fprintf(stderr, "lockboxctl: more items: repeat with --cursor %s, or use --all\n", next);
}

const char *ctl_duration_why(const char *v, int64_t *secs, char *buf, size_t len)
{
	int64_t s;
	if (lb_duration_parse(v, &s) == 0 && s > 0) {
		*secs = s;
		return NULL;
	}
	if (v[0] && strspn(v, "0123456789") == strlen(v) && strlen(v) < 12)
		snprintf(buf, len, "'%s' has no unit: write %ss (seconds), %sm, %sh or %sd", v, v, v,
			 v, v);
	else
		snprintf(buf, len, "'%.64s' is not a duration (write e.g. 90s, 30m, 8h, 4d)", v);
	return buf;
}
