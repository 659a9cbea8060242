/*
 * Tests of daemon/client.c: a client driven through every state with the
 * fake clock and the fake fetch of unit.h, in milliseconds. Each test says
 * what a caller of the daemon would see: the answer to its request, the
 * requests the issuer got, and the state that status shows.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#define UNIT_CLIENT
#include "unit.h"

#include "client.h"
#include "clock.h"
#include "conf.h"
#include "log.h"
#include "refresh.h"

#define RND_MAX		0.9999999999999999
#define WAIT_MS		12000	/* what api.c gives a request: timeout + 2 s */

static double	pinned_rnd;

static double
pinned(void)
{
	return pinned_rnd;
}

static struct conf_client	*cc;
static struct client		*cl;
static int			 observed;
static int			 hook_installs, hook_drops;
static char			 hook_token[256];

static void
observer_cb(void *arg, struct client *c)
{
	observed++;
}

static void
hook_cb(void *arg, struct client *c, const struct client_token *t)
{
	if (t != NULL) {
		hook_installs++;
		memcpy(hook_token, t->token, t->len);
		hook_token[t->len] = '\0';
	} else {
		hook_drops++;
		hook_token[0] = '\0';
	}
}

static void
setup(void)
{
	unit_client_setup();
	log_set_level(getenv("UNIT_DEBUG") != NULL ? LOG_DEBUG : LOG_ERR);
	pinned_rnd = 0.0;
	client_set_random(pinned);
	cc = unit_conf("demo");
	cl = NULL;
	observed = hook_installs = hook_drops = 0;
}

static void
teardown(void)
{
	client_free(cl);
	unit_conf_free(cc);
	unit_client_teardown();
}

/* A new client and its first token (600 s), requested now. */
static void
start_valid(const char *token)
{
	cl = client_new(NULL, NULL, cc, observer_cb, NULL);
	client_set_token_hook(cl, hook_cb, NULL);
	unit_answer_token(token, 600);
	ck_assert_str_eq(client_state(cl), "valid");
}

static struct client_waiter *
ask(struct unit_answer *a, int min_valid, int force, const char *rejected)
{
	memset(a, 0, sizeof *a);
	return client_get_token(cl, min_valid, force, rejected,
	    rejected != NULL ? strlen(rejected) : 0, WAIT_MS, unit_answer_cb,
	    a);
}

/* Asks and expects an answer at once. */
static void
ask_now(struct unit_answer *a, int min_valid, int force, const char *rejected)
{
	ck_assert_ptr_null(ask(a, min_valid, force, rejected));
	ck_assert_int_eq(a->calls, 1);
}

static int64_t
status_int(const char *key)
{
	json_object	*o = client_status_json(cl), *v;
	int64_t		 n = -1;

	if (json_object_object_get_ex(o, key, &v) && v != NULL)
		n = json_object_get_int64(v);
	json_object_put(o);
	return n;
}

/* ---- starting, valid, single flight ---- */

START_TEST(test_start_then_valid)
{
	struct unit_answer	a;

	cl = client_new(NULL, NULL, cc, observer_cb, NULL);
	client_set_token_hook(cl, hook_cb, NULL);
	ck_assert_int_eq(client_get_state(cl), CLIENT_STARTING);
	ck_assert_str_eq(client_state(cl), "starting");
	ck_assert_int_eq(unit_fetch.n, 1);
	ck_assert(!client_servable(cl));
	ck_assert(!client_attempted(cl));
	ck_assert_uint_eq(client_token_generation(cl), 0);

	unit_answer_token("tok-1", 600);
	ck_assert_int_eq(client_get_state(cl), CLIENT_VALID);
	ck_assert(client_servable(cl));
	ck_assert(client_attempted(cl));
	ck_assert_int_eq(observed, 1);
	ck_assert_int_eq(hook_installs, 1);
	ck_assert_str_eq(hook_token, "tok-1");
	ck_assert_uint_eq(client_token_generation(cl), 1);

	ask_now(&a, 0, 0, NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.token, "tok-1");
	ck_assert_int_eq(a.expires_in_ms, 600000);
	ck_assert_ptr_eq(a.client, cl);
	/* Reads cost the issuer nothing. */
	unit_advance(1000);
	ask_now(&a, 0, 0, NULL);
	ck_assert_int_eq(a.expires_in_ms, 599000);
	ck_assert_int_eq(unit_fetch.n, 1);
}
END_TEST

START_TEST(test_single_flight)
{
	struct unit_answer	a[20];
	int			i;

	cl = client_new(NULL, NULL, cc, observer_cb, NULL);
	for (i = 0; i < 20; i++)
		ck_assert_ptr_nonnull(ask(&a[i], 0, i % 2, NULL));
	ck_assert_int_eq(unit_fetch.n, 1);
	unit_advance(500);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(a[i].calls, 0);
	unit_answer_token("tok-1", 600);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(a[i].calls, 1);
		ck_assert_int_eq(a[i].status, 200);
		ck_assert_str_eq(a[i].token, "tok-1");
	}
	ck_assert_int_eq(unit_fetch.n, 1);
	/* Nothing fires later for the answered waiters. */
	unit_advance(WAIT_MS * 2);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(a[i].calls, 1);
}
END_TEST

START_TEST(test_waiter_timeout)
{
	struct unit_answer	a, b;
	struct client_waiter	*w;

	cl = client_new(NULL, NULL, cc, observer_cb, NULL);
	ck_assert_ptr_nonnull(ask(&a, 0, 0, NULL));
	unit_advance(4000);
	w = ask(&b, 0, 0, NULL);
	ck_assert_ptr_nonnull(w);
	unit_advance(WAIT_MS - 4000 - 1);
	ck_assert_int_eq(a.calls, 0);
	unit_advance(1);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.status, 504);
	ck_assert_ptr_nonnull(strstr(a.message, "in time"));
	ck_assert_int_eq(b.calls, 0);
	/* A cancelled waiter (the caller hung up) is never answered. */
	client_waiter_cancel(w);
	unit_advance(WAIT_MS);
	ck_assert_int_eq(b.calls, 0);
	/* The fetch was not abandoned: its answer still installs. */
	ck_assert_int_eq(unit_open(), 1);
	unit_answer_token("tok-1", 600);
	ck_assert_str_eq(client_state(cl), "valid");
	ck_assert_int_eq(unit_fetch.n, 1);
}
END_TEST

/* ---- refresh scheduling ---- */

START_TEST(test_refresh_schedule)
{
	struct unit_answer	a;

	/* Default margin: a third; rnd 0 -> the latest moment, 400 s. */
	start_valid("tok-1");
	ck_assert_int_eq(client_next_fetch_in(cl), 400000);
	unit_advance(400000 - 1);
	ck_assert_int_eq(unit_fetch.n, 1);
	unit_advance(1);
	ck_assert_int_eq(unit_fetch.n, 2);
	/* A proactive refresh: still valid, the old token still served. */
	ck_assert_str_eq(client_state(cl), "valid");
	ask_now(&a, 0, 0, NULL);
	ck_assert_str_eq(a.token, "tok-1");
	unit_answer_token("tok-2", 600);
	ask_now(&a, 0, 0, NULL);
	ck_assert_str_eq(a.token, "tok-2");
	ck_assert_uint_eq(client_token_generation(cl), 2);
	ck_assert_int_eq(hook_installs, 2);
}
END_TEST

START_TEST(test_refresh_jitter_bounds)
{
	int	i;

	/* Full jitter of 20 % of the margin, earlier only. */
	cc->refresh_margin = 120;
	pinned_rnd = RND_MAX;
	start_valid("tok-1");
	ck_assert_int_ge(client_next_fetch_in(cl), 600000 - 120000 - 24000);
	ck_assert_int_lt(client_next_fetch_in(cl), 600000 - 120000 - 23999 + 1);
	client_free(cl);
	cl = NULL;
	client_set_random(NULL);
	srand48(7);
	for (i = 0; i < 200; i++) {
		unit_fetch.n = 0;
		cl = client_new(NULL, NULL, cc, NULL, NULL);
		unit_answer_token("tok", 600);
		ck_assert_int_ge(client_next_fetch_in(cl), 600000 - 144000);
		ck_assert_int_le(client_next_fetch_in(cl), 600000 - 120000);
		client_free(cl);
		cl = NULL;
	}
}
END_TEST

START_TEST(test_reload_replans)
{
	struct unit_answer	a;

	start_valid("tok-1");
	ck_assert_int_eq(client_next_fetch_in(cl), 400000);
	unit_advance(100000);
	/* A new margin: the refresh moves, counted from the old request. */
	cc->refresh_margin = 60;
	client_set_conf(cl, cc);
	ck_assert_int_eq(client_next_fetch_in(cl), 540000 - 100000);
	ck_assert_int_eq(unit_fetch.n, 1);
	/* A min_valid above what the token has left: it is no longer served,
	 * and the refresh starts at once. */
	cc->min_valid = 550;
	client_set_conf(cl, cc);
	ck_assert(!client_servable(cl));
	ck_assert_int_eq(hook_drops, 1);
	ck_assert_str_eq(client_state(cl), "expired");
	unit_advance(1);
	ck_assert_int_eq(unit_fetch.n, 2);
	ck_assert_str_eq(client_state(cl), "refreshing");
	ck_assert_ptr_nonnull(ask(&a, 0, 0, NULL));
	unit_answer_token("tok-2", 600);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.token, "tok-2");
	ck_assert_str_eq(client_state(cl), "valid");
}
END_TEST

/* ---- min_valid ---- */

START_TEST(test_min_valid_above_remaining)
{
	struct unit_answer	a, b;

	start_valid("tok-1");
	unit_advance(300000);		/* 300 s left */
	ck_assert_ptr_nonnull(ask(&a, 400, 0, NULL));
	ck_assert_int_eq(unit_fetch.n, 2);
	/* Another caller with a lesser need still gets the current one. */
	ask_now(&b, 100, 0, NULL);
	ck_assert_str_eq(b.token, "tok-1");
	unit_answer_token("tok-2", 600);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.token, "tok-2");
	ck_assert_int_ge(a.expires_in_ms, 400000);
	/* The request's min_valid is never below the client's. */
	unit_advance(600000 - 29999);
	ask(&a, 0, 0, NULL);
	ck_assert_int_eq(a.calls, 0);
	/* It gets the next token (and no waiter outlives this frame). */
	unit_answer_token("tok-3", 600);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_str_eq(a.token, "tok-3");
}
END_TEST

START_TEST(test_min_valid_above_lifetime)
{
	struct unit_answer	a;

	start_valid("tok-1");
	ask_now(&a, 600, 0, NULL);	/* 600 s left: exactly enough */
	ck_assert_int_eq(a.status, 200);
	unit_advance(1);
	ask_now(&a, 600, 0, NULL);
	ck_assert_int_eq(a.status, 503);
	ck_assert_ptr_nonnull(strstr(a.message, "live 600 s"));
	ask_now(&a, 601, 1, NULL);
	ck_assert_int_eq(a.status, 503);
	ck_assert_int_eq(unit_fetch.n, 1);
	/* Before the first token the lifetime is unknown: the fetch tells,
	 * and the waiter learns it. */
	client_free(cl);
	cl = client_new(NULL, NULL, cc, NULL, NULL);
	ck_assert_ptr_nonnull(ask(&a, 700, 0, NULL));
	unit_answer_token("tok-2", 600);
	ck_assert_int_eq(a.status, 503);
	ck_assert_ptr_nonnull(strstr(a.message, "live 600 s"));
}
END_TEST

START_TEST(test_short_token_is_a_failure)
{
	struct unit_answer	a;

	cl = client_new(NULL, NULL, cc, NULL, NULL);
	ck_assert_ptr_nonnull(ask(&a, 0, 0, NULL));
	unit_answer_token("tok-1", 30);		/* not more than min_valid */
	ck_assert_int_eq(a.status, 503);
	ck_assert_str_eq(client_state(cl), "unavailable");
	ck_assert_ptr_nonnull(strstr(client_last_error(cl), "min_valid"));
	ck_assert_int_gt(client_next_fetch_in(cl), 0);
}
END_TEST

/* ---- failures ---- */

START_TEST(test_backoff_and_cap)
{
	static const int64_t	caps[] = { 1000, 2000, 4000, 8000, 16000,
	    32000, 60000, 60000, 60000 };
	struct unit_answer	a;
	size_t			i;

	pinned_rnd = RND_MAX;
	cl = client_new(NULL, NULL, cc, observer_cb, NULL);
	for (i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		ck_assert_int_eq(unit_fetch.n, (int)i + 1);
		unit_answer_status(503, -1);
		ck_assert_str_eq(client_state(cl), "unavailable");
		ck_assert_int_eq(status_int("consecutive_failures"), i + 1);
		/* Full jitter up to the cap: rnd -> 1 waits the whole cap. */
		ck_assert_int_le(client_next_fetch_in(cl), caps[i]);
		ck_assert_int_ge(client_next_fetch_in(cl), caps[i] - 1);
		/* Callers are answered at once and start nothing. */
		ask_now(&a, 0, 0, NULL);
		ck_assert_int_eq(a.status, 503);
		ck_assert_ptr_nonnull(strstr(a.message, "HTTP 503"));
		ck_assert_ptr_nonnull(strstr(a.message, "next attempt"));
		ask_now(&a, 0, 1, NULL);
		ck_assert_int_eq(a.status, 503);
		ck_assert_int_eq(unit_fetch.n, (int)i + 1);
		unit_advance(client_next_fetch_in(cl));
	}
	ck_assert_int_eq(observed, (int)i);
}
END_TEST

START_TEST(test_backoff_jitter_floor)
{
	/* rnd 0: the shortest wait, 100 ms, not a tight loop. */
	cl = client_new(NULL, NULL, cc, NULL, NULL);
	unit_answer_error("Connection refused");
	ck_assert_int_eq(client_next_fetch_in(cl), REFRESH_MIN_DELAY_MS);
	ck_assert_ptr_nonnull(strstr(client_last_error(cl),
	    "Connection refused"));
	unit_advance(REFRESH_MIN_DELAY_MS - 1);
	ck_assert_int_eq(unit_fetch.n, 1);
	unit_advance(1);
	ck_assert_int_eq(unit_fetch.n, 2);
	/* Rejections start four doublings later: 16 s. */
	pinned_rnd = 0.5;
	unit_answer_status(401, -1);
	ck_assert_str_eq(client_state(cl), "rejected");
	ck_assert_int_eq(client_next_fetch_in(cl), 16000);
}
END_TEST

START_TEST(test_retry_after)
{
	cl = client_new(NULL, NULL, cc, NULL, NULL);
	unit_answer_status(429, 30000);
	ck_assert_str_eq(client_state(cl), "unavailable");
	ck_assert_int_eq(client_next_fetch_in(cl), 30000);
	unit_advance(29999);
	ck_assert_int_eq(unit_fetch.n, 1);
	unit_advance(1);
	ck_assert_int_eq(unit_fetch.n, 2);
	/* Beyond the cap: the cap. */
	unit_answer_status(503, 3600000);
	ck_assert_int_eq(client_next_fetch_in(cl), 60000);
}
END_TEST

START_TEST(test_failure_serves_previous_then_503)
{
	struct unit_answer	a, f;

	start_valid("tok-1");
	unit_advance(client_next_fetch_in(cl));	/* 400 s: the refresh */
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_answer_status(500, -1);
	ck_assert_str_eq(client_state(cl), "retrying");
	ask_now(&a, 0, 0, NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.token, "tok-1");
	/* A forced refresh never quietly gets the old token. */
	ask_now(&f, 0, 1, NULL);
	ck_assert_int_eq(f.status, 503);
	ck_assert_ptr_nonnull(strstr(f.message, "no new token"));
	/* The issuer stays down: retries until the token is no longer
	 * servable (170 s: 200 s left minus min_valid 30). */
	pinned_rnd = RND_MAX;
	while (client_servable(cl)) {
		ask_now(&a, 0, 0, NULL);
		ck_assert_str_eq(a.token, "tok-1");
		ck_assert_int_ge(a.expires_in_ms, 30000);
		unit_advance(client_next_fetch_in(cl));
		if (unit_open() > 0)
			unit_answer_status(502, -1);
	}
	ck_assert_str_eq(client_state(cl), "unavailable");
	ck_assert_int_eq(hook_drops, 1);
	ask_now(&a, 0, 0, NULL);
	ck_assert_int_eq(a.status, 503);
	ck_assert_ptr_nonnull(strstr(a.message, "HTTP 502"));
	ck_assert_int_eq(status_int("expires_in"), -1);
}
END_TEST

START_TEST(test_backoff_never_past_servable)
{
	start_valid("tok-1");
	/* 40 s before the end of the servable time (600 - 30 - 40). */
	unit_advance(530000);
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_answer_status(503, 120000);	/* Retry-After: 120 */
	ck_assert_str_eq(client_state(cl), "retrying");
	ck_assert_int_le(client_next_fetch_in(cl), 40000);
	pinned_rnd = RND_MAX;
	unit_advance(client_next_fetch_in(cl));
	ck_assert_int_eq(unit_fetch.n, 3);
	unit_answer_status(503, 120000);
	ck_assert_int_le(client_next_fetch_in(cl), 40000);
}
END_TEST

START_TEST(test_success_resets_backoff)
{
	pinned_rnd = RND_MAX;
	cl = client_new(NULL, NULL, cc, NULL, NULL);
	unit_answer_status(503, -1);
	unit_advance(client_next_fetch_in(cl));
	unit_answer_status(503, -1);
	unit_advance(client_next_fetch_in(cl));
	unit_answer_status(503, -1);
	ck_assert_int_ge(client_next_fetch_in(cl), 3999);
	unit_advance(client_next_fetch_in(cl));
	unit_answer_token("tok-1", 600);
	ck_assert_str_eq(client_state(cl), "valid");
	ck_assert_int_eq(status_int("consecutive_failures"), 0);
	ck_assert_int_eq(status_int("failures"), 3);
	ck_assert_ptr_null(client_last_error(cl) != NULL &&
	    status_int("consecutive_failures") > 0 ? "" : NULL);
	/* The next failure starts again at 1 s. */
	unit_advance(client_next_fetch_in(cl));
	unit_answer_status(503, -1);
	ck_assert_str_eq(client_state(cl), "retrying");
	ck_assert_int_le(client_next_fetch_in(cl), 1000);
}
END_TEST

START_TEST(test_fetch_cannot_start)
{
	struct unit_answer	a;

	unit_fetch.refuse = 1;
	cl = client_new(NULL, NULL, cc, observer_cb, NULL);
	ck_assert_str_eq(client_state(cl), "unavailable");
	ck_assert(client_attempted(cl));
	ck_assert_int_eq(observed, 1);
	ask_now(&a, 0, 0, NULL);
	ck_assert_int_eq(a.status, 503);
	ck_assert_ptr_nonnull(strstr(a.message, "cannot resolve"));
	unit_fetch.refuse = 0;
	unit_advance(client_next_fetch_in(cl));
	ck_assert_int_eq(unit_fetch.n, 1);
	unit_answer_token("tok-1", 600);
	ck_assert_str_eq(client_state(cl), "valid");
}
END_TEST

START_TEST(test_rejected_then_valid)
{
	struct unit_answer	a;

	cl = client_new(NULL, NULL, cc, NULL, NULL);
	ck_assert_ptr_nonnull(ask(&a, 0, 0, NULL));
	unit_answer_status(401, -1);
	ck_assert_int_eq(a.status, 503);
	ck_assert_ptr_nonnull(strstr(a.message, "rejected by issuer"));
	ck_assert_str_eq(client_state(cl), "rejected");
	unit_advance(client_next_fetch_in(cl));
	unit_answer_token("tok-1", 600);
	ck_assert_str_eq(client_state(cl), "valid");
}
END_TEST

/* ---- suspend and clock jumps ---- */

START_TEST(test_suspend_never_serves_expired)
{
	struct unit_answer	a;

	start_valid("tok-1");
	/* Suspended for 15 minutes: nothing fired meanwhile. */
	unit_jump(900000);
	ck_assert(!client_servable(cl));
	ck_assert_int_eq(status_int("expires_in"), -1);
	ck_assert_ptr_nonnull(ask(&a, 0, 0, NULL));
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(unit_fetch.n, 2);
	ck_assert_str_eq(client_state(cl), "refreshing");
	clock_run_due();		/* the late timers: nothing more */
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_answer_token("tok-2", 600);
	ck_assert_str_eq(a.token, "tok-2");
	ck_assert_str_eq(client_state(cl), "valid");
}
END_TEST

START_TEST(test_suspend_timers_refresh)
{
	struct unit_answer	a;

	start_valid("tok-1");
	/* Resumed 20 s before expiry: the timers fire at once; the token
	 * (under min_valid) is dropped and one refresh starts. */
	unit_jump(580000);
	clock_run_due();
	ck_assert_int_eq(hook_drops, 1);
	ck_assert_int_eq(unit_fetch.n, 2);
	ck_assert_str_eq(client_state(cl), "refreshing");
	ask(&a, 0, 0, NULL);
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_answer_token("tok-2", 600);
	ck_assert_str_eq(a.token, "tok-2");
	/* The refresh as late as it goes (min_valid + 1 s before expiry),
	 * and a pause across it: expired until the loop runs again. */
	cc->refresh_margin = 1;
	client_set_conf(cl, cc);
	ck_assert_int_eq(client_next_fetch_in(cl), 569000);
	unit_advance(568000);
	unit_jump(1500);		/* the refresh is due, not yet run */
	ck_assert_str_eq(client_state(cl), "valid");
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_jump(1000);		/* 570.5 s: under min_valid */
	ck_assert_str_eq(client_state(cl), "expired");
	ck_assert(!client_servable(cl));
	clock_run_due();
	ck_assert_str_eq(client_state(cl), "refreshing");
	ck_assert_int_eq(unit_fetch.n, 3);
	unit_answer_token("tok-3", 600);
	ck_assert_str_eq(client_state(cl), "valid");
}
END_TEST

/* ---- forced refreshes ---- */

START_TEST(test_forced_refresh_rate_limit)
{
	struct unit_answer	a;

	start_valid("tok-1");
	/* Within refresh_min_interval (10 s) of the fetch: the token just
	 * fetched, and no request. */
	unit_advance(9999);
	ask_now(&a, 0, 1, NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.token, "tok-1");
	ck_assert_int_eq(unit_fetch.n, 1);
	/* After it: a real refresh. */
	unit_advance(1);
	ck_assert_ptr_nonnull(ask(&a, 0, 1, NULL));
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_answer_token("tok-2", 600);
	ck_assert_str_eq(a.token, "tok-2");
	/* A report of the current token waits for refresh_min_interval
	 * after its install, then gets the replacement. */
	ck_assert_ptr_nonnull(ask(&a, 0, 1, "tok-2"));
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_advance(9999);
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_advance(1);
	ck_assert_int_eq(unit_fetch.n, 3);
	unit_answer_token("tok-3", 600);
	ck_assert_str_eq(a.token, "tok-3");
	/* refresh_min_interval = 0: every forced refresh asks. */
	cc->refresh_min_interval = 0;
	client_set_conf(cl, cc);
	ck_assert_ptr_nonnull(ask(&a, 0, 1, NULL));
	ck_assert_int_eq(unit_fetch.n, 4);
	unit_answer_token("tok-4", 600);
	ck_assert_str_eq(a.token, "tok-4");
}
END_TEST

/* ---- rejected tokens ---- */

START_TEST(test_rejected_current_token)
{
	struct unit_answer	r1, r2, other, st;
	json_object		*o, *v;

	start_valid("tok-1");
	unit_advance(20000);
	ck_assert_ptr_nonnull(ask(&r1, 0, 1, "tok-1"));
	ck_assert_int_eq(unit_fetch.n, 2);
	ck_assert(client_replacement_pending(cl));
	o = client_status_json(cl);
	ck_assert(json_object_object_get_ex(o, "replacement_pending", &v));
	ck_assert(json_object_get_boolean(v));
	json_object_put(o);
	/* Others keep it until the replacement is there; a second reporter
	 * joins the same fetch. */
	ask_now(&other, 0, 0, NULL);
	ck_assert_str_eq(other.token, "tok-1");
	ck_assert_str_eq(client_state(cl), "valid");
	ck_assert_ptr_nonnull(ask(&r2, 0, 1, "tok-1"));
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_answer_token("tok-2", 600);
	ck_assert_str_eq(r1.token, "tok-2");
	ck_assert_str_eq(r2.token, "tok-2");
	ck_assert(!client_replacement_pending(cl));
	ask_now(&other, 0, 0, NULL);
	ck_assert_str_eq(other.token, "tok-2");
	/* A late report of the replaced token: the current one, no request. */
	ask_now(&st, 0, 1, "tok-1");
	ck_assert_str_eq(st.token, "tok-2");
	ck_assert_int_eq(unit_fetch.n, 2);
	ck_assert_str_eq(hook_token, "tok-2");
}
END_TEST

START_TEST(test_rejected_while_issuer_fails)
{
	struct unit_answer	r, other;

	start_valid("tok-1");
	unit_advance(20000);
	ck_assert_ptr_nonnull(ask(&r, 0, 1, "tok-1"));
	unit_answer_status(503, 10000);
	/* The reporter is told; everyone else keeps the token. */
	ck_assert_int_eq(r.status, 503);
	ck_assert_ptr_nonnull(strstr(r.message, "no new token"));
	ck_assert_str_eq(client_state(cl), "retrying");
	ck_assert(client_replacement_pending(cl));
	ask_now(&other, 0, 0, NULL);
	ck_assert_int_eq(other.status, 200);
	ck_assert_str_eq(other.token, "tok-1");
	/* Reporting again while backing off: 503 at once, no request. */
	ask_now(&r, 0, 1, "tok-1");
	ck_assert_int_eq(r.status, 503);
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_advance(10000);
	ck_assert_int_eq(unit_fetch.n, 3);
	unit_answer_token("tok-2", 600);
	ck_assert(!client_replacement_pending(cl));
	ask_now(&other, 0, 0, NULL);
	ck_assert_str_eq(other.token, "tok-2");
}
END_TEST

START_TEST(test_rejected_remint)
{
	struct unit_answer	r, other, f;

	/* The issuer re-mints the same string within its second. */
	start_valid("tok-1");
	unit_advance(20000);
	ck_assert_ptr_nonnull(ask(&r, 0, 1, "tok-1"));
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_answer_token("tok-1", 600);
	/* Not handed back: the reporter waits, the next ask is 1.1 s away
	 * and is not brought forward. */
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(client_next_fetch_in(cl), 1100);
	ck_assert_ptr_nonnull(ask(&f, 0, 1, "tok-1"));
	ck_assert_int_eq(unit_fetch.n, 2);
	ask_now(&other, 0, 0, NULL);
	ck_assert_str_eq(other.token, "tok-1");
	unit_advance(1099);
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_advance(1);
	ck_assert_int_eq(unit_fetch.n, 3);
	unit_answer_token("tok-2", 600);
	ck_assert_str_eq(r.token, "tok-2");
	ck_assert_str_eq(f.token, "tok-2");
	ck_assert_str_eq(client_state(cl), "valid");
}
END_TEST

START_TEST(test_rejected_remint_gives_up)
{
	struct unit_answer	r, other;

	start_valid("tok-1");
	unit_advance(20000);
	ck_assert_ptr_nonnull(ask(&r, 0, 1, "tok-1"));
	unit_answer_token("tok-1", 600);
	unit_advance(1100);
	unit_answer_token("tok-1", 600);
	ck_assert_int_eq(r.calls, 0);
	unit_advance(1100);
	ck_assert_int_eq(unit_fetch.n, 4);
	unit_answer_token("tok-1", 600);	/* the third: a bad response */
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.status, 503);
	ck_assert_ptr_nonnull(strstr(r.message, "handing back"));
	ck_assert_str_eq(client_state(cl), "retrying");
	ask_now(&other, 0, 0, NULL);
	ck_assert_str_eq(other.token, "tok-1");
	ck_assert_int_eq(unit_fetch.n, 4);
}
END_TEST


/*
 * A reader that reports each replacement as soon as it gets it: one fetch
 * per refresh_min_interval, not one per round trip. The reporter never
 * gets its reported token back; others keep getting it meanwhile.
 */
START_TEST(test_rejected_report_loop_limited)
{
	struct unit_answer	r, other;
	char			 tok[32], prev[32];
	int			 i;

	start_valid("tok-0");
	unit_advance(20000);
	snprintf(prev, sizeof prev, "tok-0");
	for (i = 1; i <= 5; i++) {
		int64_t	t0 = unit_boot_now;

		ck_assert_ptr_nonnull(ask(&r, 0, 1, prev));
		if (i == 1)
			ck_assert_int_eq(unit_fetch.n, 2);	/* at once */
		else {
			ck_assert_int_eq(unit_fetch.n, i);
			ask_now(&other, 0, 0, NULL);
			ck_assert_str_eq(other.token, prev);
			unit_advance(cc->refresh_min_interval * 1000 - 1);
			ck_assert_int_eq(unit_fetch.n, i);
			ck_assert_int_eq(r.calls, 0);
			unit_advance(1);
			ck_assert_int_eq(unit_fetch.n, i + 1);
			ck_assert_int_eq(unit_boot_now - t0,
			    cc->refresh_min_interval * 1000);
		}
		snprintf(tok, sizeof tok, "tok-%d", i);
		unit_answer_token(tok, 600);
		ck_assert_int_eq(r.calls, 1);
		ck_assert_str_eq(r.token, tok);
		snprintf(prev, sizeof prev, "%s", tok);
	}
}
END_TEST

/* A report held to refresh_min_interval outlives a short wait: the
 * reporter times out, the planned fetch still happens. */
START_TEST(test_rejected_report_waits_past_timeout)
{
	struct unit_answer	r, other;

	start_valid("tok-1");
	unit_advance(2000);
	memset(&r, 0, sizeof r);
	ck_assert_ptr_nonnull(client_get_token(cl, 0, 1, "tok-1", 5, 3000,
	    unit_answer_cb, &r));
	ck_assert(client_replacement_pending(cl));
	unit_advance(3000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.status, 504);
	ck_assert_int_eq(unit_fetch.n, 1);
	ask_now(&other, 0, 0, NULL);
	ck_assert_str_eq(other.token, "tok-1");
	unit_advance(5000);
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_answer_token("tok-2", 600);
	ask_now(&other, 0, 0, NULL);
	ck_assert_str_eq(other.token, "tok-2");
}
END_TEST

START_TEST(test_rejected_expired_token)
{
	struct unit_answer	r;

	/* A report arriving after its token lapsed still counts as current
	 * until a replacement, and the reporter waits for it. */
	start_valid("tok-1");
	pinned_rnd = RND_MAX;
	unit_advance(client_next_fetch_in(cl));
	unit_answer_status(503, -1);
	while (client_servable(cl)) {
		unit_advance(client_next_fetch_in(cl));
		if (unit_open() > 0)
			unit_answer_status(503, -1);
	}
	ck_assert_str_eq(client_state(cl), "unavailable");
	unit_advance(client_next_fetch_in(cl));
	ck_assert_int_eq(unit_open(), 1);
	ck_assert_ptr_nonnull(ask(&r, 0, 1, "tok-1"));
	unit_answer_token("tok-2", 600);
	ck_assert_str_eq(r.token, "tok-2");
}
END_TEST

/* ---- reloads ---- */

START_TEST(test_hand_over)
{
	struct conf_client	*cc2 = unit_conf("demo");
	struct client		*nc;
	struct unit_answer	 a, b;

	cl = client_new(NULL, NULL, cc, NULL, NULL);
	ck_assert_ptr_nonnull(ask(&a, 0, 0, NULL));
	ck_assert_ptr_nonnull(ask(&b, 0, 1, NULL));
	/* The reload replaces the client (its token_url changed). */
	nc = client_new(NULL, NULL, cc2, NULL, NULL);
	client_hand_over(cl, nc);
	client_free(cl);
	cl = nc;
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(b.calls, 0);
	ck_assert_int_eq(unit_fetch.cancelled, 1);
	unit_answer_token("tok-new", 600);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.token, "tok-new");
	ck_assert_ptr_eq(a.client, nc);
	ck_assert_str_eq(b.token, "tok-new");
	client_free(cl);
	cl = NULL;
	unit_conf_free(cc2);
}
END_TEST

START_TEST(test_hand_over_timeout_still_counts)
{
	struct conf_client	*cc2 = unit_conf("demo");
	struct client		*nc;
	struct unit_answer	 a;

	cl = client_new(NULL, NULL, cc, NULL, NULL);
	ck_assert_ptr_nonnull(ask(&a, 0, 0, NULL));
	unit_advance(WAIT_MS - 100);
	nc = client_new(NULL, NULL, cc2, NULL, NULL);
	client_hand_over(cl, nc);
	client_free(cl);
	cl = nc;
	unit_advance(100);
	ck_assert_int_eq(a.status, 504);
	client_free(cl);
	cl = NULL;
	unit_conf_free(cc2);
}
END_TEST

START_TEST(test_removed_fails_waiters)
{
	struct unit_answer	a;

	cl = client_new(NULL, NULL, cc, NULL, NULL);
	ck_assert_ptr_nonnull(ask(&a, 0, 0, NULL));
	client_free(cl);
	cl = NULL;
	ck_assert_int_eq(a.status, 503);
	ck_assert_ptr_nonnull(strstr(a.message, "removed"));
	/* Its timers are gone with it. */
	ck_assert_int_eq(clock_next_deadline(), -1);
}
END_TEST

/* ---- the timer heap ---- */

static int	fired[8], nfired;

static void
order_cb(void *arg)
{
	fired[nfired++] = (int)(intptr_t)arg;
}

START_TEST(test_clock_heap_order)
{
	struct clock_timer	*t[6];
	static const int64_t	 at[6] = { 500, 100, 300, 100, 900, 200 };
	int			 i;

	for (i = 0; i < 6; i++) {
		t[i] = clock_timer_new(NULL, order_cb, (void *)(intptr_t)i);
		clock_timer_at(t[i], unit_boot_now + at[i]);
	}
	clock_timer_stop(t[2]);
	clock_timer_at(t[4], unit_boot_now + 50);
	ck_assert_int_eq(clock_next_deadline(), unit_boot_now + 50);
	unit_advance(1000);
	ck_assert_int_eq(nfired, 5);
	ck_assert_int_eq(fired[0], 4);
	ck_assert_int_eq(fired[1], 1);	/* ties: in arming order */
	ck_assert_int_eq(fired[2], 3);
	ck_assert_int_eq(fired[3], 5);
	ck_assert_int_eq(fired[4], 0);
	for (i = 0; i < 6; i++) {
		ck_assert(!clock_timer_pending(t[i]));
		clock_timer_free(t[i]);
	}
	ck_assert_int_eq(clock_next_deadline(), -1);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite	*s = suite_create("client");
	TCase	*tc = tcase_create("client");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_start_then_valid);
	tcase_add_test(tc, test_single_flight);
	tcase_add_test(tc, test_waiter_timeout);
	tcase_add_test(tc, test_refresh_schedule);
	tcase_add_test(tc, test_refresh_jitter_bounds);
	tcase_add_test(tc, test_reload_replans);
	tcase_add_test(tc, test_min_valid_above_remaining);
	tcase_add_test(tc, test_min_valid_above_lifetime);
	tcase_add_test(tc, test_short_token_is_a_failure);
	tcase_add_test(tc, test_backoff_and_cap);
	tcase_add_test(tc, test_backoff_jitter_floor);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_failure_serves_previous_then_503);
	tcase_add_test(tc, test_backoff_never_past_servable);
	tcase_add_test(tc, test_success_resets_backoff);
	tcase_add_test(tc, test_fetch_cannot_start);
	tcase_add_test(tc, test_rejected_then_valid);
	tcase_add_test(tc, test_suspend_never_serves_expired);
	tcase_add_test(tc, test_suspend_timers_refresh);
	tcase_add_test(tc, test_forced_refresh_rate_limit);
	tcase_add_test(tc, test_rejected_current_token);
	tcase_add_test(tc, test_rejected_while_issuer_fails);
	tcase_add_test(tc, test_rejected_remint);
	tcase_add_test(tc, test_rejected_remint_gives_up);
	tcase_add_test(tc, test_rejected_report_loop_limited);
	tcase_add_test(tc, test_rejected_report_waits_past_timeout);
	tcase_add_test(tc, test_rejected_expired_token);
	tcase_add_test(tc, test_hand_over);
	tcase_add_test(tc, test_hand_over_timeout_still_counts);
	tcase_add_test(tc, test_removed_fails_waiters);
	tcase_add_test(tc, test_clock_heap_order);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(client_suite());
}
