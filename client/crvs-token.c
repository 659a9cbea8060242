/*
 * crvs-token: prints a client's current token from crvs-tokend. Cron jobs
 * call it often, so it links only the HTTP parser and json-c: no TLS.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "reply.h"
#include "safepath.h"

#define DEFAULT_SOCKET	"/run/crvs-tokend/crvs-tokend.sock"
#define NAME_MAX_LEN	64

static const char	*progname = "crvs-token";

static void
usage(FILE *f)
{
	fprintf(f,
"usage: crvs-token [OPTIONS] CLIENT            print CLIENT's access token\n"
"       crvs-token [OPTIONS] get CLIENT        the same\n"
"       crvs-token [OPTIONS] refresh [--rejected] CLIENT\n"
"                                              force a new token and print it;\n"
"                                              with --rejected, the rejected\n"
"                                              token is read from standard input\n"
"       crvs-token [OPTIONS] status [CLIENT]   a table of clients and their state\n"
"       crvs-token [OPTIONS] health            exit 0 when every token is servable\n"
"       crvs-token [OPTIONS] exec [--env NAME] CLIENT -- COMMAND [ARGS...]\n"
"                                              run COMMAND with the token in\n"
"                                              $CRVS_TOKEN (or NAME) and its expiry\n"
"                                              in $CRVS_TOKEN_EXPIRES_AT; exits\n"
"                                              with COMMAND's status\n"
"\n"
"  -s, --socket PATH      the daemon's socket (default $CRVS_TOKEND_SOCKET,\n"
"                         else %s)\n"
"  -m, --min-valid SECS   the token must stay valid at least SECS seconds\n"
"  -H, --header           print \"Authorization: Bearer TOKEN\"\n"
"  -j, --json             print the JSON answer\n"
"  -t, --timeout SECS     how long to wait (default 15)\n"
"  -e, --env NAME         exec: the variable for the token (default CRVS_TOKEN;\n"
"                         not PATH, LD_*, IFS, ENV, BASH_ENV or another\n"
"                         variable a loader or shell acts on)\n"
"  -h, --help             show this help\n"
"  -V, --version          show the version\n"
"\n"
"Exit status: 0 ok, 64 usage, 67 unknown client, 69 daemon not reachable\n"
"or its socket not trusted (owned by, or in a directory writable by, someone\n"
"other than root, you and " DAEMON_USER "),\n"
"75 no valid token right now or timed out (retry later), 77 not allowed;\n"
"exec: COMMAND's status, or 127 when COMMAND is not found and 126 when it\n"
"cannot be run (as a shell does).\n",
	    DEFAULT_SOCKET);
}

static int
fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(int code, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events; -1 on timeout. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd	pfd = { .fd = fd, .events = events };
	int64_t		left;
	int		rc;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return -1;
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -1;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * Whoever answers on the socket gets what we send (refresh --rejected sends
 * the current token) and is believed: only talk to a socket that nobody but
 * root, the caller and the daemon's user could have put there. Returns 0,
 * or an exit code after printing why.
 */
static int
socket_trusted(const char *sock)
{
	struct stat	 st;
	struct passwd	*pw;
	uid_t		 trusted[2] = { getuid(), (uid_t)-1 };
	char		*real, *cause = NULL;
	int		 rc = 0;

	if (lstat(sock, &st) == -1 || (real = realpath(sock, NULL)) == NULL)
		return 0;	/* connect() will say why */
	/* The daemon's user only if needed: a lookup may be slow. */
	if (safepath_check_file(real, trusted, 1, NULL) == -1) {
		if ((pw = getpwnam(DAEMON_USER)) != NULL)
			trusted[1] = pw->pw_uid;
		if (safepath_check_file(real, trusted, pw ? 2 : 1,
		    &cause) == -1)
			rc = fail(EX_UNAVAILABLE, "refusing the socket %s: %s "
			    "(only root, you and %s may own it and its "
			    "directory, and only they may write to that "
			    "directory)", sock, cause ? cause : "out of memory",
			    DAEMON_USER);
	}
	free(cause);
	free(real);
	return rc;
}

/*
 * One request over the socket. Returns 0 with the answer filled, or an exit
 * code after printing why.
 */
static int	request_retried;

static int
request(const char *sock, const char *method, const char *path,
    const char *accept, const char *body, int timeout, struct reply *a)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	char			 head[1024], buf[16384];
	size_t			 off = 0, hlen, blen = body ? strlen(body) : 0;
	const char		*why;
	ssize_t			 n;
	int64_t			 deadline = now_ms() + (int64_t)timeout * 1000;
	int			 fd;

	if (strlen(sock) >= sizeof sun.sun_path)
		return fail(EX_USAGE, "socket path is too long: %s", sock);
	strcpy(sun.sun_path, sock);
	if ((n = socket_trusted(sock)) != 0)
		return (int)n;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return fail(EX_OSERR, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1 &&
	    errno != EINPROGRESS && errno != EAGAIN) {
		n = errno;
		close(fd);
		return fail(n == EACCES ? EX_NOPERM : EX_UNAVAILABLE,
		    "cannot reach crvs-tokend at %s: %s%s", sock,
		    strerror((int)n), n == ENOENT || n == ECONNREFUSED ?
		    " (is crvs-tokend running? see -s and "
		    "$CRVS_TOKEND_SOCKET)" : "");
	}
	hlen = (size_t)snprintf(head, sizeof head,
	    "%s %s HTTP/1.1\r\nHost: crvs-tokend\r\nAccept: %s\r\n"
	    "Connection: close\r\nUser-Agent: crvs-token/%s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	    method, path, accept, PACKAGE_VERSION, blen);
	while (off < hlen + blen) {
		if (wait_fd(fd, POLLOUT, deadline) == -1) {
			close(fd);
			return fail(EX_TEMPFAIL, "timed out talking to "
			    "crvs-tokend after %d s", timeout);
		}
		if (off < hlen)
			n = write(fd, head + off, hlen - off);
		else
			n = write(fd, body + off - hlen, blen - (off - hlen));
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			n = errno;
			close(fd);
			/* A daemon that stopped (a restart, an upgrade) after
			 * accepting the connection never read the request:
			 * ask once more, of the one systemd starts next. */
			if ((n == EPIPE || n == ECONNRESET) && !request_retried) {
				request_retried = 1;
				return request(sock, method, path, accept, body,
				    timeout, a);
			}
			return fail(EX_UNAVAILABLE, "cannot talk to crvs-tokend "
			    "at %s: %s", sock, strerror((int)n));
		}
		off += (size_t)n;
	}
	reply_init(a);
	while (!a->complete) {
		if (wait_fd(fd, POLLIN, deadline) == -1) {
			close(fd);
			return fail(EX_TEMPFAIL, "no answer from crvs-tokend "
			    "within %d s", timeout);
		}
		n = read(fd, buf, sizeof buf);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			n = errno;
			close(fd);
			return fail(EX_UNAVAILABLE, "reading from crvs-tokend: "
			    "%s", strerror((int)n));
		}
		/* n == 0 tells the parser about EOF. */
		if (reply_feed(a, buf, (size_t)n, &why) == -1) {
			close(fd);
			return fail(EX_PROTOCOL, "bad answer from crvs-tokend "
			    "(%s)", why);
		}
		if (n == 0)
			break;
	}
	explicit_bzero(buf, sizeof buf);
	close(fd);
	if (!a->complete)
		return fail(EX_UNAVAILABLE, "crvs-tokend closed the connection "
		    "before answering");
	return 0;
}

static int
valid_name(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	}
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Reads the rejected token from standard input: one line, trimmed. */
static char *
read_rejected(void)
{
	char	*line = NULL, *s;
	size_t	 cap = 0;
	ssize_t	 n;

	if ((n = getline(&line, &cap, stdin)) <= 0) {
		if (line != NULL)
			explicit_bzero(line, cap);
		free(line);
		return NULL;
	}
	while (n > 0 && isspace((unsigned char)line[n - 1]))
		line[--n] = '\0';
	for (s = line; isspace((unsigned char)*s); s++)
		;
	if (*s == '\0') {
		free(line);
		return NULL;
	}
	memmove(line, s, strlen(s) + 1);
	return line;
}

static int
valid_env_name(const char *s)
{
	size_t	i;

	if (!isalpha((unsigned char)*s) && *s != '_')
		return 0;
	for (i = 1; s[i] != '\0'; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	}
	return 1;
}

/*
 * Variables the dynamic loader, a shell or a common interpreter acts on:
 * putting a token there would change what the command runs (a token in
 * PATH or LD_PRELOAD names files to load). Kept short on purpose and
 * listed in crvs-token(1); "LD_" is a prefix.
 */
static const char *const exec_reserved_env[] = {
	"PATH", "HOME", "SHELL", "IFS", "ENV", "BASH_ENV", "CDPATH",
	"SHELLOPTS", "BASHOPTS", "PS4", "TMPDIR", "GCONV_PATH",
	"PYTHONPATH", "PYTHONSTARTUP", "PERL5LIB", "PERL5OPT",
	"NODE_OPTIONS", NULL
};

static int
exec_reserved_env_name(const char *s)
{
	size_t	i;

	if (strncmp(s, "LD_", 3) == 0)
		return 1;
	for (i = 0; exec_reserved_env[i] != NULL; i++) {
		if (strcmp(s, exec_reserved_env[i]) == 0)
			return 1;
	}
	return 0;
}

/*
 * exec: runs argv with the token (from the daemon's JSON answer a) in the
 * environment, never on a command line. Returns only on failure, with the
 * status a shell gives: 127 not found, 126 found but not runnable.
 */
static int
run_command(struct reply *a, const char *client, const char *env,
    char **argv)
{
	json_object	*o, *tok, *exp;
	char		 expires[32];
	int		 saved;

	o = a->body != NULL ? json_tokener_parse(a->body) : NULL;
	if (o == NULL || !json_object_object_get_ex(o, "access_token", &tok) ||
	    !json_object_is_type(tok, json_type_string) ||
	    json_object_get_string_len(tok) == 0 ||
	    !reply_token_printable(json_object_get_string(tok),
	    (size_t)json_object_get_string_len(tok)) ||
	    !json_object_object_get_ex(o, "expires_at", &exp)) {
		json_object_put(o);
		return fail(EX_PROTOCOL, "%s: bad answer from crvs-tokend",
		    client);
	}
	snprintf(expires, sizeof expires, "%lld",
	    (long long)json_object_get_int64(exp));
	if (setenv(env, json_object_get_string(tok), 1) == -1 ||
	    setenv("CRVS_TOKEN_EXPIRES_AT", expires, 1) == -1)
		return fail(EX_OSERR, "setenv: %s", strerror(errno));
	explicit_bzero((char *)json_object_get_string(tok),
	    (size_t)json_object_get_string_len(tok));
	json_object_put(o);
	reply_free(a);
	if (fflush(stdout) == EOF)
		return fail(EX_IOERR, "standard output: %s", strerror(errno));
	execvp(argv[0], argv);
	saved = errno;
	/* The token must not outlive a failed exec in this process either. */
	explicit_bzero(getenv(env), strlen(getenv(env)));
	return fail(saved == ENOENT ? 127 : 126, "%s: %s", argv[0],
	    strerror(saved));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "min-valid", required_argument, NULL, 'm' },
		{ "header", no_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "rejected", no_argument, NULL, 'r' },
		{ "env", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*sock = getenv("CRVS_TOKEND_SOCKET");
	const char	*cmd, *client = NULL, *accept, *env = NULL;
	char		**command = NULL;
	char		 path[256], *end, *rejected = NULL, *body = NULL;
	long		 minv = 0, timeout = 15;
	int		 ch, header = 0, json = 0, rej = 0, rc, i, dd = argc;
	struct reply	 a = { 0 };
	json_object	*o;

	if (sock == NULL || *sock == '\0')
		sock = DEFAULT_SOCKET;
	/* exec's COMMAND follows "--": its options are not ours. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			dd = i;
			break;
		}
	}
	if (dd < argc)
		command = argv + dd + 1;
	while ((ch = getopt_long(dd, argv, "s:m:Hjt:e:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'm':
			errno = 0;
			minv = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || minv < 0 ||
			    minv > 86400)
				return fail(EX_USAGE, "--min-valid takes "
				    "seconds from 0 to 86400");
			break;
		case 'H':
			header = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 't':
			timeout = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || timeout < 1 ||
			    timeout > 3600)
				return fail(EX_USAGE, "--timeout takes seconds "
				    "from 1 to 3600");
			break;
		case 'r':
			rej = 1;
			break;
		case 'e':
			env = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("crvs-token %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	argc = dd - optind;
	argv += optind;
	if (argc >= 1 && strcmp(argv[0], "exec") == 0) {
		if (argc != 2 || command == NULL || *command == NULL) {
			usage(stderr);
			return EX_USAGE;
		}
		if (header || json || rej)
			return fail(EX_USAGE, "-H, -j and --rejected do not go "
			    "with exec");
		if (env == NULL)
			env = "CRVS_TOKEN";
		if (!valid_env_name(env) ||
		    strcmp(env, "CRVS_TOKEN_EXPIRES_AT") == 0)
			return fail(EX_USAGE, "--env takes a variable name "
			    "(letters, digits, _) other than "
			    "CRVS_TOKEN_EXPIRES_AT");
		if (exec_reserved_env_name(env))
			return fail(EX_USAGE, "--env %s: the loader or a shell "
			    "acts on that variable; choose another name", env);
		client = argv[1];
		if (!valid_name(client))
			return fail(EX_USAGE, "invalid client name '%s': use 1 "
			    "to %d of A-Z a-z 0-9 . _ -", client, NAME_MAX_LEN);
		snprintf(path, sizeof path, "/v1/clients/%s/token?min_valid=%ld",
		    client, minv);
		if ((rc = request(sock, "GET", path, "application/json", NULL,
		    (int)timeout, &a)) != 0)
			return rc;
		if (a.status != 200) {
			rc = reply_error_exit(&a, client, stderr);
			reply_free(&a);
			return rc;
		}
		return run_command(&a, client, env, command);
	}
	if (env != NULL)
		return fail(EX_USAGE, "--env goes with exec");
	/* Without exec, "--" only ends the options. */
	if (command != NULL) {
		for (i = 0; command[i] != NULL; i++)
			argv[argc++] = command[i];
		argv[argc] = NULL;
	}
	if (argc < 1) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[0];
	if (strcmp(cmd, "get") == 0 || strcmp(cmd, "refresh") == 0 ||
	    strcmp(cmd, "status") == 0 || strcmp(cmd, "health") == 0) {
		if (argc > 2 || (argc != 2 && (strcmp(cmd, "get") == 0 ||
		    strcmp(cmd, "refresh") == 0)) ||
		    (argc == 2 && strcmp(cmd, "health") == 0)) {
			usage(stderr);
			return EX_USAGE;
		}
		client = argc == 2 ? argv[1] : NULL;
	} else {
		if (argc != 1) {
			usage(stderr);
			return EX_USAGE;
		}
		client = cmd;
		cmd = "get";
	}
	if (rej && strcmp(cmd, "refresh") != 0)
		return fail(EX_USAGE, "--rejected goes with refresh");
	if (client != NULL && !valid_name(client))
		return fail(EX_USAGE, "invalid client name '%s': use 1 to %d "
		    "of A-Z a-z 0-9 . _ -", client, NAME_MAX_LEN);

	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "health") == 0) {
		if (strcmp(cmd, "health") == 0)
			snprintf(path, sizeof path, "/v1/health");
		else if (client != NULL)
			snprintf(path, sizeof path, "/v1/clients/%s", client);
		else
			snprintf(path, sizeof path, "/v1/clients");
		if ((rc = request(sock, "GET", path, "application/json", NULL,
		    (int)timeout, &a)) != 0)
			return rc;
		if (strcmp(cmd, "health") == 0) {
			if (json)
				printf("%s\n", a.body ? a.body : "");
			else
				reply_print_health(&a, stdout, stderr);
			rc = a.status == 200 ? 0 : a.status == 503 ?
			    EX_TEMPFAIL : reply_error_exit(&a, NULL, stderr);
		} else if (a.status != 200)
			rc = reply_error_exit(&a, client, stderr);
		else if (json)
			rc = (printf("%s\n", a.body ? a.body : ""), 0);
		else
			rc = reply_print_status(&a, client != NULL, stdout,
			    stderr);
		reply_free(&a);
		return rc;
	}

	if (strcmp(cmd, "refresh") == 0) {
		snprintf(path, sizeof path, "/v1/clients/%s/refresh?min_valid="
		    "%ld", client, minv);
		if (rej) {
			if ((rejected = read_rejected()) == NULL)
				return fail(EX_USAGE, "--rejected reads the "
				    "rejected token from standard input; it "
				    "was empty");
			o = json_object_new_object();
			json_object_object_add(o, "rejected_token",
			    json_object_new_string(rejected));
			body = strdup(json_object_to_json_string_ext(o,
			    JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
			explicit_bzero(rejected, strlen(rejected));
			free(rejected);
		}
	} else
		snprintf(path, sizeof path, "/v1/clients/%s/token?min_valid=%ld",
		    client, minv);
	accept = json ? "application/json" : "text/plain";
	rc = request(sock, strcmp(cmd, "refresh") == 0 ? "POST" : "GET", path,
	    accept, body, (int)timeout, &a);
	if (body != NULL) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	if (rc != 0)
		return rc;
	if (a.status != 200) {
		rc = reply_error_exit(&a, client, stderr);
	} else if (json) {
		if (a.len > 0)
			fwrite(a.body, 1, a.len, stdout);
		if (a.len > 0 && a.body[a.len - 1] != '\n')
			putchar('\n');
	} else
		rc = reply_print_token(&a, header, stdout, stderr);
	reply_free(&a);
	if (fflush(stdout) == EOF)
		return fail(EX_IOERR, "cannot write the token: %s",
		    strerror(errno));
	return rc;
}
