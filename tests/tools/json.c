/*
 * json: the one JSON reader of the test scripts (tests/lib.sh wraps it as
 * json_get, jnum, jstr, jnull, json_field and jwt_claim).  It reads one
 * JSON document on stdin with json-c and prints the value at each PATH on
 * a line of its own: strings without quotes or escapes, null and absent
 * values as an empty line, anything else as JSON.  A PATH is a dotted list
 * of keys and array indexes ("clients.0.name").
 *
 *   json [-t] PATH...      the document on stdin
 *   json --jwt [-t] PATH... a JWT on stdin: the claims of its payload
 *
 * -t prints the type of each value instead (absent, null, string, int,
 * double, boolean, object, array).  A JWT is read from stdin, never from
 * the command line: tokens must not appear in argv.
 *
 * Exit status: 0 when every PATH was there (null counts as there), 1 when
 * one was absent, 2 when stdin is not JSON (or not a JWT) or on bad usage.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define JSON_MAX_INPUT	(16 * 1024 * 1024)

static char *
json_read_stdin(size_t *lenp)
{
	size_t	 len = 0, cap = 4096, n;
	char	*buf = malloc(cap + 1), *nb;

	if (buf == NULL)
		return NULL;
	while ((n = fread(buf + len, 1, cap - len, stdin)) > 0) {
		len += n;
		if (len == cap) {
			if (cap >= JSON_MAX_INPUT ||
			    (nb = realloc(buf, cap * 2 + 1)) == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

/* The payload of a JWT, base64url-decoded, NUL-terminated; NULL if the
 * input is not header.payload.signature. */
static char *
json_jwt_payload(const char *tok)
{
	static const char	 alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const char		*p, *end, *c;
	char			*out;
	size_t			 n = 0;
	unsigned int		 acc = 0;
	int			 bits = 0;

	while (isspace((unsigned char)*tok))
		tok++;
	if ((p = strchr(tok, '.')) == NULL)
		return NULL;
	p++;
	if ((end = strchr(p, '.')) == NULL)
		return NULL;
	if ((out = malloc((size_t)(end - p) + 1)) == NULL)
		return NULL;
	for (; p < end; p++) {
		if (*p == '=')
			break;
		if ((c = strchr(alpha, *p)) == NULL || *p == '\0') {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)(c - alpha);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	return out;
}

/* The value at a dotted PATH; *found says whether it was there. */
static json_object *
json_lookup(json_object *o, const char *path, int *found)
{
	char		*copy = strdup(path), *key, *save = NULL, *endp;
	json_object	*v = o;
	long		 idx;

	*found = 0;
	if (copy == NULL)
		return NULL;
	for (key = strtok_r(copy, ".", &save); key != NULL;
	    key = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(v, json_type_object)) {
			if (!json_object_object_get_ex(v, key, &v))
				goto absent;
		} else if (json_object_is_type(v, json_type_array)) {
			idx = strtol(key, &endp, 10);
			if (*endp != '\0' || idx < 0 ||
			    (size_t)idx >= json_object_array_length(v))
				goto absent;
			v = json_object_array_get_idx(v, (size_t)idx);
		} else
			goto absent;
	}
	free(copy);
	*found = 1;
	return v;
absent:
	free(copy);
	return NULL;
}

int
main(int argc, char **argv)
{
	json_object	*doc, *v;
	char		*in, *payload = NULL;
	size_t		 len;
	int		 a = 1, jwt = 0, types = 0, found, rc = 0;

	for (; a < argc && argv[a][0] == '-'; a++) {
		if (strcmp(argv[a], "--jwt") == 0)
			jwt = 1;
		else if (strcmp(argv[a], "-t") == 0)
			types = 1;
		else {
			fprintf(stderr, "usage: json [--jwt] [-t] PATH...\n");
			return 2;
		}
	}
	if ((in = json_read_stdin(&len)) == NULL) {
		fprintf(stderr, "json: cannot read stdin\n");
		return 2;
	}
	if (jwt) {
		payload = json_jwt_payload(in);
		/* The token is a secret: wipe it once decoded. */
		memset(in, 0, len);
		if (payload == NULL) {
			fprintf(stderr, "json: stdin is not a JWT\n");
			free(in);
			return 2;
		}
	}
	doc = json_tokener_parse(jwt ? payload : in);
	free(payload);
	free(in);
	if (doc == NULL) {
		fprintf(stderr, "json: stdin is not JSON\n");
		return 2;
	}
	for (; a < argc; a++) {
		v = json_lookup(doc, argv[a], &found);
		if (!found)
			rc = 1;
		if (types)
			puts(!found ? "absent" : v == NULL ? "null" :
			    json_type_to_name(json_object_get_type(v)));
		else if (!found || v == NULL)
			puts("");
		else if (json_object_is_type(v, json_type_string))
			puts(json_object_get_string(v));
		else
			puts(json_object_to_json_string_ext(v,
			    JSON_C_TO_STRING_PLAIN));
	}
	json_object_put(doc);
	return rc;
}
