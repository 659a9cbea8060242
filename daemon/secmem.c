#include "config.h"

#include <sys/mman.h>

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "secmem.h"

/* Each block starts with its mapping's size; the caller sees what follows. */
#define SECMEM_HDR	16
/*
 * Freed one-page blocks are zeroed and kept for reuse: every answer that
 * carries a token passes through here, and a map/unmap per answer cost a
 * third of the daemon's throughput.
 */
#define SECMEM_CACHE	64

static char	*secmem_cache[SECMEM_CACHE];
static int	 secmem_ncache;

void *
secmem_alloc(size_t len)
{
	size_t	 page = (size_t)sysconf(_SC_PAGESIZE);
	size_t	 total;
	char	*p;

	if (len > SIZE_MAX - SECMEM_HDR - page)
		fatal("secure allocation too large");
	total = (len + SECMEM_HDR + page - 1) / page * page;
	if (total == page && secmem_ncache > 0)
		return secmem_cache[--secmem_ncache] + SECMEM_HDR;
	p = mmap(NULL, total, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fatal("out of memory (secure, %zu bytes)", total);
	(void)madvise(p, total, MADV_DONTDUMP);
	(void)madvise(p, total, MADV_DONTFORK);
	memcpy(p, &total, sizeof total);
	return p + SECMEM_HDR;
}

char *
secmem_strndup(const char *s, size_t len)
{
	char	*p = secmem_alloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
secmem_strdup(const char *s)
{
	return secmem_strndup(s, strlen(s));
}

void
secmem_free(void *ptr)
{
	char	*p;
	size_t	 total;

	if (ptr == NULL)
		return;
	p = (char *)ptr - SECMEM_HDR;
	memcpy(&total, p, sizeof total);
	explicit_bzero(p + SECMEM_HDR, total - SECMEM_HDR);
	if (total == (size_t)sysconf(_SC_PAGESIZE) &&
	    secmem_ncache < SECMEM_CACHE) {
		secmem_cache[secmem_ncache++] = p;
		return;
	}
	explicit_bzero(p, total);
	munmap(p, total);
}

void
secbuf_append(struct secbuf *b, const void *data, size_t len)
{
	char	*n;
	size_t	 cap;

	if (b->len + len + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + len + 1)
			cap *= 2;
		n = secmem_alloc(cap);
		if (b->data != NULL)
			memcpy(n, b->data, b->len);
		secmem_free(b->data);
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
secbuf_appends(struct secbuf *b, const char *s)
{
	secbuf_append(b, s, strlen(s));
}

void
secbuf_reset(struct secbuf *b)
{
	secmem_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
