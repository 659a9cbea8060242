/*
 * fake-issuer: a test token server that imitates the OpenCRVS token
 * endpoint (the auth service's POST /token, or POST /auth/token as seen
 * through the OpenCRVS gateway with --gateway), with failure modes that
 * can be switched at run time.  A test harness for crvs-tokend; it listens
 * on 127.0.0.1 only.  docs/opencrvs.md describes what it imitates.
 *
 * fake-issuer [--port N] [--port-file FILE] [--lifetime SECS]
 *     [--client ID:SECRET]... [--gateway] [--tls CERT KEY] [--skew SECS]
 *     [--mode MODE] [--v1]
 *
 * --v1 behaves as OpenCRVS 1.x: the parameters are read from the query
 * string only, so a request that carries them in a JSON or form body lacks
 * grant_type and gets 400 unsupported_grant_type, as the real 1.9 does.
 *
 * Token endpoint: POST /auth/token and POST /token.  Control API (same
 * listener, plain JSON answers):
 *   POST /control/mode?mode=M[&status=N][&retry_after=S][&delay=S]
 *        [&count=K][&expires_in=E][&error=CODE][&text=T]
 *                                               GET /control/mode
 *        (error and text: the OAuth error code and error_description of
 *        mode=status, text also the token_type of mode=bad_token_type; any
 *        bytes, control characters included, to test escaping)
 *   POST /control/lifetime?seconds=N            POST /control/skew?seconds=N
 *   GET  /control/stats                         POST /control/reset-stats
 *   POST /control/revoke (body: the token)
 *   POST /control/client?id=I&secret=S          (add, or change a secret)
 *   POST /control/client?id=I&delete=1          (remove a client)
 *   GET  /gateway/check  with Authorization: Bearer T
 * The log (stderr) never holds a secret, a token or a query string.
 */

#define _GNU_SOURCE
#define ZLIB_CONST

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zlib.h>

#define FI_DEFAULT_ID		"2fd153ab-86c8-45fb-990d-721140e46061"
#define FI_DEFAULT_SECRET	"test-secret"
#define FI_ISSUER		"opencrvs:auth-service"
#define FI_ERROR_URI \
	"https://www.rfc-editor.org/rfc/rfc6749#section-5.2"
#define FI_MAX_BODY		(64 * 1024)
#define FI_MAX_HEADERS		(64 * 1024)
#define FI_HUGE_SIZE		(10 * 1024 * 1024)
#define FI_CHUNK		4096
#define FI_MAX_COUNTERS		256
#define FI_MAX_DENIED		4096
#define FI_MAX_CLIENTS		256
#define FI_SIG_LEN		256
#define FI_EX_USAGE		64

enum fi_mode {
	FI_OK,
	FI_STATUS,
	FI_HANG,
	FI_SLOW,
	FI_HTML,
	FI_NONJSON,
	FI_TRUNCATED,
	FI_TRUNCATED_JSON,
	FI_HUGE,
	FI_NO_ACCESS_TOKEN,
	FI_OPAQUE,
	FI_EXPIRED,
	FI_EXP_BEFORE_IAT,
	FI_BAD_TOKEN_TYPE,
	FI_RESET,
	FI_EXPIRES_IN,
	FI_NMODES
};

static const char *const fi_mode_names[FI_NMODES] = {
	"ok", "status", "hang", "slow", "html", "nonjson", "truncated",
	"truncated_json", "huge", "no_access_token", "opaque", "expired",
	"exp_before_iat", "bad_token_type", "reset", "expires_in"
};

struct fi_modecfg {
	enum fi_mode	 mode;
	int		 status;
	char		 retry_after[64];	/* "" when none */
	double		 delay;
	long		 count;			/* 0: until changed */
	int		 has_expires_in;
	long		 expires_in;
	char		 error[128];		/* "" when none */
	char		 text[256];		/* "" when none */
};

enum { FI_K_ID, FI_K_SECRET, FI_K_GRANT, FI_K_SCOPE, FI_NKEYS };

static const char *const fi_keys[FI_NKEYS] = {
	"client_id", "client_secret", "grant_type", "scope"
};

/* The parameters found in one source (body or query string). */
struct fi_src {
	char	*v[FI_NKEYS];
	int	 n[FI_NKEYS];
	int	 bad;
};

struct fi_params {
	int		 err_status;	/* 0 when the request parsed */
	int		 err_hapi;	/* hapi's statusCode/error/message */
	const char	*err_code;
	const char	*err_desc;
	char		*v[FI_NKEYS];
	int		 auth_basic;
	int		 query_had_secret;
};

struct fi_client {
	char	*id;
	char	*secret;
};

enum fi_pkind { FI_PK_SLOW, FI_PK_RESET, FI_PK_CLOSE, FI_PK_HANG };

struct fi_server;

/* A request whose answer (or end) is deferred to a timer. */
struct fi_pending {
	TAILQ_ENTRY(fi_pending)	 link;
	struct fi_server	*srv;
	struct evhttp_request	*req;
	struct evhttp_connection *evcon;
	struct event		*ev;		/* the timer */
	struct event		*watch;		/* client close, or NULL */
	enum fi_pkind		 kind;
	int			 armed;
	struct fi_params	 params;
	struct fi_modecfg	 mode;
};

struct fi_server {
	struct event_base	*base;
	struct evhttp		*http;
	SSL_CTX			*ssl;
	struct fi_client	*clients;
	size_t			 nclients;
	long			 lifetime;
	long			 skew;
	int			 gateway;
	int			 v1;		/* OpenCRVS 1.x: query only */
	struct fi_modecfg	 mode;

	unsigned long		 requests;
	unsigned long		 issued;
	/* Deferred (slow, hung) token requests not answered yet: how many
	 * clients hold a request open at once, counted here, not by them. */
	unsigned long		 in_flight;
	unsigned long		 max_in_flight;
	char			*last_client_id;
	char			*last_content_type;
	char			*last_scope;
	int			 last_query_had_secret;
	int			 last_auth_basic;
	int			 last_status;
	json_object		*per_client;
	json_object		*per_client_requests;

	char			**denied;
	size_t			 ndenied;

	TAILQ_HEAD(, fi_pending) pending;
};

static void	fi_log_token(struct evhttp_request *, const char *,
		    const char *);
static void	fi_token_finish(struct fi_server *, struct evhttp_request *,
		    struct fi_params *, const struct fi_modecfg *,
		    const char *);

static void
fi_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fi_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fake-issuer: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void *
fi_xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL) {
		fi_log("out of memory");
		abort();
	}
	return p;
}

static char *
fi_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(fi_xmalloc(n), s, n);
}

static char *
fi_xstrndup(const char *s, size_t n)
{
	char *p;

	if ((p = strndup(s, n)) == NULL) {
		fi_log("out of memory");
		abort();
	}
	return p;
}

/* Replace *dst with a copy of src cut to 256 bytes (NULL: clear). */
static void
fi_setstr(char **dst, const char *src)
{
	free(*dst);
	*dst = NULL;
	if (src != NULL)
		*dst = fi_xstrndup(src, 256);
}

static int
fi_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static long long
fi_now(const struct fi_server *s)
{
	return (long long)time(NULL) + s->skew;
}

static int
fi_parse_long(const char *str, long min, long max, long *out)
{
	char *end;
	long v;

	if (str == NULL || *str == '\0')
		return -1;
	errno = 0;
	v = strtol(str, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
fi_parse_double(const char *str, double min, double max, double *out)
{
	char *end;
	double v;

	if (str == NULL || *str == '\0')
		return -1;
	errno = 0;
	v = strtod(str, &end);
	if (errno != 0 || *end != '\0' || !(v >= min && v <= max))
		return -1;
	*out = v;
	return 0;
}

/* ---- base64url, fake signature, JWT ---- */

static char *
fi_b64url(const unsigned char *in, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = fi_xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = tab[v >> 6 & 63];
		*o++ = tab[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = tab[v >> 6 & 63];
	}
	*o = '\0';
	return out;
}

/* Decode unpadded base64url; NULL on a bad character or length. */
static char *
fi_b64url_decode(const char *in, size_t len)
{
	char *out = fi_xmalloc(len / 4 * 3 + 3), *o = out;
	uint32_t acc = 0;
	size_t i;
	int bits = 0, c;

	if (len % 4 == 1) {
		free(out);
		return NULL;
	}
	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (c >= 'A' && c <= 'Z')
			c -= 'A';
		else if (c >= 'a' && c <= 'z')
			c = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			c = c - '0' + 52;
		else if (c == '-')
			c = 62;
		else if (c == '_')
			c = 63;
		else {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)c;
		if ((bits += 6) >= 8) {
			bits -= 8;
			*o++ = (char)(acc >> bits & 0xff);
		}
	}
	*o = '\0';
	return out;
}

/*
 * A deterministic stand-in for an RS256 signature: FNV-1a over a fixed key
 * and the signing input, expanded to 256 bytes with splitmix64.
 */
static char *
fi_fake_sign(const char *data, size_t len)
{
	static const char key[] = "fake-issuer signing key";
	unsigned char sig[FI_SIG_LEN];
	uint64_t h = 0xcbf29ce484222325ULL, z;
	size_t i;
	int j;

	for (i = 0; i < sizeof(key) - 1; i++)
		h = (h ^ (unsigned char)key[i]) * 0x100000001b3ULL;
	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)data[i]) * 0x100000001b3ULL;
	for (i = 0; i < FI_SIG_LEN; i += 8) {
		z = (h += 0x9e3779b97f4a7c15ULL);
		z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ z >> 27) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		for (j = 0; j < 8; j++)
			sig[i + (size_t)j] = (unsigned char)(z >> (8 * j));
	}
	return fi_b64url(sig, sizeof(sig));
}

static char *
fi_mint(const char *sub, long long iat, long long exp)
{
	static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	static const char *const aud[] = {
		"opencrvs:auth-user", "opencrvs:user-mgnt-user",
		"opencrvs:config-user", "opencrvs:webhooks-user",
		"opencrvs:notification-api-user", "opencrvs:workflow-user"
	};
	json_object *o, *a;
	const char *js;
	char *h64, *p64, *sig, *tok;
	size_t i, n;

	o = json_object_new_object();
	a = json_object_new_array();
	json_object_array_add(a,
	    json_object_new_string("record.notify[event=birth|death]"));
	json_object_object_add(o, "scope", a);
	json_object_object_add(o, "userType", json_object_new_string("system"));
	json_object_object_add(o, "iat", json_object_new_int64(iat));
	json_object_object_add(o, "exp", json_object_new_int64(exp));
	a = json_object_new_array();
	for (i = 0; i < sizeof(aud) / sizeof(aud[0]); i++)
		json_object_array_add(a, json_object_new_string(aud[i]));
	json_object_object_add(o, "aud", a);
	json_object_object_add(o, "iss", json_object_new_string(FI_ISSUER));
	json_object_object_add(o, "sub", json_object_new_string(sub));
	js = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	h64 = fi_b64url((const unsigned char *)header, sizeof(header) - 1);
	p64 = fi_b64url((const unsigned char *)js, strlen(js));
	json_object_put(o);
	n = strlen(h64) + strlen(p64) + 1;
	tok = fi_xmalloc(n + 1 + (FI_SIG_LEN + 2) / 3 * 4 + 1);
	snprintf(tok, n + 1, "%s.%s", h64, p64);
	sig = fi_fake_sign(tok, n);
	tok[n] = '.';
	strcpy(tok + n + 1, sig);
	free(h64);
	free(p64);
	free(sig);
	return tok;
}

/*
 * Check a token as the gateway would: 0 valid, 1 expired, 2 invalid.
 * Revocation is checked by the caller, after expiry (as hapi-auth-jwt2 does).
 */
static int
fi_verify(const struct fi_server *s, const char *tok)
{
	const char *d1, *d2;
	char *sig, *payload;
	json_object *o, *v;
	long long exp;
	int rc = 2;

	if ((d1 = strchr(tok, '.')) == NULL ||
	    (d2 = strchr(d1 + 1, '.')) == NULL || strchr(d2 + 1, '.') != NULL)
		return 2;
	sig = fi_fake_sign(tok, (size_t)(d2 - tok));
	if (strcmp(sig, d2 + 1) != 0) {
		free(sig);
		return 2;
	}
	free(sig);
	if ((payload = fi_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1))) == NULL)
		return 2;
	o = json_tokener_parse(payload);
	free(payload);
	if (o == NULL)
		return 2;
	if (json_object_object_get_ex(o, "iss", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), FI_ISSUER) == 0 &&
	    json_object_object_get_ex(o, "exp", &v) &&
	    json_object_is_type(v, json_type_int)) {
		exp = json_object_get_int64(v);
		rc = fi_now(s) >= exp ? 1 : 0;
	}
	json_object_put(o);
	return rc;
}

static unsigned char *
fi_gzip(const void *in, size_t len, size_t *outlen)
{
	z_stream z;
	unsigned char *out;
	uLong bound;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	bound = deflateBound(&z, (uLong)len) + 64;
	out = fi_xmalloc(bound);
	z.next_in = in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return NULL;
	}
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

/* ---- sending ---- */

static void
fi_set_date(const struct fi_server *s, struct evkeyvalq *oh)
{
	char buf[64];
	time_t t = (time_t)fi_now(s);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	evhttp_remove_header(oh, "Date");
	evhttp_add_header(oh, "Date", buf);
}

/*
 * Send a complete answer.  gw: answer as the OpenCRVS gateway does
 * (octet-stream unless keep_ctype, chunked, gzip when asked, no-cache).
 */
static void
fi_send(struct fi_server *s, struct evhttp_request *req, int code,
    const char *ctype, const char *body, size_t len, int gw, int keep_ctype)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	const char *ae;
	unsigned char *gz = NULL;
	struct evbuffer *buf;
	size_t off, n;

	fi_set_date(s, oh);
	if (!gw) {
		evhttp_add_header(oh, "Content-Type", ctype);
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
		evhttp_send_reply(req, code, NULL, NULL);
		return;
	}
	evhttp_add_header(oh, "Content-Type",
	    keep_ctype ? ctype : "application/octet-stream");
	evhttp_add_header(oh, "Cache-Control", "no-cache");
	ae = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Accept-Encoding");
	if (ae != NULL && strcasestr(ae, "gzip") != NULL &&
	    (gz = fi_gzip(body, len, &len)) != NULL) {
		evhttp_add_header(oh, "Content-Encoding", "gzip");
		body = (const char *)gz;
	}
	evhttp_send_reply_start(req, code, NULL);
	buf = evbuffer_new();
	for (off = 0; off < len; off += n) {
		n = len - off < FI_CHUNK ? len - off : FI_CHUNK;
		evbuffer_add(buf, body + off, n);
		evhttp_send_reply_chunk(req, buf);
		evbuffer_drain(buf, evbuffer_get_length(buf));
	}
	evbuffer_free(buf);
	evhttp_send_reply_end(req);
	free(gz);
}

static void
fi_send_json(struct fi_server *s, struct evhttp_request *req, int code,
    json_object *o)
{
	const char *js = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	fi_send(s, req, code, "application/json; charset=utf-8", js,
	    strlen(js), 0, 0);
	json_object_put(o);
}

/* A body from the token endpoint: JSON, gateway-styled when --gateway. */
static void
fi_send_token_body(struct fi_server *s, struct evhttp_request *req, int code,
    const char *body, size_t len)
{
	fi_send(s, req, code, "application/json; charset=utf-8", body, len,
	    s->gateway, 0);
}

static void
fi_send_oauth_error(struct fi_server *s, struct evhttp_request *req, int code,
    const char *err, const char *desc)
{
	json_object *o = json_object_new_object();
	const char *js;

	json_object_object_add(o, "error", json_object_new_string(err));
	json_object_object_add(o, "error_description",
	    json_object_new_string(desc));
	json_object_object_add(o, "error_uri",
	    json_object_new_string(FI_ERROR_URI));
	js = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	fi_send_token_body(s, req, code, js, strlen(js));
	json_object_put(o);
}

/* An error in the form hapi and the gateway use. */
static void
fi_send_hapi_error(struct fi_server *s, struct evhttp_request *req, int code,
    const char *message, int gw)
{
	json_object *o = json_object_new_object();
	const char *js, *err;

	switch (code) {
	case 400: err = "Bad Request"; break;
	case 401: err = "Unauthorized"; break;
	case 404: err = "Not Found"; break;
	case 405: err = "Method Not Allowed"; break;
	case 415: err = "Unsupported Media Type"; break;
	default: err = "Error"; break;
	}
	json_object_object_add(o, "statusCode", json_object_new_int(code));
	json_object_object_add(o, "error", json_object_new_string(err));
	json_object_object_add(o, "message", json_object_new_string(message));
	js = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	fi_send(s, req, code, "application/json; charset=utf-8", js,
	    strlen(js), gw, 0);
	json_object_put(o);
}

/* ---- deferred answers ---- */

static void
fi_pending_free(struct fi_pending *p)
{
	int k;

	TAILQ_REMOVE(&p->srv->pending, p, link);
	p->srv->in_flight--;
	event_free(p->ev);
	if (p->watch != NULL)
		event_free(p->watch);
	for (k = 0; k < FI_NKEYS; k++)
		free(p->params.v[k]);
	free(p);
}

static void
fi_pending_closecb(struct evhttp_connection *evcon, void *arg)
{
	struct fi_pending *p = arg;

	(void)evcon;
	fi_log("connection of a deferred request closed");
	fi_pending_free(p);
}

/* The client went away from a hung or slow request: free it now. */
static void
fi_pending_gone(evutil_socket_t fd, short what, void *arg)
{
	struct fi_pending *p = arg;
	struct evhttp_connection *evcon = p->evcon;

	(void)fd;
	(void)what;
	if (p->kind == FI_PK_SLOW)
		fi_log_token(p->req, "slow", "none (client went away)");
	else
		fi_log("client closed the connection of a hung request");
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	fi_pending_free(p);
	evhttp_connection_free(evcon);
}

/* Send an RST: abortive close without ever answering. */
static void
fi_reset_connection(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
	struct linger lg = { 1, 0 };
	struct sockaddr sa;

	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		/*
		 * evhttp shuts the socket down (FIN) before closing it; on
		 * Linux, disconnecting a TCP socket with AF_UNSPEC sends the
		 * RST at once, so the client never sees that FIN.
		 */
		memset(&sa, 0, sizeof(sa));
		sa.sa_family = AF_UNSPEC;
		(void)connect(fd, &sa, sizeof(sa));
	}
	evhttp_connection_free(evcon);
}

static void
fi_pending_fire(evutil_socket_t fd, short what, void *arg)
{
	struct fi_pending *p = arg;
	struct fi_server *s = p->srv;

	(void)fd;
	(void)what;
	evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	switch (p->kind) {
	case FI_PK_SLOW:
		fi_token_finish(s, p->req, &p->params, &p->mode, "slow");
		break;
	case FI_PK_RESET:
		fi_reset_connection(p->evcon);
		break;
	case FI_PK_CLOSE:
		evhttp_connection_free(p->evcon);
		break;
	case FI_PK_HANG:
		break;
	}
	fi_pending_free(p);
}

static struct fi_pending *
fi_pending_new(struct fi_server *s, struct evhttp_request *req,
    enum fi_pkind kind)
{
	struct fi_pending *p = calloc(1, sizeof(*p));
	struct bufferevent *bev;
	evutil_socket_t fd;

	if (p == NULL)
		abort();
	p->srv = s;
	p->req = req;
	p->evcon = evhttp_request_get_connection(req);
	p->kind = kind;
	p->ev = evtimer_new(s->base, fi_pending_fire, p);
	if ((kind == FI_PK_HANG || kind == FI_PK_SLOW) &&
	    (event_base_get_features(s->base) & EV_FEATURE_EARLY_CLOSE)) {
		bev = evhttp_connection_get_bufferevent(p->evcon);
		fd = bev != NULL ? bufferevent_getfd(bev) : -1;
		if (fd >= 0 && (p->watch = event_new(s->base, fd, EV_CLOSED,
		    fi_pending_gone, p)) != NULL)
			event_add(p->watch, NULL);
	}
	TAILQ_INSERT_TAIL(&s->pending, p, link);
	if (++s->in_flight > s->max_in_flight)
		s->max_in_flight = s->in_flight;
	evhttp_connection_set_closecb(p->evcon, fi_pending_closecb, p);
	return p;
}

static void
fi_pending_arm(struct fi_pending *p, double secs)
{
	struct timeval tv;

	if (p->armed)
		return;
	p->armed = 1;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	evtimer_add(p->ev, &tv);
}

static void
fi_truncated_written(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	fi_pending_arm(arg, 0);
}

/* 200 whose body stops short, then the connection closes. */
static void
fi_send_truncated(struct fi_server *s, struct evhttp_request *req)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	char body[500];
	unsigned char *gz = NULL;
	const char *ae, *data = body;
	size_t n = 100, gzlen;
	struct evbuffer *buf;
	struct fi_pending *p;

	memset(body, 'A', sizeof(body));
	memcpy(body, "{\"access_token\": \"eyJhbGciOiJSUzI1NiIsInR5cCI6"
	    "IkpXVCJ9.", 55);
	memcpy(body + sizeof(body) - 26, "\", \"token_type\": \"Bearer\"}", 26);
	fi_set_date(s, oh);
	if (s->gateway) {
		/* Chunked: the terminating chunk never comes. */
		evhttp_add_header(oh, "Content-Type",
		    "application/octet-stream");
		evhttp_add_header(oh, "Cache-Control", "no-cache");
		ae = evhttp_find_header(evhttp_request_get_input_headers(req),
		    "Accept-Encoding");
		if (ae != NULL && strcasestr(ae, "gzip") != NULL &&
		    (gz = fi_gzip(body, sizeof(body), &gzlen)) != NULL) {
			evhttp_add_header(oh, "Content-Encoding", "gzip");
			data = (const char *)gz;
			n = gzlen / 2;
		}
	} else {
		evhttp_add_header(oh, "Content-Type",
		    "application/json; charset=utf-8");
		evhttp_add_header(oh, "Content-Length", "500");
	}
	p = fi_pending_new(s, req, FI_PK_CLOSE);
	evhttp_send_reply_start(req, 200, NULL);
	buf = evbuffer_new();
	evbuffer_add(buf, data, n);
	evhttp_send_reply_chunk_with_cb(req, buf, fi_truncated_written, p);
	evbuffer_free(buf);
	free(gz);
}

/* ---- request parameters ---- */

static int
fi_key_index(const char *key)
{
	int k;

	for (k = 0; k < FI_NKEYS; k++)
		if (strcmp(key, fi_keys[k]) == 0)
			return k;
	return -1;
}

static void
fi_src_put(struct fi_src *src, int k, char *val)
{
	if (k < 0) {
		free(val);
		return;
	}
	src->n[k]++;
	if (src->v[k] == NULL)
		src->v[k] = val;
	else
		free(val);
}

static void
fi_src_free(struct fi_src *src)
{
	int k;

	for (k = 0; k < FI_NKEYS; k++)
		free(src->v[k]);
}

/* Parse application/x-www-form-urlencoded text (also a query string). */
static void
fi_parse_form(const char *data, size_t len, struct fi_src *src)
{
	const char *p = data, *end = data + len, *amp, *stop, *eq;
	char *raw, *key, *val;
	size_t klen, vlen;

	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		stop = amp != NULL ? amp : end;
		if (stop > p) {
			if (memchr(p, '\0', (size_t)(stop - p)) != NULL)
				src->bad = 1;
			eq = memchr(p, '=', (size_t)(stop - p));
			klen = (size_t)((eq != NULL ? eq : stop) - p);
			raw = fi_xstrndup(p, klen);
			key = evhttp_uridecode(raw, 1, NULL);
			free(raw);
			raw = eq == NULL ? fi_xstrdup("") :
			    fi_xstrndup(eq + 1, (size_t)(stop - eq - 1));
			val = evhttp_uridecode(raw, 1, &vlen);
			free(raw);
			if (key != NULL && val != NULL) {
				if (strlen(val) != vlen)
					src->bad = 1;
				fi_src_put(src, fi_key_index(key), val);
			} else
				free(val);
			free(key);
		}
		p = amp != NULL ? amp + 1 : end;
	}
}

/* Parse a JSON body; -1 when it is not JSON at all. */
static int
fi_parse_json(const char *data, size_t len, struct fi_src *src)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o, *v;
	size_t end, vlen;
	const char *str;
	int k;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, data, (int)len);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (o == NULL)
		return -1;
	for (; end < len; end++)
		if (!fi_isspace(data[end])) {
			json_object_put(o);
			return -1;
		}
	if (!json_object_is_type(o, json_type_object)) {
		src->bad = 1;
		json_object_put(o);
		return 0;
	}
	for (k = 0; k < FI_NKEYS; k++) {
		if (!json_object_object_get_ex(o, fi_keys[k], &v))
			continue;
		if (!json_object_is_type(v, json_type_string)) {
			if (k != FI_K_SCOPE)
				src->bad = 1;
			continue;
		}
		str = json_object_get_string(v);
		vlen = (size_t)json_object_get_string_len(v);
		if (strlen(str) != vlen)
			src->bad = 1;
		fi_src_put(src, k, fi_xstrdup(str));
	}
	json_object_put(o);
	return 0;
}

enum fi_ctype { FI_CT_JSON, FI_CT_FORM, FI_CT_OTHER };

static enum fi_ctype
fi_ctype_kind(const char *ct)
{
	char mt[128];
	size_t n = 0;

	if (ct == NULL)
		return FI_CT_JSON;	/* hapi's default content type */
	while (*ct == ' ' || *ct == '\t')
		ct++;
	while (*ct != '\0' && *ct != ';' && *ct != ' ' && *ct != '\t' &&
	    n < sizeof(mt) - 1)
		mt[n++] = *ct++;
	mt[n] = '\0';
	if (n == 0)
		return FI_CT_JSON;
	if (strcasecmp(mt, "application/json") == 0 ||
	    (strncasecmp(mt, "application/", 12) == 0 && n > 5 &&
	    strcasecmp(mt + n - 5, "+json") == 0))
		return FI_CT_JSON;
	if (strcasecmp(mt, "application/x-www-form-urlencoded") == 0)
		return FI_CT_FORM;
	return FI_CT_OTHER;
}

static void
fi_params_error(struct fi_params *p, int status, int hapi, const char *code,
    const char *desc)
{
	p->err_status = status;
	p->err_hapi = hapi;
	p->err_code = code;
	p->err_desc = desc;
}

/*
 * Read client_id, client_secret, grant_type and scope as OpenCRVS v2 does:
 * from the body first (JSON or form), else from the query string; with v1
 * as OpenCRVS 1.x does: from the query string only.
 */
static void
fi_params_parse(struct evhttp_request *req, struct fi_params *p, int v1)
{
	struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *auth, *q, *data;
	struct fi_src body, query;
	enum fi_ctype ct;
	size_t len;
	int k;

	memset(p, 0, sizeof(*p));
	memset(&body, 0, sizeof(body));
	memset(&query, 0, sizeof(query));
	auth = evhttp_find_header(ih, "Authorization");
	p->auth_basic = auth != NULL && strncasecmp(auth, "Basic", 5) == 0 &&
	    (auth[5] == ' ' || auth[5] == '\0');
	if (uri != NULL && (q = evhttp_uri_get_query(uri)) != NULL)
		fi_parse_form(q, strlen(q), &query);
	p->query_had_secret = query.n[FI_K_SECRET] > 0;

	ct = fi_ctype_kind(evhttp_find_header(ih, "Content-Type"));
	len = evbuffer_get_length(in);
	data = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	if (ct == FI_CT_OTHER) {
		fi_params_error(p, 415, 1, NULL, "Unsupported Media Type");
		goto out;
	}
	if (ct == FI_CT_JSON && len > 0 &&
	    fi_parse_json(data, len, &body) < 0) {
		fi_params_error(p, 400, 1, NULL,
		    "Invalid request payload JSON format");
		goto out;
	}
	if (ct == FI_CT_FORM)
		fi_parse_form(data, len, &body);
	if (v1) {
		/* 1.x reads request.query only: the body's values are lost. */
		fi_src_free(&body);
		memset(&body, 0, sizeof(body));
	}
	if (body.bad || query.bad) {
		fi_params_error(p, 400, 0, "invalid_request",
		    "Invalid request parameters");
		goto out;
	}
	for (k = 0; k < FI_NKEYS; k++) {
		if (k != FI_K_SCOPE && (body.n[k] > 1 || query.n[k] > 1)) {
			fi_params_error(p, 400, 0, "invalid_request",
			    "A parameter was given more than once");
			break;
		}
	}
 out:
	for (k = 0; k < FI_NKEYS; k++) {
		/* payload.x || query.x: an empty body value falls back */
		char **from = body.v[k] != NULL && body.v[k][0] != '\0' ?
		    &body.v[k] : query.v[k] != NULL ? &query.v[k] : &body.v[k];
		p->v[k] = *from;
		*from = NULL;
	}
	fi_src_free(&body);
	fi_src_free(&query);
}

static void
fi_params_free(struct fi_params *p)
{
	int k;

	for (k = 0; k < FI_NKEYS; k++)
		free(p->v[k]);
	memset(p, 0, sizeof(*p));
}

/* ---- the token endpoint ---- */

static void
fi_count(json_object *obj, const char *id)
{
	char key[257];
	json_object *v;

	snprintf(key, sizeof(key), "%s", id);
	if (!json_object_object_get_ex(obj, key, &v) &&
	    json_object_object_length(obj) >= FI_MAX_COUNTERS) {
		snprintf(key, sizeof(key), "(other)");
		json_object_object_get_ex(obj, key, &v);
	}
	if (json_object_object_get_ex(obj, key, &v))
		json_object_int_inc(v, 1);
	else
		json_object_object_add(obj, key, json_object_new_int64(1));
}

static void
fi_log_token(struct evhttp_request *req, const char *mode, const char *status)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *method;

	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET: method = "GET"; break;
	case EVHTTP_REQ_POST: method = "POST"; break;
	case EVHTTP_REQ_HEAD: method = "HEAD"; break;
	case EVHTTP_REQ_PUT: method = "PUT"; break;
	case EVHTTP_REQ_DELETE: method = "DELETE"; break;
	default: method = "OTHER"; break;
	}
	/* The path only: a query string may hold the secret. */
	fi_log("%s %.200s mode=%s status=%s", method,
	    path != NULL ? path : "?", mode, status);
}

static const struct fi_client *
fi_find_client(const struct fi_server *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->nclients; i++)
		if (strcmp(s->clients[i].id, id) == 0)
			return &s->clients[i];
	return NULL;
}

static char *
fi_opaque(void)
{
	unsigned char rnd[16];
	char *tok = fi_xmalloc(7 + 2 * sizeof(rnd) + 1);
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		for (i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)random();
	strcpy(tok, "opaque-");
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(tok + 7 + 2 * i, 3, "%02x", rnd[i]);
	return tok;
}

/* A 200 answer carrying a token, shaped by the mode. */
static void
fi_issue(struct fi_server *s, struct evhttp_request *req, const char *id,
    const struct fi_modecfg *m)
{
	long long now = fi_now(s), iat = now, exp = now + s->lifetime;
	const char *ttype = "Bearer", *js;
	char *tok = NULL, *pad;
	json_object *o = json_object_new_object();

	switch (m->mode) {
	case FI_EXPIRED:
		iat = now - 700;
		exp = now - 100;
		break;
	case FI_EXP_BEFORE_IAT:
		exp = iat - 60;
		break;
	case FI_BAD_TOKEN_TYPE:
		ttype = m->text[0] != '\0' ? m->text : "mac";
		break;
	default:
		break;
	}
	if (m->mode == FI_OPAQUE)
		tok = fi_opaque();
	else if (m->mode != FI_NO_ACCESS_TOKEN)
		tok = fi_mint(id, iat, exp);
	if (m->mode == FI_HUGE) {
		pad = fi_xmalloc(FI_HUGE_SIZE);
		memset(pad, ' ', FI_HUGE_SIZE);
		json_object_object_add(o, "padding",
		    json_object_new_string_len(pad, FI_HUGE_SIZE));
		free(pad);
	}
	if (tok != NULL)
		json_object_object_add(o, "access_token",
		    json_object_new_string(tok));
	json_object_object_add(o, "token_type", json_object_new_string(ttype));
	if (m->mode == FI_EXPIRES_IN || m->has_expires_in)
		json_object_object_add(o, "expires_in", json_object_new_int64(
		    m->has_expires_in ? m->expires_in : 60));
	js = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	fi_send_token_body(s, req, 200, js, strlen(js));
	json_object_put(o);
	if (tok != NULL) {
		s->issued++;
		fi_count(s->per_client, id);
	}
	free(tok);
}

/* Validate the request as the auth service does, then answer it. */
static void
fi_token_finish(struct fi_server *s, struct evhttp_request *req,
    struct fi_params *p, const struct fi_modecfg *m, const char *mname)
{
	const char *id = p->v[FI_K_ID], *secret = p->v[FI_K_SECRET];
	const char *grant = p->v[FI_K_GRANT];
	const struct fi_client *c;
	char st[16];
	int code;

	if (p->err_status != 0) {
		code = p->err_status;
		if (p->err_hapi)
			fi_send_hapi_error(s, req, code, p->err_desc,
			    s->gateway);
		else
			fi_send_oauth_error(s, req, code, p->err_code,
			    p->err_desc);
	} else if (grant == NULL || strcmp(grant, "client_credentials") != 0) {
		code = 400;
		fi_send_oauth_error(s, req, code, "unsupported_grant_type",
		    "Grant type must be client_credentials");
	} else if (id == NULL || *id == '\0' || secret == NULL ||
	    *secret == '\0') {
		code = 400;
		fi_send_oauth_error(s, req, code, "invalid_request",
		    p->auth_basic ? "HTTP Basic client authentication is not "
		    "supported" : "Invalid client id or secret");
	} else if ((c = fi_find_client(s, id)) == NULL ||
	    strcmp(c->secret, secret) != 0) {
		code = 401;
		fi_send_oauth_error(s, req, code, "invalid_client",
		    "Invalid client id or secret");
	} else {
		code = 200;
		fi_issue(s, req, id, m);
	}
	s->last_status = code;
	snprintf(st, sizeof(st), "%d", code);
	fi_log_token(req, mname, st);
}

static void
fi_status_error(struct fi_server *s, struct evhttp_request *req,
    const struct fi_modecfg *m)
{
	const char *err;

	switch (m->status) {
	case 400: err = "invalid_request"; break;
	case 401: err = "invalid_client"; break;
	case 403: err = "access_denied"; break;
	case 503: err = "temporarily_unavailable"; break;
	default: err = "server_error"; break;
	}
	if (m->error[0] != '\0')
		err = m->error;
	if (m->retry_after[0] != '\0')
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", m->retry_after);
	fi_send_oauth_error(s, req, m->status, err,
	    m->text[0] != '\0' ? m->text : "Simulated failure");
}

static void
fi_mode_default(struct fi_modecfg *m)
{
	memset(m, 0, sizeof(*m));
	m->mode = FI_OK;
	m->status = 500;
	m->delay = 3;
}

/* The mode for this request; counts down a limited mode. */
static struct fi_modecfg
fi_mode_take(struct fi_server *s)
{
	struct fi_modecfg m = s->mode;

	if (s->mode.mode != FI_OK && s->mode.count > 0 &&
	    --s->mode.count == 0)
		fi_mode_default(&s->mode);
	return m;
}

static void
fi_token(struct fi_server *s, struct evhttp_request *req)
{
	static const char html[] = "<!DOCTYPE html>\n<html><head><title>"
	    "502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
	    "<p>The upstream server is not available.</p></body></html>\n";
	static const char nonjson[] = "this is not json";
	static const char cutjson[] = "{\"access_token\": \"eyJ";
	struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
	struct fi_params p;
	struct fi_modecfg m;
	struct fi_pending *pd;
	const char *mname;
	char st[16];
	int code = 200;

	fi_params_parse(req, &p, s->v1);
	s->requests++;
	fi_setstr(&s->last_client_id,
	    p.v[FI_K_ID] != NULL ? p.v[FI_K_ID] : "");
	fi_setstr(&s->last_content_type,
	    evhttp_find_header(ih, "Content-Type") != NULL ?
	    evhttp_find_header(ih, "Content-Type") : "");
	fi_setstr(&s->last_scope, p.v[FI_K_SCOPE]);
	s->last_query_had_secret = p.query_had_secret;
	s->last_auth_basic = p.auth_basic;
	if (p.v[FI_K_ID] != NULL)
		fi_count(s->per_client_requests, p.v[FI_K_ID]);

	m = fi_mode_take(s);
	mname = fi_mode_names[m.mode];
	switch (m.mode) {
	case FI_HANG:
		s->last_status = 0;
		(void)fi_pending_new(s, req, FI_PK_HANG);
		fi_log_token(req, mname, "none");
		code = -1;
		break;
	case FI_RESET:
		s->last_status = 0;
		pd = fi_pending_new(s, req, FI_PK_RESET);
		fi_pending_arm(pd, 0);
		fi_log_token(req, mname, "RST");
		code = -1;
		break;
	case FI_SLOW:
		pd = fi_pending_new(s, req, FI_PK_SLOW);
		pd->params = p;
		memset(&p, 0, sizeof(p));
		pd->mode = m;
		pd->mode.mode = FI_OK;
		fi_pending_arm(pd, m.delay);
		code = -1;	/* logged when answered */
		break;
	case FI_STATUS:
		code = m.status;
		fi_status_error(s, req, &m);
		break;
	case FI_HTML:
		fi_send(s, req, 200, "text/html; charset=utf-8", html,
		    sizeof(html) - 1, s->gateway, 1);
		break;
	case FI_NONJSON:
		fi_send_token_body(s, req, 200, nonjson, sizeof(nonjson) - 1);
		break;
	case FI_TRUNCATED:
		fi_send_truncated(s, req);
		break;
	case FI_TRUNCATED_JSON:
		fi_send_token_body(s, req, 200, cutjson, sizeof(cutjson) - 1);
		break;
	default:
		fi_token_finish(s, req, &p, &m, mname);
		code = -1;	/* logged there */
		break;
	}
	if (code > 0) {
		s->last_status = code;
		snprintf(st, sizeof(st), "%d", code);
		fi_log_token(req, mname, st);
	}
	fi_params_free(&p);
}

/* ---- the gateway check ---- */

static int
fi_is_denied(const struct fi_server *s, const char *tok)
{
	size_t i;

	for (i = 0; i < s->ndenied; i++)
		if (strcmp(s->denied[i], tok) == 0)
			return 1;
	return 0;
}

static void
fi_check(struct fi_server *s, struct evhttp_request *req)
{
	const char *auth = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	json_object *o;
	int rc;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
		fi_send_hapi_error(s, req, 401, "Missing authentication", 0);
		return;
	}
	auth += 7;
	while (*auth == ' ')
		auth++;
	rc = fi_verify(s, auth);
	if (rc == 0 && fi_is_denied(s, auth))
		rc = 2;
	if (rc == 1)
		fi_send_hapi_error(s, req, 401, "Expired token", 0);
	else if (rc == 2)
		fi_send_hapi_error(s, req, 401, "Invalid credentials", 0);
	else {
		o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(1));
		fi_send_json(s, req, 200, o);
	}
}

/* ---- the control API ---- */

static json_object *
fi_mode_json(const struct fi_server *s)
{
	json_object *o = json_object_new_object();
	const struct fi_modecfg *m = &s->mode;

	json_object_object_add(o, "mode",
	    json_object_new_string(fi_mode_names[m->mode]));
	json_object_object_add(o, "status", json_object_new_int(m->status));
	json_object_object_add(o, "retry_after", m->retry_after[0] != '\0' ?
	    json_object_new_string(m->retry_after) : NULL);
	json_object_object_add(o, "delay", json_object_new_double(m->delay));
	json_object_object_add(o, "count", json_object_new_int64(m->count));
	json_object_object_add(o, "expires_in", m->has_expires_in ?
	    json_object_new_int64(m->expires_in) : NULL);
	json_object_object_add(o, "lifetime",
	    json_object_new_int64(s->lifetime));
	json_object_object_add(o, "skew", json_object_new_int64(s->skew));
	json_object_object_add(o, "gateway",
	    json_object_new_boolean(s->gateway));
	json_object_object_add(o, "v1", json_object_new_boolean(s->v1));
	return o;
}

static json_object *
fi_stats_json(const struct fi_server *s)
{
	json_object *o = json_object_new_object(), *c;

	json_object_object_add(o, "requests",
	    json_object_new_int64((int64_t)s->requests));
	json_object_object_add(o, "issued",
	    json_object_new_int64((int64_t)s->issued));
	json_object_object_add(o, "in_flight",
	    json_object_new_int64((int64_t)s->in_flight));
	json_object_object_add(o, "max_in_flight",
	    json_object_new_int64((int64_t)s->max_in_flight));
	json_object_object_add(o, "last_client_id", json_object_new_string(
	    s->last_client_id != NULL ? s->last_client_id : ""));
	json_object_object_add(o, "last_content_type", json_object_new_string(
	    s->last_content_type != NULL ? s->last_content_type : ""));
	json_object_object_add(o, "last_query_had_secret",
	    json_object_new_boolean(s->last_query_had_secret));
	json_object_object_add(o, "last_auth_basic",
	    json_object_new_boolean(s->last_auth_basic));
	json_object_object_add(o, "last_scope", s->last_scope != NULL ?
	    json_object_new_string(s->last_scope) : NULL);
	json_object_object_add(o, "last_status",
	    json_object_new_int(s->last_status));
	c = NULL;
	json_object_deep_copy(s->per_client, &c, NULL);
	json_object_object_add(o, "per_client", c);
	c = NULL;
	json_object_deep_copy(s->per_client_requests, &c, NULL);
	json_object_object_add(o, "per_client_requests", c);
	json_object_object_add(o, "denied",
	    json_object_new_int64((int64_t)s->ndenied));
	json_object_object_add(o, "mode",
	    json_object_new_string(fi_mode_names[s->mode.mode]));
	return o;
}

static void
fi_stats_reset(struct fi_server *s)
{
	s->requests = s->issued = 0;
	s->max_in_flight = s->in_flight;
	fi_setstr(&s->last_client_id, NULL);
	fi_setstr(&s->last_content_type, NULL);
	fi_setstr(&s->last_scope, NULL);
	s->last_query_had_secret = s->last_auth_basic = s->last_status = 0;
	json_object_put(s->per_client);
	json_object_put(s->per_client_requests);
	s->per_client = json_object_new_object();
	s->per_client_requests = json_object_new_object();
}

static int
fi_mode_parse(struct evkeyvalq *q, struct fi_modecfg *m, const char **why)
{
	const char *v;
	long l;
	int i;

	fi_mode_default(m);
	*why = "mode: unknown or missing";
	if ((v = evhttp_find_header(q, "mode")) == NULL)
		return -1;
	for (i = 0; i < FI_NMODES; i++)
		if (strcmp(v, fi_mode_names[i]) == 0)
			break;
	if (i == FI_NMODES)
		return -1;
	m->mode = (enum fi_mode)i;
	*why = "status: must be 200-599";
	if ((v = evhttp_find_header(q, "status")) != NULL) {
		if (fi_parse_long(v, 200, 599, &l) < 0)
			return -1;
		m->status = (int)l;
	}
	*why = "retry_after: too long";
	if ((v = evhttp_find_header(q, "retry_after")) != NULL) {
		if (strlen(v) >= sizeof(m->retry_after))
			return -1;
		snprintf(m->retry_after, sizeof(m->retry_after), "%s", v);
	}
	*why = "delay: must be 0-86400 seconds";
	if ((v = evhttp_find_header(q, "delay")) != NULL &&
	    fi_parse_double(v, 0, 86400, &m->delay) < 0)
		return -1;
	*why = "count: must be a non-negative integer";
	if ((v = evhttp_find_header(q, "count")) != NULL &&
	    fi_parse_long(v, 0, LONG_MAX, &m->count) < 0)
		return -1;
	*why = "expires_in: must be an integer";
	if ((v = evhttp_find_header(q, "expires_in")) != NULL) {
		if (fi_parse_long(v, -1000000000L, 1000000000L,
		    &m->expires_in) < 0)
			return -1;
		m->has_expires_in = 1;
	}
	*why = "error: too long";
	if ((v = evhttp_find_header(q, "error")) != NULL) {
		if (strlen(v) >= sizeof(m->error))
			return -1;
		snprintf(m->error, sizeof(m->error), "%s", v);
	}
	*why = "text: too long";
	if ((v = evhttp_find_header(q, "text")) != NULL) {
		if (strlen(v) >= sizeof(m->text))
			return -1;
		snprintf(m->text, sizeof(m->text), "%s", v);
	}
	if (m->mode == FI_OK)
		m->count = 0;
	return 0;
}

static int
fi_client_set(struct fi_server *s, const char *id, const char *secret)
{
	struct fi_client *c;
	size_t i;

	for (i = 0; i < s->nclients; i++) {
		if (strcmp(s->clients[i].id, id) != 0)
			continue;
		free(s->clients[i].secret);
		if (secret == NULL) {
			free(s->clients[i].id);
			s->clients[i] = s->clients[--s->nclients];
			return 0;
		}
		s->clients[i].secret = fi_xstrdup(secret);
		return 0;
	}
	if (secret == NULL)
		return 0;
	if (s->nclients >= FI_MAX_CLIENTS)
		return -1;
	c = realloc(s->clients, (s->nclients + 1) * sizeof(*c));
	if (c == NULL)
		abort();
	s->clients = c;
	c[s->nclients].id = fi_xstrdup(id);
	c[s->nclients].secret = fi_xstrdup(secret);
	s->nclients++;
	return 0;
}

static int
fi_revoke(struct fi_server *s, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *body = fi_xmalloc(len + 1), *start, **d;
	const char *tok;
	json_object *o = NULL, *v;

	evbuffer_copyout(in, body, len);
	body[len] = '\0';
	start = body;
	while (fi_isspace(*start))
		start++;
	while (len > 0 && body + len > start && fi_isspace(body[len - 1]))
		body[--len] = '\0';
	tok = start;
	if (*tok == '{' && (o = json_tokener_parse(tok)) != NULL &&
	    (json_object_object_get_ex(o, "token", &v) ||
	    json_object_object_get_ex(o, "access_token", &v)) &&
	    json_object_is_type(v, json_type_string))
		tok = json_object_get_string(v);
	if (*tok == '\0' ||
	    (!fi_is_denied(s, tok) && s->ndenied >= FI_MAX_DENIED)) {
		json_object_put(o);
		free(body);
		return -1;
	}
	if (!fi_is_denied(s, tok)) {
		d = realloc(s->denied, (s->ndenied + 1) * sizeof(*d));
		if (d == NULL)
			abort();
		s->denied = d;
		s->denied[s->ndenied++] = fi_xstrdup(tok);
	}
	json_object_put(o);
	free(body);
	return 0;
}

static int
fi_is_control_path(const char *path)
{
	static const char *const names[] = {
		"mode", "lifetime", "skew", "stats", "reset-stats", "revoke",
		"client"
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(path + 9, names[i]) == 0)
			return 1;
	return 0;
}

/* The control API: see the comment at the top of this file. */
static void
fi_control(struct fi_server *s, struct evhttp_request *req, const char *path)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *qs = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	int post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
	int get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
	struct evkeyvalq q;
	struct fi_modecfg m;
	const char *why, *id, *secret;
	json_object *o;
	long l;

	TAILQ_INIT(&q);
	if (qs != NULL && evhttp_parse_query_str(qs, &q) < 0) {
		fi_send_hapi_error(s, req, 400, "bad query string", 0);
		goto out;
	}
	if (strcmp(path, "/control/mode") == 0 && (post || get)) {
		if (post) {
			if (fi_mode_parse(&q, &m, &why) < 0) {
				fi_send_hapi_error(s, req, 400, why, 0);
				goto out;
			}
			s->mode = m;
			fi_log("control: mode=%s status=%d delay=%g count=%ld",
			    fi_mode_names[m.mode], m.status, m.delay, m.count);
		}
		fi_send_json(s, req, 200, fi_mode_json(s));
	} else if ((strcmp(path, "/control/lifetime") == 0 ||
	    strcmp(path, "/control/skew") == 0) && post) {
		if (fi_parse_long(evhttp_find_header(&q, "seconds"),
		    -1000000000L, 1000000000L, &l) < 0) {
			fi_send_hapi_error(s, req, 400,
			    "seconds: must be an integer", 0);
			goto out;
		}
		if (path[9] == 'l')
			s->lifetime = l;
		else
			s->skew = l;
		fi_log("control: %s=%ld", path + 9, l);
		fi_send_json(s, req, 200, fi_mode_json(s));
	} else if (strcmp(path, "/control/stats") == 0 && get) {
		fi_send_json(s, req, 200, fi_stats_json(s));
	} else if (strcmp(path, "/control/reset-stats") == 0 && post) {
		fi_stats_reset(s);
		fi_send_json(s, req, 200, fi_stats_json(s));
	} else if (strcmp(path, "/control/revoke") == 0 && post) {
		if (fi_revoke(s, req) < 0) {
			fi_send_hapi_error(s, req, 400,
			    "no token in body, or deny list full", 0);
			goto out;
		}
		fi_log("control: token revoked (%zu denied)", s->ndenied);
		o = json_object_new_object();
		json_object_object_add(o, "denied",
		    json_object_new_int64((int64_t)s->ndenied));
		fi_send_json(s, req, 200, o);
	} else if (strcmp(path, "/control/client") == 0 && post) {
		id = evhttp_find_header(&q, "id");
		secret = evhttp_find_header(&q, "secret");
		if (evhttp_find_header(&q, "delete") != NULL)
			secret = NULL;
		else if (secret == NULL || *secret == '\0')
			id = NULL;
		if (id == NULL || *id == '\0' ||
		    fi_client_set(s, id, secret) < 0) {
			fi_send_hapi_error(s, req, 400,
			    "need id and secret (or delete=1)", 0);
			goto out;
		}
		fi_log("control: client %.100s %s", id,
		    secret != NULL ? "set" : "deleted");
		o = json_object_new_object();
		json_object_object_add(o, "clients",
		    json_object_new_int64((int64_t)s->nclients));
		fi_send_json(s, req, 200, o);
	} else if (fi_is_control_path(path))
		fi_send_hapi_error(s, req, 405, "Method Not Allowed", 0);
	else
		fi_send_hapi_error(s, req, 404, "Not Found", 0);
 out:
	evhttp_clear_headers(&q);
}

/* ---- dispatch, setup ---- */

static void
fi_request_cb(struct evhttp_request *req, void *arg)
{
	struct fi_server *s = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	if (path == NULL || *path == '\0')
		path = "/";
	if (strcmp(path, "/auth/token") == 0 || strcmp(path, "/token") == 0) {
		if (evhttp_request_get_command(req) == EVHTTP_REQ_POST)
			fi_token(s, req);
		else {
			fi_send_hapi_error(s, req, 404, "Not Found", 0);
			fi_log_token(req, "-", "404");
		}
	} else if (strncmp(path, "/control/", 9) == 0)
		fi_control(s, req, path);
	else if (strcmp(path, "/gateway/check") == 0 &&
	    evhttp_request_get_command(req) == EVHTTP_REQ_GET)
		fi_check(s, req);
	else {
		fi_send_hapi_error(s, req, 404, "Not Found", 0);
		if (strncmp(path, "/auth/token", 11) == 0 ||
		    strncmp(path, "/token", 6) == 0)
			fi_log_token(req, "-", "404");
	}
}

static struct bufferevent *
fi_bevcb(struct event_base *base, void *arg)
{
	struct fi_server *s = arg;
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(s->ssl)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static SSL_CTX *
fi_tls_init(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void
fi_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct fi_server *s = arg;

	(void)what;
	fi_log("signal %d, exiting", (int)sig);
	event_base_loopbreak(s->base);
}

static int
fi_write_port_file(const char *path, int port)
{
	char tmp[PATH_MAX];
	FILE *f;
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp) || (f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void
fi_usage(FILE *f)
{
	int i;

	fprintf(f,
	    "usage: fake-issuer [--port N] [--port-file FILE] "
	    "[--lifetime SECS]\n"
	    "           [--client ID:SECRET]... [--gateway] [--tls CERT KEY]\n"
	    "           [--skew SECS] [--mode MODE] [--v1]\n"
	    "modes:");
	for (i = 0; i < FI_NMODES; i++)
		fprintf(f, " %s", fi_mode_names[i]);
	fputc('\n', f);
}

/* "--name VALUE" or "--name=VALUE"; NULL when argv[*i] is not --name. */
static const char *
fi_opt(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		fi_log("%s needs an argument", name);
		exit(FI_EX_USAGE);
	}
	return argv[++*i];
}

int
main(int argc, char **argv)
{
	struct fi_server s;
	struct evhttp_bound_socket *bound;
	struct event *sigterm = NULL, *sigint = NULL;
	struct fi_pending *pd;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	const char *v, *port_file = NULL, *cert = NULL, *key = NULL;
	char *colon, *id;
	long port = 0;
	size_t i;
	int a, k, port_out, rc = 1;

	memset(&s, 0, sizeof(s));
	TAILQ_INIT(&s.pending);
	s.lifetime = 600;
	fi_mode_default(&s.mode);
	for (a = 1; a < argc; a++) {
		if ((v = fi_opt(argc, argv, &a, "--port")) != NULL) {
			if (fi_parse_long(v, 0, 65535, &port) < 0)
				goto badarg;
		} else if ((v = fi_opt(argc, argv, &a, "--port-file")) != NULL)
			port_file = v;
		else if ((v = fi_opt(argc, argv, &a, "--lifetime")) != NULL) {
			if (fi_parse_long(v, -1000000000L, 1000000000L,
			    &s.lifetime) < 0)
				goto badarg;
		} else if ((v = fi_opt(argc, argv, &a, "--skew")) != NULL) {
			if (fi_parse_long(v, -1000000000L, 1000000000L,
			    &s.skew) < 0)
				goto badarg;
		} else if ((v = fi_opt(argc, argv, &a, "--client")) != NULL) {
			if ((colon = strchr(v, ':')) == NULL || colon == v ||
			    colon[1] == '\0')
				goto badarg;
			id = fi_xstrndup(v, (size_t)(colon - v));
			k = fi_client_set(&s, id, colon + 1);
			free(id);
			if (k < 0)
				goto badarg;
		} else if ((v = fi_opt(argc, argv, &a, "--mode")) != NULL) {
			for (k = 0; k < FI_NMODES; k++)
				if (strcmp(v, fi_mode_names[k]) == 0)
					break;
			if (k == FI_NMODES)
				goto badarg;
			s.mode.mode = (enum fi_mode)k;
		} else if (strcmp(argv[a], "--gateway") == 0)
			s.gateway = 1;
		else if (strcmp(argv[a], "--v1") == 0)
			s.v1 = 1;
		else if (strcmp(argv[a], "--tls") == 0) {
			if (a + 2 >= argc)
				goto badarg;
			cert = argv[++a];
			key = argv[++a];
		} else if (strcmp(argv[a], "--help") == 0 ||
		    strcmp(argv[a], "-h") == 0) {
			fi_usage(stdout);
			rc = 0;
			goto out;
		} else
			goto badarg;
	}
	if (s.nclients == 0)
		fi_client_set(&s, FI_DEFAULT_ID, FI_DEFAULT_SECRET);
	s.per_client = json_object_new_object();
	s.per_client_requests = json_object_new_object();
	signal(SIGPIPE, SIG_IGN);

	if ((s.base = event_base_new()) == NULL ||
	    (s.http = evhttp_new(s.base)) == NULL) {
		fi_log("cannot set up libevent");
		goto out;
	}
	if (cert != NULL && (s.ssl = fi_tls_init(cert, key)) == NULL) {
		fi_log("cannot load %s / %s", cert, key);
		goto out;
	}
	if (s.ssl != NULL)
		evhttp_set_bevcb(s.http, fi_bevcb, &s);
	evhttp_set_max_body_size(s.http, FI_MAX_BODY);
	evhttp_set_max_headers_size(s.http, FI_MAX_HEADERS);
	evhttp_set_timeout(s.http, 3600);
	evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(s.http, fi_request_cb, &s);
	if ((bound = evhttp_bind_socket_with_handle(s.http, "127.0.0.1",
	    (ev_uint16_t)port)) == NULL) {
		fi_log("cannot listen on 127.0.0.1:%ld: %s", port,
		    strerror(errno));
		goto out;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&ss, &sslen) < 0 || ss.ss_family != AF_INET) {
		fi_log("getsockname: %s", strerror(errno));
		goto out;
	}
	port_out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	sigterm = evsignal_new(s.base, SIGTERM, fi_signal_cb, &s);
	sigint = evsignal_new(s.base, SIGINT, fi_signal_cb, &s);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	fi_log("listening on 127.0.0.1:%d%s%s%s", port_out,
	    s.ssl != NULL ? " (TLS)" : "", s.gateway ? " (gateway)" : "",
	    s.v1 ? " (OpenCRVS 1.x)" : "");
	if (port_file != NULL && fi_write_port_file(port_file, port_out) < 0) {
		fi_log("cannot write %s: %s", port_file, strerror(errno));
		goto out;
	}

	rc = event_base_dispatch(s.base) < 0 ? 1 : 0;
	goto out;

 badarg:
	fi_log("bad or incomplete argument: %s", argv[a]);
	fi_usage(stderr);
	rc = FI_EX_USAGE;
 out:
	/* Freeing the connections runs the close callbacks of pendings. */
	if (s.http != NULL)
		evhttp_free(s.http);
	while ((pd = TAILQ_FIRST(&s.pending)) != NULL)
		fi_pending_free(pd);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (s.base != NULL)
		event_base_free(s.base);
	if (s.ssl != NULL)
		SSL_CTX_free(s.ssl);
	libevent_global_shutdown();
	for (i = 0; i < s.nclients; i++) {
		free(s.clients[i].id);
		free(s.clients[i].secret);
	}
	free(s.clients);
	for (i = 0; i < s.ndenied; i++)
		free(s.denied[i]);
	free(s.denied);
	free(s.last_client_id);
	free(s.last_content_type);
	free(s.last_scope);
	json_object_put(s.per_client);
	json_object_put(s.per_client_requests);
	return rc;
}
