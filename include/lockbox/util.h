/* lockbox: small shared helpers: durations, RFC 3339 times, randomness, hashing. */
#ifndef LOCKBOX_UTIL_H
#define LOCKBOX_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Longest duration anything accepts: one year, so sums never overflow. */
#define LB_DURATION_MAX (366LL * 86400LL)

/* "90s", "30m", "8h", "4d", or a sequence such as "1h30m". Returns 0 and *secs on success,
 * -1 on a malformed value or one above LB_DURATION_MAX. */
int lb_duration_parse(const char *s, int64_t *secs);
/* Shortest exact spelling, e.g. 5400 -> "1h30m", 0 -> "0s". */
void lb_duration_format(int64_t secs, char *buf, size_t len);

/* Times are int64 milliseconds since the epoch, UTC. */
int64_t lb_time_now_ms(void);
/* Milliseconds on the monotonic clock, for deadlines. */
int64_t lb_mono_ms(void);
/* The CLOCK_MONOTONIC time AFTER_MS from now, for pthread_cond_timedwait on a condition
 * variable whose clock is CLOCK_MONOTONIC. */
struct timespec;
void lb_mono_deadline(struct timespec *ts, int64_t after_ms);
/* "2026-11-23T06:44:32.123Z"; BUF needs LB_TIME_BUFLEN bytes. */
#define LB_TIME_BUFLEN 32
void lb_time_format(int64_t ms, char *buf, size_t len);
/* Accepts RFC 3339 with 'Z' or a numeric offset and optional fraction, years 1970..9999.
 * Returns 0 on success, -1 otherwise. */
int lb_time_parse(const char *s, int64_t *ms);

/* Cryptographic randomness (getrandom); returns 0 or -1. */
int lb_random_bytes(void *buf, size_t len);
/* Random lowercase hex of 2*NBYTES chars into BUF (len >= 2*nbytes+1). */
int lb_random_hex(char *buf, size_t len, size_t nbytes);
/* RFC 4122 version 4 UUID, 37 bytes with NUL. */
int lb_uuid4(char *buf, size_t len);
/* RFC 9562 version 7 UUID (Unix milliseconds, then 74 random bits), 37 bytes with NUL. Ids
 * made this way sort by time, so a unique index over millions of them grows at its right
 * edge instead of touching a random page per insert. */
int lb_uuid7(char *buf, size_t len);
int lb_uuid_valid(const char *s);

/* SHA-256 of DATA as 64 lowercase hex chars + NUL into OUT (65 bytes). */
void lb_sha256_hex(const void *data, size_t len, char out[65]);
/* HMAC-SHA256 hex. */
void lb_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len, char out[65]);
/* An Ed25519 public key from a PEM file (SubjectPublicKeyInfo), NULL with ERR; its SHA-256
 * (of the DER form, as lockbox-gatewayd --print-public-key shows it) into FPR if not NULL. */
void *lb_ed25519_pubkey_load(const char *path, char fpr[65], char *err, size_t errlen);
/* 1 if SIGHEX (128 hex chars) is PUB's signature of TEXT, else 0. */
int lb_ed25519_verify_hex(void *pub, const char *text, const char *sighex);
void lb_ed25519_pubkey_free(void *pub);

/* Overwrites memory the compiler may not optimise away. */
void lb_wipe(void *p, size_t len);

/* 1 if A and B are both set and equal (a NULL is equal to nothing). */
int lb_str_eq(const char *a, const char *b);

/* Constant-time string equality. */
int lb_streq_ct(const char *a, const char *b);

/* 1 if S has no control characters (bytes < 0x20 or 0x7f) and is valid UTF-8. */
int lb_str_clean(const char *s);

#endif
