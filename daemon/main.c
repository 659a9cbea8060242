/*
 * crvs-tokend: start-up, options and wiring. Everything else is in the
 * library (libtokend.a) that the tests link too.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "api.h"
#include "client.h"
#include "clock.h"
#include "conf.h"
#include "fetch.h"
#include "log.h"
#include "notify.h"
#include "probe.h"
#include "server.h"
#include "tokenfile.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define MAIN_DEFAULT_CONF	SYSCONFDIR "/crvs-tokend/crvs-tokend.conf"
/* A burst of fetches recomputes the status at most this often (ms). */
#define MAIN_STATUS_COALESCE	100
#define MAIN_READY_MAX		60	/* seconds; systemd's start timeout is 90 */
/* Seconds a stop waits for the connections already accepted: a client
 * connects and sends its request at once, so this is ample. */
#define MAIN_DRAIN_MAX		2

struct tokend {
	struct event_base	*base;
	struct conf		*conf;
	struct fetch		*fetch;
	struct api		*api;
	struct server		*server;
	struct client		**clients;
	size_t			 nclients;
	struct tokenfile	*files;		/* token_file= */
	int			 ready;
	int			 level_forced;	/* -l given */
	struct event		*status_timer;	/* a recompute is due */
	int64_t			 status_at;	/* boot ms of the last one */
	struct event		*ready_timer;
	struct event		*drain_timer;	/* bounds a stop */
	int			 stopping;
	char			*last_status;
	char			*reload_error;	/* until the next good reload */
};

static void
main_usage(FILE *f)
{
	fprintf(f,
"usage: crvs-tokend [-c FILE] [--check-config] [-l LEVEL] [-h] [-V]\n"
"       crvs-tokend [-c FILE] --probe [CLIENT...]\n"
"\n"
"Keeps a valid OpenCRVS client token for each configured client and serves\n"
"it on a Unix socket to crvs-token(1) and any HTTP client.\n"
"\n"
"  -c, --config FILE    configuration file (default %s);\n"
"                       FILE's clients.d/*.conf are read too\n"
"      --check-config   validate the configuration and exit 0 or 1\n"
"      --probe          load the configuration, ask the issuer for one token\n"
"                       for each CLIENT (default: all), report the status,\n"
"                       the issuer's error, the token's lifetime and scopes,\n"
"                       the issuer's clock offset and a verdict; exit 0 only\n"
"                       if every client got a usable token (the token itself\n"
"                       is never shown; no socket is opened)\n"
"  -l, --log-level LVL  error, warning, info or debug (overrides the file)\n"
"  -h, --help           show this help\n"
"  -V, --version        show the version\n"
"\n"
"Runs in the foreground and logs to standard error. SIGHUP reloads the\n"
"configuration; SIGTERM or SIGINT stops, after answering the requests\n"
"already accepted (at most 2 s). See crvs-tokend(8).\n",
	    MAIN_DEFAULT_CONF);
}

/*
 * The moment of the next refresh in local time, as systemctl shows its own
 * times: a clock time stays true until something changes, where a countdown
 * would need waking up to be rewritten.
 */
static void
main_fmt_time(char *buf, size_t size, int64_t in_ms)
{
	time_t		when = (time_t)((clock_wall_ms() + in_ms + 999) / 1000);
	struct tm	tm;

	if (localtime_r(&when, &tm) == NULL ||
	    strftime(buf, size, in_ms < 20 * 3600 * 1000 ? "%H:%M:%S" :
	    "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "@%lld", (long long)when);
}

/* The line systemctl status shows. */
static char *
main_status_line(struct tokend *t)
{
	size_t		 i, valid = 0;
	int64_t		 next = -1, n;
	struct client	*c, *bad = NULL;
	char		 dur[32];

	for (i = 0; i < t->nclients; i++) {
		c = t->clients[i];
		if (client_servable(c))
			valid++;
		else if (bad == NULL && client_attempted(c))
			bad = c;
		n = client_next_fetch_in(c);
		if (n >= 0 && (next == -1 || n < next))
			next = n;
	}
	if (t->reload_error != NULL)
		return xasprintf("reload failed, running the previous "
		    "configuration: %s", t->reload_error);
	if (t->nclients == 0)
		return xstrdup("no clients configured");
	if (bad != NULL)
		return xasprintf("%zu client%s: %zu valid; %s: %s",
		    t->nclients, t->nclients == 1 ? "" : "s", valid,
		    client_name(bad), client_last_error(bad) != NULL ?
		    client_last_error(bad) : client_state(bad));
	if (next < 0)
		return xasprintf("%zu client%s: %zu valid", t->nclients,
		    t->nclients == 1 ? "" : "s", valid);
	main_fmt_time(dur, sizeof dur, next);
	return xasprintf("%zu client%s: %zu valid, next refresh at %s",
	    t->nclients, t->nclients == 1 ? "" : "s", valid, dur);
}

/*
 * READY=1 once every client has its first token or has failed its first
 * attempt; force: at MAIN_READY_MAX whatever is still in flight, so that a
 * hanging issuer does not hold the boot (or systemd's start timeout).
 */
static void
main_check_ready(struct tokend *t, int force)
{
	char	*line = main_status_line(t);
	size_t	 i;

	if (!t->ready) {
		for (i = 0; i < t->nclients; i++) {
			if (!client_attempted(t->clients[i]))
				break;
		}
		if (i == t->nclients || force) {
			t->ready = 1;
			notify_ready(line);
			log_info(NULL, "ready: %s", line);
			free(t->last_status);
			t->last_status = line;
			event_del(t->ready_timer);
			/* The start-up burst (libcurl's buffers, JSON) is
			 * over: give its heap back. */
			malloc_trim(0);
			return;
		}
	}
	if (t->last_status == NULL || strcmp(line, t->last_status) != 0)
		notify_status(line);
	free(t->last_status);
	t->last_status = line;
}

static void
main_update_status(struct tokend *t)
{
	t->status_at = clock_boot_ms();
	main_check_ready(t, 0);
}

/*
 * Something changed: recompute the status (a pass over all clients) soon,
 * at most once per MAIN_STATUS_COALESCE ms, so that 1,000 fetches at
 * start-up cost 1,000 passes' worth of nothing but a few dozen passes.
 */
static void
main_client_cb(void *arg, struct client *c)
{
	struct tokend	*t = arg;
	struct timeval	 tv = { 0, 0 };
	int64_t		 since;

	if (evtimer_pending(t->status_timer, NULL))
		return;
	since = clock_boot_ms() - t->status_at;
	if (since >= 0 && since < MAIN_STATUS_COALESCE)
		tv.tv_usec = (MAIN_STATUS_COALESCE - since) * 1000;
	evtimer_add(t->status_timer, &tv);
}

static void
main_status_cb(evutil_socket_t fd, short what, void *arg)
{
	main_update_status(arg);
}

static void
main_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tokend	*t = arg;

	if (!t->ready)
		log_warn(NULL, "still waiting for the issuer after %d s; "
		    "telling systemd we are ready anyway", MAIN_READY_MAX);
	main_check_ready(t, 1);
}

/*
 * Builds the client list for conf, taking over the old clients whose source
 * did not change (with their tokens and timers) and freeing the rest.
 */
static void
main_apply(struct tokend *t, struct conf *conf, int initial)
{
	struct client		**next;
	struct conf_client	 *cc;
	size_t			  i, j;

	next = xcalloc(conf->nclients ? conf->nclients : 1, sizeof *next);
	for (i = 0; i < conf->nclients; i++) {
		cc = conf->clients[i];
		for (j = 0; j < t->nclients; j++) {
			if (t->clients[j] != NULL && conf_client_same_source(
			    client_conf(t->clients[j]), cc))
				break;
		}
		if (j < t->nclients) {
			next[i] = t->clients[j];
			t->clients[j] = NULL;
			client_set_conf(next[i], cc);
			log_debug(cc->name, "unchanged; keeping its token");
		} else {
			log_info(cc->name, "%s (%s:%d)", initial ? "configured" :
			    "new or changed", cc->file, cc->line);
			next[i] = client_new(t->base, t->fetch, cc,
			    main_client_cb, t);
			/* Changed, not removed: its callers wait for this. */
			for (j = 0; j < t->nclients; j++) {
				if (t->clients[j] != NULL && strcmp(
				    client_name(t->clients[j]), cc->name) == 0)
					client_hand_over(t->clients[j],
					    next[i]);
			}
		}
	}
	/* While the old clients still exist: their files go with them. */
	tokenfile_apply(t->files, next, conf->nclients);
	for (j = 0; j < t->nclients; j++) {
		if (t->clients[j] != NULL) {
			log_info(client_name(t->clients[j]), "removed or "
			    "changed; its token is dropped");
			client_free(t->clients[j]);
		}
	}
	free(t->clients);
	t->clients = next;
	t->nclients = conf->nclients;
	api_set_clients(t->api, t->clients, t->nclients);
}

static void
main_reload(struct tokend *t)
{
	struct conf	*conf;
	char		*cause = NULL;

	notify_reloading();
	log_info(NULL, "reloading %s", t->conf->path);
	if ((conf = conf_load(t->conf->path, &cause)) == NULL ||
	    tokenfile_check_conf(conf, &cause) == -1) {
		conf_free(conf);
		log_error(NULL, "reload failed, keeping the running "
		    "configuration: %s", cause);
		free(t->reload_error);
		t->reload_error = cause;
		free(t->last_status);
		t->last_status = main_status_line(t);
		notify_ready(t->last_status);
		return;
	}
	if (strcmp(conf->socket_path, t->conf->socket_path) != 0 ||
	    conf->socket_mode != t->conf->socket_mode ||
	    conf->socket_gid != t->conf->socket_gid)
		log_warn(NULL, "socket settings changed; they apply at the "
		    "next restart");
	if (!t->level_forced)
		log_set_level(conf->log_level);
	free(t->reload_error);
	t->reload_error = NULL;
	fetch_set_max_upstream(t->fetch, conf->max_upstream);
	main_apply(t, conf, 0);
	conf_free(t->conf);
	t->conf = conf;
	free(t->last_status);
	t->last_status = main_status_line(t);
	notify_ready(t->last_status);
	log_info(NULL, "reloaded: %zu client%s", t->nclients,
	    t->nclients == 1 ? "" : "s");
	malloc_trim(0);
}

static void
main_drained_cb(void *arg)
{
	struct tokend	*t = arg;

	event_base_loopbreak(t->base);
}

static void
main_drain_timeout_cb(evutil_socket_t unused, short what, void *arg)
{
	struct tokend	*t = arg;

	log_info(NULL, "stopping with connections still open after %d s",
	    MAIN_DRAIN_MAX);
	event_base_loopbreak(t->base);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct tokend	*t = arg;
	struct timeval	 tv = { MAIN_DRAIN_MAX, 0 };

	switch (sig) {
	case SIGHUP:
		if (!t->stopping)
			main_reload(t);
		break;
	case SIGTERM:
	case SIGINT:
		if (t->stopping) {
			/* A second signal: no more waiting. */
			event_base_loopbreak(t->base);
			break;
		}
		t->stopping = 1;
		log_info(NULL, "stopping on signal %d", (int)sig);
		notify_stopping();
		/* Those already connected get their answers first. */
		event_add(t->drain_timer, &tv);
		server_drain(t->server, main_drained_cb, t);
		break;
	}
}

/* Secrets must not reach core dumps; connections need descriptors. */
static void
main_harden(void)
{
	struct rlimit	rl;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_warn(NULL, "cannot make the process non-dumpable: %m");
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
}

/* --probe: no socket, no systemd, the report on stdout. Frees conf. */
static int
main_probe(struct conf *conf, char **names, size_t nnames)
{
	char	*cause = NULL;
	int	 rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("curl_global_init failed");
	rc = probe_run(conf, names, nnames, stdout, &cause);
	if (rc == -1) {
		fprintf(stderr, "crvs-tokend: --probe: %s\n", cause);
		free(cause);
		rc = 64;
	}
	curl_global_cleanup();
	conf_free(conf);
	if (fflush(stdout) == EOF && rc == 0)
		rc = 1;
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "probe", no_argument, NULL, 'P' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct tokend	 t = { 0 };
	const char	*path = MAIN_DEFAULT_CONF;
	char		*cause = NULL;
	struct event	*sigs[3];
	int		 ch, check = 0, probe = 0, level = -1, fd, signo[] = {
			    SIGHUP, SIGTERM, SIGINT };
	unsigned short	 seed[3];
	struct timeval	 tv = { MAIN_READY_MAX, 0 };
	struct event_config *cfg;
	size_t		 i;

	while ((ch = getopt_long(argc, argv, "c:l:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'P':
			probe = 1;
			break;
		case 'l':
			if ((level = log_level_parse(optarg)) == -1) {
				fprintf(stderr, "crvs-tokend: unknown log level "
				    "'%s'\n", optarg);
				return 64;
			}
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		case 'V':
			printf("crvs-tokend %s\n", PACKAGE_VERSION);
			return 0;
		default:
			main_usage(stderr);
			return 64;
		}
	}
	/* Operands are the clients to probe, and nothing else. */
	if ((optind != argc && !probe) || (probe && check)) {
		main_usage(stderr);
		return 64;
	}
	main_harden();
	/* A probe's report is on stdout: only warnings on stderr. */
	log_init(level != -1 ? level : probe ? LOG_WARNING : LOG_INFO);
	conf_set_check_only(check);
	if ((t.conf = conf_load(path, &cause)) == NULL) {
		if (check || probe)
			fprintf(stderr, "crvs-tokend: %s\n", cause);
		else
			log_error(NULL, "%s", cause);
		free(cause);
		return 1;
	}
	if (check) {
		printf("%s: OK, %zu client%s\n", path, t.conf->nclients,
		    t.conf->nclients == 1 ? "" : "s");
		for (i = 0; i < t.conf->nclients; i++) {
			if (strstr(t.conf->clients[i]->secret_source,
			    "not read") != NULL)
				printf("  [client %s]: secret from %s\n",
				    t.conf->clients[i]->name,
				    t.conf->clients[i]->secret_source);
		}
		conf_free(t.conf);
		return 0;
	}
	if (probe)
		return main_probe(t.conf, argv + optind, (size_t)(argc - optind));
	if (tokenfile_check_conf(t.conf, &cause) == -1) {
		log_error(NULL, "%s", cause);
		free(cause);
		conf_free(t.conf);
		return 1;
	}
	t.level_forced = level != -1;
	if (!t.level_forced)
		log_set_level(t.conf->log_level);

	if (getrandom(seed, sizeof seed, 0) != sizeof seed)
		fatal("getrandom: %m");
	seed48(seed);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("curl_global_init failed");
	/*
	 * evhttp turns reading off and writing on for every request, and
	 * back after the answer: with the change list each turn is one
	 * epoll_ctl instead of two (a third of the system calls per request).
	 */
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_flag(cfg,
	    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == -1 ||
	    (t.base = event_base_new_with_config(cfg)) == NULL)
		fatal("event_base_new failed");
	event_config_free(cfg);
	t.fetch = fetch_new(t.base);
	fetch_set_max_upstream(t.fetch, t.conf->max_upstream);
	t.api = api_new(geteuid());

	if ((fd = notify_listen_fd(&cause)) == -2)
		fatal("%s", cause);
	t.server = server_new(t.base, t.api, fd, t.conf->socket_path,
	    t.conf->socket_mode, t.conf->socket_gid, &cause);
	if (t.server == NULL)
		fatal("%s", cause);
	if (fd >= 0)
		log_info(NULL, "crvs-tokend %s listening on the socket from "
		    "systemd", PACKAGE_VERSION);
	else
		log_info(NULL, "crvs-tokend %s listening on %s",
		    PACKAGE_VERSION, t.conf->socket_path);

	for (i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(t.base, signo[i], main_signal_cb, &t);
		evsignal_add(sigs[i], NULL);
	}
	notify_init(t.base);
	t.status_timer = evtimer_new(t.base, main_status_cb, &t);
	t.ready_timer = evtimer_new(t.base, main_ready_cb, &t);
	t.drain_timer = evtimer_new(t.base, main_drain_timeout_cb, &t);
	event_add(t.ready_timer, &tv);

	t.files = tokenfile_new();
	main_apply(&t, t.conf, 1);
	if (t.nclients == 0) {
		log_warn(NULL, "no clients configured");
		main_update_status(&t);
	}

	event_base_dispatch(t.base);

	tokenfile_free(t.files);

	for (i = 0; i < t.nclients; i++)
		client_free(t.clients[i]);
	free(t.clients);
	for (i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_free(t.status_timer);
	event_free(t.ready_timer);
	event_free(t.drain_timer);
	notify_fini();
	server_free(t.server);
	api_free(t.api);
	fetch_free(t.fetch);
	event_base_free(t.base);
	curl_global_cleanup();
	conf_free(t.conf);
	free(t.last_status);
	free(t.reload_error);
	log_info(NULL, "stopped");
	return 0;
}
