#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/http.h>
#include <ini.h>

#include "conf.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#define CONF_SECRET_MAX		4096
#define CONF_LINE_MAX		4096

/* Where libinih is in a file; its handler only gets section, key, value. */
struct conf_parse {
	struct conf		*conf;
	const char		*file;
	FILE			*fp;
	int			 line;
	int			 header_line;	/* line of the last [section] */
	int			 others_can_read;
	int			 dropin;	/* a clients.d file */
	char			*section;	/* the section being read */
	struct conf_client	*client;	/* NULL in [daemon] */
	char			*seen;		/* keys of this section, "\n"-joined */
	char			*cause;
};

static int	conf_check_only;

void
conf_set_check_only(int on)
{
	conf_check_only = on;
}

struct conf *
conf_new(void)
{
	struct conf	*conf = xcalloc(1, sizeof *conf);

	conf->socket_path = xstrdup(CONF_DEFAULT_SOCKET);
	conf->socket_mode = 0660;
	conf->socket_gid = (gid_t)-1;
	conf->log_level = LOG_INFO;
	conf->max_upstream = CONF_MAX_UPSTREAM;
	return conf;
}

void
conf_client_defaults(struct conf_client *c)
{
	memset(c, 0, sizeof *c);
	c->request_format = CONF_FORMAT_JSON;
	c->client_auth = CONF_AUTH_BODY;
	c->refresh_margin = -1;
	c->min_valid = 30;
	c->fallback_lifetime = 600;
	c->timeout = 10;
	c->refresh_min_interval = 10;
	c->token_file_mode = 0640;
	c->token_file_gid = (gid_t)-1;
}

static void
conf_client_free(struct conf_client *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->file);
	free(c->token_url);
	free(c->client_id);
	secmem_free(c->secret);
	free(c->secret_source);
	free(c->scope);
	free(c->allow_users);
	free(c->allow_groups);
	free(c->allow_uids);
	free(c->allow_gids);
	free(c->ca_file);
	free(c->token_file);
	free(c->token_file_group);
	free(c);
}

void
conf_free(struct conf *conf)
{
	size_t	i;

	if (conf == NULL)
		return;
	for (i = 0; i < conf->nclients; i++)
		conf_client_free(conf->clients[i]);
	free(conf->clients);
	free(conf->path);
	free(conf->socket_path);
	free(conf->socket_group);
	free(conf);
}

int
conf_valid_name(const char *name)
{
	size_t	n = strlen(name), i;

	if (n == 0 || n > CONF_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return 0;
	}
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

struct conf_client *
conf_find_client(const struct conf *conf, const char *name)
{
	size_t	i;

	for (i = 0; i < conf->nclients; i++) {
		if (strcmp(conf->clients[i]->name, name) == 0)
			return conf->clients[i];
	}
	return NULL;
}

static int
conf_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int
conf_client_same_source(const struct conf_client *a,
    const struct conf_client *b)
{
	return conf_streq(a->name, b->name) &&
	    conf_streq(a->token_url, b->token_url) &&
	    conf_streq(a->client_id, b->client_id) &&
	    util_timingsafe_eq(a->secret, strlen(a->secret), b->secret,
	    strlen(b->secret)) &&
	    a->request_format == b->request_format &&
	    a->client_auth == b->client_auth &&
	    conf_streq(a->scope, b->scope) &&
	    conf_streq(a->ca_file, b->ca_file);
}

int
conf_is_loopback(const char *host)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;
	char		 buf[INET6_ADDRSTRLEN];
	size_t		 n = strlen(host);

	/* Decided by the address parser, never by text that a resolver
	 * could read otherwise ("127.0.0.300", "127.0.0.1."). */
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n > 2 && host[0] == '[' && host[n - 1] == ']' &&
	    n - 2 < sizeof buf) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

int
conf_check_url(const char *url, char **cause)
{
	struct evhttp_uri	*uri;
	const char		*scheme, *host;
	int			 rc = 0;

	uri = evhttp_uri_parse_with_flags(url, 0);
	if (uri == NULL)
		return util_cause(cause, "not a valid URL");
	scheme = evhttp_uri_get_scheme(uri);
	host = evhttp_uri_get_host(uri);
	if (scheme == NULL || host == NULL || *host == '\0')
		rc = util_cause(cause, "URL needs a scheme and a host");
	else if (evhttp_uri_get_userinfo(uri) != NULL)
		rc = util_cause(cause, "URL must not hold credentials");
	else if (evhttp_uri_get_fragment(uri) != NULL)
		rc = util_cause(cause, "URL must not have a fragment");
	else if (strcasecmp(scheme, "https") == 0)
		rc = 0;
	else if (strcasecmp(scheme, "http") == 0) {
		if (!conf_is_loopback(host))
			rc = util_cause(cause, "http:// is allowed only for a "
			    "loopback host (127.0.0.0/8, ::1, localhost); "
			    "use https://");
	} else
		rc = util_cause(cause, "URL scheme must be https");
	evhttp_uri_free(uri);
	return rc;
}

/*
 * A token file's path: absolute, naming a file (not a directory), without
 * "." or ".." components, so that its directory is what it looks like.
 */
static int
conf_check_token_file(const char *path, char **cause)
{
	const char	*s;
	size_t		 n;

	if (*path != '/')
		return util_cause(cause, "token_file must be an absolute path");
	if (strlen(path) >= PATH_MAX)
		return util_cause(cause, "token_file is too long");
	if (path[strlen(path) - 1] == '/')
		return util_cause(cause, "token_file must name a file, not a "
		    "directory");
	for (s = path; *s != '\0'; s += n) {
		s += strspn(s, "/");
		n = strcspn(s, "/");
		if ((n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return util_cause(cause, "token_file must not have . "
			    "or .. components");
	}
	return 0;
}

/*
 * Opens a file the configuration names. Configuration is also read during a
 * reload, inside the event loop, so the open must never block: O_NONBLOCK
 * keeps a FIFO (or a device) from waiting for a writer, and only a regular
 * file is accepted. nofollow refuses a symbolic link (secrets). Returns the
 * descriptor with its stat, or -1 with errno (0: not a regular file) and a
 * cause: "cannot VERB WHAT PATH: why".
 */
static int
conf_open_regular(const char *path, const char *what, const char *verb,
    int nofollow, struct stat *st, char **cause)
{
	int	 fd, flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;

	if (nofollow)
		flags |= O_NOFOLLOW;
	if ((fd = open(path, flags)) == -1) {
		if (nofollow && errno == ELOOP)
			return util_cause(cause, "%s %s is a symbolic link",
			    what, path);
		return util_cause(cause, "cannot %s %s %s: %s", verb, what,
		    path, strerror(errno));
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		close(fd);
		errno = 0;
		return util_cause(cause, "%s %s is not a regular file", what,
		    path);
	}
	return fd;
}

/* Reads a secret file that only its owner may read. */
static char *
conf_read_secret(const char *path, char **cause)
{
	struct stat	 st;
	char		 buf[CONF_SECRET_MAX + 1];
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd;
	char		*s;

	if ((fd = conf_open_regular(path, "secret", "open", 1, &st, cause)) == -1)
		return NULL;
	/* As ssh with a key: another user could have written it. */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		close(fd);
		util_cause(cause, "secret %s is owned by uid %lu, not by root "
		    "or the daemon's user", path, (unsigned long)st.st_uid);
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		util_cause(cause, "secret %s is accessible by group or others "
		    "(mode %04o); chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		return NULL;
	}
	while (len < sizeof buf &&
	    (n = read(fd, buf + len, sizeof buf - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			explicit_bzero(buf, sizeof buf);
			util_cause(cause, "cannot read secret %s: %s", path,
			    strerror(errno));
			return NULL;
		}
		len += (size_t)n;
	}
	close(fd);
	if (len > CONF_SECRET_MAX) {
		explicit_bzero(buf, sizeof buf);
		util_cause(cause, "secret %s is larger than %d bytes", path,
		    CONF_SECRET_MAX);
		return NULL;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		explicit_bzero(buf, sizeof buf);
		util_cause(cause, "secret %s is empty or not text", path);
		return NULL;
	}
	s = secmem_strndup(buf, len);
	explicit_bzero(buf, sizeof buf);
	return s;
}

/* Splits a list of names separated by commas or spaces, resolving each. */
static int
conf_parse_ids(const char *value, int groups, void **out, size_t *n,
    char **cause)
{
	char		*copy = xstrdup(value), *word, *save = NULL;
	struct passwd	*pw;
	struct group	*gr;
	long long	 id;
	uid_t		*uids = NULL;
	gid_t		*gids = NULL;
	size_t		 count = 0;

	for (word = strtok_r(copy, ", \t", &save); word != NULL;
	    word = strtok_r(NULL, ", \t", &save)) {
		if (groups) {
			gids = xreallocarray(gids, count + 1, sizeof *gids);
			if (util_parse_int(word, 0, UINT32_MAX - 1, &id) == 0)
				gids[count++] = (gid_t)id;
			else if ((gr = getgrnam(word)) != NULL)
				gids[count++] = gr->gr_gid;
			else
				goto unknown;
		} else {
			uids = xreallocarray(uids, count + 1, sizeof *uids);
			if (util_parse_int(word, 0, UINT32_MAX - 1, &id) == 0)
				uids[count++] = (uid_t)id;
			else if ((pw = getpwnam(word)) != NULL)
				uids[count++] = pw->pw_uid;
			else
				goto unknown;
		}
	}
	free(copy);
	*out = groups ? (void *)gids : (void *)uids;
	*n = count;
	return 0;

unknown:
	util_cause(cause, "unknown %s '%s'", groups ? "group" : "user", word);
	free(copy);
	free(uids);
	free(gids);
	return -1;
}

static int
conf_int(const char *value, long long min, long long max, int *out,
    char **cause)
{
	long long	v;

	if (util_parse_int(value, min, max, &v) == -1)
		return util_cause(cause, "must be a whole number from %lld to "
		    "%lld", min, max);
	*out = (int)v;
	return 0;
}

static int
conf_set_secret(struct conf_parse *p, struct conf_client *c, const char *key,
    const char *value, char **cause)
{
	const char	*dir;
	char		*path;

	if (c->secret != NULL)
		return util_cause(cause, "the secret is already given by "
		    "%s; give exactly one of client_secret, client_secret_file "
		    "and client_secret_credential", c->secret_source);
	if (*value == '\0')
		return util_cause(cause, "%s is empty", key);
	if (strcmp(key, "client_secret") == 0) {
		if (p->others_can_read)
			return util_cause(cause, "client_secret is inline in a "
			    "file that group or others can read (consumers are "
			    "often in the daemon's group); chmod 600 %s or use "
			    "client_secret_file or client_secret_credential",
			    p->file);
		c->secret = secmem_strdup(value);
		c->secret_source = xstrdup("inline");
	} else if (strcmp(key, "client_secret_file") == 0) {
		if (*value != '/')
			return util_cause(cause, "client_secret_file must be "
			    "an absolute path");
		if ((c->secret = conf_read_secret(value, cause)) == NULL)
			return -1;
		c->secret_source = xasprintf("file %s", value);
	} else {
		/* Not quoted: a secret pasted here must not reach the log. */
		if (!conf_valid_name(value))
			return util_cause(cause, "invalid credential name: use "
			    "1 to %d of A-Z a-z 0-9 . _ -", CONF_NAME_MAX);
		dir = getenv("CREDENTIALS_DIRECTORY");
		if ((dir == NULL || *dir == '\0') && conf_check_only) {
			c->secret = secmem_strdup("-");
			c->secret_source = xasprintf("credential %s (not read: "
			    "$CREDENTIALS_DIRECTORY is not set)", value);
			return 0;
		}
		if (dir == NULL || *dir == '\0')
			return util_cause(cause, "client_secret_credential "
			    "needs $CREDENTIALS_DIRECTORY (systemd's "
			    "LoadCredential=); it is not set");
		path = xasprintf("%s/%s", dir, value);
		c->secret = conf_read_secret(path, cause);
		free(path);
		if (c->secret == NULL)
			return -1;
		c->secret_source = xasprintf("credential %s", value);
	}
	return 0;
}

static int
conf_client_key(struct conf_parse *p, struct conf_client *c, const char *key,
    const char *value, char **cause)
{
	struct group	*gr;
	struct stat	 st;
	void		*ids;
	long long	 v;
	char		*end;
	int		 fd;

	if (strcmp(key, "token_url") == 0) {
		if (conf_check_url(value, cause) == -1)
			return -1;
		c->token_url = xstrdup(value);
	} else if (strcmp(key, "client_id") == 0) {
		if (*value == '\0')
			return util_cause(cause, "client_id is empty");
		c->client_id = xstrdup(value);
	} else if (strcmp(key, "client_secret") == 0 ||
	    strcmp(key, "client_secret_file") == 0 ||
	    strcmp(key, "client_secret_credential") == 0)
		return conf_set_secret(p, c, key, value, cause);
	else if (strcmp(key, "request_format") == 0) {
		if (strcmp(value, "json") == 0)
			c->request_format = CONF_FORMAT_JSON;
		else if (strcmp(value, "form") == 0)
			c->request_format = CONF_FORMAT_FORM;
		else if (strcmp(value, "query") == 0)
			c->request_format = CONF_FORMAT_QUERY;
		else
			return util_cause(cause, "request_format must be json, "
			    "form or query, not '%s'", value);
	} else if (strcmp(key, "client_auth") == 0) {
		if (strcmp(value, "body") == 0)
			c->client_auth = CONF_AUTH_BODY;
		else if (strcmp(value, "basic") == 0)
			c->client_auth = CONF_AUTH_BASIC;
		else
			return util_cause(cause, "client_auth must be body or "
			    "basic, not '%s'", value);
	} else if (strcmp(key, "scope") == 0) {
		if (*value != '\0')
			c->scope = xstrdup(value);
	} else if ((strcmp(key, "allow_users") == 0 ||
	    strcmp(key, "allow_groups") == 0) && *value == '\0') {
		/* Empty: no list, as for the other optional keys. */
	} else if (strcmp(key, "allow_users") == 0) {
		if (conf_parse_ids(value, 0, &ids, &c->n_allow_uids,
		    cause) == -1)
			return -1;
		c->allow_uids = ids;
		c->allow_users = xstrdup(value);
	} else if (strcmp(key, "allow_groups") == 0) {
		if (conf_parse_ids(value, 1, &ids, &c->n_allow_gids,
		    cause) == -1)
			return -1;
		c->allow_gids = ids;
		c->allow_groups = xstrdup(value);
	} else if (strcmp(key, "refresh_margin") == 0) {
		if (*value == '\0')
			c->refresh_margin = -1;
		else
			return conf_int(value, 1, 86400, &c->refresh_margin,
			    cause);
	} else if (strcmp(key, "min_valid") == 0)
		return conf_int(value, 0, 3600, &c->min_valid, cause);
	else if (strcmp(key, "fallback_lifetime") == 0)
		return conf_int(value, 1, 86400, &c->fallback_lifetime, cause);
	else if (strcmp(key, "timeout") == 0)
		return conf_int(value, 1, 300, &c->timeout, cause);
	else if (strcmp(key, "refresh_min_interval") == 0)
		return conf_int(value, 0, 3600, &c->refresh_min_interval,
		    cause);
	else if (strcmp(key, "ca_file") == 0) {
		if (*value == '\0')
			return 0;
		if (*value != '/')
			return util_cause(cause, "ca_file must be an absolute "
			    "path");
		/* libcurl opens it later, in the loop: it must not block. */
		if ((fd = conf_open_regular(value, "ca_file", "read", 0,
		    &st, cause)) == -1)
			return -1;
		close(fd);
		c->ca_file = xstrdup(value);
	} else if (strcmp(key, "token_file") == 0) {
		if (*value == '\0')
			return 0;
		if (conf_check_token_file(value, cause) == -1)
			return -1;
		c->token_file = xstrdup(value);
	} else if (strcmp(key, "token_file_format") == 0) {
		if (strcmp(value, "token") == 0)
			c->token_file_format = CONF_FILE_TOKEN;
		else if (strcmp(value, "header") == 0)
			c->token_file_format = CONF_FILE_HEADER;
		else if (strcmp(value, "json") == 0)
			c->token_file_format = CONF_FILE_JSON;
		else
			return util_cause(cause, "token_file_format must be "
			    "token, header or json, not '%s'", value);
	} else if (strcmp(key, "token_file_mode") == 0) {
		errno = 0;
		v = strtoll(value, &end, 8);
		/* Only the owner (the daemon) writes; nobody executes. */
		if (*value == '\0' || *end != '\0' || errno != 0 || v < 0 ||
		    v > 0777 || (v & 0133) != 0)
			return util_cause(cause, "token_file_mode must be an "
			    "octal mode that lets group and others at most "
			    "read, such as 0640");
		c->token_file_mode = (mode_t)v;
	} else if (strcmp(key, "token_file_group") == 0) {
		if (*value == '\0')
			return 0;
		if ((gr = getgrnam(value)) != NULL)
			c->token_file_gid = gr->gr_gid;
		else if (util_parse_int(value, 0, UINT32_MAX - 1, &v) == 0)
			c->token_file_gid = (gid_t)v;
		else
			return util_cause(cause, "unknown group '%s'", value);
		c->token_file_group = xstrdup(value);
	} else
		return util_cause(cause, "unknown key '%s' in [client %s]",
		    key, c->name);
	return 0;
}

static int
conf_daemon_key(struct conf *conf, const char *key, const char *value,
    char **cause)
{
	struct group	*gr;
	long long	 v;
	char		*end;
	int		 level;

	if (strcmp(key, "socket") == 0) {
		if (*value != '/')
			return util_cause(cause, "socket must be an absolute "
			    "path");
		if (strlen(value) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return util_cause(cause, "socket path is too long");
		free(conf->socket_path);
		conf->socket_path = xstrdup(value);
	} else if (strcmp(key, "socket_mode") == 0) {
		errno = 0;
		v = strtoll(value, &end, 8);
		if (*value == '\0' || *end != '\0' || errno != 0 || v < 0 ||
		    v > 0777)
			return util_cause(cause, "socket_mode must be an octal "
			    "mode such as 0660");
		conf->socket_mode = (mode_t)v;
	} else if (strcmp(key, "socket_group") == 0) {
		free(conf->socket_group);
		conf->socket_group = NULL;
		conf->socket_gid = (gid_t)-1;
		if (*value == '\0')
			return 0;
		if ((gr = getgrnam(value)) == NULL)
			return util_cause(cause, "unknown group '%s'", value);
		conf->socket_group = xstrdup(value);
		conf->socket_gid = gr->gr_gid;
	} else if (strcmp(key, "log_level") == 0) {
		if ((level = log_level_parse(value)) == -1)
			return util_cause(cause, "log_level must be error, "
			    "warning, info or debug");
		conf->log_level = level;
	} else if (strcmp(key, "max_upstream") == 0)
		return conf_int(value, 1, 64, &conf->max_upstream, cause);
	else
		return util_cause(cause, "unknown key '%s' in [daemon]", key);
	return 0;
}

static int
conf_start_section(struct conf_parse *p, const char *section, char **cause)
{
	struct conf		*conf = p->conf;
	struct conf_client	*c, *old;
	const char		*name;

	free(p->section);
	p->section = xstrdup(section);
	free(p->seen);
	p->seen = xstrdup("\n");
	p->client = NULL;
	if (strcmp(section, "daemon") == 0) {
		if (p->dropin)
			return util_cause(cause, "[daemon] belongs in the main "
			    "configuration file; clients.d holds [client NAME] "
			    "sections");
		return 0;
	}
	if (strncmp(section, "client ", 7) != 0)
		return util_cause(cause, "unknown section [%s]; expected "
		    "[daemon] or [client NAME]", section);
	name = section + 7;
	while (*name == ' ')
		name++;
	if (!conf_valid_name(name))
		return util_cause(cause, "invalid client name '%s': use 1 to "
		    "%d of A-Z a-z 0-9 . _ -", name, CONF_NAME_MAX);
	if ((old = conf_find_client(conf, name)) != NULL)
		return util_cause(cause, "duplicate client '%s' (first "
		    "defined at %s:%d)", name, old->file, old->line);
	c = xcalloc(1, sizeof *c);
	conf_client_defaults(c);
	c->name = xstrdup(name);
	c->file = xstrdup(p->file);
	c->line = p->header_line;
	conf->clients = xreallocarray(conf->clients, conf->nclients + 1,
	    sizeof *conf->clients);
	conf->clients[conf->nclients++] = c;
	p->client = c;
	return 0;
}

static int
conf_handler(void *user, const char *section, const char *key,
    const char *value)
{
	struct conf_parse	*p = user;
	char			*cause = NULL, *tag;
	int			 rc;

	/* The section comes from conf_reader: libinih cuts long names. */
	if (p->cause != NULL)
		return 0;
	if (p->section == NULL) {
		p->cause = xasprintf("%s:%d: key '%s' outside of a section",
		    p->file, p->line, key);
		return 0;
	}
	tag = xasprintf("\n%s\n", key);
	if (strstr(p->seen, tag) != NULL) {
		free(tag);
		p->cause = xasprintf("%s:%d: duplicate key '%s'", p->file,
		    p->line, key);
		return 0;
	}
	p->seen = xreallocarray(p->seen, strlen(p->seen) + strlen(key) + 2, 1);
	strcat(p->seen, key);
	strcat(p->seen, "\n");
	free(tag);

	if (p->client != NULL)
		rc = conf_client_key(p, p->client, key, value, &cause);
	else
		rc = conf_daemon_key(p->conf, key, value, &cause);
	if (rc == -1) {
		p->cause = xasprintf("%s:%d: %s", p->file, p->line, cause);
		free(cause);
		return 0;
	}
	return 1;
}

/*
 * libinih's line reader. It counts lines, so that errors name them, and
 * starts sections itself: libinih tells its handler neither where a section
 * begins nor about sections without keys, and truncates long names.
 * Returning NULL ends the parse (as at the end of the file).
 */
static char *
conf_reader(char *buf, int size, void *arg)
{
	struct conf_parse	*p = arg;
	char			*s, *end, *name, *cause = NULL;
	size_t			 n;

	if (p->cause != NULL || fgets(buf, size, p->fp) == NULL)
		return NULL;
	p->line++;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] != '\n' && !feof(p->fp)) {
		p->cause = xasprintf("%s:%d: line longer than %d bytes",
		    p->file, p->line, size - 2);
		return NULL;
	}
	for (s = buf; *s == ' ' || *s == '\t'; s++)
		;
	if (*s != '[')
		return buf;
	if ((end = strchr(s, ']')) == NULL)
		return buf;	/* libinih reports the syntax error */
	name = xstrndup(s + 1, (size_t)(end - s - 1));
	p->header_line = p->line;
	if (conf_start_section(p, name, &cause) == -1) {
		p->cause = xasprintf("%s:%d: %s", p->file, p->line, cause);
		free(cause);
		free(name);
		return NULL;
	}
	free(name);
	return buf;
}

static int
conf_parse(struct conf *conf, const char *path, int dropin, char **cause)
{
	struct conf_parse	 p = { 0 };
	struct stat		 st;
	int			 fd, rc;

	p.conf = conf;
	p.dropin = dropin;
	p.file = path;
	if ((fd = conf_open_regular(path, "configuration file", "open", 0,
	    &st, NULL)) == -1)
		return util_cause(cause, "%s: %s", path, errno == 0 ?
		    "not a regular file" : strerror(errno));
	if ((p.fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return util_cause(cause, "%s: %s", path, strerror(errno));
	}
	p.others_can_read = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;

	/* Debian's libinih takes its settings at run time. */
	ini_allow_multiline = 0;
	ini_allow_inline_comments = 1;
	ini_inline_comment_prefixes = (char *)";#";
	ini_use_stack = 0;
	ini_initial_alloc = CONF_LINE_MAX + 2;
	ini_max_line = CONF_LINE_MAX + 2;	/* with "\r\n" */
	ini_stop_on_first_error = 1;

	rc = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	fclose(p.fp);
	free(p.section);
	free(p.seen);
	if (p.cause != NULL) {
		*cause = p.cause;
		return -1;
	}
	if (rc > 0)
		return util_cause(cause, "%s:%d: syntax error (expected "
		    "[section] or key = value)", path, rc);
	if (rc < 0)
		return util_cause(cause, "%s: cannot parse", path);
	return 0;
}

int
conf_parse_file(struct conf *conf, const char *path, char **cause)
{
	return conf_parse(conf, path, 0, cause);
}

int
conf_finish(struct conf *conf, char **cause)
{
	struct conf_client	*c, *o;
	size_t			 i, j;
	const char		*missing;

	for (i = 0; i < conf->nclients; i++) {
		c = conf->clients[i];
		missing = NULL;
		if (c->token_url == NULL)
			missing = "token_url";
		else if (c->client_id == NULL)
			missing = "client_id";
		else if (c->secret == NULL)
			missing = "client_secret_file, client_secret_credential "
			    "or client_secret";
		if (missing != NULL)
			return util_cause(cause, "%s:%d: [client %s] needs %s",
			    c->file, c->line, c->name, missing);
		if (c->min_valid >= c->fallback_lifetime)
			return util_cause(cause, "%s:%d: [client %s] min_valid "
			    "(%d) must be less than fallback_lifetime (%d)",
			    c->file, c->line, c->name, c->min_valid,
			    c->fallback_lifetime);
		if (c->token_file == NULL && (c->token_file_group != NULL ||
		    c->token_file_mode != 0640 ||
		    c->token_file_format != CONF_FILE_TOKEN))
			return util_cause(cause, "%s:%d: [client %s] sets "
			    "token_file_* keys but no token_file", c->file,
			    c->line, c->name);
		if (c->token_file == NULL)
			continue;
		if (strcmp(c->token_file, conf->socket_path) == 0)
			return util_cause(cause, "%s:%d: [client %s] token_file "
			    "is the socket's path", c->file, c->line, c->name);
		for (j = 0; j < i; j++) {
			o = conf->clients[j];
			if (o->token_file != NULL &&
			    strcmp(o->token_file, c->token_file) == 0)
				return util_cause(cause, "%s:%d: [client %s] "
				    "token_file %s is already [client %s]'s "
				    "(%s:%d)", c->file, c->line, c->name,
				    c->token_file, o->name, o->file, o->line);
		}
	}
	return 0;
}

static int
conf_dropin_filter(const struct dirent *d)
{
	size_t	n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 &&
	    strcmp(d->d_name + n - 5, ".conf") == 0;
}

struct conf *
conf_load(const char *path, char **cause)
{
	struct conf	 *conf = conf_new();
	struct dirent	**list = NULL;
	char		 *copy, *dir, *file;
	int		  n, i, rc = 0;

	conf->path = xstrdup(path);
	if (conf_parse_file(conf, path, cause) == -1)
		goto fail;

	copy = xstrdup(path);
	dir = xasprintf("%s/clients.d", dirname(copy));
	free(copy);
	n = scandir(dir, &list, conf_dropin_filter, alphasort);
	if (n == -1 && errno != ENOENT) {
		util_cause(cause, "%s: %s", dir, strerror(errno));
		free(dir);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (rc == 0) {
			file = xasprintf("%s/%s", dir, list[i]->d_name);
			rc = conf_parse(conf, file, 1, cause);
			free(file);
		}
		free(list[i]);
	}
	free(list);
	free(dir);
	if (rc == -1 || conf_finish(conf, cause) == -1)
		goto fail;
	return conf;

fail:
	conf_free(conf);
	return NULL;
}
