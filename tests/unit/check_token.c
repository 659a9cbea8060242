/*
 * Tests of daemon/token.c (base64url, JWT claims, the token endpoint's
 * answer -> token and lifetime, an error answer -> the issuer's words) and
 * daemon/secmem.c, where tokens live.
 *
 * JWTs are built here: the header and payload JSON are base64url-encoded by
 * b64url() below, the signature is a fixed marker. Every token carries
 * TOKEN_MARK, so an error cause can be checked never to hold a token.
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "unit.h"

#include "conf.h"
#include "secmem.h"
#include "token.h"
#include "util.h"

#define T0		1700000000LL	/* iat of most tokens (Unix s) */
#define TOKEN_MARK	"SiGnAtUrEmArK"
#define JWT_HEADER	"{\"alg\":\"RS256\",\"typ\":\"JWT\"}"

/* Returns the base64url encoding (no padding) of data; free it. */
static char *
b64url(const void *data, size_t len)
{
	static const char	 tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char	*in = data;
	char			*out = xmalloc(len * 4 / 3 + 4), *o = out;
	uint32_t		 v;
	size_t			 i;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		*o++ = tbl[v >> 18 & 63];
		*o++ = tbl[v >> 12 & 63];
		*o++ = tbl[v >> 6 & 63];
		*o++ = tbl[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		*o++ = tbl[v >> 18 & 63];
		*o++ = tbl[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*o++ = tbl[v >> 18 & 63];
		*o++ = tbl[v >> 12 & 63];
		*o++ = tbl[v >> 6 & 63];
	}
	*o = '\0';
	return out;
}

/* Returns a JWT with this payload JSON; free it. */
static char *
jwt(const char *payload)
{
	char	*h = b64url(JWT_HEADER, strlen(JWT_HEADER));
	char	*p = b64url(payload, strlen(payload));
	char	*t = xasprintf("%s.%s." TOKEN_MARK "-sig", h, p);

	free(h);
	free(p);
	return t;
}

/* A JWT with iat and exp; free it. */
static char *
jwt_iat_exp(long long iat, long long exp)
{
	char	*payload, *t;

	payload = xasprintf("{\"scope\":[\"record.read\"],\"userType\":"
	    "\"system\",\"iat\":%lld,\"exp\":%lld,\"iss\":"
	    "\"opencrvs:auth-service\",\"sub\":\"2fd153ab\"}", iat, exp);
	t = jwt(payload);
	free(payload);
	return t;
}

/* The OpenCRVS answer for a token, plus extra members (", ..." or ""). */
static char *
answer(const char *tok, const char *extra)
{
	return xasprintf("{\"access_token\": \"%s\", \"token_type\": "
	    "\"Bearer\"%s}", tok, extra);
}

static int
parse(const char *body, int64_t date, int64_t wall_sent,
    struct token_result *res, char **cause)
{
	struct token_input	in;

	memset(&in, 0, sizeof in);
	in.body = body;
	in.len = strlen(body);
	in.date = date;
	in.wall_sent = wall_sent;
	in.fallback_lifetime = 600;
	*cause = NULL;
	return token_parse_response(&in, res, cause);
}

/* Parses body and checks the token and the lifetime and how it was judged. */
static void
parse_ok(int at, const char *body, int64_t date, int64_t wall_sent,
    const char *tok, int64_t lifetime_ms, const char *judged_by)
{
	struct token_result	res;
	char			*cause;

	ck_assert_msg(parse(body, date, wall_sent, &res, &cause) == 0,
	    "line %d: refused: %s", at, cause);
	ck_assert_msg(cause == NULL, "line %d: a cause on success", at);
	ck_assert_msg(res.token != NULL && strcmp(res.token, tok) == 0,
	    "line %d: token '%s', not '%s'", at, res.token, tok);
	ck_assert_msg(res.len == strlen(tok), "line %d: len %zu, not %zu", at,
	    res.len, strlen(tok));
	ck_assert_msg(res.lifetime_ms == lifetime_ms,
	    "line %d: lifetime %lld ms, not %lld", at,
	    (long long)res.lifetime_ms, (long long)lifetime_ms);
	ck_assert_msg(res.judged_by != NULL &&
	    strcmp(res.judged_by, judged_by) == 0,
	    "line %d: judged by '%s', not '%s'", at,
	    res.judged_by ? res.judged_by : "(null)", judged_by);
	secmem_free(res.token);
}
#define PARSE_OK(body, date, wall, tok, ms, by)				\
	parse_ok(__LINE__, (body), (date), (wall), (tok), (ms), (by))

/* Parses body and expects an error saying what, holding no token. */
static void
parse_error(int at, const char *body, int64_t date, int64_t wall_sent,
    const char *tok, const char *what)
{
	struct token_result	res;
	char			*cause;

	ck_assert_msg(parse(body, date, wall_sent, &res, &cause) == -1,
	    "line %d: accepted; expected '%s'", at, what);
	ck_assert_msg(cause != NULL, "line %d: no cause", at);
	ck_assert_msg(strstr(cause, what) != NULL,
	    "line %d: cause '%s' does not say '%s'", at, cause, what);
	ck_assert_msg(strstr(cause, TOKEN_MARK) == NULL &&
	    (tok == NULL || *tok == '\0' || strstr(cause, tok) == NULL),
	    "line %d: cause '%s' holds the token", at, cause);
	ck_assert_msg(res.token == NULL, "line %d: a token on failure", at);
	free(cause);
}
#define PARSE_ERROR(body, date, wall, tok, what)			\
	parse_error(__LINE__, (body), (date), (wall), (tok), (what))

/* ---- base64url ---- */

static ssize_t
decode(const char *in, unsigned char *out)
{
	return token_b64url_decode(in, strlen(in), out);
}

START_TEST(test_b64url_decode)
{
	unsigned char	out[64];
	char		*enc;
	unsigned char	all[256];
	unsigned char	back[256 * 3 / 4 + 350];
	size_t		i, n;

	ck_assert_int_eq(decode("", out), 0);
	ck_assert_int_eq(decode("Zg", out), 1);
	ck_assert_mem_eq(out, "f", 1);
	ck_assert_int_eq(decode("Zm8", out), 2);
	ck_assert_mem_eq(out, "fo", 2);
	ck_assert_int_eq(decode("Zm9v", out), 3);
	ck_assert_mem_eq(out, "foo", 3);
	ck_assert_int_eq(decode("Zm9vYmFy", out), 6);
	ck_assert_mem_eq(out, "foobar", 6);
	/* Padding is not needed but tolerated. */
	ck_assert_int_eq(decode("Zg==", out), 1);
	ck_assert_mem_eq(out, "f", 1);
	ck_assert_int_eq(decode("Zm8=", out), 2);
	ck_assert_mem_eq(out, "fo", 2);
	/* The URL alphabet: - and _ where base64 has + and /. */
	ck_assert_int_eq(decode("-_8", out), 2);
	ck_assert_mem_eq(out, "\xfb\xff", 2);
	ck_assert_int_eq(decode("_-_-", out), 3);
	ck_assert_mem_eq(out, "\xff\xef\xfe", 3);

	/* Not base64url. */
	ck_assert_int_eq(decode("Zm9v+", out), -1);
	ck_assert_int_eq(decode("+_8", out), -1);
	ck_assert_int_eq(decode("Zm/v", out), -1);
	ck_assert_int_eq(decode("Zm 9v", out), -1);
	ck_assert_int_eq(decode("Zm9v.", out), -1);
	ck_assert_int_eq(decode("Z", out), -1);
	ck_assert_int_eq(decode("Zm9vY", out), -1);
	ck_assert_int_eq(decode("Zm9v\n", out), -1);
	ck_assert_int_eq(token_b64url_decode("Zm\0v", 4, out), -1);

	/* Every byte value survives a round trip at every length. */
	for (i = 0; i < sizeof all; i++)
		all[i] = (unsigned char)(255 - i);
	for (n = 0; n <= sizeof all; n++) {
		enc = b64url(all, n);
		memset(back, 0xaa, sizeof back);
		ck_assert_int_eq(token_b64url_decode(enc, strlen(enc), back),
		    (ssize_t)n);
		ck_assert_msg(memcmp(back, all, n) == 0, "length %zu", n);
		free(enc);
	}
}
END_TEST

/* ---- JWT claims ---- */

START_TEST(test_jwt_claims)
{
	struct token_claims	 cl;
	char			*t, *cause = NULL;

	t = jwt_iat_exp(T0, T0 + 600);
	ck_assert_int_eq(token_jwt_claims(t, strlen(t), &cl, &cause), 1);
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(cl.has_iat, 1);
	ck_assert_int_eq(cl.has_exp, 1);
	ck_assert_int_eq(cl.iat, T0);
	ck_assert_int_eq(cl.exp, T0 + 600);
	free(t);

	/* No claims at all: still a JWT. */
	t = jwt("{\"sub\":\"x\"}");
	ck_assert_int_eq(token_jwt_claims(t, strlen(t), &cl, &cause), 1);
	ck_assert_int_eq(cl.has_iat, 0);
	ck_assert_int_eq(cl.has_exp, 0);
	free(t);

	/* Only exp; a fractional number counts its whole seconds. */
	t = jwt("{\"exp\":1700000600.75}");
	ck_assert_int_eq(token_jwt_claims(t, strlen(t), &cl, &cause), 1);
	ck_assert_int_eq(cl.has_exp, 1);
	ck_assert_int_eq(cl.has_iat, 0);
	ck_assert_int_eq(cl.exp, T0 + 600);
	free(t);

	/* An unsigned JWT (empty signature) is still read. */
	t = jwt("{\"exp\":5}");
	t[strlen(t) - strlen(TOKEN_MARK "-sig")] = '\0';
	ck_assert_int_eq(token_jwt_claims(t, strlen(t), &cl, &cause), 1);
	ck_assert_int_eq(cl.exp, 5);
	free(t);

	/* The length bounds the token: what follows is not read. */
	t = jwt_iat_exp(T0, T0 + 600);
	ck_assert_int_eq(token_jwt_claims(t, (size_t)(strrchr(t, '.') - t),
	    &cl, &cause), 0);
	ck_assert_int_eq(cl.has_exp, 0);
	free(t);
}
END_TEST

START_TEST(test_jwt_claims_opaque)
{
	static const char *opaque[] = {
		"abcdef0123456789", "a.b", "abc.def", "a.b.c.d", "a.b.c.d.e",
		"", "...."
	};
	struct token_claims	 cl;
	char			*cause;
	size_t			 i;

	for (i = 0; i < sizeof opaque / sizeof opaque[0]; i++) {
		cause = NULL;
		memset(&cl, 0xff, sizeof cl);
		ck_assert_msg(token_jwt_claims(opaque[i], strlen(opaque[i]),
		    &cl, &cause) == 0, "'%s' is not opaque", opaque[i]);
		ck_assert_ptr_null(cause);
		ck_assert_int_eq(cl.has_exp, 0);
		ck_assert_int_eq(cl.has_iat, 0);
	}
}
END_TEST

static void
claims_error(int at, const char *tok, const char *what)
{
	struct token_claims	 cl;
	char			*cause = NULL;

	ck_assert_msg(token_jwt_claims(tok, strlen(tok), &cl, &cause) == -1,
	    "line %d: '%s' not refused", at, tok);
	ck_assert_msg(cause != NULL && strstr(cause, what) != NULL,
	    "line %d: cause '%s' does not say '%s'", at, cause, what);
	ck_assert_msg(strstr(cause, tok) == NULL, "line %d: cause '%s' holds "
	    "the token", at, cause);
	free(cause);
}
#define CLAIMS_ERROR(tok, what)	claims_error(__LINE__, (tok), (what))

START_TEST(test_jwt_claims_broken)
{
	char	*t, *p;

	CLAIMS_ERROR(".eyJleHAiOjF9.sig", "empty part");
	CLAIMS_ERROR("eyJhbGciOiJub25lIn0..sig", "empty part");
	CLAIMS_ERROR("eyJhbGciOiJub25lIn0.!!!!.sig", "not base64url");
	CLAIMS_ERROR("eyJhbGciOiJub25lIn0.eyJleHAiOjF9+.sig", "not base64url");
	CLAIMS_ERROR("eyJhbGciOiJub25lIn0.e.sig", "not base64url");

	p = b64url("not json", 8);
	t = xasprintf("eyJhbGciOiJub25lIn0.%s.sig", p);
	CLAIMS_ERROR(t, "JWT payload is not a JSON object");
	free(t);
	free(p);
	t = jwt("[1,2,3]");
	CLAIMS_ERROR(t, "JWT payload is not a JSON object");
	free(t);
	t = jwt("\"exp\"");
	CLAIMS_ERROR(t, "JWT payload is not a JSON object");
	free(t);
	t = jwt("{\"exp\":1}{}");
	CLAIMS_ERROR(t, "JWT payload is not a JSON object");
	free(t);
	t = jwt("{\"exp\":1");
	CLAIMS_ERROR(t, "JWT payload is not a JSON object");
	free(t);
	t = jwt("{\"exp\":\"1700000600\"}");
	CLAIMS_ERROR(t, "JWT exp is not a number");
	free(t);
	t = jwt("{\"exp\":1700000600,\"iat\":true}");
	CLAIMS_ERROR(t, "JWT iat is not a number");
	free(t);
	t = jwt("{\"exp\":1e300}");
	CLAIMS_ERROR(t, "JWT exp is beyond any sane lifetime");
	free(t);
	t = jwt_iat_exp(T0, T0);
	CLAIMS_ERROR(t, "JWT exp (1700000000) is not after iat (1700000000)");
	free(t);
	t = jwt_iat_exp(T0, T0 - 1);
	CLAIMS_ERROR(t, "is not after iat");
	free(t);
}
END_TEST

/* ---- the token endpoint's answer ---- */

START_TEST(test_opencrvs_answer)
{
	char	*t = jwt_iat_exp(T0, T0 + 600), *body = answer(t, "");

	/* Date == iat: exp - Date - 1 s of safety. */
	PARSE_OK(body, T0, T0 * 1000 + 123, t, 599000, "Date");
	/* A Date later than iat (the answer took a while) counts. */
	PARSE_OK(body, T0 + 2, T0 * 1000, t, 597000, "Date");
	/* Without Date: by iat. */
	PARSE_OK(body, -1, T0 * 1000 + 123, t, 599000, "iat");
	free(body);
	free(t);
}
END_TEST

/* Reads tests/unit/data/name into buf; returns its length. */
static size_t
read_data(const char *name, char *buf, size_t size)
{
	const char	*top = getenv("top_srcdir");
	char		*path;
	FILE		*fp;
	size_t		 n;

	if (top == NULL || *top == '\0')
		top = ".";
	path = xasprintf("%s/tests/unit/data/%s", top, name);
	fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, size - 1, fp);
	ck_assert_msg(feof(fp), "%s is larger than %zu bytes", path, size);
	fclose(fp);
	free(path);
	buf[n] = '\0';
	return n;
}

START_TEST(test_opencrvs_answer_data_file)
{
	char			 body[8192], tok[8192], *cause;
	size_t			 n;
	struct token_result	 res;
	struct token_input	 in;

	/* An answer as the gateway sends it, and the token in it. */
	n = read_data("opencrvs-token-response.json", body, sizeof body);
	read_data("opencrvs-token.txt", tok, sizeof tok);
	tok[strcspn(tok, "\n")] = '\0';
	ck_assert_uint_gt(strlen(tok), 800);

	memset(&in, 0, sizeof in);
	in.body = body;
	in.len = n;		/* with its trailing newline */
	in.date = T0;
	in.wall_sent = T0 * 1000;
	in.fallback_lifetime = 600;
	cause = NULL;
	ck_assert_msg(token_parse_response(&in, &res, &cause) == 0,
	    "refused: %s", cause);
	ck_assert_str_eq(res.token, tok);
	ck_assert_uint_eq(res.len, strlen(tok));
	ck_assert_int_eq(res.is_jwt, 1);
	ck_assert_int_eq(res.lifetime_ms, 599000);
	ck_assert_str_eq(res.judged_by, "Date");
	secmem_free(res.token);

	/* Its claims are OpenCRVS': iat and exp 600 s apart. */
	{
		struct token_claims	cl;

		ck_assert_int_eq(token_jwt_claims(tok, strlen(tok), &cl,
		    &cause), 1);
		ck_assert_int_eq(cl.iat, T0);
		ck_assert_int_eq(cl.exp, T0 + 600);
	}
}
END_TEST

START_TEST(test_local_clock)
{
	char	*t = jwt("{\"exp\":1700000600}"), *body = answer(t, "");

	/* exp but neither Date nor iat: the local wall clock judges. */
	PARSE_OK(body, -1, T0 * 1000 + 250, t, 599750, "local clock");
	PARSE_OK(body, -1, (T0 + 300) * 1000, t, 300000, "local clock");
	PARSE_ERROR(body, -1, (T0 + 600) * 1000, t, "expired");
	/* With a Date, the local clock does not matter. */
	PARSE_OK(body, T0, (T0 + 3600) * 1000, t, 599000, "Date");
	free(body);
	free(t);
}
END_TEST

START_TEST(test_skewed_local_clock)
{
	char	*t, *body;

	/* The issuer is an hour ahead of us: still 599 s. */
	t = jwt_iat_exp(T0 + 3600, T0 + 3600 + 600);
	body = answer(t, "");
	PARSE_OK(body, T0 + 3600, T0 * 1000, t, 599000, "Date");
	PARSE_OK(body, -1, T0 * 1000, t, 599000, "iat");
	free(body);
	free(t);

	/* An hour behind. */
	t = jwt_iat_exp(T0 - 3600, T0 - 3600 + 600);
	body = answer(t, "");
	PARSE_OK(body, T0 - 3600, T0 * 1000, t, 599000, "Date");
	PARSE_OK(body, -1, T0 * 1000, t, 599000, "iat");
	free(body);
	free(t);
}
END_TEST

START_TEST(test_expires_in)
{
	char	*t = jwt_iat_exp(T0, T0 + 600), *body;

	/* Shorter than exp: expires_in wins. */
	body = answer(t, ", \"expires_in\": 300");
	PARSE_OK(body, T0, T0 * 1000, t, 300000, "expires_in");
	free(body);
	/* Longer: exp wins. */
	body = answer(t, ", \"expires_in\": 900");
	PARSE_OK(body, T0, T0 * 1000, t, 599000, "Date");
	PARSE_OK(body, -1, T0 * 1000, t, 599000, "iat");
	free(body);
	/* As a string, as some servers send it. */
	body = answer(t, ", \"expires_in\": \"60\"");
	PARSE_OK(body, T0, T0 * 1000, t, 60000, "expires_in");
	free(body);
	/* As a fraction. */
	body = answer(t, ", \"expires_in\": 59.9");
	PARSE_OK(body, T0, T0 * 1000, t, 59000, "expires_in");
	free(body);
	/* null is as if absent. */
	body = answer(t, ", \"expires_in\": null");
	PARSE_OK(body, T0, T0 * 1000, t, 599000, "Date");
	free(body);

	body = answer(t, ", \"expires_in\": 0");
	PARSE_ERROR(body, T0, T0 * 1000, t, "expires_in is 0");
	free(body);
	body = answer(t, ", \"expires_in\": -5");
	PARSE_ERROR(body, T0, T0 * 1000, t, "expires_in is -5");
	free(body);
	body = answer(t, ", \"expires_in\": \"0\"");
	PARSE_ERROR(body, T0, T0 * 1000, t, "no validity left");
	free(body);
	body = answer(t, ", \"expires_in\": \"60s\"");
	PARSE_ERROR(body, T0, T0 * 1000, t, "expires_in is not a number");
	free(body);
	body = answer(t, ", \"expires_in\": true");
	PARSE_ERROR(body, T0, T0 * 1000, t, "expires_in is not a number");
	free(body);
	body = answer(t, ", \"expires_in\": [60]");
	PARSE_ERROR(body, T0, T0 * 1000, t, "expires_in is not a number");
	free(body);
	free(t);
}
END_TEST

START_TEST(test_fallback_lifetime)
{
	struct token_result	 res;
	struct token_input	 in;
	char			*t, *body, *cause = NULL;

	/* A JWT without exp. */
	t = jwt("{\"sub\":\"x\",\"iat\":1700000000}");
	body = answer(t, "");
	PARSE_OK(body, T0, T0 * 1000, t, 600000, "fallback_lifetime");
	memset(&in, 0, sizeof in);
	in.body = body;
	in.len = strlen(body);
	in.date = -1;
	in.fallback_lifetime = 45;
	ck_assert_int_eq(token_parse_response(&in, &res, &cause), 0);
	ck_assert_int_eq(res.lifetime_ms, 45000);
	ck_assert_int_eq(res.is_jwt, 1);
	secmem_free(res.token);
	free(body);
	/* ... with expires_in. */
	body = answer(t, ", \"expires_in\": 120");
	PARSE_OK(body, T0, T0 * 1000, t, 120000, "expires_in");
	free(body);
	free(t);
}
END_TEST

START_TEST(test_opaque_token)
{
	struct token_result	 res;
	char			*body, *cause;
	const char		*t = "opaque-" TOKEN_MARK "-0123456789";

	body = answer(t, "");
	PARSE_OK(body, T0, T0 * 1000, t, 600000, "fallback_lifetime");
	ck_assert_int_eq(parse(body, T0, T0 * 1000, &res, &cause), 0);
	ck_assert_int_eq(res.is_jwt, 0);
	secmem_free(res.token);
	free(body);
	body = answer(t, ", \"expires_in\": 3600");
	PARSE_OK(body, T0, T0 * 1000, t, 3600000, "expires_in");
	PARSE_OK(body, -1, 0, t, 3600000, "expires_in");
	free(body);
	/* Only access_token: the OpenCRVS docs show nothing else. */
	body = xasprintf("{\"access_token\":\"%s\"}", t);
	PARSE_OK(body, -1, 0, t, 600000, "fallback_lifetime");
	free(body);
}
END_TEST

START_TEST(test_token_type)
{
	char		*t = jwt_iat_exp(T0, T0 + 600), *body;
	const char	*ok[] = { "Bearer", "bearer", "BEARER", "bEaReR" };
	size_t		 i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		body = xasprintf("{\"access_token\":\"%s\",\"token_type\":"
		    "\"%s\"}", t, ok[i]);
		PARSE_OK(body, T0, 0, t, 599000, "Date");
		free(body);
	}
	body = xasprintf("{\"access_token\":\"%s\",\"token_type\":\"mac\"}",
	    t);
	PARSE_ERROR(body, T0, 0, t, "token_type is 'mac', not Bearer");
	free(body);
	body = xasprintf("{\"access_token\":\"%s\",\"token_type\":\"\"}", t);
	PARSE_ERROR(body, T0, 0, t, "not Bearer");
	free(body);
	body = xasprintf("{\"access_token\":\"%s\",\"token_type\":"
	    "\"Bearer \"}", t);
	PARSE_ERROR(body, T0, 0, t, "not Bearer");
	free(body);
	body = xasprintf("{\"access_token\":\"%s\",\"token_type\":1}", t);
	PARSE_ERROR(body, T0, 0, t, "not Bearer");
	free(body);
	/* The issuer's text is escaped: no forged log line, no ESC. */
	body = xasprintf("{\"access_token\":\"%s\",\"token_type\":"
	    "\"x\\n2026 forged\\u001b[31m\"}", t);
	PARSE_ERROR(body, T0, 0, t, "token_type is 'x\\n2026 forged\\x1b[31m', "
	    "not Bearer");
	free(body);
	/* A token_type as long as the token is cut short in the cause. */
	body = xasprintf("{\"access_token\":\"%s\",\"token_type\":\"%s\"}", t,
	    t);
	PARSE_ERROR(body, T0, 0, t, "not Bearer");
	free(body);
	free(t);
}
END_TEST

START_TEST(test_bad_access_token)
{
	char	*t = jwt_iat_exp(T0, T0 + 600), *body;

	PARSE_ERROR("{\"token_type\":\"Bearer\"}", T0, 0, NULL,
	    "answer has no access_token");
	PARSE_ERROR("{\"access_token\":42}", T0, 0, NULL,
	    "answer has no access_token");
	PARSE_ERROR("{\"access_token\":null}", T0, 0, NULL,
	    "answer has no access_token");
	PARSE_ERROR("{\"access_token\":[\"" TOKEN_MARK "\"]}", T0, 0, NULL,
	    "answer has no access_token");
	PARSE_ERROR("{\"Access_Token\":\"" TOKEN_MARK "\"}", T0, 0, NULL,
	    "answer has no access_token");
	PARSE_ERROR("{\"access_token\":\"\"}", T0, 0, NULL,
	    "access_token is empty");
	PARSE_ERROR("{\"access_token\":\"abc " TOKEN_MARK "\"}", T0, 0, NULL,
	    "RFC 6750");
	PARSE_ERROR("{\"access_token\":\"abc\\t" TOKEN_MARK "\"}", T0, 0, NULL,
	    "RFC 6750");
	PARSE_ERROR("{\"access_token\":\"abc\\u0001" TOKEN_MARK "\"}", T0, 0,
	    NULL, "RFC 6750");
	PARSE_ERROR("{\"access_token\":\"abc\\n" TOKEN_MARK "\"}", T0, 0,
	    NULL, "RFC 6750");
	PARSE_ERROR("{\"access_token\":\"abc\\u007f" TOKEN_MARK "\"}", T0, 0,
	    NULL, "RFC 6750");
	PARSE_ERROR("{\"access_token\":\"caf\\u00e9" TOKEN_MARK "\"}", T0, 0,
	    NULL, "RFC 6750");
	PARSE_ERROR("{\"access_token\":\"abc\\u0000" TOKEN_MARK "\"}", T0, 0,
	    NULL, "RFC 6750");
	/* A space inside a JWT. */
	body = xasprintf("{\"access_token\":\"Bearer %s\"}", t);
	PARSE_ERROR(body, T0, 0, t, "RFC 6750");
	free(body);
	free(t);
}
END_TEST

/* RFC 6750 b64token only: what a shell or a header could misread is refused. */
START_TEST(test_token_charset)
{
	static const char *bad[] = {
		"abc\\\"def", "abc'def", "abc\\\\def", "abc;def", "abc$def",
		"abc(def", "abc)def", "abc<def", "abc>def", "abc`def",
		"abc,def", "abc*def", "abc&def", "abc|def", "abc!def",
		"abc#def", "abc%def", "abc:def", "abc@def", "abc{def",
		"abc=def", "=abc", "==", "=", "abc=.", "abc= ",
	};
	static const char *good[] = {
		"abc", "A-Z.a_z~0+9/", "abc=", "abc==", "aGVsbG8=", "-", "/",
	};
	char	*body;
	size_t	 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		body = answer(bad[i], ", \"expires_in\": 300");
		PARSE_ERROR(body, T0, T0 * 1000, NULL, "RFC 6750");
		free(body);
	}
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		body = answer(good[i], ", \"expires_in\": 300");
		PARSE_OK(body, T0, T0 * 1000, good[i], 300000, "expires_in");
		free(body);
	}
}
END_TEST

START_TEST(test_token_size)
{
	char	*t, *body;

	t = xmalloc(TOKEN_MAX + 2);
	memset(t, 'A', TOKEN_MAX + 1);
	memcpy(t, TOKEN_MARK, strlen(TOKEN_MARK));
	t[TOKEN_MAX] = '\0';
	body = answer(t, "");
	PARSE_OK(body, T0, 0, t, 600000, "fallback_lifetime");
	free(body);
	t[TOKEN_MAX] = 'A';
	t[TOKEN_MAX + 1] = '\0';
	body = answer(t, "");
	PARSE_ERROR(body, T0, 0, t, "longer than 65536 bytes");
	free(body);
	free(t);
}
END_TEST

START_TEST(test_not_a_token_answer)
{
	char	*t = jwt_iat_exp(T0, T0 + 600), *body;

	PARSE_ERROR("[\"" TOKEN_MARK "\"]", T0, 0, NULL,
	    "answer is JSON but not an object");
	PARSE_ERROR("\"" TOKEN_MARK "\"", T0, 0, NULL,
	    "answer is JSON but not an object");
	PARSE_ERROR("{\"access_token\": \"" TOKEN_MARK, T0, 0, NULL,
	    "answer is truncated JSON");
	PARSE_ERROR("{\"access_token\": \"" TOKEN_MARK "\", ", T0, 0, NULL,
	    "answer is truncated JSON");
	PARSE_ERROR("", T0, 0, NULL, "truncated JSON");
	PARSE_ERROR("<html><body>502 Bad Gateway</body></html>", T0, 0, NULL,
	    "answer is not JSON");
	PARSE_ERROR("access_token=" TOKEN_MARK "&token_type=bearer", T0, 0,
	    NULL, "answer is not JSON");
	PARSE_ERROR("{access_token: \"" TOKEN_MARK "\"}", T0, 0, NULL,
	    "answer is not JSON");
	/* Trailing data after the JSON. */
	body = xasprintf("{\"access_token\":\"%s\"} x", t);
	PARSE_ERROR(body, T0, 0, t, "answer has data after its JSON");
	free(body);
	body = xasprintf("{\"access_token\":\"%s\"}{\"access_token\":\"%s\"}",
	    t, t);
	PARSE_ERROR(body, T0, 0, t, "answer has data after its JSON");
	free(body);
	/* Trailing whitespace is fine. */
	body = xasprintf("\r\n {\"access_token\":\"%s\"} \r\n\t\n", t);
	PARSE_OK(body, T0, 0, t, 599000, "Date");
	free(body);
	free(t);
}
END_TEST

START_TEST(test_bad_jwt)
{
	char	*t, *body, *p;

	/* exp <= iat. */
	t = jwt_iat_exp(T0, T0);
	body = answer(t, "");
	PARSE_ERROR(body, T0, 0, t, "is not after iat");
	free(body);
	free(t);
	t = jwt_iat_exp(T0 + 10, T0);
	body = answer(t, ", \"expires_in\": 600");
	PARSE_ERROR(body, -1, 0, t, "is not after iat");
	free(body);
	free(t);

	/* Payload not base64url (but token characters), not JSON. */
	t = xstrdup("eyJhbGciOiJSUzI1NiJ9.~~~~." TOKEN_MARK);
	body = answer(t, "");
	PARSE_ERROR(body, T0, 0, t, "JWT payload is not base64url");
	free(body);
	free(t);
	p = b64url("exp=1700000600", 14);
	t = xasprintf("eyJhbGciOiJSUzI1NiJ9.%s." TOKEN_MARK, p);
	body = answer(t, ", \"expires_in\": 600");
	PARSE_ERROR(body, T0, 0, t, "JWT payload is not a JSON object");
	free(body);
	free(t);
	free(p);
	t = jwt("{\"exp\":\"soon\"}");
	body = answer(t, "");
	PARSE_ERROR(body, T0, 0, t, "JWT exp is not a number");
	free(body);
	free(t);
}
END_TEST

START_TEST(test_expired_jwt)
{
	char	*t = jwt_iat_exp(T0, T0 + 600), *body = answer(t, "");

	PARSE_ERROR(body, T0 + 605, T0 * 1000, t, "already expired");
	PARSE_ERROR(body, T0 + 605, T0 * 1000, t, "judged by Date");
	/* Exactly at exp, and with less than the second of safety. */
	PARSE_ERROR(body, T0 + 600, T0 * 1000, t, "expired");
	PARSE_ERROR(body, T0 + 599, T0 * 1000, t, "expired");
	/* Two seconds left: one is counted. */
	PARSE_OK(body, T0 + 598, T0 * 1000, t, 1000, "Date");
	/* An expires_in does not revive it. */
	free(body);
	body = answer(t, ", \"expires_in\": 600");
	PARSE_ERROR(body, T0 + 700, T0 * 1000, t, "expired");
	free(body);
	free(t);
}
END_TEST

START_TEST(test_lifetime_max)
{
	char	*t, *body;

	t = jwt_iat_exp(T0, T0 + TOKEN_LIFETIME_MAX + 10);
	body = answer(t, "");
	PARSE_ERROR(body, T0, 0, t, "is beyond");
	PARSE_ERROR(body, -1, 0, t, "is beyond");
	free(body);
	free(t);
	/* Exactly the maximum (after the second of safety). */
	t = jwt_iat_exp(T0, T0 + TOKEN_LIFETIME_MAX + 1);
	body = answer(t, "");
	PARSE_OK(body, T0, 0, t, TOKEN_LIFETIME_MAX * 1000, "Date");
	free(body);
	free(t);
	/* By the local clock. */
	t = jwt("{\"exp\":1800000000}");
	body = answer(t, "");
	PARSE_ERROR(body, -1, T0 * 1000, t, "is beyond");
	free(body);
	free(t);
	/* A one-week token (some OpenCRVS 1.x clients) is fine. */
	t = jwt_iat_exp(T0, T0 + 7 * 86400);
	body = answer(t, "");
	PARSE_OK(body, T0, 0, t, (7 * 86400 - 1) * 1000LL, "Date");
	free(body);
	free(t);
	/* A huge expires_in on an opaque token is held to the maximum. */
	body = answer(TOKEN_MARK, ", \"expires_in\": 99999999999");
	PARSE_OK(body, T0, 0, TOKEN_MARK, TOKEN_LIFETIME_MAX * 1000,
	    "expires_in");
	free(body);
}
END_TEST

/*
 * Regression (fixed): token_json_seconds() takes
 * any JSON integer for exp, and token_parse_response() computes
 * (exp - issuer_now - 1) * 1000 in int64_t without a range check. An exp
 * near 1.8e16 overflows (undefined behaviour) and wraps to a lifetime of
 * about 10 minutes, so a token with an absurd exp is accepted instead of
 * being refused as beyond TOKEN_LIFETIME_MAX.
 */
START_TEST(test_regression_exp_overflow)
{
	char	*t, *body;

	/* (exp - iat - 1) * 1000 == 2^64 + 599384 */
	t = jwt_iat_exp(T0, T0 + 18446744073709552LL + 600);
	body = answer(t, "");
	PARSE_ERROR(body, -1, T0 * 1000, t, "is beyond");
	free(body);
	free(t);
}
END_TEST

/* A Date behind iat (a proxy with a slow clock) cannot stretch the
 * lifetime past exp - iat: the later of the two judges. */
START_TEST(test_lagging_date)
{
	struct token_result	 res;
	char			*t = jwt_iat_exp(T0, T0 + 600);
	char			*body, *cause = NULL;

	body = answer(t, "");
	ck_assert_int_eq(parse(body, T0 - 3600, T0 * 1000, &res, &cause), 0);
	ck_assert_int_eq(res.lifetime_ms, 599000);
	ck_assert_str_eq(res.judged_by, "iat");
	secmem_free(res.token);
	/* A Date after iat (the answer took a while) still judges. */
	ck_assert_int_eq(parse(body, T0 + 5, T0 * 1000, &res, &cause), 0);
	ck_assert_int_eq(res.lifetime_ms, 594000);
	ck_assert_str_eq(res.judged_by, "Date");
	secmem_free(res.token);
	free(body);
	free(t);
}
END_TEST

START_TEST(test_result_is_copy)
{
	struct token_result	 res;
	char			*t = jwt_iat_exp(T0, T0 + 600);
	char			*body, *cause;

	body = answer(t, "");
	ck_assert_int_eq(parse(body, T0, 0, &res, &cause), 0);
	/* The result does not point into the answer. */
	memset(body, 'x', strlen(body));
	ck_assert_str_eq(res.token, t);
	ck_assert_int_eq(res.token[res.len], '\0');
	secmem_free(res.token);
	free(body);
	free(t);
}
END_TEST

/* ---- secmem ---- */

START_TEST(test_secmem)
{
	char		*s;
	unsigned char	*z;
	size_t		 i;

	s = secmem_strndup("secret-abcdef", 6);
	ck_assert_str_eq(s, "secret");
	ck_assert_int_eq(s[6], '\0');
	secmem_free(s);
	s = secmem_strndup("", 0);
	ck_assert_str_eq(s, "");
	secmem_free(s);
	s = secmem_strdup("token");
	ck_assert_str_eq(s, "token");
	secmem_free(s);

	/* Zeroed, and all of it usable, across a page boundary. */
	z = secmem_alloc(3 * 4096 + 17);
	for (i = 0; i < 3 * 4096 + 17; i++)
		ck_assert_int_eq(z[i], 0);
	memset(z, 0x5a, 3 * 4096 + 17);
	secmem_free(z);
	z = secmem_alloc(0);
	ck_assert_ptr_nonnull(z);
	secmem_free(z);

	secmem_free(NULL);
}
END_TEST

/* Small secrets share slab chunks; a freed block comes back zeroed. */
START_TEST(test_secmem_slab)
{
	enum { N = 200 };
	char		*p[N], *q;
	uintptr_t	 lo = UINTPTR_MAX, hi = 0;
	size_t		 i, j;

	for (i = 0; i < N; i++) {
		p[i] = secmem_alloc(100);
		for (j = 0; j < 100; j++)
			ck_assert_int_eq(p[i][j], 0);
		memset(p[i], 0x5a, 100);
		if ((uintptr_t)p[i] < lo)
			lo = (uintptr_t)p[i];
		if ((uintptr_t)p[i] > hi)
			hi = (uintptr_t)p[i];
	}
	/* Blocks do not overlap: each still holds only its own bytes. */
	for (i = 0; i < N; i++) {
		for (j = 0; j < 100; j++)
			ck_assert_int_eq(p[i][j], 0x5a);
		memset(p[i], (int)(i & 0x7f), 100);
	}
	for (i = 0; i < N; i++) {
		for (j = 0; j < 100; j++)
			ck_assert_int_eq(p[i][j], (int)(i & 0x7f));
	}
	/* Not a page each, as before: 200 blocks fit in a few chunks
	 * (200 pages would span at least 800 KiB). */
	ck_assert_uint_lt(hi - lo, 4 * 64 * 1024);
	for (i = 0; i < N; i++)
		secmem_free(p[i]);
	/* Reuse hands back wiped memory. */
	for (i = 0; i < N; i++) {
		p[i] = secmem_alloc(100);
		for (j = 0; j < 100; j++)
			ck_assert_int_eq(p[i][j], 0);
	}
	for (i = 0; i < N; i++)
		secmem_free(p[i]);
	/* Every size up to and past the largest class. */
	for (i = 0; i < 9000; i += 97) {
		q = secmem_alloc(i);
		memset(q, 0x33, i);
		secmem_free(q);
	}
}
END_TEST

/* A shared answer lives while anyone holds it. */
START_TEST(test_secblob)
{
	struct secblob	*b = secblob_new("token\n", 6);

	ck_assert_int_eq(b->refs, 1);
	ck_assert_uint_eq(b->len, 6);
	ck_assert_str_eq(b->data, "token\n");
	ck_assert_ptr_eq(secblob_ref(b), b);
	secblob_unref(b);
	ck_assert_str_eq(b->data, "token\n");	/* still held once */
	secblob_unref(b);
	secblob_unref(NULL);
}
END_TEST

START_TEST(test_secbuf)
{
	struct secbuf	 b = { 0 };
	char		 chunk[37];
	size_t		 i, j, pages = 5 * (size_t)sysconf(_SC_PAGESIZE);

	for (i = 0; b.len < pages; i++) {
		for (j = 0; j < sizeof chunk; j++)
			chunk[j] = (char)('a' + (i + j) % 26);
		secbuf_append(&b, chunk, sizeof chunk);
		ck_assert_uint_eq(b.len, (i + 1) * sizeof chunk);
		ck_assert_uint_gt(b.cap, b.len);
		ck_assert_int_eq(b.data[b.len], '\0');
	}
	/* Every byte is where it was put, across every reallocation. */
	for (i = 0; i < b.len / sizeof chunk; i++) {
		for (j = 0; j < sizeof chunk; j++)
			ck_assert_int_eq(b.data[i * sizeof chunk + j],
			    (char)('a' + (i + j) % 26));
	}
	secbuf_appends(&b, "END");
	ck_assert_str_eq(b.data + b.len - 3, "END");
	ck_assert_uint_eq(strlen(b.data), b.len);
	secbuf_append(&b, "", 0);
	ck_assert_str_eq(b.data + b.len - 3, "END");
	secbuf_reset(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);

	/* Usable again after a reset; one big append. */
	secbuf_appends(&b, "x");
	ck_assert_str_eq(b.data, "x");
	{
		char	*big = xmalloc(pages);

		memset(big, 'y', pages);
		secbuf_append(&b, big, pages);
		ck_assert_uint_eq(b.len, pages + 1);
		ck_assert_int_eq(b.data[pages], 'y');
		ck_assert_int_eq(b.data[pages + 1], '\0');
		free(big);
	}
	secbuf_reset(&b);
	secbuf_reset(&b);
}
END_TEST

/* ---- the issuer's words in an error answer ---- */

/* A text holds no byte below 0x20 and no DEL. */
static int
no_controls(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	}
	return 1;
}

static char *
describe(long status, const char *body, enum conf_format format,
    enum conf_auth auth, const char *secret)
{
	struct conf_client	c;
	char			*out;

	conf_client_defaults(&c);
	c.request_format = format;
	c.client_auth = auth;
	c.secret = (char *)secret;
	out = token_describe_error(status, body, strlen(body), &c);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(no_controls(out), "raw control characters in '%s'", out);
	return out;
}
#define DESCRIBE_IS(status, body, format, want) do {			\
	char *d_ = describe((status), (body), (format), CONF_AUTH_BODY,	\
	    "s3cr3t-Value");						\
	ck_assert_str_eq(d_, (want));					\
	free(d_);							\
} while (0)

START_TEST(test_describe_oauth)
{
	DESCRIBE_IS(401, "{\"error\":\"invalid_client\",\"error_description\":"
	    "\"Invalid client id or secret\",\"error_uri\":\"https://x\"}",
	    CONF_FORMAT_JSON, "invalid_client: Invalid client id or secret "
	    "(wrong credentials, or the issuer's backend is down)");
	DESCRIBE_IS(503, "{\"error\":\"temporarily_unavailable\"}",
	    CONF_FORMAT_JSON, "temporarily_unavailable");
	DESCRIBE_IS(500, "{\"error_description\":\"database down\"}",
	    CONF_FORMAT_JSON, "database down");
	/* The gateway's (hapi's) own errors. */
	DESCRIBE_IS(415, "{\"statusCode\":415,\"error\":\"Unsupported Media "
	    "Type\",\"message\":\"Unsupported Media Type\"}", CONF_FORMAT_FORM,
	    "Unsupported Media Type: Unsupported Media Type");
	DESCRIBE_IS(404, "{\"statusCode\":404,\"error\":\"Not Found\","
	    "\"message\":\"Not Found\"}", CONF_FORMAT_JSON,
	    "Not Found: Not Found");
	/* error_description wins over message; blanks are trimmed. */
	DESCRIBE_IS(400, "{\"error\":\"invalid_scope\",\"error_description\":"
	    "\"  no such scope \\n\",\"message\":\"other\"}", CONF_FORMAT_QUERY,
	    "invalid_scope: no such scope");
}
END_TEST

START_TEST(test_describe_says_nothing)
{
	/* Bodies that say nothing usable: our own words. */
	DESCRIBE_IS(500, "<html><body>502 Bad Gateway</body></html>",
	    CONF_FORMAT_JSON, "server error");
	DESCRIBE_IS(502, "", CONF_FORMAT_JSON, "server error");
	DESCRIBE_IS(401, "", CONF_FORMAT_JSON, "invalid_client (wrong "
	    "credentials, or the issuer's backend is down)");
	DESCRIBE_IS(403, "[\"error\"]", CONF_FORMAT_JSON, "request refused");
	DESCRIBE_IS(403, "{\"error\":42,\"message\":{}}", CONF_FORMAT_JSON,
	    "request refused");
	DESCRIBE_IS(400, "{\"error\":\"\",\"error_description\":\"  \"}",
	    CONF_FORMAT_JSON, "request refused");
	DESCRIBE_IS(400, "{\"error\":\"invalid_request\"", CONF_FORMAT_QUERY,
	    "request refused");
}
END_TEST

START_TEST(test_describe_hint_v1)
{
	static const char	*ugt = "{\"error\":\"unsupported_grant_type\","
	    "\"error_description\":\"Grant type must be client_credentials\"}";
	static const char	*ir = "{\"error\":\"invalid_request\","
	    "\"error_description\":\"Invalid client id or secret\"}";
	char			*d;

	/* A body format meets OpenCRVS 1.x: the hint. */
	d = describe(400, ugt, CONF_FORMAT_JSON, CONF_AUTH_BODY, "x-secret-1");
	ck_assert_str_eq(d, "unsupported_grant_type: Grant type must be "
	    "client_credentials" TOKEN_HINT_QUERY);
	ck_assert_ptr_nonnull(strstr(d, "request_format = query"));
	free(d);
	d = describe(400, ugt, CONF_FORMAT_FORM, CONF_AUTH_BODY, "x-secret-1");
	ck_assert_ptr_nonnull(strstr(d, TOKEN_HINT_QUERY));
	free(d);
	d = describe(400, ir, CONF_FORMAT_JSON, CONF_AUTH_BODY, "x-secret-1");
	ck_assert_ptr_nonnull(strstr(d, TOKEN_HINT_QUERY));
	free(d);
	/* Through Basic, invalid_request is OpenCRVS refusing Basic. */
	d = describe(400, ir, CONF_FORMAT_JSON, CONF_AUTH_BASIC, "x-secret-1");
	ck_assert_ptr_null(strstr(d, "hint"));
	free(d);
	d = describe(400, ugt, CONF_FORMAT_JSON, CONF_AUTH_BASIC, "x-secret-1");
	ck_assert_ptr_nonnull(strstr(d, TOKEN_HINT_QUERY));
	free(d);
	/* Already query, another status, another code: no hint. */
	d = describe(400, ugt, CONF_FORMAT_QUERY, CONF_AUTH_BODY, "x-secret-1");
	ck_assert_ptr_null(strstr(d, "hint"));
	free(d);
	d = describe(401, ugt, CONF_FORMAT_JSON, CONF_AUTH_BODY, "x-secret-1");
	ck_assert_ptr_null(strstr(d, "hint"));
	free(d);
	d = describe(400, "{\"error\":\"invalid_scope\"}", CONF_FORMAT_JSON,
	    CONF_AUTH_BODY, "x-secret-1");
	ck_assert_ptr_null(strstr(d, "hint"));
	free(d);
}
END_TEST

START_TEST(test_describe_escapes_and_cuts)
{
	char	*d, *body, big[4096];

	/* A forged log line and a terminal colour stay visible as text. */
	d = describe(400, "{\"error\":\"bad\\u001b[31m\",\"error_description\":"
	    "\"x\\n2026-01-01 crvs-tokend[1] info: forged\\r\\u0007\"}",
	    CONF_FORMAT_QUERY, CONF_AUTH_BODY, "x-secret-1");
	ck_assert_str_eq(d, "bad\\x1b[31m: x\\n2026-01-01 crvs-tokend[1] info: "
	    "forged\\r\\x07");
	free(d);
	/* A C1 control (U+009B, CSI) and bytes that are not UTF-8. */
	d = describe(400, "{\"error\":\"a\\u009bb\",\"error_description\":"
	    "\"caf\xc3\xa9 \xff\xfe\"}", CONF_FORMAT_QUERY, CONF_AUTH_BODY,
	    "x-secret-1");
	ck_assert_str_eq(d, "a\\xc2\\x9bb: caf\xc3\xa9 \\xff\\xfe");
	free(d);
	/* Long texts are cut, with "...", within the limits. */
	memset(big, 'e', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	body = xasprintf("{\"error\":\"%s\",\"error_description\":\"%s\"}",
	    big, big);
	d = describe(500, body, CONF_FORMAT_JSON, CONF_AUTH_BODY, "x-secret-1");
	ck_assert_uint_eq(strlen(d), TOKEN_ERROR_CODE_SHOWN + 2 +
	    TOKEN_ERROR_DESC_SHOWN);
	ck_assert_ptr_nonnull(strstr(d, "eee...: eee"));
	ck_assert_str_eq(d + strlen(d) - 4, "e...");
	free(d);
	free(body);
}
END_TEST

START_TEST(test_describe_never_quotes_secret)
{
	const char	*secret = "Zq9/+x y%S3cr3t!";
	const char	*bodies[] = {
		/* as it is, percent-encoded (both cases), a part of it */
		"{\"error\":\"invalid_client\",\"error_description\":"
		    "\"unknown secret Zq9/+x y%S3cr3t! for client\"}",
		"{\"error\":\"invalid_client\",\"error_description\":"
		    "\"bad query client_secret=Zq9%2F%2Bx%20y%25S3cr3t%21\"}",
		"{\"error\":\"invalid_client\",\"error_description\":"
		    "\"bad query client_secret=Zq9%2f%2bx%20y%25S3cr3t%21\"}",
		"{\"error\":\"invalid_client\",\"error_description\":"
		    "\"secret starts y%S3cr3t\"}",
		"{\"error\":\"invalid_client\",\"message\":"
		    "\"client_id:Zq9/+x y%S3cr3t!\"}",
	};
	char		*d;
	size_t		 i;

	for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		d = describe(401, bodies[i], CONF_FORMAT_JSON, CONF_AUTH_BODY,
		    secret);
		ck_assert_msg(strstr(d, "S3cr3t") == NULL &&
		    strstr(d, "withheld") != NULL, "body %zu: '%s'", i, d);
		ck_assert_msg(strncmp(d, "invalid_client: (withheld", 25) == 0,
		    "body %zu: the code is still shown: '%s'", i, d);
		free(d);
	}
	/* In the code itself. */
	d = describe(400, "{\"error\":\"Zq9/+x y%S3cr3t!\"}", CONF_FORMAT_JSON,
	    CONF_AUTH_BODY, secret);
	ck_assert_ptr_null(strstr(d, "S3cr3t"));
	free(d);
	/* A secret that escaping would spell out of control characters. */
	d = describe(400, "{\"error\":\"x\",\"error_description\":"
	    "\"ab\\ncdefgh\"}", CONF_FORMAT_JSON, CONF_AUTH_BODY,
	    "ab\\ncdefgh");
	ck_assert_ptr_null(strstr(d, "ab\\ncdefgh"));
	free(d);
	/* Ordinary words are not taken for the secret. */
	d = describe(401, bodies[0], CONF_FORMAT_JSON, CONF_AUTH_BODY,
	    "another-secret-entirely");
	ck_assert_ptr_nonnull(strstr(d, "unknown secret"));
	free(d);
}
END_TEST

START_TEST(test_jwt_scope)
{
	char	*t, *sc;

	t = jwt_iat_exp(T0, T0 + 600);
	sc = token_jwt_scope(t, strlen(t));
	ck_assert_str_eq(sc, "record.read");
	free(sc);
	free(t);
	t = jwt("{\"scope\":[\"record.notify[event=birth|death]\","
	    "\"record.read\",7,\"a\\u001bb\"]}");
	sc = token_jwt_scope(t, strlen(t));
	ck_assert_str_eq(sc, "record.notify[event=birth|death] record.read "
	    "a\\x1bb");
	free(sc);
	free(t);
	t = jwt("{\"scope\":\"openid profile\"}");
	sc = token_jwt_scope(t, strlen(t));
	ck_assert_str_eq(sc, "openid profile");
	free(sc);
	free(t);
	t = jwt("{\"scp\":[\"a\",\"b\"]}");
	sc = token_jwt_scope(t, strlen(t));
	ck_assert_str_eq(sc, "a b");
	free(sc);
	free(t);
	t = jwt("{\"exp\":1}");
	ck_assert_ptr_null(token_jwt_scope(t, strlen(t)));
	free(t);
	t = jwt("{\"scope\":3}");
	ck_assert_ptr_null(token_jwt_scope(t, strlen(t)));
	free(t);
	ck_assert_ptr_null(token_jwt_scope("opaque-abc", 10));
	ck_assert_ptr_null(token_jwt_scope("a.!!!.c", 7));
}
END_TEST

static Suite *
token_suite(void)
{
	Suite	*s = suite_create("token");
	TCase	*tc;

	tc = tcase_create("jwt");
	tcase_add_test(tc, test_b64url_decode);
	tcase_add_test(tc, test_jwt_claims);
	tcase_add_test(tc, test_jwt_claims_opaque);
	tcase_add_test(tc, test_jwt_claims_broken);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_test(tc, test_opencrvs_answer);
	tcase_add_test(tc, test_opencrvs_answer_data_file);
	tcase_add_test(tc, test_local_clock);
	tcase_add_test(tc, test_skewed_local_clock);
	tcase_add_test(tc, test_expires_in);
	tcase_add_test(tc, test_fallback_lifetime);
	tcase_add_test(tc, test_opaque_token);
	tcase_add_test(tc, test_token_type);
	tcase_add_test(tc, test_bad_access_token);
	tcase_add_test(tc, test_token_charset);
	tcase_add_test(tc, test_token_size);
	tcase_add_test(tc, test_not_a_token_answer);
	tcase_add_test(tc, test_bad_jwt);
	tcase_add_test(tc, test_expired_jwt);
	tcase_add_test(tc, test_lifetime_max);
	tcase_add_test(tc, test_result_is_copy);
	tcase_add_test(tc, test_lagging_date);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_describe_oauth);
	tcase_add_test(tc, test_describe_says_nothing);
	tcase_add_test(tc, test_describe_hint_v1);
	tcase_add_test(tc, test_describe_escapes_and_cuts);
	tcase_add_test(tc, test_describe_never_quotes_secret);
	tcase_add_test(tc, test_jwt_scope);
	suite_add_tcase(s, tc);

	tc = tcase_create("secmem");
	tcase_add_test(tc, test_secmem);
	tcase_add_test(tc, test_secmem_slab);
	tcase_add_test(tc, test_secblob);
	tcase_add_test(tc, test_secbuf);
	suite_add_tcase(s, tc);

	tc = tcase_create("regressions");
	tcase_add_test(tc, test_regression_exp_overflow);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return unit_run(token_suite());
}
