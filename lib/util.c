/* lockbox: durations, RFC 3339 times, randomness, hashing and string checks. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>


#include "lockbox/util.h"

int lb_duration_parse(const char *s, int64_t *secs)
{
	int64_t total = 0;
	int parts = 0;

	if (!s || !*s)
		return -1;
	while (*s) {
		int64_t n = 0, unit;
		int digits = 0;
		while (isdigit((unsigned char)*s)) {
			n = n * 10 + (*s - '0');
			if (n > LB_DURATION_MAX)
				return -1;
			s++;
			digits++;
		}
		if (!digits)
			return -1;
		switch (*s) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default: return -1;
		}
		s++;
		total += n * unit;
		if (total > LB_DURATION_MAX)
			return -1;
		parts++;
	}
	if (!parts)
		return -1;
	*secs = total;
	return 0;
}

void lb_duration_format(int64_t secs, char *buf, size_t len)
{
	static const struct { int64_t unit; char c; } units[] = {
		{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
	size_t off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (secs <= 0) {
		snprintf(buf, len, "0s");
		return;
	}
	for (size_t i = 0; i < 4 && off < len; i++) {
		if (secs >= units[i].unit) {
			int w = snprintf(buf + off, len - off, "%lld%c",
					 (long long)(secs / units[i].unit), units[i].c);
			if (w < 0)
				return;
			off += (size_t)w;
			secs %= units[i].unit;
		}
	}
}

int64_t lb_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lb_time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lb_time_format(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (ms < 0 || !gmtime_r(&t, &tm)) {
		snprintf(buf, len, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int take_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm) */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int lb_time_parse(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac = 0, off = 0;
	const char *p = s;

	if (!s)
		return -1;
	if (take_digits(&p, 4, &y) || *p++ != '-' || take_digits(&p, 2, &mo) || *p++ != '-' ||
	    take_digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
		return -1;
	p++;
	if (take_digits(&p, 2, &h) || *p++ != ':' || take_digits(&p, 2, &mi) || *p++ != ':' ||
	    take_digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		int nd = 0;
		p++;
		while (isdigit((unsigned char)*p)) {
			if (nd < 3)
				frac = frac * 10 + (*p - '0');
			nd++;
			p++;
		}
		if (nd == 0 || nd > 9)
			return -1;
		for (; nd < 3; nd++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (take_digits(&p, 2, &oh) || *p++ != ':' || take_digits(&p, 2, &om) || oh > 23 ||
		    om > 59)
			return -1;
		off = sign * (oh * 60 + om);
	} else {
		return -1;
	}
	if (*p)
		return -1;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	if (sec == 60)
		sec = 59; /* a leap second is clamped; the gateway clock never reports one */
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off * 60;
	if (t < 0)
		return -1;
	*ms = t * 1000 + frac;
	return 0;
}

int lb_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int lb_random_hex(char *buf, size_t len, size_t nbytes)
{
	unsigned char raw[64];
	static const char hex[] = "0123456789abcdef";
	if (nbytes > sizeof(raw) || len < nbytes * 2 + 1 || lb_random_bytes(raw, nbytes) != 0)
		return -1;
	for (size_t i = 0; i < nbytes; i++) {
		buf[2 * i] = hex[raw[i] >> 4];
		buf[2 * i + 1] = hex[raw[i] & 15];
	}
	buf[2 * nbytes] = '\0';
	lb_wipe(raw, sizeof(raw));
	return 0;
}

/* Sets the version and RFC 9562 variant bits of R and writes it in 8-4-4-4-12 form. */
static void uuid_format(unsigned char r[16], int version, char *buf, size_t len)
{
	r[6] = (unsigned char)((r[6] & 0x0f) | (version << 4));
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(buf, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
		 r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
		 r[15]);
}

int lb_uuid4(char *buf, size_t len)
{
	unsigned char r[16];
	if (len < 37 || lb_random_bytes(r, sizeof(r)) != 0)
		return -1;
	uuid_format(r, 4, buf, len);
	return 0;
}

int lb_uuid7(char *buf, size_t len)
{
	unsigned char r[16];
	struct timespec ts;
	uint64_t ms;
	if (len < 37 || lb_random_bytes(r, sizeof(r)) != 0 || clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	for (int i = 0; i < 6; i++)
		r[i] = (unsigned char)(ms >> (40 - 8 * i));
	uuid_format(r, 7, buf, len);
	return 0;
}

int lb_uuid_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

void lb_wipe(void *p, size_t len)
{
	/* glibc's explicit_bzero: a store the compiler may not drop (no libcrypto in the
	 * module's half of the library for OPENSSL_cleanse) */
	explicit_bzero(p, len);
}

int lb_str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

int lb_streq_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

int lb_str_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p < 0x80) {
			p++;
			continue;
		}
		int n;
		uint32_t cp;
		if ((*p & 0xe0) == 0xc0) { n = 1; cp = *p & 0x1f; }
		else if ((*p & 0xf0) == 0xe0) { n = 2; cp = *p & 0x0f; }
		else if ((*p & 0xf8) == 0xf0) { n = 3; cp = *p & 0x07; }
		else return 0;
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
			return 0;
		p += n + 1;
	}
	return 1;
}

void lb_mono_deadline(struct timespec *ts, int64_t after_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(after_ms / 1000);
	ts->tv_nsec += (long)(after_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}
