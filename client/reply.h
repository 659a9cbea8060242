/*
 * The CLI's reading of crvs-tokend's answers: the HTTP response (through
 * http_parser) and the JSON bodies of errors, status and health. Kept apart
 * from crvs-token.c so that a fuzzer can feed it what a daemon might send.
 */
#ifndef CRVS_REPLY_H
#define CRVS_REPLY_H

#include <stddef.h>
#include <stdio.h>

#include <http_parser.h>

#define REPLY_MAX	(1024 * 1024)

struct reply {
	int			 status;
	char			*body;	/* NUL-terminated; NULL when empty */
	size_t			 len;
	size_t			 cap;
	int			 complete;
	int			 too_big;
	http_parser		 parser;
	http_parser_settings	 settings;
};

void	reply_init(struct reply *);
/*
 * Feeds n bytes of the answer (n == 0: the daemon closed the connection).
 * Returns 0, or -1 with *why set to what is wrong with the answer.
 */
int	reply_feed(struct reply *, const char *buf, size_t n,
	    const char **why);
/* Wipes and frees the body. */
void	reply_free(struct reply *);

/*
 * Prints the daemon's error message to err, control characters escaped;
 * returns the exit status.
 */
int	reply_error_exit(const struct reply *, const char *client, FILE *err);
/* The status table of all clients, or of one; returns the exit status. */
int	reply_print_status(const struct reply *, int one, FILE *out,
	    FILE *err);
/* "ok", or "unavailable: NAME, NAME". */
void	reply_print_health(const struct reply *, FILE *out, FILE *err);
/*
 * Prints a plain-text token (trailing newlines dropped); returns the exit
 * status. A token with characters no token has is refused.
 */
int	reply_print_token(struct reply *, int header, FILE *out, FILE *err);
/* A token goes to terminals, headers and shell variables: visible ASCII. */
int	reply_token_printable(const char *, size_t);

#endif
