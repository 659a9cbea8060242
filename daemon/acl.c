#include "config.h"

#include "acl.h"
#include "conf.h"

static int
acl_has_gid(const struct conf_client *c, gid_t gid)
{
	size_t	i;

	for (i = 0; i < c->n_allow_gids; i++) {
		if (c->allow_gids[i] == gid)
			return 1;
	}
	return 0;
}

int
acl_allowed(const struct conf_client *c, const struct acl_peer *p,
    uid_t self_uid)
{
	size_t	i;

	if (p->uid == 0 || p->uid == self_uid)
		return 1;
	if (c->allow_users == NULL && c->allow_groups == NULL)
		return 1;
	for (i = 0; i < c->n_allow_uids; i++) {
		if (c->allow_uids[i] == p->uid)
			return 1;
	}
	if (acl_has_gid(c, p->gid))
		return 1;
	for (i = 0; i < p->ngroups; i++) {
		if (acl_has_gid(c, p->groups[i]))
			return 1;
	}
	return 0;
}
