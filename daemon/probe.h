/*
 * crvs-tokend --probe: one real token request per client, through the
 * daemon's own fetch and token code, and a report for the operator.
 */
#ifndef CRVS_PROBE_H
#define CRVS_PROBE_H

#include <stddef.h>
#include <stdio.h>

struct conf;

/*
 * Asks the issuer of each client named in names (every client when nnames
 * is 0) for a token, all at once in an event loop of its own, and writes a
 * report to out: HTTP status, the issuer's error, the token's lifetime and
 * scopes (never the token), the issuer's clock offset, and a verdict.
 * Returns 0 when every client got a usable token, 1 when one did not, or
 * -1 and a cause when a name is not a configured client.
 */
int	probe_run(const struct conf *, char *const *names, size_t nnames,
	    FILE *out, char **cause);

#endif
