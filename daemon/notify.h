/* systemd integration: readiness and status, socket activation, watchdog.
 * Every call is a no-op when not run by systemd. */
#ifndef CRVS_NOTIFY_H
#define CRVS_NOTIFY_H

struct event_base;

/* Starts WATCHDOG=1 pings from the loop if WatchdogSec= is set. */
void	notify_init(struct event_base *);
void	notify_fini(void);
void	notify_ready(const char *status);
void	notify_status(const char *status);
void	notify_reloading(void);
void	notify_stopping(void);
/*
 * The listening socket systemd passed (crvs-tokend.socket), -1 if none,
 * or -2 with a cause if what was passed is unusable.
 */
int	notify_listen_fd(char **cause);

#endif
