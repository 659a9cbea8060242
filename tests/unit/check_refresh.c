/*
 * Tests of daemon/refresh.c (when to refresh, how long to back off, how a
 * failed answer is classified) and of the injectable clock in
 * daemon/clock.c. All arithmetic: the random draw is passed in.
 */
#include "config.h"

#include <stdlib.h>
#include <time.h>

#include <check.h>

#include "unit.h"

#include "clock.h"
#include "refresh.h"

/* The largest double below 1: what rnd is at most. */
#define RND_MAX		0.9999999999999999
#define LIFE		600000	/* OpenCRVS' default token: 600 s */

/* ---- refresh_delay ---- */

START_TEST(test_delay_default_margin)
{
	/* A third of the lifetime is the margin: 600 s -> refresh at 400 s. */
	ck_assert_int_eq(refresh_delay(LIFE, -1, 30, 0.0), 400000);
	ck_assert_int_eq(refresh_delay(LIFE, -1, 0, 0.0), 400000);
	/* The lifetime as the daemon sees it (599 s: one safety second). */
	ck_assert_int_eq(refresh_delay(599000, -1, 30, 0.0), 599000 - 199666);
	/* A one-week token. */
	ck_assert_int_eq(refresh_delay(7 * 86400000LL, -1, 30, 0.0),
	    7 * 86400000LL - 7 * 86400000LL / 3);
}
END_TEST

START_TEST(test_delay_explicit_margin)
{
	ck_assert_int_eq(refresh_delay(LIFE, 120, 30, 0.0), 480000);
	ck_assert_int_eq(refresh_delay(LIFE, 300, 30, 0.0), 300000);
	ck_assert_int_eq(refresh_delay(LIFE, 500, 30, 0.0), 100000);
	/* A margin that leaves less than a tenth of the lifetime (or none):
	 * after a tenth, not in a loop. */
	ck_assert_int_eq(refresh_delay(LIFE, 590, 30, 0.0), LIFE / 10);
	ck_assert_int_eq(refresh_delay(LIFE, 600, 30, 0.0), LIFE / 10);
	ck_assert_int_eq(refresh_delay(LIFE, 900, 30, 0.5), LIFE / 10);
	/* An explicit margin of 0 s still leaves min_valid plus a second. */
	ck_assert_int_eq(refresh_delay(LIFE, 0, 30, 0.0), LIFE - 31000);
}
END_TEST

START_TEST(test_delay_jitter)
{
	int64_t	d, prev = -1, margin = LIFE / 3;
	double	rnd;

	/* With rnd -> 1, at most 20 % of the margin earlier. */
	d = refresh_delay(LIFE, -1, 30, RND_MAX);
	ck_assert_int_ge(d, LIFE - margin - margin / 5);
	ck_assert_int_lt(d, LIFE - margin - margin / 5 + 2);
	d = refresh_delay(LIFE, 120, 30, RND_MAX);
	ck_assert_int_ge(d, 480000 - 24000);
	ck_assert_int_lt(d, 480000 - 24000 + 2);
	ck_assert_int_eq(refresh_delay(LIFE, 120, 30, 0.5), 480000 - 12000);

	/* Over the whole range: never later than the margin, and earlier as
	 * rnd grows. */
	for (rnd = 0.0; rnd < 1.0; rnd += 0.01) {
		d = refresh_delay(LIFE, -1, 30, rnd);
		ck_assert_int_le(d, LIFE - margin);
		ck_assert_int_ge(d, LIFE - margin - margin / 5);
		if (prev != -1)
			ck_assert_int_le(d, prev);
		prev = d;
	}
	/* It does spread: two draws far apart give times far apart. */
	ck_assert_int_ge(refresh_delay(LIFE, -1, 30, 0.0) -
	    refresh_delay(LIFE, -1, 30, 0.9), 35000);
}
END_TEST

START_TEST(test_delay_min_valid_floor)
{
	int64_t	d;
	double	rnd;

	/* A 4 s token with min_valid 1 refreshes by 2 s (1 s + 1 s left). */
	ck_assert_int_eq(refresh_delay(4000, -1, 1, 0.0), 2000);
	/* min_valid 30 on a 90 s token: the margin is 31 s, not 30 s. */
	ck_assert_int_eq(refresh_delay(90000, -1, 30, 0.0), 59000);
	/* An explicit margin smaller than min_valid is raised. */
	ck_assert_int_eq(refresh_delay(LIFE, 5, 30, 0.0), LIFE - 31000);
	/* With jitter the token still has min_valid + 1 s at the refresh. */
	for (rnd = 0.0; rnd < 1.0; rnd += 0.05) {
		d = refresh_delay(4000, -1, 1, rnd);
		ck_assert_int_le(d, 2000);
		ck_assert_int_ge(4000 - d, 2000);
		d = refresh_delay(LIFE, 10, 60, rnd);
		ck_assert_int_ge(LIFE - d, 61000);
	}
}
END_TEST

START_TEST(test_delay_minimum)
{
	/* Never sooner than REFRESH_MIN_DELAY_MS: no busy loop. */
	ck_assert_int_eq(REFRESH_MIN_DELAY_MS, 100);
	ck_assert_int_eq(refresh_delay(500, -1, 30, 0.0), 100);
	ck_assert_int_eq(refresh_delay(0, -1, 0, 0.0), 100);
	ck_assert_int_eq(refresh_delay(1000, -1, 0, RND_MAX), 100);
	/* min_valid + 1 s leaves nothing: a tenth of the lifetime. */
	ck_assert_int_eq(refresh_delay(31000, -1, 30, 0.0), 3100);
	ck_assert_int_eq(refresh_delay(32100, -1, 30, 0.0), 3210);
	ck_assert_int_eq(refresh_delay(42000, -1, 30, 0.0), 11000);
	ck_assert_int_eq(refresh_delay(900, -1, 0, 0.0), 100);
}
END_TEST

/* ---- refresh_backoff ---- */

START_TEST(test_backoff_first_attempt)
{
	double	rnd;
	int64_t	d;

	/* Attempt 1: full jitter over [0, 1 s], floored at 100 ms. */
	for (rnd = 0.0; rnd < 1.0; rnd += 0.01) {
		d = refresh_backoff(1, REFRESH_TRANSIENT, rnd, -1, -1);
		ck_assert_int_ge(d, 100);
		ck_assert_int_le(d, 1000);
	}
	ck_assert_int_eq(refresh_backoff(1, REFRESH_TRANSIENT, 0.0, -1, -1),
	    REFRESH_MIN_DELAY_MS);
	ck_assert_int_eq(refresh_backoff(1, REFRESH_TRANSIENT, 0.5, -1, -1),
	    500);
	ck_assert_int_ge(refresh_backoff(1, REFRESH_TRANSIENT, RND_MAX, -1,
	    -1), 999);
	ck_assert_int_le(refresh_backoff(1, REFRESH_TRANSIENT, RND_MAX, -1,
	    -1), 1000);
	/* A bad response backs off like a transient error. */
	ck_assert_int_eq(refresh_backoff(1, REFRESH_BAD_RESPONSE, 0.5, -1, -1),
	    500);
}
END_TEST

START_TEST(test_backoff_doubles)
{
	static const int64_t	want[] = {
		500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000
	};
	int			attempt;

	for (attempt = 1; attempt <= 9; attempt++)
		ck_assert_int_eq(refresh_backoff(attempt, REFRESH_TRANSIENT,
		    0.5, -1, -1), want[attempt - 1]);
}
END_TEST

START_TEST(test_backoff_cap)
{
	int	attempt;
	int64_t	d;

	ck_assert_int_eq(REFRESH_BACKOFF_CAP_MS, 60000);
	d = refresh_backoff(20, REFRESH_TRANSIENT, RND_MAX, -1, -1);
	ck_assert_int_ge(d, 59999);
	ck_assert_int_le(d, 60000);
	d = refresh_backoff(20, REFRESH_TRANSIENT, 0.999999, -1, -1);
	ck_assert_int_ge(d, 59999);
	ck_assert_int_le(d, 60000);
	/* However many attempts, never more than the cap. */
	for (attempt = 1; attempt <= 1000; attempt++) {
		ck_assert_int_le(refresh_backoff(attempt, REFRESH_TRANSIENT,
		    RND_MAX, -1, -1), 60000);
		ck_assert_int_le(refresh_backoff(attempt, REFRESH_REJECTED,
		    RND_MAX, -1, -1), 60000);
	}
	ck_assert_int_le(refresh_backoff(1 << 30, REFRESH_TRANSIENT, RND_MAX,
	    -1, -1), 60000);
}
END_TEST

START_TEST(test_backoff_rejected)
{
	int64_t	d;

	/* Four steps slower: attempt 1 draws over [0, 16 s]. */
	d = refresh_backoff(1, REFRESH_REJECTED, RND_MAX, -1, -1);
	ck_assert_int_ge(d, 15999);
	ck_assert_int_le(d, 16000);
	ck_assert_int_eq(refresh_backoff(1, REFRESH_REJECTED, 0.5, -1, -1),
	    8000);
	ck_assert_int_eq(refresh_backoff(2, REFRESH_REJECTED, 0.5, -1, -1),
	    16000);
	ck_assert_int_eq(refresh_backoff(3, REFRESH_REJECTED, 0.5, -1, -1),
	    30000);
	ck_assert_int_eq(refresh_backoff(4, REFRESH_REJECTED, 0.5, -1, -1),
	    30000);
	/* Full jitter: a draw of 0 gives the floor, rejected or not. */
	ck_assert_int_eq(refresh_backoff(1, REFRESH_REJECTED, 0.0, -1, -1),
	    REFRESH_MIN_DELAY_MS);
	ck_assert_int_eq(refresh_backoff(12, REFRESH_REJECTED, 0.0, -1, -1),
	    REFRESH_MIN_DELAY_MS);
	ck_assert_int_eq(refresh_backoff(12, REFRESH_TRANSIENT, 0.0, -1, -1),
	    REFRESH_MIN_DELAY_MS);
	ck_assert_int_eq(refresh_backoff(5, REFRESH_TRANSIENT, 0.25, -1, -1),
	    4000);
}
END_TEST

START_TEST(test_backoff_retry_after)
{
	/* Retry-After raises a shorter draw. */
	ck_assert_int_eq(refresh_backoff(1, REFRESH_TRANSIENT, 0.1, 5000, -1),
	    5000);
	ck_assert_int_eq(refresh_backoff(1, REFRESH_TRANSIENT, 0.0, 30000, -1),
	    30000);
	/* ... but does not lower a longer one. */
	ck_assert_int_eq(refresh_backoff(5, REFRESH_TRANSIENT, 0.5, 2000, -1),
	    8000);
	/* ... and is capped at 60 s. */
	ck_assert_int_eq(refresh_backoff(1, REFRESH_TRANSIENT, 0.1, 120000,
	    -1), 60000);
	ck_assert_int_eq(refresh_backoff(1, REFRESH_REJECTED, 0.1, 3600000,
	    -1), 60000);
	/* 0 (retry now) still waits the floor. */
	ck_assert_int_eq(refresh_backoff(1, REFRESH_TRANSIENT, 0.0, 0, -1),
	    REFRESH_MIN_DELAY_MS);
}
END_TEST

START_TEST(test_backoff_until_unservable)
{
	/* Never past the moment the current token stops being servable. */
	ck_assert_int_eq(refresh_backoff(6, REFRESH_TRANSIENT, 0.5, -1, 3000),
	    3000);
	ck_assert_int_eq(refresh_backoff(20, REFRESH_TRANSIENT, RND_MAX, -1,
	    45000), 45000);
	ck_assert_int_eq(refresh_backoff(1, REFRESH_REJECTED, 0.9, -1, 500),
	    500);
	/* Not a millisecond past it. */
	ck_assert_int_eq(refresh_backoff(1, REFRESH_TRANSIENT, 0.5, -1, 499),
	    499);
	ck_assert_int_eq(refresh_backoff(1, REFRESH_TRANSIENT, 0.5, -1, 500),
	    500);
	/* ... even when Retry-After asks for longer. */
	ck_assert_int_eq(refresh_backoff(1, REFRESH_TRANSIENT, 0.1, 30000,
	    10000), 10000);
	/* A later deadline changes nothing. */
	ck_assert_int_eq(refresh_backoff(6, REFRESH_TRANSIENT, 0.5, -1,
	    600000), 16000);
	ck_assert_int_eq(refresh_backoff(1, REFRESH_TRANSIENT, 0.1, 30000,
	    600000), 30000);
	/* -1: no servable token, no deadline. */
	ck_assert_int_eq(refresh_backoff(7, REFRESH_TRANSIENT, 0.5, -1, -1),
	    30000);
}
END_TEST

/* ---- classification ---- */

START_TEST(test_classify_status)
{
	static const long	rejected[] = { 400, 401, 403, 404, 405, 415,
		422, 499 };
	static const long	transient[] = { 0, 408, 429, 500, 502, 503,
		504, 599 };
	size_t			i;

	for (i = 0; i < sizeof rejected / sizeof rejected[0]; i++)
		ck_assert_msg(refresh_classify_status(rejected[i]) ==
		    REFRESH_REJECTED, "%ld is not rejected", rejected[i]);
	for (i = 0; i < sizeof transient / sizeof transient[0]; i++)
		ck_assert_msg(refresh_classify_status(transient[i]) ==
		    REFRESH_TRANSIENT, "%ld is not transient", transient[i]);
}
END_TEST

START_TEST(test_error_name)
{
	ck_assert_str_eq(refresh_error_name(REFRESH_OK), "ok");
	ck_assert_str_eq(refresh_error_name(REFRESH_TRANSIENT), "transient");
	ck_assert_str_eq(refresh_error_name(REFRESH_REJECTED), "rejected");
	ck_assert_str_eq(refresh_error_name(REFRESH_BAD_RESPONSE),
	    "bad response");
	ck_assert_str_eq(refresh_error_name((enum refresh_error)42),
	    "unknown");
}
END_TEST

/* ---- the injected clock ---- */

static int64_t	fake_boot_now;
static int64_t	fake_wall_now;

static int64_t
fake_boot(void)
{
	return fake_boot_now;
}

static int64_t
fake_wall(void)
{
	return fake_wall_now;
}

static int64_t
real_ms(clockid_t id)
{
	struct timespec	ts;

	ck_assert_int_eq(clock_gettime(id, &ts), 0);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_clock_injected)
{
	int64_t	before, now, after;

	fake_boot_now = 5000;
	fake_wall_now = 1700000000000LL;
	clock_set_source(fake_boot, fake_wall);
	ck_assert_int_eq(clock_boot_ms(), 5000);
	ck_assert_int_eq(clock_wall_ms(), 1700000000000LL);
	/* Time moves only when the test moves it. */
	ck_assert_int_eq(clock_boot_ms(), 5000);
	fake_boot_now += 600000;
	fake_wall_now -= 3600000;	/* the wall clock is set back */
	ck_assert_int_eq(clock_boot_ms(), 605000);
	ck_assert_int_eq(clock_wall_ms(), 1700000000000LL - 3600000);

	/* NULL restores the real clocks. */
	clock_set_source(NULL, NULL);
	before = real_ms(CLOCK_BOOTTIME);
	now = clock_boot_ms();
	after = real_ms(CLOCK_BOOTTIME);
	ck_assert_int_ge(now, before);
	ck_assert_int_le(now, after);
	before = real_ms(CLOCK_REALTIME);
	now = clock_wall_ms();
	after = real_ms(CLOCK_REALTIME);
	ck_assert_int_ge(now, before);
	ck_assert_int_le(now, after);
	ck_assert_int_gt(now, 1600000000000LL);
}
END_TEST

static Suite *
refresh_suite(void)
{
	Suite	*s = suite_create("refresh");
	TCase	*tc;

	tc = tcase_create("delay");
	tcase_add_test(tc, test_delay_default_margin);
	tcase_add_test(tc, test_delay_explicit_margin);
	tcase_add_test(tc, test_delay_jitter);
	tcase_add_test(tc, test_delay_min_valid_floor);
	tcase_add_test(tc, test_delay_minimum);
	suite_add_tcase(s, tc);

	tc = tcase_create("backoff");
	tcase_add_test(tc, test_backoff_first_attempt);
	tcase_add_test(tc, test_backoff_doubles);
	tcase_add_test(tc, test_backoff_cap);
	tcase_add_test(tc, test_backoff_rejected);
	tcase_add_test(tc, test_backoff_retry_after);
	tcase_add_test(tc, test_backoff_until_unservable);
	suite_add_tcase(s, tc);

	tc = tcase_create("classify");
	tcase_add_test(tc, test_classify_status);
	tcase_add_test(tc, test_error_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("clock");
	tcase_add_test(tc, test_clock_injected);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return unit_run(refresh_suite());
}
