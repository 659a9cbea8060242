/*
 * Upstream token requests: libcurl's multi interface driven by libevent
 * (after curl's hiperfifo.c). Owns every curl handle. To protect the
 * issuer (OpenCRVS checks each secret with bcrypt), at most max_upstream
 * requests per issuer host are in flight; the others wait in order in that
 * host's queue, and start as earlier ones end. client.c calls fetch_start
 * and fetch_cancel and gets one callback per request.
 */
#include "config.h"

#include <sys/queue.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "clock.h"
#include "conf.h"
#include "fetch.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

struct fetch_req;

/* One issuer host ("host:port"): its requests in flight and its queue. */
struct fetch_host {
	char			*key;
	int			 active;
	TAILQ_HEAD(, fetch_req)	 queue;
	LIST_ENTRY(fetch_host)	 entry;
};

struct fetch {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct event		*kick;		/* starts queued requests */
	int			 max_per_host;
	LIST_HEAD(, fetch_host)	 hosts;
	/* Easy handles of finished requests, for the next ones: a request
	 * gets one only when it is sent, so a burst of queued requests
	 * (1,000 clients at start-up) neither holds a thousand of them nor
	 * leaves the heap riddled with their holes. */
	CURL			*idle[FETCH_IDLE_MAX];
	int			 nidle;
};

struct fetch_req {
	struct fetch		*fetch;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*url;		/* secmem: may hold the secret */
	char			*ca_file;
	long			 timeout_ms;
	int			 noproxy;	/* loopback issuer */
	struct secbuf		 post;		/* request body */
	struct secbuf		 body;		/* answer */
	char			*secret;	/* secmem copy, for scrubbing */
	char			 errbuf[CURL_ERROR_SIZE];
	int			 too_big;
	int64_t			 date;
	char			 retry_after[64];	/* as sent */
	int64_t			 boot_sent;
	int64_t			 wall_sent;
	fetch_cb		 cb;
	void			*arg;
	struct fetch_host	*host;
	int			 state;		/* FETCH_QUEUED... */
	TAILQ_ENTRY(fetch_req)	 entry;		/* in host->queue */
};
#define FETCH_QUEUED	0
#define FETCH_ACTIVE	1

/* One per socket curl watches. */
struct fetch_sock {
	struct event		*ev;
};

static void	fetch_check_done(struct fetch *);
static void	fetch_kick_cb(evutil_socket_t, short, void *);

static void
fetch_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch	*f = arg;
	int		 running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(f->multi, fd, action, &running);
	fetch_check_done(f);
}

static void
fetch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch	*f = arg;
	int		 running;

	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	fetch_check_done(f);
}

static int
fetch_multi_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct fetch	*f = arg;
	struct timeval	 tv;

	if (timeout_ms < 0) {
		evtimer_del(f->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(f->timer, &tv);
	return 0;
}

static int
fetch_multi_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg,
    void *sockp)
{
	struct fetch		*f = arg;
	struct fetch_sock	*fs = sockp;
	short			 kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (fs != NULL) {
			event_free(fs->ev);
			free(fs);
			curl_multi_assign(f->multi, s, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (fs == NULL) {
		fs = xcalloc(1, sizeof *fs);
		curl_multi_assign(f->multi, s, fs);
	} else
		event_free(fs->ev);
	fs->ev = event_new(f->base, s, kind, fetch_event_cb, f);
	if (fs->ev == NULL || event_add(fs->ev, NULL) == -1)
		fatal("cannot watch an upstream socket");
	return 0;
}

struct fetch *
fetch_new(struct event_base *base)
{
	struct fetch	*f = xcalloc(1, sizeof *f);

	f->base = base;
	if ((f->multi = curl_multi_init()) == NULL)
		fatal("curl_multi_init failed");
	f->timer = evtimer_new(base, fetch_timer_cb, f);
	f->kick = event_new(base, -1, 0, fetch_kick_cb, f);
	f->max_per_host = FETCH_MAX_UPSTREAM;
	LIST_INIT(&f->hosts);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION,
	    fetch_multi_socket_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION,
	    fetch_multi_timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	return f;
}

void
fetch_free(struct fetch *f)
{
	struct fetch_host	*h;

	if (f == NULL)
		return;
	/* The clients cancelled their requests first: hosts are empty. */
	while ((h = LIST_FIRST(&f->hosts)) != NULL) {
		LIST_REMOVE(h, entry);
		free(h->key);
		free(h);
	}
	while (f->nidle > 0)
		curl_easy_cleanup(f->idle[--f->nidle]);
	curl_multi_cleanup(f->multi);
	event_free(f->timer);
	event_free(f->kick);
	free(f);
}

void
fetch_set_max_upstream(struct fetch *f, int n)
{
	f->max_per_host = n > 0 ? n : 1;
	/* A higher cap lets queued requests go now. */
	event_active(f->kick, EV_TIMEOUT, 0);
}

/* The queue of an issuer: scheme aside, the same host and port. */
static struct fetch_host *
fetch_host_get(struct fetch *f, const char *url)
{
	struct fetch_host	*h;
	CURLU			*u;
	char			*host = NULL, *port = NULL, *key;

	if ((u = curl_url()) == NULL)
		fatal("curl_url failed");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK)
		key = xstrdup(url);	/* (conf.c checked it) */
	else
		key = xasprintf("%s:%s", host, port);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	for (key[strcspn(key, "?")] = '\0', host = key; *host != '\0'; host++)
		*host = (char)tolower((unsigned char)*host);
	LIST_FOREACH(h, &f->hosts, entry) {
		if (strcmp(h->key, key) == 0) {
			free(key);
			return h;
		}
	}
	h = xcalloc(1, sizeof *h);
	h->key = key;
	TAILQ_INIT(&h->queue);
	LIST_INSERT_HEAD(&f->hosts, h, entry);
	return h;
}

static size_t
fetch_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct fetch_req	*r = arg;

	if (r->body.len + size * n > FETCH_BODY_MAX) {
		r->too_big = 1;
		return 0;	/* aborts the transfer */
	}
	secbuf_append(&r->body, data, size * n);
	return size * n;
}

/* The last second of the year 9999: no HTTP date means more, and in
 * milliseconds it stays far from int64_t's end. */
#define FETCH_DATE_MAX	253402300799LL

int64_t
fetch_parse_date(const char *v)
{
	time_t	t = curl_getdate(v, NULL);

	return t < 0 || (long long)t > FETCH_DATE_MAX ? -1 : (int64_t)t;
}

int64_t
fetch_parse_retry_after(const char *v, int64_t now_ms)
{
	long long	secs;
	int64_t		t;

	while (*v == ' ')
		v++;
	if (*v == '\0')
		return -1;
	if (util_parse_int(v, 0, 86400, &secs) == 0)
		return secs * 1000;
	if ((t = fetch_parse_date(v)) == -1)
		return -1;
	return t * 1000 > now_ms ? t * 1000 - now_ms : 0;
}

static size_t
fetch_header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct fetch_req	*r = arg;
	size_t			 len = size * n;
	char			 line[256];
	char			*v;

	if (len >= sizeof line)
		return len;
	memcpy(line, data, len);
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	/* A new status line (after 100 Continue) starts over. */
	if (strncmp(line, "HTTP/", 5) == 0) {
		r->date = -1;
		r->retry_after[0] = '\0';
		return len;
	}
	if ((v = strchr(line, ':')) == NULL)
		return len;
	*v++ = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	if (strcasecmp(line, "Date") == 0) {
		r->date = fetch_parse_date(v);
	} else if (strcasecmp(line, "Retry-After") == 0)
		snprintf(r->retry_after, sizeof r->retry_after, "%s", v);
	return len;
}

/* An easy handle for a request about to be sent: a finished one, or new. */
static CURL *
fetch_easy_get(struct fetch *f)
{
	CURL	*e;

	if (f->nidle > 0)
		return f->idle[--f->nidle];
	if ((e = curl_easy_init()) == NULL)
		fatal("curl_easy_init failed");
	return e;
}

/* A finished request's handle, its options (URL, headers) forgotten. */
static void
fetch_easy_put(struct fetch *f, CURL *e)
{
	if (e == NULL)
		return;
	curl_easy_reset(e);
	if (f->nidle < FETCH_IDLE_MAX)
		f->idle[f->nidle++] = e;
	else
		curl_easy_cleanup(e);
}

static void
fetch_req_free(struct fetch_req *r)
{
	struct curl_slist	*h;

	if (r->state == FETCH_QUEUED)
		TAILQ_REMOVE(&r->host->queue, r, entry);
	else {
		curl_multi_remove_handle(r->fetch->multi, r->easy);
		r->host->active--;
		/* Its place goes to the next in the queue, from the loop:
		 * this may run inside the caller's callback. */
		if (!TAILQ_EMPTY(&r->host->queue))
			event_active(r->fetch->kick, EV_TIMEOUT, 0);
	}
	fetch_easy_put(r->fetch, r->easy);
	free(r->ca_file);
	/* The Authorization: Basic header holds the secret. */
	for (h = r->headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(r->headers);
	secmem_free(r->url);
	secbuf_reset(&r->post);
	secbuf_reset(&r->body);
	secmem_free(r->secret);
	explicit_bzero(r->errbuf, sizeof r->errbuf);
	free(r);
}

void
fetch_cancel(struct fetch_req *r)
{
	if (r != NULL)
		fetch_req_free(r);
}

/* Appends key=value, form-encoded (RFC 6749 appendix B). */
static void
fetch_form_add(struct fetch_req *r, struct secbuf *b, const char *key,
    const char *value)
{
	char	*esc = curl_easy_escape(NULL, value, 0);

	if (esc == NULL)
		fatal("out of memory");
	if (b->len > 0)
		secbuf_appends(b, "&");
	secbuf_appends(b, key);
	secbuf_appends(b, "=");
	secbuf_appends(b, esc);
	explicit_bzero(esc, strlen(esc));
	curl_free(esc);
}

static void
fetch_basic_header(struct fetch_req *r, const struct conf_client *c)
{
	struct secbuf	 pair = { 0 }, hdr = { 0 };
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char		*esc;
	size_t		 i;
	unsigned	 v;
	char		 q[4];

	/* RFC 6749 2.3.1: both parts form-encoded, then Basic. */
	esc = curl_easy_escape(NULL, c->client_id, 0);
	secbuf_appends(&pair, esc);
	curl_free(esc);
	secbuf_appends(&pair, ":");
	esc = curl_easy_escape(NULL, c->secret, 0);
	secbuf_appends(&pair, esc);
	explicit_bzero(esc, strlen(esc));
	curl_free(esc);

	secbuf_appends(&hdr, "Authorization: Basic ");
	for (i = 0; i < pair.len; i += 3) {
		v = (unsigned)(unsigned char)pair.data[i] << 16;
		if (i + 1 < pair.len)
			v |= (unsigned)(unsigned char)pair.data[i + 1] << 8;
		if (i + 2 < pair.len)
			v |= (unsigned char)pair.data[i + 2];
		q[0] = tbl[(v >> 18) & 63];
		q[1] = tbl[(v >> 12) & 63];
		q[2] = i + 1 < pair.len ? tbl[(v >> 6) & 63] : '=';
		q[3] = i + 2 < pair.len ? tbl[v & 63] : '=';
		secbuf_append(&hdr, q, 4);
	}
	r->headers = curl_slist_append(r->headers, hdr.data);
	secbuf_reset(&pair);
	secbuf_reset(&hdr);
}

/* The request's parameters, in the shape request_format asks for. */
static void
fetch_build_request(struct fetch_req *r, const struct conf_client *c)
{
	struct secbuf	 params = { 0 }, url = { 0 };
	json_object	*root, *sec = NULL;
	const char	*s;
	size_t		 len;
	int		 in_body = c->client_auth == CONF_AUTH_BODY;

	secbuf_appends(&url, c->token_url);
	if (c->request_format == CONF_FORMAT_JSON) {
		root = json_object_new_object();
		json_object_object_add(root, "grant_type",
		    json_object_new_string("client_credentials"));
		if (in_body) {
			json_object_object_add(root, "client_id",
			    json_object_new_string(c->client_id));
			sec = json_object_new_string(c->secret);
			json_object_object_add(root, "client_secret", sec);
		}
		if (c->scope != NULL)
			json_object_object_add(root, "scope",
			    json_object_new_string(c->scope));
		s = json_object_to_json_string_length(root,
		    JSON_C_TO_STRING_PLAIN, &len);
		secbuf_append(&r->post, s, len);
		/* Wipe json-c's copies of the secret before they are freed. */
		explicit_bzero((char *)s, len);
		if (sec != NULL)
			explicit_bzero((char *)json_object_get_string(sec),
			    (size_t)json_object_get_string_len(sec));
		json_object_put(root);
		r->headers = curl_slist_append(r->headers,
		    "Content-Type: application/json");
	} else {
		fetch_form_add(r, &params, "grant_type", "client_credentials");
		if (in_body) {
			fetch_form_add(r, &params, "client_id", c->client_id);
			fetch_form_add(r, &params, "client_secret", c->secret);
		}
		if (c->scope != NULL)
			fetch_form_add(r, &params, "scope", c->scope);
		if (c->request_format == CONF_FORMAT_FORM) {
			secbuf_append(&r->post, params.data, params.len);
			r->headers = curl_slist_append(r->headers,
			    "Content-Type: application/x-www-form-urlencoded");
		} else {
			/* OpenCRVS 1.x reads the query string only. */
			secbuf_appends(&url,
			    strchr(c->token_url, '?') ? "&" : "?");
			secbuf_append(&url, params.data, params.len);
			secbuf_append(&r->post, "", 0);
		}
	}
	r->url = secmem_strndup(url.data, url.len);
	secbuf_reset(&url);
	secbuf_reset(&params);
	if (!in_body)
		fetch_basic_header(r, c);
}

/*
 * curl's words for a failure can quote the URL, which in query mode holds
 * the secret: use them only when neither the secret nor a query is there.
 */
static char *
fetch_error_words(struct fetch_req *r, CURLcode code)
{
	char	*esc;
	int	 unsafe = 0;

	if (r->errbuf[0] == '\0')
		return xstrdup(curl_easy_strerror(code));
	if (strchr(r->errbuf, '?') != NULL || strstr(r->errbuf, r->secret))
		unsafe = 1;
	esc = curl_easy_escape(NULL, r->secret, 0);
	if (esc != NULL) {
		if (strstr(r->errbuf, esc) != NULL)
			unsafe = 1;
		explicit_bzero(esc, strlen(esc));
		curl_free(esc);
	}
	if (unsafe)
		return xstrdup(curl_easy_strerror(code));
	r->errbuf[strcspn(r->errbuf, "\r\n")] = '\0';
	return xstrdup(r->errbuf);
}

static void
fetch_done(struct fetch_req *r, CURLcode code)
{
	struct fetch_result	 res = { 0 };
	char			*words = NULL;
	long			 status = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	res.status = status;
	if (code == CURLE_FILESIZE_EXCEEDED)
		r->too_big = 1;
	res.too_big = r->too_big;
	if (r->too_big)
		res.error = "answer larger than the body limit";
	else if (code != CURLE_OK) {
		words = fetch_error_words(r, code);
		res.error = words;
		res.status = 0;
	}
	res.body = r->body.data != NULL ? r->body.data : "";
	res.len = r->body.len;
	res.date = r->date;
	/* An HTTP date in Retry-After is the issuer's: compare it with the
	 * issuer's Date, not with our clock. */
	res.retry_after_ms = fetch_parse_retry_after(r->retry_after,
	    r->date >= 0 ? r->date * 1000 : clock_wall_ms());
	res.boot_sent = r->boot_sent;
	res.wall_sent = r->wall_sent;
	r->cb(r->arg, &res);
	free(words);
	fetch_req_free(r);
}

static void
fetch_check_done(struct fetch *f)
{
	CURLMsg			*msg;
	int			 left;
	struct fetch_req	*r;

	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
		fetch_done(r, msg->data.result);
	}
}

/* The request's options, on the handle it is sent with. */
static void
fetch_easy_setup(struct fetch_req *r)
{
	CURL	*e = r->easy = fetch_easy_get(r->fetch);

	curl_easy_setopt(e, CURLOPT_URL, r->url);
	if (r->noproxy)
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_VERBOSE, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (r->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, r->ca_file);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE, (long)FETCH_BODY_MAX);
	curl_easy_setopt(e, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->post.data);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->post.len);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fetch_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, fetch_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	/* A fresh connection each time: refreshes are minutes apart. */
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
}

/* Moves a request from its host's queue to curl. */
static int
fetch_dispatch(struct fetch_req *r, char **cause)
{
	CURLMcode	 mc;

	TAILQ_REMOVE(&r->host->queue, r, entry);
	r->state = FETCH_ACTIVE;
	r->host->active++;
	fetch_easy_setup(r);
	/* The token's lifetime counts from the moment it is asked for. */
	r->boot_sent = clock_boot_ms();
	r->wall_sent = clock_wall_ms();
	if ((mc = curl_multi_add_handle(r->fetch->multi, r->easy)) !=
	    CURLM_OK) {
		util_cause(cause, "cannot start request: %s",
		    curl_multi_strerror(mc));
		fetch_req_free(r);
		return -1;
	}
	return 0;
}

/* Starts queued requests, oldest first, up to each host's cap. */
static void
fetch_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch		*f = arg;
	struct fetch_host	*h;
	struct fetch_req	*r;
	char			*cause = NULL;
	fetch_cb		 cb;
	void			*cbarg;
	struct fetch_result	 res;

	LIST_FOREACH(h, &f->hosts, entry) {
		while (h->active < f->max_per_host &&
		    (r = TAILQ_FIRST(&h->queue)) != NULL) {
			cb = r->cb;
			cbarg = r->arg;
			if (fetch_dispatch(r, &cause) == 0)
				continue;
			/* As if curl had failed: the client backs off. */
			memset(&res, 0, sizeof res);
			res.error = cause;
			res.body = "";
			res.date = -1;
			res.retry_after_ms = -1;
			res.boot_sent = clock_boot_ms();
			res.wall_sent = clock_wall_ms();
			cb(cbarg, &res);
			free(cause);
			cause = NULL;
		}
	}
}

/*
 * A loopback issuer is never reached through a proxy from the environment
 * (http_proxy, ALL_PROXY): its http:// request carries the secret in clear
 * text. Other hosts keep the environment's proxy (https_proxy: a CONNECT
 * tunnel keeps TLS end to end). A URL curl cannot read counts as loopback:
 * no proxy.
 */
static int
fetch_url_is_loopback(const char *url)
{
	CURLU	*u;
	char	*host = NULL;
	int	 loopback = 1;

	if ((u = curl_url()) == NULL)
		fatal("curl_url failed");
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		loopback = conf_is_loopback(host);
	curl_free(host);
	curl_url_cleanup(u);
	return loopback;
}

struct fetch_req *
fetch_start(struct fetch *f, const struct conf_client *c, fetch_cb cb,
    void *arg, char **cause)
{
	struct fetch_req	*r = xcalloc(1, sizeof *r);

	r->fetch = f;
	r->cb = cb;
	r->arg = arg;
	r->secret = secmem_strdup(c->secret);
	r->date = -1;
	fetch_build_request(r, c);
	r->headers = curl_slist_append(r->headers, "Accept: application/json");
	r->headers = curl_slist_append(r->headers, "Expect:");
	r->noproxy = fetch_url_is_loopback(c->token_url);
	if (c->ca_file != NULL)
		r->ca_file = xstrdup(c->ca_file);
	r->timeout_ms = (long)c->timeout * 1000;

	r->host = fetch_host_get(f, c->token_url);
	r->state = FETCH_QUEUED;
	TAILQ_INSERT_TAIL(&r->host->queue, r, entry);
	if (r->host->active < f->max_per_host &&
	    TAILQ_FIRST(&r->host->queue) == r) {
		if (fetch_dispatch(r, cause) == -1)
			return NULL;
	} else
		log_debug(NULL, "%s: %d token requests in flight; the next "
		    "one waits its turn", r->host->key, r->host->active);
	return r;
}
