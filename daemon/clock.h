/*
 * Time. Validity and scheduling use CLOCK_BOOTTIME, which counts suspend and
 * is not moved by wall-clock changes; the wall clock only turns deadlines
 * into Unix times for display. Both sources can be replaced by tests.
 */
#ifndef CRVS_CLOCK_H
#define CRVS_CLOCK_H

#include <stdint.h>

struct event_base;
struct clock_timer;

int64_t	clock_boot_ms(void);
int64_t	clock_wall_ms(void);
/* For tests: NULL restores the real clock. */
void	clock_set_source(int64_t (*boot)(void), int64_t (*wall)(void));

/*
 * One-shot timers on the boot clock. All of them share one min-heap and one
 * timerfd (CLOCK_BOOTTIME) in the event loop, armed only for the earliest
 * deadline, so a thousand idle clients cost one descriptor and no wake-up.
 * The base may be NULL (unit tests): timers then fire only through
 * clock_run_due. All timers of a process belong to one event base.
 */
struct clock_timer *clock_timer_new(struct event_base *, void (*)(void *),
	    void *);
void	clock_timer_at(struct clock_timer *, int64_t boot_ms);
void	clock_timer_stop(struct clock_timer *);
int	clock_timer_pending(const struct clock_timer *);
int64_t	clock_timer_deadline(const struct clock_timer *);
void	clock_timer_free(struct clock_timer *);

/*
 * Fires, in deadline order, every timer due by clock_boot_ms(); a timer
 * armed again for "now" by a callback waits for the next call. Returns how
 * many fired. The loop calls it when the timerfd fires; tests call it after
 * moving the injected clock.
 */
int	clock_run_due(void);
/* The earliest deadline of an armed timer, or -1 (for tests). */
int64_t	clock_next_deadline(void);

#endif
