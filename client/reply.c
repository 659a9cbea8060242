/*
 * The CLI's reading of crvs-tokend's answers. Everything here treats the
 * answer as untrusted bytes: a daemon that is not ours (or a broken one) may
 * be on the socket. No I/O but the FILEs it is given to print to.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <json-c/json.h>

#include "escape.h"
#include "reply.h"

static int
reply_fail(FILE *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
reply_fail(FILE *err, int code, const char *fmt, ...)
{
	va_list	ap;

	fprintf(err, "crvs-token: ");
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputc('\n', err);
	return code;
}

/*
 * The daemon's words (which may quote the issuer's) made safe for a
 * terminal: control characters escaped as the daemon escapes them. Returns
 * a string the caller frees.
 */
static char *
reply_safe_text(const char *s, FILE *err)
{
	char	*out;

	if (s == NULL)
		s = "";
	if ((out = escape_text(s, strlen(s), 0)) == NULL) {
		reply_fail(err, EX_OSERR, "out of memory");
		exit(EX_OSERR);
	}
	return out;
}

int
reply_token_printable(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	}
	return 1;
}

static int
reply_status_cb(http_parser *p, const char *at, size_t len)
{
	((struct reply *)p->data)->status = (int)p->status_code;
	return 0;
}

static int
reply_body_cb(http_parser *p, const char *at, size_t len)
{
	struct reply	*a = p->data;
	char		*n;

	if (a->len + len + 1 > REPLY_MAX) {
		a->too_big = 1;
		return 1;
	}
	if (a->len + len + 1 > a->cap) {
		/* Not realloc: the old buffer may hold part of a token. */
		if ((n = malloc((a->len + len + 1) * 2)) == NULL)
			return 1;
		if (a->body != NULL) {
			memcpy(n, a->body, a->len);
			explicit_bzero(a->body, a->cap);
			free(a->body);
		}
		a->body = n;
		a->cap = (a->len + len + 1) * 2;
	}
	memcpy(a->body + a->len, at, len);
	a->len += len;
	a->body[a->len] = '\0';
	return 0;
}

static int
reply_complete_cb(http_parser *p)
{
	struct reply	*a = p->data;

	a->status = (int)p->status_code;
	a->complete = 1;
	return 0;
}

void
reply_init(struct reply *a)
{
	memset(a, 0, sizeof *a);
	a->settings.on_status = reply_status_cb;
	a->settings.on_body = reply_body_cb;
	a->settings.on_message_complete = reply_complete_cb;
	http_parser_init(&a->parser, HTTP_RESPONSE);
	a->parser.data = a;
}

int
reply_feed(struct reply *a, const char *buf, size_t n, const char **why)
{
	if (http_parser_execute(&a->parser, &a->settings, buf, n) != n ||
	    a->parser.http_errno != HPE_OK) {
		*why = a->too_big ? "too large" :
		    http_errno_description(HTTP_PARSER_ERRNO(&a->parser));
		return -1;
	}
	return 0;
}

void
reply_free(struct reply *a)
{
	if (a->body != NULL)
		explicit_bzero(a->body, a->cap);
	free(a->body);
	a->body = NULL;
	a->len = a->cap = 0;
}

int
reply_error_exit(const struct reply *a, const char *client, FILE *err)
{
	json_object	*o, *v;
	const char	*code = "", *msg = "no message";
	char		*esc;
	int		 rc;

	o = a->body != NULL ? json_tokener_parse(a->body) : NULL;
	if (o != NULL && json_object_object_get_ex(o, "error", &v))
		code = json_object_get_string(v);
	if (o != NULL && json_object_object_get_ex(o, "message", &v))
		msg = json_object_get_string(v);
	switch (a->status) {
	case 400:
		rc = EX_USAGE;
		break;
	case 403:
		rc = EX_NOPERM;
		break;
	case 404:
		rc = strcmp(code, "unknown_client") == 0 ? EX_NOUSER :
		    EX_UNAVAILABLE;
		break;
	case 503:
	case 504:
		rc = EX_TEMPFAIL;
		break;
	default:
		rc = EX_UNAVAILABLE;
		break;
	}
	esc = reply_safe_text(msg, err);
	reply_fail(err, rc, "%s%s%s", client ? client : "", client ? ": " : "",
	    esc);
	free(esc);
	json_object_put(o);
	return rc;
}

static void
reply_print_status_row(json_object *c, FILE *out, FILE *err)
{
	json_object	*v;
	const char	*keys[] = { "name", "state", "expires_in",
			    "next_refresh", "refreshes", "failures",
			    "last_error" };
	char		*cell[7], num[32], last_error[512];
	const char	*last;
	size_t		 i;
	int64_t		 next;

	for (i = 0; i < 7; i++) {
		if (!json_object_object_get_ex(c, keys[i], &v) || v == NULL)
			cell[i] = reply_safe_text("-", err);
		else if (i == 2 || i == 3) {
			next = json_object_get_int64(v);
			if (i == 3)
				next -= (int64_t)time(NULL);
			snprintf(num, sizeof num, "%s%llds", i == 3 ? "in " :
			    "", (long long)(i == 3 && next < 0 ? 0 : next));
			cell[i] = reply_safe_text(num, err);
		} else
			cell[i] = reply_safe_text(json_object_get_string(v),
			    err);
	}
	last = cell[6];
	/* A reported token still served to others until its replacement. */
	if (json_object_object_get_ex(c, "replacement_pending", &v) &&
	    json_object_get_boolean(v)) {
		snprintf(last_error, sizeof last_error, "replacement pending "
		    "(token reported rejected)%s%.200s",
		    strcmp(cell[6], "-") != 0 ? "; " : "",
		    strcmp(cell[6], "-") != 0 ? cell[6] : "");
		last = last_error;
	}
	fprintf(out, "%-20s %-11s %8s %10s %9s %8s  %s\n", cell[0], cell[1],
	    cell[2], cell[3], cell[4], cell[5], last);
	for (i = 0; i < 7; i++)
		free(cell[i]);
}

int
reply_print_status(const struct reply *a, int one, FILE *out, FILE *err)
{
	json_object	*o, *arr;
	size_t		 i;

	if (a->body == NULL || (o = json_tokener_parse(a->body)) == NULL)
		return reply_fail(err, EX_PROTOCOL, "bad status answer from "
		    "crvs-tokend");
	fprintf(out, "%-20s %-11s %8s %10s %9s %8s  %s\n", "CLIENT", "STATE",
	    "EXPIRES", "REFRESH", "REFRESHES", "FAILURES", "LAST ERROR");
	if (one)
		reply_print_status_row(o, out, err);
	else if (json_object_object_get_ex(o, "clients", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		for (i = 0; i < json_object_array_length(arr); i++)
			reply_print_status_row(json_object_array_get_idx(arr,
			    i), out, err);
	}
	json_object_put(o);
	return 0;
}

void
reply_print_health(const struct reply *a, FILE *out, FILE *err)
{
	json_object	*o, *arr;
	char		*esc;
	size_t		 i;

	if (a->status == 200) {
		fprintf(out, "ok\n");
		return;
	}
	o = a->body != NULL ? json_tokener_parse(a->body) : NULL;
	fprintf(out, "unavailable");
	if (o != NULL && json_object_object_get_ex(o, "unavailable", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		for (i = 0; i < json_object_array_length(arr); i++) {
			esc = reply_safe_text(json_object_get_string(
			    json_object_array_get_idx(arr, i)), err);
			fprintf(out, "%s%s", i ? ", " : ": ", esc);
			free(esc);
		}
	}
	fprintf(out, "\n");
	json_object_put(o);
}

int
reply_print_token(struct reply *a, int header, FILE *out, FILE *err)
{
	while (a->len > 0 && (a->body[a->len - 1] == '\n' ||
	    a->body[a->len - 1] == '\r'))
		a->body[--a->len] = '\0';
	if (a->len == 0)
		return reply_fail(err, EX_PROTOCOL, "empty token from "
		    "crvs-tokend");
	if (!reply_token_printable(a->body, a->len))
		return reply_fail(err, EX_PROTOCOL, "crvs-tokend sent a token "
		    "with characters no token has (spaces, control or "
		    "non-ASCII)");
	fprintf(out, "%s%s\n", header ? "Authorization: Bearer " : "",
	    a->body);
	return 0;
}
