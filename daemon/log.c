#include "config.h"

#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"
#include "util.h"

static int	log_level = LOG_INFO;
static int	log_journal;	/* stderr is connected to journald */

static const struct {
	const char	*name;
	int		 prio;
} log_levels[] = {
	{ "error", LOG_ERR },
	{ "warning", LOG_WARNING },
	{ "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
};

/* systemd sets JOURNAL_STREAM to "dev:ino" of the stream it gave us. */
static int
log_stderr_is_journal(void)
{
	const char		*e = getenv("JOURNAL_STREAM");
	struct stat		 st;
	unsigned long long	 dev, ino;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return st.st_dev == dev && st.st_ino == ino;
}

void
log_init(int level)
{
	log_level = level;
	log_journal = log_stderr_is_journal();
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++) {
		if (strcasecmp(s, log_levels[i].name) == 0)
			return log_levels[i].prio;
	}
	return -1;
}

const char *
log_level_name(int prio)
{
	size_t	i;

	for (i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++) {
		if (log_levels[i].prio == prio)
			return log_levels[i].name;
	}
	return "unknown";
}

static void
log_vmsg(int prio, const char *client, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
log_vmsg(int prio, const char *client, const char *fmt, va_list ap)
{
	char		 msg[1024];
	char		 stamp[32];
	char		*p, *esc;
	struct timespec	 ts;
	struct tm	 tm;

	if (prio > log_level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	/*
	 * Callers escape what came from outside; this is the last guard: no
	 * line can forge another or reach a terminal with control characters.
	 * (Only then does it allocate: fatal's "out of memory" has none.)
	 */
	for (p = msg; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			break;
	}
	if (*p != '\0') {
		esc = util_escape(msg, strlen(msg), sizeof msg - 1);
		snprintf(msg, sizeof msg, "%s", esc);
		free(esc);
	}

	if (log_journal) {
		if (client != NULL)
			sd_journal_send("MESSAGE=%s: %s", client, msg,
			    "PRIORITY=%d", prio, "CLIENT=%s", client,
			    "SYSLOG_IDENTIFIER=crvs-tokend", NULL);
		else
			sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio,
			    "SYSLOG_IDENTIFIER=crvs-tokend", NULL);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	if (client != NULL)
		fprintf(stderr, "%s.%03ld crvs-tokend[%ld] %s: %s: %s\n", stamp,
		    ts.tv_nsec / 1000000, (long)getpid(),
		    log_level_name(prio), client, msg);
	else
		fprintf(stderr, "%s.%03ld crvs-tokend[%ld] %s: %s\n", stamp,
		    ts.tv_nsec / 1000000, (long)getpid(),
		    log_level_name(prio), msg);
}

void
log_msg(int prio, const char *client, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(prio, client, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
