/* lockbox-gatewayd: signed audit checkpoints (Ed25519): the signing key, the periodic,
 * every-N-events and shutdown checkpoints, the floor a chain may never fall below, the
 * checkpoint records' part of the chain verification, and the public key's endpoints. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "gw.h"
#include "lockbox/hex.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

#define GW_CKPT_ALG "ed25519"
#define GW_CKPT_LEGACY_ALG "hmac-sha256" /* rows from before 0007: no verifier can check them */
#define GW_CKPT_PAGE 200
#define GW_CKPT_MAX_PAGES 100000

/* Held while a checkpoint is verified, signed and stored, and while the endpoint compares
 * the chain with the stored records: a record signed between the two reads of a verify
 * would look like a head above the chain. */
static pthread_mutex_t ckpt_run_lock = PTHREAD_MUTEX_INITIALIZER;
/* events appended since the last checkpoint, for checkpoint_every */
static atomic_uint_fast64_t ckpt_pending;
static uint64_t ckpt_every;

const char *gw_checkpoint_key_path(const struct gw_config *c)
{
	return c->checkpoint_key_file ? c->checkpoint_key_file : GW_DEFAULT_CHECKPOINT_KEY;
}

/* A new key in PATH; NULL with *OTHER set when another gateway made one first, or with ERR. */
static EVP_PKEY *key_create(const char *path, int *other, char *err, size_t errlen)
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	BIO *b = NULL;
	char *pem;
	long n;
	int rc = -1;

	*other = 0;
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pk) <= 0) {
		snprintf(err, errlen, "checkpoint_key_file: cannot generate an Ed25519 key");
		goto out;
	}
	if (!(b = BIO_new(BIO_s_secmem())) ||
	    !PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) ||
	    (n = BIO_get_mem_data(b, &pem)) <= 0) {
		snprintf(err, errlen, "checkpoint_key_file: cannot encode the new key");
		goto out;
	}
	rc = gw_keyfile_create(path, "checkpoint_key_file", pem, (size_t)n, err, errlen);
	*other = rc == 1;
	if (rc == 0)
		gw_log(LOG_NOTICE, "audit: made a new checkpoint signing key %s (Ed25519, mode 0600)",
		       path);
out:
	BIO_free(b);
	EVP_PKEY_CTX_free(ctx);
	if (rc != 0) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	return pk;
}

/* The key in PATH; NULL with *MISSING set when there is none, or with ERR. */
static EVP_PKEY *key_read(const char *path, int *missing, char *err, size_t errlen)
{
	EVP_PKEY *pk = NULL;
	FILE *f;
	int fd = gw_keyfile_open(path, "checkpoint_key_file",
				 " and make a new key if others may have read it", err, errlen);

	*missing = fd == -2;
	if (fd < 0)
		return NULL;
	if (!(f = fdopen(fd, "r"))) {
		close(fd);
		snprintf(err, errlen, "checkpoint_key_file: %.512s: %s", path, strerror(errno));
		return NULL;
	}
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pk || EVP_PKEY_id(pk) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "checkpoint_key_file: %.512s is not an Ed25519 private key in "
			 "PEM (an older gateway's HMAC key? move it away: a new key is made at start)",
			 path);
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

int gw_checkpoint_key_load(struct gw *gw, int create, char *err, size_t errlen)
{
	const char *path = gw_checkpoint_key_path(&gw->cfg);
	EVP_PKEY *pk;
	BIO *b = NULL;
	unsigned char *der = NULL;
	int derlen;
	char *mem;
	long n;
	int again = 0;

	for (int tries = 0; tries < 3; tries++) {
		if ((pk = key_read(path, &again, err, errlen)) || !again)
			break;
		if (!create) {
			snprintf(err, errlen, "checkpoint_key_file: %.512s does not exist (the gateway "
				 "makes it at its first start)", path);
			return -1;
		}
		if ((pk = key_create(path, &again, err, errlen)) || !again)
			break;
	}
	if (!pk) {
		if (again)
			snprintf(err, errlen, "checkpoint_key_file: cannot load %.512s", path);
		return -1;
	}
	gw->ckpt_pkey = pk;
	if (!(b = BIO_new(BIO_s_mem())) || !PEM_write_bio_PUBKEY(b, pk) ||
	    (n = BIO_get_mem_data(b, &mem)) <= 0 || !(gw->ckpt_pubkey_pem = strndup(mem, (size_t)n)) ||
	    (derlen = i2d_PUBKEY(pk, &der)) <= 0) {
		BIO_free(b);
		snprintf(err, errlen, "checkpoint_key_file: cannot derive the public key");
		return -1;
	}
	BIO_free(b);
	lb_sha256_hex(der, (size_t)derlen, gw->ckpt_key_fpr);
	OPENSSL_free(der);
	return 0;
}

void gw_checkpoint_key_free(struct gw *gw)
{
	EVP_PKEY_free(gw->ckpt_pkey);
	gw->ckpt_pkey = NULL;
	free(gw->ckpt_pubkey_pem);
	gw->ckpt_pubkey_pem = NULL;
}

/* What is signed: exactly the text the log line shows. */
static void signed_text(int64_t seq, const char *hash, char *out, size_t len)
{
	snprintf(out, len, "seq=%lld head_hash=%s", (long long)seq, hash);
}

static int ckpt_sign(const struct gw *gw, int64_t seq, const char *hash, char sig[129])
{
	char text[160];
	unsigned char raw[64];
	size_t rawlen = sizeof(raw);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	signed_text(seq, hash, text, sizeof(text));
	ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, gw->ckpt_pkey) == 1 &&
	     EVP_DigestSign(md, raw, &rawlen, (const unsigned char *)text, strlen(text)) == 1 &&
	     rawlen == sizeof(raw);
	EVP_MD_CTX_free(md);
	if (!ok)
		return -1;
	lb_hex_encode(raw, sizeof(raw), sig);
	return 0;
}

static int ckpt_verify(const struct gw *gw, int64_t seq, const char *hash, const char *sighex)
{
	char text[160];
	unsigned char raw[64];
	EVP_MD_CTX *md;
	int ok;

	if (!hash || lb_hex_decode(sighex, sighex ? strlen(sighex) : 0, raw, sizeof(raw)) != 0)
		return 0;
	signed_text(seq, hash, text, sizeof(text));
	md = EVP_MD_CTX_new();
	ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, gw->ckpt_pkey) == 1 &&
	     EVP_DigestVerify(md, raw, sizeof(raw), (const unsigned char *)text, strlen(text)) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

static int row_is_legacy(const json_t *row)
{
	const char *alg = lb_json_str(row, "alg");
	return alg && strcmp(alg, GW_CKPT_LEGACY_ALG) == 0;
}

static int row_verifies(const struct gw *gw, const json_t *row)
{
	const char *alg = lb_json_str(row, "alg");
	return alg && strcmp(alg, GW_CKPT_ALG) == 0 &&
	       ckpt_verify(gw, json_integer_value(json_object_get(row, "seq")),
			   lb_json_str(row, "head_hash"), lb_json_str(row, "sig"));
}

static void set_broken(struct gw *gw, const char *why)
{
	pthread_mutex_lock(&gw->ckpt_lock);
	snprintf(gw->ckpt_broken, sizeof(gw->ckpt_broken), "%s", why);
	pthread_mutex_unlock(&gw->ckpt_lock);
}

void gw_checkpoint_init(struct gw *gw)
{
	ckpt_every = gw->cfg.checkpoint_every;
	/* the checkpoint lines go to syslog in the foreground too (lb_log writes only stderr
	 * there): a copy outside the database and outside the gateway's own output */
	if (gw->foreground)
		openlog("lockbox-gatewayd", LOG_PID, LOG_DAEMON);
}

/* The newest stored checkpoint whose signature verifies is the floor: the chain may never
 * fall below it, and the next incremental check starts there. A record with a bad signature
 * means the table was written behind the gateway's back: logged, and the chain is reported
 * broken (no checkpoint is signed) until someone looks. */
void gw_checkpoint_resume(struct gw *gw)
{
	struct gw_store *s = gw->store;
	int64_t cursor = 0, next = 0;
	int found = 0;

	for (int page = 0; page < GW_CKPT_MAX_PAGES && !found; page++) {
		json_t *items = NULL, *row;
		size_t i;
		enum gw_db rc = s->list(s->cls, NULL, &gw_k_checkpoints, NULL, 0, cursor, GW_CKPT_PAGE, 1,
					NULL, NULL, &items, &next);
		if (rc != GW_DB_OK) {
			gw_log(LOG_ERR, "audit: cannot read the checkpoint records (table missing?)");
			set_broken(gw, "the checkpoint records cannot be read (table missing?)");
			json_decref(items);
			return;
		}
		json_array_foreach(items, i, row) {
			int64_t seq = json_integer_value(json_object_get(row, "seq"));
			if (row_is_legacy(row))
				continue;
			if (!row_verifies(gw, row)) {
				char why[160];
				gw_log(LOG_ERR, "audit: the stored checkpoint at seq=%lld has a bad "
						"signature (forged record)", (long long)seq);
				snprintf(why, sizeof(why), "the checkpoint record at seq=%lld has a bad "
					 "signature (forged record)", (long long)seq);
				set_broken(gw, why);
				continue;
			}
			pthread_mutex_lock(&gw->ckpt_lock);
			gw->ckpt_seq = seq;
			snprintf(gw->ckpt_hash, sizeof(gw->ckpt_hash), "%s",
				 lb_json_str(row, "head_hash"));
			pthread_mutex_unlock(&gw->ckpt_lock);
			found = 1;
			break;
		}
		json_decref(items);
		if (!next)
			break;
		cursor = next;
	}
}

struct ckpt_row {
	struct gw *gw;
	json_t *row;
};

/* Gateways sharing a database sign the same head with the same key: one stores it, the
 * others find the lock taken or the row there already, and neither is an error. */
static enum gw_db store_body(struct gw_txn *t, void *arg)
{
	struct ckpt_row *c = arg;
	struct gw_store *s = c->gw->store;
	int got = 0;
	enum gw_db rc = s->lock(s->cls, t, "checkpoint", &got);
	if (rc != GW_DB_OK || !got)
		return rc;
	rc = s->insert(s->cls, t, &gw_k_checkpoints, c->row);
	return rc == GW_DB_CONFLICT ? GW_DB_OK : rc;
}

/* Verifies the events since the floor and signs (seq, head_hash): logged at LOG_NOTICE (to
 * syslog, which the database's writer cannot rewrite) and stored. Never signs a head below
 * the floor, nor anything while the chain is broken. FORCE logs even when nothing was
 * appended. */
void gw_checkpoint_run(struct gw *gw, int force)
{
	json_t *res = NULL;
	char sig[129], now[LB_TIME_BUFLEN], hash[65], broken[sizeof(gw->ckpt_broken)];
	int64_t from, head;
	const char *h;
	enum gw_db rc;

	pthread_mutex_lock(&ckpt_run_lock);
	atomic_store(&ckpt_pending, 0);
	pthread_mutex_lock(&gw->ckpt_lock);
	from = gw->ckpt_seq;
	memcpy(hash, gw->ckpt_hash, sizeof(hash));
	memcpy(broken, gw->ckpt_broken, sizeof(broken));
	pthread_mutex_unlock(&gw->ckpt_lock);
	if (broken[0]) {
		gw_log(LOG_ERR, "audit chain BROKEN: %s; no checkpoint is signed", broken);
		goto out;
	}
	rc = from > 0 ? gw_audit_verify_from(gw, from, hash, &res) : gw_audit_verify_chain(gw, &res);
	if (rc != GW_DB_OK)
		goto out;
	if (!json_is_true(json_object_get(res, "ok"))) {
		char why[200];
		snprintf(why, sizeof(why), "at seq=%lld: %s",
			 (long long)json_integer_value(json_object_get(res, "broken_at")),
			 lb_json_str(res, "reason") ? lb_json_str(res, "reason") : "?");
		gw_log(LOG_ERR, "audit chain BROKEN %s; no checkpoint is signed", why);
		set_broken(gw, why);
		goto out;
	}
	head = json_integer_value(json_object_get(res, "head_seq"));
	h = lb_json_str(res, "head_hash");
	if (head < from || !h) {
		char why[200];
		snprintf(why, sizeof(why), "the chain's head seq=%lld is below the last signed "
			 "checkpoint seq=%lld (chain regressed)", (long long)head, (long long)from);
		gw_log(LOG_ERR, "audit chain BROKEN: %s; refusing to sign it", why);
		set_broken(gw, why);
		goto out;
	}
	if (head == from && !force)
		goto out;
	if (ckpt_sign(gw, head, h, sig) != 0) {
		gw_log(LOG_ERR, "audit: cannot sign the checkpoint at seq=%lld", (long long)head);
		goto out;
	}
	gw_log(LOG_NOTICE, "audit checkpoint seq=%lld head_hash=%s sig=%s", (long long)head, h, sig);
	if (gw->foreground)
		syslog(LOG_NOTICE, "audit checkpoint seq=%lld head_hash=%s sig=%s", (long long)head,
		       h, sig);
	if (head > from && head > 0) {
		struct ckpt_row c = {gw, NULL};
		lb_time_format(lb_time_now_ms(), now, sizeof(now));
		c.row = json_pack("{s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)head, "head_hash", h,
				  "sig", sig, "time", now, "alg", GW_CKPT_ALG);
		if (gw->store->run(gw->store->cls, 1, store_body, &c) != GW_DB_OK)
			gw_log(LOG_WARNING, "audit: cannot store the checkpoint at seq=%lld",
			       (long long)head);
		json_decref(c.row);
	}
	pthread_mutex_lock(&gw->ckpt_lock);
	gw->ckpt_seq = head;
	snprintf(gw->ckpt_hash, sizeof(gw->ckpt_hash), "%s", h);
	pthread_mutex_unlock(&gw->ckpt_lock);
out:
	json_decref(res);
	pthread_mutex_unlock(&ckpt_run_lock);
}

int gw_checkpoint_note(unsigned appended)
{
	uint64_t before;
	if (!ckpt_every || !appended)
		return 0;
	before = atomic_fetch_add(&ckpt_pending, appended);
	return before < ckpt_every && before + appended >= ckpt_every;
}

int gw_checkpoint_due(void)
{
	return ckpt_every && atomic_load(&ckpt_pending) >= ckpt_every;
}

static json_t *fail(json_t *res, int64_t at, const char *why)
{
	json_object_set_new(res, "ok", json_false());
	json_object_set_new(res, "broken_at", json_integer(at));
	json_object_set_new(res, "reason", json_string(why));
	return res;
}

/* The checkpoint records against a chain that verified up to (HEAD, HEAD_HASH): every
 * record is signed by this gateway's key, none is above the head, each names the hash its
 * event has, and the floor this gateway holds is among them. */
static void check_records(struct gw *gw, json_t *res)
{
	struct gw_store *s = gw->store;
	int64_t head = json_integer_value(json_object_get(res, "head_seq"));
	int64_t cursor = 0, next = 0, n = 0, legacy = 0, newest = 0, first_signed = 0, floor;
	int have_floor = 0;
	char why[256];

	pthread_mutex_lock(&gw->ckpt_lock);
	floor = gw->ckpt_seq;
	pthread_mutex_unlock(&gw->ckpt_lock);
	for (int page = 0; page < GW_CKPT_MAX_PAGES; page++) {
		json_t *items = NULL, *row;
		size_t i;
		if (s->list(s->cls, NULL, &gw_k_checkpoints, NULL, 0, cursor, GW_CKPT_PAGE, 0, NULL, NULL,
			    &items, &next) != GW_DB_OK) {
			json_decref(items);
			fail(res, 0, "the checkpoint records cannot be read (table missing?)");
			return;
		}
		json_array_foreach(items, i, row) {
			int64_t seq = json_integer_value(json_object_get(row, "seq"));
			char seqs[32];
			json_t *ev = NULL;
			enum gw_db rc;
			if (row_is_legacy(row)) {
				if (first_signed && seq > first_signed) {
					snprintf(why, sizeof(why), "the checkpoint record at seq=%lld "
						 "claims to be a legacy HMAC record but is newer than the "
						 "first Ed25519 one (forged record)", (long long)seq);
					fail(res, seq, why);
					json_decref(items);
					return;
				}
				legacy++;
				continue;
			}
			if (!row_verifies(gw, row)) {
				snprintf(why, sizeof(why), "the checkpoint record at seq=%lld has a bad "
					 "signature (forged record)", (long long)seq);
				fail(res, seq, why);
				json_decref(items);
				return;
			}
			if (!first_signed)
				first_signed = seq;
			if (seq > head) {
				snprintf(why, sizeof(why), "the chain's head seq=%lld is below the signed "
					 "checkpoint seq=%lld (chain regressed: events removed)",
					 (long long)head, (long long)seq);
				fail(res, head + 1, why);
				json_decref(items);
				return;
			}
			snprintf(seqs, sizeof(seqs), "%lld", (long long)seq);
			rc = s->get(s->cls, NULL, &gw_k_audit, "seq", seqs, &ev);
			if (rc != GW_DB_OK || strcmp(lb_json_str(ev, "hash") ? lb_json_str(ev, "hash") : "",
						     lb_json_str(row, "head_hash")) != 0) {
				snprintf(why, sizeof(why), "event seq=%lld differs from its signed "
					 "checkpoint (history rewritten)", (long long)seq);
				json_decref(ev);
				fail(res, seq, why);
				json_decref(items);
				return;
			}
			json_decref(ev);
			if (seq == floor)
				have_floor = 1;
			newest = seq;
			n++;
		}
		json_decref(items);
		if (!next)
			break;
		cursor = next;
	}
	if (floor > 0 && !have_floor) {
		snprintf(why, sizeof(why), "the checkpoint record at seq=%lld that this gateway "
			 "signed is missing (records removed)", (long long)floor);
		fail(res, floor, why);
		return;
	}
	json_object_set_new(res, "checkpoints", json_integer(n));
	json_object_set_new(res, "legacy_checkpoints", json_integer(legacy));
	json_object_set_new(res, "checkpoint_seq", json_integer(newest));
	json_object_set_new(res, "public_key_sha256", json_string(gw->ckpt_key_fpr));
}

enum gw_db gw_checkpoint_verify(struct gw *gw, json_t **result)
{
	enum gw_db rc;
	char broken[sizeof(gw->ckpt_broken)];

	pthread_mutex_lock(&ckpt_run_lock);
	rc = gw_audit_verify_chain(gw, result);
	if (rc == GW_DB_OK && json_is_true(json_object_get(*result, "ok")))
		check_records(gw, *result);
	pthread_mutex_lock(&gw->ckpt_lock);
	memcpy(broken, gw->ckpt_broken, sizeof(broken));
	pthread_mutex_unlock(&gw->ckpt_lock);
	/* what the gateway found at start or at a checkpoint stays a failure until a restart
	 * finds the records whole again */
	if (rc == GW_DB_OK && broken[0] && json_is_true(json_object_get(*result, "ok")))
		fail(*result, 0, broken);
	pthread_mutex_unlock(&ckpt_run_lock);
	return rc;
}

const char *gw_checkpoint_broken(struct gw *gw, char *buf, size_t len)
{
	pthread_mutex_lock(&gw->ckpt_lock);
	snprintf(buf, len, "%s", gw->ckpt_broken);
	pthread_mutex_unlock(&gw->ckpt_lock);
	return buf[0] ? buf : NULL;
}

/* The public key is public: anyone may fetch it (hosts, auditors, without a token). Trust in
 * it comes from comparing its fingerprint with `lockbox-gatewayd --print-public-key` on the
 * gateway's machine, never from this answer alone. */
enum MHD_Result gw_audit_public_key(struct gw_req *r)
{
	return gw_reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:s}", "algorithm", GW_CKPT_ALG,
					       "public_key_pem", r->gw->ckpt_pubkey_pem, "sha256",
					       r->gw->ckpt_key_fpr, "signed_text",
					       "seq=SEQ head_hash=HASH"));
}

/* The checkpoint records, oldest first (the provider admin, like the whole-chain verify). */
enum MHD_Result gw_audit_checkpoints(struct gw_req *r)
{
	return gw_reply_list(r, &gw_k_checkpoints, NULL, 0, NULL);
}
