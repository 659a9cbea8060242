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

/* A one-shot timer on CLOCK_BOOTTIME (a timerfd in the event loop). */
struct clock_timer *clock_timer_new(struct event_base *, void (*)(void *),
	    void *);
void	clock_timer_at(struct clock_timer *, int64_t boot_ms);
void	clock_timer_stop(struct clock_timer *);
int	clock_timer_pending(const struct clock_timer *);
int64_t	clock_timer_deadline(const struct clock_timer *);
void	clock_timer_free(struct clock_timer *);

#endif
