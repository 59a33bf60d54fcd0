/* lb_bench_load: fills a lockbox gateway SQLite database for the benchmarks, fast.
 *
 *   lb_bench_load -d DB -r REQUESTS -e EVENTS [-H HOSTS] [-u ENGINEERS] [-t HOST_TOKEN]
 *                 [-l LOGIN] [-n NOW_MS] [-c]
 *
 * DB must already carry the gateway's schema (run `lockbox-gatewayd --bootstrap-admin` on it
 * first); this program writes straight into its tables, the way the gateway would have:
 * tenants, subscriptions, hosts (+ token hashes), provider users (engineers) with role
 * assignments, tickets, elevations, REQUESTS requests in every state, and EVENTS audit events
 * appended to the existing hash chain (seq, prev_hash, hash as gw_audit_chain_hash computes
 * them: SHA-256 over the compact key-sorted JSON of the event plus prev_hash), so the gateway
 * accepts the database and /v1/audit/verify passes.
 *
 * The benchmark principal: host "bench-host" (token HOST_TOKEN, lbh_ + 64 hex) in tenant 0,
 * subscription 0, and the engineer LOGIN (default "root") with the same 20 requests and 20
 * elevations at every scale, the newest request approved for bench-host with a running
 * elevation activated before the approval: /v1/check for (bench-host, LOGIN, sshd) allows and
 * does the same work whatever the size of the store, so only the store's size changes.
 * Everything else (the other engineers' requests, events) is spread uniformly.
 *
 * -c: check the hand-made canonical JSON against jansson's json_dumps for the first 2000
 * events (and exit non-zero on a mismatch). Prints a one-line JSON summary on stdout. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#define DAY_MS (86400LL * 1000)
#define HOUR_MS (3600LL * 1000)
#define BENCH_REQS 20

static sqlite3 *db;
static EVP_MD_CTX *mdctx;
static const EVP_MD *sha256;
static int64_t now_ms;
static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned long long rnd(void)
{
	/* xorshift64*: reproducible, fast, good enough to spread rows */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static void die(const char *what)
{
	fprintf(stderr, "lb_bench_load: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
	exit(1);
}

static void exec(const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "lb_bench_load: %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static sqlite3_stmt *prep(const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(sql);
	return st;
}

static void step(sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		die(sqlite3_sql(st));
	sqlite3_reset(st);
}

/* RFC 3339 UTC with milliseconds, as lb_time_format writes it. */
static void tfmt(int64_t ms, char out[32])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + 19, 13, ".%03uZ", (unsigned)(ms % 1000) % 1000u);
}

static void sha_hex(const char *s, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	static const char hx[] = "0123456789abcdef";
	if (!EVP_DigestInit_ex(mdctx, sha256, NULL) || !EVP_DigestUpdate(mdctx, s, n) ||
	    !EVP_DigestFinal_ex(mdctx, md, &len))
		die("sha256");
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[64] = '\0';
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* ---- the audit chain ---- */

static sqlite3_stmt *st_audit;
static int64_t seq;
static char prev_hash[65];
static int check_json;
static long checked;

struct ev {
	const char *id, *time, *type, *tenant, *subscription, *level, *actor, *host, *request;
	const char *details; /* compact, key-sorted JSON object text; ASCII, nothing to escape */
};

/* Appends "key":"value" or "key":null; values are plain ASCII without quotes/backslashes. */
static size_t put(char *buf, size_t off, size_t cap, const char *key, const char *v, int comma)
{
	int n;
	if (v)
		n = snprintf(buf + off, cap - off, "%s\"%s\":\"%s\"", comma ? "," : "", key, v);
	else
		n = snprintf(buf + off, cap - off, "%s\"%s\":null", comma ? "," : "", key);
	return off + (size_t)n;
}

static void jansson_check(const struct ev *e, const char *mine)
{
	json_t *c = json_object(), *d = json_loads(e->details, 0, NULL);
	const char *keys[] = {"id", "time", "type", "tenant", "subscription", "level",
			      "actor", "host", "request"};
	const char *vals[] = {e->id, e->time, e->type, e->tenant, e->subscription, e->level,
			      e->actor, e->host, e->request};
	char *text;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		json_object_set_new(c, keys[i], vals[i] ? json_string(vals[i]) : json_null());
	json_object_set_new(c, "seq", json_integer(seq));
	json_object_set_new(c, "details", d ? d : json_null());
	json_object_set_new(c, "prev_hash", json_string(prev_hash));
	text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS); /* as gw_audit_chain_hash */
	if (!text || strcmp(text, mine) != 0) {
		fprintf(stderr, "lb_bench_load: canonical JSON differs from jansson's:\n mine:    %s\n jansson: %s\n",
			mine, text ? text : "(null)");
		exit(2);
	}
	free(text);
	json_decref(c);
	checked++;
}

static void audit_append(const struct ev *e)
{
	char buf[2048], hash[65];
	size_t off = 0, cap = sizeof(buf);
	seq++;
	/* keys sorted: actor details host id level prev_hash request seq subscription tenant time type */
	buf[off++] = '{';
	off = put(buf, off, cap, "actor", e->actor, 0);
	off += (size_t)snprintf(buf + off, cap - off, ",\"details\":%s", e->details);
	off = put(buf, off, cap, "host", e->host, 1);
	off = put(buf, off, cap, "id", e->id, 1);
	off = put(buf, off, cap, "level", e->level, 1);
	off = put(buf, off, cap, "prev_hash", prev_hash, 1);
	off = put(buf, off, cap, "request", e->request, 1);
	off += (size_t)snprintf(buf + off, cap - off, ",\"seq\":%" PRId64, seq);
	off = put(buf, off, cap, "subscription", e->subscription, 1);
	off = put(buf, off, cap, "tenant", e->tenant, 1);
	off = put(buf, off, cap, "time", e->time, 1);
	off = put(buf, off, cap, "type", e->type, 1);
	off += (size_t)snprintf(buf + off, cap - off, "}");
	if (off >= cap - 1)
		die("event too long");
	if (check_json && checked < 2000)
		jansson_check(e, buf);
	sha_hex(buf, off, hash);
	sqlite3_bind_int64(st_audit, 1, seq);
	bind_text(st_audit, 2, e->id);
	bind_text(st_audit, 3, e->time);
	bind_text(st_audit, 4, e->type);
	bind_text(st_audit, 5, e->tenant);
	bind_text(st_audit, 6, e->subscription);
	bind_text(st_audit, 7, e->level);
	bind_text(st_audit, 8, e->actor);
	bind_text(st_audit, 9, e->host);
	bind_text(st_audit, 10, e->request);
	bind_text(st_audit, 11, e->details);
	bind_text(st_audit, 12, prev_hash);
	bind_text(st_audit, 13, hash);
	step(st_audit);
	memcpy(prev_hash, hash, sizeof(prev_hash));
}

/* A UUID v4 whose first 12 hex digits grow with N (so the unique index fills in order, like a
 * time-ordered id would) and whose rest is random. */
static void uuid_for(uint64_t n, char out[37])
{
	unsigned long long r1 = rnd(), r2 = rnd();
	snprintf(out, 37, "%08llx-%04llx-4%03llx-%04llx-%012llx",
		 (unsigned long long)(n >> 16) & 0xffffffffULL, (unsigned long long)n & 0xffff,
		 r1 & 0xfff, 0x8000 | ((r1 >> 12) & 0x3fff), r2 & 0xffffffffffffULL);
}

static void usage(void)
{
	fprintf(stderr, "usage: lb_bench_load -d DB -r REQUESTS -e EVENTS [-H HOSTS] [-u ENGINEERS]"
			" [-t HOST_TOKEN] [-l LOGIN] [-n NOW_MS] [-c]\n");
	exit(64);
}

static void id_of(char out[24], const char *prefix, uint64_t n)
{
	/* a fixed high nibble keeps loader ids apart from the gateway's random ones in practice */
	snprintf(out, 24, "%s_b%015llx", prefix, (unsigned long long)n);
}

int main(int argc, char **argv)
{
	const char *path = NULL, *host_token = NULL, *login = "root";
	long long nreq = 1000, nev = 1000, nhosts = 0, nusers = 0;
	long long ntenants, nsubs, ntickets;
	int opt;
	char t0[32], t1[32], t2[32], t3[32], id[24], id2[24], id3[24], id4[24], name[64],
		hash[65], hosts_json[96];
	struct timespec ts0, ts1;
	sqlite3_stmt *st;

	now_ms = (int64_t)time(NULL) * 1000;
	while ((opt = getopt(argc, argv, "d:r:e:H:u:t:l:n:c")) != -1) {
		switch (opt) {
		case 'd': path = optarg; break;
		case 'r': nreq = atoll(optarg); break;
		case 'e': nev = atoll(optarg); break;
		case 'H': nhosts = atoll(optarg); break;
		case 'u': nusers = atoll(optarg); break;
		case 't': host_token = optarg; break;
		case 'l': login = optarg; break;
		case 'n': now_ms = atoll(optarg); break;
		case 'c': check_json = 1; break;
		default: usage();
		}
	}
	if (!path || nreq < BENCH_REQS || nev < 0)
		usage();
	if (host_token && (strlen(host_token) != 68 || strncmp(host_token, "lbh_", 4) != 0)) {
		fprintf(stderr, "lb_bench_load: the host token must be lbh_ + 64 hex digits\n");
		return 64;
	}
	/* shape of the fleet: one tenant per 10k requests, 2 subscriptions each, one host per 100
	 * requests (at least 10), one engineer per 100 requests (at least 10), a ticket per 10 */
	ntenants = nreq / 10000 > 0 ? nreq / 10000 : 1;
	nsubs = 2 * ntenants;
	if (nhosts <= 0)
		nhosts = nreq / 100 > 10 ? nreq / 100 : 10;
	if (nusers <= 0)
		nusers = nreq / 100 > 10 ? nreq / 100 : 10;
	ntickets = nreq / 10 > 1 ? nreq / 10 : 1;

	clock_gettime(CLOCK_MONOTONIC, &ts0);
	sha256 = EVP_sha256();
	mdctx = EVP_MD_CTX_new();
	if (!mdctx)
		die("EVP_MD_CTX_new");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		die(path);
	/* bulk load: no journal while loading, WAL again at the end (the gateway's mode) */
	exec("PRAGMA journal_mode=DELETE");
	exec("PRAGMA journal_mode=OFF");
	exec("PRAGMA synchronous=OFF");
	exec("PRAGMA cache_size=-524288");
	exec("PRAGMA temp_store=MEMORY");
	exec("PRAGMA foreign_keys=OFF");
	exec("BEGIN");

	/* the chain so far (the bootstrap's events) */
	memset(prev_hash, '0', 64);
	prev_hash[64] = '\0';
	st = prep("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
	if (sqlite3_step(st) == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0);
		snprintf(prev_hash, sizeof(prev_hash), "%s", (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);

	tfmt(now_ms - 60 * DAY_MS, t0);
	st = prep("INSERT INTO tenants (id, name, lockbox_enabled, created_at, updated_at) VALUES (?,?,1,?,?)");
	for (long long i = 0; i < ntenants; i++) {
		id_of(id, "tnt", (uint64_t)i);
		snprintf(name, sizeof(name), "bench-tenant-%06lld", i);
		bind_text(st, 1, id);
		bind_text(st, 2, name);
		bind_text(st, 3, t0);
		bind_text(st, 4, t0);
		step(st);
	}
	sqlite3_finalize(st);
	st = prep("INSERT INTO subscriptions (id, tenant, name, created_at) VALUES (?,?,?,?)");
	for (long long i = 0; i < nsubs; i++) {
		id_of(id, "sub", (uint64_t)i);
		id_of(id2, "tnt", (uint64_t)(i / 2));
		snprintf(name, sizeof(name), "bench-sub-%06lld", i);
		bind_text(st, 1, id);
		bind_text(st, 2, id2);
		bind_text(st, 3, name);
		bind_text(st, 4, t0);
		step(st);
	}
	sqlite3_finalize(st);
	/* host i lives in subscription i % nsubs; host 0 is "bench-host" */
	st = prep("INSERT INTO hosts (id, name, subscription, tenant, disabled, token_hash, created_at, updated_at) VALUES (?,?,?,?,0,?,?,?)");
	for (long long i = 0; i < nhosts; i++) {
		char tok[80];
		id_of(id, "hst", (uint64_t)i);
		id_of(id2, "sub", (uint64_t)(i % nsubs));
		id_of(id3, "tnt", (uint64_t)((i % nsubs) / 2));
		if (i == 0)
			snprintf(name, sizeof(name), "bench-host");
		else
			snprintf(name, sizeof(name), "h%07lld.bench.test", i);
		if (i == 0 && host_token)
			snprintf(tok, sizeof(tok), "%s", host_token);
		else
			snprintf(tok, sizeof(tok), "lbh_%016llx%016llx%016llx%016llx", rnd(), rnd(),
				 rnd(), rnd());
		sha_hex(tok, strlen(tok), hash);
		bind_text(st, 1, id);
		bind_text(st, 2, name);
		bind_text(st, 3, id2);
		bind_text(st, 4, id3);
		bind_text(st, 5, hash);
		bind_text(st, 6, t0);
		bind_text(st, 7, t0);
		step(st);
	}
	sqlite3_finalize(st);
	/* engineers: user 0 is LOGIN, the benchmark's engineer */
	{
		sqlite3_stmt *su = prep("INSERT INTO users (id, login, name, email, side, tenant, disabled, created_at) VALUES (?,?,?,?,'provider',NULL,0,?)");
		sqlite3_stmt *sr = prep("INSERT INTO role_assignments (id, user, role, tenant, subscription, created_at) VALUES (?,?,'engineer',NULL,NULL,?)");
		for (long long i = 0; i < nusers; i++) {
			char email[96];
			id_of(id, "usr", (uint64_t)i);
			if (i == 0)
				snprintf(name, sizeof(name), "%s", login);
			else
				snprintf(name, sizeof(name), "eng%07lld", i);
			snprintf(email, sizeof(email), "%s@bench.test", name);
			bind_text(su, 1, id);
			bind_text(su, 2, name);
			bind_text(su, 3, name);
			bind_text(su, 4, email);
			bind_text(su, 5, t0);
			step(su);
			id_of(id2, "rol", (uint64_t)i);
			bind_text(sr, 1, id2);
			bind_text(sr, 2, id);
			bind_text(sr, 3, t0);
			step(sr);
		}
		sqlite3_finalize(su);
		sqlite3_finalize(sr);
	}
	/* tickets: ticket k belongs to tenant k % ntenants */
	st = prep("INSERT INTO tickets (id, tenant, subscription, title, description, state, created_by, created_at, updated_at) VALUES (?,?,NULL,?,?,?,?,?,?)");
	for (long long i = 0; i < ntickets; i++) {
		id_of(id, "tkt", (uint64_t)i);
		id_of(id2, "tnt", (uint64_t)(i % ntenants));
		snprintf(name, sizeof(name), "bench ticket %lld", i);
		bind_text(st, 1, id);
		bind_text(st, 2, id2);
		bind_text(st, 3, name);
		bind_text(st, 4, "generated by bench/lb_bench_load");
		bind_text(st, 5, i % 3 ? "closed" : "open");
		bind_text(st, 6, "usr_bench");
		bind_text(st, 7, t0);
		bind_text(st, 8, t0);
		step(st);
	}
	sqlite3_finalize(st);

	/* requests and elevations. Request i (i >= BENCH_REQS) belongs to engineer 1 + i % (nusers-1),
	 * host (i * 7919) % nhosts, created at an even spread over the last 30 days; the first
	 * BENCH_REQS belong to the benchmark engineer on bench-host. */
	{
		static const char *const final_states[] = {"completed", "completed", "completed",
							   "completed", "completed", "completed",
							   "completed", "completed", "denied",
							   "expired", "revoked", "canceled"};
		sqlite3_stmt *sq = prep(
			"INSERT INTO requests (id, ticket, tenant, scope, subscription, hosts, access, duration, justification, state, requester, requester_login, created_at, updated_at, internal_approved_by, approved_by, approved_at, grant_expires_at, pending_expires_at, decision_reason) "
			"VALUES (?,?,?,'subscription',?,?,'ssh','4h','bench load',?,?,?,?,?,NULL,?,?,?,?,?)");
		sqlite3_stmt *se = prep(
			"INSERT INTO elevations (id, user, login, duration, justification, activated_at, expires_at, mfa, expire_logged) VALUES (?,?,?,'8h','bench load',?,?,0,?)");
		for (long long i = 0; i < nreq; i++) {
			long long u, h, sub, tn;
			const char *state;
			int64_t created, approved = 0, gend = 0, pend;
			int bench = i < BENCH_REQS;
			char uname[64], approver[24];
			int64_t act, exp;
			if (bench) {
				u = 0;
				h = 0;
				/* oldest first; the newest (i = BENCH_REQS-1) is the live grant */
				created = now_ms - (BENCH_REQS - i) * 6 * HOUR_MS;
			} else {
				u = nusers > 1 ? 1 + i % (nusers - 1) : 0;
				h = (i * 7919) % nhosts;
				created = now_ms - 30 * DAY_MS + (int64_t)((i * (29 * DAY_MS)) / nreq);
			}
			sub = h % nsubs;
			tn = sub / 2;
			if (bench)
				state = i == BENCH_REQS - 1 ? "approved" : final_states[i % 12];
			else if (i % 1000 == 7)
				state = "approved"; /* live grants: 0.1% */
			else if (i % 1000 == 13)
				state = "customer_notified"; /* waiting: 0.1% */
			else
				state = final_states[i % 12];
			pend = created + 4 * DAY_MS;
			if (!strcmp(state, "approved")) {
				approved = bench ? now_ms - HOUR_MS : now_ms - (int64_t)(rnd() % (3 * HOUR_MS));
				created = approved - 10 * 60 * 1000;
				gend = approved + (bench ? DAY_MS : 4 * HOUR_MS);
				pend = created + 4 * DAY_MS;
			} else if (!strcmp(state, "customer_notified")) {
				created = now_ms - (int64_t)(rnd() % DAY_MS);
				pend = created + 4 * DAY_MS;
			} else if (!strcmp(state, "completed") || !strcmp(state, "revoked")) {
				approved = created + 20 * 60 * 1000;
				gend = approved + 4 * HOUR_MS;
			}
			id_of(id, "req", (uint64_t)i);
			id_of(id2, "tkt", (uint64_t)((i / 10) * ntenants + tn) % (uint64_t)ntickets);
			/* the ticket must be of the same tenant: pick one with index % ntenants == tn */
			{
				long long k = (i % (ntickets / ntenants > 0 ? ntickets / ntenants : 1)) * ntenants + tn;
				if (k >= ntickets)
					k = tn % ntickets;
				id_of(id2, "tkt", (uint64_t)k);
			}
			id_of(id3, "tnt", (uint64_t)tn);
			id_of(id4, "sub", (uint64_t)sub);
			if (h == 0)
				snprintf(hosts_json, sizeof(hosts_json), "[\"bench-host\"]");
			else
				snprintf(hosts_json, sizeof(hosts_json), "[\"h%07lld.bench.test\"]", h);
			if (u == 0)
				snprintf(uname, sizeof(uname), "%s", login);
			else
				snprintf(uname, sizeof(uname), "eng%07lld", u);
			id_of(approver, "usr", (uint64_t)(nusers + 1));
			tfmt(created, t0);
			bind_text(sq, 1, id);
			bind_text(sq, 2, id2);
			bind_text(sq, 3, id3);
			bind_text(sq, 4, id4);
			bind_text(sq, 5, hosts_json);
			bind_text(sq, 6, state);
			{
				char uid[24];
				id_of(uid, "usr", (uint64_t)u);
				bind_text(sq, 7, uid);
			}
			bind_text(sq, 8, uname);
			bind_text(sq, 9, t0);
			bind_text(sq, 10, t0);
			if (approved) {
				tfmt(approved, t1);
				tfmt(gend, t2);
				bind_text(sq, 11, approver);
				bind_text(sq, 12, t1);
				bind_text(sq, 13, t2);
			} else {
				sqlite3_bind_null(sq, 11);
				sqlite3_bind_null(sq, 12);
				sqlite3_bind_null(sq, 13);
			}
			tfmt(pend, t3);
			bind_text(sq, 14, t3);
			bind_text(sq, 15, strcmp(state, "denied") ? NULL : "not now");
			step(sq);
			/* one elevation per request, activated 5 minutes before it was created */
			act = created - 5 * 60 * 1000;
			exp = act + 8 * HOUR_MS;
			if (bench && i == BENCH_REQS - 1)
				exp = now_ms + DAY_MS;
			id_of(id, "elv", (uint64_t)i);
			{
				char uid[24];
				id_of(uid, "usr", (uint64_t)u);
				tfmt(act, t1);
				tfmt(exp, t2);
				bind_text(se, 1, id);
				bind_text(se, 2, uid);
				bind_text(se, 3, uname);
				bind_text(se, 4, t1);
				bind_text(se, 5, t2);
				sqlite3_bind_int(se, 6, exp <= now_ms);
				step(se);
			}
		}
		sqlite3_finalize(sq);
		sqlite3_finalize(se);
	}

	/* audit events, chained; event j is about request j*nreq/nev, on a host drawn uniformly,
	 * at an even spread over the last 30 days (so "host X in a time range" is selective) */
	st_audit = prep("INSERT INTO audit (seq, id, time, type, tenant, subscription, level, actor, host, request, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
	{
		static const char *const types[] = {"lockbox.request.create", "access.check.deny",
						    "lockbox.request.approve", "access.check.allow",
						    "session.start", "session.end",
						    "lockbox.request.complete", "access.check.allow"};
		static const char *const reasons[] = {"no_request", "allow", "pending", "allow"};
		char uuid[37], tm[32], hostname[40], details[256], req[24], actor[24], tn[24], sb[24];
		for (long long j = 0; j < nev; j++) {
			long long r = (long long)((j * (unsigned long long)nreq) / (unsigned long long)(nev ? nev : 1));
			long long h = (long long)(rnd() % (unsigned long long)nhosts);
			long long sub = h % nsubs;
			long long u = nusers > 1 ? 1 + r % (nusers - 1) : 0;
			struct ev e;
			int64_t t = now_ms - 30 * DAY_MS + (int64_t)((j * (29 * DAY_MS)) / (nev ? nev : 1));
			uuid_for((uint64_t)j + ((uint64_t)1 << 40), uuid);
			tfmt(t, tm);
			if (h == 0)
				snprintf(hostname, sizeof(hostname), "bench-host");
			else
				snprintf(hostname, sizeof(hostname), "h%07lld.bench.test", h);
			id_of(req, "req", (uint64_t)r);
			id_of(actor, "usr", (uint64_t)u);
			id_of(tn, "tnt", (uint64_t)(sub / 2));
			id_of(sb, "sub", (uint64_t)sub);
			snprintf(details, sizeof(details),
				 "{\"reason\":\"%s\",\"rhost\":\"10.%lld.%lld.%lld\",\"service\":\"sshd\",\"user\":\"eng%07lld\"}",
				 reasons[j % 4], (j >> 16) & 255, (j >> 8) & 255, j & 255, u);
			e.id = uuid;
			e.time = tm;
			e.type = types[j % 8];
			e.tenant = tn;
			e.subscription = sb;
			e.level = "subscription";
			e.actor = actor;
			e.host = hostname;
			e.request = req;
			e.details = details;
			audit_append(&e);
		}
	}
	sqlite3_finalize(st_audit);
	exec("COMMIT");
	exec("PRAGMA journal_mode=WAL");
	sqlite3_close(db);
	EVP_MD_CTX_free(mdctx);
	clock_gettime(CLOCK_MONOTONIC, &ts1);
	printf("{\"requests\":%lld,\"events\":%lld,\"head_seq\":%" PRId64 ",\"head_hash\":\"%s\","
	       "\"tenants\":%lld,\"subscriptions\":%lld,\"hosts\":%lld,\"engineers\":%lld,"
	       "\"tickets\":%lld,\"elevations\":%lld,\"json_checked\":%ld,\"seconds\":%.2f}\n",
	       nreq, nev, seq, prev_hash, ntenants, nsubs, nhosts, nusers, ntickets, nreq, checked,
	       (double)(ts1.tv_sec - ts0.tv_sec) + (double)(ts1.tv_nsec - ts0.tv_nsec) / 1e9);
	return 0;
}
