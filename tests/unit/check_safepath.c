/*
 * Tests of daemon/safepath.c: which directories may hold a socket or a
 * secret. Real directories under a fresh mkdtemp directory; the ownership
 * cases need root (chown) and are skipped otherwise.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "unit.h"

#include "safepath.h"

#define OTHER_UID	54321	/* a user we do not trust */

static char	 top[64];

static void
setup(void)
{
	strcpy(top, "/tmp/check_safepath.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
}

static void
teardown(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
	ck_assert_int_eq(system(cmd), 0);
}

/* Makes top/name with mode (umask aside) and returns its path (static). */
static const char *
dir(const char *name, mode_t mode)
{
	static char	 path[256];

	snprintf(path, sizeof path, "%s/%s", top, name);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static int
check(const char *path, char **cause)
{
	*cause = NULL;
	return safepath_check_dir(path, geteuid(), cause);
}

START_TEST(test_private_dir_passes)
{
	char	*cause;

	ck_assert_int_eq(check(top, &cause), 0);
	ck_assert_int_eq(check(dir("run", 0750), &cause), 0);
	ck_assert_int_eq(check(dir("run/sub", 0700), &cause), 0);
}
END_TEST

START_TEST(test_writable_leaf_refused)
{
	const char	*modes[] = { "w777", "w770", "w1777", "w1730" };
	mode_t		 m[] = { 0777, 0770, 01777, 01730 };
	char		*cause;
	size_t		 i;

	for (i = 0; i < 4; i++) {
		const char *d = dir(modes[i], m[i]);

		ck_assert_int_eq(check(d, &cause), -1);
		ck_assert_ptr_nonnull(cause);
		ck_assert_msg(strstr(cause, d) != NULL, "cause %s", cause);
		ck_assert_msg(strstr(cause, "write") != NULL, "cause %s", cause);
		free(cause);
	}
}
END_TEST

START_TEST(test_writable_parent_needs_sticky)
{
	char	*cause;
	char	 sub[256];

	dir("open", 0777);
	snprintf(sub, sizeof sub, "%s/open/sock", top);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(check(sub, &cause), -1);
	ck_assert_msg(strstr(cause, "not sticky") != NULL, "cause %s", cause);
	free(cause);

	dir("sticky", 01777);
	snprintf(sub, sizeof sub, "%s/sticky/sock", top);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(check(sub, &cause), 0);
}
END_TEST

START_TEST(test_symlink_is_resolved)
{
	char	*cause;
	char	 link[256], sub[256];

	dir("open", 0777);
	snprintf(sub, sizeof sub, "%s/open/sock", top);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	snprintf(link, sizeof link, "%s/link", top);
	ck_assert_int_eq(symlink(sub, link), 0);
	/* The link itself sits in a safe directory, what it leads to not. */
	ck_assert_int_eq(check(link, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "/open"));
	free(cause);
}
END_TEST


/* The descriptor is of the directory checked; a refused one gives none. */
START_TEST(test_open_dir)
{
	struct stat	 a, b;
	char		*cause = NULL;
	char		 link[256], sub[256];
	uid_t		 uid = geteuid();
	int		 fd;

	fd = safepath_open_dir(dir("run", 0750), &uid, 1, &cause);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &a), 0);
	ck_assert_int_eq(stat(dir("run/sub", 0700), &b), 0);
	ck_assert_int_eq(fstatat(fd, "sub", &b, 0), 0);
	close(fd);
	/* A link to a safe directory is resolved, then used as checked. */
	snprintf(link, sizeof link, "%s/link", top);
	snprintf(sub, sizeof sub, "%s/run", top);
	ck_assert_int_eq(symlink(sub, link), 0);
	fd = safepath_open_dir(link, &uid, 1, &cause);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &b), 0);
	ck_assert(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	close(fd);
	ck_assert_int_eq(safepath_open_dir(dir("w777", 0777), &uid, 1,
	    &cause), -1);
	ck_assert_msg(strstr(cause, "write") != NULL, "cause %s", cause);
	free(cause);
	cause = NULL;
	snprintf(sub, sizeof sub, "%s/missing", top);
	ck_assert_int_eq(safepath_open_dir(sub, &uid, 1, &cause), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(cause);
}
END_TEST

START_TEST(test_missing_and_not_dir)
{
	char	*cause, path[256];
	FILE	*f;

	snprintf(path, sizeof path, "%s/missing", top);
	ck_assert_int_eq(check(path, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "missing"));
	free(cause);
	snprintf(path, sizeof path, "%s/file", top);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	ck_assert_int_eq(check(path, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "not a directory"));
	free(cause);
}
END_TEST

START_TEST(test_owner)
{
	uid_t		 both[] = { OTHER_UID + 1, OTHER_UID };
	char		*cause, path[256];
	const char	*d;

	if (geteuid() != 0)
		return;	/* chown needs root */
	d = dir("theirs", 0700);
	ck_assert_int_eq(chown(d, OTHER_UID, (gid_t)-1), 0);
	ck_assert_int_eq(check(d, &cause), -1);
	ck_assert_msg(strstr(cause, "owned by uid 54321") != NULL,
	    "cause %s", cause);
	free(cause);
	/* Trusted when it is one of the given users. */
	ck_assert_int_eq(safepath_check_dir_uids(d, both, 2, NULL), 0);
	ck_assert_int_eq(safepath_check_dir(d, OTHER_UID, NULL), 0);
	/* A file in a safe directory owned by someone untrusted. */
	d = dir("mine", 0700);
	snprintf(path, sizeof path, "%s/mine/f", top);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(chown(path, OTHER_UID, (gid_t)-1), 0);
	ck_assert_int_eq(safepath_check_file(path, both, 1, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "owned by uid"));
	free(cause);
	ck_assert_int_eq(safepath_check_file(path, both + 1, 1, NULL), 0);
	/* A directory above owned by someone untrusted. */
	d = dir("above", 0755);
	ck_assert_int_eq(chown(d, OTHER_UID, (gid_t)-1), 0);
	snprintf(path, sizeof path, "%s/above/sock", top);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(check(path, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "/above:"));
	free(cause);
}
END_TEST

START_TEST(test_file)
{
	uid_t	 me = geteuid();
	char	*cause, path[256], link[256];
	FILE	*f;

	snprintf(path, sizeof path, "%s/f", top);
	ck_assert_int_eq(safepath_check_file(path, &me, 1, NULL), 0);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	ck_assert_int_eq(safepath_check_file(path, &me, 1, NULL), 0);
	snprintf(link, sizeof link, "%s/l", top);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(safepath_check_file(link, &me, 1, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "symbolic link"));
	free(cause);
	dir("open", 0777);
	snprintf(path, sizeof path, "%s/open/f", top);
	ck_assert_int_eq(safepath_check_file(path, &me, 1, &cause), -1);
	free(cause);
}
END_TEST

static Suite *
safepath_suite(void)
{
	Suite	*s = suite_create("safepath");
	TCase	*tc;

	tc = tcase_create("dirs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_private_dir_passes);
	tcase_add_test(tc, test_writable_leaf_refused);
	tcase_add_test(tc, test_writable_parent_needs_sticky);
	tcase_add_test(tc, test_symlink_is_resolved);
	tcase_add_test(tc, test_open_dir);
	tcase_add_test(tc, test_missing_and_not_dir);
	tcase_add_test(tc, test_owner);
	tcase_add_test(tc, test_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(safepath_suite());
}
