/*
 * One configured client of the issuer: the token it serves, the state it is
 * in, the requests that wait for it, and its single upstream fetch. The
 * state (enum client_state) changes only through client_set_state, after an
 * event: a fetch that starts, succeeds or fails, the end of the token's
 * servable time, a reported rejection. Timers run on clock.c (the boot
 * clock, injectable), the fetch goes through client_fetch_ops (fetch.c, or a
 * test's fake), and the arithmetic of when to refresh and how long to back
 * off is refresh.c's. main.c creates, reconfigures and frees clients; api.c
 * asks them for tokens and status.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "clock.h"
#include "conf.h"
#include "fetch.h"
#include "log.h"
#include "refresh.h"
#include "secmem.h"
#include "token.h"
#include "util.h"

/* Re-mints of a rejected token to wait out before calling it a failure. */
#define CLIENT_REMINT_TRIES	3
/* OpenCRVS mints the same string within one second: ask after the next. */
#define CLIENT_REMINT_DELAY_MS	1100

struct client_waiter {
	struct client			*client;
	TAILQ_ENTRY(client_waiter)	 entry;
	int				 min_valid;	/* seconds */
	int				 force;		/* wants a new token */
	struct clock_timer		*timeout;
	client_token_cb			 cb;
	void				*arg;
};

struct client {
	struct event_base		*base;
	struct fetch			*fetch;
	const struct conf_client	*conf;
	char				*name;
	enum client_state		 state;

	char				*token;		/* secmem */
	size_t				 token_len;
	int64_t				 obtained;	/* boot ms, request sent */
	int64_t				 installed;	/* boot ms, answer */
	int64_t				 expires;	/* boot ms */
	int64_t				 lifetime;	/* ms */
	uint64_t			 generation;
	struct secblob			*render[CLIENT_RENDERS];
	/* A reported token (secmem copy) until a replacement is installed. */
	char				*rejected;
	size_t				 rejected_len;
	int				 remints;
	int				 remint_due;	/* timer: ask again */

	struct fetch_req		*req;
	struct clock_timer		*timer;		/* refresh or retry */
	struct clock_timer		*lapse;		/* end of servable */
	int				 attempt;	/* failures in a row */
	uint64_t			 refreshes;
	uint64_t			 failures;
	enum refresh_error		 last_class;
	char				*last_error;
	int64_t				 last_refresh;	/* Unix ms, or 0 */
	int				 attempted;

	TAILQ_HEAD(, client_waiter)	 waiters;
	client_observer_cb		 observer;
	void				*observer_arg;
	client_token_hook_cb		 hook;
	void				*hook_arg;
};

static const struct client_fetch_ops client_real_fetch = {
	fetch_start, fetch_cancel
};
static const struct client_fetch_ops *client_fetch_ops = &client_real_fetch;
static double (*client_random)(void) = drand48;

static void	client_fetch(struct client *);

void
client_set_fetch_ops(const struct client_fetch_ops *ops)
{
	client_fetch_ops = ops != NULL ? ops : &client_real_fetch;
}

void
client_set_random(double (*fn)(void))
{
	client_random = fn != NULL ? fn : drand48;
}

const char *
client_name(const struct client *c)
{
	return c->name;
}

const struct conf_client *
client_conf(const struct client *c)
{
	return c->conf;
}

int
client_attempted(const struct client *c)
{
	return c->attempted;
}

const char *
client_last_error(const struct client *c)
{
	return c->last_error;
}

uint64_t
client_token_generation(const struct client *c)
{
	return c->generation;
}

int
client_replacement_pending(const struct client *c)
{
	return c->rejected != NULL;
}

void
client_set_token_hook(struct client *c, client_token_hook_cb hook, void *arg)
{
	c->hook = hook;
	c->hook_arg = arg;
}

int64_t
client_next_fetch_in(const struct client *c)
{
	int64_t	d;

	if (!clock_timer_pending(c->timer))
		return -1;
	d = clock_timer_deadline(c->timer) - clock_boot_ms();
	return d < 0 ? 0 : d;
}

/* Answers rendered from the token go with it. */
static void
client_drop_renders(struct client *c)
{
	size_t	i;

	for (i = 0; i < CLIENT_RENDERS; i++) {
		secblob_unref(c->render[i]);
		c->render[i] = NULL;
	}
}

struct secblob *
client_render(const struct client *c, int kind)
{
	return c->render[kind];
}

void
client_set_render(struct client *c, int kind, struct secblob *b)
{
	secblob_unref(c->render[kind]);
	c->render[kind] = c->token != NULL ? b : NULL;
	if (c->token == NULL)
		secblob_unref(b);
}

const char *
client_state_name(enum client_state s)
{
	switch (s) {
	case CLIENT_STARTING:
		return "starting";
	case CLIENT_VALID:
		return "valid";
	case CLIENT_REFRESHING:
		return "refreshing";
	case CLIENT_RETRYING:
		return "retrying";
	case CLIENT_REJECTED:
		return "rejected";
	case CLIENT_UNAVAILABLE:
		return "unavailable";
	case CLIENT_EXPIRED:
		return "expired";
	}
	fatal("impossible client state %d", (int)s);
}

/* The one place the state changes. */
static void
client_set_state(struct client *c, enum client_state s)
{
	if (c->state == s)
		return;
	log_info(c->name, "state %s -> %s", client_state_name(c->state),
	    client_state_name(s));
	c->state = s;
}

/* The state after a failure, or after the token stopped being servable
 * while failures were counted. */
static enum client_state
client_failed_state(const struct client *c)
{
	if (c->token != NULL)
		return CLIENT_RETRYING;
	return c->last_class == REFRESH_REJECTED ? CLIENT_REJECTED :
	    CLIENT_UNAVAILABLE;
}

/* The boot time from which the token is no longer servable. */
static int64_t
client_lapse_at(const struct client *c)
{
	return c->expires - (int64_t)c->conf->min_valid * 1000 + 1;
}

static void
client_wipe_token(struct client *c)
{
	client_drop_renders(c);
	secmem_free(c->token);
	c->token = NULL;
	c->token_len = 0;
	c->expires = c->obtained = 0;	/* lifetime: what the issuer gives */
	clock_timer_stop(c->lapse);
}

static void
client_forget_rejected(struct client *c)
{
	secmem_free(c->rejected);
	c->rejected = NULL;
	c->rejected_len = 0;
	c->remints = 0;
}

/* A re-mint of a rejected token, or a report held to refresh_min_interval,
 * is awaited: its timer must not be brought forward. */
static int
client_remint_wait(const struct client *c)
{
	return c->remint_due;
}

/*
 * The token has fewer than min_valid seconds left (its lapse timer fired,
 * or a request noticed first, after a suspend): it is dropped, and with no
 * failure to report and nothing in flight, the overdue refresh is due now
 * (from the loop: this may run inside client_fetch or client_fail).
 */
static void
client_lapse(struct client *c)
{
	log_info(c->name, "the token has less than min_valid (%d s) left; "
	    "no longer served", c->conf->min_valid);
	client_wipe_token(c);
	c->generation++;
	if (c->hook != NULL)
		c->hook(c->hook_arg, c, NULL);
	switch (c->state) {
	case CLIENT_VALID:
		client_set_state(c, c->req != NULL ? CLIENT_REFRESHING :
		    CLIENT_EXPIRED);
		if (c->req == NULL && !client_remint_wait(c))
			clock_timer_at(c->timer, clock_boot_ms());
		break;
	case CLIENT_RETRYING:
		client_set_state(c, client_failed_state(c));
		break;
	default:
		break;
	}
}

/* Notices the end of the servable time before its timer does. */
static void
client_sync(struct client *c)
{
	if (c->token != NULL && clock_boot_ms() >= client_lapse_at(c))
		client_lapse(c);
}

static void
client_lapse_cb(void *arg)
{
	client_sync(arg);
}

/* Milliseconds the token has left, or -1 when there is none to serve. */
static int64_t
client_remaining(struct client *c)
{
	client_sync(c);
	if (c->token == NULL)
		return -1;
	return c->expires - clock_boot_ms();
}

static int
client_servable_for(struct client *c, int min_valid)
{
	int64_t	left = client_remaining(c);

	return left >= 0 && left >= (int64_t)min_valid * 1000;
}

int
client_servable(struct client *c)
{
	return client_servable_for(c, c->conf->min_valid);
}

enum client_state
client_get_state(struct client *c)
{
	client_sync(c);
	return c->state;
}

const char *
client_state(struct client *c)
{
	return client_state_name(client_get_state(c));
}

static void
client_fill(struct client *c, struct client_token *t)
{
	int64_t	left = c->expires - clock_boot_ms();

	t->token = c->token;
	t->len = c->token_len;
	t->expires_in_ms = left;
	t->expires_at = (clock_wall_ms() + left) / 1000;
	t->client = c;
}

int
client_current_token(struct client *c, struct client_token *t)
{
	int64_t	left = client_remaining(c);

	if (left < 0 || left < (int64_t)c->conf->min_valid * 1000)
		return 0;
	t->token = c->token;
	t->len = c->token_len;
	t->expires_in_ms = left;
	t->expires_at = (clock_wall_ms() + left) / 1000;
	t->client = c;
	return 1;
}

static void
client_answer(struct client *c, client_token_cb cb, void *arg)
{
	struct client_token	t;

	client_fill(c, &t);
	cb(arg, &t, 200, NULL);
}

static void
client_waiter_free(struct client_waiter *w)
{
	TAILQ_REMOVE(&w->client->waiters, w, entry);
	clock_timer_free(w->timeout);
	free(w);
}

void
client_waiter_cancel(struct client_waiter *w)
{
	if (w != NULL)
		client_waiter_free(w);
}

static void
client_waiter_timeout_cb(void *arg)
{
	struct client_waiter	*w = arg;
	client_token_cb		 cb = w->cb;
	void			*cbarg = w->arg;
	struct client		*c = w->client;
	char			*msg;

	client_waiter_free(w);
	msg = xasprintf("no token for %s in time: the issuer has not "
	    "answered yet", c->name);
	cb(cbarg, NULL, 504, msg);
	free(msg);
}

/*
 * Answers every waiter: with the token if it is good enough, else why not.
 * why is the failure that ended the fetch, or NULL after a success; a
 * waiter that forced a refresh is not given the old token after a failure.
 */
static void
client_wake(struct client *c, const char *why)
{
	struct client_waiter	*w;
	client_token_cb		 cb;
	void			*arg;
	char			*msg;
	int			 min, force;

	while ((w = TAILQ_FIRST(&c->waiters)) != NULL) {
		cb = w->cb;
		arg = w->arg;
		min = w->min_valid;
		force = w->force;
		client_waiter_free(w);
		if (client_servable_for(c, min) && (why == NULL || !force)) {
			client_answer(c, cb, arg);
			continue;
		}
		if (why != NULL)
			msg = xasprintf("%s for %s: %s", force ? "no new token" :
			    "no valid token", c->name, why);
		else
			msg = xasprintf("no token for %s with %d s of validity "
			    "left: the issuer's tokens live %lld s", c->name,
			    min, (long long)(c->lifetime / 1000));
		cb(arg, NULL, 503, msg);
		free(msg);
	}
}

static void
client_timer_cb(void *arg)
{
	struct client	*c = arg;

	if (c->req == NULL)
		client_fetch(c);
}

static void
client_schedule(struct client *c, int64_t delay)
{
	clock_timer_at(c->timer, clock_boot_ms() + delay);
}

static void
client_fail(struct client *c, enum refresh_error class, long status,
    int64_t retry_after_ms, const char *why)
{
	int64_t	until = -1, left, delay;

	c->failures++;
	c->attempt++;
	c->last_class = class;
	free(c->last_error);
	if (status != 0)
		c->last_error = xasprintf("%s by issuer (HTTP %ld): %s",
		    class == REFRESH_REJECTED ? "rejected" :
		    class == REFRESH_BAD_RESPONSE ? "bad answer" : "failure",
		    status, why);
	else
		c->last_error = xasprintf("%s: %s", refresh_error_name(class),
		    why);
	if (client_servable(c)) {
		left = client_remaining(c);
		until = left - (int64_t)c->conf->min_valid * 1000;
	}
	delay = refresh_backoff(c->attempt, class, client_random(),
	    retry_after_ms, until);
	client_schedule(c, delay);
	client_set_state(c, client_failed_state(c));
	log_warn(c->name, "token request failed (%s); retry %d in %.1f s%s",
	    c->last_error, c->attempt, (double)delay / 1000,
	    client_servable(c) ? ", serving the previous token meanwhile" : "");
	client_wake(c, c->last_error);
}

/* Plans the proactive refresh of the current token. */
static void
client_plan(struct client *c)
{
	int64_t	delay;

	delay = refresh_delay(c->lifetime, c->conf->refresh_margin,
	    c->conf->min_valid, client_random());
	clock_timer_at(c->timer, c->obtained + delay);
}

static void
client_install(struct client *c, struct token_result *t, int64_t sent)
{
	struct client_token	tok;

	client_wipe_token(c);
	client_forget_rejected(c);
	c->token = t->token;
	c->token_len = t->len;
	t->token = NULL;
	c->obtained = sent;
	c->installed = clock_boot_ms();
	c->lifetime = t->lifetime_ms;
	c->expires = sent + t->lifetime_ms;
	c->attempt = 0;
	c->refreshes++;
	c->generation++;
	c->last_class = REFRESH_OK;
	c->last_refresh = clock_wall_ms();
	clock_timer_at(c->lapse, client_lapse_at(c));
	client_plan(c);
	client_set_state(c, CLIENT_VALID);
	log_info(c->name, "new token (%zu bytes, %s), valid %lld s by %s; "
	    "next refresh in %lld s", c->token_len,
	    t->is_jwt ? "JWT" : "opaque", (long long)(c->lifetime / 1000),
	    t->judged_by, (long long)(client_next_fetch_in(c) / 1000));
	if (c->hook != NULL) {
		client_fill(c, &tok);
		c->hook(c->hook_arg, c, &tok);
	}
}

static void
client_fetch_cb(void *arg, const struct fetch_result *res)
{
	struct client		*c = arg;
	struct token_input	 in;
	struct token_result	 t;
	char			*cause = NULL, *why;
	int64_t			 left;

	client_sync(c);		/* while the request still counts */
	c->req = NULL;
	c->attempted = 1;
	if (res->error != NULL) {
		client_fail(c, res->too_big ? REFRESH_BAD_RESPONSE :
		    REFRESH_TRANSIENT, 0, res->retry_after_ms, res->error);
		goto out;
	}
	if (res->status != 200) {
		why = token_describe_error(res->status, res->body, res->len,
		    c->conf);
		client_fail(c, refresh_classify_status(res->status),
		    res->status, res->retry_after_ms, why);
		free(why);
		goto out;
	}
	in.body = res->body;
	in.len = res->len;
	in.date = res->date;
	in.wall_sent = res->wall_sent;
	in.fallback_lifetime = c->conf->fallback_lifetime;
	if (token_parse_response(&in, &t, &cause) == -1) {
		client_fail(c, REFRESH_BAD_RESPONSE, 200, -1, cause);
		free(cause);
		goto out;
	}
	if (c->rejected != NULL && util_timingsafe_eq(t.token, t.len,
	    c->rejected, c->rejected_len)) {
		/* OpenCRVS mints the same string within one second. */
		secmem_free(t.token);
		if (++c->remints < CLIENT_REMINT_TRIES) {
			log_info(c->name, "issuer handed back the rejected "
			    "token; asking again in a second");
			client_schedule(c, CLIENT_REMINT_DELAY_MS);
			c->remint_due = 1;
			if (c->token == NULL && c->state == CLIENT_REFRESHING)
				client_set_state(c, CLIENT_EXPIRED);
			goto out;
		}
		client_fail(c, REFRESH_BAD_RESPONSE, 200, -1,
		    "the issuer keeps handing back the rejected token");
		goto out;
	}
	left = res->boot_sent + t.lifetime_ms - clock_boot_ms();
	if (left <= (int64_t)c->conf->min_valid * 1000) {
		/* It could never be served: back off instead of refetching
		 * (a short lifetime, or an answer slower than the margin). */
		why = xasprintf("the token %s %lld s, not more than min_valid "
		    "(%d s)", left < t.lifetime_ms - 1000 ? "arrived with" :
		    "lives", (long long)(left / 1000), c->conf->min_valid);
		c->lifetime = t.lifetime_ms;
		secmem_free(t.token);
		client_fail(c, REFRESH_BAD_RESPONSE, 200, -1, why);
		free(why);
		goto out;
	}
	client_install(c, &t, res->boot_sent);
	client_wake(c, NULL);
out:
	if (c->observer != NULL)
		c->observer(c->observer_arg, c);
}

static void
client_fetch(struct client *c)
{
	char	*cause = NULL;

	if (c->req != NULL)
		return;
	client_sync(c);
	clock_timer_stop(c->timer);
	c->remint_due = 0;
	if (c->state == CLIENT_EXPIRED)
		client_set_state(c, CLIENT_REFRESHING);
	log_debug(c->name, "requesting a token from the issuer");
	c->req = client_fetch_ops->start(c->fetch, c->conf, client_fetch_cb,
	    c, &cause);
	if (c->req == NULL) {
		c->attempted = 1;
		client_fail(c, REFRESH_TRANSIENT, 0, -1, cause);
		free(cause);
		if (c->observer != NULL)
			c->observer(c->observer_arg, c);
	}
}

struct client *
client_new(struct event_base *base, struct fetch *fetch,
    const struct conf_client *conf, client_observer_cb observer, void *arg)
{
	struct client	*c = xcalloc(1, sizeof *c);

	c->base = base;
	c->fetch = fetch;
	c->conf = conf;
	c->name = xstrdup(conf->name);
	c->state = CLIENT_STARTING;
	c->observer = observer;
	c->observer_arg = arg;
	TAILQ_INIT(&c->waiters);
	c->timer = clock_timer_new(base, client_timer_cb, c);
	c->lapse = clock_timer_new(base, client_lapse_cb, c);
	client_fetch(c);
	return c;
}

void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	client_fetch_ops->cancel(c->req);
	c->req = NULL;
	client_wipe_token(c);
	client_wake(c, "the client was removed from the configuration");
	clock_timer_free(c->timer);
	clock_timer_free(c->lapse);
	client_forget_rejected(c);
	free(c->last_error);
	free(c->name);
	free(c);
}

void
client_hand_over(struct client *old, struct client *to)
{
	struct client_waiter	*w;
	int			 n = 0;

	while ((w = TAILQ_FIRST(&old->waiters)) != NULL) {
		TAILQ_REMOVE(&old->waiters, w, entry);
		w->client = to;
		TAILQ_INSERT_TAIL(&to->waiters, w, entry);
		n++;
	}
	/* The new client must not hand back a token reported rejected. */
	if (old->rejected != NULL && to->rejected == NULL) {
		to->rejected = secmem_strndup(old->rejected, old->rejected_len);
		to->rejected_len = old->rejected_len;
	}
	if (n > 0)
		log_info(to->name, "%d request%s of the replaced client "
		    "now wait%s for this one", n, n == 1 ? "" : "s",
		    n == 1 ? "s" : "");
	/* Its first fetch could not start: they would wait for nothing. */
	if (to->req == NULL && !client_remint_wait(to))
		client_wake(to, to->last_error != NULL ? to->last_error :
		    "cannot ask the issuer");
}

void
client_set_conf(struct client *c, const struct conf_client *conf)
{
	c->conf = conf;
	/* Timing settings may have changed: re-plan what depends on them. */
	if (c->token != NULL) {
		clock_timer_at(c->lapse, client_lapse_at(c));
		client_sync(c);
	}
	if (c->token != NULL && c->state == CLIENT_VALID && c->req == NULL &&
	    !client_remint_wait(c))
		client_plan(c);
}

/* A forced refresh right after a fetch gets that fetch's token: each one
 * costs the issuer a bcrypt check. */
static int
client_rate_limited(struct client *c)
{
	return c->token != NULL && clock_boot_ms() - c->installed <
	    (int64_t)c->conf->refresh_min_interval * 1000;
}

struct client_waiter *
client_get_token(struct client *c, int min_valid, int force,
    const char *rejected, size_t rejected_len, int64_t timeout_ms,
    client_token_cb cb, void *arg)
{
	struct client_waiter	*w;
	char			*msg;
	int			 reporter = 0;

	client_sync(c);
	if (min_valid < c->conf->min_valid)
		min_valid = c->conf->min_valid;
	if (rejected != NULL) {
		if ((c->token != NULL && util_timingsafe_eq(c->token,
		    c->token_len, rejected, rejected_len)) ||
		    (c->rejected != NULL && util_timingsafe_eq(c->rejected,
		    c->rejected_len, rejected, rejected_len))) {
			/* Others keep it until its replacement is there. */
			if (c->rejected == NULL) {
				log_info(c->name, "current token reported "
				    "rejected; fetching a replacement");
				c->rejected = secmem_strndup(c->token,
				    c->token_len);
				c->rejected_len = c->token_len;
				c->remints = 0;
			}
			reporter = force = 1;
		} else
			force = 0;	/* already replaced */
	}
	if (!force && client_servable_for(c, min_valid)) {
		client_answer(c, cb, arg);
		return NULL;
	}
	if (force && !reporter && client_rate_limited(c) &&
	    client_servable_for(c, min_valid)) {
		log_debug(c->name, "forced refresh %.1f s after the last "
		    "fetch: answering with its token",
		    (double)(clock_boot_ms() - c->installed) / 1000);
		client_answer(c, cb, arg);
		return NULL;
	}
	/* The issuer's tokens do not live that long: a fetch cannot help. */
	if (c->lifetime > 0 && (int64_t)min_valid * 1000 >= c->lifetime) {
		msg = xasprintf("no token for %s with %d s of validity left: "
		    "the issuer's tokens live %lld s", c->name, min_valid,
		    (long long)(c->lifetime / 1000));
		cb(arg, NULL, 503, msg);
		free(msg);
		return NULL;
	}
	/* Backing off after failures: do not hammer the issuer. */
	if (c->req == NULL && c->attempt > 0 && clock_timer_pending(c->timer)) {
		msg = xasprintf("%s for %s: %s (next attempt in %.0f s)",
		    force && client_servable(c) ? "no new token" :
		    "no valid token", c->name, c->last_error != NULL ?
		    c->last_error : "previous attempt failed",
		    (double)client_next_fetch_in(c) / 1000);
		cb(arg, NULL, 503, msg);
		free(msg);
		return NULL;
	}
	/*
	 * A report fetches at most once per refresh_min_interval after the
	 * last install: else reporting each replacement in turn would cost
	 * the issuer a bcrypt check per round trip. The fetch is planned at
	 * the allowed moment (not brought forward, like a re-mint) and the
	 * reporter waits for it within its timeout.
	 */
	if (reporter && c->req == NULL && !client_remint_wait(c) &&
	    client_rate_limited(c)) {
		log_debug(c->name, "report %.1f s after the last fetch: "
		    "asking the issuer at refresh_min_interval",
		    (double)(clock_boot_ms() - c->installed) / 1000);
		clock_timer_at(c->timer, c->installed +
		    (int64_t)c->conf->refresh_min_interval * 1000);
		c->remint_due = 1;
	}
	/*
	 * Start the fetch before queueing: if it cannot start, the failure
	 * wakes the waiters at once, and this request must not be one of
	 * them (its caller would be told of a wait that already ended).
	 */
	if (c->req == NULL && !client_remint_wait(c)) {
		client_fetch(c);	/* or the scheduled one, brought forward */
		if (c->req == NULL) {
			msg = xasprintf("no valid token for %s: %s", c->name,
			    c->last_error != NULL ? c->last_error :
			    "cannot ask the issuer");
			cb(arg, NULL, 503, msg);
			free(msg);
			return NULL;
		}
	}
	w = xcalloc(1, sizeof *w);
	w->client = c;
	w->min_valid = min_valid;
	w->force = force;
	w->cb = cb;
	w->arg = arg;
	w->timeout = clock_timer_new(c->base, client_waiter_timeout_cb, w);
	clock_timer_at(w->timeout, clock_boot_ms() + timeout_ms);
	TAILQ_INSERT_TAIL(&c->waiters, w, entry);
	return w;
}

static json_object *
client_json_time(int64_t unix_ms)
{
	return unix_ms > 0 ? json_object_new_int64(unix_ms / 1000) : NULL;
}

json_object *
client_status_json(struct client *c)
{
	json_object	*o = json_object_new_object();
	int64_t		 left = client_remaining(c), next;
	int64_t		 wall = clock_wall_ms();

	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "state",
	    json_object_new_string(client_state(c)));
	json_object_object_add(o, "expires_at",
	    client_json_time(left >= 0 ? wall + left : 0));
	json_object_object_add(o, "expires_in",
	    left >= 0 ? json_object_new_int64(left / 1000) : NULL);
	json_object_object_add(o, "last_refresh",
	    client_json_time(c->last_refresh));
	next = client_next_fetch_in(c);
	json_object_object_add(o, "next_refresh",
	    c->req != NULL ? json_object_new_int64(wall / 1000) :
	    client_json_time(next >= 0 ? wall + next : 0));
	json_object_object_add(o, "refreshes",
	    json_object_new_int64((int64_t)c->refreshes));
	json_object_object_add(o, "failures",
	    json_object_new_int64((int64_t)c->failures));
	json_object_object_add(o, "consecutive_failures",
	    json_object_new_int(c->attempt));
	json_object_object_add(o, "last_error", c->attempt > 0 &&
	    c->last_error != NULL ? json_object_new_string(c->last_error) :
	    NULL);
	json_object_object_add(o, "error_class", c->attempt > 0 ?
	    json_object_new_string(refresh_error_name(c->last_class)) : NULL);
	json_object_object_add(o, "token_length", c->token != NULL ?
	    json_object_new_int64((int64_t)c->token_len) : NULL);
	json_object_object_add(o, "replacement_pending",
	    json_object_new_boolean(c->rejected != NULL));
	return o;
}
