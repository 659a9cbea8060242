#include "config.h"

#include "refresh.h"

const char *
refresh_error_name(enum refresh_error e)
{
	switch (e) {
	case REFRESH_OK:
		return "ok";
	case REFRESH_TRANSIENT:
		return "transient";
	case REFRESH_REJECTED:
		return "rejected";
	case REFRESH_BAD_RESPONSE:
		return "bad response";
	}
	return "unknown";
}

int64_t
refresh_delay(int64_t lifetime_ms, int margin_s, int min_valid_s, double rnd)
{
	int64_t	margin, floor_ms, delay;

	margin = margin_s >= 0 ? (int64_t)margin_s * 1000 : lifetime_ms / 3;
	/* Refresh while the token still has min_valid plus a second left. */
	floor_ms = (int64_t)min_valid_s * 1000 + 1000;
	if (margin < floor_ms)
		margin = floor_ms;
	delay = lifetime_ms - margin - (int64_t)(rnd * REFRESH_JITTER *
	    (double)margin);
	/*
	 * A margin as long as the lifetime cannot be met: refresh after a
	 * tenth of it rather than in a loop.
	 */
	if (delay < lifetime_ms / 10)
		delay = lifetime_ms / 10;
	if (delay < REFRESH_MIN_DELAY_MS)
		delay = REFRESH_MIN_DELAY_MS;
	return delay;
}

int64_t
refresh_backoff(int attempt, enum refresh_error e, double rnd,
    int64_t retry_after_ms, int64_t until_unservable_ms)
{
	int64_t	cap = REFRESH_BACKOFF_BASE_MS, delay;
	int	i, steps = attempt - 1;

	if (e == REFRESH_REJECTED)
		steps += 4;
	for (i = 0; i < steps && cap < REFRESH_BACKOFF_CAP_MS; i++)
		cap *= 2;
	if (cap > REFRESH_BACKOFF_CAP_MS)
		cap = REFRESH_BACKOFF_CAP_MS;
	delay = (int64_t)(rnd * (double)cap);
	if (retry_after_ms > delay)
		delay = retry_after_ms < REFRESH_BACKOFF_CAP_MS ?
		    retry_after_ms : REFRESH_BACKOFF_CAP_MS;
	if (until_unservable_ms >= 0 && delay > until_unservable_ms)
		delay = until_unservable_ms;
	if (delay < REFRESH_MIN_DELAY_MS)
		delay = REFRESH_MIN_DELAY_MS;
	return delay;
}

enum refresh_error
refresh_classify_status(long status)
{
	if (status >= 400 && status < 500 && status != 408 && status != 429)
		return REFRESH_REJECTED;
	return REFRESH_TRANSIENT;
}
