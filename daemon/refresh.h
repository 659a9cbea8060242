/*
 * When to refresh and how long to back off: pure arithmetic on
 * milliseconds, with the random draw passed in so tests can pin it.
 */
#ifndef CRVS_REFRESH_H
#define CRVS_REFRESH_H

#include <stdint.h>

#define REFRESH_BACKOFF_BASE_MS	1000
#define REFRESH_BACKOFF_CAP_MS	60000
#define REFRESH_JITTER		0.2	/* of the margin, drawn earlier */
#define REFRESH_MIN_DELAY_MS	100

enum refresh_error {
	REFRESH_OK = 0,
	REFRESH_TRANSIENT,	/* 5xx, 429, timeouts, connection, TLS */
	REFRESH_REJECTED,	/* 4xx from the issuer */
	REFRESH_BAD_RESPONSE,	/* 200 that is not a usable token */
};

const char *refresh_error_name(enum refresh_error);

/*
 * Milliseconds from the moment a token was obtained (the request was sent)
 * to its proactive refresh. margin_s is refresh_margin (-1: a third of the
 * lifetime); the refresh also happens early enough that the token is still
 * servable (min_valid_s left) for a second after it, but never before a
 * tenth of the lifetime has passed. rnd is in [0, 1).
 */
int64_t	refresh_delay(int64_t lifetime_ms, int margin_s, int min_valid_s,
	    double rnd);

/*
 * Milliseconds to wait before retry number attempt (1, 2, ...): full jitter
 * over 1 s doubling to 60 s; rejections start four steps slower. At least
 * retry_after_ms when the issuer sent Retry-After (else -1), but never past
 * until_unservable_ms (the time left before the current token stops being
 * servable, or -1 when there is none).
 */
int64_t	refresh_backoff(int attempt, enum refresh_error, double rnd,
	    int64_t retry_after_ms, int64_t until_unservable_ms);

/* The HTTP status of a failed answer, classified (0: no answer). */
enum refresh_error refresh_classify_status(long status);

#endif
