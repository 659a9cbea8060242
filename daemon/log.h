/*
 * Logging to standard error, one line per event. Under journald (detected
 * through $JOURNAL_STREAM) lines go to the journal with their priority and,
 * for a client, a CLIENT= field. Never pass a token or a secret.
 */
#ifndef CRVS_LOG_H
#define CRVS_LOG_H

#include <syslog.h>

void	log_init(int level);
void	log_set_level(int level);
int	log_get_level(void);
/* Returns a syslog priority, or -1 for an unknown name. */
int	log_level_parse(const char *);
const char *log_level_name(int);
void	log_msg(int prio, const char *client, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#define log_error(c, ...)	log_msg(LOG_ERR, (c), __VA_ARGS__)
#define log_warn(c, ...)	log_msg(LOG_WARNING, (c), __VA_ARGS__)
#define log_info(c, ...)	log_msg(LOG_INFO, (c), __VA_ARGS__)
#define log_debug(c, ...)	do {					\
	if (log_get_level() >= LOG_DEBUG)				\
		log_msg(LOG_DEBUG, (c), __VA_ARGS__);			\
} while (0)

#endif
