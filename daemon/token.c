#include "config.h"

#include <sys/types.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "secmem.h"
#include "token.h"
#include "util.h"

static int
token_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

ssize_t
token_b64url_decode(const char *in, size_t len, unsigned char *out)
{
	uint32_t	acc = 0;
	size_t		i, bits = 0, n = 0;
	int		v;

	while (len > 0 && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = token_b64_value((unsigned char)in[i])) == -1)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1U << bits) - 1;
		}
	}
	/* Leftover bits must be zero in canonical encoding; be lenient. */
	return (ssize_t)n;
}

/*
 * Reads a JSON number that is a whole count of seconds, within a range
 * that keeps millisecond arithmetic far from overflow (year 5000).
 */
#define TOKEN_SECONDS_MAX	100000000000LL

static int
token_json_seconds(json_object *o, int64_t *out)
{
	double	d;
	int64_t	v;

	if (json_object_is_type(o, json_type_int))
		v = json_object_get_int64(o);
	else if (json_object_is_type(o, json_type_double)) {
		d = json_object_get_double(o);
		if (!isfinite(d))
			return -1;
		if (d > (double)TOKEN_SECONDS_MAX ||
		    d < -(double)TOKEN_SECONDS_MAX)
			return -2;
		v = (int64_t)floor(d);
	} else
		return -1;
	if (v > TOKEN_SECONDS_MAX || v < -TOKEN_SECONDS_MAX)
		return -2;
	*out = v;
	return 0;
}

int
token_jwt_claims(const char *tok, size_t len, struct token_claims *claims,
    char **cause)
{
	const char		*dot1, *dot2, *end = tok + len;
	unsigned char		*buf;
	ssize_t			 n;
	json_object		*payload, *v;
	json_tokener		*tk;
	int			 rc = 1;

	memset(claims, 0, sizeof *claims);
	dot1 = memchr(tok, '.', len);
	if (dot1 == NULL)
		return 0;
	dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
	if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
		return 0;
	/* Three parts: from here on it claims to be a JWT. */
	if (dot1 == tok || dot2 == dot1 + 1)
		return util_cause(cause, "JWT has an empty part");
	buf = xmalloc((size_t)(dot2 - dot1) * 3 / 4 + 4);
	n = token_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf);
	if (n <= 0) {
		free(buf);
		return util_cause(cause, "JWT payload is not base64url");
	}
	tk = json_tokener_new();
	payload = json_tokener_parse_ex(tk, (const char *)buf, (int)n);
	if (payload == NULL || json_tokener_get_parse_end(tk) != (size_t)n ||
	    !json_object_is_type(payload, json_type_object)) {
		rc = util_cause(cause, "JWT payload is not a JSON object");
		goto out;
	}
	if (json_object_object_get_ex(payload, "exp", &v)) {
		if ((n = token_json_seconds(v, &claims->exp)) < 0) {
			rc = util_cause(cause, n == -2 ? "JWT exp is beyond any "
			    "sane lifetime" : "JWT exp is not a number");
			goto out;
		}
		claims->has_exp = 1;
	}
	if (json_object_object_get_ex(payload, "iat", &v)) {
		if ((n = token_json_seconds(v, &claims->iat)) < 0) {
			rc = util_cause(cause, n == -2 ? "JWT iat is out of "
			    "range" : "JWT iat is not a number");
			goto out;
		}
		claims->has_iat = 1;
	}
	if (claims->has_exp && claims->has_iat && claims->exp <= claims->iat)
		rc = util_cause(cause, "JWT exp (%lld) is not after iat (%lld)",
		    (long long)claims->exp, (long long)claims->iat);
out:
	json_object_put(payload);
	json_tokener_free(tk);
	explicit_bzero(buf, (size_t)(dot2 - dot1) * 3 / 4 + 4);
	free(buf);
	return rc;
}

/*
 * A token goes into HTTP headers and shell variables: only RFC 6750's
 * b64token, 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=",
 * so no quote, backslash, dollar or semicolon ever reaches a consumer.
 */
static int
token_b64char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~' || c == '+' || c == '/';
}

static int
token_charset_ok(const char *s, size_t len)
{
	size_t	i = 0;

	while (i < len && token_b64char(s[i]))
		i++;
	if (i == 0)
		return 0;
	while (i < len && s[i] == '=')
		i++;
	return i == len;
}

/*
 * json-c keeps its own copy of every string; wipe the one that held the
 * token before the object is released.
 */
static void
token_wipe_string(json_object *o)
{
	if (o != NULL && json_object_is_type(o, json_type_string))
		explicit_bzero((char *)json_object_get_string(o),
		    (size_t)json_object_get_string_len(o));
}

int
token_parse_response(const struct token_input *in, struct token_result *res,
    char **cause)
{
	json_tokener		*tk;
	json_object		*root, *at = NULL, *v;
	struct token_claims	 claims;
	const char		*tok;
	size_t			 len;
	int64_t			 lifetime = -1, issuer_now, expires_in;
	long long		 ll;
	size_t			 end;
	int			 jwt, rc = -1;

	memset(res, 0, sizeof *res);
	tk = json_tokener_new();
	root = json_tokener_parse_ex(tk, in->body, (int)in->len);
	if (root == NULL) {
		if (json_tokener_get_error(tk) == json_tokener_continue)
			util_cause(cause, "answer is truncated JSON");
		else
			util_cause(cause, "answer is not JSON (%s)",
			    json_tokener_error_desc(json_tokener_get_error(tk)));
		json_tokener_free(tk);
		return -1;
	}
	end = json_tokener_get_parse_end(tk);
	json_tokener_free(tk);
	while (end < in->len && strchr(" \t\r\n", in->body[end]) != NULL)
		end++;
	if (end != in->len) {
		util_cause(cause, "answer has data after its JSON");
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		util_cause(cause, "answer is JSON but not an object");
		goto out;
	}
	if (!json_object_object_get_ex(root, "access_token", &at) ||
	    !json_object_is_type(at, json_type_string)) {
		util_cause(cause, "answer has no access_token");
		at = NULL;
		goto out;
	}
	tok = json_object_get_string(at);
	len = (size_t)json_object_get_string_len(at);
	if (len == 0 || len > TOKEN_MAX || !token_charset_ok(tok, len)) {
		util_cause(cause, "access_token is empty, longer than %d bytes "
		    "or not made of RFC 6750 token characters", TOKEN_MAX);
		goto out;
	}
	if (json_object_object_get_ex(root, "token_type", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	    strcasecmp(json_object_get_string(v), "bearer") != 0)) {
		util_cause(cause, "token_type is '%.32s', not Bearer",
		    json_object_is_type(v, json_type_string) ?
		    json_object_get_string(v) : "(not a string)");
		goto out;
	}

	if ((jwt = token_jwt_claims(tok, len, &claims, cause)) == -1)
		goto out;
	res->is_jwt = jwt;
	if (jwt && claims.has_exp) {
		/*
		 * By the issuer's clock. Date and iat have one-second
		 * resolution: count a second less to stay on the safe side.
		 */
		/*
		 * Date and iat are both lower bounds on the issuer's time at
		 * the answer: take the later, so that a lagging Date (a
		 * proxy's clock) cannot stretch the lifetime past exp - iat.
		 */
		if (in->date >= 0 && (!claims.has_iat || in->date >= claims.iat)) {
			issuer_now = in->date;
			res->judged_by = "Date";
		} else if (claims.has_iat) {
			issuer_now = claims.iat;
			res->judged_by = "iat";
		} else
			issuer_now = -1;
		if (issuer_now >= 0)
			lifetime = (claims.exp - issuer_now - 1) * 1000;
		else {
			lifetime = claims.exp * 1000 - in->wall_sent;
			res->judged_by = "local clock";
		}
		if (lifetime <= 0) {
			util_cause(cause, "token has already expired by the "
			    "issuer's clock (exp %lld, judged by %s)",
			    (long long)claims.exp, res->judged_by);
			goto out;
		}
	}
	if (json_object_object_get_ex(root, "expires_in", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (token_json_seconds(v, &expires_in) < 0) {
			/* Some servers send it as a string. */
			if (!json_object_is_type(v, json_type_string) ||
			    util_parse_int(json_object_get_string(v),
			    -TOKEN_LIFETIME_MAX, INT32_MAX, &ll) == -1) {
				util_cause(cause, "expires_in is not a number");
				goto out;
			}
			expires_in = ll;
		}
		if (expires_in <= 0) {
			util_cause(cause, "expires_in is %lld: the token has no "
			    "validity left", (long long)expires_in);
			goto out;
		}
		if (expires_in > TOKEN_LIFETIME_MAX)
			expires_in = TOKEN_LIFETIME_MAX;
		if (lifetime < 0 || expires_in * 1000 < lifetime) {
			lifetime = expires_in * 1000;
			res->judged_by = "expires_in";
		}
	}
	if (lifetime < 0) {
		lifetime = (int64_t)in->fallback_lifetime * 1000;
		res->judged_by = "fallback_lifetime";
	}
	if (lifetime > TOKEN_LIFETIME_MAX * 1000) {
		util_cause(cause, "token lifetime of %lld s is beyond %lld s",
		    (long long)(lifetime / 1000), TOKEN_LIFETIME_MAX);
		goto out;
	}
	res->lifetime_ms = lifetime;
	res->token = secmem_strndup(tok, len);
	res->len = len;
	rc = 0;
out:
	token_wipe_string(at);
	json_object_put(root);
	return rc;
}
