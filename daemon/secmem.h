/*
 * Memory for secrets and tokens: page-aligned, excluded from core dumps
 * (MADV_DONTDUMP), zeroed before it is released.
 */
#ifndef CRVS_SECMEM_H
#define CRVS_SECMEM_H

#include <stddef.h>

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

#endif
