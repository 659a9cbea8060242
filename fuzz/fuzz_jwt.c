/*
 * Fuzz target: the JWT decoder. The input is a token as an issuer would
 * hand it; it goes through token_jwt_claims (split, base64url, the claims'
 * JSON) and, on its own, through token_b64url_decode with the buffer size
 * its contract gives.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "fuzz.h"
#include "log.h"
#include "token.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(LOG_CRIT);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_claims	 claims;
	unsigned char		*out;
	char			*tok, *cause = NULL;
	ssize_t			 n;
	int			 rc;

	/* An exact-size copy: ASan sees any read past the token. */
	tok = malloc(size ? size : 1);
	memcpy(tok, data, size);
	rc = token_jwt_claims(tok, size, &claims, &cause);
	if (rc == -1 && cause == NULL)
		abort();	/* a broken JWT always says why */
	if (rc != -1 && cause != NULL)
		abort();
	if (rc == 1 && claims.has_exp && claims.has_iat &&
	    claims.exp <= claims.iat)
		abort();	/* accepted a token that expires before birth */
	free(cause);

	out = malloc(size * 3 / 4 + 3);
	n = token_b64url_decode(tok, size, out);
	if (n > (ssize_t)(size * 3 / 4 + 3))
		abort();
	free(out);
	free(tok);
	return 0;
}
