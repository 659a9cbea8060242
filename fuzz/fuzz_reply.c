/*
 * Fuzz target: the CLI reading the daemon's answer. The input is the raw
 * bytes on the socket; they are fed to the CLI's HTTP reader in pieces (the
 * first byte picks the piece size, as reads split an answer) and then, as
 * crvs-token does for each command, to the error, status, health and token
 * printers, writing to /dev/null.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "reply.h"

static FILE	*fuzz_reply_null;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if ((fuzz_reply_null = fopen("/dev/null", "w")) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply	 a;
	const char	*why;
	char		*copy;
	size_t		 piece, off = 0, n;
	int		 failed = 0;

	if (fuzz_reply_null == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size == 0)
		return 0;
	piece = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	reply_init(&a);
	while (off < size && !a.complete) {
		n = size - off < piece ? size - off : piece;
		if (reply_feed(&a, copy + off, n, &why) == -1) {
			if (why == NULL)
				abort();
			failed = 1;
			break;
		}
		off += n;
	}
	/* The connection closes after the answer. */
	if (!failed && !a.complete && reply_feed(&a, "", 0, &why) == -1)
		failed = 1;
	if (!failed && a.complete) {
		if (a.body != NULL && strlen(a.body) > a.len)
			abort();
		reply_error_exit(&a, "fuzz", fuzz_reply_null);
		reply_error_exit(&a, NULL, fuzz_reply_null);
		reply_print_status(&a, 0, fuzz_reply_null, fuzz_reply_null);
		reply_print_status(&a, 1, fuzz_reply_null, fuzz_reply_null);
		reply_print_health(&a, fuzz_reply_null, fuzz_reply_null);
		if (a.status == 200 && a.body != NULL)
			reply_print_token(&a, 1, fuzz_reply_null,
			    fuzz_reply_null);
	}
	reply_free(&a);
	free(copy);
	return 0;
}
