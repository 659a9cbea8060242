/*
 * Pure functions: a token endpoint's answer and a JWT's claims turned into a
 * token and its lifetime. No I/O, no clock: time comes in as arguments.
 */
#ifndef CRVS_TOKEN_H
#define CRVS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

struct conf_client;

#define TOKEN_MAX		65536		/* bytes of access_token */
/* Bytes of the issuer's text shown in messages, after escaping. */
#define TOKEN_ERROR_CODE_SHOWN	64
#define TOKEN_ERROR_DESC_SHOWN	200
#define TOKEN_SCOPE_SHOWN	512
/* Added to an error that shows a body-format request to OpenCRVS 1.x. */
#define TOKEN_HINT_QUERY \
	"; hint: OpenCRVS 1.x reads its parameters from the URL's query " \
	"string only: set request_format = query (the secret then travels " \
	"in the URL; crvs-tokend keeps it out of its logs, but the issuer's " \
	"access logs may record it)"
#define TOKEN_LIFETIME_MAX	(366LL * 86400)	/* seconds */

struct token_claims {
	int	has_exp;
	int	has_iat;
	int64_t	exp;
	int64_t	iat;
};

/* What the daemon knew when it got the answer. */
struct token_input {
	const char	*body;
	size_t		 len;
	int64_t		 date;		/* the answer's Date (Unix s), or -1 */
	int64_t		 wall_sent;	/* local Unix time (ms) of the request */
	int		 fallback_lifetime;	/* seconds */
};

struct token_result {
	char	*token;		/* secmem; the caller frees with secmem_free */
	size_t	 len;
	int	 is_jwt;
	int64_t	 lifetime_ms;	/* counted from the moment the request was sent */
	const char *judged_by;	/* "Date", "iat", "local clock", "expires_in",
				   "fallback_lifetime" */
};

/*
 * Decodes base64url (no padding needed) into out, which has room for
 * len * 3 / 4 + 3 bytes. Returns the decoded length or -1.
 */
ssize_t	token_b64url_decode(const char *in, size_t len, unsigned char *out);
/*
 * Reads the claims of a JWT. Returns 1 for a JWT, 0 for a token that is not
 * shaped as one (opaque), -1 with a cause for a broken JWT.
 */
int	token_jwt_claims(const char *tok, size_t len, struct token_claims *,
	    char **cause);
/* Returns 0 and fills result, or -1 and a cause that holds no token. */
int	token_parse_response(const struct token_input *,
	    struct token_result *, char **cause);

/*
 * The scope claim of a JWT (a string, or an array of strings joined with
 * spaces; "scp" when there is no "scope"), escaped for display. Returns a
 * string the caller frees, or NULL for an opaque or broken token or one
 * without a scope claim.
 */
char	*token_jwt_scope(const char *tok, size_t len);
/*
 * An error answer (HTTP 4xx or 5xx) in the issuer's own words: the OAuth
 * "error" and "error_description" (RFC 6749 5.2), or the "error" and
 * "message" of hapi and the OpenCRVS gateway, escaped and cut short, never
 * quoting c's secret; with a hint when the answer shows a request format the
 * issuer does not read (OpenCRVS 1.x). Words of our own when the body says
 * nothing. Returns a string the caller frees.
 */
char	*token_describe_error(long status, const char *body, size_t len,
	    const struct conf_client *c);

#endif
