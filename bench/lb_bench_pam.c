/* lb_bench_pam: runs one PAM phase N times through the real libpam and reports per-call
 * latency and the process's peak RSS.
 *
 *   lb_bench_pam -D CONFDIR -s SERVICE -u USER [-p auth|account] [-n N] [-w WARMUP]
 *                [-T SECONDS] [-P PASSWORD] [-e EXPECT] [-K LIBRARY]
 *                [-B CONFDIR2:auth|account] [-g GAP_US]
 *
 * CONFDIR holds the PAM service file SERVICE (pam_start_confdir: the machine's /etc/pam.d is
 * never read or touched). Each call is pam_start_confdir .. pam_acct_mgmt (or pam_authenticate)
 * .. pam_end, like one login does, timed with CLOCK_MONOTONIC. The loop stops after N calls or
 * SECONDS, whichever comes first. EXPECT is the PAM code every call must return (default 0,
 * PAM_SUCCESS); a different code is counted as a failure, in the warm-up calls too
 * (warmup_failures): a stack that denies is fast and must never pass for a fast allow.
 * -K LIBRARY dlopens LIBRARY (the module) once and keeps it, so pam_end's dlclose does not
 * unload it and its dependencies: the cost of a call in a long-running process, without the
 * per-login load. -B pairs the calls with a second stack (its own confdir and phase, the same
 * service, user and password): A B, B A, A B, ... so that a slow spell of the machine falls
 * on both and neither always follows the other; the second stack's figures are printed under
 * "b". -g pauses GAP_US microseconds before each timed call, so that what a call leaves to
 * do in the background (an agent's fsync, a delivery) is done before the next begins and each
 * login finds its server idle, as logins minutes apart do. Prints one JSON line:
 *   {"calls":N,"failures":F,"warmup_failures":W,"median_ms":..,"p99_ms":..,"mean_ms":..,
 *    "min_ms":..,"max_ms":..,"rss_before_kb":..,"rss_peak_kb":..,"last_rc":..,
 *    "last_error":"..","last_msg":"..","samples_ms":[sorted]}
 * rss_before_kb is VmHWM after one warm-up call of pam_permit-like work (libpam loaded), so
 * rss_peak_kb - rss_before_kb is what the module stack added. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dlfcn.h>
#include <security/pam_appl.h>

static const char *password = "";
static char last_msg[256];

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	(void)data;
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			r[i].resp = strdup(password);
			break;
		default:
			snprintf(last_msg, sizeof(last_msg), "%s", msg[i]->msg ? msg[i]->msg : "");
			break;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long vm_hwm_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void pause_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	if (us > 0)
		nanosleep(&ts, NULL);
}

static int one(const char *confdir, const char *service, const char *user, int auth);

/* One call after the pause: its latency in ms, its PAM code in *RC. */
static double timed(const char *confdir, const char *service, const char *user, int auth,
		    long gap_us, int *rc)
{
	double t0;
	pause_us(gap_us);
	t0 = now_ms();
	*rc = one(confdir, service, user, auth);
	return now_ms() - t0;
}

static double median_of(double *v, long n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int one(const char *confdir, const char *service, const char *user, int auth)
{
	struct pam_conv pc = {conv, NULL};
	pam_handle_t *ph = NULL;
	int rc = pam_start_confdir(service, user, &pc, confdir, &ph);
	if (rc != PAM_SUCCESS)
		return rc;
	pam_set_item(ph, PAM_RHOST, "127.0.0.1");
	pam_set_item(ph, PAM_TTY, "ssh");
	rc = auth ? pam_authenticate(ph, PAM_SILENT) : pam_acct_mgmt(ph, 0);
	pam_end(ph, rc);
	return rc;
}

int main(int argc, char **argv)
{
	const char *confdir = NULL, *service = NULL, *user = NULL;
	long n = 200, warm = 5, expect = PAM_SUCCESS;
	double limit_s = 30;
	int auth = 0, opt, last = 0;
	long failures = 0, calls = 0, warm_failures = 0;
	double *lat, t_end, sum = 0;
	long rss0;
	char *confdir_b = NULL;
	int auth_b = 0;
	long gap_us = 0;
	long failures_b = 0;
	double *lat_b = NULL;

	while ((opt = getopt(argc, argv, "D:s:u:p:n:w:T:P:e:K:B:g:")) != -1) {
		switch (opt) {
		case 'D': confdir = optarg; break;
		case 's': service = optarg; break;
		case 'u': user = optarg; break;
		case 'p': auth = strcmp(optarg, "auth") == 0; break;
		case 'n': n = atol(optarg); break;
		case 'w': warm = atol(optarg); break;
		case 'T': limit_s = atof(optarg); break;
		case 'P': password = optarg; break;
		case 'e': expect = atol(optarg); break;
		case 'g': gap_us = atol(optarg); break;
		case 'B': {
			char *colon = strrchr(optarg, ':');
			if (!colon || (strcmp(colon + 1, "auth") != 0 && strcmp(colon + 1, "account") != 0)) {
				fprintf(stderr, "lb_bench_pam: -B wants CONFDIR:auth or CONFDIR:account\n");
				return 64;
			}
			*colon = '\0';
			confdir_b = optarg;
			auth_b = strcmp(colon + 1, "auth") == 0;
			break;
		}
		case 'K':
			if (!dlopen(optarg, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) {
				fprintf(stderr, "lb_bench_pam: %s\n", dlerror());
				return 1;
			}
			break;
		default:
			fprintf(stderr, "usage: lb_bench_pam -D CONFDIR -s SERVICE -u USER [-p auth|account]"
					" [-n N] [-w WARMUP] [-T SECONDS] [-P PASSWORD] [-e EXPECT] [-K LIB]"
					" [-B CONFDIR2:auth|account] [-g GAP_US]\n");
			return 64;
		}
	}
	if (!confdir || !service || !user || n < 1 || n > 1000000) {
		fprintf(stderr, "lb_bench_pam: -D, -s and -u are required; 1 <= N <= 1000000\n");
		return 64;
	}
	lat = calloc((size_t)n, sizeof(*lat));
	if (!lat || (confdir_b && !(lat_b = calloc((size_t)n, sizeof(*lat_b)))))
		return 1;
	/* libpam itself, before any module of the stack runs */
	{
		struct pam_conv pc = {conv, NULL};
		pam_handle_t *ph = NULL;
		if (pam_start_confdir("lb-bench-none", user, &pc, confdir, &ph) == PAM_SUCCESS)
			pam_end(ph, PAM_SUCCESS);
	}
	rss0 = vm_hwm_kb();
	for (long i = 0; i < warm; i++) {
		if (one(confdir, service, user, auth) != expect)
			warm_failures++;
		if (confdir_b && one(confdir_b, service, user, auth_b) != expect)
			warm_failures++;
	}
	t_end = now_ms() + limit_s * 1000;
	for (long i = 0; i < n && now_ms() < t_end; i++) {
		/* with -B, A B then B A: neither stack always follows the other */
		int b_first = confdir_b && (i % 2), rc_b = (int)expect;
		if (b_first)
			lat_b[calls] = timed(confdir_b, service, user, auth_b, gap_us, &rc_b);
		lat[calls] = timed(confdir, service, user, auth, gap_us, &last);
		if (confdir_b && !b_first)
			lat_b[calls] = timed(confdir_b, service, user, auth_b, gap_us, &rc_b);
		sum += lat[calls];
		failures += last != expect;
		failures_b += rc_b != expect;
		calls++;
	}
	if (calls == 0) {
		printf("{\"calls\":0}\n");
		return 1;
	}
	qsort(lat, (size_t)calls, sizeof(*lat), cmp);
	{
		long p99 = (long)((double)calls * 0.99);
		if (p99 >= calls)
			p99 = calls - 1;
		printf("{\"calls\":%ld,\"failures\":%ld,\"warmup_failures\":%ld,"
		       "\"median_ms\":%.4f,\"p99_ms\":%.4f,"
		       "\"mean_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,\"rss_before_kb\":%ld,"
		       "\"rss_peak_kb\":%ld,\"last_rc\":%d,\"last_error\":\"",
		       calls, failures, warm_failures, median_of(lat, calls),
		       lat[p99], sum / (double)calls, lat[0], lat[calls - 1], rss0, vm_hwm_kb(), last);
		for (const char *p = pam_strerror(NULL, last); *p; p++)
			putchar(*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ? '?' : *p);
		if (confdir_b) {
			qsort(lat_b, (size_t)calls, sizeof(*lat_b), cmp);
			printf("\",\"b\":{\"calls\":%ld,\"failures\":%ld,\"median_ms\":%.4f,"
			       "\"p99_ms\":%.4f},\"last_msg\":\"", calls, failures_b,
			       median_of(lat_b, calls), lat_b[p99]);
		} else {
			printf("\",\"last_msg\":\"");
		}
		for (const char *p = last_msg; *p; p++)
			putchar(*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ? '?' : *p);
		printf("\",\"samples_ms\":[");
		for (long i = 0; i < calls; i++)
			printf("%s%.4f", i ? "," : "", lat[i]);
		printf("]}\n");
	}
	free(lat);
	free(lat_b);
	return failures || failures_b || warm_failures ? 1 : 0;
}
