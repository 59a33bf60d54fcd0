/* Fuzz target for the parsers that read untrusted text: durations, RFC 3339 times, JSON
 * bodies (duplicate keys, deep nesting), URLs, log escaping and the config file parser.
 * Built with clang -fsanitize=fuzzer it is a libFuzzer target; otherwise fuzz_main.c drives
 * it with seeded random mutations for `make check` (under ASan+UBSan in CI). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockbox/config.h"
#include "lockbox/escape.h"
#include "lockbox/http.h"
#include "lockbox/json.h"
#include "lockbox/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fcfg {
	char *s;
	int64_t d;
	int b;
	unsigned long u;
	struct lb_strlist l;
};

static const struct lb_cfg_key keys[] = {
	{"s", LB_CFG_STRING, offsetof(struct fcfg, s), NULL},
	{"d", LB_CFG_DURATION, offsetof(struct fcfg, d), NULL},
	{"b", LB_CFG_BOOL, offsetof(struct fcfg, b), NULL},
	{"u", LB_CFG_UINT, offsetof(struct fcfg, u), NULL},
	{"l", LB_CFG_LIST, offsetof(struct fcfg, l), NULL},
	{NULL, 0, 0, NULL},
};

static void fuzz_config(const char *text, size_t len)
{
	static char path[64];
	struct fcfg c;
	char err[512];
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/lb-fuzz-conf-%ld", (long)getpid());
	f = fopen(path, "we");
	if (!f)
		return;
	fwrite(text, 1, len, f);
	fclose(f);
	memset(&c, 0, sizeof(c));
	lb_config_parse_file(path, keys, &c, 0, err, sizeof(err));
	/* whatever it said must be one line of text */
	if (memchr(err, '\n', strnlen(err, sizeof(err))))
		abort();
	lb_config_free_fields(keys, &c);
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[600], why[256];
	int64_t v;
	json_t *j;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (lb_duration_parse(s, &v) == 0 && (v < 0 || v > LB_DURATION_MAX))
		abort();
	if (lb_time_parse(s, &v) == 0) {
		char buf[LB_TIME_BUFLEN];
		int64_t again;
		lb_time_format(v, buf, sizeof(buf));
		/* whatever parses formats back to a time that parses to the same instant */
		if (lb_time_parse(buf, &again) != 0 || again != v)
			abort();
	}
	j = lb_json_parse_object(s, size, why, sizeof(why));
	json_decref(j);
	lb_url_check(s, why, sizeof(why));
	lb_escape_value(s, out, sizeof(out));
	for (const char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			abort(); /* an escaped value never carries a control character */
	lb_sanitize_text(s, out, sizeof(out));
	(void)lb_str_clean(s);
	fuzz_config(s, size);
	free(s);
	return 0;
}
