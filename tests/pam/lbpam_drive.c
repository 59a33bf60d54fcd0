/* tests/pam: drives pam_lockbox through libpamtest under pam_wrapper.
 *
 *   lbpam_drive [-n CYCLES] [-F] [-M] [-W] SERVICE USER OP=EXPECTED...
 *
 * OP is account, open or close; EXPECTED a PAM code name (PAM_SUCCESS, PAM_PERM_DENIED,
 * PAM_IGNORE, PAM_SESSION_ERR, ...). Each cycle runs the ops in one PAM handle (pam_start ..
 * pam_end). Prints every PAM message as "PAM_ERROR_MSG: text" / "PAM_TEXT_INFO: text" (non-
 * printable bytes as \xHH), each op's result, and "elapsed_ms=N" for the whole run.
 * -F: compare /proc/self/fd before pam_start and right after the last op (i.e. inside the
 *     session) and fail if the module left any fd open.
 * -M: right after the last op (inside the session) print every shared object mapped into
 *     the process ("mapped: PATH"), e.g. to show that no TLS library came along.
 * -W: right after the last op print "session-wait pid=N" and wait for a line on stdin: "close"
 *     closes the session (printing "op final-close rc=..."), anything else (or EOF) ends the
 *     handle without closing it. Lets a test look at a live session from outside.
 * With -F, -M or -W the handle is kept after the ops and ended by the driver.
 * Exit 0 when every op returned what was expected. */

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpamtest.h>
#include <security/pam_appl.h>

#define MAX_OPS 8

static const struct {
	const char *name;
	int code;
} codes[] = {
	{"PAM_SUCCESS", PAM_SUCCESS},
	{"PAM_PERM_DENIED", PAM_PERM_DENIED},
	{"PAM_IGNORE", PAM_IGNORE},
	{"PAM_SESSION_ERR", PAM_SESSION_ERR},
	{"PAM_USER_UNKNOWN", PAM_USER_UNKNOWN},
	{"PAM_AUTH_ERR", PAM_AUTH_ERR},
	{"PAM_SYSTEM_ERR", PAM_SYSTEM_ERR},
	{"PAM_ABORT", PAM_ABORT},
	{"PAM_ACCT_EXPIRED", PAM_ACCT_EXPIRED},
	{"PAM_MODULE_UNKNOWN", PAM_MODULE_UNKNOWN},
	{"PAM_BUF_ERR", PAM_BUF_ERR},
	{"PAM_SERVICE_ERR", PAM_SERVICE_ERR},
};

static int code_of(const char *name)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	return -1;
}

static const char *name_of(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "PAM_(other)";
}

static void print_escaped(const char *prefix, const char *s)
{
	fputs(prefix, stdout);
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			putchar(*p);
		else
			printf("\\x%02x", *p);
	}
	putchar('\n');
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	(void)data;
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_ERROR_MSG:
			print_escaped("PAM_ERROR_MSG: ", msg[i]->msg);
			break;
		case PAM_TEXT_INFO:
			print_escaped("PAM_TEXT_INFO: ", msg[i]->msg);
			break;
		default:
			/* pam_lockbox never prompts */
			print_escaped("PAM_PROMPT (unexpected): ", msg[i]->msg);
			break;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

/* A sorted, space separated list of open fds into BUF. */
static void list_fds(char *buf, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int fds[1024], n = 0, self;
	size_t pos = 0;

	buf[0] = '\0';
	if (!d)
		return;
	self = dirfd(d);
	while ((e = readdir(d)) && n < 1024) {
		if (e->d_name[0] == '.')
			continue;
		if (atoi(e->d_name) == self)
			continue;
		fds[n++] = atoi(e->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (fds[j] < fds[i]) {
				int t = fds[i];
				fds[i] = fds[j];
				fds[j] = t;
			}
	for (int i = 0; i < n && pos + 200 < len; i++) {
		char lp[64], target[128];
		ssize_t tl;
		snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fds[i]);
		tl = readlink(lp, target, sizeof(target) - 1);
		target[tl > 0 ? tl : 0] = '\0';
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%d(%s)", i ? " " : "", fds[i],
					target);
	}
}

/* Prints each shared object mapped into this process once, as "mapped: PATH". */
static void print_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[1024], seen[256][256];
	int nseen = 0;

	if (!f) {
		printf("mapped: (cannot read /proc/self/maps)\n");
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');
		int dup = 0;
		if (!path || !strstr(path, ".so"))
			continue;
		path[strcspn(path, "\n")] = '\0';
		for (int i = 0; i < nseen; i++)
			dup |= strcmp(seen[i], path) == 0;
		if (dup)
			continue;
		if (nseen < 256)
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", path);
		printf("mapped: %s\n", path);
	}
	fclose(f);
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct pam_testcase tc[MAX_OPS + 1];
	const char *opname[MAX_OPS];
	int expect[MAX_OPS], nops = 0, cycles = 1, fdcheck = 0, maps = 0, waitin = 0, ok = 1, opt;
	int keep;
	const char *service, *user;
	long long t0;

	while ((opt = getopt(argc, argv, "n:FMW")) != -1) {
		if (opt == 'n')
			cycles = atoi(optarg);
		else if (opt == 'F')
			fdcheck = 1;
		else if (opt == 'M')
			maps = 1;
		else if (opt == 'W')
			waitin = 1;
		else
			return 2;
	}
	keep = fdcheck || maps || waitin;
	if (argc - optind < 3 || cycles < 1) {
		fprintf(stderr, "usage: %s [-n CYCLES] [-F] [-M] [-W] SERVICE USER OP=EXPECTED...\n",
			argv[0]);
		return 2;
	}
	service = argv[optind];
	user = argv[optind + 1];
	for (int i = optind + 2; i < argc && nops < MAX_OPS; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq || code_of(eq + 1) < 0) {
			fprintf(stderr, "bad op '%s'\n", argv[i]);
			return 2;
		}
		*eq = '\0';
		opname[nops] = argv[i];
		expect[nops] = code_of(eq + 1);
		nops++;
	}

	t0 = mono_ms();
	for (int c = 0; c < cycles && ok; c++) {
		char before[4096], after[4096];
		enum pamtest_err perr;
		size_t n = 0;

		memset(tc, 0, sizeof(tc));
		for (int i = 0; i < nops; i++) {
			enum pamtest_ops op;
			if (!strcmp(opname[i], "account"))
				op = PAMTEST_ACCOUNT;
			else if (!strcmp(opname[i], "open"))
				op = PAMTEST_OPEN_SESSION;
			else if (!strcmp(opname[i], "close"))
				op = PAMTEST_CLOSE_SESSION;
			else {
				fprintf(stderr, "unknown op %s\n", opname[i]);
				return 2;
			}
			tc[n].pam_operation = op;
			tc[n].expected_rv = expect[i];
			n++;
		}
		if (keep) {
			tc[n].pam_operation = PAMTEST_KEEPHANDLE;
			n++;
		}
		if (fdcheck) {
			/* NSS (here nss_wrapper) may keep its files open across lookups; let it
			 * open them before the snapshot so only the module's fds count */
			gid_t gl[64];
			int ng = 64;
			struct passwd *pw = getpwnam(user);
			(void)getgrnam("lockbox-engineers");
			if (pw)
				(void)getgrouplist(user, pw->pw_gid, gl, &ng);
		}
		list_fds(before, sizeof(before));
		perr = _pamtest_conv(service, user, conv, NULL, tc, n, NULL);
		for (int i = 0; i < nops; i++) {
			if (cycles == 1 || tc[i].op_rv != tc[i].expected_rv)
				printf("op %s rc=%s expected=%s\n", opname[i], name_of(tc[i].op_rv),
				       name_of(tc[i].expected_rv));
		}
		if (perr != PAMTEST_ERR_OK && perr != PAMTEST_ERR_KEEPHANDLE) {
			printf("cycle %d: %s\n", c, pamtest_strerror(perr));
			ok = 0;
		}
		if (keep && perr == PAMTEST_ERR_OK) {
			pam_handle_t *ph = tc[n - 1].case_out.ph;
			int do_close = 1;
			if (fdcheck) {
				list_fds(after, sizeof(after));
				printf("fds-before: %s\nfds-after: %s\n", before, after);
				if (strcmp(before, after) != 0) {
					printf("FD LEAK: the module left fds open\n");
					ok = 0;
				}
			}
			if (maps)
				print_maps();
			if (waitin) {
				char line[64] = "";
				printf("session-wait pid=%ld\n", (long)getpid());
				fflush(stdout);
				if (!fgets(line, sizeof(line), stdin) || strncmp(line, "close", 5) != 0)
					do_close = 0;
			}
			if (ph) {
				if (do_close) {
					int rc = pam_close_session(ph, 0);
					if (waitin)
						printf("op final-close rc=%s expected=PAM_SUCCESS\n",
						       name_of(rc));
				}
				pam_end(ph, PAM_SUCCESS);
			}
		}
	}
	printf("elapsed_ms=%lld\n", mono_ms() - t0);
	printf("%s\n", ok ? "RESULT OK" : "RESULT FAIL");
	return ok ? 0 : 1;
}
