/*
 * Tests of daemon/conf.c: crvs-tokend.conf and clients.d drop-ins.
 *
 * Each test writes its files into a fresh directory (mkdtemp) under one
 * directory that main() creates and removes. "@D@" in a config text stands
 * for the test's directory. Every secret used here contains "s3cr3t", so an
 * error cause can be checked never to hold one.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <check.h>

#include "unit.h"

#include "conf.h"
#include "secmem.h"
#include "util.h"

#define MAIN_CONF	"crvs-tokend.conf"
#define SECRET_MARK	"s3cr3t"

/* Four lines: a complete client whose secret is @D@/secret. */
#define CLIENT(name)							\
	"[client " name "]\n"						\
	"token_url = https://gateway.example.org/auth/token\n"		\
	"client_id = id-" name "\n"					\
	"client_secret_file = @D@/secret\n"

static char	*top_tmp;	/* made by main() */
static char	*tdir;		/* this test's directory */

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Returns text with every "@D@" replaced by the test directory; free it. */
static char *
subst(const char *text)
{
	size_t		 dlen = strlen(tdir), n = 0;
	const char	*s;
	char		*out, *o;

	for (s = text; (s = strstr(s, "@D@")) != NULL; s += 3)
		n++;
	out = xmalloc(strlen(text) + n * dlen + 1);
	for (o = out, s = text; *s != '\0';) {
		if (strncmp(s, "@D@", 3) == 0) {
			memcpy(o, tdir, dlen);
			o += dlen;
			s += 3;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

/* Writes tdir/name with mode; returns its path, which the caller frees. */
static char *
put(const char *name, mode_t mode, const char *text)
{
	char	*path = xasprintf("%s/%s", tdir, name), *body = subst(text);
	FILE	*fp;

	fp = fopen(path, "w");
	ck_assert_msg(fp != NULL, "cannot create %s: %s", path,
	    strerror(errno));
	ck_assert_int_eq(fputs(body, fp) >= 0, 1);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	free(body);
	return path;
}

static void
mkdir_in(const char *name, mode_t mode)
{
	char	*path = xasprintf("%s/%s", tdir, name);

	ck_assert_msg(mkdir(path, mode) == 0, "mkdir %s: %s", path,
	    strerror(errno));
	free(path);
}

static void
setup(void)
{
	char	*secret;

	tdir = xasprintf("%s/t.XXXXXX", top_tmp);
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	secret = put("secret", 0600, SECRET_MARK "-file\n");
	free(secret);
}

static void
teardown(void)
{
	unsetenv("CREDENTIALS_DIRECTORY");
	rm_rf(tdir);
	free(tdir);
	tdir = NULL;
}

/* Writes text as the main config with mode, then loads it. */
static struct conf *
load_mode(const char *text, mode_t mode, char **cause)
{
	char		*path = put(MAIN_CONF, mode, text);
	struct conf	*conf;

	*cause = NULL;
	conf = conf_load(path, cause);
	free(path);
	return conf;
}

static struct conf *
load(const char *text, char **cause)
{
	return load_mode(text, 0600, cause);
}

/* Loads text and fails the test unless it loads. */
static struct conf *
load_ok(int at, const char *text)
{
	struct conf	*conf;
	char		*cause;

	conf = load(text, &cause);
	ck_assert_msg(conf != NULL, "line %d: config refused: %s", at, cause);
	ck_assert_ptr_null(cause);
	return conf;
}
#define LOAD_OK(text)	load_ok(__LINE__, (text))

/*
 * Checks an error cause: it starts with "DIR/FILE:LINE: ", says what, and
 * holds no secret.
 */
static void
check_cause(int at, const char *cause, const char *file, int line,
    const char *what)
{
	char	*where;

	ck_assert_msg(cause != NULL, "line %d: no cause", at);
	where = xasprintf("%s/%s:%d: ", tdir, file, line);
	ck_assert_msg(strncmp(cause, where, strlen(where)) == 0,
	    "line %d: cause '%s' does not start with '%s'", at, cause, where);
	ck_assert_msg(strstr(cause, what) != NULL,
	    "line %d: cause '%s' does not say '%s'", at, cause, what);
	ck_assert_msg(strstr(cause, SECRET_MARK) == NULL,
	    "line %d: cause '%s' holds a secret", at, cause);
	free(where);
}

/* Loads text (mode 0600) and expects an error at FILE:LINE saying what. */
static void
load_error(int at, const char *text, mode_t mode, const char *file,
    int line, const char *what)
{
	struct conf	*conf;
	char		*cause;

	conf = load_mode(text, mode, &cause);
	ck_assert_msg(conf == NULL, "line %d: config accepted; expected "
	    "'%s'", at, what);
	check_cause(at, cause, file, line, what);
	free(cause);
}
#define LOAD_ERROR(text, line, what)					\
	load_error(__LINE__, (text), 0600, MAIN_CONF, (line), (what))
#define LOAD_ERROR_MODE(text, mode, line, what)				\
	load_error(__LINE__, (text), (mode), MAIN_CONF, (line), (what))
#define LOAD_ERROR_IN(text, file, line, what)				\
	load_error(__LINE__, (text), 0600, (file), (line), (what))

/* A path under the test directory; free it. */
static char *
in_tdir(const char *name)
{
	return xasprintf("%s/%s", tdir, name);
}

/* ---- valid configurations ---- */

static char *
read_data(const char *name)
{
	const char	*top = getenv("top_srcdir");
	char		*path, *buf;
	FILE		*fp;
	long		 n;

	if (top == NULL || *top == '\0')
		top = ".";
	path = xasprintf("%s/tests/unit/data/%s", top, name);
	fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	buf = xmalloc((size_t)n + 1);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	free(path);
	return buf;
}

START_TEST(test_full_config)
{
	struct conf		*conf;
	struct conf_client	*c;
	char			*text, *p, *ca, *cred;

	mkdir_in("secrets", 0700);
	free(put("secrets/dhis2", 0600, SECRET_MARK "-dhis2\n"));
	mkdir_in("creds", 0700);
	free(put("creds/form", 0400, SECRET_MARK "-cred"));
	ca = put("ca.pem", 0644, "-----BEGIN CERTIFICATE-----\n");
	cred = in_tdir("creds");
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", cred, 1), 0);

	text = read_data("full.conf");
	conf = LOAD_OK(text);

	p = in_tdir(MAIN_CONF);
	ck_assert_str_eq(conf->path, p);
	free(p);
	p = in_tdir("tokend.sock");
	ck_assert_str_eq(conf->socket_path, p);
	free(p);
	ck_assert_int_eq(conf->socket_mode, 0600);
	ck_assert_str_eq(conf->socket_group, "root");
	ck_assert_int_eq(conf->socket_gid, 0);
	ck_assert_int_eq(conf->log_level, LOG_DEBUG);
	ck_assert_uint_eq(conf->nclients, 3);
	ck_assert_str_eq(conf->clients[0]->name, "dhis2");
	ck_assert_str_eq(conf->clients[1]->name, "legacy-1.x");
	ck_assert_str_eq(conf->clients[2]->name, "form_client.v2");

	c = conf_find_client(conf, "dhis2");
	ck_assert_ptr_eq(c, conf->clients[0]);
	p = in_tdir(MAIN_CONF);
	ck_assert_str_eq(c->file, p);
	free(p);
	ck_assert_int_eq(c->line, 8);
	ck_assert_str_eq(c->token_url,
	    "https://gateway.opencrvs.example.org/auth/token");
	ck_assert_str_eq(c->client_id, "2fd153ab-86c8-45fb-990d-721140e46061");
	ck_assert_str_eq(c->secret, SECRET_MARK "-dhis2");
	p = xasprintf("file %s/secrets/dhis2", tdir);
	ck_assert_str_eq(c->secret_source, p);
	free(p);
	ck_assert_int_eq(c->request_format, CONF_FORMAT_JSON);
	ck_assert_int_eq(c->client_auth, CONF_AUTH_BODY);
	ck_assert_ptr_null(c->scope);
	ck_assert_str_eq(c->allow_users, "root, 4242");
	ck_assert_uint_eq(c->n_allow_uids, 2);
	ck_assert_uint_eq(c->allow_uids[0], 0);
	ck_assert_uint_eq(c->allow_uids[1], 4242);
	ck_assert_str_eq(c->allow_groups, "root 4343");
	ck_assert_uint_eq(c->n_allow_gids, 2);
	ck_assert_uint_eq(c->allow_gids[0], 0);
	ck_assert_uint_eq(c->allow_gids[1], 4343);
	ck_assert_int_eq(c->refresh_margin, -1);
	ck_assert_int_eq(c->min_valid, 30);
	ck_assert_int_eq(c->fallback_lifetime, 600);
	ck_assert_int_eq(c->timeout, 10);
	ck_assert_int_eq(c->refresh_min_interval, 10);
	ck_assert_ptr_null(c->ca_file);

	c = conf_find_client(conf, "legacy-1.x");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->line, 23);
	ck_assert_str_eq(c->token_url, "http://127.0.0.1:7070/auth/token");
	ck_assert_str_eq(c->client_id, "legacy");
	ck_assert_str_eq(c->secret, SECRET_MARK "-inline");
	ck_assert_str_eq(c->secret_source, "inline");
	ck_assert_int_eq(c->request_format, CONF_FORMAT_QUERY);
	ck_assert_int_eq(c->client_auth, CONF_AUTH_BASIC);
	ck_assert_str_eq(c->scope, "record.read record.notify");
	ck_assert_ptr_null(c->allow_users);
	ck_assert_ptr_null(c->allow_groups);
	ck_assert_uint_eq(c->n_allow_uids, 0);
	ck_assert_uint_eq(c->n_allow_gids, 0);
	ck_assert_int_eq(c->refresh_margin, 120);
	ck_assert_int_eq(c->min_valid, 45);
	ck_assert_int_eq(c->fallback_lifetime, 900);
	ck_assert_int_eq(c->timeout, 20);
	ck_assert_str_eq(c->ca_file, ca);

	c = conf_find_client(conf, "form_client.v2");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->line, 36);
	ck_assert_str_eq(c->token_url, "http://localhost:8080/token");
	ck_assert_str_eq(c->secret, SECRET_MARK "-cred");
	ck_assert_str_eq(c->secret_source, "credential form");
	ck_assert_int_eq(c->request_format, CONF_FORMAT_FORM);

	ck_assert_ptr_null(conf_find_client(conf, "nobody"));
	ck_assert_ptr_null(conf_find_client(conf, "DHIS2"));
	conf_free(conf);
	free(text);
	free(ca);
	free(cred);
}
END_TEST

START_TEST(test_defaults)
{
	struct conf		*conf;
	struct conf_client	*c;

	conf = LOAD_OK(CLIENT("a"));
	ck_assert_str_eq(conf->socket_path, CONF_DEFAULT_SOCKET);
	ck_assert_str_eq(conf->socket_path,
	    "/run/crvs-tokend/crvs-tokend.sock");
	ck_assert_int_eq(conf->socket_mode, 0660);
	ck_assert_ptr_null(conf->socket_group);
	ck_assert_int_eq(conf->socket_gid, (gid_t)-1);
	ck_assert_int_eq(conf->log_level, LOG_INFO);
	ck_assert_uint_eq(conf->nclients, 1);
	c = conf->clients[0];
	ck_assert_str_eq(c->name, "a");
	ck_assert_int_eq(c->line, 1);
	ck_assert_str_eq(c->secret, SECRET_MARK "-file");
	ck_assert_int_eq(c->request_format, CONF_FORMAT_JSON);
	ck_assert_int_eq(c->client_auth, CONF_AUTH_BODY);
	ck_assert_ptr_null(c->scope);
	ck_assert_ptr_null(c->allow_users);
	ck_assert_ptr_null(c->allow_groups);
	ck_assert_ptr_null(c->ca_file);
	ck_assert_int_eq(c->refresh_margin, -1);
	ck_assert_int_eq(c->min_valid, 30);
	ck_assert_int_eq(c->fallback_lifetime, 600);
	ck_assert_int_eq(c->timeout, 10);
	ck_assert_ptr_null(c->token_file);
	ck_assert_int_eq(c->token_file_format, CONF_FILE_TOKEN);
	ck_assert_int_eq(c->token_file_mode, 0640);
	ck_assert_ptr_null(c->token_file_group);
	ck_assert_int_eq(c->token_file_gid, (gid_t)-1);
	conf_free(conf);
}
END_TEST

START_TEST(test_token_file)
{
	struct conf		*conf;
	struct conf_client	*c;

	conf = LOAD_OK(CLIENT("a")
	    "token_file = /run/crvs-tokend/a.token\n"
	    "token_file_format = json\n"
	    "token_file_mode = 0600\n"
	    "token_file_group = root\n"
	    CLIENT("b")
	    "token_file = /run/crvs-tokend/b.token\n"
	    "token_file_format = header\n"
	    "token_file_group = 0\n"
	    CLIENT("c")
	    "token_file =\n");
	c = conf_find_client(conf, "a");
	ck_assert_str_eq(c->token_file, "/run/crvs-tokend/a.token");
	ck_assert_int_eq(c->token_file_format, CONF_FILE_JSON);
	ck_assert_int_eq(c->token_file_mode, 0600);
	ck_assert_str_eq(c->token_file_group, "root");
	ck_assert_int_eq(c->token_file_gid, 0);
	c = conf_find_client(conf, "b");
	ck_assert_int_eq(c->token_file_format, CONF_FILE_HEADER);
	ck_assert_int_eq(c->token_file_mode, 0640);
	ck_assert_int_eq(c->token_file_gid, 0);
	/* Empty: no file, as for the other optional keys. */
	ck_assert_ptr_null(conf_find_client(conf, "c")->token_file);
	conf_free(conf);
}
END_TEST

/* What only the whole configuration can tell names the client's line. */
START_TEST(test_token_file_whole)
{
	LOAD_ERROR(CLIENT("a") "token_file_mode = 0600\n", 1,
	    "[client a] sets token_file_* keys but no token_file");
	LOAD_ERROR(CLIENT("a") "token_file_format = json\n", 1,
	    "no token_file");
	LOAD_ERROR(CLIENT("a") "token_file = /run/t/x\n"
	    CLIENT("b") "token_file = /run/t/x\n", 6,
	    "[client b] token_file /run/t/x is already [client a]'s");
	LOAD_ERROR("[daemon]\nsocket = /run/t/s\n"
	    CLIENT("a") "token_file = /run/t/s\n", 3,
	    "token_file is the socket's path");
}
END_TEST

START_TEST(test_empty_config)
{
	struct conf	*conf;

	/* Only comments and blank lines: no clients, daemon defaults. */
	conf = LOAD_OK("# nothing yet\n\n; still nothing\n");
	ck_assert_uint_eq(conf->nclients, 0);
	ck_assert_str_eq(conf->socket_path, CONF_DEFAULT_SOCKET);
	conf_free(conf);
}
END_TEST

START_TEST(test_inline_comments)
{
	struct conf		*conf;
	struct conf_client	*c;

	conf = LOAD_OK(
	    "# a comment\n"
	    "; another\n"
	    "[daemon]   # the daemon\n"
	    "log_level = warning # less\n"
	    "socket_mode = 0640 ; owner and group\n"
	    "[client a] ; first client\n"
	    "token_url = https://g.example.org/auth/token   # the gateway\n"
	    "client_id = id-a;not#a-comment\n"
	    "client_secret_file = @D@/secret ; mode 0600\n"
	    "scope = record.read # record.notify\n"
	    "timeout = 15 ;\n"
	    "min_valid = 40\t# tab before\n");
	ck_assert_int_eq(conf->log_level, LOG_WARNING);
	ck_assert_int_eq(conf->socket_mode, 0640);
	c = conf_find_client(conf, "a");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->token_url, "https://g.example.org/auth/token");
	/* Without whitespace before it, ; or # is part of the value. */
	ck_assert_str_eq(c->client_id, "id-a;not#a-comment");
	ck_assert_str_eq(c->secret, SECRET_MARK "-file");
	ck_assert_str_eq(c->scope, "record.read");
	ck_assert_int_eq(c->timeout, 15);
	ck_assert_int_eq(c->min_valid, 40);
	conf_free(conf);
}
END_TEST

START_TEST(test_values)
{
	struct conf		*conf;
	struct conf_client	*c;

	conf = LOAD_OK(
	    "[daemon]\n"
	    "socket_mode = 660\n"
	    "log_level = ERROR\n"
	    CLIENT("a")
	    "refresh_margin = 1\n"
	    "min_valid = 0\n"
	    "fallback_lifetime = 86400\n"
	    "timeout = 300\n"
	    "refresh_min_interval = 0\n"
	    "allow_users = 0\n"
	    CLIENT("b")
	    "refresh_margin = 86400\n"
	    "min_valid = 3600\n"
	    "fallback_lifetime = 3601\n"
	    "timeout = 1\n"
	    "request_format = query\n"
	    "client_auth = basic\n"
	    "scope = a:b c\n");
	ck_assert_int_eq(conf->socket_mode, 0660);
	ck_assert_int_eq(conf->log_level, LOG_ERR);
	c = conf_find_client(conf, "a");
	ck_assert_int_eq(c->refresh_margin, 1);
	ck_assert_int_eq(c->min_valid, 0);
	ck_assert_int_eq(c->fallback_lifetime, 86400);
	ck_assert_int_eq(c->timeout, 300);
	ck_assert_int_eq(c->refresh_min_interval, 0);
	ck_assert_uint_eq(c->n_allow_uids, 1);
	ck_assert_uint_eq(c->allow_uids[0], 0);
	c = conf_find_client(conf, "b");
	ck_assert_int_eq(c->line, 14);
	ck_assert_int_eq(c->refresh_margin, 86400);
	ck_assert_int_eq(c->min_valid, 3600);
	ck_assert_int_eq(c->fallback_lifetime, 3601);
	ck_assert_int_eq(c->timeout, 1);
	ck_assert_int_eq(c->request_format, CONF_FORMAT_QUERY);
	ck_assert_int_eq(c->client_auth, CONF_AUTH_BASIC);
	ck_assert_str_eq(c->scope, "a:b c");
	conf_free(conf);
}
END_TEST

START_TEST(test_dropins_in_name_order)
{
	struct conf	*conf;
	char		*p;
	size_t		 i;
	const char	*want[] = { "main", "b", "c", "z" };

	mkdir_in("clients.d", 0755);
	free(put("clients.d/20-c.conf", 0600, CLIENT("c")));
	free(put("clients.d/10-b.conf", 0600, "# client b\n\n" CLIENT("b")));
	free(put("clients.d/9-z.conf", 0600, CLIENT("z")));
	/* None of these is read: each would fail if it were. */
	free(put("clients.d/README", 0600, "not an ini file\n"));
	free(put("clients.d/30-d.conf.disabled", 0600, CLIENT("main")));
	free(put("clients.d/.hidden.conf", 0600, CLIENT("main")));
	free(put("clients.d/40-e.conf~", 0600, "[bogus]\nx = y\n"));
	free(put("clients.d/.conf", 0600, "[bogus]\nx = y\n"));
	mkdir_in("clients.d/sub", 0755);
	free(put("clients.d/sub/50-f.conf", 0600, CLIENT("main")));

	conf = LOAD_OK("[daemon]\nlog_level = info\n" CLIENT("main"));
	ck_assert_uint_eq(conf->nclients, 4);
	for (i = 0; i < 4; i++)
		ck_assert_str_eq(conf->clients[i]->name, want[i]);
	p = xasprintf("%s/clients.d/10-b.conf", tdir);
	ck_assert_str_eq(conf->clients[1]->file, p);
	ck_assert_int_eq(conf->clients[1]->line, 3);
	free(p);
	p = xasprintf("%s/clients.d/9-z.conf", tdir);
	ck_assert_str_eq(conf->clients[3]->file, p);
	ck_assert_int_eq(conf->clients[3]->line, 1);
	free(p);
	p = in_tdir(MAIN_CONF);
	ck_assert_str_eq(conf->clients[0]->file, p);
	ck_assert_int_eq(conf->clients[0]->line, 3);
	free(p);
	conf_free(conf);
}
END_TEST

START_TEST(test_dropin_only_clients)
{
	struct conf	*conf;

	/* The main file may hold only [daemon]; clients come from drop-ins. */
	mkdir_in("clients.d", 0755);
	free(put("clients.d/dhis2.conf", 0600, CLIENT("dhis2")));
	conf = LOAD_OK("[daemon]\nsocket_mode = 0666\n");
	ck_assert_uint_eq(conf->nclients, 1);
	ck_assert_str_eq(conf->clients[0]->name, "dhis2");
	ck_assert_int_eq(conf->socket_mode, 0666);
	conf_free(conf);
}
END_TEST

START_TEST(test_dropin_error_names_dropin)
{
	mkdir_in("clients.d", 0755);
	free(put("clients.d/10-b.conf", 0600,
	    "# b\n"
	    CLIENT("b")
	    "scpoe = record.read\n"));
	LOAD_ERROR_IN(CLIENT("a"), "clients.d/10-b.conf", 6,
	    "unknown key 'scpoe'");
	/* conf_finish errors name the drop-in too. */
	free(put("clients.d/10-b.conf", 0600,
	    "\n"
	    "[client b]\n"
	    "token_url = https://g.example.org/token\n"
	    "client_secret_file = @D@/secret\n"));
	LOAD_ERROR_IN(CLIENT("a"), "clients.d/10-b.conf", 2,
	    "[client b] needs client_id");
}
END_TEST

START_TEST(test_parse_file)
{
	struct conf	*conf;
	char		*p1, *p2, *cause = NULL, *want;

	p1 = put("one.conf", 0600, CLIENT("one"));
	p2 = put("two.conf", 0600, "[daemon]\nlog_level = debug\n"
	    CLIENT("two"));
	conf = conf_new();
	ck_assert_int_eq(conf_parse_file(conf, p1, &cause), 0);
	ck_assert_int_eq(conf_parse_file(conf, p2, &cause), 0);
	ck_assert_ptr_null(cause);
	ck_assert_uint_eq(conf->nclients, 2);
	ck_assert_str_eq(conf->clients[1]->name, "two");
	ck_assert_str_eq(conf->clients[1]->file, p2);
	ck_assert_int_eq(conf->clients[1]->line, 3);
	ck_assert_int_eq(conf->log_level, LOG_DEBUG);
	ck_assert_int_eq(conf_finish(conf, &cause), 0);
	ck_assert_ptr_null(cause);

	/* The same file again: every client is a duplicate. */
	ck_assert_int_eq(conf_parse_file(conf, p1, &cause), -1);
	want = xasprintf("%s:1: duplicate client 'one' (first defined at "
	    "%s:1)", p1, p1);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
	conf_free(conf);

	/* A file that is not there. */
	free(p1);
	p1 = in_tdir("missing.conf");
	conf = conf_new();
	cause = NULL;
	ck_assert_int_eq(conf_parse_file(conf, p1, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, p1) != NULL, "cause '%s'", cause);
	ck_assert_msg(strstr(cause, "No such file") != NULL, "cause '%s'",
	    cause);
	free(cause);
	conf_free(conf);

	/* conf_finish on a client without a secret. */
	free(p2);
	p2 = put("three.conf", 0600, "[client c]\n"
	    "token_url = https://g.example.org/t\nclient_id = x\n");
	conf = conf_new();
	cause = NULL;
	ck_assert_int_eq(conf_parse_file(conf, p2, &cause), 0);
	ck_assert_int_eq(conf_finish(conf, &cause), -1);
	want = xasprintf("%s:1: [client c] needs client_secret_file, "
	    "client_secret_credential or client_secret", p2);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
	conf_free(conf);
	free(p1);
	free(p2);
}
END_TEST

START_TEST(test_load_missing_file)
{
	struct conf	*conf;
	char		*path = in_tdir("nope.conf"), *cause = NULL;

	conf = conf_load(path, &cause);
	ck_assert_ptr_null(conf);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strncmp(cause, path, strlen(path)) == 0, "cause '%s'",
	    cause);
	free(cause);
	free(path);
}
END_TEST

START_TEST(test_allow_lists)
{
	struct conf		*conf;
	struct conf_client	*c;

	conf = LOAD_OK(CLIENT("a")
	    "allow_users = root,4242 65534\t1\n"
	    "allow_groups = 4343, root\n");
	c = conf->clients[0];
	ck_assert_uint_eq(c->n_allow_uids, 4);
	ck_assert_uint_eq(c->allow_uids[0], 0);
	ck_assert_uint_eq(c->allow_uids[1], 4242);
	ck_assert_uint_eq(c->allow_uids[2], 65534);
	ck_assert_uint_eq(c->allow_uids[3], 1);
	ck_assert_uint_eq(c->n_allow_gids, 2);
	ck_assert_uint_eq(c->allow_gids[0], 4343);
	ck_assert_uint_eq(c->allow_gids[1], 0);
	ck_assert_str_eq(c->allow_users, "root,4242 65534\t1");
	conf_free(conf);

	LOAD_ERROR(CLIENT("a") "allow_users = root, nosuchuser-xq\n", 5,
	    "unknown user 'nosuchuser-xq'");
	LOAD_ERROR(CLIENT("a") "allow_groups = nosuchgroup-xq\n", 5,
	    "unknown group 'nosuchgroup-xq'");
	/* (uid_t)-1 means "no user" to the kernel: not a valid entry. */
	LOAD_ERROR(CLIENT("a") "allow_users = 4294967295\n", 5,
	    "unknown user '4294967295'");
	LOAD_ERROR(CLIENT("a") "allow_users = -1\n", 5, "unknown user '-1'");
}
END_TEST

/* Loopback is what inet_pton reads as 127.0.0.0/8 or ::1, or "localhost". */
START_TEST(test_is_loopback)
{
	static const char *yes[] = {
		"127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "[::1]",
		"localhost", "LocalHost", "0:0:0:0:0:0:0:1", "[0::1]",
	};
	static const char *no[] = {
		"127.0.0.300", "127.1.2.3.4", "127.0.0.1.", "127.1", "127.",
		"127", "127.0.0.01", "0127.0.0.1", "128.0.0.1", "126.255.255.255",
		"localhost.", "localhost.example.org", "127.0.0.1.nip.io",
		"::2", "[::1", "::1]", "[[::1]]", "::ffff:127.0.0.1", "", "[]",
		"0.0.0.0", "::",
	};
	size_t	 i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++)
		ck_assert_msg(conf_is_loopback(yes[i]), "'%s' is loopback",
		    yes[i]);
	for (i = 0; i < sizeof no / sizeof no[0]; i++)
		ck_assert_msg(!conf_is_loopback(no[i]), "'%s' is not loopback",
		    no[i]);
}
END_TEST

START_TEST(test_loopback_urls_accepted)
{
	struct conf	*conf;

	conf = LOAD_OK(
	    "[client v4]\n"
	    "token_url = http://127.0.0.1:4000/auth/token\n"
	    "client_id = x\nclient_secret_file = @D@/secret\n"
	    "[client name]\n"
	    "token_url = http://localhost/auth/token\n"
	    "client_id = x\nclient_secret_file = @D@/secret\n"
	    "[client v6]\n"
	    "token_url = http://[::1]:4000/auth/token\n"
	    "client_id = x\nclient_secret_file = @D@/secret\n"
	    "[client tls]\n"
	    "token_url = https://203.0.113.7/auth/token\n"
	    "client_id = x\nclient_secret_file = @D@/secret\n");
	ck_assert_uint_eq(conf->nclients, 4);
	ck_assert_str_eq(conf->clients[2]->token_url,
	    "http://[::1]:4000/auth/token");
	conf_free(conf);
}
END_TEST

/* ---- errors, each naming file and line ---- */

START_TEST(test_unknown_key)
{
	LOAD_ERROR(CLIENT("dhis2") "scpoe = record.read\n", 5,
	    "unknown key 'scpoe'");
	LOAD_ERROR("[daemon]\n\nsockett = /run/x.sock\n", 3,
	    "unknown key 'sockett'");
	/* A client key in [daemon] is unknown there. */
	LOAD_ERROR("[daemon]\nclient_secret = " SECRET_MARK "-x\n", 2,
	    "unknown key 'client_secret'");
}
END_TEST

START_TEST(test_unknown_section)
{
	LOAD_ERROR(
	    "[daemon]\n"
	    "log_level = info\n"
	    "\n"
	    "# next\n"
	    "[clients dhis2]\n"
	    "; a comment\n"
	    "token_url = https://g.example.org/t\n", 5,
	    "unknown section [clients dhis2]");
	LOAD_ERROR("[client]\ntoken_url = https://g.example.org/t\n", 1,
	    "unknown section [client]");
	LOAD_ERROR("[Daemon]\nlog_level = info\n", 1,
	    "unknown section [Daemon]");
}
END_TEST

START_TEST(test_key_outside_section)
{
	LOAD_ERROR("# top\nlog_level = info\n[daemon]\n", 2,
	    "outside of a section");
}
END_TEST

START_TEST(test_syntax_error)
{
	LOAD_ERROR("[daemon]\nlog_level info\n", 2, "syntax error");
	LOAD_ERROR(CLIENT("a") "\n\n[client b\n", 7, "syntax error");
}
END_TEST

START_TEST(test_bad_client_name)
{
	LOAD_ERROR("[client dh is2]\nclient_id = x\n", 1,
	    "invalid client name 'dh is2'");
	LOAD_ERROR("[daemon]\n[client a/b]\nclient_id = x\n", 2,
	    "invalid client name 'a/b'");
	LOAD_ERROR("[client ..]\nclient_id = x\n", 1,
	    "invalid client name '..'");
	LOAD_ERROR("[client dhis2!]\nclient_id = x\n", 1,
	    "invalid client name 'dhis2!'");
	LOAD_ERROR("[client ]\nclient_id = x\n", 1, "invalid client name ''");
}
END_TEST

/* A client of n characters named "nnn...": text and name; free both. */
static void
long_client(size_t n, char **text, char **name)
{
	*name = xmalloc(n + 1);
	memset(*name, 'n', n);
	(*name)[n] = '\0';
	*text = xasprintf("[daemon]\n[client %s]\n"
	    "token_url = https://g.example.org/t\nclient_id = x\n"
	    "client_secret_file = @D@/secret\n", *name);
}

START_TEST(test_client_name_42)
{
	struct conf	*conf;
	char		*text, *name;

	long_client(42, &text, &name);
	conf = LOAD_OK(text);
	ck_assert_str_eq(conf->clients[0]->name, name);
	conf_free(conf);
	free(text);
	free(name);
}
END_TEST

/*
 * Regression (fixed): libinih copies a section
 * name into a 50-byte buffer (MAX_SECTION), so "[client NAME]" keeps only
 * 42 characters of NAME. A valid name of 43 to 64 characters is silently
 * cut, and one longer than 64 is not refused.
 */
START_TEST(test_regression_client_name_64)
{
	struct conf	*conf;
	char		*text, *name;

	long_client(CONF_NAME_MAX, &text, &name);
	conf = LOAD_OK(text);
	ck_assert_str_eq(conf->clients[0]->name, name);
	conf_free(conf);
	free(text);
	free(name);
}
END_TEST

START_TEST(test_regression_client_name_65)
{
	char	*text, *name;

	long_client(CONF_NAME_MAX + 1, &text, &name);
	LOAD_ERROR(text, 2, "invalid client name");
	free(text);
	free(name);
}
END_TEST

START_TEST(test_duplicate_client)
{
	char	*want;

	want = xasprintf("duplicate client 'a' (first defined at %s/%s:1)",
	    tdir, MAIN_CONF);
	LOAD_ERROR(CLIENT("a") "\n" CLIENT("b") "\n" CLIENT("a"), 11, want);
	free(want);
}
END_TEST

START_TEST(test_duplicate_client_in_dropin)
{
	char	*want;

	mkdir_in("clients.d", 0755);
	free(put("clients.d/50-a.conf", 0600, "# again\n" CLIENT("a")));
	want = xasprintf("duplicate client 'a' (first defined at %s/%s:3)",
	    tdir, MAIN_CONF);
	LOAD_ERROR_IN("[daemon]\n\n" CLIENT("a"), "clients.d/50-a.conf", 2,
	    want);
	free(want);

	/* Between two drop-ins as well. */
	free(put("clients.d/50-a.conf", 0600, CLIENT("x")));
	free(put("clients.d/60-b.conf", 0600, "\n\n\n" CLIENT("x")));
	want = xasprintf("duplicate client 'x' (first defined at "
	    "%s/clients.d/50-a.conf:1)", tdir);
	LOAD_ERROR_IN(CLIENT("a"), "clients.d/60-b.conf", 4, want);
	free(want);
}
END_TEST

START_TEST(test_duplicate_key)
{
	LOAD_ERROR(CLIENT("a") "\nclient_id = other\n", 6,
	    "duplicate key 'client_id'");
	LOAD_ERROR("[daemon]\nlog_level = info\nlog_level = debug\n", 3,
	    "duplicate key 'log_level'");
	/* Keys are per section: the same key in two clients is fine. */
	conf_free(LOAD_OK(CLIENT("a") "timeout = 5\n" CLIENT("b")
	    "timeout = 6\n"));
}
END_TEST

/* One bad "key = value" line in a section; the error is on line 2. */
struct bad_value {
	const char	*section;
	const char	*line;
	const char	*what;
};

static const struct bad_value bad_values[] = {
	{ "client a", "request_format = xml",
	    "request_format must be json, form or query, not 'xml'" },
	{ "client a", "request_format =", "request_format must be" },
	{ "client a", "client_auth = digest",
	    "client_auth must be body or basic, not 'digest'" },
	{ "client a", "min_valid = -1",
	    "must be a whole number from 0 to 3600" },
	{ "client a", "min_valid = 3601", "from 0 to 3600" },
	{ "client a", "min_valid = 30s", "from 0 to 3600" },
	{ "client a", "min_valid =", "from 0 to 3600" },
	{ "client a", "fallback_lifetime = 0", "from 1 to 86400" },
	{ "client a", "fallback_lifetime = 86401", "from 1 to 86400" },
	{ "client a", "fallback_lifetime = 1e3", "from 1 to 86400" },
	{ "client a", "timeout = 0", "from 1 to 300" },
	{ "client a", "timeout = 301", "from 1 to 300" },
	{ "client a", "refresh_min_interval = -1", "from 0 to 3600" },
	{ "client a", "refresh_min_interval = 3601", "from 0 to 3600" },
	{ "client a", "timeout = 99999999999999999999", "from 1 to 300" },
	{ "client a", "refresh_margin = 0", "from 1 to 86400" },
	{ "client a", "refresh_margin = 86401", "from 1 to 86400" },
	{ "client a", "refresh_margin = a third", "from 1 to 86400" },
	{ "client a", "token_url = http://gateway.example.org/auth/token",
	    "loopback" },
	{ "client a", "token_url = http://127.0.0.1.nip.io/auth/token",
	    "loopback" },
	{ "client a", "token_url = http://127.0.0.300/auth/token",
	    "loopback" },
	{ "client a", "token_url = http://127.1.2.3.4/auth/token",
	    "loopback" },
	{ "client a", "token_url = http://127.0.0.1./auth/token",
	    "loopback" },
	{ "client a", "token_url = ftp://127.0.0.1/token",
	    "scheme must be https" },
	{ "client a", "token_url = gateway.example.org/auth/token",
	    "scheme and a host" },
	{ "client a", "token_url =", "URL" },
	{ "client a", "token_url = https://user:pw@g.example.org/t",
	    "credentials" },
	{ "client a", "client_id =", "client_id is empty" },
	{ "client a", "ca_file = ca.pem", "ca_file must be an absolute path" },
	{ "client a", "ca_file = /nonexistent/ca.pem",
	    "cannot read ca_file /nonexistent/ca.pem" },
	{ "client a", "client_secret_file = secrets/a",
	    "client_secret_file must be an absolute path" },
	{ "client a", "client_secret_file = /nonexistent/secret",
	    "cannot open secret /nonexistent/secret" },
	{ "client a", "client_secret_file =", "client_secret_file is empty" },
	{ "client a", "client_secret =", "client_secret is empty" },
	{ "client a", "client_secret_credential = ../secret",
	    "invalid credential name: use 1 to 64" },
	{ "client a", "allow_users = nosuchuser-xq", "unknown user" },
	{ "daemon", "socket_mode = 0999",
	    "socket_mode must be an octal mode" },
	{ "daemon", "socket_mode = rw-rw----", "socket_mode must be an octal" },
	{ "daemon", "socket_mode = 01000", "socket_mode must be an octal" },
	{ "daemon", "socket_mode = 660x", "socket_mode must be an octal" },
	{ "daemon", "socket_mode =", "socket_mode must be an octal" },
	{ "daemon", "socket_mode = -1", "socket_mode must be an octal" },
	{ "daemon", "log_level = verbose",
	    "log_level must be error, warning, info or debug" },
	{ "daemon", "log_level =", "log_level must be" },
	{ "daemon", "socket = run/tokend.sock", "socket must be an absolute" },
	{ "daemon", "socket = /run/crvs-tokend/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock", "socket path is too long" },
	{ "daemon", "socket_group = nosuchgroup-xq",
	    "unknown group 'nosuchgroup-xq'" },
	{ "client a", "token_file = run/a.token",
	    "token_file must be an absolute path" },
	{ "client a", "token_file = /run/crvs-tokend/",
	    "token_file must name a file" },
	{ "client a", "token_file = /run/crvs-tokend/../etc/a",
	    "token_file must not have . or .. components" },
	{ "client a", "token_file = /run/./a", "must not have . or .." },
	{ "client a", "token_file = /run/..", "must not have . or .." },
	{ "client a", "token_file_format = env",
	    "token_file_format must be token, header or json, not 'env'" },
	{ "client a", "token_file_mode = 0660",
	    "token_file_mode must be an octal mode that lets group and "
	    "others at most read" },
	{ "client a", "token_file_mode = 0755", "at most read" },
	{ "client a", "token_file_mode = 0642", "at most read" },
	{ "client a", "token_file_mode = 01640", "at most read" },
	{ "client a", "token_file_mode = 640x", "at most read" },
	{ "client a", "token_file_mode =", "at most read" },
	{ "client a", "token_file_group = nosuchgroup-xq",
	    "unknown group 'nosuchgroup-xq'" },
};

START_TEST(test_bad_value)
{
	const struct bad_value	*b = &bad_values[_i];
	char			*text;

	text = xasprintf("[%s]\n%s\n", b->section, b->line);
	LOAD_ERROR(text, 2, b->what);
	free(text);
}
END_TEST

/* A secret pasted where the credential's name belongs is not echoed. */
START_TEST(test_credential_name_not_echoed)
{
	struct conf	*conf;
	char		*cause = NULL;

	setenv("CREDENTIALS_DIRECTORY", "/nonexistent", 1);
	conf = load_mode("[client a]\n"
	    "client_secret_credential = pasted/Secret+Value=\n", 0600, &cause);
	unsetenv("CREDENTIALS_DIRECTORY");
	ck_assert_ptr_null(conf);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, "Secret+Value") == NULL,
	    "the cause quotes the value: %s", cause);
	ck_assert_msg(strstr(cause, "invalid credential name") != NULL,
	    "unexpected cause: %s", cause);
	free(cause);
}
END_TEST

START_TEST(test_missing_keys)
{
	LOAD_ERROR(
	    "[daemon]\n"
	    "log_level = info\n"
	    "[client a]\n"
	    "client_id = x\n"
	    "client_secret_file = @D@/secret\n", 3,
	    "[client a] needs token_url");
	LOAD_ERROR(
	    "[daemon]\n"
	    "log_level = info\n"
	    "[client a]\n"
	    "token_url = https://g.example.org/t\n"
	    "client_secret_file = @D@/secret\n", 3,
	    "[client a] needs client_id");
	LOAD_ERROR(
	    CLIENT("ok")
	    "\n"
	    "[client a]\n"
	    "token_url = https://g.example.org/t\n"
	    "client_id = x\n", 6,
	    "[client a] needs client_secret_file, client_secret_credential "
	    "or client_secret");
}
END_TEST

START_TEST(test_two_secret_sources)
{
	char	*want;

	want = xasprintf("the secret is already given by file %s/secret",
	    tdir);
	LOAD_ERROR(CLIENT("a") "client_secret = " SECRET_MARK "-inline\n", 5,
	    want);
	free(want);
	LOAD_ERROR("[client a]\n"
	    "client_secret = " SECRET_MARK "-inline\n"
	    "client_secret_file = @D@/secret\n", 3,
	    "already given by inline");
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", tdir, 1), 0);
	LOAD_ERROR(CLIENT("a") "client_secret_credential = secret\n", 5,
	    "give exactly one of client_secret, client_secret_file and "
	    "client_secret_credential");
}
END_TEST

START_TEST(test_secret_file_mode)
{
	struct conf	*conf;
	char		*p, *want;

	p = put("secret", 0644, SECRET_MARK "-file\n");
	want = xasprintf("secret %s is accessible by group or others (mode "
	    "0644); chmod 600 it", p);
	LOAD_ERROR(CLIENT("a"), 4, want);
	free(want);
	ck_assert_int_eq(chmod(p, 0640), 0);
	LOAD_ERROR(CLIENT("a"), 4, "accessible by group or others");
	ck_assert_int_eq(chmod(p, 0604), 0);
	LOAD_ERROR(CLIENT("a"), 4, "accessible by group or others");
	ck_assert_int_eq(chmod(p, 0620), 0);
	LOAD_ERROR(CLIENT("a"), 4, "accessible by group or others");

	ck_assert_int_eq(chmod(p, 0600), 0);
	conf = LOAD_OK(CLIENT("a"));
	ck_assert_str_eq(conf->clients[0]->secret, SECRET_MARK "-file");
	conf_free(conf);
	ck_assert_int_eq(chmod(p, 0400), 0);
	conf = LOAD_OK(CLIENT("a"));
	ck_assert_str_eq(conf->clients[0]->secret, SECRET_MARK "-file");
	conf_free(conf);
	free(p);
}
END_TEST

START_TEST(test_secret_file_content)
{
	struct conf	*conf;
	char		*p, big[5000];

	/* Only trailing newlines go: the rest is the secret. */
	free(put("secret", 0600, " " SECRET_MARK " x\r\n\n"));
	conf = LOAD_OK(CLIENT("a"));
	ck_assert_str_eq(conf->clients[0]->secret, " " SECRET_MARK " x");
	conf_free(conf);

	free(put("secret", 0600, SECRET_MARK));
	conf = LOAD_OK(CLIENT("a"));
	ck_assert_str_eq(conf->clients[0]->secret, SECRET_MARK);
	conf_free(conf);

	free(put("secret", 0600, ""));
	LOAD_ERROR(CLIENT("a"), 4, "is empty or not text");
	free(put("secret", 0600, "\n\n"));
	LOAD_ERROR(CLIENT("a"), 4, "is empty or not text");

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	free(put("secret", 0600, big));
	LOAD_ERROR(CLIENT("a"), 4, "is larger than 4096 bytes");

	/* A directory is not a secret. */
	p = in_tdir("secret");
	ck_assert_int_eq(unlink(p), 0);
	mkdir_in("secret", 0700);
	LOAD_ERROR(CLIENT("a"), 4, "is not a regular file");
	free(p);
}
END_TEST

START_TEST(test_secret_credential)
{
	struct conf	*conf;
	char		*creds;
	const char	*text =
	    "[daemon]\n"
	    "[client a]\n"
	    "token_url = https://g.example.org/t\n"
	    "client_id = x\n"
	    "client_secret_credential = dhis2\n";

	mkdir_in("creds", 0700);
	free(put("creds/dhis2", 0400, SECRET_MARK "-cred\n"));
	creds = in_tdir("creds");

	ck_assert_int_eq(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	LOAD_ERROR(text, 5, "client_secret_credential needs "
	    "$CREDENTIALS_DIRECTORY");
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", "", 1), 0);
	LOAD_ERROR(text, 5, "needs $CREDENTIALS_DIRECTORY");

	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
	conf = LOAD_OK(text);
	ck_assert_str_eq(conf->clients[0]->secret, SECRET_MARK "-cred");
	ck_assert_str_eq(conf->clients[0]->secret_source, "credential dhis2");
	conf_free(conf);

	/* A credential that systemd did not provide. */
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", tdir, 1), 0);
	LOAD_ERROR(text, 5, "cannot open secret");
	/* The same mode rule as a secret file. */
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
	free(put("creds/dhis2", 0644, SECRET_MARK "-cred\n"));
	LOAD_ERROR(text, 5, "accessible by group or others");
	free(creds);
}
END_TEST

START_TEST(test_inline_secret)
{
	struct conf	*conf;
	const char	*text =
	    "[client a]\n"
	    "token_url = https://g.example.org/t\n"
	    "client_id = x\n"
	    "client_secret = " SECRET_MARK "-inline#;x\n";
	char		*want, *cause;

	want = xasprintf("client_secret is inline in a file that group or "
	    "others can read (consumers are often in the daemon's group); "
	    "chmod 600 %s/%s", tdir, MAIN_CONF);
	LOAD_ERROR_MODE(text, 0644, 4, want);
	free(want);
	LOAD_ERROR_MODE(text, 0604, 4, "group or others can read");
	/* The daemon's group is often the consumers' group too. */
	LOAD_ERROR_MODE(text, 0640, 4, "group or others can read");

	conf = load_mode(text, 0600, &cause);
	ck_assert_msg(conf != NULL, "refused: %s", cause);
	ck_assert_str_eq(conf->clients[0]->secret, SECRET_MARK "-inline#;x");
	ck_assert_str_eq(conf->clients[0]->secret_source, "inline");
	conf_free(conf);

	/* A world-readable file is fine when the secret is elsewhere. */
	conf = load_mode(CLIENT("a"), 0644, &cause);
	ck_assert_msg(conf != NULL, "refused: %s", cause);
	conf_free(conf);
}
END_TEST

START_TEST(test_min_valid_vs_fallback)
{
	struct conf	*conf;

	LOAD_ERROR("\n" CLIENT("a") "min_valid = 600\n", 2,
	    "[client a] min_valid (600) must be less than fallback_lifetime "
	    "(600)");
	LOAD_ERROR(CLIENT("a") "min_valid = 60\nfallback_lifetime = 30\n", 1,
	    "min_valid (60) must be less than fallback_lifetime (30)");
	conf = LOAD_OK(CLIENT("a") "min_valid = 59\nfallback_lifetime = 60\n");
	ck_assert_int_eq(conf->clients[0]->min_valid, 59);
	conf_free(conf);
}
END_TEST

START_TEST(test_long_line)
{
	char	*text, line[5000];

	memset(line, 'x', sizeof line - 1);
	line[sizeof line - 1] = '\0';
	text = xasprintf("[daemon]\nlog_level = info\nscope = %s\n"
	    "socket_mode = 0600\n", line);
	LOAD_ERROR(text, 3, "line longer than 4096 bytes");
	free(text);
}
END_TEST

/*
 * Regression (fixed): a line longer than the
 * reader's buffer is read in pieces, each counted as a line, so an
 * over-long comment is reported on the line after it.
 */
START_TEST(test_regression_long_comment_line)
{
	char	*text, line[5000];

	memset(line, 'x', sizeof line - 1);
	line[sizeof line - 1] = '\0';
	text = xasprintf("[daemon]\n# %s\nlog_level = info\n", line);
	LOAD_ERROR(text, 2, "line longer than 4096 bytes");
	free(text);
}
END_TEST

/* ---- conf_check_url, conf_valid_name, conf_client_same_source ---- */

START_TEST(test_check_url)
{
	static const char *good[] = {
		"https://gateway.opencrvs.example.org/auth/token",
		"HTTPS://GATEWAY.EXAMPLE.ORG/auth/token",
		"https://gateway.example.org:8443/auth/token?x=1",
		"https://[2001:db8::1]/auth/token",
		"http://127.0.0.1/token",
		"http://127.0.0.1:4000/auth/token",
		"http://127.1.2.3:80/",
		"http://localhost/token",
		"http://LocalHost:8080/token",
		"http://[::1]/token",
		"http://[::1]:7000/auth/token",
	};
	static const char *bad[] = {
		"http://gateway.example.org/auth/token",
		"http://10.0.0.1/token",
		"http://128.0.0.1/token",
		"http://127.example.org/token",
		"http://127.0.0.1.nip.io/token",
		"http://localhost.example.org/token",
		"http://[::2]/token",
		"http://[2001:db8::1]/token",
		"ftp://127.0.0.1/token",
		"file:///etc/passwd",
		"gateway.example.org/auth/token",
		"/auth/token",
		"",
		"https://",
		"https:///auth/token",
		"https://user:pw@gateway.example.org/token",
		"https://gateway.example.org/token#frag",
		"https://gateway example.org/token",
	};
	size_t	 i;
	char	*cause;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		cause = NULL;
		ck_assert_msg(conf_check_url(good[i], &cause) == 0,
		    "'%s' refused: %s", good[i], cause);
		ck_assert_ptr_null(cause);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		ck_assert_msg(conf_check_url(bad[i], &cause) == -1,
		    "'%s' accepted", bad[i]);
		ck_assert_msg(cause != NULL && *cause != '\0',
		    "'%s': no cause", bad[i]);
		free(cause);
	}
	/* The cause says what to do. */
	cause = NULL;
	ck_assert_int_eq(conf_check_url("http://g.example.org/t", &cause), -1);
	ck_assert_msg(strstr(cause, "loopback") != NULL &&
	    strstr(cause, "https://") != NULL, "cause '%s'", cause);
	free(cause);
	/* The URL's credentials are not repeated in the cause. */
	cause = NULL;
	ck_assert_int_eq(conf_check_url("https://u:" SECRET_MARK
	    "@g.example.org/t", &cause), -1);
	ck_assert_msg(strstr(cause, SECRET_MARK) == NULL, "cause '%s'",
	    cause);
	free(cause);
	/* A NULL cause is allowed. */
	ck_assert_int_eq(conf_check_url("http://g.example.org/t", NULL), -1);
}
END_TEST

START_TEST(test_valid_name)
{
	static const char *good[] = {
		"dhis2", "a", "A", "0", "client.v2", "my_client-1",
		"...", ".a", "-x",
		("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	};
	static const char *bad[] = {
		"", ".", "..", "a b", "a/b", "../a", "a\n", "a\t", "dhis2!",
		"a:b", "é", "a=b", "[a]",
		("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	};
	size_t	i;

	ck_assert_uint_eq(strlen(good[sizeof good / sizeof good[0] - 1]),
	    CONF_NAME_MAX);
	ck_assert_uint_eq(strlen(bad[sizeof bad / sizeof bad[0] - 1]),
	    CONF_NAME_MAX + 1);
	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(conf_valid_name(good[i]), "'%s' refused",
		    good[i]);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!conf_valid_name(bad[i]), "'%s' accepted",
		    bad[i]);
}
END_TEST

static char	s_name[] = "dhis2";
static char	s_url[] = "https://g.example.org/auth/token";
static char	s_url2[] = "https://g2.example.org/auth/token";
static char	s_id[] = "2fd153ab";
static char	s_id2[] = "2fd153ac";
static char	s_secret[] = "s3cr3t-a";
static char	s_secret_copy[] = "s3cr3t-a";
static char	s_secret2[] = "s3cr3t-b";
static char	s_secret3[] = "s3cr3t-a-longer";
static char	s_scope[] = "record.read";
static char	s_ca[] = "/etc/ssl/ca.pem";
static char	s_users[] = "root";
static uid_t	s_uids[] = { 0 };

static void
base_client(struct conf_client *c)
{
	conf_client_defaults(c);
	c->name = s_name;
	c->token_url = s_url;
	c->client_id = s_id;
	c->secret = s_secret;
}

START_TEST(test_same_source)
{
	struct conf_client	a, b;

	base_client(&a);
	base_client(&b);
	ck_assert(conf_client_same_source(&a, &b));
	ck_assert(conf_client_same_source(&a, &a));

	/* What applies in place keeps the token. */
	b.allow_users = s_users;
	b.allow_uids = s_uids;
	b.n_allow_uids = 1;
	b.allow_groups = s_users;
	b.min_valid = 120;
	b.refresh_margin = 100;
	b.fallback_lifetime = 900;
	/* The token file follows the kept token (tokenfile_apply). */
	b.token_file = s_users;
	b.token_file_format = CONF_FILE_JSON;
	b.token_file_mode = 0600;
	b.token_file_gid = 0;
	ck_assert(conf_client_same_source(&a, &b));
	ck_assert(conf_client_same_source(&b, &a));

	/* The same secret held in another buffer is the same secret. */
	base_client(&b);
	b.secret = s_secret_copy;
	ck_assert(conf_client_same_source(&a, &b));

	/* Anything that changes how the token is fetched does not. */
	b.secret = s_secret2;
	ck_assert(!conf_client_same_source(&a, &b));
	b.secret = s_secret3;
	ck_assert(!conf_client_same_source(&a, &b));
	ck_assert(!conf_client_same_source(&b, &a));
	base_client(&b);
	b.token_url = s_url2;
	ck_assert(!conf_client_same_source(&a, &b));
	base_client(&b);
	b.client_id = s_id2;
	ck_assert(!conf_client_same_source(&a, &b));
	base_client(&b);
	b.request_format = CONF_FORMAT_FORM;
	ck_assert(!conf_client_same_source(&a, &b));
	b.request_format = CONF_FORMAT_QUERY;
	ck_assert(!conf_client_same_source(&a, &b));
	base_client(&b);
	b.client_auth = CONF_AUTH_BASIC;
	ck_assert(!conf_client_same_source(&a, &b));
	base_client(&b);
	b.scope = s_scope;
	ck_assert(!conf_client_same_source(&a, &b));
	ck_assert(!conf_client_same_source(&b, &a));
	base_client(&b);
	b.ca_file = s_ca;
	ck_assert(!conf_client_same_source(&a, &b));
}
END_TEST

START_TEST(test_same_source_reload)
{
	struct conf	*old, *new;

	old = LOAD_OK(CLIENT("a") CLIENT("b"));
	/* Reload: a gets an access list and timing, b a new secret file. */
	free(put("secret-b", 0600, SECRET_MARK "-rotated\n"));
	new = LOAD_OK(CLIENT("a")
	    "allow_users = root\nmin_valid = 90\nrefresh_margin = 200\n"
	    "[client b]\n"
	    "token_url = https://gateway.example.org/auth/token\n"
	    "client_id = id-b\n"
	    "client_secret_file = @D@/secret-b\n");
	ck_assert(conf_client_same_source(conf_find_client(old, "a"),
	    conf_find_client(new, "a")));
	ck_assert(!conf_client_same_source(conf_find_client(old, "b"),
	    conf_find_client(new, "b")));
	conf_free(old);
	conf_free(new);
}
END_TEST

/*
 * Regression (fixed): conf_handler() starts a new
 * section only when the section name differs from the previous key's, so
 * two adjacent [client a] sections are merged into one client instead of
 * being refused as a duplicate client.
 */
START_TEST(test_regression_duplicate_client_adjacent)
{
	char	*want;

	want = xasprintf("duplicate client 'a' (first defined at %s/%s:1)",
	    tdir, MAIN_CONF);
	LOAD_ERROR(CLIENT("a") "[client a]\nscope = x\n", 5, want);
	free(want);
}
END_TEST

/*
 * Regression (fixed): libinih calls the handler
 * only for "key = value" lines, and conf.c creates a client (and checks a
 * section's name) only from its first key. A section with no keys is never
 * seen: "[client x]" whose keys are all commented out is silently dropped
 * instead of "needs token_url", and an unknown empty section is accepted.
 */
START_TEST(test_regression_empty_client_section)
{
	LOAD_ERROR(CLIENT("a") "[client x]\n# token_url = ...\n", 5,
	    "[client x] needs token_url");
}
END_TEST

START_TEST(test_regression_empty_unknown_section)
{
	LOAD_ERROR("[daemon]\nlog_level = info\n[clients x]\n", 3,
	    "unknown section [clients x]");
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite	*s = suite_create("conf");
	TCase	*tc;

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_full_config);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_token_file);
	tcase_add_test(tc, test_empty_config);
	tcase_add_test(tc, test_inline_comments);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_dropins_in_name_order);
	tcase_add_test(tc, test_dropin_only_clients);
	tcase_add_test(tc, test_parse_file);
	tcase_add_test(tc, test_allow_lists);
	tcase_add_test(tc, test_is_loopback);
	tcase_add_test(tc, test_loopback_urls_accepted);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_load_missing_file);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_unknown_section);
	tcase_add_test(tc, test_key_outside_section);
	tcase_add_test(tc, test_syntax_error);
	tcase_add_test(tc, test_bad_client_name);
	tcase_add_test(tc, test_client_name_42);
	tcase_add_test(tc, test_duplicate_client);
	tcase_add_test(tc, test_duplicate_client_in_dropin);
	tcase_add_test(tc, test_dropin_error_names_dropin);
	tcase_add_test(tc, test_duplicate_key);
	tcase_add_loop_test(tc, test_bad_value, 0,
	    (int)(sizeof bad_values / sizeof bad_values[0]));
	tcase_add_test(tc, test_missing_keys);
	tcase_add_test(tc, test_token_file_whole);
	tcase_add_test(tc, test_min_valid_vs_fallback);
	tcase_add_test(tc, test_long_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("secrets");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_two_secret_sources);
	tcase_add_test(tc, test_secret_file_mode);
	tcase_add_test(tc, test_secret_file_content);
	tcase_add_test(tc, test_secret_credential);
	tcase_add_test(tc, test_inline_secret);
	tcase_add_test(tc, test_credential_name_not_echoed);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_url);
	tcase_add_test(tc, test_valid_name);
	tcase_add_test(tc, test_same_source);
	tcase_add_test(tc, test_same_source_reload);
	suite_add_tcase(s, tc);

	tc = tcase_create("regressions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_regression_duplicate_client_adjacent);
	tcase_add_test(tc, test_regression_long_comment_line);
	tcase_add_test(tc, test_regression_client_name_64);
	tcase_add_test(tc, test_regression_client_name_65);
	tcase_add_test(tc, test_regression_empty_client_section);
	tcase_add_test(tc, test_regression_empty_unknown_section);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	const char	*tmp = getenv("TMPDIR");
	char		*tmpl;
	int		 rc;

	umask(022);
	if (tmp == NULL || *tmp != '/')
		tmp = "/tmp";
	tmpl = xasprintf("%s/check_conf.XXXXXX", tmp);
	if ((top_tmp = mkdtemp(tmpl)) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	rc = unit_run(conf_suite());
	rm_rf(top_tmp);
	free(tmpl);
	return rc;
}
