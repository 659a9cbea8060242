/*
 * Whether a directory is a safe home for a socket or a secret: nobody but
 * root and the trusted users can have put or replaced what is in it.
 * Depends on libc only, so the CLI compiles it in too.
 */
#ifndef CRVS_SAFEPATH_H
#define CRVS_SAFEPATH_H

#include <sys/types.h>

/*
 * Checks dir (symbolic links resolved) and every directory above it:
 * - dir itself must be owned by root or a trusted uid and writable by no one
 *   else (group or other write bits), sticky or not: in a shared sticky
 *   directory someone else can take the name first;
 * - each directory above must be owned by root or a trusted uid and
 *   writable by group or others only if it is sticky (OpenSSH's safe_path).
 * Root (uid 0) is always trusted. Returns 0, or -1 and in *cause (if cause
 * is not NULL; the caller frees it) a sentence naming the directory at
 * fault.
 */
int	safepath_check_dir(const char *dir, uid_t trusted_uid, char **cause);
int	safepath_check_dir_uids(const char *dir, const uid_t *trusted,
	    size_t ntrusted, char **cause);

/*
 * Opens dir (O_DIRECTORY, the last part not followed if a symbolic link)
 * and checks the opened directory as safepath_check_dir does, so that the
 * directory checked is the one the caller then uses through the returned
 * descriptor (openat, renameat, unlinkat). Returns the descriptor (the
 * caller closes it), or -1 and a cause as above; errno is ENOENT if dir
 * does not exist.
 */
int	safepath_open_dir(const char *dir, const uid_t *trusted,
	    size_t ntrusted, char **cause);

/*
 * Checks the directory that holds path, as above, and that path itself,
 * if it exists, is not a symbolic link and is owned by root or a trusted
 * uid. A missing path is fine (0): the caller will create or not find it.
 */
int	safepath_check_file(const char *path, const uid_t *trusted,
	    size_t ntrusted, char **cause);

#endif
