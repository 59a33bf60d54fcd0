/* lockbox: JSON for code that must not load libjansson.
 *
 * pam_lockbox.so runs inside sshd and xrdp-sesman, and libpam loads and unloads it (and every
 * shared library it needs) on each login: mapping and unmapping libjansson cost more than the
 * login's own work (bench/findings.md, "Sixth round"). The module's JSON is small and flat,
 * so it uses this instead: a writer for one object (values: string, integer, boolean, null,
 * and objects nested in it), and a strict reader for flat objects (values: string, integer,
 * boolean, null; anything nested is refused). The daemons keep using jansson; both ends of
 * the agent socket are tested against each other (tests/unit/test_jsonflat.c compares this
 * reader with jansson on the same inputs). */
#ifndef LOCKBOX_JSONFLAT_H
#define LOCKBOX_JSONFLAT_H

#include <stddef.h>

/* ---- writer ---- */

#define LB_JW_MAX_DEPTH 4

struct lb_jw {
	char *buf;
	size_t cap, len;
	int depth;                      /* objects open */
	int first[LB_JW_MAX_DEPTH];     /* no member written yet at this depth */
	int bad;                        /* overflow, invalid UTF-8, or misuse */
};

/* Starts an object in BUF (CAP bytes, the text stays NUL-terminated while it fits). */
void lb_jw_init(struct lb_jw *w, char *buf, size_t cap);
/* Members of the innermost open object. VAL NULL writes null. A string that is not valid
 * UTF-8, or has a NUL inside, marks the writer bad (control characters are escaped). */
void lb_jw_str(struct lb_jw *w, const char *key, const char *val);
void lb_jw_int(struct lb_jw *w, const char *key, long long val);
void lb_jw_bool(struct lb_jw *w, const char *key, int val);
void lb_jw_null(struct lb_jw *w, const char *key);
/* Opens the member KEY as an object; lb_jw_end closes the innermost open object. */
void lb_jw_object(struct lb_jw *w, const char *key);
void lb_jw_end(struct lb_jw *w);
/* Closes what is still open and returns the text's length, or -1 when it did not fit in
 * the buffer or something was refused on the way (nothing of it may be used then). */
long lb_jw_finish(struct lb_jw *w);

/* ---- reader ---- */

#define LB_JFLAT_MAX 32

enum lb_jflat_type {
	LB_JF_NULL = 0,
	LB_JF_BOOL,
	LB_JF_INT,
	LB_JF_STRING,
	LB_JF_OTHER, /* a real number, array or object (only lb_jflat_add makes these: the text
		      * reader refuses them) */
};

struct lb_jflat_field {
	const char *key;        /* clean UTF-8 text */
	enum lb_jflat_type type;
	const char *str;        /* LB_JF_STRING: valid UTF-8, no NUL inside */
	long long num;          /* LB_JF_INT; LB_JF_BOOL 0 or 1 */
};

struct lb_jflat {
	size_t n;
	struct lb_jflat_field f[LB_JFLAT_MAX];
};

/* Parses TEXT[0..LEN) as one JSON object with at most LB_JFLAT_MAX members, as strictly as
 * jansson with JSON_REJECT_DUPLICATES: whitespace around tokens only, valid UTF-8, no
 * "\u0000", no lone surrogates, integers within 64 bits, nothing after the object, no key
 * twice. TEXT is decoded in place (the fields point into it) and must stay alive. Returns 0,
 * or -1 with WHY. */
int lb_jflat_parse(char *text, size_t len, struct lb_jflat *o, char *why, size_t whylen);
/* Adds a field (for callers that fill a view from another parser); -1 when full or KEY
 * is there already. KEY and STR are not copied. */
int lb_jflat_add(struct lb_jflat *o, const char *key, enum lb_jflat_type type, const char *str,
		 long long num);
/* The field KEY, or NULL. */
const struct lb_jflat_field *lb_jflat_get(const struct lb_jflat *o, const char *key);
/* The string value of KEY, or NULL when KEY is absent or not a string. */
const char *lb_jflat_str(const struct lb_jflat *o, const char *key);

#endif
