/*
 * The Unix socket: creating it safely (or taking it from systemd), evhttp on
 * it, peer credentials, limits. Requests go to api.c.
 */
#ifndef CRVS_SERVER_H
#define CRVS_SERVER_H

#include <sys/types.h>

struct event_base;
struct evhttp_uri;
struct api;
struct server;

struct server_limits {
	int	max_connections;	/* in total */
	int	max_per_uid;		/* pending requests per uid */
	int	timeout;		/* seconds to read a request */
	int	max_header_bytes;
	int	max_body_bytes;		/* refresh bodies */
};

/*
 * Listens on fd if it is >= 0 (socket activation), else creates path with
 * the given mode and group (gid -1: leave it). Returns NULL and a cause.
 */
struct server	*server_new(struct event_base *, struct api *, int fd,
		    const char *path, mode_t mode, gid_t gid, char **cause);
void		 server_free(struct server *);
void		 server_default_limits(struct server_limits *);
void		 server_set_limits(struct server *, const struct server_limits *);
/*
 * Stopping: takes no new connection, closes idle keep-alive ones, answers
 * the requests of those already accepted (with Connection: close), and
 * calls drained(arg) from the loop once none is left open. The caller
 * bounds how long it waits.
 */
void		 server_drain(struct server *, void (*drained)(void *), void *);
/* The decoded path of a request target (NULL: refused) and its query;
 * the caller frees both. The fuzzers use it too. */
char		*server_target(const struct evhttp_uri *, char **query);

#endif
