#include "config.h"

#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"
#include "util.h"

static struct event	*notify_watchdog;
static struct timeval	 notify_watchdog_tv;

static void
notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

void
notify_init(struct event_base *base)
{
	uint64_t	usec;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	/* Ping at half the interval, from the loop itself. */
	usec /= 2;
	notify_watchdog_tv.tv_sec = (time_t)(usec / 1000000);
	notify_watchdog_tv.tv_usec = (suseconds_t)(usec % 1000000);
	notify_watchdog = event_new(base, -1, EV_PERSIST, notify_watchdog_cb,
	    NULL);
	event_add(notify_watchdog, &notify_watchdog_tv);
	sd_notify(0, "WATCHDOG=1");
	log_debug(NULL, "watchdog ping every %.1f s", (double)usec / 1e6);
}

void
notify_fini(void)
{
	if (notify_watchdog != NULL)
		event_free(notify_watchdog);
	notify_watchdog = NULL;
}

void
notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void
notify_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

void
notify_reloading(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

int
notify_listen_fd(char **cause)
{
	int	n;

	n = sd_listen_fds(1);
	if (n <= 0)
		return -1;
	if (n > 1) {
		util_cause(cause, "systemd passed %d sockets; expected one", n);
		return -2;
	}
	if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL,
	    0) <= 0) {
		util_cause(cause, "the socket systemd passed is not a "
		    "listening Unix stream socket");
		return -2;
	}
	return SD_LISTEN_FDS_START;
}
