/* Allocation helpers that never return NULL: running out of memory is fatal. */
#ifndef CRVS_UTIL_H
#define CRVS_UTIL_H

#include <stddef.h>
#include <stdarg.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* Returns a string the caller frees. */
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
char	*xvasprintf(const char *, va_list) __attribute__((format(printf, 1, 0)));
/* Sets *cause (if cause is not NULL) to a new string; returns -1. */
int	 util_cause(char **cause, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Compares two byte strings in time that depends only on their lengths. */
int	 util_timingsafe_eq(const char *, size_t, const char *, size_t);
/* Parses a whole decimal integer in [min, max]; returns -1 on error. */
int	 util_parse_int(const char *, long long, long long, long long *);
/*
 * Text from outside (the issuer's answers) made safe for a log line, a
 * terminal or an sd_notify STATUS=: control characters (C0, DEL, C1) and
 * bytes that are not UTF-8 become \n, \r, \t or \xHH; invisible format
 * characters (bidirectional overrides, zero-width characters, U+2028/2029,
 * U+FEFF) become \u{XXXX}; a backslash becomes \\, so that text from
 * outside cannot pass for an escape; other valid UTF-8 stays. At
 * most max bytes of output (then "..." ends it; max 0: no limit, less than
 * 3 counts as 3), never cutting a character or an escape in two. Returns a
 * string the caller frees.
 */
#define UTIL_ESCAPE_NOLIMIT	0
char	*util_escape(const char *, size_t len, size_t max);
/*
 * util_escape but backslashes are kept: the last guard for text that may
 * hold escapes already (a log line, the daemon's words in the CLI), so
 * that applying it again changes nothing.
 */
char	*util_escape_controls(const char *, size_t len, size_t max);

#endif
