/* Who may read which client's token: a pure decision on peer credentials. */
#ifndef CRVS_ACL_H
#define CRVS_ACL_H

#include <sys/types.h>
#include <stddef.h>

struct conf_client;

struct acl_peer {
	pid_t		 pid;
	uid_t		 uid;
	gid_t		 gid;
	const gid_t	*groups;	/* supplementary groups */
	size_t		 ngroups;
};

/*
 * A client with no allow list is readable by whoever can open the socket.
 * root and the daemon's own user (self_uid) may read every client.
 */
int	acl_allowed(const struct conf_client *, const struct acl_peer *,
	    uid_t self_uid);

#endif
