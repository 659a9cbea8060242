/*
 * One configured client: its token, when it expires and when it is
 * refreshed, the requests waiting for it, and its counters. Owns the single
 * upstream fetch in flight (single flight) and the refresh timer.
 */
#ifndef CRVS_CLIENT_H
#define CRVS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "fetch.h"

struct event_base;
struct conf_client;
struct client;
struct client_waiter;

/* What status shows; see STATES in crvs-tokend(8). */
enum client_state {
	CLIENT_STARTING,	/* the first request is in flight */
	CLIENT_VALID,		/* servable token, last request succeeded */
	CLIENT_REFRESHING,	/* no servable token, a request in flight */
	CLIENT_RETRYING,	/* servable token, requests since failed */
	CLIENT_REJECTED,	/* no servable token, last request rejected */
	CLIENT_UNAVAILABLE,	/* no servable token, last request failed */
	CLIENT_EXPIRED,		/* no servable token, nothing in flight */
};

struct client_token {
	const char	*token;		/* borrowed for the callback */
	size_t		 len;
	int64_t		 expires_in_ms;
	int64_t		 expires_at;	/* Unix seconds */
	struct client	*client;	/* the one that answers (a reload may
					 * have handed the request over) */
};

/*
 * Called once per request: with a token and status 200, or with no token,
 * an HTTP status (503, 504) and a message that holds no secret.
 */
typedef void (*client_token_cb)(void *arg, const struct client_token *,
		    int status, const char *message);
/* Called after every upstream attempt, for readiness and status. */
typedef void (*client_observer_cb)(void *arg, struct client *);
/*
 * Called when the token to serve changes: t is the token just installed, or
 * NULL when the client stopped having one to serve (fewer than min_valid
 * seconds left: expiry, a suspend, a raised min_valid). Not called by
 * client_free. The token is borrowed for the call. Set it right after
 * client_new: the first answer cannot arrive before the loop runs.
 * client_token_generation counts the same events.
 */
typedef void (*client_token_hook_cb)(void *arg, struct client *,
		    const struct client_token *t);

/* Starts the first fetch at once. conf must outlive the client (or be
 * replaced with client_set_conf). */
struct client	*client_new(struct event_base *, struct fetch *,
		    const struct conf_client *, client_observer_cb, void *);
/* Fails its waiters, stops its fetch and timers, zeroes its token. */
void		 client_free(struct client *);
/*
 * For a reload that replaces old with to (its settings changed): old's
 * waiters wait for to's token instead of failing when old is freed.
 */
void		 client_hand_over(struct client *old, struct client *to);
void		 client_set_conf(struct client *, const struct conf_client *);
void		 client_set_token_hook(struct client *, client_token_hook_cb,
		    void *);
const struct conf_client *client_conf(const struct client *);
const char	*client_name(const struct client *);

/*
 * Asks for a token with at least min_valid seconds left (the client's own
 * min_valid is the floor). force: fetch a new one even if the current one
 * is good (unless one was fetched less than refresh_min_interval ago).
 * rejected (may be NULL): refresh only if that is the current token, and
 * never hand it back. If the answer is known now, cb runs before this
 * returns and NULL is returned; otherwise the request waits (at most
 * timeout_ms) and the returned handle can cancel it.
 */
struct client_waiter *client_get_token(struct client *, int min_valid,
		    int force, const char *rejected, size_t rejected_len,
		    int64_t timeout_ms, client_token_cb, void *);
void		 client_waiter_cancel(struct client_waiter *);

/* A token with at least the client's min_valid left is there. */
int		 client_servable(struct client *);
/*
 * Fills t with the token to serve now and returns 1, or returns 0 when
 * there is none (fewer than min_valid seconds left). Unlike
 * client_get_token it never waits nor starts a fetch: one clock reading
 * decides. The token is borrowed until the client next changes.
 */
int		 client_current_token(struct client *, struct client_token *);
/* Has made at least one attempt (success or failure). */
int		 client_attempted(const struct client *);
enum client_state client_get_state(struct client *);
const char	*client_state_name(enum client_state);
/* client_state_name(client_get_state()). */
const char	*client_state(struct client *);
/* A reported token is still served to others until its replacement. */
int		 client_replacement_pending(const struct client *);
/* Counts installs and drops of the token to serve (starts at 0). */
uint64_t	 client_token_generation(const struct client *);
const char	*client_last_error(const struct client *);
/* Milliseconds until the next scheduled fetch, or -1. */
int64_t		 client_next_fetch_in(const struct client *);
/*
 * Answers rendered from the current token (api.c renders them): held until
 * the token is replaced, dropped or rejected, then unreferenced (and wiped
 * by the last holder). set takes the caller's reference; with no token it
 * drops it at once.
 */
#define CLIENT_RENDERS	2
struct secblob;
struct secblob	*client_render(const struct client *, int kind);
void		 client_set_render(struct client *, int kind, struct secblob *);

/* Status object without the token; the caller owns it. */
json_object	*client_status_json(struct client *);

/* Seams for tests; NULL restores fetch.c and drand48. */
struct client_fetch_ops {
	struct fetch_req *(*start)(struct fetch *, const struct conf_client *,
			    fetch_cb, void *, char **);
	void		  (*cancel)(struct fetch_req *);
};
void		 client_set_fetch_ops(const struct client_fetch_ops *);
void		 client_set_random(double (*)(void));

#endif
