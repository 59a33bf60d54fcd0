/* lockbox: escaping untrusted text for `key=value` log lines and for messages shown to users.
 *
 * Values in a host log line come from untrusted places (user names, rhost, tty, gateway
 * messages). After escaping, a value is printable ASCII only: no control characters, no
 * bytes >= 0x7f, no unquoted spaces, so one event is always exactly one parseable line. */
#ifndef LOCKBOX_ESCAPE_H
#define LOCKBOX_ESCAPE_H

#include <stddef.h>

/* Writes VALUE escaped for a key=value line into OUT (always NUL-terminated when OUTLEN > 0).
 * A value made only of [A-Za-z0-9._:/@+,-] characters (and not empty) is written as is;
 * anything else is written in double quotes with \" \\ \n \r \t and \xHH for every other
 * byte < 0x20, 0x7f or >= 0x80. NULL is written as "-". Returns the length the full escaped
 * value needs (without the NUL), like snprintf: a result >= OUTLEN means it was truncated
 * (never in the middle of an escape sequence; a truncated quoted value stays quoted). */
size_t lb_escape_value(const char *value, char *out, size_t outlen);

/* Like lb_escape_value but never quoted: every byte < 0x20, 0x7f, >= 0x80 and the backslash
 * are written as escapes (\n \r \t \\ \xHH), the rest as is. For keeping hostile text
 * (rhost, tty) in JSON events and requests as printable ASCII. Same return convention. */
size_t lb_escape_text(const char *in, char *out, size_t outlen);

/* A key=value line under construction, in a caller-provided buffer; optionally the same
 * pairs as journal fields (LOCKBOX_KEY=value lines, lb_kv_journal). */
struct lb_kvbuf {
	char *buf;
	size_t cap;
	size_t len;
	int truncated; /* set once a pair did not fit; later pairs are dropped */
	char *jbuf;    /* NULL: no journal fields */
	size_t jcap, jlen;
};

void lb_kv_init(struct lb_kvbuf *kv, char *buf, size_t cap);
/* Also collects every pair added from now on as a journal field in JBUF (JCAP bytes):
 * "LOCKBOX_KEY=value\n", the key upper-cased ('.' becomes '_'), the value as printable ASCII
 * (lb_escape_text). A field that does not fit is left out; the line keeps it. */
void lb_kv_journal(struct lb_kvbuf *kv, char *jbuf, size_t jcap);
/* Appends " key=value" (no leading space for the first pair). KEY must be a plain token
 * ([a-z0-9_.]); VALUE is escaped. Returns 0, or -1 when the pair did not fit (the buffer then
 * ends with " truncated=1" if there was room). */
int lb_kv_add(struct lb_kvbuf *kv, const char *key, const char *value);
int lb_kv_add_long(struct lb_kvbuf *kv, const char *key, long long value);

/* Copies untrusted human text (e.g. the gateway's deny message) into OUT for showing to a
 * user: printable ASCII kept, everything else (control characters, escape sequences, bytes
 * >= 0x7f) replaced by '?', at most OUTLEN-1 bytes. NULL gives "". Returns OUT. */
char *lb_sanitize_text(const char *in, char *out, size_t outlen);

#endif
