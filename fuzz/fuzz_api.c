/*
 * Fuzz target: the socket API. The input is a request as a local process
 * would send it:
 *
 *	byte 0		method (low 2 bits) and caller (next 2 bits)
 *	line 1		the request target (path and query)
 *	line 2		the Accept header
 *	the rest	the body
 *
 * It is turned into an api_request the way server.c does (evhttp's URI
 * parser, percent-decoding, the printable-ASCII path check, a body only on
 * POST and within the limit) and handed to api_handle, with the caller's
 * credentials one of four fixed peers. Four clients stand in fixed states:
 * "open" and "staff" hold tokens fetched once, at start, from a local
 * evhttp server (real curl, real HTTP, 127.0.0.1), "staff" with allow
 * lists; "failing" got a 500; "starting" never had an answer: its fetch,
 * alone, goes through client.c's fetch seam to a request that never ends
 * (all clients share one event base, as in the daemon). The event loop is
 * not run while fuzzing, so a request that waits for a fetch is cancelled
 * afterwards, as the server does when the caller hangs up.
 *
 * The checks: every request is answered or waits with a way to cancel it,
 * exactly once, and a token leaves only in a 200 to a caller the access
 * list admits.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>

#include "acl.h"
#include "api.h"
#include "client.h"
#include "conf.h"
#include "fetch.h"
#include "fuzz.h"
#include "log.h"
#include "secmem.h"
#include "server.h"
#include "util.h"

#define FUZZ_API_SELF_UID	999
#define FUZZ_API_BODY_MAX	(70 * 1024)	/* server.c's default */
#define FUZZ_API_NCLIENTS	4

static const char *const fuzz_api_tokens[] = {
	"fuzz-token-open-2YotnFZFEjr1zCsicMWpAA",
	"fuzz-token-staff-tGzv3JOkF0XG5Qx2TlKWIA",
};

static struct api		*fuzz_api;
static struct conf		*fuzz_api_conf;
static struct client		*fuzz_api_clients[FUZZ_API_NCLIENTS];
static int			 fuzz_api_attempts;

static const gid_t fuzz_api_groups[] = { 2000, 100 };
static const struct acl_peer fuzz_api_peers[] = {
	{ .pid = 101, .uid = 0, .gid = 0 },
	{ .pid = 102, .uid = 1000, .gid = 1000 },
	{ .pid = 103, .uid = 3000, .gid = 3000, .groups = fuzz_api_groups,
	  .ngroups = 2 },
	{ .pid = 104, .uid = 65534, .gid = 65534 },
};

/* The issuer: one token a path, a 500 for /fail. */
static void
fuzz_api_issuer_cb(struct evhttp_request *req, void *arg)
{
	const char	*uri = evhttp_request_get_uri(req);
	struct evbuffer	*b = evbuffer_new();
	int		 i = strstr(uri, "/staff") != NULL;

	if (strstr(uri, "/fail") != NULL) {
		evbuffer_add_printf(b, "{\"error\":\"server_error\"}");
		evhttp_send_reply(req, 500, "Internal Server Error", b);
	} else {
		evbuffer_add_printf(b, "{\"access_token\":\"%s\","
		    "\"token_type\":\"Bearer\",\"expires_in\":86400}",
		    fuzz_api_tokens[i]);
		evhttp_send_reply(req, 200, "OK", b);
	}
	evbuffer_free(b);
}

static void
fuzz_api_observer_cb(void *arg, struct client *c)
{
	fuzz_api_attempts++;
}

/* The "starting" client's fetch: started, never answered. */
static int			 fuzz_api_pending_mark;
#define FUZZ_API_PENDING \
	((struct fetch_req *)(void *)&fuzz_api_pending_mark)

static struct fetch_req *
fuzz_api_fetch_start(struct fetch *f, const struct conf_client *cc,
    fetch_cb cb, void *arg, char **cause)
{
	if (strcmp(cc->name, "starting") == 0)
		return FUZZ_API_PENDING;
	return fetch_start(f, cc, cb, arg, cause);
}

static void
fuzz_api_fetch_cancel(struct fetch_req *r)
{
	if (r != FUZZ_API_PENDING)
		fetch_cancel(r);
}

static const struct client_fetch_ops fuzz_api_fetch_ops = {
	.start = fuzz_api_fetch_start,
	.cancel = fuzz_api_fetch_cancel,
};

static void
fuzz_api_setup(void)
{
	struct event_base		*base;
	struct fetch			*fetch;
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	struct sockaddr_in		 sin;
	socklen_t			 slen = sizeof sin;
	char				 dir[] = "/tmp/crvs-fuzz-api.XXXXXX";
	char				*path, *text, *cause = NULL;
	FILE				*f;
	int				 i, fd;

	log_init(LOG_CRIT);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base = event_base_new();
	http = evhttp_new(base);
	if ((bound = evhttp_bind_socket_with_handle(http, "127.0.0.1",
	    0)) == NULL || getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&sin, &slen) == -1)
		abort();
	evhttp_set_gencb(http, fuzz_api_issuer_cb, NULL);

	if (mkdtemp(dir) == NULL)
		abort();
	path = xasprintf("%s/crvs-tokend.conf", dir);
	text = xasprintf(
	    "[daemon]\nsocket = %s/sock\n"
	    "[client open]\ntoken_url = http://127.0.0.1:%d/open\n"
	    "client_id = o\nclient_secret = s\nmin_valid = 60\n"
	    "[client staff]\ntoken_url = http://127.0.0.1:%d/staff\n"
	    "client_id = s\nclient_secret = s\n"
	    "allow_users = 1000\nallow_groups = 2000\n"
	    "[client failing]\ntoken_url = http://127.0.0.1:%d/fail\n"
	    "client_id = f\nclient_secret = s\nallow_users = 1000\n"
	    "[client starting]\ntoken_url = http://127.0.0.1:1/\n"
	    "client_id = n\nclient_secret = s\n",
	    dir, ntohs(sin.sin_port), ntohs(sin.sin_port),
	    ntohs(sin.sin_port));
	/* Inline secrets: only the owner may read the file. */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1 || (f = fdopen(fd, "w")) == NULL ||
	    fputs(text, f) == EOF || fclose(f) == EOF)
		abort();
	if ((fuzz_api_conf = conf_load(path, &cause)) == NULL) {
		fprintf(stderr, "fuzz_api: %s\n", cause);
		abort();
	}
	unlink(path);
	rmdir(dir);
	free(path);
	free(text);

	client_set_fetch_ops(&fuzz_api_fetch_ops);
	fetch = fetch_new(base);
	for (i = 0; i < FUZZ_API_NCLIENTS; i++)
		fuzz_api_clients[i] = client_new(base, fetch,
		    fuzz_api_conf->clients[i], fuzz_api_observer_cb, NULL);
	/* Bounded: the issuer is in this process, on loopback. */
	for (i = 0; i < 10000 && fuzz_api_attempts < 3; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	if (!client_servable(fuzz_api_clients[0]) ||
	    !client_servable(fuzz_api_clients[1]) ||
	    client_servable(fuzz_api_clients[2]) ||
	    client_attempted(fuzz_api_clients[3])) {
		fprintf(stderr, "fuzz_api: the clients did not reach their "
		    "states (%d attempts)\n", fuzz_api_attempts);
		abort();
	}
	fuzz_api = api_new(FUZZ_API_SELF_UID);
	api_set_clients(fuzz_api, fuzz_api_clients, FUZZ_API_NCLIENTS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (fuzz_api == NULL)
		fuzz_api_setup();
	return 0;
}

struct fuzz_api_call {
	struct api_request	 req;
	int			 replies;
	const uint8_t		*input;		/* the whole request */
	size_t			 input_len;
};

static void
fuzz_api_reply_cb(void *ctx, int status, const char *content_type,
    const char *body, size_t len)
{
	struct fuzz_api_call	*call = ctx;
	size_t			 i, k;

	if (++call->replies > 1 || status < 200 || status > 599 ||
	    content_type == NULL || (len > 0 && body == NULL))
		abort();
	for (i = 0; i < 2; i++) {
		if (len == 0 || memmem(body, len, fuzz_api_tokens[i],
		    strlen(fuzz_api_tokens[i])) == NULL)
			continue;
		/* Echoing what the caller sent gives nothing away. */
		if (memmem(call->input, call->input_len, fuzz_api_tokens[i],
		    strlen(fuzz_api_tokens[i])) != NULL)
			continue;
		/* Which client's token: only its readers may see it. */
		k = i;
		if (status != 200 || !acl_allowed(client_conf(
		    fuzz_api_clients[k]), &call->req.peer, FUZZ_API_SELF_UID))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_api_call	 call;
	struct evhttp_uri	*uri;
	char			*target, *accept, *path = NULL, *query = NULL;
	char			*body = NULL;
	int			 sel;

	if (fuzz_api == NULL)
		fuzz_api_setup();
	if (size == 0)
		return 0;
	memset(&call, 0, sizeof call);
	call.input = data;
	call.input_len = size;
	sel = data[0];
	data++;
	size--;
	target = fuzz_line(&data, &size);
	accept = fuzz_line(&data, &size);

	call.req.method = (sel & 3) == 0 ? API_GET : (sel & 3) == 1 ?
	    API_POST : API_OTHER;
	call.req.peer = fuzz_api_peers[(sel >> 2) & 3];
	call.req.reply = fuzz_api_reply_cb;
	call.req.ctx = &call;
	/* evhttp's parse of the request line's target. */
	if ((uri = evhttp_uri_parse_with_flags(target, 0)) == NULL)
		goto out;
	if ((path = server_target(uri, &query)) == NULL)
		goto out_uri;
	call.req.path = path;
	call.req.query = query;
	call.req.want_text = strstr(accept, "text/plain") != NULL;
	if (size > 0) {
		if (call.req.method != API_POST || size > FUZZ_API_BODY_MAX)
			goto out_uri;
		body = secmem_alloc(size + 1);
		memcpy(body, data, size);
		call.req.body = body;
		call.req.body_len = size;
	}
	api_handle(fuzz_api, &call.req);
	if (call.replies == 0) {
		/* It waits: it must be cancellable, as on a hang-up. */
		if (call.req.cancel == NULL)
			abort();
		call.req.cancel(call.req.cancel_arg);
	}
out_uri:
	evhttp_uri_free(uri);
out:
	secmem_free(body);
	free(path);
	free(query);
	free(target);
	free(accept);
	return 0;
}
