/*
 * loadgen: a bounded HTTP/1.1 load generator for a Unix socket or a
 * loopback TCP port. THREADS threads each keep one connection and send
 * REQUESTS requests in turn (keep-alive), then it prints requests per second
 * and latency percentiles.
 *
 *   loadgen (-u SOCKET | -p PORT) -t THREADS -n REQUESTS [-m METHOD] [-b BODY]
 *           [-H HEADER] PATH
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

struct worker {
	pthread_t	 thread;
	int		 n;
	double		*lat;		/* seconds, one per request */
	int		 done;
	int		 errors;
};

static const char	*sock_path, *method = "GET", *path, *body = "";
static const char	*header = "Accept: text/plain";
static int		 port;
static char		 request[4096];
static size_t		 request_len;

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
dial(void)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	int			fd;

	if (sock_path != NULL) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		strncpy(sun.sun_path, sock_path, sizeof sun.sun_path - 1);
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
			close(fd);
			return -1;
		}
		return fd;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
on_complete(http_parser *p)
{
	*(int *)p->data = p->status_code == 200 ? 1 : 2;
	return 0;
}

static void *
work(void *arg)
{
	struct worker		*w = arg;
	http_parser_settings	 settings = { .on_message_complete = on_complete };
	http_parser		 parser;
	char			 buf[65536];
	int			 fd = -1, state, i;
	ssize_t			 n;
	double			 t0;

	for (i = 0; i < w->n; i++) {
		if (fd == -1 && (fd = dial()) == -1) {
			w->errors++;
			continue;
		}
		t0 = now();
		if (write(fd, request, request_len) != (ssize_t)request_len) {
			close(fd);
			fd = -1;
			w->errors++;
			continue;
		}
		http_parser_init(&parser, HTTP_RESPONSE);
		state = 0;
		parser.data = &state;
		while (state == 0) {
			if ((n = read(fd, buf, sizeof buf)) <= 0)
				break;
			if (http_parser_execute(&parser, &settings, buf,
			    (size_t)n) != (size_t)n)
				break;
		}
		w->lat[w->done++] = now() - t0;
		if (state != 1)
			w->errors++;
		if (state == 0 || !http_should_keep_alive(&parser)) {
			close(fd);
			fd = -1;
		}
	}
	if (fd != -1)
		close(fd);
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct worker	*w;
	double		*all, t0, elapsed;
	int		 ch, threads = 8, n = 1000, i, j, total = 0, errors = 0;

	while ((ch = getopt(argc, argv, "u:p:t:n:m:b:H:")) != -1) {
		switch (ch) {
		case 'u': sock_path = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'm': method = optarg; break;
		case 'b': body = optarg; break;
		case 'H': header = optarg; break;
		default: return 64;
		}
	}
	if (optind + 1 != argc || (sock_path == NULL && port == 0) ||
	    threads < 1 || threads > 1024 || n < 1 || n > 10000000) {
		fprintf(stderr, "usage: loadgen (-u SOCKET | -p PORT) -t THREADS "
		    "-n REQUESTS [-m METHOD] [-b BODY] [-H HEADER] PATH\n");
		return 64;
	}
	path = argv[optind];
	request_len = (size_t)snprintf(request, sizeof request,
	    "%s %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, header, strlen(body), body);
	w = calloc((size_t)threads, sizeof *w);
	t0 = now();
	for (i = 0; i < threads; i++) {
		w[i].n = n / threads + (i < n % threads);
		w[i].lat = calloc((size_t)w[i].n + 1, sizeof(double));
		pthread_create(&w[i].thread, NULL, work, &w[i]);
	}
	for (i = 0; i < threads; i++)
		pthread_join(w[i].thread, NULL);
	elapsed = now() - t0;
	all = calloc((size_t)n, sizeof(double));
	for (i = 0; i < threads; i++) {
		for (j = 0; j < w[i].done; j++)
			all[total++] = w[i].lat[j];
		errors += w[i].errors;
		free(w[i].lat);
	}
	qsort(all, (size_t)total, sizeof *all, cmp);
	printf("requests %d errors %d seconds %.3f rps %.0f p50_ms %.3f "
	    "p99_ms %.3f\n", total, errors, elapsed, total / elapsed,
	    total ? all[total / 2] * 1e3 : 0,
	    total ? all[total * 99 / 100] * 1e3 : 0);
	free(all);
	free(w);
	return errors ? 1 : 0;
}
