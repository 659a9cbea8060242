#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "acl.h"
#include "api.h"
#include "client.h"
#include "conf.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

/* How long a request waits beyond the client's upstream timeout. */
#define API_WAIT_SLACK_MS	2000
#define API_REFRESH_BODY_MAX	(TOKEN_BODY_MAX)
#define TOKEN_BODY_MAX		(70 * 1024)

struct api {
	struct client	**clients;
	size_t		  nclients;
	struct client	**by_name;	/* clients sorted by name */
	uid_t		  self_uid;
	uint64_t	  requests;
	uint64_t	  tokens_served;
	uint64_t	  denied;
	uint64_t	  connections_rejected;
};

/* A token request that waits for a fetch. */
struct api_wait {
	struct api		*api;
	struct api_request	*req;
	struct client_waiter	*waiter;
	char			 name[CONF_NAME_MAX + 1];
};

struct api_route {
	enum api_method	 method;
	const char	*pattern;	/* "*" matches a client name */
	void		(*fn)(struct api *, struct api_request *,
			    struct client *);
};

static void	api_get_token(struct api *, struct api_request *,
		    struct client *);
static void	api_post_refresh(struct api *, struct api_request *,
		    struct client *);
static void	api_get_clients(struct api *, struct api_request *,
		    struct client *);
static void	api_get_client(struct api *, struct api_request *,
		    struct client *);
static void	api_get_health(struct api *, struct api_request *,
		    struct client *);
static void	api_get_metrics(struct api *, struct api_request *,
		    struct client *);

static const struct api_route api_routes[] = {
	{ API_GET, "/v1/clients/*/token", api_get_token },
	{ API_POST, "/v1/clients/*/refresh", api_post_refresh },
	{ API_GET, "/v1/clients", api_get_clients },
	{ API_GET, "/v1/clients/*", api_get_client },
	{ API_GET, "/v1/health", api_get_health },
	{ API_GET, "/metrics", api_get_metrics },
};

struct api *
api_new(uid_t self_uid)
{
	struct api	*api = xcalloc(1, sizeof *api);

	api->self_uid = self_uid;
	return api;
}

void
api_free(struct api *api)
{
	free(api->by_name);
	free(api);
}

static int
api_name_cmp(const void *a, const void *b)
{
	return strcmp(client_name(*(struct client *const *)a),
	    client_name(*(struct client *const *)b));
}

void
api_set_clients(struct api *api, struct client **clients, size_t n)
{
	api->clients = clients;
	api->nclients = n;
	/* Every token request looks a name up: not a scan of 1,000. */
	free(api->by_name);
	api->by_name = xreallocarray(NULL, n ? n : 1, sizeof *api->by_name);
	if (n > 0)
		memcpy(api->by_name, clients, n * sizeof *clients);
	qsort(api->by_name, n, sizeof *api->by_name, api_name_cmp);
}

void
api_count_refused(struct api *api)
{
	api->connections_rejected++;
}

static struct client *
api_find(struct api *api, const char *name)
{
	size_t	lo = 0, hi = api->nclients, mid;
	int	cmp;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		cmp = strcmp(name, client_name(api->by_name[mid]));
		if (cmp == 0)
			return api->by_name[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Sends o (which is released) and wipes json-c's rendering of it. */
static void
api_send_json(struct api_request *req, int status, json_object *o)
{
	const char	*s;
	size_t		 len;

	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	req->reply(req->ctx, status, "application/json", s, len);
	explicit_bzero((char *)s, len);
	json_object_put(o);
}

static void
api_error(struct api_request *req, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
api_error(struct api_request *req, int status, const char *code,
    const char *fmt, ...)
{
	json_object	*o = json_object_new_object();
	va_list		 ap;
	char		*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	json_object_object_add(o, "error", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(msg));
	free(msg);
	api_send_json(req, status, o);
}

/* Which rendering of a token answer (client_render's kinds). */
enum api_render {
	API_RENDER_JSON,
	API_RENDER_TEXT,
};

/* Returns a new rendering of the answer with t, with one reference. */
static struct secblob *
api_render(enum api_render kind, const char *name,
    const struct client_token *t)
{
	json_object	*o, *tok;
	struct secblob	*b;
	const char	*s;
	size_t		 len;

	if (kind == API_RENDER_TEXT) {
		b = secblob_new(t->token, t->len + 1);
		b->data[t->len] = '\n';
		return b;
	}
	o = json_object_new_object();
	json_object_object_add(o, "client", json_object_new_string(name));
	tok = json_object_new_string_len(t->token, (int)t->len);
	json_object_object_add(o, "access_token", tok);
	json_object_object_add(o, "token_type",
	    json_object_new_string("Bearer"));
	json_object_object_add(o, "expires_at",
	    json_object_new_int64(t->expires_at));
	json_object_object_add(o, "expires_in",
	    json_object_new_int64(t->expires_in_ms / 1000));
	json_object_get(tok);
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	b = secblob_new(s, len);
	b->tag[0] = t->expires_at;
	b->tag[1] = t->expires_in_ms / 1000;
	explicit_bzero((char *)s, len);
	json_object_put(o);
	explicit_bzero((char *)json_object_get_string(tok), t->len);
	json_object_put(tok);
	return b;
}

/*
 * A token is the same bytes for minutes: each answer is rendered once per
 * token (the JSON one again when expires_in or expires_at moves, at most
 * once a second) and kept by the client, which drops it with the token.
 */
static void
api_send_token(struct api_request *req, struct client *c, const char *name,
    const struct client_token *t)
{
	enum api_render	 kind = req->want_text ? API_RENDER_TEXT :
			    API_RENDER_JSON;
	const char	*type = req->want_text ? "text/plain; charset=utf-8" :
			    "application/json";
	struct secblob	*b = client_render(c, (int)kind);

	if (b == NULL || (kind == API_RENDER_JSON &&
	    (b->tag[0] != t->expires_at ||
	    b->tag[1] != t->expires_in_ms / 1000))) {
		b = api_render(kind, name, t);
		client_set_render(c, (int)kind, secblob_ref(b));
	} else
		secblob_ref(b);
	if (req->reply_ref != NULL)
		req->reply_ref(req->ctx, 200, type, b);
	else
		req->reply(req->ctx, 200, type, b->data, b->len);
	secblob_unref(b);
}

static void
api_token_cb(void *arg, const struct client_token *t, int status,
    const char *message)
{
	struct api_wait		*w = arg;
	struct api_request	*req = w->req;

	req->cancel = NULL;
	/* A reload while this waited may have taken the caller's access
	 * (or replaced the client: t->client answers). */
	if (t != NULL && !acl_allowed(client_conf(t->client), &req->peer,
	    w->api->self_uid)) {
		w->api->denied++;
		api_error(req, 403, "forbidden", "uid %lu may no longer read "
		    "client '%s'", (unsigned long)req->peer.uid, w->name);
	} else if (t != NULL) {
		w->api->tokens_served++;
		api_send_token(req, t->client, w->name, t);
	} else
		api_error(req, status, status == 504 ? "timeout" :
		    "unavailable", "%s", message);
	free(w);
}

static void
api_wait_cancel(void *arg)
{
	struct api_wait	*w = arg;

	client_waiter_cancel(w->waiter);
	free(w);
}

/* Reads min_valid from the query string: 0 when absent, -1 when bad. */
static int
api_min_valid(struct api_request *req)
{
	struct evkeyvalq	 q;
	const char		*v;
	long long		 n = 0;
	int			 rc = 0;

	if (req->query == NULL)
		return 0;
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(req->query, &q) == -1)
		return -1;
	if ((v = evhttp_find_header(&q, "min_valid")) != NULL &&
	    util_parse_int(v, 0, 86400, &n) == -1)
		rc = -1;
	evhttp_clear_headers(&q);
	return rc == -1 ? -1 : (int)n;
}

static void
api_token_common(struct api *api, struct api_request *req, struct client *c,
    int force, const char *rejected, size_t rejected_len)
{
	struct api_wait		*w;
	struct client_waiter	*waiter;
	int			 min_valid;

	if ((min_valid = api_min_valid(req)) == -1) {
		api_error(req, 400, "bad_request", "min_valid must be a whole "
		    "number of seconds from 0 to 86400");
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->api = api;
	w->req = req;
	strncpy(w->name, client_name(c), sizeof w->name - 1);
	waiter = client_get_token(c, min_valid, force, rejected,
	    rejected_len, (int64_t)client_conf(c)->timeout * 1000 +
	    API_WAIT_SLACK_MS, api_token_cb, w);
	/* NULL: the callback has run, and w and maybe req are gone. */
	if (waiter != NULL) {
		w->waiter = waiter;
		req->cancel = api_wait_cancel;
		req->cancel_arg = w;
	}
}

static void
api_get_token(struct api *api, struct api_request *req, struct client *c)
{
	api_token_common(api, req, c, 0, NULL, 0);
}

static void
api_post_refresh(struct api *api, struct api_request *req, struct client *c)
{
	json_tokener	*tk;
	json_object	*o = NULL, *v;
	char		*rejected = NULL;
	size_t		 len = 0, end;

	if (req->body_len > 0) {
		tk = json_tokener_new();
		o = json_tokener_parse_ex(tk, req->body, (int)req->body_len);
		end = json_tokener_get_parse_end(tk);
		json_tokener_free(tk);
		while (end < req->body_len &&
		    strchr(" \t\r\n", req->body[end]) != NULL)
			end++;
		if (o == NULL || !json_object_is_type(o, json_type_object) ||
		    end != req->body_len) {
			json_object_put(o);
			api_error(req, 400, "bad_request", "the body must be "
			    "a JSON object such as {\"rejected_token\": "
			    "\"...\"}");
			return;
		}
		if (json_object_object_get_ex(o, "rejected_token", &v)) {
			if (!json_object_is_type(v, json_type_string) ||
			    json_object_get_string_len(v) == 0) {
				json_object_put(o);
				api_error(req, 400, "bad_request",
				    "rejected_token must be a string");
				return;
			}
			len = (size_t)json_object_get_string_len(v);
			rejected = secmem_strndup(json_object_get_string(v),
			    len);
			explicit_bzero((char *)json_object_get_string(v), len);
		}
		json_object_put(o);
	}
	api_token_common(api, req, c, 1, rejected, len);
	secmem_free(rejected);
}

static int
api_may_read(struct api *api, struct api_request *req, struct client *c)
{
	return acl_allowed(client_conf(c), &req->peer, api->self_uid);
}

static void
api_get_clients(struct api *api, struct api_request *req, struct client *c)
{
	json_object	*o = json_object_new_object();
	json_object	*arr = json_object_new_array();
	size_t		 i;

	for (i = 0; i < api->nclients; i++) {
		if (api_may_read(api, req, api->clients[i]))
			json_object_array_add(arr,
			    client_status_json(api->clients[i]));
	}
	json_object_object_add(o, "clients", arr);
	api_send_json(req, 200, o);
}

static void
api_get_client(struct api *api, struct api_request *req, struct client *c)
{
	api_send_json(req, 200, client_status_json(c));
}

static void
api_get_health(struct api *api, struct api_request *req, struct client *c)
{
	json_object	*o = json_object_new_object();
	json_object	*bad = json_object_new_array();
	size_t		 i, n = 0;

	for (i = 0; i < api->nclients; i++) {
		c = api->clients[i];
		if (!api_may_read(api, req, c))
			continue;
		n++;
		if (!client_servable(c))
			json_object_array_add(bad,
			    json_object_new_string(client_name(c)));
	}
	if (json_object_array_length(bad) == 0) {
		json_object_put(bad);
		json_object_object_add(o, "status", json_object_new_string("ok"));
		json_object_object_add(o, "clients", json_object_new_int64(
		    (int64_t)n));
		api_send_json(req, 200, o);
		return;
	}
	json_object_object_add(o, "status",
	    json_object_new_string("unavailable"));
	json_object_object_add(o, "unavailable", bad);
	api_send_json(req, 503, o);
}

static int64_t
api_json_int(json_object *o, const char *key)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return -1;
	return json_object_get_int64(v);
}

static void
api_get_metrics(struct api *api, struct api_request *req, struct client *c)
{
	struct secbuf	 b = { 0 };
	json_object	*s;
	char		*line;
	size_t		 i;
	static const struct {
		const char	*key, *name, *type, *help;
	} m[] = {
		{ "expires_in", "crvs_tokend_token_expires_in_seconds",
		  "gauge", "Seconds the current token stays valid." },
		{ "refreshes", "crvs_tokend_refreshes_total", "counter",
		  "Tokens obtained from the issuer." },
		{ "failures", "crvs_tokend_failures_total", "counter",
		  "Failed token requests to the issuer." },
		{ "consecutive_failures",
		  "crvs_tokend_consecutive_failures", "gauge",
		  "Failed token requests since the last success." },
	};
	size_t		 k;

	secbuf_appends(&b, "# HELP crvs_tokend_token_servable Whether the "
	    "client has a token that can be served.\n"
	    "# TYPE crvs_tokend_token_servable gauge\n");
	for (i = 0; i < api->nclients; i++) {
		if (!api_may_read(api, req, api->clients[i]))
			continue;
		line = xasprintf("crvs_tokend_token_servable{client=\"%s\"} "
		    "%d\n", client_name(api->clients[i]),
		    client_servable(api->clients[i]));
		secbuf_appends(&b, line);
		free(line);
	}
	for (k = 0; k < sizeof m / sizeof m[0]; k++) {
		line = xasprintf("# HELP %s %s\n# TYPE %s %s\n", m[k].name,
		    m[k].help, m[k].name, m[k].type);
		secbuf_appends(&b, line);
		free(line);
		for (i = 0; i < api->nclients; i++) {
			if (!api_may_read(api, req, api->clients[i]))
				continue;
			s = client_status_json(api->clients[i]);
			line = xasprintf("%s{client=\"%s\"} %lld\n", m[k].name,
			    client_name(api->clients[i]),
			    (long long)api_json_int(s, m[k].key));
			json_object_put(s);
			secbuf_appends(&b, line);
			free(line);
		}
	}
	line = xasprintf("# HELP crvs_tokend_requests_total API requests.\n"
	    "# TYPE crvs_tokend_requests_total counter\n"
	    "crvs_tokend_requests_total %llu\n"
	    "# HELP crvs_tokend_tokens_served_total Tokens handed out.\n"
	    "# TYPE crvs_tokend_tokens_served_total counter\n"
	    "crvs_tokend_tokens_served_total %llu\n"
	    "# HELP crvs_tokend_denied_total Requests refused by access "
	    "control.\n"
	    "# TYPE crvs_tokend_denied_total counter\n"
	    "crvs_tokend_denied_total %llu\n"
	    "# HELP crvs_tokend_connections_refused_total Connections closed "
	    "for passing the per-uid limit.\n"
	    "# TYPE crvs_tokend_connections_refused_total counter\n"
	    "crvs_tokend_connections_refused_total %llu\n",
	    (unsigned long long)api->requests,
	    (unsigned long long)api->tokens_served,
	    (unsigned long long)api->denied,
	    (unsigned long long)api->connections_rejected);
	secbuf_appends(&b, line);
	free(line);
	req->reply(req->ctx, 200, "text/plain; version=0.0.4", b.data, b.len);
	secbuf_reset(&b);
}

/* Matches path against pattern; the "*" segment is copied into name. */
static int
api_match(const char *pattern, const char *path, char *name, size_t size)
{
	const char	*star = strchr(pattern, '*');
	size_t		 pre, post, plen = strlen(path), n;

	if (star == NULL)
		return strcmp(pattern, path) == 0;
	pre = (size_t)(star - pattern);
	post = strlen(star + 1);
	if (plen < pre + post + 1 || strncmp(path, pattern, pre) != 0 ||
	    strcmp(path + plen - post, star + 1) != 0)
		return 0;
	n = plen - pre - post;
	if (memchr(path + pre, '/', n) != NULL)
		return 0;
	if (n >= size)
		n = size - 1;	/* too long: fails the name check */
	memcpy(name, path + pre, n);
	name[n] = '\0';
	return plen - pre - post < size ? 1 : -1;
}

void
api_handle(struct api *api, struct api_request *req)
{
	const struct api_route	*r;
	struct client		*c = NULL;
	char			 name[CONF_NAME_MAX + 2];
	size_t			 i;
	int			 m, path_matched = 0;

	api->requests++;
	for (i = 0; i < sizeof api_routes / sizeof api_routes[0]; i++) {
		r = &api_routes[i];
		name[0] = '\0';
		if ((m = api_match(r->pattern, req->path, name,
		    sizeof name)) == 0)
			continue;
		path_matched = 1;
		if (r->method != req->method)
			continue;
		if (strchr(r->pattern, '*') != NULL) {
			if (m == -1 || !conf_valid_name(name)) {
				api_error(req, 400, "bad_request", "invalid "
				    "client name: use 1 to %d of A-Z a-z 0-9 "
				    ". _ -", CONF_NAME_MAX);
				return;
			}
			if ((c = api_find(api, name)) == NULL) {
				api_error(req, 404, "unknown_client", "no "
				    "client '%s' is configured", name);
				return;
			}
			if (!api_may_read(api, req, c)) {
				api->denied++;
				log_warn(name, "denied %s to uid %lu pid %ld",
				    req->path, (unsigned long)req->peer.uid,
				    (long)req->peer.pid);
				api_error(req, 403, "forbidden", "uid %lu may "
				    "not read client '%s'",
				    (unsigned long)req->peer.uid, name);
				return;
			}
			log_debug(name, "%s for uid %lu pid %ld", req->path,
			    (unsigned long)req->peer.uid, (long)req->peer.pid);
		}
		r->fn(api, req, c);
		return;
	}
	if (path_matched)
		api_error(req, 405, "bad_request", "method not allowed on %s",
		    req->path);
	else
		api_error(req, 404, "not_found", "no such path; see "
		    "crvs-tokend(8) for the API");
}
