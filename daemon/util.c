/*
 * Small helpers every module uses: allocation that never fails (running out
 * of memory is fatal), the cause idiom, constant-time comparison, integer
 * parsing, and the one function that makes outside text safe to log or
 * print.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		fatal("out of memory (%zu bytes)", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if (size != 0 && n > SIZE_MAX / size)
		fatal("allocation overflow");
	if ((p = realloc(old, n * size)) == NULL)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("out of memory");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatal("out of memory");
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char	*s;

	if (vasprintf(&s, fmt, ap) == -1)
		fatal("out of memory");
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

int
util_cause(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	if (cause != NULL) {
		va_start(ap, fmt);
		*cause = xvasprintf(fmt, ap);
		va_end(ap);
	}
	return -1;
}

int
util_timingsafe_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char	 d = 0;
	size_t		 i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0;
}

int
util_parse_int(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Length of the UTF-8 sequence at s (at most len bytes) if it is valid,
 * shortest form, not a surrogate and not a C1 control; else 0.
 */
static size_t
util_utf8_len(const unsigned char *s, size_t len)
{
	uint32_t	cp;
	size_t		n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

char *
util_escape(const char *in, size_t len, size_t max)
{
	const unsigned char	*s = (const unsigned char *)in;
	char			*out, piece[5];
	size_t			 i = 0, o = 0, n, plen, cut = 0;

	/* Each input byte takes at most 4 output bytes. */
	if (len > (SIZE_MAX - 4) / 4)
		fatal("text too long to escape");
	if (max > 0 && max < 3)
		max = 3;
	out = xmalloc(len * 4 + 4);
	while (i < len) {
		if (s[i] >= 0x20 && s[i] != 0x7f &&
		    (n = util_utf8_len(s + i, len - i)) > 0) {
			memcpy(piece, s + i, n);
			plen = n;
		} else {
			n = 1;
			if (s[i] == '\n')
				plen = (size_t)snprintf(piece, sizeof piece,
				    "\\n");
			else if (s[i] == '\r')
				plen = (size_t)snprintf(piece, sizeof piece,
				    "\\r");
			else if (s[i] == '\t')
				plen = (size_t)snprintf(piece, sizeof piece,
				    "\\t");
			else
				plen = (size_t)snprintf(piece, sizeof piece,
				    "\\x%02x", s[i]);
		}
		memcpy(out + o, piece, plen);
		o += plen;
		i += n;
		/* The last whole piece that leaves room for "...". */
		if (max > 0 && o + 3 <= max)
			cut = o;
		if (max > 0 && o > max)
			break;
	}
	if (max > 0 && o > max) {
		memcpy(out + cut, "...", 3);
		o = cut + 3;
	}
	out[o] = '\0';
	return out;
}
