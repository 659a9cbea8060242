/*
 * The HTTP API as a table of routes. Handlers get a parsed request and the
 * caller's credentials and answer through the reply function; no sockets
 * here, so tests can drive it directly.
 */
#ifndef CRVS_API_H
#define CRVS_API_H

#include <stddef.h>
#include <sys/types.h>

#include "acl.h"

struct client;
struct api;

enum api_method {
	API_GET,
	API_POST,
	API_OTHER,
};

/* Sends an answer; body is copied (and the copy wiped after sending). */
typedef void (*api_reply_fn)(void *ctx, int status, const char *content_type,
		    const char *body, size_t len);

struct secblob;
/* Sends an answer held by reference (it takes its own reference). */
typedef void (*api_reply_ref_fn)(void *ctx, int status,
		    const char *content_type, struct secblob *);

struct api_request {
	enum api_method		 method;
	const char		*path;		/* without the query */
	const char		*query;		/* NULL when none */
	int			 want_text;	/* Accept: text/plain */
	const char		*body;
	size_t			 body_len;
	struct acl_peer		 peer;
	api_reply_fn		 reply;
	api_reply_ref_fn	 reply_ref;	/* NULL: reply copies */
	void			*ctx;
	/* Set by a handler that answers later: undoes the wait if the
	 * connection goes away first. */
	void			(*cancel)(void *);
	void			*cancel_arg;
};

struct api	*api_new(uid_t self_uid);
void		 api_free(struct api *);
/* The clients to serve; the array is borrowed until the next call. */
void		 api_set_clients(struct api *, struct client **, size_t);
/* Answers now, or sets req->cancel and answers later; req must live until
 * then. */
void		 api_handle(struct api *, struct api_request *);
/* Counts a connection refused for passing the per-uid cap (metrics). */
void		 api_count_refused(struct api *);

#endif
