#include "config.h"

#include <sys/timerfd.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "util.h"

struct clock_timer {
	int		 fd;
	struct event	*ev;
	void		(*cb)(void *);
	void		*arg;
	int64_t		 deadline;	/* -1 when not armed */
};

static int64_t	(*clock_boot_src)(void);
static int64_t	(*clock_wall_src)(void);

static int64_t
clock_read(clockid_t id)
{
	struct timespec	ts;

	if (clock_gettime(id, &ts) == -1)
		fatal("clock_gettime: %m");
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_boot_ms(void)
{
	if (clock_boot_src != NULL)
		return clock_boot_src();
	return clock_read(CLOCK_BOOTTIME);
}

int64_t
clock_wall_ms(void)
{
	if (clock_wall_src != NULL)
		return clock_wall_src();
	return clock_read(CLOCK_REALTIME);
}

void
clock_set_source(int64_t (*boot)(void), int64_t (*wall)(void))
{
	clock_boot_src = boot;
	clock_wall_src = wall;
}

static void
clock_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct clock_timer	*t = arg;
	uint64_t		 n;

	/* Nothing to read: re-armed since it became readable. */
	if (read(fd, &n, sizeof n) != sizeof n) {
		if (errno != EAGAIN)
			log_warn(NULL, "timerfd read: %m");
		return;
	}
	if (t->deadline == -1)
		return;
	t->deadline = -1;
	t->cb(t->arg);
}

struct clock_timer *
clock_timer_new(struct event_base *base, void (*cb)(void *), void *arg)
{
	struct clock_timer	*t = xcalloc(1, sizeof *t);

	t->fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd == -1)
		fatal("timerfd_create: %m");
	t->cb = cb;
	t->arg = arg;
	t->deadline = -1;
	t->ev = event_new(base, t->fd, EV_READ | EV_PERSIST, clock_timer_cb, t);
	if (t->ev == NULL || event_add(t->ev, NULL) == -1)
		fatal("cannot add timer event");
	return t;
}

/*
 * The deadline is on our (possibly injected) boot clock; the timerfd runs on
 * the real one, so arm it relative to now.
 */
void
clock_timer_at(struct clock_timer *t, int64_t boot_ms)
{
	struct itimerspec	its = { 0 };
	int64_t			delta = boot_ms - clock_boot_ms();

	if (delta < 1)
		delta = 1;
	its.it_value.tv_sec = delta / 1000;
	its.it_value.tv_nsec = (delta % 1000) * 1000000;
	if (timerfd_settime(t->fd, 0, &its, NULL) == -1)
		fatal("timerfd_settime: %m");
	t->deadline = boot_ms;
}

void
clock_timer_stop(struct clock_timer *t)
{
	struct itimerspec	its = { 0 };

	timerfd_settime(t->fd, 0, &its, NULL);
	t->deadline = -1;
}

int
clock_timer_pending(const struct clock_timer *t)
{
	return t->deadline != -1;
}

int64_t
clock_timer_deadline(const struct clock_timer *t)
{
	return t->deadline;
}

void
clock_timer_free(struct clock_timer *t)
{
	if (t == NULL)
		return;
	event_free(t->ev);
	close(t->fd);
	free(t);
}
