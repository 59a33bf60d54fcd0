/* lockbox: jansson helpers shared by the gateway, the PAM module and the CLI. */
#ifndef LOCKBOX_JSON_H
#define LOCKBOX_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Parses untrusted JSON text: rejects duplicate keys and anything but an object at the top.
 * Returns a new reference or NULL with WHY filled. */
json_t *lb_json_parse_object(const char *text, size_t len, char *why, size_t whylen);

/* Typed getters on untrusted objects: return NULL / -1 if absent or of the wrong type. */
const char *lb_json_str(const json_t *obj, const char *key);
int lb_json_bool(const json_t *obj, const char *key, int *out);
int lb_json_int(const json_t *obj, const char *key, int64_t *out);

/* Sets KEY to an RFC 3339 string, or null when MS <= 0. */
int lb_json_set_time(json_t *obj, const char *key, int64_t ms);
/* Sets KEY to the string or null when S is NULL. */
int lb_json_set_str_or_null(json_t *obj, const char *key, const char *s);

#endif
