/*
 * Unit tests for the small shared pieces: util.c (allocation that dies
 * loudly, the cause idiom, integer parsing, constant-time comparison),
 * log.c (levels, filtering, the line format), refresh_error_name, and
 * fetch.c's parsers of the issuer's Date and Retry-After headers, whose
 * results feed the lifetime and back-off arithmetic in milliseconds. The
 * out-of-memory and overflow paths run in check's forked tests, where
 * fatal() may exit.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch.h"
#include "log.h"
#include "refresh.h"
#include "unit.h"
#include "util.h"

/*
 * The failing-allocation tests ask for more than any machine has: under
 * AddressSanitizer that must return NULL (as libc does), not abort.
 */
const char	*__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

START_TEST(test_parse_int)
{
	long long	v = 7;

	ck_assert_int_eq(util_parse_int("42", 0, 100, &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(util_parse_int("-5", -10, 10, &v), 0);
	ck_assert_int_eq(v, -5);
	v = 7;
	ck_assert_int_eq(util_parse_int(NULL, 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int("", 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int("12x", 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int("101", 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int("-1", 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int("99999999999999999999", 0,
	    INT64_MAX, &v), -1);
	/* A failed parse leaves the output alone. */
	ck_assert_int_eq(v, 7);
}
END_TEST

START_TEST(test_timingsafe_eq)
{
	ck_assert(util_timingsafe_eq("abc", 3, "abc", 3));
	ck_assert(!util_timingsafe_eq("abc", 3, "abd", 3));
	ck_assert(!util_timingsafe_eq("abc", 3, "abcd", 4));
	ck_assert(util_timingsafe_eq("", 0, "", 0));
	/* Bytes past the length do not count. */
	ck_assert(util_timingsafe_eq("abX", 2, "abY", 2));
}
END_TEST

START_TEST(test_cause)
{
	char	*cause = NULL;

	ck_assert_int_eq(util_cause(&cause, "%s:%d: %s", "f", 3, "bad"), -1);
	ck_assert_str_eq(cause, "f:3: bad");
	free(cause);
	/* Callers that do not want the words pass NULL. */
	ck_assert_int_eq(util_cause(NULL, "ignored %d", 1), -1);
}
END_TEST

START_TEST(test_alloc)
{
	char	*p, *q;
	int	*a;

	p = xmalloc(0);
	free(p);
	a = xcalloc(0, 4);
	free(a);
	a = xcalloc(4, sizeof *a);
	ck_assert_int_eq(a[3], 0);
	a = xreallocarray(a, 8, sizeof *a);
	a[7] = 1;
	free(a);
	free(xreallocarray(NULL, 0, 0));
	p = xstrndup("abcdef", 3);
	ck_assert_str_eq(p, "abc");
	q = xasprintf("%s-%d", p, 5);
	ck_assert_str_eq(q, "abc-5");
	free(p);
	free(q);
	p = xstrdup("x");
	ck_assert_str_eq(p, "x");
	free(p);
}
END_TEST

/* Each dies with a message instead of returning too little memory. */
START_TEST(test_realloc_overflow)
{
	log_init(LOG_ERR);
	xreallocarray(NULL, SIZE_MAX / 2, 4);
}
END_TEST

START_TEST(test_malloc_fails)
{
	log_init(LOG_ERR);
	xmalloc(SIZE_MAX - 4096);
}
END_TEST

START_TEST(test_calloc_fails)
{
	log_init(LOG_ERR);
	xcalloc(SIZE_MAX / 16, 8);
}
END_TEST

START_TEST(test_realloc_fails)
{
	log_init(LOG_ERR);
	xreallocarray(NULL, SIZE_MAX / 8 - 1, 4);
}
END_TEST

START_TEST(test_log_levels)
{
	ck_assert_int_eq(log_level_parse("error"), LOG_ERR);
	ck_assert_int_eq(log_level_parse("WARNING"), LOG_WARNING);
	ck_assert_int_eq(log_level_parse("info"), LOG_INFO);
	ck_assert_int_eq(log_level_parse("debug"), LOG_DEBUG);
	ck_assert_int_eq(log_level_parse("verbose"), -1);
	ck_assert_str_eq(log_level_name(LOG_DEBUG), "debug");
	ck_assert_str_eq(log_level_name(LOG_EMERG), "unknown");
	log_set_level(LOG_INFO);
	ck_assert_int_eq(log_get_level(), LOG_INFO);
}
END_TEST

/* Runs fn with standard error going to a file; returns what it wrote. */
static char *
check_basics_capture(void (*fn)(void))
{
	char	 path[] = "/tmp/check-basics.XXXXXX", *buf;
	int	 fd, saved;
	FILE	*f;
	long	 n;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	unlink(path);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fdopen(fd, "r");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	buf[fread(buf, 1, (size_t)n, f)] = '\0';
	fclose(f);
	return buf;
}

static void
check_basics_log_some(void)
{
	log_msg(LOG_ERR, "demo", "first %d", 1);
	log_msg(LOG_INFO, NULL, "second");
	log_debug("demo", "hidden at info");
}

START_TEST(test_log_lines)
{
	char	*out;

	unsetenv("JOURNAL_STREAM");
	log_init(LOG_INFO);
	out = check_basics_capture(check_basics_log_some);
	ck_assert_ptr_nonnull(strstr(out, "crvs-tokend["));
	ck_assert_ptr_nonnull(strstr(out, "] error: demo: first 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "] info: second\n"));
	ck_assert_ptr_null(strstr(out, "hidden"));
	free(out);
	log_init(LOG_ERR);
	out = check_basics_capture(check_basics_log_some);
	ck_assert_ptr_null(strstr(out, "second"));
	free(out);
}
END_TEST

START_TEST(test_fatal)
{
	unsetenv("JOURNAL_STREAM");
	log_init(LOG_ERR);
	fatal("cannot go on: %s", "reason");
}
END_TEST

START_TEST(test_refresh_error_name)
{
	ck_assert_str_eq(refresh_error_name(REFRESH_OK), "ok");
	ck_assert_str_eq(refresh_error_name(REFRESH_TRANSIENT), "transient");
	ck_assert_str_eq(refresh_error_name(REFRESH_REJECTED), "rejected");
	ck_assert_str_eq(refresh_error_name(REFRESH_BAD_RESPONSE),
	    "bad response");
	ck_assert_str_eq(refresh_error_name((enum refresh_error)99),
	    "unknown");
}
END_TEST

START_TEST(test_parse_date)
{
	ck_assert_int_eq(fetch_parse_date("Mon, 30 Nov 2026 20:42:12 GMT"),
	    1796071332);
	ck_assert_int_eq(fetch_parse_date("not a date"), -1);
	ck_assert_int_eq(fetch_parse_date(""), -1);
	/* The year 9999 is the last one: later ones would overflow in ms. */
	ck_assert_int_eq(fetch_parse_date("Fri, 31 Dec 9999 23:59:59 GMT"),
	    253402300799LL);
	ck_assert_int_eq(fetch_parse_date("Sat, 01 Jan 10000 00:00:00 GMT"),
	    -1);
	ck_assert_int_eq(fetch_parse_date("Mon, 30 Nov 401202600"), -1);
	ck_assert_int_eq(fetch_parse_date("Mon, 30 Nov 2044292926 "), -1);
}
END_TEST

START_TEST(test_parse_retry_after)
{
	int64_t	now = 1796071332LL * 1000;

	ck_assert_int_eq(fetch_parse_retry_after("30", now), 30000);
	ck_assert_int_eq(fetch_parse_retry_after("  7", now), 7000);
	ck_assert_int_eq(fetch_parse_retry_after("", now), -1);
	ck_assert_int_eq(fetch_parse_retry_after("-5", now), -1);
	ck_assert_int_eq(fetch_parse_retry_after(
	    "Mon, 30 Nov 2026 20:42:22 GMT", now), 10000);
	/* A date already past: retry at once. */
	ck_assert_int_eq(fetch_parse_retry_after(
	    "Mon, 30 Nov 2026 20:42:02 GMT", now), 0);
	/* The fuzzer's finding: a date far past the year 9999 overflowed
	 * the multiplication by 1000; it is now no date at all. */
	ck_assert_int_eq(fetch_parse_retry_after("Mon, 30 Nov 401202600",
	    now), -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("basics");
	TCase	*tc = tcase_create("util");

	tcase_add_test(tc, test_parse_int);
	tcase_add_test(tc, test_timingsafe_eq);
	tcase_add_test(tc, test_cause);
	tcase_add_test(tc, test_alloc);
	tcase_add_exit_test(tc, test_realloc_overflow, 1);
	tcase_add_exit_test(tc, test_malloc_fails, 1);
	tcase_add_exit_test(tc, test_calloc_fails, 1);
	tcase_add_exit_test(tc, test_realloc_fails, 1);
	tcase_add_test(tc, test_log_levels);
	tcase_add_test(tc, test_log_lines);
	tcase_add_exit_test(tc, test_fatal, 1);
	tcase_add_test(tc, test_refresh_error_name);
	tcase_add_test(tc, test_parse_date);
	tcase_add_test(tc, test_parse_retry_after);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
