/* lockbox-gatewayd: the TOTP second factor (RFC 6238: 6 digits, 30 s steps, HMAC-SHA1, one
 * step of skew either way): enrolment and confirmation (/v1/users/self/totp), the check that
 * elevations and decisions use, and the key that seals the secrets in the database. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gw.h"
#include "lockbox/hex.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define TOTP_DIGITS 6
#define TOTP_MOD 1000000u
#define TOTP_STEP 30     /* seconds */
#define TOTP_SKEW 1      /* steps accepted before and after the gateway's own */
#define TOTP_MAX_WRONG 5 /* wrong codes in a row that lock TOTP for totp_lockout */
/* 160 bits: the HMAC-SHA1 key length RFC 4226 recommends, what authenticator apps expect */
#define TOTP_SECRET_BYTES 20
#define TOTP_B32_LEN 32 /* 20 bytes in base32, no padding */

/* A sealed secret: "v1:" + hex(nonce | ciphertext | tag), AES-256-GCM, with the user's id as
 * additional data so that a sealed secret copied to another user's row does not open. */
#define SEAL_PREFIX "v1:"
#define SEAL_NONCE 12
#define SEAL_TAG 16
#define SEAL_MAX_PLAIN 64
#define SEALED_LEN (sizeof(SEAL_PREFIX) + 2 * (SEAL_NONCE + SEAL_MAX_PLAIN + SEAL_TAG) + 1)

/* ------------------------------------------------------------------ the sealing key */

const char *gw_totp_key_path(const struct gw_config *c)
{
	return c->totp_key_file ? c->totp_key_file : GW_DEFAULT_TOTP_KEY;
}

/* N bytes from exactly 2*N lowercase hex digits at S. */
/* A new key in PATH: 0, 1 when another gateway made one first, -1 with ERR. */
static int key_create(const char *path, unsigned char key[32], char *err, size_t errlen)
{
	char hex[65 + 1];
	int rc;

	if (lb_random_bytes(key, 32) != 0) {
		snprintf(err, errlen, "totp_key_file: no randomness for a new key");
		return -1;
	}
	lb_hex_encode(key, 32, hex);
	strcat(hex, "\n");
	rc = gw_keyfile_create(path, "totp_key_file", hex, strlen(hex), err, errlen);
	lb_wipe(hex, sizeof(hex));
	if (rc == 0)
		gw_log(LOG_NOTICE, "totp: made a new key %s for the TOTP secrets (AES-256, mode 0600)",
		       path);
	else
		lb_wipe(key, 32);
	return rc;
}

/* The key in PATH: 0, -2 when there is none, -1 with ERR. */
static int key_read(const char *path, unsigned char key[32], char *err, size_t errlen)
{
	char buf[130];
	ssize_t n;
	size_t len;
	int rc = -1, fd = gw_keyfile_open(path, "totp_key_file", ", and have every user enrol "
					  "TOTP again if others may have read it and the database",
					  err, errlen);
	if (fd < 0)
		return fd;
	n = read(fd, buf, sizeof(buf) - 1);
	len = n > 0 ? (size_t)n : 0;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (n < 0 || lb_hex_decode(buf, len, key, 32) != 0)
		snprintf(err, errlen, "totp_key_file: %.512s does not hold a key (64 hex digits)",
			 path);
	else
		rc = 0;
	lb_wipe(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* The directory part of PATH into OUT ("" when it has none). */
static void dir_of(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	snprintf(out, len, "%.*s", slash ? (int)(slash - path) : 0, path);
}

int gw_totp_key_load(struct gw *gw, int create, char *err, size_t errlen)
{
	const char *path = gw_totp_key_path(&gw->cfg);
	char kdir[4096], ddir[4096];
	int rc = -1;

	for (int tries = 0; tries < 3; tries++) {
		rc = key_read(path, gw->totp_key, err, errlen);
		if (rc != -2)
			break;
		if (!create) {
			snprintf(err, errlen, "totp_key_file: %.512s does not exist (the gateway makes "
				 "it at its first start)", path);
			return -1;
		}
		if ((rc = key_create(path, gw->totp_key, err, errlen)) != 1)
			break;
	}
	if (rc != 0) {
		if (rc != -1)
			snprintf(err, errlen, "totp_key_file: cannot load %.512s", path);
		return -1;
	}
	gw->totp_key_loaded = 1;
	/* the key keeps the secrets from whoever copies the database: not if it goes along */
	dir_of(path, kdir, sizeof(kdir));
	if (gw_store_uri_file(gw->cfg.database)) {
		dir_of(gw_store_uri_file(gw->cfg.database), ddir, sizeof(ddir));
		if (strcmp(kdir, ddir) == 0)
			gw_log(LOG_WARNING, "totp_key_file %s is in the database's directory: a copy of "
					    "that directory holds the TOTP secrets and their key; keep it "
					    "in /etc/lockbox", path);
	}
	return 0;
}

void gw_totp_key_free(struct gw *gw)
{
	lb_wipe(gw->totp_key, sizeof(gw->totp_key));
	gw->totp_key_loaded = 0;
}

/* ------------------------------------------------------------------ sealing, codes */

static int seal(const struct gw *gw, const char *user, const unsigned char *plain, size_t n,
		char out[SEALED_LEN])
{
	unsigned char buf[SEAL_NONCE + SEAL_MAX_PLAIN + SEAL_TAG];
	EVP_CIPHER_CTX *ctx;
	int len = 0, fin = 0, ok;

	if (!gw->totp_key_loaded || n > SEAL_MAX_PLAIN || lb_random_bytes(buf, SEAL_NONCE) != 0)
		return -1;
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE, NULL) == 1 &&
	     EVP_EncryptInit_ex(ctx, NULL, NULL, gw->totp_key, buf) == 1 &&
	     EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)user, (int)strlen(user)) == 1 &&
	     EVP_EncryptUpdate(ctx, buf + SEAL_NONCE, &len, plain, (int)n) == 1 &&
	     EVP_EncryptFinal_ex(ctx, buf + SEAL_NONCE + len, &fin) == 1 &&
	     (size_t)(len + fin) == n &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, buf + SEAL_NONCE + n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (ok) {
		memcpy(out, SEAL_PREFIX, strlen(SEAL_PREFIX));
		lb_hex_encode(buf, SEAL_NONCE + n + SEAL_TAG, out + strlen(SEAL_PREFIX));
	}
	lb_wipe(buf, sizeof(buf));
	return ok ? 0 : -1;
}

/* The secret sealed in TEXT for USER into PLAIN; its length, or -1 (wrong key, tampered
 * row, another user's row). */
static int unseal(const struct gw *gw, const char *user, const char *text,
		  unsigned char plain[SEAL_MAX_PLAIN])
{
	unsigned char buf[SEAL_NONCE + SEAL_MAX_PLAIN + SEAL_TAG];
	size_t hexlen, n;
	EVP_CIPHER_CTX *ctx;
	int len = 0, fin = 0, ok;

	if (!gw->totp_key_loaded || !text || strncmp(text, SEAL_PREFIX, strlen(SEAL_PREFIX)) != 0)
		return -1;
	text += strlen(SEAL_PREFIX);
	hexlen = strlen(text);
	if (hexlen % 2 || hexlen / 2 <= SEAL_NONCE + SEAL_TAG || hexlen / 2 > sizeof(buf) ||
	    lb_hex_decode(text, hexlen, buf, hexlen / 2) != 0)
		return -1;
	n = hexlen / 2 - SEAL_NONCE - SEAL_TAG;
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE, NULL) == 1 &&
	     EVP_DecryptInit_ex(ctx, NULL, NULL, gw->totp_key, buf) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)user, (int)strlen(user)) == 1 &&
	     EVP_DecryptUpdate(ctx, plain, &len, buf + SEAL_NONCE, (int)n) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, buf + SEAL_NONCE + n) == 1 &&
	     EVP_DecryptFinal_ex(ctx, plain + len, &fin) == 1 && (size_t)(len + fin) == n;
	EVP_CIPHER_CTX_free(ctx);
	lb_wipe(buf, sizeof(buf));
	if (!ok) {
		lb_wipe(plain, SEAL_MAX_PLAIN);
		return -1;
	}
	return (int)n;
}

/* RFC 4226 HOTP value of KEY at COUNTER, as TOTP_DIGITS decimal digits into OUT. */
static int hotp(const unsigned char *key, size_t keylen, uint64_t counter,
		char out[TOTP_DIGITS + 1])
{
	unsigned char msg[8], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, off;
	uint32_t bin;

	for (int i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	if (!HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), md, &mdlen) || mdlen < 20)
		return -1;
	off = md[mdlen - 1] & 0x0f; /* dynamic truncation */
	bin = ((uint32_t)(md[off] & 0x7f) << 24) | ((uint32_t)md[off + 1] << 16) |
	      ((uint32_t)md[off + 2] << 8) | (uint32_t)md[off + 3];
	snprintf(out, TOTP_DIGITS + 1, "%0*u", TOTP_DIGITS, (unsigned)(bin % TOTP_MOD));
	lb_wipe(md, sizeof(md));
	return 0;
}

/* RFC 4648 base32 of N bytes (a multiple of 5, so no padding) into OUT. */
static void base32(const unsigned char *in, size_t n, char *out)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	size_t o = 0;
	for (size_t i = 0; i + 5 <= n; i += 5) {
		uint64_t v = 0;
		for (size_t j = 0; j < 5; j++)
			v = (v << 8) | in[i + j];
		for (int j = 7; j >= 0; j--)
			out[o++] = alpha[(v >> (5 * j)) & 31];
	}
	out[o] = '\0';
}

static int code_well_formed(const char *code)
{
	if (strlen(code) != TOTP_DIGITS)
		return 0;
	for (const char *p = code; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* Checks CODE against the secret in column COL of ROW (the caller's TOTP row). REPLAY: a
 * code of a step at or before last_step is refused (not for a secret never used before).
 * A good code's step becomes last_step and clears the count of wrong ones; a wrong code is
 * counted (the fifth locks) and refused with gw_call_refuse so that the count commits. */
static enum gw_db check_row(struct gw_call *call, const json_t *row, const char *col,
			    const char *code, int replay)
{
	struct gw_req *r = call->r;
	struct gw *gw = r->gw;
	struct gw_store *s = gw->store;
	const char *user = lb_json_str(row, "user"), *until = lb_json_str(row, "locked_until");
	unsigned char key[SEAL_MAX_PLAIN];
	char now[LB_TIME_BUFLEN], want[TOTP_DIGITS + 1], lock[LB_TIME_BUFLEN];
	int64_t now_step = r->now / 1000 / TOTP_STEP, last = 0, wrong = 0, matched = -1;
	int keylen, seen = 0;
	json_t *fields;
	enum gw_db rc;

	gw_now_str(r, now);
	if (until && strcmp(now, until) < 0)
		return gw_call_fail(call, "totp_locked", "too many wrong codes: TOTP is locked until %s",
				  until);
	lb_json_int(row, "last_step", &last);
	lb_json_int(row, "failures", &wrong);
	if ((keylen = unseal(gw, user ? user : "", lb_json_str(row, col), key)) <= 0) {
		gw_log(LOG_ERR, "totp: cannot open the sealed secret of user %s: is totp_key_file "
				"the key it was sealed with?", user ? user : "?");
		return gw_call_fail(call, "totp_unavailable", "the TOTP secret cannot be read; see the "
				  "gateway log");
	}
	if (code_well_formed(code)) {
		/* newest step first: of two steps with the same code, an unused one counts */
		for (int64_t d = TOTP_SKEW; d >= -TOTP_SKEW && matched < 0; d--) {
			int64_t step = now_step + d;
			if (step < 0 || hotp(key, (size_t)keylen, (uint64_t)step, want) != 0)
				continue;
			if (CRYPTO_memcmp(want, code, TOTP_DIGITS) == 0) {
				seen = 1;
				if (!replay || step > last)
					matched = step;
			}
		}
	}
	lb_wipe(key, sizeof(key));
	lb_wipe(want, sizeof(want));
	if (matched >= 0) {
		fields = json_pack("{s:I,s:i,s:n,s:s}", "last_step", (json_int_t)matched, "failures",
				   0, "locked_until", "updated_at", now);
		rc = s->update(s->cls, call->txn, &gw_k_totp, lb_json_str(row, "id"), fields);
		json_decref(fields);
		return rc;
	}
	if (seen) /* a replay is no guess: it does not count towards the lock */
		return gw_call_fail(call, "totp_invalid", "this code was used already; wait for the next one");
	wrong++;
	if (wrong >= TOTP_MAX_WRONG) {
		lb_time_format(r->now + gw->cfg.totp_lockout * 1000, lock, sizeof(lock));
		fields = json_pack("{s:i,s:s,s:s}", "failures", 0, "locked_until", lock,
				   "updated_at", now);
	} else {
		fields = json_pack("{s:I,s:s}", "failures", (json_int_t)wrong, "updated_at", now);
	}
	rc = s->update(s->cls, call->txn, &gw_k_totp, lb_json_str(row, "id"), fields);
	json_decref(fields);
	if (rc != GW_DB_OK)
		return rc;
	if (wrong >= TOTP_MAX_WRONG) {
		gw_log(LOG_WARNING, "totp: user %s gave %d wrong codes in a row; TOTP locked until %s",
		       user ? user : "?", TOTP_MAX_WRONG, lock);
		return gw_call_refuse(call, "totp_invalid", "wrong code; %d wrong codes in a row lock "
				    "TOTP until %s", TOTP_MAX_WRONG, lock);
	}
	return gw_call_refuse(call, "totp_invalid", "wrong code (%lld of %d before TOTP locks)",
			    (long long)wrong, TOTP_MAX_WRONG);
}

/* The caller's TOTP row into *ROW, or NULL when they have none. */
static enum gw_db own_row(struct gw_call *call, json_t **row)
{
	struct gw_store *s = call->r->gw->store;
	enum gw_db rc = s->get(s->cls, call->txn, &gw_k_totp, "user", call->r->who.id, row);
	if (rc == GW_DB_NOT_FOUND) {
		*row = NULL;
		return GW_DB_OK;
	}
	return rc;
}

enum gw_db gw_totp_verify(struct gw_call *call, const char *code, int required, int *verified)
{
	json_t *row = NULL;
	enum gw_db rc;

	*verified = 0;
	if (!code) {
		if (required)
			return gw_call_fail(call, "mfa_required", "this gateway requires a TOTP code "
					  "(\"totp\") for this; enrol first if you have none "
					  "(lockboxctl totp enroll)");
		return GW_DB_OK;
	}
	if ((rc = own_row(call, &row)) != GW_DB_OK)
		return rc;
	if (!row || !lb_json_str(row, "secret"))
		rc = gw_call_fail(call, "totp_invalid", "you have no confirmed TOTP; enrol with "
				"lockboxctl totp enroll, then lockboxctl totp confirm CODE");
	else if ((rc = check_row(call, row, "secret", code, 1)) == GW_DB_OK && !call->err_code)
		*verified = 1;
	json_decref(row);
	return rc;
}

/* ------------------------------------------------------------------ the handlers */

/* "lockbox:LOGIN" as the label of an otpauth URI, percent-encoded. */
static void uri_label(const char *login, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = (size_t)snprintf(out, len, "lockbox:");
	for (const unsigned char *p = (const unsigned char *)login; *p && o + 4 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

static enum gw_db totp_enroll_body(struct gw_call *call)
{
	struct gw_req *r = call->r;
	struct gw_store *s = r->gw->store;
	const char *code = lb_json_str(call->body, "totp");
	unsigned char secret[TOTP_SECRET_BYTES];
	char sealed[SEALED_LEN], b32[TOTP_B32_LEN + 1], now[LB_TIME_BUFLEN], id[GW_ID_LEN];
	char label[3 * 256 + 16], uri[3 * 256 + 160];
	json_t *row = NULL, *fields;
	enum gw_db rc;

	if ((rc = own_row(call, &row)) != GW_DB_OK)
		return rc;
	if (row && lb_json_str(row, "secret")) {
		/* a stolen token alone must not move the second factor to its thief's phone */
		if (!code) {
			rc = gw_call_fail(call, "conflict", "TOTP is active; to replace it, send a current "
					"code as \"totp\" (lockboxctl totp enroll --totp CODE)");
			goto out;
		}
		if ((rc = check_row(call, row, "secret", code, 1)) != GW_DB_OK || call->err_code)
			goto out;
	} else if (code) {
		rc = gw_call_fail(call, "totp_invalid", "you have no confirmed TOTP to replace");
		goto out;
	}
	if (lb_random_bytes(secret, sizeof(secret)) != 0 ||
	    seal(r->gw, r->who.id, secret, sizeof(secret), sealed) != 0) {
		lb_wipe(secret, sizeof(secret));
		gw_log(LOG_ERR, "totp: cannot make or seal a new secret");
		rc = gw_call_fail(call, "totp_unavailable", "cannot make a TOTP secret; see the gateway log");
		goto out;
	}
	base32(secret, sizeof(secret), b32);
	lb_wipe(secret, sizeof(secret));
	gw_now_str(r, now);
	if (row) {
		/* before confirmation a new enrolment replaces the pending one; an active secret
		 * stays in force until the new one is confirmed */
		fields = json_pack("{s:s,s:s}", "pending_secret", sealed, "updated_at", now);
		rc = s->update(s->cls, call->txn, &gw_k_totp, lb_json_str(row, "id"), fields);
	} else {
		gw_new_id("otp_", id);
		fields = json_pack("{s:s,s:s,s:n,s:s,s:i,s:i,s:n,s:s,s:s,s:n}", "id", id, "user",
				   r->who.id, "secret", "pending_secret", sealed, "last_step", 0,
				   "failures", 0, "locked_until", "created_at", now, "updated_at", now,
				   "confirmed_at");
		rc = s->insert(s->cls, call->txn, &gw_k_totp, fields);
	}
	json_decref(fields);
	lb_wipe(sealed, sizeof(sealed));
	if (rc == GW_DB_OK) {
		uri_label(lb_json_str(r->who.obj, "login") ? lb_json_str(r->who.obj, "login") : "",
			  label, sizeof(label));
		snprintf(uri, sizeof(uri),
			 "otpauth://totp/%s?secret=%s&issuer=lockbox&algorithm=SHA1&digits=%d&period=%d",
			 label, b32, TOTP_DIGITS, TOTP_STEP);
		call->out = json_pack("{s:s,s:s}", "otpauth_uri", uri, "secret", b32);
		lb_wipe(uri, sizeof(uri));
	}
	lb_wipe(b32, sizeof(b32));
out:
	json_decref(row);
	return rc;
}

enum MHD_Result gw_totp_enroll(struct gw_req *r)
{
	static const struct gw_field spec[] = {{"totp", GW_F_STR, 0, 16}, {NULL, 0, 0, 0}};
	struct gw_call call = {.r = r, .what = "totp"};
	enum MHD_Result ret;

	/* any user, for themselves: the route is /self, so there is nobody else to name */
	if (r->body_len == 0 && !r->too_big)
		call.body = json_object();
	else if (!(call.body = gw_parse_body(r, spec)))
		return MHD_YES;
	ret = gw_call_run(&call, 1, totp_enroll_body, 201);
	json_decref(call.body);
	return ret;
}

static enum gw_db totp_confirm_body(struct gw_call *call)
{
	struct gw_req *r = call->r;
	struct gw_store *s = r->gw->store;
	const char *tenant = lb_json_str(r->who.obj, "tenant");
	char now[LB_TIME_BUFLEN];
	json_t *row = NULL, *fields;
	int replaced;
	enum gw_db rc;

	if ((rc = own_row(call, &row)) != GW_DB_OK)
		return rc;
	if (!row || !lb_json_str(row, "pending_secret")) {
		rc = gw_call_fail(call, "wrong_state", "no TOTP enrolment waits for confirmation; "
				"POST /v1/users/self/totp first (lockboxctl totp enroll)");
		goto out;
	}
	/* a secret nobody used yet: no code of it was accepted before */
	if ((rc = check_row(call, row, "pending_secret", lb_json_str(call->body, "code"), 0)) !=
		    GW_DB_OK ||
	    call->err_code)
		goto out;
	replaced = lb_json_str(row, "secret") != NULL;
	gw_now_str(r, now);
	fields = json_pack("{s:O,s:n,s:s,s:s}", "secret", json_object_get(row, "pending_secret"),
			   "pending_secret", "confirmed_at", now, "updated_at", now);
	rc = s->update(s->cls, call->txn, &gw_k_totp, lb_json_str(row, "id"), fields);
	json_decref(fields);
	if (rc != GW_DB_OK)
		goto out;
	/* a customer user's second factor is their tenant's business, a provider user's the
	 * provider's; the event names the user, never the secret or the code */
	rc = gw_directory_event(call, "directory.totp.enroll", tenant,
				json_pack("{s:s,s:O,s:b}", "user", r->who.id, "login",
					  json_object_get(r->who.obj, "login"), "replaced",
					  replaced));
	if (rc == GW_DB_OK)
		call->out = json_pack("{s:s,s:b,s:s}", "user", r->who.id, "totp", 1, "confirmed_at",
				    now);
out:
	json_decref(row);
	return rc;
}

enum MHD_Result gw_totp_confirm(struct gw_req *r)
{
	static const struct gw_field spec[] = {{"code", GW_F_STR, 1, 16}, {NULL, 0, 0, 0}};
	return gw_call_parsed(r, spec, "totp", totp_confirm_body, 200);
}
