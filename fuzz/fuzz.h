/*
 * The entry points every fuzz target defines. libFuzzer calls them; so does
 * replay.c, the plain-C driver that make check runs over the kept inputs.
 */
#ifndef CRVS_FUZZ_H
#define CRVS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
