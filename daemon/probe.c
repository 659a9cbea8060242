/*
 * crvs-tokend --probe: what an operator runs after editing a secret or
 * before deploying. For each client it makes one real token request
 * through fetch.c and judges the answer with token.c, exactly as the
 * daemon would, then reports what happened: the HTTP status, the issuer's
 * own words, the token's lifetime and scopes (read from its claims; the
 * token itself is never shown and is wiped at once), how far the issuer's
 * clock is from ours, and a verdict. It runs an event loop of its own for
 * the requests: no socket, no sd_notify, no daemon needed. main.c calls it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "conf.h"
#include "fetch.h"
#include "log.h"
#include "probe.h"
#include "refresh.h"
#include "secmem.h"
#include "token.h"
#include "util.h"

/* Offsets within this are the Date header's resolution and the trip. */
#define PROBE_CLOCK_SLOP_MS	1500

struct probe;

/* One client's request and what came of it. */
struct probe_item {
	struct probe			*probe;
	const struct conf_client	*conf;
	struct fetch_req		*req;
	int64_t				 boot_start;
	int64_t				 elapsed_ms;

	long				 status;	/* 0: no answer */
	char				*transport;	/* no answer: why */
	char				*issuer_said;	/* 4xx, 5xx */
	char				*bad_answer;	/* 200, but unusable */
	int				 has_date;
	int64_t				 clock_offset_ms;	/* issuer - us */

	int				 usable;
	int				 is_jwt;
	int64_t				 lifetime_ms;
	const char			*judged_by;
	char				*scope;		/* NULL: none stated */
};

struct probe {
	struct event_base	*base;
	struct probe_item	*items;
	size_t			 nitems;
	size_t			 ndone;
};

static void
probe_item_done(struct probe_item *it)
{
	struct probe	*p = it->probe;

	it->req = NULL;
	if (++p->ndone == p->nitems && p->base != NULL)
		event_base_loopbreak(p->base);
}

/* A 200 answer: judged as client.c judges it, then the token wiped. */
static void
probe_judge_token(struct probe_item *it, const struct fetch_result *res)
{
	struct token_input	 in;
	struct token_result	 t;
	char			*cause = NULL;
	int64_t			 left;

	in.body = res->body;
	in.len = res->len;
	in.date = res->date;
	in.wall_sent = res->wall_sent;
	in.fallback_lifetime = it->conf->fallback_lifetime;
	if (token_parse_response(&in, &t, &cause) == -1) {
		it->bad_answer = cause;
		return;
	}
	it->is_jwt = t.is_jwt;
	it->lifetime_ms = t.lifetime_ms;
	it->judged_by = t.judged_by;
	it->scope = token_jwt_scope(t.token, t.len);
	secmem_free(t.token);
	left = res->boot_sent + t.lifetime_ms - clock_boot_ms();
	if (left <= (int64_t)it->conf->min_valid * 1000) {
		it->bad_answer = xasprintf("the token %s %lld s, not more than "
		    "min_valid (%d s)", left < t.lifetime_ms - 1000 ?
		    "arrived with" : "lives", (long long)(left / 1000),
		    it->conf->min_valid);
		return;
	}
	it->usable = 1;
}

static void
probe_fetch_cb(void *arg, const struct fetch_result *res)
{
	struct probe_item	*it = arg;
	int64_t			 wall_now = clock_wall_ms();

	it->elapsed_ms = clock_boot_ms() - it->boot_start;
	it->status = res->status;
	if (res->error != NULL && !res->too_big) {
		it->status = 0;
		it->transport = util_escape(res->error, strlen(res->error), 300);
		probe_item_done(it);
		return;
	}
	if (res->date >= 0) {
		/*
		 * Date counts whole seconds (the issuer's time is in
		 * [Date, Date + 1 s)); take the middle, against the middle of
		 * our request.
		 */
		it->has_date = 1;
		it->clock_offset_ms = res->date * 1000 + 500 -
		    (res->wall_sent + wall_now) / 2;
	}
	if (res->too_big)
		it->bad_answer = xstrdup(res->error);
	else if (res->status != 200)
		it->issuer_said = token_describe_error(res->status, res->body,
		    res->len, it->conf);
	else
		probe_judge_token(it, res);
	probe_item_done(it);
}

/* token_url without a query string, which could hold anything. */
static char *
probe_url(const char *url)
{
	return util_escape(url, strcspn(url, "?#"), 200);
}

static const char *
probe_format_name(enum conf_format f)
{
	switch (f) {
	case CONF_FORMAT_JSON:
		return "json";
	case CONF_FORMAT_FORM:
		return "form";
	case CONF_FORMAT_QUERY:
		return "query";
	}
	return "?";
}

static void
probe_report_clock(const struct probe_item *it, FILE *out)
{
	int64_t	off = it->clock_offset_ms, mag = off < 0 ? -off : off;

	if (!it->has_date) {
		fprintf(out, "  issuer clock:  unknown (no Date header)\n");
		return;
	}
	if (mag <= PROBE_CLOCK_SLOP_MS) {
		fprintf(out, "  issuer clock:  in step with ours (within "
		    "%.1f s, by its Date header)\n",
		    (double)PROBE_CLOCK_SLOP_MS / 1000);
		return;
	}
	fprintf(out, "  issuer clock:  %lld s %s ours (by its Date header)%s\n",
	    (long long)((mag + 500) / 1000), off > 0 ? "ahead of" : "behind",
	    mag > 60000 ? "; crvs-tokend judges lifetimes by the issuer's "
	    "clock, but check NTP on both sides" : "");
}

/*
 * The kind of a transport failure, for the verdict only: fetch.c hands over
 * curl's words, whose details (the timeout, the certificate) matter most
 * and are shown as they are.
 */
static const char *
probe_transport_verdict(const char *words, int timeout)
{
	static char	buf[128];

	if (strcasestr(words, "timed out") != NULL ||
	    strcasestr(words, "timeout") != NULL) {
		snprintf(buf, sizeof buf, "the issuer did not answer within "
		    "timeout (%d s)", timeout);
		return buf;
	}
	if (strstr(words, "SSL") != NULL || strstr(words, "TLS") != NULL ||
	    strcasestr(words, "certificate") != NULL)
		return "the TLS handshake with the issuer failed (its "
		    "certificate, ca_file, or not TLS at all)";
	if (strcasestr(words, "connect") != NULL ||
	    strcasestr(words, "resolve") != NULL)
		return "the issuer is unreachable";
	return "no answer from the issuer";
}

/* The report of one client; the verdict's first word is OK or FAILED. */
static void
probe_report(const struct probe_item *it, FILE *out)
{
	const struct conf_client	*c = it->conf;
	char				*url = probe_url(c->token_url), *said;
	const char			*hint;
	size_t				 n, hlen = strlen(TOKEN_HINT_QUERY);

	fprintf(out, "client %s: %s (request_format %s%s)\n", c->name, url,
	    probe_format_name(c->request_format),
	    c->client_auth == CONF_AUTH_BASIC ? ", client_auth basic" : "");
	free(url);
	if (it->status == 0 && it->transport != NULL) {
		fprintf(out, "  HTTP status:   none, after %.1f s\n",
		    (double)it->elapsed_ms / 1000);
		fprintf(out, "  transport:     %s\n", it->transport);
		fprintf(out, "  verdict:       FAILED: %s\n",
		    probe_transport_verdict(it->transport, c->timeout));
		return;
	}
	fprintf(out, "  HTTP status:   %ld, after %.1f s\n", it->status,
	    (double)it->elapsed_ms / 1000);
	if (it->issuer_said != NULL) {
		said = it->issuer_said;
		n = strlen(said);
		hint = NULL;
		if (n > hlen && strcmp(said + n - hlen, TOKEN_HINT_QUERY) == 0)
			hint = said + n - hlen + strlen("; hint: ");
		fprintf(out, "  issuer said:   %.*s\n",
		    (int)(hint != NULL ? n - hlen : n), said);
		if (hint != NULL)
			fprintf(out, "  hint:          %s\n", hint);
	}
	if (it->usable || it->lifetime_ms > 0) {
		fprintf(out, "  token:         %s, lifetime %lld s (judged by "
		    "%s)\n", it->is_jwt ? "JWT" : "opaque",
		    (long long)(it->lifetime_ms / 1000), it->judged_by);
		fprintf(out, "  scopes:        %s\n", it->scope != NULL ?
		    it->scope : it->is_jwt ? "(none in the token's claims)" :
		    "(an opaque token has no claims to read)");
	}
	probe_report_clock(it, out);
	if (it->usable)
		fprintf(out, "  verdict:       OK: a usable token\n");
	else if (it->bad_answer != NULL)
		fprintf(out, "  verdict:       FAILED: no usable token in the "
		    "answer: %s\n", it->bad_answer);
	else if (refresh_classify_status(it->status) == REFRESH_REJECTED)
		fprintf(out, "  verdict:       FAILED: the issuer refused the "
		    "request (HTTP %ld)\n", it->status);
	else
		fprintf(out, "  verdict:       FAILED: the issuer failed "
		    "(HTTP %ld); try again later\n", it->status);
}

static void
probe_item_clear(struct probe_item *it)
{
	fetch_cancel(it->req);
	free(it->transport);
	free(it->issuer_said);
	free(it->bad_answer);
	free(it->scope);
}

int
probe_run(const struct conf *conf, char *const *names, size_t nnames,
    FILE *out, char **cause)
{
	struct probe		 p = { 0 };
	struct fetch		*fetch;
	struct probe_item	*it;
	struct conf_client	*c;
	char			*why = NULL;
	size_t			 i, usable = 0;

	for (i = 0; i < nnames; i++) {
		if (conf_find_client(conf, names[i]) == NULL) {
			why = util_escape(names[i], strlen(names[i]), 80);
			util_cause(cause, "no client '%s' in %s", why,
			    conf->path);
			free(why);
			return -1;
		}
	}
	p.nitems = nnames > 0 ? nnames : conf->nclients;
	if (p.nitems == 0) {
		fprintf(out, "no clients configured in %s\n", conf->path);
		return 1;
	}
	p.items = xcalloc(p.nitems, sizeof *p.items);
	if ((p.base = event_base_new()) == NULL)
		fatal("event_base_new failed");
	fetch = fetch_new(p.base);
	for (i = 0; i < p.nitems; i++) {
		it = &p.items[i];
		c = nnames > 0 ? conf_find_client(conf, names[i]) :
		    conf->clients[i];
		it->probe = &p;
		it->conf = c;
		it->boot_start = clock_boot_ms();
		it->req = fetch_start(fetch, c, probe_fetch_cb, it, &why);
		if (it->req == NULL) {
			it->transport = why;
			why = NULL;
			probe_item_done(it);
		}
	}
	if (p.ndone < p.nitems)
		event_base_dispatch(p.base);

	for (i = 0; i < p.nitems; i++) {
		it = &p.items[i];
		if (i > 0)
			fputc('\n', out);
		probe_report(it, out);
		if (it->usable)
			usable++;
		probe_item_clear(it);
	}
	fprintf(out, "\n%zu of %zu client%s got a usable token\n", usable,
	    p.nitems, p.nitems == 1 ? "" : "s");
	fetch_free(fetch);
	event_base_free(p.base);
	free(p.items);
	return usable == p.nitems ? 0 : 1;
}
