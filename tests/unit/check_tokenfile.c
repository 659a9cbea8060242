/*
 * Tests of daemon/tokenfile.c: what a token file holds in each format, and
 * how it is written and removed (atomically, with its mode and group, never
 * through a symlink, never in a directory others can write to), on real
 * files in a fresh directory under $TMPDIR. The daemon-level behaviour (the
 * file follows the token the socket serves) is tests/integration/tokenfile.sh.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <json-c/json.h>

#define UNIT_CLIENT
#include "unit.h"

#include "conf.h"
#include "log.h"
#include "secmem.h"
#include "tokenfile.h"
#include "util.h"

#define TOK	"eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2ln"

static char	*tdir;

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
setup(void)
{
	const char	*tmp = getenv("TMPDIR");

	tdir = xasprintf("%s/check_tokenfile.XXXXXX", tmp != NULL &&
	    *tmp != '\0' ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	ck_assert_int_eq(chmod(tdir, 0755), 0);
}

static void
teardown(void)
{
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(tdir);
}

/* The whole content of path; the caller frees it. */
static char *
slurp(const char *path)
{
	FILE	*fp = fopen(path, "r");
	char	*buf = xcalloc(1, 65536);
	size_t	 n;

	ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Entries of tdir other than name (a temporary file left behind). */
static int
others_in_dir(const char *sub, const char *name)
{
	char		*dir = xasprintf("%s%s", tdir, sub);
	DIR		*d = opendir(dir);
	struct dirent	*e;
	int		 n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    strcmp(e->d_name, name) != 0)
			n++;
	}
	closedir(d);
	free(dir);
	return n;
}

START_TEST(test_render)
{
	char		*s;
	size_t		 n;
	json_object	*o, *v;

	s = tokenfile_render(CONF_FILE_TOKEN, "a", TOK, strlen(TOK), 1700000000,
	    &n);
	ck_assert_str_eq(s, TOK "\n");
	ck_assert_uint_eq(n, strlen(TOK) + 1);
	secmem_free(s);

	s = tokenfile_render(CONF_FILE_HEADER, "a", TOK, strlen(TOK),
	    1700000000, &n);
	ck_assert_str_eq(s, "Authorization: Bearer " TOK "\n");
	ck_assert_uint_eq(n, strlen(s));
	secmem_free(s);

	s = tokenfile_render(CONF_FILE_JSON, "dhis2", TOK, strlen(TOK),
	    1700000000, &n);
	ck_assert_uint_eq(n, strlen(s));
	ck_assert(s[n - 1] == '\n');
	o = json_tokener_parse(s);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "access_token", &v));
	ck_assert_str_eq(json_object_get_string(v), TOK);
	ck_assert(json_object_object_get_ex(o, "client", &v));
	ck_assert_str_eq(json_object_get_string(v), "dhis2");
	ck_assert(json_object_object_get_ex(o, "token_type", &v));
	ck_assert_str_eq(json_object_get_string(v), "Bearer");
	ck_assert(json_object_object_get_ex(o, "expires_at", &v));
	ck_assert_int_eq(json_object_get_int64(v), 1700000000);
	/* A count of seconds left would be stale the moment it is read. */
	ck_assert(!json_object_object_get_ex(o, "expires_in", &v));
	json_object_put(o);
	ck_assert_str_eq(s, "{\"client\":\"dhis2\",\"access_token\":\"" TOK
	    "\",\"token_type\":\"Bearer\",\"expires_at\":1700000000}\n");
	secmem_free(s);

	/* Built without escaping: anything JSON would escape is refused. */
	ck_assert_ptr_null(tokenfile_render(CONF_FILE_JSON, "a", "ab\"c", 4,
	    1, &n));
	ck_assert_ptr_null(tokenfile_render(CONF_FILE_JSON, "a", "ab\\c", 4,
	    1, &n));
	ck_assert_ptr_null(tokenfile_render(CONF_FILE_JSON, "a\n", "abc", 3,
	    1, &n));
	ck_assert_ptr_null(tokenfile_render(CONF_FILE_JSON, "a", "a\0c", 3,
	    1, &n));
}
END_TEST

START_TEST(test_write_and_replace)
{
	char		*path = xasprintf("%s/a.token", tdir), *cause = NULL, *s;
	struct stat	 st;

	ck_assert_int_eq(tokenfile_write(path, "one\n", 4, 0640, (gid_t)-1,
	    &cause), 0);
	ck_assert_ptr_null(cause);
	s = slurp(path);
	ck_assert_str_eq(s, "one\n");
	free(s);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(st.st_uid, geteuid());
	/* Replaced, with a new mode; nothing left beside it. */
	ck_assert_int_eq(tokenfile_write(path, "two\n", 4, 0600, (gid_t)-1,
	    &cause), 0);
	s = slurp(path);
	ck_assert_str_eq(s, "two\n");
	free(s);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(others_in_dir("", "a.token"), 0);
	free(path);
}
END_TEST

START_TEST(test_write_group)
{
	char		*path = xasprintf("%s/g.token", tdir), *cause = NULL;
	struct stat	 st;
	gid_t		 gid = geteuid() == 0 ? 1 : getegid();

	ck_assert_int_eq(tokenfile_write(path, "t\n", 2, 0640, gid, &cause), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_gid, gid);
	free(path);
}
END_TEST

/* A group the daemon may not give files to is an error, not a shrug. */
START_TEST(test_write_group_refused)
{
	char	*path = xasprintf("%s/g.token", tdir), *cause = NULL;

	if (geteuid() == 0) {
		free(path);
		return;		/* root may give a file to any group */
	}
	ck_assert_int_eq(tokenfile_write(path, "t\n", 2, 0640, 0, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "member of token_file_group"));
	ck_assert_int_eq(others_in_dir("", ""), 0);
	free(cause);
	free(path);
}
END_TEST

START_TEST(test_symlink_refused)
{
	char	*path = xasprintf("%s/l.token", tdir);
	char	*target = xasprintf("%s/target", tdir), *cause = NULL, *s;
	FILE	*fp = fopen(target, "w");

	fputs("theirs\n", fp);
	fclose(fp);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(tokenfile_check_path(path, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "is a symbolic link"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(tokenfile_write(path, "t\n", 2, 0640, (gid_t)-1,
	    &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "is a symbolic link"));
	free(cause);
	s = slurp(target);
	ck_assert_str_eq(s, "theirs\n");
	free(s);
	/* Removing leaves what it never wrote. */
	ck_assert_int_eq(tokenfile_remove(path, NULL), 0);
	ck_assert_int_eq(access(target, F_OK), 0);
	ck_assert_int_eq(others_in_dir("", "target"), 1);
	free(path);
	free(target);
}
END_TEST

START_TEST(test_not_regular_refused)
{
	char	*path = xasprintf("%s/d.token", tdir), *cause = NULL;

	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(tokenfile_write(path, "t\n", 2, 0640, (gid_t)-1,
	    &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "not a regular file"));
	free(cause);
	ck_assert_int_eq(tokenfile_remove(path, NULL), 0);
	free(path);
}
END_TEST

START_TEST(test_untrusted_dir_refused)
{
	char	*dir = xasprintf("%s/open", tdir), *cause = NULL;
	char	*path = xasprintf("%s/a.token", dir);

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(tokenfile_write(path, "t\n", 2, 0640, (gid_t)-1,
	    &cause), -1);
	ck_assert_msg(strstr(cause, "lets other users write") != NULL, "%s",
	    cause);
	ck_assert_int_eq(others_in_dir("/open", ""), 0);
	free(cause);
	cause = NULL;
	/* Sticky does not help the file's own directory. */
	ck_assert_int_eq(chmod(dir, 01777), 0);
	ck_assert_int_eq(tokenfile_check_path(path, &cause), -1);
	free(cause);
	free(path);
	free(dir);
}
END_TEST

START_TEST(test_remove)
{
	char	*path = xasprintf("%s/r.token", tdir), *cause = NULL;

	ck_assert_int_eq(tokenfile_remove(path, &cause), 0);
	ck_assert_int_eq(tokenfile_write(path, "t\n", 2, 0640, (gid_t)-1,
	    &cause), 0);
	ck_assert_int_eq(tokenfile_remove(path, &cause), 1);
	ck_assert_int_eq(access(path, F_OK), -1);
	free(path);
}
END_TEST


/* Removal goes through the checked directory: none in an untrusted one. */
START_TEST(test_remove_untrusted_dir_refused)
{
	char	*dir = xasprintf("%s/open", tdir), *cause = NULL;
	char	*path = xasprintf("%s/a.token", dir);

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(tokenfile_write(path, "t\n", 2, 0640, (gid_t)-1,
	    &cause), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(tokenfile_remove(path, &cause), -1);
	ck_assert_msg(strstr(cause, "lets other users write") != NULL, "%s",
	    cause);
	free(cause);
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(tokenfile_remove(path, &cause), 1);
	free(path);
	free(dir);
}
END_TEST

/* The start-up check names the client's file and line. */
START_TEST(test_check_conf)
{
	struct conf		*conf = conf_new();
	struct conf_client	*c = xcalloc(1, sizeof *c);
	char			*cause = NULL;

	conf_client_defaults(c);
	c->name = xstrdup("a");
	c->file = xstrdup("/etc/x.conf");
	c->line = 7;
	c->token_file = xasprintf("%s/missing/a.token", tdir);
	conf->clients = xcalloc(1, sizeof *conf->clients);
	conf->clients[conf->nclients++] = c;
	ck_assert_int_eq(tokenfile_check_conf(conf, &cause), -1);
	ck_assert_msg(strncmp(cause, "/etc/x.conf:7: [client a] token_file: ",
	    38) == 0, "%s", cause);
	free(cause);
	free(c->token_file);
	c->token_file = xasprintf("%s/a.token", tdir);
	ck_assert_int_eq(tokenfile_check_conf(conf, &cause), 0);
	conf_free(conf);
}
END_TEST


/* ---- tokenfile_apply with clients on the fake clock and fetch ---- */

static int	tick;	/* each boot clock reading moves it 1 ms */

static int64_t
tick_boot(void)
{
	return tick ? unit_boot_now++ : unit_boot_now;
}

static void
client_setup(void)
{
	setup();
	unit_client_setup();
	log_set_level(LOG_ERR);
}

static void
client_teardown(void)
{
	tick = 0;
	unit_client_teardown();
	teardown();
}

/*
 * A reload where kept client b takes the path that kept client a gives up,
 * b listed first: b's new file must survive a's giving it up.
 */
START_TEST(test_apply_path_moves)
{
	struct conf_client	*a = unit_conf("a"), *b = unit_conf("b");
	struct conf_client	*a2 = unit_conf("a"), *b2 = unit_conf("b");
	char			*p = xasprintf("%s/p.token", tdir), *got;
	struct client		*ca, *cb, *l1[2], *l2[2];
	struct tokenfile	*tf = tokenfile_new();

	a->secret = a2->secret = b->secret = b2->secret = "s";
	a->token_file = p;
	b2->token_file = p;
	ca = client_new(NULL, NULL, a, NULL, NULL);
	cb = client_new(NULL, NULL, b, NULL, NULL);
	l1[0] = ca;
	l1[1] = cb;
	tokenfile_apply(tf, l1, 2);
	unit_answer_token("tokA", 600);
	unit_answer_token("tokB", 600);
	got = slurp(p);
	ck_assert_str_eq(got, "tokA\n");
	free(got);

	client_set_conf(ca, a2);
	client_set_conf(cb, b2);
	l2[0] = cb;
	l2[1] = ca;
	tokenfile_apply(tf, l2, 2);
	got = slurp(p);
	ck_assert_str_eq(got, "tokB\n");
	free(got);

	tokenfile_free(tf);
	client_free(ca);
	client_free(cb);
	unit_conf_free(a);
	unit_conf_free(b);
	unit_conf_free(a2);
	unit_conf_free(b2);
	free(p);
}
END_TEST

/*
 * A reload at the millisecond the token stops being servable (each clock
 * reading moves time): the sync must not leave a request queued on the
 * client for the entry, which a second reload frees (a hand-over would
 * then answer it into freed memory; ASan reports it). The file follows the
 * token the new client gets.
 */
START_TEST(test_apply_at_lapse)
{
	struct conf_client	*a = unit_conf("a"), *a2 = unit_conf("a");
	char			*p = xasprintf("%s/p.token", tdir), *got;
	struct client		*ca, *na, *l1[1], *l2[1];
	struct tokenfile	*tf = tokenfile_new();
	int64_t			 base;
	int			 attempt, lapsed = 0;

	a->secret = "s";
	a2->secret = "s2";
	a->token_file = a2->token_file = p;
	clock_set_source(tick_boot, unit_wall);
	ca = client_new(NULL, NULL, a, NULL, NULL);
	l1[0] = ca;
	tokenfile_apply(tf, l1, 1);
	unit_answer_token("tokA", 600);
	ck_assert_int_eq(access(p, F_OK), 0);
	/* The refresh is in flight and unanswered. */
	unit_advance(600000 - (int64_t)a->min_valid * 1000 - 5000);
	ck_assert_int_eq(unit_open(), 1);
	/* Probe each millisecond around the lapse. */
	base = unit_boot_now + 5000 - 8;
	for (attempt = 0; attempt < 16 && !lapsed; attempt++) {
		unit_boot_now = base + attempt;
		tick = 1;
		tokenfile_apply(tf, l1, 1);
		tick = 0;
		lapsed = access(p, F_OK) == -1;
	}
	ck_assert_msg(lapsed, "the token never lapsed");

	na = client_new(NULL, NULL, a2, NULL, NULL);
	client_hand_over(ca, na);
	l2[0] = na;
	tokenfile_apply(tf, l2, 1);
	client_free(ca);
	/* ca's fetch was cancelled; na's is the open one. */
	while (unit_open() > 1)
		unit_answer_error("cancelled");
	unit_answer_token("tokA2", 600);
	got = slurp(p);
	ck_assert_str_eq(got, "tokA2\n");
	free(got);

	tokenfile_free(tf);
	client_free(na);
	unit_conf_free(a);
	unit_conf_free(a2);
	free(p);
}
END_TEST


static void
touch(const char *name, mode_t mode)
{
	char	*p = xasprintf("%s/%s", tdir, name);
	FILE	*fp = fopen(p, "w");

	ck_assert_ptr_nonnull(fp);
	fputs("secret\n", fp);
	fclose(fp);
	ck_assert_int_eq(chmod(p, mode), 0);
	free(p);
}

static int
there(const char *name)
{
	char		*p = xasprintf("%s/%s", tdir, name);
	struct stat	 st;
	int		 rc = lstat(p, &st) == 0;

	free(p);
	return rc;
}

/*
 * Temporary files that a crash between create and rename left behind are
 * removed at start-up: only ours, regular, with exactly our name pattern.
 */
START_TEST(test_apply_removes_stale_tmp)
{
	struct conf_client	*a = unit_conf("a");
	char			*p = xasprintf("%s/p.token", tdir), *q;
	struct client		*ca, *l1[1];
	struct tokenfile	*tf = tokenfile_new();

	touch(".crvs-tokend.0123456789abcdef", 0600);
	touch(".crvs-tokend.00000000000000ff", 0600);
	touch(".crvs-tokend.0123456789ABCDEF", 0600);
	touch(".crvs-tokend.0123456789abcdef0", 0600);
	touch(".crvs-tokend.0123", 0600);
	touch("keep", 0600);
	touch(".crvs-tokend.1111111111111111", 0600);
	q = xasprintf("%s/.crvs-tokend.1111111111111111", tdir);
	ck_assert_int_eq(chown(q, 54321, (gid_t)-1), 0);	/* not ours */
	free(q);
	q = xasprintf("%s/.crvs-tokend.2222222222222222", tdir);
	ck_assert_int_eq(symlink("keep", q), 0);
	free(q);
	q = xasprintf("%s/.crvs-tokend.3333333333333333", tdir);
	ck_assert_int_eq(mkdir(q, 0700), 0);
	free(q);

	a->secret = "s";
	a->token_file = p;
	ca = client_new(NULL, NULL, a, NULL, NULL);
	l1[0] = ca;
	tokenfile_apply(tf, l1, 1);
	ck_assert(!there(".crvs-tokend.0123456789abcdef"));
	ck_assert(!there(".crvs-tokend.00000000000000ff"));
	ck_assert(there(".crvs-tokend.0123456789ABCDEF"));
	ck_assert(there(".crvs-tokend.0123456789abcdef0"));
	ck_assert(there(".crvs-tokend.0123"));
	ck_assert(there("keep"));
	ck_assert(there(".crvs-tokend.1111111111111111"));
	ck_assert(there(".crvs-tokend.2222222222222222"));
	ck_assert(there(".crvs-tokend.3333333333333333"));

	tokenfile_free(tf);
	client_free(ca);
	unit_conf_free(a);
	free(p);
}
END_TEST

static Suite *
tokenfile_suite(void)
{
	Suite	*s = suite_create("tokenfile");
	TCase	*tc = tcase_create("files");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_render);
	tcase_add_test(tc, test_write_and_replace);
	tcase_add_test(tc, test_write_group);
	tcase_add_test(tc, test_write_group_refused);
	tcase_add_test(tc, test_symlink_refused);
	tcase_add_test(tc, test_not_regular_refused);
	tcase_add_test(tc, test_untrusted_dir_refused);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_remove_untrusted_dir_refused);
	tcase_add_test(tc, test_check_conf);
	suite_add_tcase(s, tc);
	tc = tcase_create("apply");
	tcase_add_checked_fixture(tc, client_setup, client_teardown);
	tcase_add_test(tc, test_apply_path_moves);
	tcase_add_test(tc, test_apply_at_lapse);
	tcase_add_test(tc, test_apply_removes_stale_tmp);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(tokenfile_suite());
}
