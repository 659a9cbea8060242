/*
 * The configuration: crvs-tokend.conf and the clients.d drop-ins (libinih) parsed
 * into plain data. Errors name the file and the line.
 */
#ifndef CRVS_CONF_H
#define CRVS_CONF_H

#include <sys/types.h>

#define CONF_NAME_MAX		64
#define CONF_DEFAULT_SOCKET	"/run/crvs-tokend/crvs-tokend.sock"
#define CONF_MAX_UPSTREAM	4	/* default max_upstream */

enum conf_format {
	CONF_FORMAT_JSON,
	CONF_FORMAT_FORM,
	CONF_FORMAT_QUERY,
};

enum conf_auth {
	CONF_AUTH_BODY,
	CONF_AUTH_BASIC,
};

/* What a token file holds (see tokenfile.c). */
enum conf_file_format {
	CONF_FILE_TOKEN,	/* the token and a newline */
	CONF_FILE_HEADER,	/* "Authorization: Bearer TOKEN" */
	CONF_FILE_JSON,		/* the socket's JSON answer */
};

struct conf_client {
	char		*name;
	char		*file;		/* where the section starts */
	int		 line;
	char		*token_url;
	char		*client_id;
	char		*secret;	/* secmem */
	char		*secret_source;	/* "file PATH", "credential NAME", "inline" */
	enum conf_format request_format;
	enum conf_auth	 client_auth;
	char		*scope;		/* NULL when unset */
	char		*allow_users;	/* as written; NULL when unset */
	char		*allow_groups;
	uid_t		*allow_uids;
	size_t		 n_allow_uids;
	gid_t		*allow_gids;
	size_t		 n_allow_gids;
	int		 refresh_margin;	/* seconds; -1: a third */
	int		 min_valid;
	int		 fallback_lifetime;
	int		 timeout;
	int		 refresh_min_interval;	/* seconds */
	char		*ca_file;	/* NULL when unset */
	/* Token file: NULL when unset. Not part of the source: a reload
	 * that changes only these keeps the token and moves the file. */
	char		*token_file;
	enum conf_file_format token_file_format;
	mode_t		 token_file_mode;
	char		*token_file_group;	/* as written; NULL when unset */
	gid_t		 token_file_gid;	/* (gid_t)-1 when unset */
};

struct conf {
	char		*path;
	char		*socket_path;
	mode_t		 socket_mode;
	char		*socket_group;	/* NULL when unset */
	gid_t		 socket_gid;
	int		 log_level;	/* syslog priority */
	int		 max_upstream;	/* requests in flight per issuer */
	struct conf_client **clients;
	size_t		 nclients;
};

/*
 * Loads path and the *.conf files of the clients.d directory beside it, in
 * name order. Returns a conf the caller frees with conf_free, or NULL and a
 * cause.
 */
struct conf	*conf_load(const char *path, char **cause);
/*
 * For --check-config outside the service: a client_secret_credential is
 * checked by name only when $CREDENTIALS_DIRECTORY is not set.
 */
void		 conf_set_check_only(int);
/* Parses one file into conf (for tests and for conf_load). */
int		 conf_parse_file(struct conf *, const char *path, char **cause);
struct conf	*conf_new(void);
/* Checks what only the whole configuration can tell, and resolves names. */
int		 conf_finish(struct conf *, char **cause);
void		 conf_free(struct conf *);
struct conf_client *conf_find_client(const struct conf *, const char *name);
/* Zeroes c and sets the defaults SPEC.md gives for an unset key. */
void		 conf_client_defaults(struct conf_client *c);
/*
 * Two client definitions that fetch the same token the same way (endpoint,
 * credentials, format, TLS): a reload keeps such a client's token. Access
 * lists and timing settings may differ; they apply in place.
 */
int		 conf_client_same_source(const struct conf_client *,
		    const struct conf_client *);
int		 conf_valid_name(const char *);
/* https://, or http:// to a loopback host. */
int		 conf_check_url(const char *url, char **cause);
/* A URL's host is 127.0.0.0/8 or ::1 (as inet_pton reads them, brackets
 * allowed) or the literal "localhost". */
int		 conf_is_loopback(const char *host);

#endif
