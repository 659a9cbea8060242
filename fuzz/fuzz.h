/*
 * The entry points every fuzz target defines. libFuzzer calls them; so does
 * replay.c, the plain-C driver that make check runs over the kept inputs.
 */
#ifndef CRVS_FUZZ_H
#define CRVS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of the input, NUL-terminated in a copy the caller frees. */
static inline char *
fuzz_line(const uint8_t **data, size_t *size)
{
	const uint8_t	*nl = memchr(*data, '\n', *size);
	size_t		 n = nl != NULL ? (size_t)(nl - *data) : *size;
	char		*s;

	s = xstrndup((const char *)*data, n);
	*data += n + (nl != NULL);
	*size -= n + (nl != NULL);
	return s;
}

#endif
