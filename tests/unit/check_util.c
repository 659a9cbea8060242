/*
 * Tests of daemon/util.c: util_escape, the one function that makes text
 * from outside safe for a log line, a terminal or sd_notify.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "unit.h"

#include "util.h"

static void
escape_is(int at, const char *in, size_t len, size_t max, const char *want)
{
	char	*out = util_escape(in, len, max);

	ck_assert_msg(strcmp(out, want) == 0, "line %d: '%s', not '%s'", at,
	    out, want);
	ck_assert_msg(max == 0 || strlen(out) <= (max < 3 ? 3 : max),
	    "line %d: %zu bytes > %zu",
	    at, strlen(out), max);
	free(out);
}
#define ESCAPE_IS(in, max, want)					\
	escape_is(__LINE__, (in), sizeof(in) - 1, (max), (want))

START_TEST(test_escape_controls)
{
	ESCAPE_IS("", 0, "");
	ESCAPE_IS("plain text, 100% ok", 0, "plain text, 100% ok");
	ESCAPE_IS("a\nb\rc\td", 0, "a\\nb\\rc\\td");
	ESCAPE_IS("\x1b[31mred\x1b[0m", 0, "\\x1b[31mred\\x1b[0m");
	ESCAPE_IS("nul\0in the middle", 0, "nul\\x00in the middle");
	ESCAPE_IS("\x01\x1f\x7f", 0, "\\x01\\x1f\\x7f");
	/* Text that looks like an escape does not pass for one. */
	ESCAPE_IS("a\\nb \\x1b", 0, "a\\\\nb \\\\x1b");
	ESCAPE_IS("\\", 0, "\\\\");
}
END_TEST

static void
controls_is(int at, const char *in, const char *want)
{
	char	*out = util_escape_controls(in, strlen(in), 0), *again;

	ck_assert_msg(strcmp(out, want) == 0, "line %d: '%s', not '%s'", at,
	    out, want);
	/* The last guard is idempotent. */
	again = util_escape_controls(out, strlen(out), 0);
	ck_assert_msg(strcmp(again, out) == 0, "line %d: '%s' again is '%s'",
	    at, out, again);
	free(again);
	free(out);
}
#define CONTROLS_IS(in, want)	controls_is(__LINE__, (in), (want))

/* The final pass (log.c, the CLI): backslashes stay, controls do not. */
START_TEST(test_escape_controls_only)
{
	char	*once, *twice;

	CONTROLS_IS("a\\nb \\x1b", "a\\nb \\x1b");
	CONTROLS_IS("a\nb\x1b", "a\\nb\\x1b");
	CONTROLS_IS("x\xe2\x80\xaey", "x\\u{202e}y");
	/* Issuer text escaped, then the final pass: unchanged by it. */
	once = util_escape("\\x1b \x1b \xe2\x80\x8b", 10, 0);
	ck_assert_str_eq(once, "\\\\x1b \\x1b \\u{200b}");
	twice = util_escape_controls(once, strlen(once), 0);
	ck_assert_str_eq(twice, once);
	free(twice);
	free(once);
}
END_TEST

/* Invisible format characters that can reorder or hide terminal text. */
START_TEST(test_escape_invisible)
{
	ESCAPE_IS("a\xe2\x80\xae" "b", 0, "a\\u{202e}b");	/* RLO */
	ESCAPE_IS("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", 0,
	    "\\u{202a}\\u{202b}\\u{202c}\\u{202d}");
	ESCAPE_IS("\xe2\x81\xa6\xe2\x81\xa9", 0, "\\u{2066}\\u{2069}");
	ESCAPE_IS("\xe2\x80\x8b\xe2\x80\x8f", 0, "\\u{200b}\\u{200f}");
	ESCAPE_IS("\xe2\x80\xa8\xe2\x80\xa9", 0, "\\u{2028}\\u{2029}");
	ESCAPE_IS("\xef\xbb\xbf", 0, "\\u{feff}");
	/* Neighbours stay: the en dash, the euro sign, U+2027. */
	ESCAPE_IS("\xe2\x80\x93\xe2\x82\xac\xe2\x80\xa7", 0,
	    "\xe2\x80\x93\xe2\x82\xac\xe2\x80\xa7");
	/* Never cut in two. */
	ESCAPE_IS("ab\xe2\x80\xae" "cdef", 9, "ab...");
	ESCAPE_IS("ab\xe2\x80\xae" "cdef", 13, "ab\\u{202e}...");
}
END_TEST

START_TEST(test_escape_utf8)
{
	/* Valid UTF-8 stays, 2, 3 and 4 bytes long. */
	ESCAPE_IS("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0,
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* C1 controls (CSI is U+009B), even well encoded. */
	ESCAPE_IS("\xc2\x9b" "31m", 0, "\\xc2\\x9b31m");
	ESCAPE_IS("\xc2\x85", 0, "\\xc2\\x85");
	ESCAPE_IS("\xc2\xa0", 0, "\xc2\xa0");
	/* Raw 8-bit C1, stray continuation bytes, overlong forms,
	 * surrogates, beyond U+10FFFF, a sequence cut short. */
	ESCAPE_IS("\x9b", 0, "\\x9b");
	ESCAPE_IS("\x80\xbf", 0, "\\x80\\xbf");
	ESCAPE_IS("\xc0\xaf", 0, "\\xc0\\xaf");
	ESCAPE_IS("\xe0\x80\xaf", 0, "\\xe0\\x80\\xaf");
	ESCAPE_IS("\xed\xa0\x80", 0, "\\xed\\xa0\\x80");
	ESCAPE_IS("\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80");
	ESCAPE_IS("\xe2\x82", 0, "\\xe2\\x82");
	ESCAPE_IS("\xe2\x82x", 0, "\\xe2\\x82x");
}
END_TEST

START_TEST(test_escape_cut)
{
	/* Fits: untouched. */
	ESCAPE_IS("abcdef", 6, "abcdef");
	/* Longer: cut with "...", within max. */
	ESCAPE_IS("abcdefg", 6, "abc...");
	/* Never an escape or a character cut in two. */
	ESCAPE_IS("ab\x1b" "cdef", 8, "ab...");
	ESCAPE_IS("ab\x1b" "cdef", 9, "ab\\x1b...");
	ESCAPE_IS("a\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 7,
	    "a\xe2\x82\xac...");
	ESCAPE_IS("a\xe2\x82\xac\xe2\x82\xac", 6, "a...");
	/* A tiny max still ends in "...". */
	ESCAPE_IS("abcdef", 1, "...");
	ESCAPE_IS("abcdef", 4, "a...");
}
END_TEST

START_TEST(test_escape_every_byte)
{
	unsigned char	 in[256];
	char		*out;
	size_t		 i;

	for (i = 0; i < sizeof in; i++)
		in[i] = (unsigned char)i;
	out = util_escape((const char *)in, sizeof in, 0);
	for (i = 0; out[i] != '\0'; i++)
		ck_assert_msg((unsigned char)out[i] >= 0x20 &&
		    (unsigned char)out[i] < 0x7f, "byte %02x at %zu",
		    (unsigned char)out[i], i);
	free(out);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("escape");

	tcase_add_test(tc, test_escape_controls);
	tcase_add_test(tc, test_escape_utf8);
	tcase_add_test(tc, test_escape_controls_only);
	tcase_add_test(tc, test_escape_invisible);
	tcase_add_test(tc, test_escape_cut);
	tcase_add_test(tc, test_escape_every_byte);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(util_suite());
}
