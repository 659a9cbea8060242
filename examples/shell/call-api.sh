#!/bin/sh
# Calls the OpenCRVS API with the current token; if the gateway answers 401
# (the token was revoked, or rejected for a reason the daemon cannot see),
# reports that token with "crvs-token refresh --rejected" (the token on
# standard input, never in argv) and tries once more with the new one. A
# hundred scripts doing this at once cause one refresh.
#
#   call-api.sh URL [CLIENT]      prints the answer's body; exit 0 on 2xx
set -u
url=$1
client=${2:-${CRVS_CLIENT:-dhis2}}
body=$(mktemp) || exit 1
trap 'rm -f "$body"' EXIT

# call TOKEN: the HTTP status of one request; the body lands in $body.
call() {
	printf 'Authorization: Bearer %s\n' "$1" |
		curl -sS --max-time 30 -o "$body" -w '%{http_code}' -H @- "$url"
}

token=$(crvs-token "$client") || exit $?
status=$(call "$token") || exit 1
if [ "$status" = 401 ]; then
	echo "call-api: 401 from the gateway; asking crvs-tokend for a new token" >&2
	token=$(printf '%s\n' "$token" | crvs-token refresh --rejected "$client") || exit $?
	status=$(call "$token") || exit 1
fi
cat "$body"
case $status in
2??) exit 0 ;;
*) echo "call-api: HTTP $status from $url" >&2; exit 1 ;;
esac
