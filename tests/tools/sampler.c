/*
 * sampler: watches the tokens crvs-tokend serves, for the tests that judge
 * refreshing and failure handling.  It holds one keep-alive connection to
 * the daemon's socket and asks GET /v1/clients/NAME/token every INTERVAL
 * ms, so that how often it can look does not depend on how fast the
 * machine starts processes.  Each answer is judged by the token's own
 * claims against the issuer's clock (this machine's wall clock plus the
 * issuer's --skew) at the moment it was asked for and answered.  Tokens are
 * never printed: a record names a token by a hash (FNV-1a, 64 bits).
 *
 *   sampler -s SOCK -c NAME [-m MIN_VALID] [-k SKEW] [-i INTERVAL_MS]
 *       [-d DURATION_MS] [-u N] [-p HASH] [-g PORT] [-x CMD] [-o RECORDS]
 *   sampler --hash          (the hash of the token on stdin)
 *
 * -m asks for min_valid=S and judges against it (default: the daemon's own
 * min_valid, judged against 1 s); -d stops after DURATION_MS; -u stops after
 * N answers in a row without a token; -p names the token that is expected
 * (observe mode: any other token is counted as wrong; "first": the first
 * token served); -g asks the fake
 * issuer's gateway check on 127.0.0.1:PORT about each new token, on a
 * keep-alive connection; -x runs CMD (with
 * /bin/sh) for each new token, the token on its stdin, and counts those
 * that fail (e.g. the issuer's gateway check).  The sampler stops after
 * 120 s in any case.
 *
 * RECORDS gets one line per answer, tab-separated: t0 t1 (wall clock, ms,
 * when asked and answered), HTTP status, token hash, expires_in,
 * expires_at, exp and iat (JWT claims; "-" for opaque tokens), left0 and
 * left1 (ms the token had left by exp and the issuer's clock at t0 and t1),
 * "pending" when a check of a new token was started (its verdict comes
 * on a line "CHECK hash ok|failed|late" when it ends), and for errors the
 * daemon's message.
 *
 * On stdout, one line of NAME=VALUE words for the shell (eval):
 *   answers ok unavail other distinct changes short overclaim underclaim
 *   wrong early after_unavail check_failed near_end max_gap reconnects
 *   tail_unavail check_late expected (the hash of -p's token)
 * short: expires_in under min_valid; overclaim: expires_in more than the
 * token had left when asked (+100 ms); underclaim: expires_in more than
 * 3 s under what it had left when answered; wrong: a token other than -p;
 * early: no token although the expected token (-p) had more than
 * min_valid + 2 s left when answered; after_unavail: a token after an
 * answer without one (-p mode); near_end: the -p token was served with at
 * most min_valid + 3 s left; max_gap: the longest time between two answers;
 * check_failed: new tokens the check refused although they had a second
 * or more left by their exp when it ended (check_late: refused with less,
 * which the judgement of every answer by exp covers).
 */

#define _GNU_SOURCE

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <json-c/json.h>

#define SAMPLER_MAX_MS		120000
#define SAMPLER_TIMEOUT_MS	15000
#define SAMPLER_BODY_MAX	(64 * 1024)

struct sampler_answer {
	int	 status;
	int	 complete;
	int	 keep_alive;
	size_t	 len;
	char	 body[SAMPLER_BODY_MAX];
};

static int64_t
sampler_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
sampler_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static int
sampler_on_body_cb(http_parser *p, const char *at, size_t len)
{
	struct sampler_answer	*a = p->data;

	if (a->len + len >= sizeof a->body)
		return 1;
	memcpy(a->body + a->len, at, len);
	a->len += len;
	a->body[a->len] = '\0';
	return 0;
}

static int
sampler_on_complete_cb(http_parser *p)
{
	struct sampler_answer	*a = p->data;

	a->status = (int)p->status_code;
	a->keep_alive = http_should_keep_alive(p);
	a->complete = 1;
	/* Stop here: the next answer on this connection is another's. */
	http_parser_pause(p, 1);
	return 0;
}

/* A Unix socket, or "tcp:PORT" on 127.0.0.1 (the issuer's gateway). */
static int
sampler_connect(const char *sock)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	int			fd;

	if (strncmp(sock, "tcp:", 4) == 0) {
		sin.sin_port = htons((uint16_t)atoi(sock + 4));
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
			close(fd);
			return -1;
		}
		return fd;
	}

	if (strlen(sock) >= sizeof sun.sun_path)
		return -1;
	strcpy(sun.sun_path, sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request on *fd (connecting when *fd is -1); 0 with the answer. */
static int
sampler_ask(int *fd, const char *sock, const char *path, const char *auth,
    struct sampler_answer *a, int *reconnects)
{
	http_parser_settings	 settings = { 0 };
	http_parser		 parser;
	struct pollfd		 pfd;
	char			 head[10240], buf[16384];
	size_t			 hlen, off = 0;
	ssize_t			 n;
	int64_t			 deadline;
	int			 attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if (*fd == -1) {
			if ((*fd = sampler_connect(sock)) == -1)
				return -1;
			(*reconnects)++;
		}
		hlen = (size_t)snprintf(head, sizeof head, "GET %s HTTP/1.1\r\n"
		    "Host: crvs-tokend\r\nAccept: application/json\r\n"
		    "User-Agent: crvs-tests-sampler\r\n%s%s%s\r\n", path,
		    auth != NULL ? "Authorization: Bearer " : "",
		    auth != NULL ? auth : "", auth != NULL ? "\r\n" : "");
		if (hlen >= sizeof head)
			return -1;
		off = 0;
		while (off < hlen) {
			n = send(*fd, head + off, hlen - off, MSG_NOSIGNAL);
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		if (off < hlen)
			goto again;
		memset(a, 0, offsetof(struct sampler_answer, body));
		a->body[0] = '\0';
		http_parser_init(&parser, HTTP_RESPONSE);
		parser.data = a;
		settings.on_body = sampler_on_body_cb;
		settings.on_message_complete = sampler_on_complete_cb;
		deadline = sampler_now_ms() + SAMPLER_TIMEOUT_MS;
		while (!a->complete) {
			pfd.fd = *fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, (int)(deadline - sampler_now_ms())) <= 0)
				goto again;
			n = recv(*fd, buf, sizeof buf, 0);
			if (n <= 0) {
				/* A keep-alive connection the daemon closed
				 * before this request: ask again once. */
				if (n == 0 && !a->complete && a->len == 0)
					goto again;
				http_parser_execute(&parser, &settings, buf, 0);
				if (!a->complete)
					goto again;
				break;
			}
			http_parser_execute(&parser, &settings, buf, (size_t)n);
			if (HTTP_PARSER_ERRNO(&parser) != HPE_OK &&
			    HTTP_PARSER_ERRNO(&parser) != HPE_PAUSED)
				goto again;
		}
		if (!a->keep_alive) {
			close(*fd);
			*fd = -1;
		}
		return 0;
again:
		close(*fd);
		*fd = -1;
	}
	return -1;
}

static int64_t
sampler_int(json_object *o, const char *key, int *found)
{
	json_object	*v;

	*found = json_object_object_get_ex(o, key, &v) && v != NULL;
	return *found ? json_object_get_int64(v) : 0;
}

/* The claims of a JWT's payload (NULL for an opaque token). */
static json_object *
sampler_claims(const char *tok)
{
	static const char	 alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const char		*p, *end, *c;
	char			 out[8192];
	size_t			 n = 0;
	unsigned int		 acc = 0;
	int			 bits = 0;

	if ((p = strchr(tok, '.')) == NULL || (end = strchr(++p, '.')) == NULL)
		return NULL;
	for (; p < end && n + 1 < sizeof out; p++) {
		if (*p == '\0' || (c = strchr(alpha, *p)) == NULL)
			return NULL;
		acc = (acc << 6) | (unsigned int)(c - alpha);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	return json_tokener_parse(out);
}

/*
 * The checks of new tokens run beside the sampling (a slow check must not
 * stop the sampler from looking), at most SAMPLER_MAX_CHECKS at a time.
 */
#define SAMPLER_MAX_CHECKS	8

struct sampler_check {
	pid_t	 pid;
	int64_t	 exp;		/* ms; 0 for an opaque token */
	char	 hash[32];
};

static struct sampler_check	sampler_checks[SAMPLER_MAX_CHECKS];
static int			sampler_nchecks;
static long			sampler_check_failed, sampler_check_late;

/* Starts CMD with the token on its stdin. */
static void
sampler_check_start(const char *cmd, const char *tok, const char *hash,
    int64_t exp)
{
	struct sampler_check	*c;
	int			 p[2];
	pid_t			 pid;
	size_t			 off = 0, len = strlen(tok);
	ssize_t			 n;

	if (pipe(p) == -1 || (pid = fork()) == -1) {
		sampler_check_failed++;
		return;
	}
	if (pid == 0) {
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	/* A token fits in the pipe's buffer: this does not block. */
	while (off < len && (n = write(p[1], tok + off, len - off)) > 0)
		off += (size_t)n;
	close(p[1]);
	c = &sampler_checks[sampler_nchecks++];
	c->pid = pid;
	c->exp = exp;
	snprintf(c->hash, sizeof c->hash, "%s", hash);
}

/*
 * Collects the checks that ended (all of them with BLOCK, or at least one
 * with BLOCK = 1 when the table is full). A refusal counts as a failure
 * when the token was still good by its exp, with a second for the issuer's
 * resolution, when the check ended; one with less is "late" (expiry is
 * judged on every answer anyway).
 */
static void
sampler_check_reap(FILE *rec, int64_t skew, int block)
{
	struct sampler_check	*c;
	const char		*verdict;
	int			 i, st, reaped = 0;
	pid_t			 r;

	for (i = 0; i < sampler_nchecks; ) {
		c = &sampler_checks[i];
		r = waitpid(c->pid, &st, block == 2 || (block == 1 &&
		    reaped == 0 && i == 0) ? 0 : WNOHANG);
		if (r == 0 || (r == -1 && errno == EINTR)) {
			i++;
			continue;
		}
		reaped++;
		if (r != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			verdict = "ok";
		else if (c->exp != 0 && c->exp - (sampler_now_ms() +
		    skew * 1000) < 1000) {
			verdict = "late";
			sampler_check_late++;
		} else {
			verdict = "failed";
			sampler_check_failed++;
		}
		if (rec != NULL)
			fprintf(rec, "CHECK\t%s\t%s\n", c->hash, verdict);
		*c = sampler_checks[--sampler_nchecks];
	}
}

static void
sampler_usage(void)
{
	fprintf(stderr, "usage: sampler -s SOCK -c NAME [-m MIN_VALID] "
	    "[-k SKEW] [-i INTERVAL_MS] [-d DURATION_MS] [-u N] [-p HASH] "
	    "[-g PORT] [-x CMD] [-o RECORDS]\n       sampler --hash\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct sampler_answer	*a;
	const char		*sock = NULL, *name = NULL, *cmd = NULL;
	const char		*records = NULL, *expect = NULL;
	const char		*gw = NULL;
	char			 gwsock[32];
	int			 gwfd = -1, gwconns = 0;
	struct sampler_answer	*ga;
	char			 path[512], hash[32], prevhash[32] = "";
	char			 firsthash[32] = "";
	char			 tok[8192], msg[512], *q;
	FILE			*rec = NULL;
	json_object		*o, *v, *cl;
	int64_t			 minv = -1, skew = 0, interval = 100;
	int64_t			 duration = SAMPLER_MAX_MS, untiln = 0;
	int64_t			 start, t0, t1, last_t1 = 0, ei, ea, exp, iat;
	int64_t			 left0, left1, judge_min;
	long			 answers = 0, ok = 0, unavail = 0, other = 0;
	long			 distinct = 0, changes = 0, shortn = 0;
	long			 over = 0, under = 0, wrong = 0, early = 0;
	long			 after_unavail = 0, check_failed = 0;
	long			 check_late = 0;
	long			 near_end = 0, tail_unavail = 0, max_gap = 0;
	int			 fd = -1, reconnects = 0, c, f_ei, f_ea, f_exp;
	int			 f_iat, seen_unavail = 0;
	int64_t			 expect_end = 0;
	char			 seen[4096][32];
	long			 nseen = 0, i;
	const char		*verdict;

	if (argc == 2 && strcmp(argv[1], "--hash") == 0) {
		if (fgets(tok, sizeof tok, stdin) == NULL)
			return 2;
		tok[strcspn(tok, "\r\n")] = '\0';
		printf("%016" PRIx64 "\n", sampler_hash(tok));
		explicit_bzero(tok, sizeof tok);
		return 0;
	}
	while ((c = getopt(argc, argv, "s:c:m:k:i:d:u:p:x:g:o:")) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'c': name = optarg; break;
		case 'm': minv = strtoll(optarg, NULL, 10); break;
		case 'k': skew = strtoll(optarg, NULL, 10); break;
		case 'i': interval = strtoll(optarg, NULL, 10); break;
		case 'd': duration = strtoll(optarg, NULL, 10); break;
		case 'u': untiln = strtoll(optarg, NULL, 10); break;
		case 'p': expect = optarg; break;
		case 'x': cmd = optarg; break;
		case 'g': gw = optarg; break;
		case 'o': records = optarg; break;
		default: sampler_usage();
		}
	}
	if (sock == NULL || name == NULL)
		sampler_usage();
	if (duration > SAMPLER_MAX_MS)
		duration = SAMPLER_MAX_MS;
	judge_min = minv >= 0 ? minv : 1;
	if (minv >= 0)
		snprintf(path, sizeof path, "/v1/clients/%s/token?min_valid=%"
		    PRId64, name, minv);
	else
		snprintf(path, sizeof path, "/v1/clients/%s/token", name);
	if (records != NULL && (rec = fopen(records, "w")) == NULL) {
		perror(records);
		return 2;
	}
	if ((a = malloc(sizeof *a)) == NULL || (ga = malloc(sizeof *ga)) == NULL)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	start = sampler_now_ms();
	while (sampler_now_ms() - start < duration) {
		t0 = sampler_now_ms();
		if (sampler_ask(&fd, sock, path, NULL, a, &reconnects) == -1) {
			/* No answer at all: the daemon is gone or hung. */
			t1 = sampler_now_ms();
			other++;
			answers++;
			if (rec != NULL)
				fprintf(rec, "%" PRId64 "\t%" PRId64 "\t0\t-\t-\t-"
				    "\t-\t-\t-\t-\t-\tno answer\n", t0, t1);
			goto next;
		}
		t1 = sampler_now_ms();
		answers++;
		if (last_t1 != 0 && t1 - last_t1 > max_gap)
			max_gap = (long)(t1 - last_t1);
		last_t1 = t1;
		o = json_tokener_parse(a->body);
		if (a->status != 200) {
			msg[0] = '\0';
			if (o != NULL && json_object_object_get_ex(o, "message",
			    &v) && v != NULL)
				snprintf(msg, sizeof msg, "%s",
				    json_object_get_string(v));
			for (q = msg; *q != '\0'; q++)
				if (*q == '\t' || *q == '\n')
					*q = ' ';
			if (a->status == 503 || a->status == 504) {
				unavail++;
				tail_unavail++;
			} else {
				other++;
				tail_unavail = 0;
			}
			seen_unavail = 1;
			left1 = -1;
			/* -p: no token though the expected one still had
			 * more than min_valid + 2 s left when answered. */
			if (expect != NULL && expect_end != 0 &&
			    expect_end - (t1 + skew * 1000) >
			    (judge_min + 2) * 1000)
				early++;
			if (rec != NULL)
				fprintf(rec, "%" PRId64 "\t%" PRId64 "\t%d\t-\t-\t-"
				    "\t-\t-\t-\t-\t-\t%s\n", t0, t1, a->status,
				    msg);
			json_object_put(o);
			if (untiln > 0 && tail_unavail >= untiln)
				break;
			goto next;
		}
		tail_unavail = 0;
		tok[0] = '\0';
		if (o != NULL && json_object_object_get_ex(o, "access_token",
		    &v) && v != NULL)
			snprintf(tok, sizeof tok, "%s", json_object_get_string(v));
		ei = sampler_int(o, "expires_in", &f_ei);
		ea = sampler_int(o, "expires_at", &f_ea);
		json_object_put(o);
		explicit_bzero(a->body, a->len);
		snprintf(hash, sizeof hash, "%016" PRIx64, sampler_hash(tok));
		exp = iat = 0;
		f_exp = f_iat = 0;
		if ((cl = sampler_claims(tok)) != NULL) {
			exp = sampler_int(cl, "exp", &f_exp);
			iat = sampler_int(cl, "iat", &f_iat);
			json_object_put(cl);
		}
		ok++;
		verdict = "-";
		for (i = 0; i < nseen && strcmp(seen[i], hash) != 0; i++)
			;
		if (i == nseen) {
			distinct++;
			if (nseen < (long)(sizeof seen / sizeof seen[0]))
				snprintf(seen[nseen++], sizeof seen[0], "%s",
				    hash);
			/* Only a JWT can be checked at the gateway: an
			 * opaque token (which the daemon rightly serves)
			 * is judged by its expires_in alone. */
			if (gw != NULL && f_exp) {
				/* The issuer's gateway, on a keep-alive
				 * connection of its own: no process. */
				snprintf(gwsock, sizeof gwsock, "tcp:%s", gw);
				if (sampler_ask(&gwfd, gwsock, "/gateway/check",
				    tok, ga, &gwconns) == 0 && ga->status == 200)
					verdict = "ok";
				else if (f_exp && exp * 1000 -
				    (sampler_now_ms() + skew * 1000) < 1000) {
					verdict = "late";
					sampler_check_late++;
				} else {
					verdict = "failed";
					sampler_check_failed++;
				}
			}
			if (cmd != NULL) {
				if (sampler_nchecks == SAMPLER_MAX_CHECKS)
					sampler_check_reap(rec, skew, 1);
				sampler_check_start(cmd, tok, hash,
				    f_exp ? exp * 1000 : 0);
				verdict = "pending";
			}
		}
		explicit_bzero(tok, sizeof tok);
		if (prevhash[0] != '\0' && strcmp(prevhash, hash) != 0)
			changes++;
		snprintf(prevhash, sizeof prevhash, "%s", hash);
		if (!f_ei || ei < judge_min)
			shortn++;
		left0 = left1 = INT64_MIN;
		if (f_exp) {
			left0 = exp * 1000 - (t0 + skew * 1000);
			left1 = exp * 1000 - (t1 + skew * 1000);
			if (f_ei && ei * 1000 > left0 + 100)
				over++;
			if (f_ei && ei * 1000 < left1 - 3000)
				under++;
		}
		if (expect != NULL && strcmp(expect, "first") == 0) {
			snprintf(firsthash, sizeof firsthash, "%s", hash);
			expect = firsthash;
		}
		if (expect != NULL) {
			if (strcmp(hash, expect) != 0)
				wrong++;
			else {
				if (f_exp || f_ea)
					expect_end = (f_exp ? exp : ea) * 1000;
				if (expect_end != 0 && expect_end -
				    (t1 + skew * 1000) <= (judge_min + 3) * 1000)
					near_end++;
			}
			if (seen_unavail)
				after_unavail++;
		}
		if (rec != NULL) {
			fprintf(rec, "%" PRId64 "\t%" PRId64 "\t200\t%s\t",
			    t0, t1, hash);
			if (f_ei)
				fprintf(rec, "%" PRId64, ei);
			else
				fputc('-', rec);
			fputc('\t', rec);
			if (f_ea)
				fprintf(rec, "%" PRId64, ea);
			else
				fputc('-', rec);
			if (f_exp)
				fprintf(rec, "\t%" PRId64 "\t%" PRId64 "\t%"
				    PRId64 "\t%" PRId64, exp, f_iat ? iat : 0,
				    left0, left1);
			else
				fputs("\t-\t-\t-\t-", rec);
			fprintf(rec, "\t%s\t\n", verdict);
		}
next:
		sampler_check_reap(rec, skew, 0);
		if (rec != NULL)
			fflush(rec);
		/* The next request INTERVAL ms after this one was sent. */
		t1 = t0 + interval - sampler_now_ms();
		if (t1 > 0)
			poll(NULL, 0, (int)t1);
	}
	if (fd != -1)
		close(fd);
	sampler_check_reap(rec, skew, 2);
	check_failed = sampler_check_failed;
	check_late = sampler_check_late;
	if (rec != NULL)
		fclose(rec);
	if (gwfd != -1)
		close(gwfd);
	free(a);
	free(ga);
	printf("answers=%ld ok=%ld unavail=%ld other=%ld distinct=%ld "
	    "changes=%ld short=%ld overclaim=%ld underclaim=%ld wrong=%ld "
	    "early=%ld after_unavail=%ld check_failed=%ld near_end=%ld "
	    "max_gap=%ld reconnects=%d tail_unavail=%ld check_late=%ld "
	    "expected=%s\n",
	    answers, ok, unavail, other, distinct, changes, shortn, over,
	    under, wrong, early, after_unavail, check_failed, near_end,
	    max_gap, reconnects > 0 ? reconnects - 1 : 0, tail_unavail,
	    check_late, expect != NULL && strcmp(expect, "first") != 0 ?
	    expect : "-");
	return 0;
}
