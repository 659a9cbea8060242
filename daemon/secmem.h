/*
 * Memory for secrets and tokens: excluded from core dumps (MADV_DONTDUMP),
 * locked when the limit allows, zeroed before it is released.
 */
#ifndef CRVS_SECMEM_H
#define CRVS_SECMEM_H

#include <stddef.h>
#include <stdint.h>

/* Returns zeroed memory of at least len bytes; free with secmem_free. */
void	*secmem_alloc(size_t len);
/* Returns a NUL-terminated copy; free with secmem_free. */
char	*secmem_strndup(const char *, size_t);
char	*secmem_strdup(const char *);
/* Zeroes and releases; NULL is ignored. */
void	 secmem_free(void *);

/* A growable buffer in secure memory (for response bodies and requests). */
struct secbuf {
	char	*data;		/* NUL-terminated; secmem */
	size_t	 len;
	size_t	 cap;
};
void	 secbuf_append(struct secbuf *, const void *, size_t);
void	 secbuf_appends(struct secbuf *, const char *);
void	 secbuf_reset(struct secbuf *);	/* zeroes and frees */

/*
 * Read-only bytes in secure memory shared by reference: a rendered answer
 * that several connections may be sending at once. Wiped and freed when the
 * last reference goes.
 */
struct secblob {
	int	 refs;
	int64_t	 tag[2];	/* what it was rendered from; the renderer's */
	size_t	 len;
	char	 data[];	/* len bytes and a NUL */
};
/* A copy of data with one reference, the caller's. */
struct secblob	*secblob_new(const char *data, size_t len);
struct secblob	*secblob_ref(struct secblob *);
void		 secblob_unref(struct secblob *);	/* NULL is ignored */

#endif
