/*
 * Text from outside made safe to log or print: the implementation of
 * util_escape (util.h), header-only so that crvs-token, which does not link
 * the daemon's library, escapes what it prints exactly as the daemon does.
 */
#ifndef CRVS_ESCAPE_H
#define CRVS_ESCAPE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Length of the UTF-8 sequence at s (at most len bytes) if it is valid,
 * shortest form, not a surrogate and not a C1 control; else 0.
 */
static inline size_t
escape_utf8_cp(const unsigned char *s, size_t len, uint32_t *cpp)
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
	*cpp = cp;
	return n;
}

static inline size_t
escape_utf8_len(const unsigned char *s, size_t len)
{
	uint32_t	cp;

	if (s[0] < 0x80)
		return 1;
	return escape_utf8_cp(s, len, &cp);
}

/*
 * Invisible format characters that reorder or hide what a terminal shows
 * (bidirectional overrides and isolates, zero-width characters, line and
 * paragraph separators, the byte order mark): escaped as \u{XXXX}.
 */
static inline int
escape_invisible(uint32_t cp)
{
	return cp == 0x061c || (cp >= 0x200b && cp <= 0x200f) ||
	    (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) ||
	    cp == 0xfeff;
}

/* escape_text_flags: a backslash becomes \\, so that text from outside
 * cannot pass for an escape. */
#define ESCAPE_BACKSLASH	0x1

/*
 * util_escape (flags ESCAPE_BACKSLASH) or util_escape_controls (0), but NULL
 * when out of memory.
 */
static inline char *
escape_text_flags(const char *in, size_t len, size_t max, int flags)
{
	const unsigned char	*s = (const unsigned char *)in;
	char			*out, piece[12];
	size_t			 i = 0, o = 0, n, plen, cut = 0;
	uint32_t		 cp = 0;

	/* Each input byte takes at most 4 output bytes (an invisible
	 * character: 8 for 3). */
	if (len > (SIZE_MAX - 4) / 4 || (out = malloc(len * 4 + 4)) == NULL)
		return NULL;
	if (max > 0 && max < 3)
		max = 3;
	while (i < len) {
		if (s[i] == '\\' && (flags & ESCAPE_BACKSLASH)) {
			n = 1;
			plen = (size_t)snprintf(piece, sizeof piece, "\\\\");
		} else if (s[i] >= 0x80 &&
		    (n = escape_utf8_cp(s + i, len - i, &cp)) > 0 &&
		    escape_invisible(cp)) {
			plen = (size_t)snprintf(piece, sizeof piece,
			    "\\u{%04x}", (unsigned)cp);
		} else if (s[i] >= 0x20 && s[i] != 0x7f &&
		    (n = escape_utf8_len(s + i, len - i)) > 0) {
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

/* The idempotent pass (util_escape_controls), NULL when out of memory. */
static inline char *
escape_text(const char *in, size_t len, size_t max)
{
	return escape_text_flags(in, len, max, 0);
}

#endif
