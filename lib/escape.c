/* lockbox: key=value escaping for host log lines and sanitising of text shown to users. */

#include <stdio.h>
#include <string.h>

#include "lockbox/escape.h"

static int plain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._:/@+,-", c) != NULL;
}

/* The escape sequence for one byte into SEQ (at most 5 bytes with NUL); returns its length. */
static size_t escape_byte(unsigned char c, char seq[5])
{
	static const char hex[] = "0123456789abcdef";
	/* the bytes with a short name: the rest below 0x20 or above 0x7e are \xHH */
	static const struct {
		unsigned char c;
		char seq[3];
	} named[] = {{'"', "\\\""}, {'\\', "\\\\"}, {'\n', "\\n"}, {'\r', "\\r"}, {'\t', "\\t"}};

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (named[i].c == c) {
			memcpy(seq, named[i].seq, 3);
			return 2;
		}
	if (c < 0x20 || c >= 0x7f) {
		seq[0] = '\\';
		seq[1] = 'x';
		seq[2] = hex[c >> 4];
		seq[3] = hex[c & 0xf];
		seq[4] = '\0';
		return 4;
	}
	seq[0] = (char)c;
	seq[1] = '\0';
	return 1;
}

size_t lb_escape_value(const char *value, char *out, size_t outlen)
{
	const unsigned char *p;
	size_t need, pos = 0;
	int plain = 1;

	if (!value)
		value = "-";
	if (!*value)
		plain = 0;
	for (p = (const unsigned char *)value; *p; p++)
		if (!plain_char(*p))
			plain = 0;
	if (plain) {
		need = strlen(value);
		if (outlen) {
			size_t n = need < outlen ? need : outlen - 1;
			memcpy(out, value, n);
			out[n] = '\0';
		}
		return need;
	}
	/* quoted: room is kept for the closing quote so a truncated value stays well formed */
	need = 2;
	for (p = (const unsigned char *)value; *p; p++) {
		char seq[5];
		need += escape_byte(*p, seq);
	}
	if (outlen < 3) {
		if (outlen)
			out[0] = '\0';
		return need;
	}
	out[pos++] = '"';
	for (p = (const unsigned char *)value; *p; p++) {
		char seq[5];
		size_t n = escape_byte(*p, seq);
		if (pos + n + 2 > outlen)
			break;
		memcpy(out + pos, seq, n);
		pos += n;
	}
	out[pos++] = '"';
	out[pos] = '\0';
	return need;
}

size_t lb_escape_text(const char *in, char *out, size_t outlen)
{
	size_t need = 0, pos = 0;
	if (!in)
		in = "";
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		char seq[5];
		size_t n = *p == '"' ? 1 : escape_byte(*p, seq);
		if (*p == '"')
			seq[0] = '"';
		need += n;
		if (outlen && pos + n < outlen) {
			memcpy(out + pos, seq, n);
			pos += n;
		} else {
			outlen = outlen ? pos + 1 : 0; /* stop at the first escape that does not fit */
		}
	}
	if (outlen)
		out[pos] = '\0';
	return need;
}

void lb_kv_init(struct lb_kvbuf *kv, char *buf, size_t cap)
{
	kv->buf = buf;
	kv->cap = cap;
	kv->len = 0;
	kv->truncated = 0;
	kv->jbuf = NULL;
	kv->jcap = kv->jlen = 0;
	if (cap)
		buf[0] = '\0';
}

static int key_ok(const char *key)
{
	if (!key || !*key)
		return 0;
	for (const char *k = key; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '.'))
			return 0;
	return 1;
}

static void mark_truncated(struct lb_kvbuf *kv)
{
	static const char t[] = " truncated=1";
	if (!kv->truncated && kv->len + sizeof(t) <= kv->cap) {
		memcpy(kv->buf + kv->len, t, sizeof(t));
		kv->len += sizeof(t) - 1;
	}
	kv->truncated = 1;
}

void lb_kv_journal(struct lb_kvbuf *kv, char *jbuf, size_t jcap)
{
	kv->jbuf = jbuf;
	kv->jcap = jcap;
	kv->jlen = 0;
	if (jcap)
		jbuf[0] = '\0';
}

/* KEY=VALUE as a journal field line, when it fits. */
static void journal_field(struct lb_kvbuf *kv, const char *key, const char *value)
{
	char name[64], esc[1024];
	size_t n = 0, vlen;

	for (const char *p = "LOCKBOX_"; *p; p++)
		name[n++] = *p;
	for (const char *p = key; *p && n + 1 < sizeof(name); p++)
		name[n++] = *p == '.' ? '_' : (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p;
	name[n] = '\0';
	vlen = lb_escape_text(value ? value : "-", esc, sizeof(esc));
	if (vlen >= sizeof(esc))
		vlen = strlen(esc);
	if (kv->jlen + n + 1 + vlen + 2 > kv->jcap)
		return;
	memcpy(kv->jbuf + kv->jlen, name, n);
	kv->jlen += n;
	kv->jbuf[kv->jlen++] = '=';
	memcpy(kv->jbuf + kv->jlen, esc, vlen);
	kv->jlen += vlen;
	kv->jbuf[kv->jlen++] = '\n';
	kv->jbuf[kv->jlen] = '\0';
}

int lb_kv_add(struct lb_kvbuf *kv, const char *key, const char *value)
{
	char esc[1024];
	size_t klen, vlen, sep, total;
	static const char t[] = " truncated=1";

	if (kv->truncated || kv->cap == 0)
		return -1;
	if (!key_ok(key))
		key = "bad_key";
	if (kv->jbuf)
		journal_field(kv, key, value);
	klen = strlen(key);
	/* a long value is cut (still escaped and quoted) rather than dropped */
	vlen = lb_escape_value(value, esc, sizeof(esc));
	if (vlen >= sizeof(esc))
		vlen = strlen(esc);
	sep = kv->len ? 1 : 0;
	total = sep + klen + 1 + vlen;
	/* keep room for the truncation marker */
	if (kv->len + total + sizeof(t) > kv->cap) {
		mark_truncated(kv);
		return -1;
	}
	if (sep)
		kv->buf[kv->len++] = ' ';
	memcpy(kv->buf + kv->len, key, klen);
	kv->len += klen;
	kv->buf[kv->len++] = '=';
	memcpy(kv->buf + kv->len, esc, vlen);
	kv->len += vlen;
	kv->buf[kv->len] = '\0';
	return 0;
}

int lb_kv_add_long(struct lb_kvbuf *kv, const char *key, long long value)
{
	char num[32];
	snprintf(num, sizeof(num), "%lld", value);
	return lb_kv_add(kv, key, num);
}

char *lb_sanitize_text(const char *in, char *out, size_t outlen)
{
	size_t i = 0;

	if (!outlen)
		return out;
	if (in)
		for (; in[i] && i + 1 < outlen; i++) {
			unsigned char c = (unsigned char)in[i];
			out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
	out[i] = '\0';
	return out;
}
