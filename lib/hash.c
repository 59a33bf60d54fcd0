/* lockbox: SHA-256 and HMAC-SHA-256 as lowercase hex, Ed25519 verification
 * (include/lockbox/util.h), on OpenSSL's libcrypto. Apart from util.c so that the PAM
 * module, which hashes nothing, does not load libcrypto at every pam_start. */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/sha.h>

#include <stdlib.h>

#include <jansson.h>

#include "lockbox/auditlog.h"
#include "lockbox/hex.h"
#include "lockbox/util.h"

void lb_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	lb_hex_encode(md, SHA256_DIGEST_LENGTH, out);
}

void lb_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	HMAC(EVP_sha256(), key, (int)keylen, data, len, md, &mdlen);
	lb_hex_encode(md, SHA256_DIGEST_LENGTH, out);
}

void *lb_ed25519_pubkey_load(const char *path, char fpr[65], char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *pk;
	unsigned char *der = NULL;
	int derlen;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!pk || EVP_PKEY_id(pk) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s: not an Ed25519 public key in PEM", path);
		EVP_PKEY_free(pk);
		return NULL;
	}
	if (fpr) {
		if ((derlen = i2d_PUBKEY(pk, &der)) <= 0) {
			snprintf(err, errlen, "%s: cannot encode the key", path);
			EVP_PKEY_free(pk);
			return NULL;
		}
		lb_sha256_hex(der, (size_t)derlen, fpr);
		OPENSSL_free(der);
	}
	return pk;
}

int lb_ed25519_verify_hex(void *pub, const char *text, const char *sighex)
{
	unsigned char sig[64];
	EVP_MD_CTX *md;
	int ok;

	if (!pub || !text || !sighex ||
	    lb_hex_decode(sighex, strlen(sighex), sig, sizeof(sig)) != 0)
		return 0;
	md = EVP_MD_CTX_new();
	ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, (EVP_PKEY *)pub) == 1 &&
	     EVP_DigestVerify(md, sig, sizeof(sig), (const unsigned char *)text, strlen(text)) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

void lb_ed25519_pubkey_free(void *pub)
{
	EVP_PKEY_free(pub);
}

void lb_audit_chain_hash(const json_t *ev, const char *prev_hash, char out[65])
{
	static const char *const fields[] = {"seq",  "id",   "time",    "type",    "tenant",
					     "subscription", "level", "actor", "host", "request",
					     "details", NULL};
	json_t *c = json_object();
	char *text;

	for (size_t i = 0; fields[i]; i++) {
		json_t *v = json_object_get(ev, fields[i]);
		json_object_set(c, fields[i], v ? v : json_null());
	}
	/* source (schema 6) only when set: events stored before it keep their hash */
	if (json_is_string(json_object_get(ev, "source")))
		json_object_set(c, "source", json_object_get(ev, "source"));
	json_object_set_new(c, "prev_hash", json_string(prev_hash));
	text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
	lb_sha256_hex(text ? text : "", text ? strlen(text) : 0, out);
	free(text);
	json_decref(c);
}
