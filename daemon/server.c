#include "config.h"

#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "api.h"
#include "clock.h"
#include "log.h"
#include "safepath.h"
#include "secmem.h"
#include "server.h"
#include "util.h"

#define SERVER_MAX_GROUPS	256

/* Open connections of one uid. */
struct server_uid {
	uid_t			 uid;
	int			 count;
	int			 closing;	/* of count, shut down by us */
	int			 warned;	/* over max_per_uid */
	int			 evicted;	/* by the total cap, logged */
	LIST_ENTRY(server_uid)	 entry;
};

/*
 * One accepted connection. evhttp creates connections itself and only asks
 * server_bevcb for their bufferevent; from that bufferevent the loop finds
 * evhttp's connection right after the accept (server_admit_cb) and watches
 * it with a close callback. Until then a reference keeps the bufferevent.
 */
struct server_conn {
	struct server		*server;
	struct bufferevent	*bev;
	struct evhttp_connection *evcon;	/* NULL until admitted */
	evutil_socket_t		 fd;
	struct server_uid	*u;
	struct server_call	*call;		/* a request that waits */
	struct event		*hangup;	/* watches for EOF meanwhile */
	int64_t			 deadline;	/* boot ms for the next request */
	int			 closing;	/* shut down by us */
	int			 answered;	/* requests answered on it */
	/* The peer, read once: a Unix socket's credentials are those of
	 * connect() and cannot change. */
	int			 have_cred;
	struct ucred		 cred;
	gid_t			*groups;
	int			 ngroups;
	TAILQ_ENTRY(server_conn) entry;
};

struct server {
	struct event_base	*base;
	struct api		*api;
	struct evhttp		*http;
	struct evconnlistener	*listener;
	/*
	 * Accepting stops while full: at the cap, or out of descriptors,
	 * until a connection closes (one waiting to be accepted makes one
	 * close, see server_waiting_cb) or the resume timer fires; and for
	 * good once systemd's socket is handed on.
	 */
	struct event		*resume;
	struct event		*waiting;	/* full, and one waits */
	int			 full;
	int			 handed_on;
	int64_t			 starved_logged;	/* boot ms */
	int			 starved;	/* pauses not logged */
	struct event		*admit;		/* looks at new connections */
	struct event		*sweep;		/* every second */
	char			*path;		/* unlinked at exit; NULL if
						   systemd owns it */
	struct server_limits	 limits;
	int			 nconns;
	struct server_conn	**by_fd;
	size_t			 nfds;
	TAILQ_HEAD(, server_conn) fresh;	/* not admitted yet */
	TAILQ_HEAD(, server_conn) conns;	/* admitted, oldest first */
	LIST_HEAD(, server_uid)	 uids;
	/* Stopping: answer what was accepted, then drained(drained_arg). */
	int			 draining;
	struct event		*drain_check;
	void			(*drained)(void *);
	void			*drained_arg;
	LIST_ENTRY(server)	 entry;		/* in servers */
};

/*
 * Every server, so that the listener's error callback finds its own:
 * evhttp_bind_listener makes the evhttp the listener's callback argument.
 */
static LIST_HEAD(, server) servers = LIST_HEAD_INITIALIZER(servers);

/* One request from the time it is read until it is answered. */
struct server_call {
	struct evhttp_request	*req;
	struct api_request	 api;
	char			*path;
	char			*query;
	char			*body;		/* secmem */
	struct server_conn	*conn;
};

void
server_default_limits(struct server_limits *l)
{
	l->max_connections = 16384;
	l->max_per_uid = 512;
	l->timeout = 10;
	l->max_header_bytes = 8192;
	l->max_body_bytes = 70 * 1024;
}

static void
server_call_free(struct server_call *call)
{
	free(call->path);
	free(call->query);
	secmem_free(call->body);
	free(call);
}

static void
server_wipe_cb(const void *data, size_t len, void *arg)
{
	secmem_free(arg);
}

static void
server_unref_cb(const void *data, size_t len, void *arg)
{
	secblob_unref(arg);
}

static void	server_send(struct server_call *, int, const char *);
static void	server_drain_later(struct server *);

static void
server_reply_cb(void *ctx, int status, const char *content_type,
    const char *body, size_t len)
{
	struct server_call	*call = ctx;
	struct evbuffer		*buf = evhttp_request_get_output_buffer(
				    call->req);
	char			*copy;

	/* Answers may hold a token: send a copy that is wiped once sent. */
	copy = secmem_alloc(len + 1);
	memcpy(copy, body, len);
	evbuffer_add_reference(buf, copy, len, server_wipe_cb, copy);
	server_send(call, status, content_type);
}

/* A rendered answer: referenced, not copied; released once written. */
static void
server_reply_ref_cb(void *ctx, int status, const char *content_type,
    struct secblob *b)
{
	struct server_call	*call = ctx;
	struct evbuffer		*buf = evhttp_request_get_output_buffer(
				    call->req);

	evbuffer_add_reference(buf, b->data, b->len, server_unref_cb,
	    secblob_ref(b));
	server_send(call, status, content_type);
}

static void
server_send(struct server_call *call, int status, const char *content_type)
{
	struct evhttp_request	*req = call->req;
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	const char		*reason;

	if (call->conn != NULL) {
		call->conn->call = NULL;
		call->conn->answered++;
		/* The next request's time to arrive starts now: a request
		 * that waited past the timeout for a slow fetch must not
		 * have the sweep cut its connection before the answer is
		 * written. */
		call->conn->deadline = clock_boot_ms() +
		    (int64_t)call->conn->server->limits.timeout * 1000;
		if (call->conn->hangup != NULL)
			event_del(call->conn->hangup);
		/* Stopping: evhttp closes the connection once this is sent. */
		if (call->conn->server->draining)
			evhttp_add_header(h, "Connection", "close");
	}
	evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	switch (status) {
	case 200: reason = "OK"; break;
	case 400: reason = "Bad Request"; break;
	case 403: reason = "Forbidden"; break;
	case 404: reason = "Not Found"; break;
	case 405: reason = "Method Not Allowed"; break;
	case 503: reason = "Service Unavailable"; break;
	case 504: reason = "Gateway Timeout"; break;
	default: reason = "Error"; break;
	}
	if (status >= 400)
		log_debug(NULL, "%d %s for uid %lu", status,
		    call->path != NULL ? call->path : "?",
		    (unsigned long)call->api.peer.uid);
	evhttp_send_reply(req, status, reason, NULL);
	server_call_free(call);
}

/* Fails closed: a peer whose credentials cannot be read is refused. */
static int
server_peer(struct server_conn *conn, struct server_call *call)
{
	if (!conn->have_cred)
		return -1;
	call->api.peer.pid = conn->cred.pid;
	call->api.peer.uid = conn->cred.uid;
	call->api.peer.gid = conn->cred.gid;
	call->api.peer.groups = conn->groups;
	call->api.peer.ngroups = (size_t)conn->ngroups;
	return 0;
}

static struct server_conn *
server_conn_of(struct server *s, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent	*bev;
	evutil_socket_t		 fd;

	if (evcon == NULL ||
	    (bev = evhttp_connection_get_bufferevent(evcon)) == NULL ||
	    (fd = bufferevent_getfd(bev)) < 0 || (size_t)fd >= s->nfds ||
	    s->by_fd[fd] == NULL || s->by_fd[fd]->evcon != evcon)
		return NULL;
	return s->by_fd[fd];
}

static struct server_uid *
server_uid_get(struct server *s, uid_t uid)
{
	struct server_uid	*u;

	LIST_FOREACH(u, &s->uids, entry) {
		if (u->uid == uid)
			return u;
	}
	u = xcalloc(1, sizeof *u);
	u->uid = uid;
	LIST_INSERT_HEAD(&s->uids, u, entry);
	return u;
}

/* Ends a connection: the loop reads its end and evhttp frees it. */
static void
server_conn_shut(struct server_conn *conn)
{
	shutdown(conn->fd, SHUT_RDWR);
	conn->closing = 1;
	if (conn->u != NULL)
		conn->u->closing++;
}

/* Accepts unless full or handed on. */
static void
server_update_listener(struct server *s)
{
	if (s->listener == NULL)	/* freed by evhttp_free */
		return;
	if (s->full || s->handed_on)
		evconnlistener_disable(s->listener);
	else
		evconnlistener_enable(s->listener);
}

/* Full: no more accepts (libevent's accept loop stops after the current
 * one) until a connection closes; one waiting makes room. */
static void
server_set_full(struct server *s)
{
	s->full = 1;
	server_update_listener(s);
	if (!s->handed_on)
		event_add(s->waiting, NULL);
}

static void
server_clear_full(struct server *s)
{
	s->full = 0;
	event_del(s->waiting);
	event_del(s->resume);
	server_update_listener(s);
}

/* One connection less: its descriptor is closed before the loop polls
 * again. */
static void
server_conn_gone(struct server *s)
{
	if (--s->nconns < s->limits.max_connections && s->full)
		server_clear_full(s);
	if (s->draining)
		server_drain_later(s);
}

/* evhttp is releasing the connection: forget it, and any waiting request. */
static void
server_conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct server_conn	*conn = arg;
	struct server		*s = conn->server;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (conn->hangup != NULL)
		event_free(conn->hangup);
	if (conn->call != NULL) {
		if (conn->call->api.cancel != NULL)
			conn->call->api.cancel(conn->call->api.cancel_arg);
		server_call_free(conn->call);
	}
	TAILQ_REMOVE(&s->conns, conn, entry);
	if (s->by_fd[conn->fd] == conn)
		s->by_fd[conn->fd] = NULL;
	if (conn->u != NULL && conn->closing)
		conn->u->closing--;
	if (conn->u != NULL && --conn->u->count == 0) {
		LIST_REMOVE(conn->u, entry);
		free(conn->u);
	}
	free(conn->groups);
	free(conn);
	/* Nothing to sweep until the next connection. */
	if (TAILQ_EMPTY(&s->conns))
		event_del(s->sweep);
	server_conn_gone(s);
}

/*
 * Looks again once the loop has gone round: by then the listener has taken
 * in the connections that were waiting to be accepted.
 */
static void
server_drain_later(struct server *s)
{
	static const struct timeval	 now = { 0, 0 };

	evtimer_add(s->drain_check, &now);
}

static void
server_drain_check_cb(evutil_socket_t unused, short what, void *arg)
{
	struct server	*s = arg;

	if (s->drained != NULL && TAILQ_EMPTY(&s->conns) &&
	    TAILQ_EMPTY(&s->fresh)) {
		s->drained(s->drained_arg);
		s->drained = NULL;
	}
}

/*
 * Closes one connection of the uid that holds the most open ones, idle
 * ones first. Returns 0 when there was none to close.
 */
static int
server_evict(struct server *s)
{
	struct server_uid	*u, *top = NULL;
	struct server_conn	*conn, *victim = NULL;

	LIST_FOREACH(u, &s->uids, entry) {
		if (u->count > u->closing && (top == NULL ||
		    u->count - u->closing > top->count - top->closing))
			top = u;
	}
	/* Every connection with a uid is being closed already. */
	if (top == NULL)
		return 0;
	TAILQ_FOREACH(conn, &s->conns, entry) {
		if (conn->u == top && !conn->closing &&
		    (victim == NULL || (victim->call != NULL &&
		    conn->call == NULL)))
			victim = conn;
		if (victim != NULL && victim->call == NULL)
			break;
	}
	if (victim == NULL)
		return 0;
	/* Once a uid, until its last connection closes: a flood evicts
	 * many. */
	if (!top->evicted) {
		log_warn(NULL, "%d connections open; closing those of uid %lu, "
		    "which holds %d", s->nconns, (unsigned long)top->uid,
		    top->count);
		top->evicted = 1;
	}
	server_conn_shut(victim);
	return 1;
}

/* A new connection, now that evhttp has set it up: who is it? */
static void
server_conn_admit(struct server *s, struct server_conn *conn)
{
	struct server_conn	*old;
	bufferevent_event_cb	 errcb;
	void			*evcon;
	struct ucred		 cred;
	socklen_t		 len = sizeof cred;
	evutil_socket_t		 fd;
	size_t			 n;
	gid_t			 groups[SERVER_MAX_GROUPS];
	struct timeval		 second = { 1, 0 };

	TAILQ_REMOVE(&s->fresh, conn, entry);
	bufferevent_getcb(conn->bev, NULL, NULL, &errcb, &evcon);
	fd = bufferevent_getfd(conn->bev);
	if (errcb == NULL || evcon == NULL || fd < 0) {
		/* Already released by evhttp. */
		bufferevent_decref(conn->bev);
		free(conn);
		server_conn_gone(s);
		return;
	}
	/* evhttp gives its connection as the bufferevent's argument. */
	conn->evcon = evcon;
	conn->fd = fd;
	TAILQ_INSERT_TAIL(&s->conns, conn, entry);
	evhttp_connection_set_closecb(conn->evcon, server_conn_closed_cb, conn);
	bufferevent_decref(conn->bev);
	if ((size_t)fd >= s->nfds) {
		n = s->nfds ? s->nfds : 256;
		while (n <= (size_t)fd)
			n *= 2;
		s->by_fd = xreallocarray(s->by_fd, n, sizeof *s->by_fd);
		memset(s->by_fd + s->nfds, 0, (n - s->nfds) * sizeof *s->by_fd);
		s->nfds = n;
	}
	s->by_fd[fd] = conn;
	if (!evtimer_pending(s->sweep, NULL))
		evtimer_add(s->sweep, &second);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    len != sizeof cred) {
		log_warn(NULL, "closing a connection whose peer credentials "
		    "cannot be read");
		server_conn_shut(conn);
		return;
	}
	conn->cred = cred;
	conn->have_cred = 1;
	len = sizeof groups;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1) {
		/* More groups than we keep: count none of them (fewer
		 * rights, never more). */
		len = 0;
	}
	conn->ngroups = (int)(len / sizeof(gid_t));
	if (conn->ngroups > 0) {
		conn->groups = xreallocarray(NULL, (size_t)conn->ngroups,
		    sizeof *conn->groups);
		memcpy(conn->groups, groups, len);
	}
	conn->u = server_uid_get(s, cred.uid);
	if (++conn->u->count > s->limits.max_per_uid) {
		/*
		 * The uid's oldest idle connection makes room: connections
		 * its client has already closed, but whose end the loop has
		 * not read yet, go first instead of the new one.
		 */
		TAILQ_FOREACH(old, &s->conns, entry) {
			if (old->u == conn->u && old != conn &&
			    !old->closing && old->call == NULL)
				break;
		}
		if (old == NULL)
			old = conn;	/* all the others wait for tokens */
		if (!conn->u->warned)
			log_warn(NULL, "uid %lu (pid %ld) has more than %d "
			    "connections open; closing its oldest idle ones",
			    (unsigned long)cred.uid, (long)cred.pid,
			    s->limits.max_per_uid);
		conn->u->warned = 1;
		api_count_refused(s->api);
		server_conn_shut(old);
	} else if (conn->u->count <= s->limits.max_per_uid / 2)
		conn->u->warned = 0;
}

static void
server_admit_cb(evutil_socket_t unused, short what, void *arg)
{
	struct server		*s = arg;
	struct server_conn	*conn;

	while ((conn = TAILQ_FIRST(&s->fresh)) != NULL)
		server_conn_admit(s, conn);
}

/*
 * Full, and a connection waits to be accepted: the uid holding the most
 * open connections closes one (idle first), so that a few users cannot
 * lock everyone out; once it is closed, accepting resumes. The cap is
 * kept before accepting, not after: the descriptors beyond it are for
 * upstream requests, which a flood must not starve. With none to close,
 * look again in 100 ms (the waiting one keeps the socket readable).
 */
static void
server_waiting_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server		*s = arg;
	struct timeval		 tv = { 0, 100 * 1000 };

	server_admit_cb(-1, 0, s);	/* their uids count */
	if (s->full && !server_evict(s))
		evtimer_add(s->resume, &tv);
}

/*
 * Every second: cut off connections whose request has not arrived within
 * the timeout. evhttp's own timer restarts at every byte, so a client that
 * sends one byte a second would keep a connection forever.
 */
static void
server_sweep_cb(evutil_socket_t unused, short what, void *arg)
{
	struct server		*s = arg;
	struct server_conn	*conn;
	int64_t			 now = clock_boot_ms();

	TAILQ_FOREACH(conn, &s->conns, entry) {
		if (conn->call != NULL || conn->closing || now <= conn->deadline)
			continue;
		log_debug(NULL, "closing a connection of uid %lu: no complete "
		    "request within %d s", conn->u != NULL ?
		    (unsigned long)conn->u->uid : 0UL, s->limits.timeout);
		server_conn_shut(conn);
	}
}

static struct bufferevent *
server_bevcb(struct event_base *base, void *arg)
{
	struct server		*s = arg;
	struct server_conn	*conn = xcalloc(1, sizeof *conn);

	conn->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (conn->bev == NULL)
		fatal("cannot create a bufferevent");
	bufferevent_incref(conn->bev);
	conn->server = s;
	conn->fd = -1;
	conn->deadline = clock_boot_ms() + (int64_t)s->limits.timeout * 1000;
	TAILQ_INSERT_TAIL(&s->fresh, conn, entry);
	/* evhttp sets the descriptor after we return: admit from the loop. */
	event_active(s->admit, EV_TIMEOUT, 0);
	if (++s->nconns >= s->limits.max_connections && !s->full)
		server_set_full(s);
	return conn->bev;
}

static void	server_reply_const(struct server_call *, int, const char *);

/*
 * The socket of a connection whose request waits became readable: if the
 * client has hung up, drop the connection now (its close callback cancels
 * the wait) rather than when the answer cannot be written.
 */
static void
server_hangup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_conn	*conn = arg;
	char			 c;
	ssize_t			 n;

	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	/* A pipelined request: evhttp reads it later; unless we shut the
	 * connection down (evicted), when it goes now, freeing its place. */
	if (n > 0 && !conn->closing)
		return;
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		event_add(conn->hangup, NULL);
		return;
	}
	log_debug(NULL, "uid %lu hung up while its request waited",
	    conn->u != NULL ? (unsigned long)conn->u->uid : 0UL);
	evhttp_connection_free(conn->evcon);
}

/*
 * The request target as the route table gets it: the percent-decoded path,
 * which goes into logs and routing and so must be printable ASCII with no
 * NUL, and the raw query (*query: NULL when none). Returns the path, or
 * NULL when it is refused; the caller frees the path and the query.
 */
char *
server_target(const struct evhttp_uri *uri, char **query)
{
	const char	*p, *q;
	char		*decoded;
	size_t		 i, len;

	*query = NULL;
	p = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (p == NULL || (decoded = evhttp_uridecode(p, 0, &len)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if ((unsigned char)decoded[i] < 0x20 ||
		    (unsigned char)decoded[i] >= 0x7f)
			break;
	}
	if (len == 0 || i < len || len != strlen(decoded)) {
		free(decoded);
		return NULL;
	}
	q = evhttp_uri_get_query(uri);
	*query = q != NULL ? xstrdup(q) : NULL;
	return decoded;
}

static void
server_request_cb(struct evhttp_request *req, void *arg)
{
	struct server		*s = arg;
	struct server_call	*call = xcalloc(1, sizeof *call);
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*accept;
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	size_t			 blen = evbuffer_get_length(in);
	struct server_conn	*conn;

	call->req = req;
	call->api.reply = server_reply_cb;
	call->api.reply_ref = server_reply_ref_cb;
	call->api.ctx = call;
	if ((conn = server_conn_of(s, req)) == NULL) {
		server_admit_cb(-1, 0, s);
		conn = server_conn_of(s, req);
	}
	call->conn = conn;
	if (conn == NULL) {
		log_warn(NULL, "refused a request on an unknown connection");
		server_reply_const(call, 403, "{\"error\":\"forbidden\","
		    "\"message\":\"unknown connection\"}");
		return;
	}
	if (server_peer(conn, call) == -1) {
		log_warn(NULL, "refused a connection whose peer credentials "
		    "cannot be read");
		server_reply_const(call, 403, "{\"error\":\"forbidden\","
		    "\"message\":\"peer credentials unavailable\"}");
		return;
	}
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		call->api.method = API_GET;
		break;
	case EVHTTP_REQ_POST:
		call->api.method = API_POST;
		break;
	default:
		call->api.method = API_OTHER;
		break;
	}
	if ((call->path = server_target(uri, &call->query)) == NULL) {
		server_reply_const(call, 400, "{\"error\":\"bad_request\","
		    "\"message\":\"the path must be printable ASCII\"}");
		return;
	}
	call->api.path = call->path;
	call->api.query = call->query;
	accept = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Accept");
	call->api.want_text = accept != NULL &&
	    strstr(accept, "text/plain") != NULL;
	if (blen > 0) {
		if (call->api.method != API_POST ||
		    blen > (size_t)s->limits.max_body_bytes) {
			server_reply_const(call, 400, "{\"error\":"
			    "\"bad_request\",\"message\":\"no request body "
			    "allowed here\"}");
			return;
		}
		call->body = secmem_alloc(blen + 1);
		evbuffer_remove(in, call->body, blen);
		call->api.body = call->body;
		call->api.body_len = blen;
	}
	/* If the request waits, the client may leave first: the close
	 * callback then cancels it. The reply clears this. */
	conn->call = call;
	api_handle(s->api, &call->api);
	if (conn->call != NULL) {
		/* evhttp does not read while a request is handled: watch for
		 * the client hanging up ourselves. */
		if (conn->hangup == NULL)
			conn->hangup = event_new(s->base, conn->fd, EV_READ,
			    server_hangup_cb, conn);
		event_add(conn->hangup, NULL);
	}
}

static void
server_reply_const(struct server_call *call, int status, const char *json)
{
	server_reply_cb(call, status, "application/json", json, strlen(json));
}

/* Full with none to close, or out of descriptors: try again. */
static void
server_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*s = arg;

	if (s->nconns < s->limits.max_connections)
		server_clear_full(s);
	else if (s->full && !s->handed_on)
		event_add(s->waiting, NULL);
}

/*
 * Out of descriptors (the cap keeps some for upstream requests, but the
 * limit may have been lowered since): full until a connection closes, or
 * for 200 ms when none does (other descriptors may be freed meanwhile),
 * instead of spinning. arg is evhttp's, not ours.
 */
static void
server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct server	*s;
	struct timeval	 tv = { 0, 200 * 1000 };
	int		 err = EVUTIL_SOCKET_ERROR();
	int64_t		 now = clock_boot_ms();
	char		 more[64];

	LIST_FOREACH(s, &servers, entry) {
		if (s->listener == l)
			break;
	}
	if (s == NULL)
		fatal("accept error on an unknown listener");
	/* At most a line a second: a flood pauses often. */
	if (s->starved_logged == 0 || now - s->starved_logged >= 1000) {
		more[0] = '\0';
		if (s->starved > 0)
			snprintf(more, sizeof more, "; %d more such pauses "
			    "since the last line", s->starved);
		log_warn(NULL, "accept: %s; pausing new connections until one "
		    "closes (200 ms at most)%s",
		    evutil_socket_error_to_string(err), more);
		s->starved_logged = now;
		s->starved = 0;
	} else
		s->starved++;
	server_set_full(s);
	evtimer_add(s->resume, &tv);
}

/*
 * A socket file at path: refuse if a daemon answers there, remove it if it
 * is stale. Anything that is not a socket is left alone.
 */
static int
server_clear_stale(const char *path, char **cause)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct stat		 st;
	int			 fd, rc;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 :
		    util_cause(cause, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return util_cause(cause, "%s exists and is not a socket", path);
	strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return util_cause(cause, "socket: %s", strerror(errno));
	rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	close(fd);
	if (rc == 0)
		return util_cause(cause, "another crvs-tokend is already "
		    "listening on %s", path);
	if (unlink(path) == -1)
		return util_cause(cause, "cannot remove stale socket %s: %s",
		    path, strerror(errno));
	log_info(NULL, "removed stale socket %s", path);
	return 0;
}

/*
 * The socket's directory: created when missing so that only the daemon's
 * user and the socket group can enter it, then checked: if anyone but root
 * and the daemon's user can write to it (or to a non-sticky directory above
 * it), they could swap a symbolic link in for the socket or plant an
 * impostor, so the daemon refuses to start. Returns the directory's path
 * (the caller frees it) or NULL and a cause.
 */
static char *
server_make_dir(const char *path, gid_t gid, char **cause)
{
	char		*dir = xstrdup(path), *slash, *why;
	struct stat	 st;
	int		 fd;

	if ((slash = strrchr(dir, '/')) == NULL) {
		free(dir);
		dir = xstrdup(".");
	} else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (mkdir(dir, 0750) == 0) {
		/* Through a descriptor: the path is not trusted yet. */
		if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1 || fstat(fd, &st) == -1 ||
		    (gid != (gid_t)-1 && st.st_gid != gid &&
		    fchown(fd, (uid_t)-1, gid) == -1)) {
			util_cause(cause, "cannot create %s: %s", dir,
			    strerror(errno));
			if (fd != -1)
				close(fd);
			free(dir);
			return NULL;
		}
		close(fd);
		log_info(NULL, "created %s (mode 0750)", dir);
	} else if (errno != EEXIST) {
		util_cause(cause, "cannot create %s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	if (safepath_check_dir(dir, geteuid(), &why) == -1) {
		util_cause(cause, "%s; the socket %s needs a directory that "
		    "only root and the daemon's user can write to", why ?
		    why : "out of memory", path);
		free(why);
		free(dir);
		return NULL;
	}
	return dir;
}

/*
 * Gives the bound socket its group. The path is only trusted after
 * server_make_dir, and even then it is changed without following a link
 * and only while it is the socket this process just bound (fchown on an
 * AF_UNIX socket's descriptor does not reach the file).
 */
static int
server_set_group(const char *path, gid_t gid, char **cause)
{
	struct stat	 st, again;

	if (lstat(path, &st) == -1)
		return util_cause(cause, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
		return util_cause(cause, "%s was replaced after it was "
		    "bound", path);
	/* Only when needed: under systemd the group is already right and the
	 * unit's system call filter may forbid chown. */
	if (gid == (gid_t)-1 || st.st_gid == gid)
		return 0;
	if (fchownat(AT_FDCWD, path, (uid_t)-1, gid,
	    AT_SYMLINK_NOFOLLOW) == -1)
		return util_cause(cause, "cannot set the group of %s: %s",
		    path, strerror(errno));
	if (lstat(path, &again) == -1 || again.st_ino != st.st_ino ||
	    again.st_dev != st.st_dev)
		return util_cause(cause, "%s was replaced after it was "
		    "bound", path);
	return 0;
}

static int
server_listen(const char *path, mode_t mode, gid_t gid, char **cause)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	mode_t			 old;
	gid_t			 egid;
	char			*dir;
	int			 fd, rc, saved, switched = 0;

	if (strlen(path) >= sizeof sun.sun_path)
		return util_cause(cause, "socket path %s is too long", path);
	strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
	if ((dir = server_make_dir(path, gid, cause)) == NULL)
		return -1;
	free(dir);
	if (server_clear_stale(path, cause) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return util_cause(cause, "socket: %s", strerror(errno));
	/* The mode comes from the umask at birth: the path is never chmod'ed.
	 * As root, the group too: the socket is created under that effective
	 * gid, so it never has group bits for the wrong group. Otherwise
	 * server_set_group changes it, still before listen(): until then
	 * nobody can connect. */
	egid = getegid();
	if (gid != (gid_t)-1 && gid != egid && geteuid() == 0 &&
	    setegid(gid) == 0)
		switched = 1;
	old = umask(~mode & 0777);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	saved = errno;
	umask(old);
	if (switched && setegid(egid) == -1)
		fatal("setegid back to %lu: %s", (unsigned long)egid,
		    strerror(errno));
	if (rc == -1) {
		close(fd);
		return util_cause(cause, "cannot bind %s: %s", path,
		    strerror(saved));
	}
	if (server_set_group(path, gid, cause) == -1) {
		close(fd);
		return -1;
	}
	if (listen(fd, SOMAXCONN) == -1) {
		saved = errno;
		unlink(path);
		close(fd);
		return util_cause(cause, "listen on %s: %s", path,
		    strerror(saved));
	}
	return fd;
}

struct server *
server_new(struct event_base *base, struct api *api, int fd, const char *path,
    mode_t mode, gid_t gid, char **cause)
{
	struct server	*s = xcalloc(1, sizeof *s);
	struct rlimit	 rl;

	s->base = base;
	s->api = api;
	TAILQ_INIT(&s->fresh);
	server_default_limits(&s->limits);
	/* Leave descriptors for upstream requests and timers. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)s->limits.max_connections + 256 > rl.rlim_cur)
		s->limits.max_connections = rl.rlim_cur > 512 ?
		    (int)(rl.rlim_cur - 256) : (int)rl.rlim_cur / 2;
	/* No one uid may hold more than half of them. */
	if (s->limits.max_per_uid > s->limits.max_connections / 2)
		s->limits.max_per_uid = s->limits.max_connections > 1 ?
		    s->limits.max_connections / 2 : 1;
	TAILQ_INIT(&s->conns);
	LIST_INIT(&s->uids);
	if (fd < 0) {
		if ((fd = server_listen(path, mode, gid, cause)) == -1) {
			free(s);
			return NULL;
		}
		s->path = xstrdup(path);
	} else
		evutil_make_socket_nonblocking(fd);
	s->listener = evconnlistener_new(base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (s->listener == NULL)
		fatal("cannot listen on the socket");
	s->resume = evtimer_new(base, server_resume_cb, s);
	s->waiting = event_new(base, fd, EV_READ, server_waiting_cb, s);
	LIST_INSERT_HEAD(&servers, s, entry);
	evconnlistener_set_error_cb(s->listener, server_accept_error_cb);
	if ((s->http = evhttp_new(base)) == NULL)
		fatal("evhttp_new failed");
	if (evhttp_bind_listener(s->http, s->listener) == NULL)
		fatal("evhttp_bind_listener failed");
	evhttp_set_gencb(s->http, server_request_cb, s);
	evhttp_set_bevcb(s->http, server_bevcb, s);
	s->admit = event_new(base, -1, 0, server_admit_cb, s);
	s->drain_check = evtimer_new(base, server_drain_check_cb, s);
	/* Armed while connections are open: an idle daemon sleeps. */
	s->sweep = event_new(base, -1, EV_PERSIST, server_sweep_cb, s);
	/* Methods libevent knows all get a JSON answer from api.c. */
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	server_set_limits(s, &s->limits);
	return s;
}

/* Nothing read and not yet parsed, in evhttp's buffer or the socket's. */
static int
server_conn_quiet(struct server_conn *conn)
{
	struct bufferevent	*bev;
	char			 c;

	bev = evhttp_connection_get_bufferevent(conn->evcon);
	if (bev != NULL && evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		return 0;
	return recv(conn->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK);
}

void
server_drain(struct server *s, void (*drained)(void *), void *arg)
{
	struct server_conn	*conn;

	s->draining = 1;
	s->drained = drained;
	s->drained_arg = arg;
	if (s->path != NULL) {
		/*
		 * Our own socket: no one can connect to it once unlinked (a
		 * new daemon may take the path at once), and those already
		 * connected are still accepted and answered.
		 */
		unlink(s->path);
		free(s->path);
		s->path = NULL;
	} else {
		/* systemd's: what waits to be accepted is the next daemon's. */
		s->handed_on = 1;
		server_clear_full(s);
	}
	/* Idle keep-alive connections go now, as a client expects they may;
	 * new ones wait for their first request. */
	TAILQ_FOREACH(conn, &s->conns, entry) {
		if (conn->call == NULL && !conn->closing && conn->answered > 0 &&
		    server_conn_quiet(conn))
			server_conn_shut(conn);
	}
	server_drain_later(s);
}

void
server_set_limits(struct server *s, const struct server_limits *l)
{
	s->limits = *l;
	evhttp_set_max_headers_size(s->http, l->max_header_bytes);
	evhttp_set_max_body_size(s->http, l->max_body_bytes);
	evhttp_set_timeout(s->http, l->timeout);
}

void
server_free(struct server *s)
{
	struct server_conn	*conn;

	if (s == NULL)
		return;
	LIST_REMOVE(s, entry);
	/* Nothing may watch the listening socket once evhttp closes it, and
	 * the close callbacks must not touch the freed listener. */
	s->full = 0;
	event_del(s->waiting);
	event_del(s->resume);
	s->listener = NULL;
	/* evhttp_free frees the bound listener (closing the socket) and every
	 * connection, calling their close callbacks. */
	evhttp_free(s->http);
	while ((conn = TAILQ_FIRST(&s->fresh)) != NULL) {
		TAILQ_REMOVE(&s->fresh, conn, entry);
		bufferevent_decref(conn->bev);
		free(conn);
	}
	event_free(s->resume);
	event_free(s->waiting);
	event_free(s->admit);
	event_free(s->sweep);
	event_free(s->drain_check);
	if (s->path != NULL)
		unlink(s->path);
	free(s->path);
	free(s->by_fd);
	free(s);
}
