/*
 * The daemon's clocks and its timers. Everything that schedules (refresh,
 * backoff, the end of a token's servable time, waiters' timeouts) uses a
 * clock_timer; the timers live in one binary min-heap ordered by deadline,
 * and one timerfd on CLOCK_BOOTTIME is armed for the earliest, so the loop
 * wakes only when something is due, and a suspend or a VM pause makes the
 * due timers fire at resume. The clock sources can be replaced (tests), and
 * clock_run_due lets a test fire what its fake time made due.
 */
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
	void		(*cb)(void *);
	void		*arg;
	int64_t		 deadline;	/* -1 when not armed */
	uint64_t	 seq;		/* arming order: ties, and re-arms */
	size_t		 slot;		/* in the heap, when armed */
};

/* The timers of the process (one event base). */
static struct {
	struct clock_timer	**heap;
	size_t			  n, size;
	size_t			  ntimers;	/* created, armed or not */
	uint64_t		  seq;
	struct event_base	 *base;
	int			  fd;
	struct event		 *ev;
	int64_t			  armed;	/* the fd's deadline, or -1 */
} clock_q = { NULL, 0, 0, 0, 0, NULL, -1, NULL, -1 };

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

/* ---- the heap ---- */

static int
clock_before(const struct clock_timer *a, const struct clock_timer *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static void
clock_heap_put(size_t i, struct clock_timer *t)
{
	clock_q.heap[i] = t;
	t->slot = i;
}

static void
clock_sift_up(size_t i)
{
	struct clock_timer	*t = clock_q.heap[i];
	size_t			 parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!clock_before(t, clock_q.heap[parent]))
			break;
		clock_heap_put(i, clock_q.heap[parent]);
		i = parent;
	}
	clock_heap_put(i, t);
}

static void
clock_sift_down(size_t i)
{
	struct clock_timer	*t = clock_q.heap[i];
	size_t			 child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= clock_q.n)
			break;
		if (child + 1 < clock_q.n &&
		    clock_before(clock_q.heap[child + 1], clock_q.heap[child]))
			child++;
		if (!clock_before(clock_q.heap[child], t))
			break;
		clock_heap_put(i, clock_q.heap[child]);
		i = child;
	}
	clock_heap_put(i, t);
}

static void
clock_heap_insert(struct clock_timer *t)
{
	if (clock_q.n == clock_q.size) {
		clock_q.size = clock_q.size ? clock_q.size * 2 : 16;
		clock_q.heap = xreallocarray(clock_q.heap, clock_q.size,
		    sizeof *clock_q.heap);
	}
	clock_heap_put(clock_q.n++, t);
	clock_sift_up(t->slot);
}

static void
clock_heap_remove(struct clock_timer *t)
{
	size_t			 i = t->slot;
	struct clock_timer	*last = clock_q.heap[--clock_q.n];

	t->deadline = -1;
	if (last == t)
		return;
	clock_heap_put(i, last);
	if (i > 0 && clock_before(last, clock_q.heap[(i - 1) / 2]))
		clock_sift_up(i);
	else
		clock_sift_down(i);
}

/* ---- the timerfd ---- */

/* Arms the timerfd for the earliest deadline, or disarms it. */
static void
clock_arm(void)
{
	struct itimerspec	its = { 0 };
	int64_t			deadline, delta;

	if (clock_q.fd == -1)
		return;
	deadline = clock_q.n > 0 ? clock_q.heap[0]->deadline : -1;
	if (deadline == clock_q.armed)
		return;
	if (deadline != -1) {
		/* The deadline is on our (possibly injected) boot clock; the
		 * timerfd runs on the real one: arm it relative to now. */
		delta = deadline - clock_boot_ms();
		if (delta < 1)
			delta = 1;
		its.it_value.tv_sec = delta / 1000;
		its.it_value.tv_nsec = (delta % 1000) * 1000000;
	}
	if (timerfd_settime(clock_q.fd, 0, &its, NULL) == -1)
		fatal("timerfd_settime: %m");
	clock_q.armed = deadline;
}

static void
clock_fd_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t	n;

	/* Nothing to read: re-armed since it became readable. */
	if (read(fd, &n, sizeof n) != sizeof n && errno != EAGAIN)
		log_warn(NULL, "timerfd read: %m");
	clock_q.armed = -1;
	clock_run_due();
	clock_arm();
}

static void
clock_fd_open(struct event_base *base)
{
	clock_q.fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (clock_q.fd == -1)
		fatal("timerfd_create: %m");
	clock_q.ev = event_new(base, clock_q.fd, EV_READ | EV_PERSIST,
	    clock_fd_cb, NULL);
	if (clock_q.ev == NULL || event_add(clock_q.ev, NULL) == -1)
		fatal("cannot add timer event");
	clock_q.base = base;
	clock_q.armed = -1;
}

static void
clock_fd_close(void)
{
	if (clock_q.ev != NULL)
		event_free(clock_q.ev);
	if (clock_q.fd != -1)
		close(clock_q.fd);
	clock_q.ev = NULL;
	clock_q.fd = -1;
	clock_q.base = NULL;
	clock_q.armed = -1;
}

/* ---- timers ---- */

struct clock_timer *
clock_timer_new(struct event_base *base, void (*cb)(void *), void *arg)
{
	struct clock_timer	*t = xcalloc(1, sizeof *t);

	if (base != NULL && clock_q.base == NULL)
		clock_fd_open(base);
	else if (base != NULL && base != clock_q.base)
		fatal("clock timers of two event bases");
	t->cb = cb;
	t->arg = arg;
	t->deadline = -1;
	clock_q.ntimers++;
	return t;
}

void
clock_timer_at(struct clock_timer *t, int64_t boot_ms)
{
	if (t->deadline != -1)
		clock_heap_remove(t);
	t->deadline = boot_ms < 0 ? 0 : boot_ms;
	t->seq = ++clock_q.seq;
	clock_heap_insert(t);
	clock_arm();
}

void
clock_timer_stop(struct clock_timer *t)
{
	if (t->deadline == -1)
		return;
	clock_heap_remove(t);
	clock_arm();
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
	clock_timer_stop(t);
	free(t);
	/* The last timer gone (end of the loop): leave the base clean. */
	if (--clock_q.ntimers == 0) {
		clock_fd_close();
		free(clock_q.heap);
		clock_q.heap = NULL;
		clock_q.size = 0;
	}
}

int
clock_run_due(void)
{
	struct clock_timer	*t;
	int64_t			 now = clock_boot_ms();
	uint64_t		 last = clock_q.seq;
	int			 fired = 0;

	/* Timers armed by the callbacks (seq > last) wait for the next run,
	 * so a callback that re-arms for "now" cannot spin the loop. */
	while (clock_q.n > 0) {
		t = clock_q.heap[0];
		if (t->deadline > now || t->seq > last)
			break;
		clock_heap_remove(t);
		fired++;
		t->cb(t->arg);
	}
	clock_arm();
	return fired;
}

int64_t
clock_next_deadline(void)
{
	return clock_q.n > 0 ? clock_q.heap[0]->deadline : -1;
}
