/* Unit tests for the vocabulary tables (lib/vocab.c): each word is where the documentation
 * says it is, and the documentation names no word the tables lack, so a new state, reason,
 * event type or role cannot be added in one place only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/util.h"
#include "lockbox/vocab.h"

#define MAX_DOC (512 * 1024)

static char *slurp(const char *rel)
{
	char path[4096];
	FILE *f;
	char *buf = calloc(1, MAX_DOC + 1);
	size_t n;

	assert_non_null(buf);
	snprintf(path, sizeof(path), "%s/%s", LB_TOP_SRCDIR, rel);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	n = fread(buf, 1, MAX_DOC, f);
	fclose(f);
	assert_true(n > 0 && n < MAX_DOC);
	return buf;
}

/* Whether DOC has WORD between the delimiters BEFORE and AFTER (e.g. "`" and "`"). */
static int has(const char *doc, const char *before, const char *word, const char *after)
{
	char needle[256];
	snprintf(needle, sizeof(needle), "%s%s%s", before, word, after);
	return strstr(doc, needle) != NULL;
}

/* In a man page a word stands in bold: ".B word", ".BR word ..." or ".RB ( word ...". */
static int man_has(const char *man, const char *word)
{
	const char *p = man;
	size_t len = strlen(word);
	for (int guard = 0; guard < 100000 && (p = strstr(p, word)); guard++, p += len) {
		int start = p == man || strchr(" \n(", p[-1]);
		int end = p[len] == '\0' || strchr(" ,\n)", p[len]) || (p[len] == '.' && p[len + 1] == '\n');
		if (start && end)
			return 1;
	}
	return 0;
}

/* The backquoted words of DOC from MARK to STOP (NULL: a blank line), each checked with
 * KNOWN; returns how many were checked. */
static int each_quoted(const char *doc, const char *mark, const char *stop,
		       int (*known)(const char *), const char *what)
{
	const char *p = strstr(doc, mark), *end;
	int n = 0;
	assert_non_null(p);
	end = strstr(p, stop ? stop : "\n\n");
	if (!end)
		end = p + strlen(p);
	for (int guard = 0; guard < 1000; guard++) {
		const char *a = memchr(p, '`', (size_t)(end - p)), *b;
		char word[128];
		if (!a)
			break;
		b = memchr(a + 1, '`', (size_t)(end - a - 1));
		if (!b)
			break;
		snprintf(word, sizeof(word), "%.*s", (int)(b - a - 1), a + 1);
		if (!known(word))
			fail_msg("docs/API.md names %s '%s', which lib/vocab.c does not know", what,
				 word);
		n++;
		p = b + 1;
	}
	return n;
}

static int known_reason(const char *w)
{
	/* the paragraph also names the states pending stands for and the engineer role */
	return lb_reason_find(w) != NULL || lb_request_state_known(w) || lb_role_find(w);
}

static int known_event(const char *w)
{
	/* the table's "written by" column names endpoints too */
	return w[0] == '/' || lb_event_type_known(w);
}

static int known_role(const char *w)
{
	return lb_role_find(w) != NULL || lb_str_eq(w, "role") || lb_str_eq(w, "side") ||
	       lb_str_eq(w, "tenant") || lb_str_eq(w, "subscription") || lb_str_eq(w, "provider") ||
	       lb_str_eq(w, "customer") || lb_str_eq(w, "none") || strncmp(w, "scope", 5) == 0;
}

static void test_states(void **state)
{
	char *api = slurp("docs/API.md"), *man = slurp("man/lockbox-gatewayd.8");
	int n = 0;
	(void)state;
	for (const struct lb_request_state *s = lb_request_states; s->name; s++, n++) {
		if (!has(api, "`", s->name, "`"))
			fail_msg("docs/API.md does not name the state %s", s->name);
		if (!man_has(man, s->name))
			fail_msg("lockbox-gatewayd(8) does not name the state %s", s->name);
		assert_true(lb_request_state_known(s->name));
	}
	assert_int_equal(n, 8);
	assert_true(lb_request_state_pending(LB_RS_INTERNAL_REVIEW));
	assert_true(lb_request_state_pending(LB_RS_CUSTOMER_NOTIFIED));
	assert_false(lb_request_state_pending(LB_RS_APPROVED));
	assert_false(lb_request_state_pending(NULL));
	assert_false(lb_request_state_known(LB_RS_PENDING_FILTER));
	free(api);
	free(man);
}

static void test_reasons(void **state)
{
	char *api = slurp("docs/API.md"), *pam = slurp("man/pam_lockbox.8");
	(void)state;
	for (const struct lb_reason *r = lb_reasons; r->code; r++) {
		size_t wl = strlen(r->what), tl = strlen(r->todo);
		/* one entry per code */
		assert_ptr_equal(lb_reason_find(r->code), r);
		assert_true(r->flags & (LB_REASON_GATEWAY | LB_REASON_HOST));
		if ((r->flags & LB_REASON_GATEWAY) && !has(api, "`", r->code, "`"))
			fail_msg("docs/API.md (Check) does not name the reason %s", r->code);
		if ((r->flags & LB_REASON_HOST) && !man_has(pam, r->code))
			fail_msg("pam_lockbox(8) does not name the reason %s", r->code);
		/* "what" is a clause the message goes on after; "todo" a sentence of its own */
		assert_true(wl > 5 && r->what[wl - 1] != '.');
		if (!lb_str_eq(r->code, LB_R_ALLOW))
			assert_true(tl > 5 && r->todo[tl - 1] == '.');
		/* the advice is the table's: no text points at a file users do not have */
		assert_null(strstr(r->what, "DESIGN"));
		assert_null(strstr(r->todo, "DESIGN"));
	}
	assert_true(each_quoted(api, "Reasons: `allow`", "The `decision_id`", known_reason, "the reason") >= 16);
	/* an unknown code still reads as a deny with advice */
	assert_null(lb_reason_find("no_such_reason"));
	assert_string_equal(lb_reason_what("no_such_reason"), "access denied");
	assert_true(strlen(lb_reason_todo("no_such_reason")) > 0);
	assert_string_equal(lb_reason_what(LB_R_REVOKED), "the access request was revoked");
	free(api);
	free(pam);
}

static void test_event_types(void **state)
{
	char *api = slurp("docs/API.md"), *man = slurp("man/lockbox-gatewayd.8");
	int n = 0, host = 0;
	(void)state;
	for (const struct lb_event_type *e = lb_event_types; e->name; e++, n++) {
		if (!has(api, "`", e->name, "`"))
			fail_msg("docs/API.md does not name the event type %s", e->name);
		if (!has(man, ".B ", e->name, ",\n") && !has(man, ".B ", e->name, ".\n"))
			fail_msg("lockbox-gatewayd(8) AUDIT EVENTS does not name %s", e->name);
		if (e->flags & LB_EVENT_HOST) {
			host++;
			assert_true(strncmp(e->name, "session.", 8) == 0 ||
				    strncmp(e->name, "access.check.", 13) == 0);
		}
		assert_true(lb_event_type_known(e->name));
	}
	assert_int_equal(host, 7);
	assert_true(n >= 40);
	assert_true(each_quoted(api, "| types | written by |", NULL, known_event,
				"the event type") >= 40);
	assert_false(lb_event_type_known("session"));
	assert_false(lb_event_type_known(NULL));
	free(api);
	free(man);
}

static void test_roles(void **state)
{
	char *api = slurp("docs/API.md");
	int n = 0;
	(void)state;
	for (const struct lb_role *r = lb_roles; r->name; r++, n++) {
		if (!has(api, "`", r->name, "`"))
			fail_msg("docs/API.md (Roles) does not name the role %s", r->name);
		/* provider roles have no scope; customer roles one */
		assert_true(r->provider ? r->scope == NULL : r->scope != NULL);
	}
	assert_int_equal(n, 7);
	assert_true(each_quoted(api, "| role | side |", NULL, known_role, "the role") >= 7);
	assert_null(lb_role_find("root"));
	free(api);
}

static void test_str_eq(void **state)
{
	(void)state;
	assert_true(lb_str_eq("a", "a"));
	assert_false(lb_str_eq("a", "b"));
	assert_false(lb_str_eq(NULL, "a"));
	assert_false(lb_str_eq("a", NULL));
	assert_false(lb_str_eq(NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_states),     cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_event_types), cmocka_unit_test(test_roles),
		cmocka_unit_test(test_str_eq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
