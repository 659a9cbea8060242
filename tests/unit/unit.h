/*
 * What every unit test program shares: running a suite, and for the tests
 * of client.c and api.c a fake clock that fires the daemon's timers, a fake
 * upstream fetch that records requests and lets the test answer them, a
 * client configuration, and a recorder of token answers. Everything is
 * static: each test program is one translation unit.
 */
#ifndef CRVS_UNIT_H
#define CRVS_UNIT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

/* Runs the suite; the exit status make check reads. */
static inline int
unit_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#ifdef UNIT_CLIENT
#include "client.h"
#include "clock.h"
#include "conf.h"
#include "fetch.h"

/* ---- the fake clock ---- */

static int64_t	unit_boot_now;
static int64_t	unit_wall_now;

static inline int64_t
unit_boot(void)
{
	return unit_boot_now;
}

static inline int64_t
unit_wall(void)
{
	return unit_wall_now;
}

/* Moves both clocks by ms without firing anything (a suspend, or time
 * that passed before the loop noticed). */
static inline void
unit_jump(int64_t ms)
{
	unit_boot_now += ms;
	unit_wall_now += ms;
}

/* Moves time forward by ms, firing each timer at its deadline, in order,
 * as the loop would. */
static inline void
unit_advance(int64_t ms)
{
	int64_t	target = unit_boot_now + ms, d;
	int	guard = 0;

	while ((d = clock_next_deadline()) != -1 && d <= target) {
		if (d > unit_boot_now)
			unit_jump(d - unit_boot_now);
		clock_run_due();
		ck_assert_msg(++guard < 100000, "timers spin at %lld",
		    (long long)unit_boot_now);
	}
	unit_jump(target - unit_boot_now);
	clock_run_due();
}

/* ---- the fake fetch ---- */

#define UNIT_REQS_MAX	64

struct unit_req {
	fetch_cb			 cb;
	void				*arg;
	const struct conf_client	*conf;
	int64_t				 boot_sent;
	int64_t				 wall_sent;
	int				 open;
};

static struct {
	struct unit_req	 reqs[UNIT_REQS_MAX];
	int		 n;		/* started */
	int		 cancelled;
	int		 refuse;	/* start fails */
} unit_fetch;

static inline struct fetch_req *
unit_fetch_start(struct fetch *f, const struct conf_client *conf,
    fetch_cb cb, void *arg, char **cause)
{
	struct unit_req	*r;

	(void)f;
	if (unit_fetch.refuse) {
		*cause = strdup("cannot resolve the issuer's host");
		return NULL;
	}
	ck_assert_int_lt(unit_fetch.n, UNIT_REQS_MAX);
	r = &unit_fetch.reqs[unit_fetch.n++];
	r->cb = cb;
	r->arg = arg;
	r->conf = conf;
	r->boot_sent = clock_boot_ms();
	r->wall_sent = clock_wall_ms();
	r->open = 1;
	return (struct fetch_req *)r;
}

static inline void
unit_fetch_cancel(struct fetch_req *req)
{
	struct unit_req	*r = (struct unit_req *)req;

	if (r == NULL)
		return;
	r->open = 0;
	unit_fetch.cancelled++;
}

static const struct client_fetch_ops unit_fetch_ops = {
	unit_fetch_start, unit_fetch_cancel
};

/* Requests started and not yet answered. */
static inline int
unit_open(void)
{
	int	i, n = 0;

	for (i = 0; i < unit_fetch.n; i++)
		n += unit_fetch.reqs[i].open;
	return n;
}

/* The oldest open request. */
static inline struct unit_req *
unit_oldest(void)
{
	int	i;

	for (i = 0; i < unit_fetch.n; i++) {
		if (unit_fetch.reqs[i].open)
			return &unit_fetch.reqs[i];
	}
	ck_abort_msg("no upstream request is open");
	return NULL;
}

/* Answers the oldest open request with res (boot_sent and wall_sent are
 * the request's own). */
static inline void
unit_complete(struct fetch_result *res)
{
	struct unit_req	*r = unit_oldest();

	res->boot_sent = r->boot_sent;
	res->wall_sent = r->wall_sent;
	r->open = 0;
	r->cb(r->arg, res);
}

/* 200 with an opaque token that lives expires_in seconds. */
static inline void
unit_answer_token(const char *token, int expires_in)
{
	struct fetch_result	res = { 0 };
	char			body[512];

	snprintf(body, sizeof body, "{\"access_token\": \"%s\", "
	    "\"token_type\": \"Bearer\", \"expires_in\": %d}", token,
	    expires_in);
	res.status = 200;
	res.body = body;
	res.len = strlen(body);
	res.date = -1;
	res.retry_after_ms = -1;
	unit_complete(&res);
}

/* An HTTP status other than 200 (retry_after_ms: -1 for none). */
static inline void
unit_answer_status(long status, int64_t retry_after_ms)
{
	struct fetch_result	res = { 0 };
	const char		*body = "{\"error\": \"x\"}";

	res.status = status;
	res.body = body;
	res.len = strlen(body);
	res.date = -1;
	res.retry_after_ms = retry_after_ms;
	unit_complete(&res);
}

/* No answer: a transport error. */
static inline void
unit_answer_error(const char *error)
{
	struct fetch_result	res = { 0 };

	res.error = error;
	res.date = -1;
	res.retry_after_ms = -1;
	unit_complete(&res);
}

/* ---- a client's configuration ---- */

static inline struct conf_client *
unit_conf(const char *name)
{
	struct conf_client	*cc = calloc(1, sizeof *cc);

	ck_assert_ptr_nonnull(cc);
	conf_client_defaults(cc);
	cc->name = strdup(name);
	cc->token_url = strdup("http://127.0.0.1:1/auth/token");
	cc->client_id = strdup("id");
	return cc;
}

static inline void
unit_conf_free(struct conf_client *cc)
{
	free(cc->name);
	free(cc->token_url);
	free(cc->client_id);
	free(cc);
}

/* ---- answers to token requests ---- */

struct unit_answer {
	int		 calls;
	int		 status;
	char		 token[256];
	int64_t		 expires_in_ms;
	char		 message[512];
	struct client	*client;
};

static inline void
unit_answer_cb(void *arg, const struct client_token *t, int status,
    const char *message)
{
	struct unit_answer	*a = arg;

	a->calls++;
	a->status = status;
	a->token[0] = a->message[0] = '\0';
	if (t != NULL) {
		ck_assert_uint_lt(t->len, sizeof a->token);
		memcpy(a->token, t->token, t->len);
		a->token[t->len] = '\0';
		a->expires_in_ms = t->expires_in_ms;
		a->client = t->client;
	}
	if (message != NULL)
		snprintf(a->message, sizeof a->message, "%s", message);
}

/* Sets up the fake clock and fetch; returns them to normal. */
static inline void
unit_client_setup(void)
{
	memset(&unit_fetch, 0, sizeof unit_fetch);
	unit_boot_now = 1000000;
	unit_wall_now = 1700000000000LL;
	clock_set_source(unit_boot, unit_wall);
	client_set_fetch_ops(&unit_fetch_ops);
}

static inline void
unit_client_teardown(void)
{
	client_set_fetch_ops(NULL);
	client_set_random(NULL);
	clock_set_source(NULL, NULL);
}
#endif	/* UNIT_CLIENT */

#endif
