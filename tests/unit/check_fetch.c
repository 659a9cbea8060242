/*
 * Unit tests for fetch.c's pure parsers of the issuer's headers: Date
 * (fetch_parse_date) and Retry-After (fetch_parse_retry_after), whose
 * results feed the lifetime and back-off arithmetic in milliseconds.
 */
#include "config.h"

#include <stdint.h>

#include "fetch.h"
#include "unit.h"

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
	Suite	*s = suite_create("fetch");
	TCase	*tc = tcase_create("headers");

	tcase_add_test(tc, test_parse_date);
	tcase_add_test(tc, test_parse_retry_after);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
