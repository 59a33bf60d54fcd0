/* lb_bench_polls: N simulated lockbox agents, each holding the change long-poll
 * (GET /v1/hosts/self/changes?since=V&wait=W) on its own kept-alive HTTPS connection, and
 * polling again at once whenever it is answered, as lockbox-agent does. One thread, epoll,
 * OpenSSL (the gateway's certificate verified against CAFILE for 127.0.0.1, as an agent's
 * ca_file would). For the agent section of bench/run.py.
 *
 *   lb_bench_polls -p PORT -C CAFILE -t TOKENS_FILE -n N -s SINCE [-c CONCURRENCY]
 *                  [-w WAIT] [-T SETUP_SECONDS]
 *
 * Connects to 127.0.0.1:PORT with at most CONCURRENCY connections or handshakes in progress
 * (default 10), connection i sending the host token on line i % lines of TOKENS_FILE. When
 * all N are connected (or failed, or SETUP_SECONDS passed, default 300) it prints
 *   {"ready":true,"connected":..,"failed":..,"setup_s":..,"cpu_s":..,"maxrss_kb":..,"errors":".."}
 * then takes commands on stdin, one a line, each answered by one JSON line:
 *   mark   forget which connections were answered "changed": {"marked":T,"cpu_s":..}
 *   count  {"changed":K,"first":T,"last":T,"answers":A,"open":O,"broken":B,"cpu_s":..}
 *          (K connections answered "changed":true since the mark, the first and last at
 *          CLOCK_MONOTONIC seconds T, the clock Python's time.monotonic() reads)
 *   quit   closes everything: {"bye":true}
 * A connection the gateway closes or breaks is counted in "broken" and not reopened. */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAX_CONNS 60000
#define INBUF 2048

enum cstate { C_CLOSED, C_CONNECTING, C_HANDSHAKE, C_SENDING, C_READING };

struct conn {
	int fd;
	SSL *ssl;
	enum cstate st;
	long long since;
	int tok;
	int changed;       /* answered "changed" since the mark */
	unsigned events;   /* what epoll waits for now */
	char out[512];
	int outlen, outoff;
	char in[INBUF];
	int inlen;
};

static struct conn *conns;
static int n_conns, epfd, port, wait_s = 60;
static long long since0 = -1;
static char **tokens;
static int ntokens;
static SSL_CTX *ctx;
static long n_connected, n_failed, n_broken, n_answers, n_changed, n_open, n_setup;
static double t_first, t_last;
static char errors[1024];

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void note_error(const char *what)
{
	/* the first few distinct errors, for the report */
	if (strstr(errors, what) || strlen(errors) + strlen(what) + 3 >= sizeof(errors))
		return;
	if (errors[0])
		strcat(errors, "; ");
	strcat(errors, what);
}

static void want(struct conn *c, unsigned ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};
	if (c->events == ev)
		return;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

static void close_conn(struct conn *c, int broken, const char *why)
{
	if (c->st == C_CLOSED)
		return;
	if (c->st == C_CONNECTING || c->st == C_HANDSHAKE) {
		n_failed++;
		n_setup--;
	} else {
		n_open--;
		if (broken)
			n_broken++;
	}
	if (why)
		note_error(why);
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
	c->st = C_CLOSED;
}

static void prepare_request(struct conn *c)
{
	c->outlen = snprintf(c->out, sizeof(c->out),
			     "GET /v1/hosts/self/changes?since=%lld&wait=%d HTTP/1.1\r\n"
			     "Host: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n\r\n",
			     c->since, wait_s, port, tokens[c->tok]);
	c->outoff = 0;
	c->inlen = 0;
	c->st = C_SENDING;
}

static int start_conn(struct conn *c, int i)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->tok = i % ntokens;
	c->since = since0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		note_error(strerror(errno));
		c->st = C_CLOSED;
		n_failed++;
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	c->st = C_CONNECTING;
	n_setup++;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
		close_conn(c, 0, strerror(errno));
		return -1;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) != 0) {
		close_conn(c, 0, strerror(errno));
		return -1;
	}
	c->events = EPOLLOUT;
	return 0;
}

/* The answer in c->in is complete: 1 handled, 0 need more, -1 bad. */
static int parse_answer(struct conn *c)
{
	char *hend, *p, *v;
	long clen = -1;

	c->in[c->inlen] = '\0';
	hend = strstr(c->in, "\r\n\r\n");
	if (!hend)
		return c->inlen >= INBUF - 1 ? -1 : 0;
	/* hend is the first "\r\n\r\n": every header line before it ends in "\r\n" */
	for (p = c->in; p < hend; p = strstr(p, "\r\n") + 2)
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			clen = strtol(p + 15, NULL, 10);
	if (clen < 0 || strncmp(c->in, "HTTP/1.1 200", 12) != 0) {
		char status[64];
		snprintf(status, sizeof(status), "answer %.*s", (int)strcspn(c->in, "\r\n"), c->in);
		note_error(status);
		return -1;
	}
	if ((hend + 4 - c->in) + clen > c->inlen)
		return (hend + 4 - c->in) + clen >= INBUF - 1 ? -1 : 0;
	v = strstr(hend + 4, "\"version\"");
	if (!v || !(v = strchr(v, ':')))
		return -1;
	c->since = strtoll(v + 1, NULL, 10);
	n_answers++;
	if (strstr(hend + 4, "\"changed\":true") || strstr(hend + 4, "\"changed\": true")) {
		if (!c->changed) {
			double t = mono();
			c->changed = 1;
			if (n_changed++ == 0)
				t_first = t;
			t_last = t;
		}
	}
	return 1;
}

static void step(struct conn *c)
{
	for (;;) {
		int r, e;
		switch (c->st) {
		case C_CONNECTING: {
			int err = 0;
			socklen_t len = sizeof(err);
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err) {
				close_conn(c, 0, strerror(err));
				return;
			}
			c->ssl = SSL_new(ctx);
			if (!c->ssl) {
				close_conn(c, 0, "SSL_new");
				return;
			}
			SSL_set_fd(c->ssl, c->fd);
			SSL_set_connect_state(c->ssl);
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1");
			c->st = C_HANDSHAKE;
			break;
		}
		case C_HANDSHAKE:
			r = SSL_do_handshake(c->ssl);
			if (r == 1) {
				n_setup--;
				n_connected++;
				n_open++;
				prepare_request(c);
				break;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				want(c, EPOLLIN);
				return;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				want(c, EPOLLOUT);
				return;
			}
			{
				unsigned long le = ERR_get_error();
				const char *why = le ? ERR_reason_error_string(le) : NULL;
				close_conn(c, 0, why ? why : "TLS handshake failed");
			}
			ERR_clear_error();
			return;
		case C_SENDING:
			r = SSL_write(c->ssl, c->out + c->outoff, c->outlen - c->outoff);
			if (r > 0) {
				c->outoff += r;
				if (c->outoff == c->outlen)
					c->st = C_READING;
				break;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				want(c, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
				return;
			}
			close_conn(c, 1, "write failed");
			ERR_clear_error();
			return;
		case C_READING:
			r = SSL_read(c->ssl, c->in + c->inlen, INBUF - 1 - c->inlen);
			if (r > 0) {
				c->inlen += r;
				r = parse_answer(c);
				if (r < 0) {
					close_conn(c, 1, "bad answer");
					return;
				}
				if (r > 0)
					prepare_request(c);
				break;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				want(c, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
				return;
			}
			close_conn(c, 1, e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL
						 ? "closed by the gateway"
						 : "read failed");
			ERR_clear_error();
			return;
		case C_CLOSED:
			return;
		}
	}
}

static void json_errors(FILE *f)
{
	fputc('"', f);
	for (const char *p = errors; *p; p++)
		fputc(*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ? '?' : *p, f);
	fputc('"', f);
}

static int command(const char *line)
{
	if (strncmp(line, "mark", 4) == 0) {
		for (int i = 0; i < n_conns; i++)
			conns[i].changed = 0;
		n_changed = 0;
		t_first = t_last = 0;
		printf("{\"marked\":%.6f,\"cpu_s\":%.3f}\n", mono(), cpu_s());
	} else if (strncmp(line, "count", 5) == 0) {
		printf("{\"changed\":%ld,\"first\":%.6f,\"last\":%.6f,\"answers\":%ld,\"open\":%ld,"
		       "\"broken\":%ld,\"cpu_s\":%.3f,\"maxrss_kb\":%ld,\"errors\":",
		       n_changed, t_first, t_last, n_answers, n_open, n_broken, cpu_s(), maxrss_kb());
		json_errors(stdout);
		printf("}\n");
	} else {
		return 1;
	}
	fflush(stdout);
	return 0;
}

static int read_tokens(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && ntokens < 100000) {
		line[strcspn(line, "\r\n ")] = '\0';
		if (!line[0])
			continue;
		tokens = realloc(tokens, (size_t)(ntokens + 1) * sizeof(*tokens));
		if (!tokens || !(tokens[ntokens] = strdup(line)))
			return -1;
		ntokens++;
	}
	fclose(f);
	return ntokens > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *cafile = NULL, *tokfile = NULL;
	int opt, conc = 10, next = 0, ready = 0;
	double setup_limit = 300, t0;
	char cmd[256];
	int cmdlen = 0;
	struct epoll_event *evs;
	struct rlimit rl;

	while ((opt = getopt(argc, argv, "p:C:t:n:s:c:w:T:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'C': cafile = optarg; break;
		case 't': tokfile = optarg; break;
		case 'n': n_conns = atoi(optarg); break;
		case 's': since0 = atoll(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'w': wait_s = atoi(optarg); break;
		case 'T': setup_limit = atof(optarg); break;
		default:
			fprintf(stderr, "usage: lb_bench_polls -p PORT -C CAFILE -t TOKENS -n N -s SINCE"
					" [-c CONCURRENCY] [-w WAIT] [-T SETUP_SECONDS]\n");
			return 64;
		}
	}
	if (port <= 0 || !cafile || !tokfile || n_conns < 1 || n_conns > MAX_CONNS || since0 < 0 ||
	    conc < 1 || wait_s < 0 || wait_s > 60) {
		fprintf(stderr, "lb_bench_polls: -p, -C, -t, -n (1..%d) and -s are required\n",
			MAX_CONNS);
		return 64;
	}
	/* a connection the gateway closed must show as "broken", not end the process */
	signal(SIGPIPE, SIG_IGN);
	if (read_tokens(tokfile) != 0) {
		fprintf(stderr, "lb_bench_polls: %s: no tokens\n", tokfile);
		return 1;
	}
	/* a descriptor per connection, and a few more */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n_conns + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)n_conns + 64) {
			fprintf(stderr, "lb_bench_polls: open files limit %llu < %d connections\n",
				(unsigned long long)rl.rlim_cur, n_conns);
			return 1;
		}
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
		fprintf(stderr, "lb_bench_polls: %s: cannot load the CA\n", cafile);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* an idle connection gives its buffers back, as a long-poll is idle most of its life */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	conns = calloc((size_t)n_conns, sizeof(*conns));
	evs = calloc(1024, sizeof(*evs));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || !evs || epfd < 0)
		return 1;
	{
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e);
	}
	t0 = mono();
	for (;;) {
		int n;
		while (!ready && next < n_conns && n_setup < conc && mono() - t0 < setup_limit) {
			start_conn(&conns[next], next);
			next++;
		}
		if (!ready && ((next == n_conns && n_setup == 0) || mono() - t0 >= setup_limit)) {
			ready = 1;
			printf("{\"ready\":true,\"connected\":%ld,\"failed\":%ld,\"setup_s\":%.3f,"
			       "\"cpu_s\":%.3f,\"maxrss_kb\":%ld,\"errors\":",
			       n_connected, n_failed + (n_conns - next), mono() - t0, cpu_s(), maxrss_kb());
			json_errors(stdout);
			printf("}\n");
			fflush(stdout);
		}
		n = epoll_wait(epfd, evs, 1024, 100);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c) {
				step(c);
				continue;
			}
			for (;;) {
				ssize_t r = read(0, cmd + cmdlen, sizeof(cmd) - 1 - (size_t)cmdlen);
				char *nl;
				if (r == 0)
					goto quit;
				if (r < 0)
					break;
				cmdlen += (int)r;
				cmd[cmdlen] = '\0';
				while ((nl = strchr(cmd, '\n'))) {
					*nl = '\0';
					if (command(cmd) != 0)
						goto quit;
					memmove(cmd, nl + 1, strlen(nl + 1) + 1);
					cmdlen = (int)strlen(cmd);
				}
				if (cmdlen >= (int)sizeof(cmd) - 1)
					cmdlen = 0;
			}
		}
	}
quit:
	for (int i = 0; i < n_conns; i++)
		close_conn(&conns[i], 0, NULL);
	printf("{\"bye\":true}\n");
	fflush(stdout);
	SSL_CTX_free(ctx);
	return 0;
}
