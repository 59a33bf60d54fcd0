/* lockboxctl: entry point: common options, the command table lookup, argument parsing, help. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Options every command accepts (before or after the command words). A command's own
 * option of the same name takes precedence (host join's --token is the host token). */
static const struct ctl_opt common_opts[] = {
	{"url", "URL", "gateway URL(s), blank- or comma-separated (else LOCKBOX_URL, else url)", 0},
	{"token", "TOKEN", "user token, or - to read it from stdin (else LOCKBOX_TOKEN, else token)", 0},
	{"ca-file", "FILE", "CA bundle that signs the gateway's certificate (else LOCKBOX_CA_FILE)", 0},
	{"config", "FILE", "client settings file (default ~/.config/lockbox/lockboxctl.conf)", 0},
	{"timeout", "DURATION", "give up on the gateway after this long (default 30s)", 0},
	{"json", NULL, "print the API objects as JSON instead of tables", 0},
	{"quiet", NULL, "print only ids: of the object created or shown, of each list item", 0},
	{"verbose", NULL, "say which gateway answered (and which did not, before it)", 0},
	{"help", NULL, "show this help", 0},
	{NULL, NULL, NULL, 0},
};

static const struct ctl_cmd *const groups[] = {
	ctl_cmds_admin,
	ctl_cmds_work,
	ctl_cmds_totp,
	ctl_cmds_audit,
	ctl_cmds_host,
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

/* "lockboxctl: MESSAGE\n" on stderr. */
static void say(const char *fmt, va_list ap)
{
	fputs("lockboxctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void ctl_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

int ctl_usage(const struct ctl_args *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
	if (a && a->cmd)
		fprintf(stderr, "Try 'lockboxctl %s --help'.\n", a->cmd->path);
	else
		fputs("Try 'lockboxctl --help'.\n", stderr);
	return CTL_USAGE;
}

const char *ctl_arg(const struct ctl_args *a, const char *name)
{
	const char *v = NULL;
	for (size_t i = 0; i < a->nopt; i++)
		if (strcmp(a->opt[i]->name, name) == 0)
			v = a->val[i];
	return v;
}

int ctl_flag(const struct ctl_args *a, const char *name)
{
	return ctl_arg(a, name) != NULL;
}

const char *ctl_arg_nth(const struct ctl_args *a, const char *name, size_t n)
{
	for (size_t i = 0; i < a->nopt; i++)
		if (strcmp(a->opt[i]->name, name) == 0 && n-- == 0)
			return a->val[i];
	return NULL;
}

/* Words of PATH: returns how many, filling W (at most 4). */
static size_t path_words(const char *path, char w[4][32])
{
	size_t n = 0;
	const char *p = path;
	while (*p && n < 4) {
		size_t l = strcspn(p, " ");
		snprintf(w[n], 32, "%.*s", (int)l, p);
		n++;
		p += l;
		while (*p == ' ')
			p++;
	}
	return n;
}

/* Number of leading words of ARGV that equal the first words of CMD's path. */
static size_t match_words(const struct ctl_cmd *cmd, int argc, char **argv, size_t *total)
{
	char w[4][32];
	size_t n = path_words(cmd->path, w), i;
	*total = n;
	for (i = 0; i < n && (int)i < argc; i++)
		if (strcmp(argv[i], w[i]) != 0)
			break;
	return i;
}

static void print_opt(const struct ctl_opt *o)
{
	char left[64];
	if (o->flags & CTL_OPT_ALIAS)
		return;
	snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
		 o->metavar ? o->metavar : "");
	printf("  %-26s %s%s\n", left, o->help, (o->flags & CTL_OPT_REPEAT) ? " (repeatable)" : "");
}

static void print_cmd_line(const struct ctl_cmd *cmd)
{
	char left[256];
	snprintf(left, sizeof(left), "%s%s%s", cmd->path, cmd->synopsis[0] ? " " : "",
		 cmd->synopsis);
	if (strlen(left) > 44)
		printf("  %s\n  %-44s %s\n", left, "", cmd->summary);
	else
		printf("  %-44s %s\n", left, cmd->summary);
}

static void help_main(void)
{
	printf("Usage: lockboxctl [OPTIONS] COMMAND [ARGS...]\n\n"
	       "The lockbox command line for engineers, approvers, admins and hosts.\n\n"
	       "Commands:\n");
	for (size_t g = 0; g < NGROUPS; g++)
		for (const struct ctl_cmd *cmd = groups[g]; cmd->path; cmd++)
			print_cmd_line(cmd);
	printf("\nOptions (accepted by every command):\n");
	for (const struct ctl_opt *o = common_opts; o->name; o++)
		print_opt(o);
	printf("  %-26s %s\n", "--version", "print the version and exit");
	printf("\nSettings come from ~/.config/lockbox/lockboxctl.conf (keys url, token, ca_file,\n"
	       "timeout), then LOCKBOX_URL, LOCKBOX_TOKEN, LOCKBOX_CA_FILE, then the options.\n"
	       "Exit status: 0 done, 1 the gateway refused or the operation failed, 2 usage error,\n"
	       "3 cannot reach the gateway.\n\n"
	       "With several gateway URLs, each call goes to the one that answered last (at\n"
	       "first, the first listed), then to the others in order, all within --timeout:\n"
	       "a gateway that does not answer (refused, timeout, TLS failure, a proxy's\n"
	       "502/503/504) hands the call to the next; an answer, even a refusal, is final.\n"
	       "A POST, PUT or DELETE goes to a second gateway only if it surely did not reach\n"
	       "the first.\n\n"
	       "Run 'lockboxctl COMMAND --help' for a command's options; see lockboxctl(1).\n");
}

static void help_group(int argc, char **argv, size_t nwords)
{
	printf("Commands under '");
	for (size_t i = 0; i < nwords; i++)
		printf("%s%s", i ? " " : "", argv[i]);
	printf("':\n");
	for (size_t g = 0; g < NGROUPS; g++)
		for (const struct ctl_cmd *cmd = groups[g]; cmd->path; cmd++) {
			size_t total;
			if (match_words(cmd, argc, argv, &total) >= nwords)
				print_cmd_line(cmd);
		}
	printf("Run 'lockboxctl COMMAND --help' for a command's options.\n");
}

static int shadowed(const struct ctl_cmd *cmd, const char *name)
{
	if (!cmd->opts)
		return 0;
	for (const struct ctl_opt *o = cmd->opts; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return 1;
	return 0;
}

static void help_cmd(const struct ctl_cmd *cmd)
{
	printf("Usage: lockboxctl %s%s%s\n\n%c%s.\n", cmd->path, cmd->synopsis[0] ? " " : "",
	       cmd->synopsis, toupper((unsigned char)cmd->summary[0]), cmd->summary + 1);
	if (cmd->details)
		printf("\n%s\n", cmd->details);
	if (cmd->opts && cmd->opts[0].name) {
		printf("\nOptions:\n");
		for (const struct ctl_opt *o = cmd->opts; o->name; o++)
			print_opt(o);
	}
	printf("\nCommon options:\n");
	for (const struct ctl_opt *o = common_opts; o->name; o++)
		if (!shadowed(cmd, o->name))
			print_opt(o);
}

static const struct ctl_opt *find_opt(const struct ctl_opt *opts, const char *name, size_t len)
{
	if (!opts)
		return NULL;
	for (const struct ctl_opt *o = opts; o->name; o++) {
		if (strlen(o->name) != len || strncmp(o->name, name, len) != 0)
			continue;
		/* an old spelling is the option it follows (bounded by the table's start) */
		while ((o->flags & CTL_OPT_ALIAS) && o > opts)
			o--;
		return o;
	}
	return NULL;
}

/* Stores a common option's value in C. */
static void set_common(struct ctl *c, const struct ctl_opt *o, const char *v)
{
	if (strcmp(o->name, "url") == 0)
		c->flag_url = v;
	else if (strcmp(o->name, "token") == 0)
		c->flag_token = v;
	else if (strcmp(o->name, "ca-file") == 0)
		c->flag_ca_file = v;
	else if (strcmp(o->name, "config") == 0)
		c->flag_config = v;
	else if (strcmp(o->name, "timeout") == 0)
		c->flag_timeout = v;
	else if (strcmp(o->name, "json") == 0)
		c->json = 1;
	else if (strcmp(o->name, "quiet") == 0)
		c->quiet = 1;
	else if (strcmp(o->name, "verbose") == 0)
		c->verbose = 1;
	else if (strcmp(o->name, "help") == 0)
		c->help = 1;
}

/* Parses options and positional arguments of ARGV (CMD may be NULL for the words before the
 * command: then parsing stops at the first word). Returns the index where it stopped, or -1
 * after printing a usage error. */
static int parse_args(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_args *a, int argc,
		      char **argv)
{
	int i, only_pos = 0;
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *eq, *v = NULL;
		const struct ctl_opt *o;
		size_t nlen;
		int common = 0;

		if (!only_pos && strcmp(arg, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (!cmd)
				return i;
			if (a->npos >= CTL_MAX_ARGS) {
				ctl_usage(a, "too many arguments");
				return -1;
			}
			a->pos[a->npos++] = arg;
			continue;
		}
		if (strcmp(arg, "-h") == 0) {
			c->help = 1;
			continue;
		}
		if (strcmp(arg, "-q") == 0) {
			c->quiet = 1;
			continue;
		}
		if (strcmp(arg, "-v") == 0) {
			c->verbose = 1;
			continue;
		}
		if (arg[1] != '-') {
			ctl_usage(a, "unknown option '%s'", arg);
			return -1;
		}
		arg += 2;
		eq = strchr(arg, '=');
		nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		o = cmd ? find_opt(cmd->opts, arg, nlen) : NULL;
		if (!o) {
			o = find_opt(common_opts, arg, nlen);
			common = 1;
		}
		if (!o) {
			if (!cmd && nlen == 7 && strncmp(arg, "version", 7) == 0) {
				printf("lockboxctl %s\n", PACKAGE_VERSION);
				exit(CTL_OK);
			}
			ctl_usage(a, "unknown option '--%.*s'", (int)nlen, arg);
			return -1;
		}
		if (o->metavar) {
			if (eq)
				v = eq + 1;
			else if (i + 1 < argc)
				v = argv[++i];
			else {
				ctl_usage(a, "option '--%s' needs a value (%s)", o->name, o->metavar);
				return -1;
			}
		} else {
			if (eq) {
				ctl_usage(a, "option '--%s' takes no value", o->name);
				return -1;
			}
			v = "";
		}
		if (common) {
			set_common(c, o, v);
			continue;
		}
		if (!(o->flags & CTL_OPT_REPEAT) && o->metavar && ctl_arg(a, o->name)) {
			ctl_usage(a, "option '--%s' given twice", o->name);
			return -1;
		}
		if (a->nopt >= CTL_MAX_ARGS) {
			ctl_usage(a, "too many options");
			return -1;
		}
		a->opt[a->nopt] = o;
		a->val[a->nopt++] = v;
	}
	return i;
}

int main(int argc, char **argv)
{
	struct ctl c;
	struct ctl_args a;
	const struct ctl_cmd *best = NULL;
	size_t best_n = 0, prefix_n = 0;
	int i, rc;

	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	argc--;
	argv++;
	i = parse_args(&c, NULL, &a, argc, argv);
	if (i < 0)
		return CTL_USAGE;
	argc -= i;
	argv += i;
	if (argc == 0) {
		if (c.help) {
			help_main();
			return CTL_OK;
		}
		return ctl_usage(NULL, "no command given");
	}
	/* the command whose whole path matches the most leading words */
	for (size_t g = 0; g < NGROUPS; g++)
		for (const struct ctl_cmd *cmd = groups[g]; cmd->path; cmd++) {
			size_t total, n = match_words(cmd, argc, argv, &total);
			if (n == total && n > best_n) {
				best = cmd;
				best_n = n;
			}
			if (n > prefix_n)
				prefix_n = n;
		}
	if (!best || prefix_n > best_n) {
		/* e.g. "lockboxctl tenant" or "lockboxctl tenant lockbox": list what follows */
		size_t j;
		if (prefix_n == 0)
			return ctl_usage(NULL, "unknown command '%s'", argv[0]);
		for (j = prefix_n; (int)j < argc; j++)
			if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0)
				c.help = 1;
		if (c.help) {
			help_group(argc, argv, prefix_n);
			return CTL_OK;
		}
		if ((int)prefix_n < argc && argv[prefix_n][0] != '-') {
			char words[128] = "";
			for (j = 0; j < prefix_n; j++)
				snprintf(words + strlen(words), sizeof(words) - strlen(words), "%s%s",
					 j ? " " : "", argv[j]);
			ctl_err("unknown command '%s' after '%s'", argv[prefix_n], words);
		} else
			ctl_err("incomplete command");
		help_group(argc, argv, prefix_n);
		return CTL_USAGE;
	}
	a.cmd = best;
	if (parse_args(&c, best, &a, argc - (int)best_n, argv + best_n) < 0)
		return CTL_USAGE;
	if (c.help) {
		help_cmd(best);
		return CTL_OK;
	}
	if (c.json && c.quiet)
		return ctl_usage(&a, "give --json or --quiet, not both");
	if (a.npos < best->npos_min)
		return ctl_usage(&a, "missing argument: %s", best->synopsis);
	if (a.npos > best->npos_max)
		return ctl_usage(&a, "unexpected argument '%s'", a.pos[best->npos_max]);
	if (!(best->flags & CTL_CMD_LOCAL)) {
		c.token_optional = (best->flags & CTL_CMD_NO_TOKEN) != 0;
		rc = ctl_settings_load(&c);
		if (rc != CTL_OK) {
			ctl_settings_free(&c);
			return rc;
		}
	}
	rc = best->run(&c, &a);
	ctl_settings_free(&c);
	if (fflush(stdout) != 0 && rc == CTL_OK) {
		ctl_err("cannot write the output");
		rc = CTL_FAILED;
	}
	return rc;
}
