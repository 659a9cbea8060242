/*
 * Fuzz target: the token endpoint's answer. The input is what an issuer
 * controls, one header value a line and then the body:
 *
 *	STATUS\nDATE\nRETRY-AFTER\nCONTENT-TYPE\nBODY...
 *
 * It goes through the daemon's own path: Date through fetch_parse_date (as
 * fetch.c's header callback does), Retry-After through
 * fetch_parse_retry_after, a 200 through token_parse_response and the
 * refresh schedule, anything else through the status classification and
 * the back-off. The daemon does not read Content-Type (a JSON body is
 * judged by parsing it); the line is kept so that seeds look like answers.
 * The checks are the promises the rest of the daemon relies on.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "fetch.h"
#include "fuzz.h"
#include "log.h"
#include "refresh.h"
#include "secmem.h"
#include "token.h"
#include "util.h"

/* A fixed local time of the request (ms): 2026-11-30. */
#define FUZZ_TOKEN_WALL_SENT	1796000000000LL

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(LOG_CRIT);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_input	 in;
	struct token_result	 res;
	char			*status_s, *date_s, *retry_s, *type_s, *body;
	char			*cause = NULL;
	long long		 status;
	int64_t			 retry_ms, delay;
	int			 rc;

	status_s = fuzz_line(&data, &size);
	date_s = fuzz_line(&data, &size);
	retry_s = fuzz_line(&data, &size);
	type_s = fuzz_line(&data, &size);
	if (size > FETCH_BODY_MAX)
		size = FETCH_BODY_MAX;	/* fetch.c stops there */
	/* fetch.c hands over a NUL-terminated body; keep it exact-size. */
	body = secmem_alloc(size + 1);
	memcpy(body, data, size);

	in.body = body;
	in.len = size;
	in.date = -1;
	in.date = fetch_parse_date(date_s);
	in.wall_sent = FUZZ_TOKEN_WALL_SENT;
	in.fallback_lifetime = 3600;
	retry_ms = fetch_parse_retry_after(retry_s, in.date >= 0 ?
	    in.date * 1000 : FUZZ_TOKEN_WALL_SENT);
	if (retry_ms < -1)
		abort();
	if (util_parse_int(status_s, 0, 999, &status) == -1)
		status = 200;

	if (status != 200) {
		delay = refresh_backoff(3, refresh_classify_status(status),
		    0.5, retry_ms, 30000);
		if (delay < REFRESH_MIN_DELAY_MS ||
		    delay > REFRESH_BACKOFF_CAP_MS)
			abort();
		goto out;
	}
	rc = token_parse_response(&in, &res, &cause);
	if (rc == -1) {
		if (cause == NULL || res.token != NULL)
			abort();
		free(cause);
		goto out;
	}
	if (cause != NULL || res.token == NULL || res.len == 0 ||
	    res.len > TOKEN_MAX || strlen(res.token) != res.len ||
	    res.lifetime_ms <= 0 ||
	    res.lifetime_ms > TOKEN_LIFETIME_MAX * 1000 ||
	    res.judged_by == NULL)
		abort();
	/* The token goes into headers: it must not break a line. */
	if (strpbrk(res.token, " \r\n\t") != NULL)
		abort();
	delay = refresh_delay(res.lifetime_ms, -1, 30, 0.99);
	if (delay < REFRESH_MIN_DELAY_MS)
		abort();
	delay = refresh_delay(res.lifetime_ms, 86400, 3600, 0.0);
	if (delay < REFRESH_MIN_DELAY_MS)
		abort();
	secmem_free(res.token);
out:
	secmem_free(body);
	free(status_s);
	free(date_s);
	free(retry_s);
	free(type_s);
	return 0;
}
