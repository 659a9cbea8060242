/*
 * Secure memory for secrets, tokens and the answers that carry them. Small
 * blocks come from a slab: 64 KiB chunks, locked in memory when the limit
 * allows (mlock), excluded from core dumps (MADV_DONTDUMP) and from forked
 * children, carved into size classes with a free list each. A block is
 * zeroed when it is freed and goes back to its class; chunks are never
 * returned. Blocks larger than the biggest class get their own mapping, as
 * every secret once did: one page per secret cost 8 KiB per client, and a
 * third of the start-up system calls were those mappings.
 *
 * Also here: secbuf, a growable buffer in secure memory, and secblob, a
 * reference-counted read-only answer (api.c renders one per token; server.c
 * sends it without copying and drops its reference once it is written).
 */
#include "config.h"

#include <sys/mman.h>

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "secmem.h"

/* The header before each block: its size class, or its mapping's size. */
#define SECMEM_HDR	16
#define SECMEM_CHUNK	(64 * 1024)
#define SECMEM_MAGIC	0x5ec3e3u
#define SECMEM_LARGE	0xffu

struct secmem_hdr {
	uint32_t	magic;
	uint32_t	cls;		/* index, or SECMEM_LARGE */
	uint64_t	total;		/* bytes of the block or mapping */
};

/* Block sizes, header included: about 1.25x apart, 16-byte aligned. */
static const uint32_t	secmem_sizes[] = {
	32, 48, 64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768,
	1024, 1280, 1536, 2048, 2560, 3072, 4096,
};
#define SECMEM_NCLASS	(sizeof secmem_sizes / sizeof secmem_sizes[0])

struct secmem_free {
	struct secmem_free	*next;
};

static struct secmem_free	*secmem_lists[SECMEM_NCLASS];
static char			*secmem_chunk;	/* current chunk */
static size_t			 secmem_used;	/* bytes carved from it */
static int			 secmem_lock_failed;

static void *
secmem_map(size_t total)
{
	char	*p;

	p = mmap(NULL, total, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fatal("out of memory (secure, %zu bytes)", total);
	(void)madvise(p, total, MADV_DONTDUMP);
	(void)madvise(p, total, MADV_DONTFORK);
	/* Keeps secrets out of swap; RLIMIT_MEMLOCK may not allow it. */
	if (mlock(p, total) == -1 && !secmem_lock_failed) {
		secmem_lock_failed = 1;
		log_debug(NULL, "secure memory cannot be locked (%m); it is "
		    "still kept out of core dumps");
	}
	return p;
}

static size_t
secmem_class(size_t total)
{
	size_t	i;

	for (i = 0; i < SECMEM_NCLASS; i++) {
		if (total <= secmem_sizes[i])
			return i;
	}
	return SECMEM_NCLASS;
}

void *
secmem_alloc(size_t len)
{
	size_t			 page = (size_t)sysconf(_SC_PAGESIZE);
	size_t			 total, cls;
	struct secmem_hdr	*h;
	struct secmem_free	*f;

	if (len > SIZE_MAX - SECMEM_HDR - page)
		fatal("secure allocation too large");
	cls = secmem_class(len + SECMEM_HDR);
	if (cls == SECMEM_NCLASS) {
		total = (len + SECMEM_HDR + page - 1) / page * page;
		h = secmem_map(total);
		h->cls = SECMEM_LARGE;
	} else if ((f = secmem_lists[cls]) != NULL) {
		secmem_lists[cls] = f->next;
		h = (struct secmem_hdr *)f;
		total = secmem_sizes[cls];
		h->cls = (uint32_t)cls;
	} else {
		total = secmem_sizes[cls];
		if (secmem_chunk == NULL || secmem_used + total > SECMEM_CHUNK) {
			/* The tail of the old chunk is too small: give it to
			 * the smaller classes' free lists. */
			while (secmem_chunk != NULL &&
			    SECMEM_CHUNK - secmem_used >= secmem_sizes[0]) {
				size_t	c = secmem_class(SECMEM_CHUNK -
				    secmem_used + 1);

				c = c == 0 ? 0 : c - 1;
				f = (struct secmem_free *)(secmem_chunk +
				    secmem_used);
				f->next = secmem_lists[c];
				secmem_lists[c] = f;
				secmem_used += secmem_sizes[c];
			}
			secmem_chunk = secmem_map(SECMEM_CHUNK);
			secmem_used = 0;
		}
		h = (struct secmem_hdr *)(secmem_chunk + secmem_used);
		secmem_used += total;
		h->cls = (uint32_t)cls;
	}
	h->magic = SECMEM_MAGIC;
	h->total = total;
	/* Blocks are zeroed when freed and chunks are born zeroed. */
	return (char *)h + SECMEM_HDR;
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
	struct secmem_hdr	*h;
	struct secmem_free	*f;
	size_t			 total;
	uint32_t		 cls;

	if (ptr == NULL)
		return;
	h = (struct secmem_hdr *)((char *)ptr - SECMEM_HDR);
	if (h->magic != SECMEM_MAGIC)
		fatal("secmem_free of memory it did not allocate");
	total = (size_t)h->total;
	explicit_bzero(ptr, total - SECMEM_HDR);
	if (h->cls == SECMEM_LARGE) {
		explicit_bzero(h, SECMEM_HDR);
		munmap(h, total);
		return;
	}
	if ((cls = h->cls) >= SECMEM_NCLASS)
		fatal("secmem_free: a damaged block");
	/* The free-list link overwrites the magic: a double free is fatal. */
	explicit_bzero(h, SECMEM_HDR);
	f = (struct secmem_free *)h;
	f->next = secmem_lists[cls];
	secmem_lists[cls] = f;
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

struct secblob *
secblob_new(const char *data, size_t len)
{
	struct secblob	*b = secmem_alloc(sizeof *b + len + 1);

	b->refs = 1;
	b->len = len;
	memcpy(b->data, data, len);
	return b;
}

struct secblob *
secblob_ref(struct secblob *b)
{
	b->refs++;
	return b;
}

void
secblob_unref(struct secblob *b)
{
	if (b != NULL && --b->refs == 0)
		secmem_free(b);
}
