/*
 * Token files: each client's current token kept in a file (token_file=),
 * for consumers that cannot call the CLI or the socket. A projection of what
 * the socket serves: written at each new token, removed the moment no
 * servable token is left.
 */
#ifndef CRVS_TOKENFILE_H
#define CRVS_TOKENFILE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct client;
struct tokenfile;

struct tokenfile *tokenfile_new(void);
/* Removes the files: after a clean stop nothing would refresh them. */
void		 tokenfile_free(struct tokenfile *);
/*
 * Checks that every token_file of conf can be written safely: a directory
 * no other non-root user can write to, and no symlink or non-regular file
 * at the path. -1 and a cause naming the client's file:line.
 */
int		 tokenfile_check_conf(const struct conf *, char **cause);
/*
 * After a (re)configuration, with the daemon's clients: the files of the
 * clients that are gone, or new (a file left by an earlier run), are
 * removed; a kept client's file follows its new settings. Each client's
 * token hook is set to keep its file current.
 */
void		 tokenfile_apply(struct tokenfile *, struct client **, size_t);

/*
 * The content of a file in format for a token; NUL-terminated, secmem, the
 * caller frees it with secmem_free. NULL for the JSON format if the token
 * or client name holds a character JSON would escape (token.c and conf.c
 * let none through).
 */
char		*tokenfile_render(enum conf_file_format, const char *client,
		    const char *token, size_t len, int64_t expires_at,
		    size_t *out_len);
/*
 * Replaces path with data atomically (a new file in the same directory,
 * renamed over it), with mode and, unless gid is (gid_t)-1, group gid.
 * Refuses an untrusted directory and a symlink or non-regular file at path.
 */
int		 tokenfile_write(const char *path, const char *data, size_t len,
		    mode_t mode, gid_t gid, char **cause);
/* Removes path if it is a regular file: 1 removed, 0 none, -1 error. */
int		 tokenfile_remove(const char *path, char **cause);
/*
 * Removes the temporary files that a crash between create and rename left
 * in path's directory (".crvs-tokend." and 16 hex digits, regular, ours):
 * the number removed, or -1 and a cause.
 */
int		 tokenfile_clean_tmp(const char *path, char **cause);
/* The checks of tokenfile_write without writing. */
int		 tokenfile_check_path(const char *path, char **cause);

#endif
