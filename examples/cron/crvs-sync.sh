#!/bin/sh
# A cron job that calls the OpenCRVS API with a token from crvs-tokend
# (see crvs-sync.cron). Exit status: 0 done; 75 no token right now (the
# gateway or its auth service is down, or the daemon is still getting the
# first token): nothing is printed, a line goes to syslog, the next run
# tries again; anything else is printed (cron mails it).
#
#   CRVS_CLIENT   the client's name in crvs-tokend (default dhis2)
#   CRVS_API_URL  what to call
set -u
client=${CRVS_CLIENT:-dhis2}
url=${CRVS_API_URL:-https://gateway.opencrvs.example.org/events}

# -m 120: the token must stay valid for the whole run. crvs-token's
# message is kept aside: for a 75 it goes to syslog, not to cron's mail.
err=$(mktemp) || exit 1
token=$(crvs-token -m 120 "$client" 2>"$err")
rc=$?
if [ "$rc" -eq 75 ]; then
	logger -t crvs-sync "no token for $client right now, next run retries: $(cat "$err")" \
		2>/dev/null || true
	rm -f "$err"
	exit 75
elif [ "$rc" -ne 0 ]; then
	cat "$err" >&2
	echo "crvs-sync: crvs-token failed (exit $rc); see crvs-token(1), TROUBLESHOOTING" >&2
	rm -f "$err"
	exit "$rc"
fi
rm -f "$err"

# The token goes in a header read from standard input, not in argv, where
# every user could read it in ps.
printf 'Authorization: Bearer %s\n' "$token" |
	curl -fsS --max-time 60 -H @- "$url" || exit 1
