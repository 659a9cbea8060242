/*
 * Upstream token requests: libcurl's multi interface driven by libevent.
 * The only module that knows libcurl. Never blocks the loop.
 */
#ifndef CRVS_FETCH_H
#define CRVS_FETCH_H

#include <stddef.h>
#include <stdint.h>

#define FETCH_BODY_MAX	(256 * 1024)
#define FETCH_MAX_UPSTREAM	4	/* requests in flight per issuer host */
#define FETCH_IDLE_MAX		8	/* easy handles kept for the next requests */

struct event_base;
struct conf_client;
struct fetch;
struct fetch_req;

struct fetch_result {
	long		 status;	/* HTTP status; 0 when there was none */
	const char	*error;		/* transport error in words, or NULL */
	int		 too_big;	/* the body passed FETCH_BODY_MAX */
	const char	*body;		/* secmem, borrowed for the callback */
	size_t		 len;
	int64_t		 date;		/* the answer's Date (Unix s), or -1 */
	int64_t		 retry_after_ms;	/* or -1 */
	int64_t		 boot_sent;	/* CLOCK_BOOTTIME ms when sent */
	int64_t		 wall_sent;	/* Unix ms when sent */
};

typedef void (*fetch_cb)(void *arg, const struct fetch_result *);

struct fetch	*fetch_new(struct event_base *);
void		 fetch_free(struct fetch *);
/* At most n requests in flight per issuer host; the rest queue in order. */
void		 fetch_set_max_upstream(struct fetch *, int n);
/*
 * Starts a token request for client, or queues it behind others to the
 * same issuer host; cb is called once, from the loop, unless the request
 * is cancelled first (queued or not). Returns NULL and a cause if the
 * request cannot be started.
 */
struct fetch_req *fetch_start(struct fetch *, const struct conf_client *,
		    fetch_cb, void *arg, char **cause);
void		 fetch_cancel(struct fetch_req *);
/*
 * Milliseconds until a Retry-After value (seconds, or an HTTP date compared
 * with now_ms, the issuer's time), or -1 when there is none.
 */
int64_t		 fetch_parse_retry_after(const char *value, int64_t now_ms);
/* An HTTP date in Unix seconds, or -1 (unparsable, or past the year 9999). */
int64_t		 fetch_parse_date(const char *value);

#endif
