/* lockbox: a JSON writer and a strict flat-object reader without libjansson
 * (include/lockbox/jsonflat.h says why the PAM module needs them). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lockbox/jsonflat.h"

/* The length (1-4) of the valid UTF-8 sequence at P (at most LEFT bytes), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629, what jansson
 * accepts). */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
	unsigned cp;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* ---- writer ---- */

static void put(struct lb_jw *w, const char *s, size_t n)
{
	if (w->bad)
		return;
	if (w->len + n + 1 > w->cap) {
		w->bad = 1;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void put_string(struct lb_jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	put(w, "\"", 1);
	while (left && !w->bad) {
		unsigned char c = *p;
		size_t n = 1;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			put(w, esc, 2);
		} else if (c < 0x20) {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			put(w, esc, 6);
		} else {
			n = utf8_seq(p, left);
			if (!n) {
				w->bad = 1;
				return;
			}
			put(w, (const char *)p, n);
		}
		p += n;
		left -= n;
	}
	put(w, "\"", 1);
}

static void member(struct lb_jw *w, const char *key)
{
	if (w->depth < 1) {
		w->bad = 1;
		return;
	}
	if (!w->first[w->depth - 1])
		put(w, ",", 1);
	w->first[w->depth - 1] = 0;
	put_string(w, key);
	put(w, ":", 1);
}

void lb_jw_init(struct lb_jw *w, char *buf, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = cap;
	if (cap)
		buf[0] = '\0';
	put(w, "{", 1);
	w->depth = 1;
	w->first[0] = 1;
}

void lb_jw_str(struct lb_jw *w, const char *key, const char *val)
{
	member(w, key);
	if (val)
		put_string(w, val);
	else
		put(w, "null", 4);
}

void lb_jw_int(struct lb_jw *w, const char *key, long long val)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", val);
	member(w, key);
	put(w, num, (size_t)n);
}

void lb_jw_bool(struct lb_jw *w, const char *key, int val)
{
	member(w, key);
	put(w, val ? "true" : "false", val ? 4 : 5);
}

void lb_jw_null(struct lb_jw *w, const char *key)
{
	lb_jw_str(w, key, NULL);
}

void lb_jw_object(struct lb_jw *w, const char *key)
{
	member(w, key);
	if (w->depth >= LB_JW_MAX_DEPTH) {
		w->bad = 1;
		return;
	}
	put(w, "{", 1);
	w->first[w->depth++] = 1;
}

void lb_jw_end(struct lb_jw *w)
{
	if (w->depth < 1) {
		w->bad = 1;
		return;
	}
	put(w, "}", 1);
	w->depth--;
}

long lb_jw_finish(struct lb_jw *w)
{
	while (w->depth > 0 && !w->bad)
		lb_jw_end(w);
	return w->bad ? -1 : (long)w->len;
}

/* ---- reader ---- */

struct rd {
	char *start, *p, *end;
	char *why;
	size_t whylen;
};

static int bad(struct rd *r, const char *what)
{
	snprintf(r->why, r->whylen, "malformed JSON at byte %ld: %s", (long)(r->p - r->start),
		 what);
	return -1;
}

static void skip_ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static char *put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		*out++ = (char)cp;
	} else if (cp < 0x800) {
		*out++ = (char)(0xc0 | (cp >> 6));
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*out++ = (char)(0xe0 | (cp >> 12));
		*out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*out++ = (char)(0xf0 | (cp >> 18));
		*out++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	}
	return out;
}

/* A "\uXXXX" escape (with its low surrogate when it is a high one) at R->p (just after the
 * backslash's 'u'); writes the character's UTF-8 at *OUT. Decoded text is never longer than
 * its escape, so writing in place never overtakes the reading. */
static int unicode_escape(struct rd *r, char **out)
{
	unsigned cp, lo;
	if (r->end - r->p < 4 || hex4(r->p, &cp) != 0)
		return bad(r, "bad \\u escape");
	r->p += 4;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return bad(r, "a lone low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
		    hex4(r->p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
			return bad(r, "a high surrogate without its low one");
		r->p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return bad(r, "\\u0000 in a string");
	*out = put_utf8(*out, cp);
	return 0;
}

/* The string at R->p (its opening quote), decoded in place; *S points at it. */
static int string(struct rd *r, const char **s)
{
	char *out;
	if (r->p >= r->end || *r->p != '"')
		return bad(r, "expected a string");
	out = ++r->p;
	*s = out;
	while (r->p < r->end) {
		unsigned char c = (unsigned char)*r->p;
		if (c == '"') {
			*out = '\0';
			r->p++;
			return 0;
		}
		if (c == '\\') {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			const char *k;
			if (++r->p >= r->end)
				break;
			if (*r->p == 'u') {
				r->p++;
				if (unicode_escape(r, &out) != 0)
					return -1;
				continue;
			}
			k = strchr(from, *r->p);
			if (!k || !*r->p)
				return bad(r, "bad escape");
			*out++ = to[k - from];
			r->p++;
		} else if (c < 0x20) {
			return bad(r, "a control character in a string");
		} else {
			size_t n = utf8_seq((const unsigned char *)r->p, (size_t)(r->end - r->p));
			if (!n)
				return bad(r, "invalid UTF-8");
			memmove(out, r->p, n);
			out += n;
			r->p += n;
		}
	}
	return bad(r, "unterminated string");
}

static int integer(struct rd *r, long long *v)
{
	int neg = 0;
	unsigned long long acc = 0, lim;
	const char *start;

	if (*r->p == '-') {
		neg = 1;
		r->p++;
	}
	start = r->p;
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
		unsigned d = (unsigned)(*r->p - '0');
		if (acc > (lim - d) / 10)
			return bad(r, "an integer out of range");
		acc = acc * 10 + d;
		r->p++;
	}
	if (r->p == start)
		return bad(r, "expected a digit");
	if (*start == '0' && r->p - start > 1)
		return bad(r, "a leading zero");
	if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
		return bad(r, "a real number (only integers are accepted)");
	*v = neg ? (acc == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)acc)
		 : (long long)acc;
	return 0;
}

static int literal(struct rd *r, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return bad(r, "invalid token");
	r->p += n;
	return 0;
}

static int value(struct rd *r, struct lb_jflat_field *f)
{
	if (r->p >= r->end)
		return bad(r, "expected a value");
	switch (*r->p) {
	case '"':
		f->type = LB_JF_STRING;
		return string(r, &f->str);
	case 't':
		f->type = LB_JF_BOOL;
		f->num = 1;
		return literal(r, "true");
	case 'f':
		f->type = LB_JF_BOOL;
		return literal(r, "false");
	case 'n':
		f->type = LB_JF_NULL;
		return literal(r, "null");
	case '{':
	case '[':
		return bad(r, "a nested value (only flat objects are accepted)");
	default:
		if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) {
			f->type = LB_JF_INT;
			return integer(r, &f->num);
		}
		return bad(r, "invalid token");
	}
}

int lb_jflat_parse(char *text, size_t len, struct lb_jflat *o, char *why, size_t whylen)
{
	struct rd r = {text, text, text + len, why, whylen};

	memset(o, 0, sizeof(*o));
	skip_ws(&r);
	if (r.p >= r.end || *r.p != '{')
		return bad(&r, "expected an object");
	r.p++;
	skip_ws(&r);
	if (r.p < r.end && *r.p == '}') {
		r.p++;
	} else {
		for (;;) {
			struct lb_jflat_field f = {0};
			skip_ws(&r);
			if (string(&r, &f.key) != 0)
				return -1;
			skip_ws(&r);
			if (r.p >= r.end || *r.p != ':')
				return bad(&r, "expected ':'");
			r.p++;
			skip_ws(&r);
			if (value(&r, &f) != 0) {
				size_t l = strnlen(why, whylen);
				/* which member: the reader of the error wants to know */
				if (l + 1 < whylen)
					snprintf(why + l, whylen - l, " (member '%.40s')", f.key);
				return -1;
			}
			if (lb_jflat_get(o, f.key))
				return bad(&r, "a duplicate key");
			if (o->n >= LB_JFLAT_MAX)
				return bad(&r, "too many members");
			o->f[o->n++] = f;
			skip_ws(&r);
			if (r.p < r.end && *r.p == ',') {
				r.p++;
				continue;
			}
			if (r.p < r.end && *r.p == '}') {
				r.p++;
				break;
			}
			return bad(&r, "expected ',' or '}'");
		}
	}
	skip_ws(&r);
	if (r.p != r.end)
		return bad(&r, "text after the object");
	return 0;
}

int lb_jflat_add(struct lb_jflat *o, const char *key, enum lb_jflat_type type, const char *str,
		 long long num)
{
	if (o->n >= LB_JFLAT_MAX || lb_jflat_get(o, key))
		return -1;
	o->f[o->n].key = key;
	o->f[o->n].type = type;
	o->f[o->n].str = str;
	o->f[o->n].num = num;
	o->n++;
	return 0;
}

const struct lb_jflat_field *lb_jflat_get(const struct lb_jflat *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->f[i].key, key) == 0)
			return &o->f[i];
	return NULL;
}

const char *lb_jflat_str(const struct lb_jflat *o, const char *key)
{
	const struct lb_jflat_field *f = lb_jflat_get(o, key);
	return f && f->type == LB_JF_STRING ? f->str : NULL;
}
