/*
 * The trust check for the directories that hold the daemon's socket (and
 * other files that must not be planted or swapped by another user): a
 * directory anyone else can write to lets them rename a symbolic link over
 * our file or put an impostor in its place before we start. The daemon
 * calls it before it binds its socket, the CLI before it hands a token to
 * whatever answers on the socket. Modelled on OpenSSH's safe_path and
 * tmux's check of its socket directory. libc only: the CLI compiles this
 * file in and must stay light.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safepath.h"

static int
safepath_cause(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
safepath_cause(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	if (cause != NULL) {
		va_start(ap, fmt);
		if (vasprintf(cause, fmt, ap) == -1)
			*cause = NULL;
		va_end(ap);
	}
	return -1;
}

static int
safepath_trusted(uid_t uid, const uid_t *trusted, size_t ntrusted)
{
	size_t	 i;

	if (uid == 0)
		return 1;
	for (i = 0; i < ntrusted; i++)
		if (trusted[i] == uid)
			return 1;
	return 0;
}

/* One directory's stat; leaf: the one that holds the file (no sticky
 * excuse). */
static int
safepath_one_st(const char *dir, const struct stat *stp, int leaf,
    const uid_t *trusted, size_t ntrusted, char **cause)
{
	struct stat	 st = *stp;

	if (!S_ISDIR(st.st_mode))
		return safepath_cause(cause, "%s is not a directory", dir);
	if (!safepath_trusted(st.st_uid, trusted, ntrusted))
		return safepath_cause(cause, "unsafe directory %s: owned by uid "
		    "%lu, not by root or a trusted user", dir,
		    (unsigned long)st.st_uid);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return 0;
	if (leaf)
		return safepath_cause(cause, "unsafe directory %s: mode %04o "
		    "lets other users write to it (use a directory of its own "
		    "that only its owner can write to)", dir,
		    (unsigned)(st.st_mode & 07777));
	if ((st.st_mode & S_ISVTX) == 0)
		return safepath_cause(cause, "unsafe directory %s: mode %04o "
		    "lets other users write to it and it is not sticky", dir,
		    (unsigned)(st.st_mode & 07777));
	return 0;
}

static int
safepath_one(const char *dir, int leaf, const uid_t *trusted,
    size_t ntrusted, char **cause)
{
	struct stat	 st;

	if (lstat(dir, &st) == -1)
		return safepath_cause(cause, "%s: %s", dir, strerror(errno));
	return safepath_one_st(dir, &st, leaf, trusted, ntrusted, cause);
}

/* The directories above real (a realpath), by text. */
static int
safepath_check_above(char *real, const uid_t *trusted, size_t ntrusted,
    char **cause)
{
	char	*slash;
	int	 rc = 0;

	/* realpath leaves no symbolic link and no "..": walk up by text. */
	while (rc == 0 && strcmp(real, "/") != 0) {
		slash = strrchr(real, '/');
		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
		rc = safepath_one(real, 0, trusted, ntrusted, cause);
	}
	return rc;
}

int
safepath_open_dir(const char *dir, const uid_t *trusted, size_t ntrusted,
    char **cause)
{
	struct stat	 st, again;
	char		*real;
	int		 fd, saved;

	if ((real = realpath(dir, NULL)) == NULL) {
		saved = errno;
		safepath_cause(cause, "%s: %s", dir, strerror(errno));
		errno = saved;
		return -1;
	}
	fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		saved = errno;
		safepath_cause(cause, "%s: %s", real, strerror(errno));
		free(real);
		errno = saved;
		return -1;
	}
	/* The checked directory is the opened one. */
	if (fstat(fd, &st) == -1) {
		safepath_cause(cause, "%s: %s", real, strerror(errno));
		goto fail;
	}
	if (safepath_one_st(real, &st, 1, trusted, ntrusted, cause) == -1)
		goto fail;
	/* The path above leads to it, through trusted directories only. */
	if (lstat(real, &again) == -1 || again.st_dev != st.st_dev ||
	    again.st_ino != st.st_ino) {
		safepath_cause(cause, "%s was replaced while it was checked",
		    real);
		goto fail;
	}
	if (safepath_check_above(real, trusted, ntrusted, cause) == -1)
		goto fail;
	free(real);
	return fd;

fail:
	close(fd);
	free(real);
	errno = EPERM;
	return -1;
}

int
safepath_check_dir_uids(const char *dir, const uid_t *trusted,
    size_t ntrusted, char **cause)
{
	char	*real;
	int	 rc;

	if ((real = realpath(dir, NULL)) == NULL)
		return safepath_cause(cause, "%s: %s", dir, strerror(errno));
	rc = safepath_one(real, 1, trusted, ntrusted, cause);
	if (rc == 0)
		rc = safepath_check_above(real, trusted, ntrusted, cause);
	free(real);
	return rc;
}

int
safepath_check_dir(const char *dir, uid_t trusted_uid, char **cause)
{
	return safepath_check_dir_uids(dir, &trusted_uid, 1, cause);
}

int
safepath_check_file(const char *path, const uid_t *trusted, size_t ntrusted,
    char **cause)
{
	struct stat	 st;
	const char	*slash = strrchr(path, '/');
	char		*dir;
	int		 rc;

	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return safepath_cause(cause, "out of memory");
	rc = safepath_check_dir_uids(dir, trusted, ntrusted, cause);
	free(dir);
	if (rc == -1)
		return -1;
	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		return safepath_cause(cause, "%s: %s", path, strerror(errno));
	}
	if (S_ISLNK(st.st_mode))
		return safepath_cause(cause, "%s is a symbolic link", path);
	if (!safepath_trusted(st.st_uid, trusted, ntrusted))
		return safepath_cause(cause, "%s is owned by uid %lu, not by "
		    "root or a trusted user", path, (unsigned long)st.st_uid);
	return 0;
}
