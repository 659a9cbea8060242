#include "config.h"

#include <sys/types.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "conf.h"
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

/*
 * The payload of a JWT as a JSON object the caller releases with
 * json_object_put: 1 and *payload, 0 for a token that is not shaped as a JWT
 * (opaque), -1 with a cause for a broken one.
 */
static int
token_jwt_payload(const char *tok, size_t len, json_object **payload,
    char **cause)
{
	const char		*dot1, *dot2, *end = tok + len;
	unsigned char		*buf;
	size_t			 size;
	ssize_t			 n;
	json_tokener		*tk;
	int			 rc = 1;

	*payload = NULL;
	dot1 = memchr(tok, '.', len);
	if (dot1 == NULL)
		return 0;
	dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
	if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
		return 0;
	/* Three parts: from here on it claims to be a JWT. */
	if (dot1 == tok || dot2 == dot1 + 1)
		return util_cause(cause, "JWT has an empty part");
	size = (size_t)(dot2 - dot1) * 3 / 4 + 4;
	buf = xmalloc(size);
	n = token_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf);
	if (n <= 0) {
		free(buf);
		return util_cause(cause, "JWT payload is not base64url");
	}
	tk = json_tokener_new();
	*payload = json_tokener_parse_ex(tk, (const char *)buf, (int)n);
	if (*payload == NULL || json_tokener_get_parse_end(tk) != (size_t)n ||
	    !json_object_is_type(*payload, json_type_object)) {
		json_object_put(*payload);
		*payload = NULL;
		rc = util_cause(cause, "JWT payload is not a JSON object");
	}
	json_tokener_free(tk);
	explicit_bzero(buf, size);
	free(buf);
	return rc;
}

int
token_jwt_claims(const char *tok, size_t len, struct token_claims *claims,
    char **cause)
{
	json_object		*payload, *v;
	int			 n, rc;

	memset(claims, 0, sizeof *claims);
	if ((rc = token_jwt_payload(tok, len, &payload, cause)) != 1)
		return rc;
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
	char			*esc;
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
		if (json_object_is_type(v, json_type_string)) {
			/* The issuer's text: no raw control characters. */
			esc = util_escape(json_object_get_string(v),
			    (size_t)json_object_get_string_len(v), 40);
			util_cause(cause, "token_type is '%s', not Bearer",
			    esc);
			free(esc);
		} else
			util_cause(cause, "token_type is not a string, so "
			    "not Bearer");
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

char *
token_jwt_scope(const char *tok, size_t len)
{
	json_object	*payload, *v, *e;
	struct secbuf	 b = { 0 };	/* plain data, but secbuf grows */
	char		*out = NULL;
	size_t		 i;

	if (token_jwt_payload(tok, len, &payload, NULL) != 1)
		return NULL;
	if (!json_object_object_get_ex(payload, "scope", &v) &&
	    !json_object_object_get_ex(payload, "scp", &v))
		goto out;
	if (json_object_is_type(v, json_type_string))
		secbuf_append(&b, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));
	else if (json_object_is_type(v, json_type_array)) {
		for (i = 0; i < json_object_array_length(v); i++) {
			e = json_object_array_get_idx(v, i);
			if (!json_object_is_type(e, json_type_string))
				continue;
			if (b.len > 0)
				secbuf_appends(&b, " ");
			secbuf_append(&b, json_object_get_string(e),
			    (size_t)json_object_get_string_len(e));
		}
	} else
		goto out;
	out = util_escape(b.data != NULL ? b.data : "", b.len,
	    TOKEN_SCOPE_SHOWN);
out:
	secbuf_reset(&b);
	json_object_put(payload);
	return out;
}

/*
 * The secret, or a good part of it, appears in text: as it is or
 * percent-encoded (an issuer may echo a query string or a form body).
 * Any 8 bytes in a row of it count (all of it when it is shorter).
 */
static int
token_quotes_secret(const char *text, size_t len, const char *secret)
{
	static const char	 hex[2][17] = { "0123456789ABCDEF",
				    "0123456789abcdef" };
	struct secbuf		 form[3] = { { 0 } };
	size_t			 win, i, j, k;
	unsigned char		 c;
	int			 found = 0;

	if (secret == NULL || *secret == '\0')
		return 0;
	secbuf_appends(&form[0], secret);
	for (k = 1; k < 3; k++) {
		for (i = 0; secret[i] != '\0'; i++) {
			c = (unsigned char)secret[i];
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL)
				secbuf_append(&form[k], &secret[i], 1);
			else {
				secbuf_appends(&form[k], "%");
				secbuf_append(&form[k], &hex[k - 1][c >> 4], 1);
				secbuf_append(&form[k], &hex[k - 1][c & 15], 1);
			}
		}
	}
	for (k = 0; k < 3 && !found; k++) {
		win = form[k].len < 8 ? form[k].len : 8;
		for (j = 0; j + win <= form[k].len && !found; j++) {
			if (memmem(text, len, form[k].data + j, win) != NULL)
				found = 1;
		}
	}
	for (k = 0; k < 3; k++)
		secbuf_reset(&form[k]);
	return found;
}

/*
 * One string member of an error answer, escaped and cut to max bytes; NULL
 * when absent or not a string, a placeholder when it quotes the secret.
 */
static char *
token_error_field(json_object *root, const char *key, size_t max,
    const char *secret)
{
	json_object	*v;
	const char	*s;
	size_t		 len;
	char		*out;

	if (!json_object_object_get_ex(root, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	while (len > 0 && strchr(" \t\r\n", *s) != NULL)
		s++, len--;
	while (len > 0 && strchr(" \t\r\n", s[len - 1]) != NULL)
		len--;
	if (len == 0)
		return NULL;
	/*
	 * Only what is shown counts (one byte more tells util_escape that
	 * the text goes on), and escaping could spell the secret.
	 */
	if (len > max + 1)
		len = max + 1;
	out = util_escape(s, len, max);
	if (token_quotes_secret(s, len, secret) ||
	    token_quotes_secret(out, strlen(out), secret)) {
		free(out);
		return xstrdup("(withheld: it quotes the client secret)");
	}
	return out;
}

char *
token_describe_error(long status, const char *body, size_t len,
    const struct conf_client *c)
{
	json_tokener	*tk;
	json_object	*root;
	char		*code = NULL, *desc = NULL, *out;
	const char	*fallback, *hint = "", *note = "";
	int		 in_body;

	tk = json_tokener_new();
	root = json_tokener_parse_ex(tk, body, (int)(len > INT32_MAX ?
	    INT32_MAX : len));
	json_tokener_free(tk);
	if (root != NULL && json_object_is_type(root, json_type_object)) {
		code = token_error_field(root, "error", TOKEN_ERROR_CODE_SHOWN,
		    c->secret);
		/* OAuth (RFC 6749 5.2), else hapi and the OpenCRVS gateway. */
		desc = token_error_field(root, "error_description",
		    TOKEN_ERROR_DESC_SHOWN, c->secret);
		if (desc == NULL)
			desc = token_error_field(root, "message",
			    TOKEN_ERROR_DESC_SHOWN, c->secret);
	}
	json_object_put(root);

	if (status == 401)
		note = " (wrong credentials, or the issuer's backend is down)";
	/*
	 * OpenCRVS 1.x reads the query string only: a body's grant_type is
	 * missing to it, and so are a body's client_id and secret.
	 */
	in_body = c->request_format != CONF_FORMAT_QUERY;
	if (status == 400 && in_body && code != NULL &&
	    (strcmp(code, "unsupported_grant_type") == 0 ||
	    (strcmp(code, "invalid_request") == 0 &&
	    c->client_auth == CONF_AUTH_BODY)))
		hint = TOKEN_HINT_QUERY;

	fallback = status >= 500 ? "server error" : status == 401 ?
	    "invalid_client" : "request refused";
	if (code != NULL && desc != NULL)
		out = xasprintf("%s: %s%s%s", code, desc, note, hint);
	else
		out = xasprintf("%s%s%s", code != NULL ? code : desc != NULL ?
		    desc : fallback, note, hint);
	free(code);
	free(desc);
	return out;
}
