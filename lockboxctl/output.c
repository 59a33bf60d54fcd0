/* lockboxctl: human output (aligned tables, key: value listings) and JSON output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define CTL_COL_MAX 48 /* characters; longer cells are cut with "..." */
#define CTL_MAX_COLS 16

/* Characters (not bytes) of UTF-8 text. */
static size_t text_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Cuts S (owned) to at most MAX characters, ending in "..." when cut. */
static void cut(char *s, size_t max)
{
	size_t chars = 0;
	char *p;
	if (text_width(s) <= max)
		return;
	for (p = s; *p; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80) {
			if (chars == max - 3)
				break;
			chars++;
		}
	}
	strcpy(p, "...");
}

static char *dup_clean(const char *s)
{
	char *d = strdup(s), *p;
	if (!d)
		return NULL;
	for (p = d; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

/* "2026-11-23T06:44:32.123Z" -> "2026-11-23 06:44:32" (UTC); anything else unchanged. */
static char *short_time(const char *s)
{
	char buf[32];
	if (strlen(s) >= 20 && s[10] == 'T' && s[strlen(s) - 1] == 'Z') {
		snprintf(buf, sizeof(buf), "%.10s %.8s", s, s + 11);
		return strdup(buf);
	}
	return dup_clean(s);
}

char *ctl_human(const json_t *v, enum ctl_col_kind kind)
{
	char *s;
	if (!v || json_is_null(v))
		return strdup("-");
	if (json_is_string(v))
		return kind == COL_TIME ? short_time(json_string_value(v))
					: dup_clean(json_string_value(v));
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "yes" : "no");
	if (json_is_array(v)) {
		size_t i, len = 0;
		json_t *e;
		int all_str = 1;
		json_array_foreach(v, i, e) {
			if (!json_is_string(e))
				all_str = 0;
			else
				len += strlen(json_string_value(e)) + 1;
		}
		if (all_str) {
			s = malloc(len + 2); /* + 2: room for "-" when the list is empty */
			if (!s)
				return NULL;
			s[0] = '\0';
			json_array_foreach(v, i, e) {
				if (i)
					strcat(s, ",");
				strcat(s, json_string_value(e));
			}
			if (!json_array_size(v))
				strcpy(s, "-");
			char *c = dup_clean(s);
			free(s);
			return c;
		}
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	return s ? s : strdup("?");
}

void ctl_table(const json_t *items, const struct ctl_col *cols)
{
	size_t ncols = 0, nrows = json_array_size(items), w[CTL_MAX_COLS];
	char **cells;

	while (cols[ncols].title && ncols < CTL_MAX_COLS)
		ncols++;
	if (nrows == 0) {
		fprintf(stderr, "(none)\n");
		return;
	}
	cells = calloc(nrows * ncols, sizeof(*cells));
	if (!cells)
		return;
	for (size_t c = 0; c < ncols; c++)
		w[c] = text_width(cols[c].title);
	for (size_t r = 0; r < nrows; r++) {
		const json_t *it = json_array_get(items, r);
		for (size_t c = 0; c < ncols; c++) {
			char *s = ctl_human(json_object_get(it, cols[c].key), cols[c].kind);
			if (!s)
				s = strdup("?");
			if (s) {
				cut(s, CTL_COL_MAX);
				if (text_width(s) > w[c])
					w[c] = text_width(s);
			}
			cells[r * ncols + c] = s;
		}
	}
	for (size_t c = 0; c < ncols; c++) {
		if (c + 1 < ncols)
			printf("%s%*s  ", cols[c].title, (int)(w[c] - text_width(cols[c].title)), "");
		else
			printf("%s\n", cols[c].title);
	}
	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < ncols; c++) {
			const char *s = cells[r * ncols + c] ? cells[r * ncols + c] : "?";
			if (c + 1 < ncols)
				printf("%s%*s  ", s, (int)(w[c] - text_width(s)), "");
			else
				printf("%s\n", s);
		}
	for (size_t i = 0; i < nrows * ncols; i++)
		free(cells[i]);
	free(cells);
}

static int skipped(const char *key, const char *const *skip)
{
	for (; skip && *skip; skip++)
		if (strcmp(*skip, key) == 0)
			return 1;
	return 0;
}

void ctl_show(const json_t *obj, const char *const *skip)
{
	const char *key;
	json_t *v;
	size_t w = 0;

	json_object_foreach((json_t *)obj, key, v) {
		if (!skipped(key, skip) && strlen(key) > w)
			w = strlen(key);
	}
	json_object_foreach((json_t *)obj, key, v) {
		size_t kl = strlen(key);
		int is_time = kl > 3 && (strcmp(key + kl - 3, "_at") == 0 || strcmp(key, "time") == 0);
		char *s;
		if (skipped(key, skip))
			continue;
		s = ctl_human(v, is_time ? COL_TIME : COL_ANY);
		printf("%s:%*s %s\n", key, (int)(w - kl), "", s ? s : "?");
		free(s);
	}
}

void ctl_print_ids(const json_t *items)
{
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		json_t *id = json_object_get(it, "id");
		if (json_is_string(id)) {
			char *s = ctl_human(id, COL_STR);
			if (s)
				puts(s);
			free(s);
		}
	}
}

void ctl_print_json(const json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s) {
		puts(s);
		free(s);
	}
}
