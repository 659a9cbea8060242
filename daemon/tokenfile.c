/*
 * Token files (token_file= in a client's section): for consumers that can
 * read a file but not call crvs-token or the socket (a Java service's token
 * file, a bind mount into a container, curl -H @FILE).
 *
 * A file is a projection of what the socket serves, not a second cache: the
 * client's token hook (client.c) tells this module each time the token to
 * serve changes, and main.c calls tokenfile_apply after each
 * (re)configuration. An installed token is written; a dropped one removes
 * the file. The client drops its token on its own CLOCK_BOOTTIME timer at
 * the servable end (expiry minus min_valid), the deadline the socket obeys,
 * so a file never holds a token the socket would refuse to hand out.
 *
 * Writing is atomic (a new file in the same directory, renamed over the
 * old), never follows or replaces a symlink, and refuses a directory that
 * another non-root user could write to. It is synchronous: the files belong
 * on tmpfs (/run/crvs-tokend/), where it takes microseconds; there is no
 * fsync, which tmpfs does not need and a slow disk would turn into a stall
 * of the event loop.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "conf.h"
#include "log.h"
#include "safepath.h"
#include "secmem.h"
#include "tokenfile.h"
#include "util.h"

#define TOKENFILE_TMP_TRIES	8

struct tokenfile_entry {
	struct tokenfile		*tf;
	struct client			*client;
	char				*name;
	char				*path;		/* NULL: no token_file */
	enum conf_file_format		 format;
	mode_t				 mode;
	gid_t				 gid;
	int				 present;	/* written, not removed */
	int64_t				 deadline;	/* boot ms, servable end */
	TAILQ_ENTRY(tokenfile_entry)	 entry;
};

struct tokenfile {
	TAILQ_HEAD(, tokenfile_entry)	 entries;
};

/* Splits path into a new directory string and a pointer to its last part. */
static char *
tokenfile_split(const char *path, const char **base)
{
	const char	*slash = strrchr(path, '/');

	*base = slash + 1;
	return slash == path ? xstrdup("/") :
	    xstrndup(path, (size_t)(slash - path));
}

/* What is at base in dfd may be replaced: nothing, or a regular file. */
static int
tokenfile_check_target(int dfd, const char *path, const char *base,
    char **cause)
{
	struct stat	st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 :
		    util_cause(cause, "%s: %s", path, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return util_cause(cause, "%s is a symbolic link; token files "
		    "are never written through one", path);
	if (!S_ISREG(st.st_mode))
		return util_cause(cause, "%s exists and is not a regular file",
		    path);
	return 0;
}

/* Opens path's directory after checking it; -1 and a cause. */
static int
tokenfile_open_dir(const char *path, const char **base, char **cause)
{
	char	*dir = tokenfile_split(path, base), *why = NULL;
	uid_t	 uid = geteuid();
	int	 dfd, saved;

	/* Checked as opened: the directory used is the one checked. */
	if ((dfd = safepath_open_dir(dir, &uid, 1, &why)) == -1) {
		saved = errno;
		util_cause(cause, "refusing %s: %s", path, why);
		free(why);
		errno = saved;
	}
	free(dir);
	return dfd;
}

/*
 * Whether name is one of tokenfile_write's temporary files: ".crvs-tokend."
 * and 16 lowercase hex digits, exactly.
 */
static int
tokenfile_is_tmp_name(const char *name)
{
	static const char	 prefix[] = ".crvs-tokend.";
	size_t			 i;

	if (strncmp(name, prefix, sizeof prefix - 1) != 0)
		return 0;
	name += sizeof prefix - 1;
	for (i = 0; i < 16; i++) {
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	}
	return name[16] == '\0';
}

int
tokenfile_clean_tmp(const char *path, char **cause)
{
	const char	*base;
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	int		 dfd, fd, n = 0;

	if ((dfd = tokenfile_open_dir(path, &base, cause)) == -1)
		return errno == ENOENT ? 0 : -1;
	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		util_cause(cause, "cannot list the directory of %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!tokenfile_is_tmp_name(de->d_name))
			continue;
		/* A token left by a crash between create and rename. */
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    unlinkat(dfd, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	close(dfd);
	return n;
}

int
tokenfile_check_path(const char *path, char **cause)
{
	const char	*base;
	int		 dfd, rc;

	if ((dfd = tokenfile_open_dir(path, &base, cause)) == -1)
		return -1;
	rc = tokenfile_check_target(dfd, path, base, cause);
	close(dfd);
	return rc;
}

static int
tokenfile_write_all(int fd, const char *data, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int
tokenfile_write(const char *path, const char *data, size_t len, mode_t mode,
    gid_t gid, char **cause)
{
	struct stat	 st;
	const char	*base;
	unsigned char	 rnd[8];
	char		 tmp[64];
	int		 dfd, fd = -1, i, saved;
	size_t		 j, k;

	if ((dfd = tokenfile_open_dir(path, &base, cause)) == -1)
		return -1;
	if (tokenfile_check_target(dfd, path, base, cause) == -1)
		goto fail;
	for (i = 0; i < TOKENFILE_TMP_TRIES && fd == -1; i++) {
		if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
			util_cause(cause, "getrandom: %s", strerror(errno));
			goto fail;
		}
		j = (size_t)snprintf(tmp, sizeof tmp, ".crvs-tokend.");
		for (k = 0; k < sizeof rnd; k++)
			j += (size_t)snprintf(tmp + j, sizeof tmp - j, "%02x",
			    rnd[k]);
		/* Owner-only until it is complete. */
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd == -1 && errno != EEXIST) {
			util_cause(cause, "cannot create a file beside %s: %s",
			    path, strerror(errno));
			goto fail;
		}
	}
	if (fd == -1) {
		util_cause(cause, "cannot create a file beside %s", path);
		goto fail;
	}
	if (tokenfile_write_all(fd, data, len) == -1) {
		util_cause(cause, "cannot write a file beside %s: %s", path,
		    strerror(errno));
		goto fail_tmp;
	}
	/* chown only when needed, as for the socket. */
	if (gid != (gid_t)-1 && (fstat(fd, &st) == -1 || st.st_gid != gid) &&
	    fchown(fd, (uid_t)-1, gid) == -1) {
		util_cause(cause, "cannot give %s to group %lu: %s (the daemon "
		    "must be a member of token_file_group; under systemd, "
		    "SupplementaryGroups= and SystemCallFilter=@chown)", path,
		    (unsigned long)gid, strerror(errno));
		goto fail_tmp;
	}
	if (fchmod(fd, mode) == -1) {
		util_cause(cause, "cannot set the mode of %s: %s", path,
		    strerror(errno));
		goto fail_tmp;
	}
	if (close(fd) == -1) {
		fd = -1;
		util_cause(cause, "cannot write a file beside %s: %s", path,
		    strerror(errno));
		goto fail_tmp;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, base) == -1) {
		util_cause(cause, "cannot rename a new file to %s: %s", path,
		    strerror(errno));
		goto fail_tmp;
	}
	close(dfd);
	return 0;

fail_tmp:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlinkat(dfd, tmp, 0);
	errno = saved;
fail:
	close(dfd);
	return -1;
}

int
tokenfile_remove(const char *path, char **cause)
{
	struct stat	 st;
	const char	*base;
	int		 dfd, rc = 1;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 :
		    util_cause(cause, "%s: %s", path, strerror(errno));
	/* Through the checked directory, as written. */
	if ((dfd = tokenfile_open_dir(path, &base, cause)) == -1)
		return -1;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == -1)
		rc = errno == ENOENT ? 0 : util_cause(cause, "%s: %s", path,
		    strerror(errno));
	/* Not ours to remove: never written by us (we refuse those). */
	else if (!S_ISREG(st.st_mode))
		rc = 0;
	else if (unlinkat(dfd, base, 0) == -1)
		rc = errno == ENOENT ? 0 : util_cause(cause,
		    "cannot remove %s: %s", path, strerror(errno));
	close(dfd);
	return rc;
}

/*
 * Whether s can stand in a JSON string as it is: token.c lets only
 * b64token characters into a token, and conf.c only these into a client
 * name, none of which JSON escapes. The guard keeps it so if either changes.
 */
static int
tokenfile_json_plain(const char *s, size_t len)
{
	static const char	 ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/=";
	size_t			 i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || strchr(ok, s[i]) == NULL)
			return 0;
	}
	return 1;
}

char *
tokenfile_render(enum conf_file_format format, const char *client,
    const char *token, size_t len, int64_t expires_at, size_t *out_len)
{
	char		 tail[96];
	char		*out;
	size_t		 n, clen, tlen;

	switch (format) {
	case CONF_FILE_HEADER:
		n = strlen("Authorization: Bearer ");
		out = secmem_alloc(n + len + 2);
		memcpy(out, "Authorization: Bearer ", n);
		memcpy(out + n, token, len);
		n += len;
		break;
	case CONF_FILE_JSON:
		/*
		 * The socket's answer but expires_in: a file cannot keep a
		 * count current. Built by hand in secure memory: json-c
		 * grows its buffer with realloc, which leaves copies of the
		 * token on the heap that nothing wipes.
		 */
		clen = strlen(client);
		if (!tokenfile_json_plain(token, len) ||
		    !tokenfile_json_plain(client, clen))
			return NULL;
		tlen = (size_t)snprintf(tail, sizeof tail, "\",\"token_type\":"
		    "\"Bearer\",\"expires_at\":%lld}", (long long)expires_at);
		out = secmem_alloc(clen + len + tlen + 40);
		n = 0;
		memcpy(out + n, "{\"client\":\"", 11);
		n += 11;
		memcpy(out + n, client, clen);
		n += clen;
		memcpy(out + n, "\",\"access_token\":\"", 18);
		n += 18;
		memcpy(out + n, token, len);
		n += len;
		memcpy(out + n, tail, tlen);
		n += tlen;
		break;
	case CONF_FILE_TOKEN:
	default:
		out = secmem_alloc(len + 2);
		memcpy(out, token, len);
		n = len;
		break;
	}
	out[n++] = '\n';
	out[n] = '\0';
	*out_len = n;
	return out;
}

static void
tokenfile_entry_remove(struct tokenfile_entry *e, const char *why)
{
	char	*cause = NULL;
	int	 rc;

	if (e->path == NULL)
		return;
	rc = tokenfile_remove(e->path, &cause);
	if (rc == -1) {
		log_error(e->name, "%s", cause);
		free(cause);
	} else if (rc == 1 && why != NULL)
		log_info(e->name, "removed token file %s: %s", e->path, why);
	e->present = 0;
}

/* Temporary files a crash left beside the entry's file. */
static void
tokenfile_entry_clean_tmp(struct tokenfile_entry *e)
{
	char	*cause = NULL;
	int	 n;

	if (e->path == NULL)
		return;
	if ((n = tokenfile_clean_tmp(e->path, &cause)) == -1) {
		log_error(e->name, "%s", cause);
		free(cause);
	} else if (n > 0)
		log_info(e->name, "removed %d temporary file%s left beside %s "
		    "by an earlier run", n, n == 1 ? "" : "s", e->path);
}

static void
tokenfile_entry_write(struct tokenfile_entry *e, const struct client_token *t)
{
	const struct conf_client *cc = client_conf(e->client);
	char			*data, *cause = NULL;
	size_t			 dlen;
	int64_t			 now = clock_boot_ms();

	if (e->path == NULL)
		return;
	data = tokenfile_render(e->format, e->name, t->token, t->len,
	    t->expires_at, &dlen);
	if (data == NULL) {
		log_error(e->name, "cannot write token file: the token has "
		    "characters a JSON file would need escaped");
		tokenfile_entry_remove(e, "it could not be updated");
		return;
	}
	if (tokenfile_write(e->path, data, dlen, e->mode, e->gid,
	    &cause) == -1) {
		log_error(e->name, "cannot write token file: %s", cause);
		free(cause);
		/* It would hold a token the socket no longer serves. */
		tokenfile_entry_remove(e, "it could not be updated");
	} else {
		if (!e->present)
			log_info(e->name, "wrote token file %s", e->path);
		else
			log_debug(e->name, "updated token file %s", e->path);
		e->present = 1;
		e->deadline = now + t->expires_in_ms -
		    (int64_t)cc->min_valid * 1000;
	}
	secmem_free(data);
}

/* The client's token hook: a new token to serve, or none (t NULL). */
static void
tokenfile_hook_cb(void *arg, struct client *c, const struct client_token *t)
{
	struct tokenfile_entry	*e = arg;

	if (t != NULL) {
		tokenfile_entry_write(e, t);
		return;
	}
	if (e->present)
		log_debug(e->name, "token file: removing %lld ms after the "
		    "servable end it was written with", (long long)(
		    clock_boot_ms() - e->deadline));
	tokenfile_entry_remove(e, "no servable token");
}

static void
tokenfile_entry_set(struct tokenfile_entry *e, const struct conf_client *cc)
{
	free(e->path);
	e->path = cc->token_file != NULL ? xstrdup(cc->token_file) : NULL;
	e->format = cc->token_file_format;
	e->mode = cc->token_file_mode;
	e->gid = cc->token_file_gid;
}

static struct tokenfile_entry *
tokenfile_find(struct tokenfile *tf, struct client *c)
{
	struct tokenfile_entry	*e;

	TAILQ_FOREACH(e, &tf->entries, entry) {
		if (e->client == c)
			return e;
	}
	return NULL;
}

/* The client is about to be freed (which calls no hook). */
static void
tokenfile_entry_free(struct tokenfile_entry *e, const char *why)
{
	tokenfile_entry_remove(e, why);
	client_set_token_hook(e->client, NULL, NULL);
	TAILQ_REMOVE(&e->tf->entries, e, entry);
	free(e->name);
	free(e->path);
	free(e);
}

/* Writes what the socket serves now, or removes the file. */
static void
tokenfile_entry_sync(struct tokenfile_entry *e)
{
	struct client_token	t;

	if (e->path == NULL)
		return;
	/*
	 * Never through client_get_token: it may queue a waiter with e as
	 * its argument, which outlives e when a reload frees it.
	 */
	if (client_current_token(e->client, &t))
		tokenfile_entry_write(e, &t);
	else
		tokenfile_entry_remove(e, "no servable token");
}

struct tokenfile *
tokenfile_new(void)
{
	struct tokenfile	*tf = xcalloc(1, sizeof *tf);

	TAILQ_INIT(&tf->entries);
	return tf;
}

void
tokenfile_free(struct tokenfile *tf)
{
	struct tokenfile_entry	*e;

	if (tf == NULL)
		return;
	while ((e = TAILQ_FIRST(&tf->entries)) != NULL)
		tokenfile_entry_free(e, "the daemon is stopping");
	free(tf);
}

int
tokenfile_check_conf(const struct conf *conf, char **cause)
{
	struct conf_client	*c;
	char			*why = NULL;
	size_t			 i;

	for (i = 0; i < conf->nclients; i++) {
		c = conf->clients[i];
		if (c->token_file == NULL)
			continue;
		if (tokenfile_check_path(c->token_file, &why) == -1) {
			util_cause(cause, "%s:%d: [client %s] token_file: %s",
			    c->file, c->line, c->name, why);
			free(why);
			return -1;
		}
	}
	return 0;
}

void
tokenfile_apply(struct tokenfile *tf, struct client **clients, size_t n)
{
	struct tokenfile_entry	*e, *next;
	const struct conf_client *cc;
	size_t			 i;

	/* Gone, or replaced by a new client: its token is dropped. */
	for (e = TAILQ_FIRST(&tf->entries); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		for (i = 0; i < n && clients[i] != e->client; i++)
			;
		if (i == n)
			tokenfile_entry_free(e, "the client was removed or "
			    "changed");
	}
	/*
	 * Two passes: first every file that is given up goes (and every new
	 * entry's leftover), then the files are written. In one pass a kept
	 * client listed first could write a path that a client listed later
	 * gives up, and lose its file to that client's removal.
	 */
	for (i = 0; i < n; i++) {
		cc = client_conf(clients[i]);
		if ((e = tokenfile_find(tf, clients[i])) == NULL) {
			e = xcalloc(1, sizeof *e);
			e->tf = tf;
			e->client = clients[i];
			e->name = xstrdup(client_name(clients[i]));
			TAILQ_INSERT_TAIL(&tf->entries, e, entry);
			client_set_token_hook(clients[i], tokenfile_hook_cb, e);
			tokenfile_entry_set(e, cc);
			/* Left by an earlier run: it may hold anything. */
			tokenfile_entry_remove(e, "left by an earlier run");
			tokenfile_entry_clean_tmp(e);
		} else if (e->path != NULL && (cc->token_file == NULL ||
		    strcmp(e->path, cc->token_file) != 0)) {
			tokenfile_entry_remove(e, "token_file changed");
			tokenfile_entry_set(e, cc);
		} else
			tokenfile_entry_set(e, cc);
	}
	for (i = 0; i < n; i++)
		tokenfile_entry_sync(tokenfile_find(tf, clients[i]));
}
