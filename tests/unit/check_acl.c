/*
 * Tests of daemon/acl.c: who may read which client's token, decided on the
 * peer's credentials (uid, primary gid, supplementary groups).
 */
#include "config.h"

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "unit.h"

#include "acl.h"
#include "conf.h"

#define SELF_UID	998	/* the daemon's own user (crvs-tokend) */

static char	c_name[] = "dhis2";
static char	c_users[] = "svc-dhis2, 1001";
static char	c_groups[] = "crvs-token";
static uid_t	c_uids[] = { 1000, 1001 };
static gid_t	c_gids[] = { 2000, 2001 };

/* A client with no allow lists. */
static void
client_open(struct conf_client *c)
{
	memset(c, 0, sizeof *c);
	c->name = c_name;
	c->refresh_margin = -1;
	c->min_valid = 30;
	c->fallback_lifetime = 600;
	c->timeout = 10;
}

static void
client_users(struct conf_client *c)
{
	client_open(c);
	c->allow_users = c_users;
	c->allow_uids = c_uids;
	c->n_allow_uids = 2;
}

static void
client_groups(struct conf_client *c)
{
	client_open(c);
	c->allow_groups = c_groups;
	c->allow_gids = c_gids;
	c->n_allow_gids = 2;
}

static struct acl_peer
peer(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups)
{
	struct acl_peer	p;

	memset(&p, 0, sizeof p);
	p.pid = 4242;
	p.uid = uid;
	p.gid = gid;
	p.groups = groups;
	p.ngroups = ngroups;
	return p;
}

START_TEST(test_no_lists_everyone)
{
	struct conf_client	c;
	struct acl_peer		p;
	static const gid_t	g[] = { 7, 8 };

	client_open(&c);
	p = peer(1234, 1234, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	p = peer(65534, 65534, g, 2);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	p = peer(0, 0, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
}
END_TEST

START_TEST(test_allow_users)
{
	struct conf_client	c;
	struct acl_peer		p;
	static const gid_t	g[] = { 2000, 2001 };

	client_users(&c);
	p = peer(1000, 1000, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	p = peer(1001, 5000, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	/* Another user is refused, whatever its groups. */
	p = peer(1002, 1002, NULL, 0);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
	p = peer(1002, 2000, g, 2);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
	/* A uid equal to a listed one in its gid does not count. */
	p = peer(1002, 1000, NULL, 0);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
}
END_TEST

START_TEST(test_allow_groups)
{
	struct conf_client	c;
	struct acl_peer		p;
	static const gid_t	one[] = { 2001 };
	static const gid_t	many[] = { 10, 20, 30, 2000 };
	static const gid_t	other[] = { 10, 20, 30 };

	client_groups(&c);
	/* By primary group. */
	p = peer(1500, 2000, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	p = peer(1500, 2001, other, 3);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	/* By a supplementary group, first or last. */
	p = peer(1500, 1500, one, 1);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	p = peer(1500, 1500, many, 4);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	/* Neither. */
	p = peer(1500, 1500, other, 3);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
	/* A listed group beyond ngroups is not one of the peer's. */
	p = peer(1500, 1500, many, 3);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
	/* A uid that equals a listed gid is not a member. */
	p = peer(2000, 1500, NULL, 0);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
}
END_TEST

START_TEST(test_users_and_groups)
{
	struct conf_client	c;
	struct acl_peer		p;
	static const gid_t	g[] = { 2001 };
	static const gid_t	none[] = { 3000 };

	client_users(&c);
	c.allow_groups = c_groups;
	c.allow_gids = c_gids;
	c.n_allow_gids = 2;
	/* Either list admits. */
	p = peer(1000, 1000, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	p = peer(1700, 1700, g, 1);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	p = peer(1700, 2000, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	/* A peer matching neither is refused. */
	p = peer(1700, 1700, none, 1);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
	p = peer(1700, 1700, NULL, 0);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
}
END_TEST

START_TEST(test_root_and_self)
{
	struct conf_client	c;
	struct acl_peer		p;

	client_users(&c);
	p = peer(0, 0, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	p = peer(0, 12345, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	p = peer(SELF_UID, SELF_UID, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	client_groups(&c);
	p = peer(0, 0, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	p = peer(SELF_UID, SELF_UID, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
	/* Only the daemon's own uid, not its group. */
	p = peer(1500, SELF_UID, NULL, 0);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
	/* When the daemon runs as root, self is root. */
	p = peer(1500, 1500, NULL, 0);
	ck_assert(!acl_allowed(&c, &p, 0));
	p = peer(0, 0, NULL, 0);
	ck_assert(acl_allowed(&c, &p, 0));
}
END_TEST

START_TEST(test_empty_lists)
{
	struct conf_client	c;
	struct acl_peer		p;
	static const gid_t	g[] = { 0, 2000 };

	/* A list that is set but resolves to nobody admits only root and
	 * self: an access list fails closed. */
	client_open(&c);
	c.allow_users = c_users;
	c.n_allow_uids = 0;
	p = peer(1000, 2000, g, 2);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
	p = peer(SELF_UID, SELF_UID, NULL, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));

	/* A peer with an empty groups array (NULL or not). */
	client_groups(&c);
	p = peer(1500, 1500, NULL, 0);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
	p = peer(1500, 1500, g, 0);
	ck_assert(!acl_allowed(&c, &p, SELF_UID));
	p = peer(1500, 2000, g, 0);
	ck_assert(acl_allowed(&c, &p, SELF_UID));
}
END_TEST

static Suite *
acl_suite(void)
{
	Suite	*s = suite_create("acl");
	TCase	*tc;

	tc = tcase_create("allowed");
	tcase_add_test(tc, test_no_lists_everyone);
	tcase_add_test(tc, test_allow_users);
	tcase_add_test(tc, test_allow_groups);
	tcase_add_test(tc, test_users_and_groups);
	tcase_add_test(tc, test_root_and_self);
	tcase_add_test(tc, test_empty_lists);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(acl_suite());
}
