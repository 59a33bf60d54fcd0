/* lockboxctl: hosts: enroll/list/disable (provider admin, through the API) and, as root on
 * the host itself, join (write pam_lockbox.conf and host.token), flush (deliver the local
 * audit log), sessions (the local session log as a table) and check (what lockbox-agent
 * would decide for a login, and why). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "lockbox/agentproto.h"
#include "lockbox/auditlog.h"
#include "lockbox/config.h"
#include "lockbox/hostconf.h"
#include "lockbox/http.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define HOST_CONF_DEFAULT LB_HOSTCONF_PATH
#define HOST_TOKEN_DEFAULT LB_HOSTCONF_TOKEN_FILE
#define HOST_AUDIT_DEFAULT LB_HOSTCONF_AUDIT_LOG
#define HOST_FLUSH_BUDGET 60     /* seconds for a whole flush */

/* ---- through the API ---- */

static const struct ctl_col host_cols[] = {
	{"ID", "id", COL_STR},
	{"NAME", "name", COL_STR},
	{"TENANT", "tenant", COL_STR},
	{"SUBSCRIPTION", "subscription", COL_STR},
	{"DISABLED", "disabled", COL_BOOL},
	{"CREATED", "created_at", COL_TIME},
	{NULL, NULL, 0},
};

static int host_enroll(struct ctl *c, struct ctl_args *a)
{
	const char *sub = cmd_need(a, "subscription");
	json_t *b, *ans;
	int rc;
	if (!sub)
		return CTL_USAGE;
	b = json_pack("{s:s, s:s}", "subscription", sub, "name", a->pos[0]);
	rc = ctl_api(c, "POST", "/v1/hosts", b, &ans);
	json_decref(b);
	if (rc != CTL_OK)
		return rc;
	return cmd_print_once(c, ans, "host");
}

static int host_list(struct ctl *c, struct ctl_args *a)
{
	struct ctl_query q;
	ctl_query_init(&q, "/v1/hosts");
	ctl_query_add(&q, "tenant", ctl_arg(a, "tenant"));
	ctl_query_add(&q, "subscription", ctl_arg(a, "subscription"));
	return cmd_list(c, a, &q, host_cols);
}

/* POST /v1/hosts/{id}/disable or /enable. */
static int host_set_disabled(struct ctl *c, struct ctl_args *a, const char *what)
{
	char *id, *p;
	int rc = ctl_resolve_host(c, a->pos[0], &id);
	if (rc != CTL_OK)
		return rc;
	p = cmd_path_id("/v1/hosts", id, what);
	free(id);
	rc = cmd_call_show(c, "POST", p, NULL);
	free(p);
	return rc;
}

static int host_disable(struct ctl *c, struct ctl_args *a)
{
	return host_set_disabled(c, a, "/disable");
}

static int host_enable(struct ctl *c, struct ctl_args *a)
{
	return host_set_disabled(c, a, "/enable");
}

/* ---- on the host ---- */

/* pam_lockbox.conf through the host config the module and the agent read (lib/hostconf.c),
 * so these commands reject what they would reject. */
static int host_conf_load(const char *path, struct lb_hostconf *hc)
{
	char err[1024];
	if (lb_hostconf_load(hc, path, err, sizeof(err)) != 0) {
		ctl_err("%s", err);
		lb_hostconf_free(hc);
		return CTL_USAGE;
	}
	return CTL_OK;
}

static char *read_token_file(const char *path)
{
	char err[512];
	char *t = lb_hostconf_read_token(path, err, sizeof(err));
	if (!t)
		ctl_err("%s", err);
	return t;
}

/* Writes CONTENT to PATH atomically (temp file + rename in the same directory) with MODE,
 * owned by root when we are root; creates a missing parent directory 0755. */
static int write_file_atomic(const char *path, const char *content, mode_t mode)
{
	char *d = strdup(path), *tmp = NULL;
	const char *dir;
	size_t len = strlen(content), off = 0;
	int fd = -1, rc = -1, dfd;

	if (!d)
		return -1;
	dir = dirname(d);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		ctl_err("%s: mkdir: %s", dir, strerror(errno));
		goto out;
	}
	if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) {
		tmp = NULL;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ctl_err("%s: %s", path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) != 0 || (geteuid() == 0 && fchown(fd, 0, 0) != 0)) {
		ctl_err("%s: chmod/chown: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, content + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ctl_err("%s: write: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		ctl_err("%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		ctl_err("%s: rename: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(d);
	return rc;
}

/* Absolute form of PATH (which need not exist yet), malloc'ed. */
static char *abs_path(const char *path)
{
	char cwd[PATH_MAX], *r;
	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&r, "%s/%s", cwd, path) < 0)
		return NULL;
	return r;
}

/* Asks the gateway who this host token is (GET /v1/hosts/self): an answer proves that the
 * gateway answers and accepts the token, and names the host as the gateway does (host_id).
 * A probe check would land a deny in the customer's activity log; this reads only. */
static int join_probe(const struct ctl *c, struct lb_gwlist *gw, const char *token,
		      const char *ca, int64_t timeout, char *host, size_t hostlen)
{
	json_t *ans = NULL;
	long status;
	int rc = ctl_http(c, gw, token, ca, timeout, "GET", "/v1/hosts/self", NULL, &status, &ans);
	if (rc != CTL_OK)
		return rc;
	if (status == 200 && lb_json_str(ans, "name")) {
		const char *name = lb_json_str(ans, "name");
		int disabled = json_is_true(json_object_get(ans, "disabled"));
		/* the enrolled name: host_id, which every answer must then echo */
		if (lb_str_clean(name) && strlen(name) < hostlen && !strchr(name, ' '))
			snprintf(host, hostlen, "%s", name);
		fprintf(stderr, "lockboxctl: the gateway answered and accepts the host token of "
			"%s%s\n", host[0] ? host : "this host",
			disabled ? " (but the host is DISABLED: every login will be denied)" : "");
		json_decref(ans);
		return CTL_OK;
	}
	if (status == 401)
		ctl_err("the gateway does not accept this host token");
	rc = ctl_refused(status, ans);
	json_decref(ans);
	return rc;
}

/* What host join writes, from its arguments: the gateway URLs, the host token, the absolute
 * paths of the CA file, the token file and the audit log, and the enrolled name the probe
 * learned (host_id). */
struct join {
	const char *url;
	struct lb_gwlist gw;
	char *urls; /* gw written back: "URL1, URL2" */
	char *token, *ca, *tabs, *alog;
	int64_t timeout;
	char host[256];
};

static void join_free(struct join *j)
{
	if (j->token) {
		lb_wipe(j->token, strlen(j->token));
		free(j->token);
	}
	free(j->ca);
	free(j->tabs);
	free(j->alog);
	free(j->urls);
	lb_gwlist_free(&j->gw);
}

/* Checks host join's arguments into J; CTL_OK, or the status after saying what is wrong. */
static int join_read_args(struct ctl *c, struct ctl_args *a, struct join *j)
{
	const char *tfile = ctl_arg(a, "token-file") ? ctl_arg(a, "token-file") : HOST_TOKEN_DEFAULT;
	const char *tok_arg;
	char why[512];

	if (!(j->url = cmd_need(a, "url")) || !(tok_arg = cmd_need(a, "host-token")))
		return CTL_USAGE;
	/* one URL or several: all are written to gateway_url */
	if (lb_gwlist_parse(&j->gw, j->url, why, sizeof(why)) != 0)
		return ctl_usage(a, "--url %s", why);
	if (!(j->urls = lb_gwlist_text(&j->gw)))
		return CTL_FAILED;
	j->timeout = 10;
	if (c->flag_timeout && ctl_duration_why(c->flag_timeout, &j->timeout, why, sizeof(why)))
		return ctl_usage(a, "--timeout: %s", why);
	j->token = ctl_secret_arg(tok_arg);
	if (!j->token || strncmp(j->token, "lbh_", 4) != 0 || !lb_str_clean(j->token) ||
	    strchr(j->token, ' '))
		return ctl_usage(a, "--host-token: expected a host token (lbh_...)");
	if (ctl_arg(a, "ca-file")) {
		if (access(ctl_arg(a, "ca-file"), R_OK) != 0)
			return ctl_usage(a, "--ca-file %s: %s", ctl_arg(a, "ca-file"), strerror(errno));
		j->ca = realpath(ctl_arg(a, "ca-file"), NULL);
	}
	if (!(j->tabs = abs_path(tfile)))
		return CTL_FAILED;
	if (ctl_arg(a, "audit-log") && !(j->alog = abs_path(ctl_arg(a, "audit-log"))))
		return CTL_FAILED;
	if (!lb_str_clean(j->url) || !lb_str_clean(j->tabs) || (j->ca && !lb_str_clean(j->ca)) ||
	    (j->alog && !lb_str_clean(j->alog)))
		return ctl_usage(a, "control characters in a URL or path");
	return CTL_OK;
}

/* The host config's text (pam_lockbox.conf), or NULL. */
static char *join_conf_text(const struct join *j)
{
	char stamp[LB_TIME_BUFLEN], *text;

	lb_time_format(lb_time_now_ms(), stamp, sizeof(stamp));
	if (asprintf(&text,
		     "# pam_lockbox.conf: written by lockboxctl host join at %s\n"
		     "gateway_url = %s\n"
		     "%s%s\n"
		     "%s%s\n"
		     "host_token_file = %s\n"
		     "%s%s\n"
		     "# gated_group = lockbox-engineers\n"
		     "# exempt_users =\n"
		     "# timeout = 5s\n",
		     stamp, j->urls, j->host[0] ? "host_id = " : "# host_id = ",
		     j->host[0] ? j->host : "(the enrolled name; unknown: written with --no-check)",
		     j->ca ? "ca_file = " : "# ca_file = ", j->ca ? j->ca : "(the system CA store)",
		     j->tabs, j->alog ? "audit_log = " : "# audit_log = ",
		     j->alog ? j->alog : HOST_AUDIT_DEFAULT) < 0)
		return NULL;
	return text;
}

/* Writes the token file (0600), then the config (0644) that names it. */
static int join_write_files(const struct join *j, const char *conf)
{
	char *text = join_conf_text(j), *tline = NULL;
	int rc = CTL_FAILED;

	if (!text)
		return CTL_FAILED;
	if (asprintf(&tline, "%s\n", j->token) < 0) {
		free(text);
		return CTL_FAILED;
	}
	if (write_file_atomic(j->tabs, tline, 0600) == 0 && write_file_atomic(conf, text, 0644) == 0) {
		fprintf(stderr, "lockboxctl: wrote %s (0644) and %s (0600)\n", conf, j->tabs);
		rc = CTL_OK;
	}
	lb_wipe(tline, strlen(tline));
	free(tline);
	free(text);
	return rc;
}

static int host_join(struct ctl *c, struct ctl_args *a)
{
	const char *conf = ctl_arg(a, "config") ? ctl_arg(a, "config") : HOST_CONF_DEFAULT;
	struct join j;
	int rc;

	memset(&j, 0, sizeof(j));
	rc = join_read_args(c, a, &j);
	if (rc != CTL_OK)
		goto out;
	if (geteuid() != 0)
		ctl_err("warning: not running as root: the files will belong to uid %u",
			(unsigned)geteuid());
	if (!ctl_flag(a, "no-check") &&
	    (rc = join_probe(c, &j.gw, j.token, j.ca, j.timeout, j.host, sizeof(j.host))) != CTL_OK)
		goto out;
	rc = join_write_files(&j, conf);
out:
	join_free(&j);
	return rc;
}

static int host_flush(struct ctl *c, struct ctl_args *a)
{
	const char *conf = ctl_arg(a, "config") ? ctl_arg(a, "config") : HOST_CONF_DEFAULT;
	const char *log;
	struct lb_hostconf hc;
	struct lb_http_opts o;
	struct lb_auditlog_flush_stats st;
	enum lb_auditlog_result res;
	char err[1024], *token = NULL;
	int64_t budget = HOST_FLUSH_BUDGET;
	int rc;

	/* --timeout is how long the whole flush may take (each request also stops at the
	 * config's timeout); --deadline is its old spelling */
	if (ctl_arg(a, "timeout") && ctl_duration_why(ctl_arg(a, "timeout"), &budget, err, sizeof(err)))
		return ctl_usage(a, "--timeout: %s", err);
	rc = host_conf_load(conf, &hc);
	if (rc != CTL_OK)
		return rc;
	token = read_token_file(hc.host_token_file);
	if (!token) {
		rc = CTL_USAGE;
		goto out;
	}
	log = hc.audit_log;
	memset(&o, 0, sizeof(o));
	memset(&st, 0, sizeof(st));
	o.ca_file = hc.ca_file;
	o.bearer = token;
	o.timeout_ms = hc.timeout * 1000;
	o.max_body = 64 * 1024;
	err[0] = '\0';
	res = lb_auditlog_flush(log, &hc.gateways, &o, budget * 1000, &st, err, sizeof(err));
	if (c->json) {
		json_t *j = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "ok",
				      res == LB_AUDITLOG_OK, "sent", (json_int_t)st.sent, "accepted",
				      (json_int_t)st.accepted, "duplicates", (json_int_t)st.duplicates,
				      "rejected", (json_int_t)st.rejected, "skipped",
				      (json_int_t)st.skipped, "pending", (json_int_t)st.pending);
		if (res != LB_AUDITLOG_OK)
			json_object_set_new(j, "error", json_string(err[0] ? err
									   : lb_auditlog_strerror(res)));
		ctl_print_json(j);
		json_decref(j);
	} else if (!c->quiet) {
		printf("%s: sent %zu, accepted %zu, duplicates %zu, rejected %zu, skipped %zu, "
		       "pending %zu\n",
		       log, st.sent, st.accepted, st.duplicates, st.rejected, st.skipped, st.pending);
	}
	switch (res) {
	case LB_AUDITLOG_OK:
		rc = CTL_OK;
		break;
	case LB_AUDITLOG_ERR_GATEWAY:
		/* an answer the gateway gave (HTTP status) is a refusal; no answer is exit 3 */
		ctl_err("%s", err[0] ? err : lb_auditlog_strerror(res));
		rc = st.http_status ? CTL_FAILED : CTL_UNREACHABLE;
		break;
	default:
		ctl_err("%s", err[0] ? err : lb_auditlog_strerror(res));
		rc = CTL_FAILED;
		break;
	}
out:
	if (token) {
		lb_wipe(token, strlen(token));
		free(token);
	}
	lb_hostconf_free(&hc);
	return rc;
}

/* ---- host sessions: pair session.start with session.end from the local log ---- */

struct session {
	json_t *start, *end;  /* events (new references) */
	int start_delivered, end_delivered;
};

struct sessions {
	struct session *v;
	size_t n, cap;
};

/* Whether END closes START. pam_lockbox puts the start event's id in details.session of
 * both; without it (an end logged by another process) the decision id, else user and pid. */
static int session_match(const json_t *start, const json_t *end)
{
	const json_t *ds = json_object_get(start, "details"), *de = json_object_get(end, "details");
	static const char *const keys[] = {"session", "decision_id", NULL};
	const char *as = lb_json_str(start, "actor"), *ae = lb_json_str(end, "actor");
	json_t *ps = json_object_get(ds, "pid"), *pe = json_object_get(de, "pid");

	for (size_t i = 0; keys[i]; i++) {
		const char *a = lb_json_str(ds, keys[i]), *b = lb_json_str(de, keys[i]);
		if (a && b)
			return strcmp(a, b) == 0;
	}
	return as && ae && strcmp(as, ae) == 0 && json_is_integer(ps) && json_is_integer(pe) &&
	       json_integer_value(ps) == json_integer_value(pe);
}

static int collect_session(const json_t *ev, int delivered, void *arg)
{
	struct sessions *s = arg;
	const char *type = lb_json_str(ev, "type");
	if (!type)
		return 0;
	if (strcmp(type, "session.start") == 0) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 64;
			struct session *nv = realloc(s->v, cap * sizeof(*nv));
			if (!nv)
				return 1;
			s->v = nv;
			s->cap = cap;
		}
		s->v[s->n].start = json_incref((json_t *)ev);
		s->v[s->n].end = NULL;
		s->v[s->n].start_delivered = delivered;
		s->v[s->n].end_delivered = 0;
		s->n++;
	} else if (strcmp(type, "session.end") == 0) {
		/* the newest open session it closes */
		for (size_t i = s->n; i-- > 0;) {
			if (!s->v[i].end && session_match(s->v[i].start, ev)) {
				s->v[i].end = json_incref((json_t *)ev);
				s->v[i].end_delivered = delivered;
				break;
			}
		}
	}
	return 0;
}

static const char *detail(const json_t *ev, const char *key)
{
	return ev ? lb_json_str(json_object_get(ev, "details"), key) : NULL;
}

static int host_sessions(struct ctl *c, struct ctl_args *a)
{
	const char *conf = ctl_arg(a, "config") ? ctl_arg(a, "config") : HOST_CONF_DEFAULT;
	const char *log = ctl_arg(a, "audit-log");
	struct lb_hostconf hc;
	struct sessions s = {NULL, 0, 0};
	enum lb_auditlog_result res;
	json_t *rows;
	char err[1024];
	int rc = CTL_OK;

	memset(&hc, 0, sizeof(hc));
	if (!log) {
		rc = host_conf_load(conf, &hc);
		if (rc != CTL_OK)
			return rc;
		log = hc.audit_log;
	}
	err[0] = '\0';
	res = lb_auditlog_foreach(log, collect_session, &s, err, sizeof(err));
	if (res != LB_AUDITLOG_OK) {
		ctl_err("%s", err[0] ? err : lb_auditlog_strerror(res));
		rc = CTL_FAILED;
		goto out;
	}
	rows = json_array();
	for (size_t i = 0; i < s.n; i++) {
		const json_t *st = s.v[i].start, *en = s.v[i].end;
		const char *t0 = lb_json_str(st, "time"), *t1 = en ? lb_json_str(en, "time") : NULL;
		int64_t ms0, ms1;
		json_t *row = json_object();
		json_object_set_new(row, "id", json_string(lb_json_str(st, "id")));
		lb_json_set_str_or_null(row, "start", t0);
		lb_json_set_str_or_null(row, "end", t1);
		if (t0 && t1 && lb_time_parse(t0, &ms0) == 0 && lb_time_parse(t1, &ms1) == 0 &&
		    ms1 >= ms0) {
			char d[32];
			json_object_set_new(row, "duration_s", json_integer((ms1 - ms0) / 1000));
			lb_duration_format((ms1 - ms0) / 1000, d, sizeof(d));
			json_object_set_new(row, "duration", json_string(d));
		} else {
			json_object_set_new(row, "duration_s", json_null());
			json_object_set_new(row, "duration", json_null());
		}
		lb_json_set_str_or_null(row, "user", lb_json_str(st, "actor") ? lb_json_str(st, "actor")
										 : detail(st, "user"));
		lb_json_set_str_or_null(row, "rhost", detail(st, "rhost"));
		lb_json_set_str_or_null(row, "tty", detail(st, "tty"));
		lb_json_set_str_or_null(row, "service", detail(st, "service"));
		lb_json_set_str_or_null(row, "request", lb_json_str(st, "request"));
		json_object_set_new(row, "delivered",
				    json_boolean(s.v[i].start_delivered &&
						 (!en || s.v[i].end_delivered)));
		json_array_append_new(rows, row);
	}
	if (c->json) {
		ctl_print_json(rows);
	} else if (c->quiet) {
		ctl_print_ids(rows);
	} else {
		static const struct ctl_col cols[] = {
			{"START", "start", COL_TIME},   {"END", "end", COL_TIME},
			{"DURATION", "duration", COL_STR}, {"USER", "user", COL_STR},
			{"RHOST", "rhost", COL_STR},    {"REQUEST", "request", COL_STR},
			{"DELIVERED", "delivered", COL_BOOL}, {NULL, NULL, 0},
		};
		ctl_table(rows, cols);
	}
	json_decref(rows);
out:
	for (size_t i = 0; i < s.n; i++) {
		json_decref(s.v[i].start);
		json_decref(s.v[i].end);
	}
	free(s.v);
	lb_hostconf_free(&hc);
	return rc;
}

/* Sends Q (consumed) to lockbox-agent's socket: CTL_OK with its answer in *ANSWER, or
 * CTL_UNREACHABLE (said why, and where to look). */
static int ask_agent(const struct lb_hostconf *hc, json_t *q, json_t **answer)
{
	char err[512];
	enum lb_agent_result ar =
		lb_agent_call(hc->agent_socket, q, hc->timeout * 1000, answer, err, sizeof(err));
	json_decref(q);
	if (ar != LB_AGENT_OK) {
		ctl_err("%s (is lockbox-agent running? systemctl status lockbox-agent)", err);
		return CTL_UNREACHABLE;
	}
	return CTL_OK;
}

/* What lockbox-agent would decide for a login of USER, and why: the same question the PAM
 * module asks (the gateway records it as a check, like any other). */
static int host_check(struct ctl *c, struct ctl_args *a)
{
	const char *conf = ctl_arg(a, "config") ? ctl_arg(a, "config") : HOST_CONF_DEFAULT;
	const char *service = ctl_arg(a, "service") ? ctl_arg(a, "service") : "sshd";
	struct lb_check_answer ans;
	struct lb_hostconf hc;
	char err[512];
	json_t *q, *j = NULL;
	int rc;

	if (!lb_str_clean(a->pos[0]) || !lb_str_clean(service))
		return ctl_usage(a, "USER and --service must be clean text");
	rc = host_conf_load(conf, &hc);
	if (rc != CTL_OK)
		return rc;
	q = json_pack("{s:s,s:s,s:s,s:s}", "op", "check", "user", a->pos[0], "service", service,
		      "tty", "lockboxctl-host-check");
	rc = ask_agent(&hc, q, &j);
	if (rc != CTL_OK)
		goto out;
	if (lb_check_answer_parse(j, &ans, err, sizeof(err)) != 0) {
		ctl_err("lockbox-agent's %s", err);
		rc = CTL_FAILED;
		goto out;
	}
	if (c->json) {
		ctl_print_json(j);
	} else if (!c->quiet) {
		printf("decision:  %s\n", ans.allow ? "allow" : "deny");
		printf("reason:    %s\n", ans.reason);
		printf("message:   %s\n", ans.message);
		if (ans.request[0])
			printf("request:   %s\n", ans.request);
		if (ans.grant_expires_at[0])
			printf("until:     %s\n", ans.grant_expires_at);
		printf("decided:   %s (decision %s)\n",
		       ans.at_gateway  ? "by the gateway"
		       : ans.recorded  ? "by the agent, from the grants it holds (recorded)"
				       : "by the agent: the gateway did not decide",
		       ans.decision_id);
		if (ans.error[0])
			printf("error:     %s\n", ans.error);
	}
	rc = ans.allow ? CTL_OK : CTL_FAILED;
out:
	json_decref(j);
	lb_hostconf_free(&hc);
	return rc;
}

/* What lockbox-agent on this host says about itself: the gateway it uses now (with several
 * gateway_url URLs: the last one that answered), whether that one answers, the grants and
 * the sessions it holds. */
static int host_status(struct ctl *c, struct ctl_args *a)
{
	const char *conf = ctl_arg(a, "config") ? ctl_arg(a, "config") : HOST_CONF_DEFAULT;
	struct lb_hostconf hc;
	const json_t *urls, *grants, *sess;
	json_t *q, *j = NULL;
	int rc, ok;

	rc = host_conf_load(conf, &hc);
	if (rc != CTL_OK)
		return rc;
	q = json_pack("{s:s}", "op", "status");
	rc = ask_agent(&hc, q, &j);
	if (rc != CTL_OK)
		goto out;
	if (!json_is_true(json_object_get(j, "ok")) || !lb_json_str(j, "gateway_url")) {
		ctl_err("lockbox-agent's status answer is malformed");
		rc = CTL_FAILED;
		goto out;
	}
	ok = json_is_true(json_object_get(j, "gateway_ok"));
	urls = json_object_get(j, "gateway_urls");
	grants = json_object_get(j, "grants");
	sess = json_object_get(j, "sessions");
	if (c->json) {
		ctl_print_json(j);
	} else if (!c->quiet) {
		char *h = ctl_human(json_object_get(j, "host"), COL_STR);
		char *g = ctl_human(json_object_get(j, "gateway_url"), COL_STR);
		printf("host:      %s\n", h ? h : "-");
		printf("gateway:   %s (%s)\n", g ? g : "-",
		       ok ? "answers" : "does not answer");
		free(h);
		free(g);
		if (json_array_size(urls) > 1) {
			size_t i;
			json_t *u;
			printf("gateways:  ");
			json_array_foreach(urls, i, u) {
				char *t = ctl_human(u, COL_STR);
				printf("%s%s", i ? ", " : "", t ? t : "-");
				free(t);
			}
			printf(" (all, in config order)\n");
		}
		printf("grants:    %lld held%s\n",
		       (long long)json_integer_value(json_object_get(grants, "count")),
		       json_is_true(json_object_get(grants, "current")) ? ", current" : ", not current");
		printf("sessions:  %zu live\n", json_array_size(sess));
	}
	rc = ok ? CTL_OK : CTL_UNREACHABLE;
out:
	json_decref(j);
	lb_hostconf_free(&hc);
	return rc;
}

static const struct ctl_opt enroll_opts[] = {
	{"subscription", "SUB", "the subscription (sub_...) the host belongs to", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt host_list_opts[] = {
	{"tenant", "TENANT", "only this tenant's hosts", 0},
	{"subscription", "SUB", "only this subscription's hosts", 0},
	CMD_LIST_OPTS,
	{NULL, NULL, NULL, 0},
};
/* The old spellings (--gateway, --token, --ca) stay as hidden aliases for one release. */
static const struct ctl_opt join_opts[] = {
	{"url", "URL", "the gateway's URL, e.g. https://gw.example:8443 (several: blank- or comma-separated)", 0},
	{"gateway", "URL", NULL, CTL_OPT_ALIAS},
	{"host-token", "TOKEN", "the host token from 'host enroll' (lbh_...), or - to read it from stdin", 0},
	{"token", "TOKEN", NULL, CTL_OPT_ALIAS},
	{"ca-file", "FILE", "CA bundle that signs the gateway's certificate (default: system store)", 0},
	{"ca", "FILE", NULL, CTL_OPT_ALIAS},
	{"config", "PATH", "where to write the PAM module's config (default " HOST_CONF_DEFAULT ")", 0},
	{"token-file", "PATH", "where to write the host token (default " HOST_TOKEN_DEFAULT ")", 0},
	{"audit-log", "PATH", "audit_log to set in the config (default: the module's, "
			      HOST_AUDIT_DEFAULT ")", 0},
	{"no-check", NULL, "write the files without asking the gateway first", 0},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt flush_opts[] = {
	{"config", "PATH", "the PAM module's config (default " HOST_CONF_DEFAULT ")", 0},
	{"timeout", "DURATION", "give up after this long in all (default 60s)", 0},
	{"deadline", "DURATION", NULL, CTL_OPT_ALIAS},
	{NULL, NULL, NULL, 0},
};
static const struct ctl_opt sessions_opts[] = {
	{"config", "PATH", "the PAM module's config (default " HOST_CONF_DEFAULT ")", 0},
	{"audit-log", "PATH", "read this local audit log instead of the config's audit_log", 0},
	{NULL, NULL, NULL, 0},
};

static const struct ctl_opt status_opts[] = {
	{"config", "PATH", "the host config (default " HOST_CONF_DEFAULT ")", 0},
	{NULL, NULL, NULL, 0},
};

static const struct ctl_opt check_opts[] = {
	{"config", "PATH", "the host config (default " HOST_CONF_DEFAULT ")", 0},
	{"service", "SERVICE", "the PAM service to ask for (default sshd)", 0},
	{NULL, NULL, NULL, 0},
};

const struct ctl_cmd ctl_cmds_host[] = {
	{"host enroll", "--subscription SUB NAME",
	 "enroll a host (provider admin); prints its token once", 1, 1, enroll_opts, host_enroll,
	 0,
	 "NAME is unique per gateway, e.g. the host's FQDN. The host token goes to stdout alone\n"
	 "(a note to stderr); hand it to 'lockboxctl host join' on the host."},
	{"host list", "[--tenant TENANT] [--subscription SUB]", "list hosts (provider admin)", 0, 0,
	 host_list_opts, host_list, 0, NULL},
	{"host disable", "HOST", "disable a host: every check from it is denied (provider admin)",
	 1, 1, NULL, host_disable, 0, "HOST is a host id (hst_...) or an enrolled name."},
	{"host enable", "HOST", "enable a disabled host again (provider admin)", 1, 1, NULL,
	 host_enable, 0,
	 "HOST is a host id (hst_...) or an enrolled name. Its checks are decided again as\n"
	 "for any host; no grant comes back by itself (each still needs its approval)."},
	{"host join",
	 "--url URL --host-token TOKEN [--ca-file FILE] [--config PATH] [--token-file PATH]",
	 "set this host up for pam_lockbox (as root)", 0, 0, join_opts, host_join, CTL_CMD_LOCAL,
	 "Asks the gateway which host the token belongs to (GET /v1/hosts/self: proving that it\n"
	 "answers and accepts the token; nothing is audited), then writes the PAM module's\n"
	 "config with that host_id (mode 0644) and the host token file (mode 0600), both owned\n"
	 "by root, each replaced atomically. With several URLs the first that answers is asked,\n"
	 "and gateway_url lists them all, in the order given."},
	{"host flush", "[--config PATH] [--timeout DURATION]", "deliver the local audit events not yet delivered (as root)",
	 0, 0, flush_opts, host_flush, CTL_CMD_LOCAL,
	 "Reads gateway_url, ca_file, host_token_file, timeout and audit_log from the PAM\n"
	 "module's config. Safe to run at any time (e.g. from a systemd timer): the gateway\n"
	 "ignores events it already has. With several gateways, a batch that one does not\n"
	 "answer within timeout goes to the next."},
	{"host check", "USER [--service SERVICE] [--config PATH]",
	 "what lockbox-agent would decide for a login of USER, and why (as root)", 1, 1,
	 check_opts, host_check, CTL_CMD_LOCAL,
	 "Asks the agent on this host the question pam_lockbox.so asks at login (the gateway\n"
	 "records it as a check). Exit 0 for allow, 1 for deny, 3 when the agent does not\n"
	 "answer."},
	{"host status", "[--config PATH]",
	 "which gateway lockbox-agent uses now, and whether it answers (as root)", 0, 0,
	 status_opts, host_status, CTL_CMD_LOCAL,
	 "Asks the agent on this host about itself: the gateway in use (with several\n"
	 "gateway_url URLs, the last one that answered; after it fails, the next one listed),\n"
	 "the others, the grants and the live sessions it holds. Exit 0 when the gateway in\n"
	 "use answers the agent, 3 when it does not or the agent does not answer."},
	{"host sessions", "[--config PATH] [--json]",
	 "the sessions in the local audit log, and whether they were delivered", 0, 0,
	 sessions_opts, host_sessions, CTL_CMD_LOCAL, NULL},
	{NULL, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};
