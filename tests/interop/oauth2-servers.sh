#!/bin/bash
# Interop with OAuth 2.0 servers written by others (issue 3, item 6), from
# the npm registry (tests/interop/package.json, exact versions, installed
# with `npm ci` when node_modules is missing), run on loopback by
# tests/interop/servers.mjs:
#   - oidc-provider (OpenID Certified): client_credentials, form body,
#     client_auth = basic (client crvs-basic) and body (crvs-post), a scope
#     the client may have, opaque tokens with expires_in = INTEROP_TTL;
#     checked by its introspection endpoint (active, client_id, scope);
#   - oauth2-mock-server: RS256 JWTs with exp and expires_in = INTEROP_TTL,
#     form and JSON bodies; checked against its JWKS with jose.
# For each: the daemon gets, serves and refreshes their tokens (the token
# changes after the refresh margin); a 503 from the server and the server
# stopped keep the previous token served while servable, then exit 75 with
# the reason; recovery after the server is back. A wrong secret is reported
# as rejected (401 invalid_client). Skips (77) only without node or npm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/faults/faults-lib.sh"
TEST_NAME=oauth2-servers
START=$(now_ms)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "$TEST_NAME: SKIP: node and npm are needed (the OAuth 2.0 servers come from the npm registry)"
	exit 77
fi
NODE_DIR=$(interop_node_dir) || { fail "npm ci --no-audit --no-fund for tests/interop"; finish; }

TTL=${INTEROP_TTL:-12}
MIN_VALID=2
TIMEOUT=3
SECRET=interop-secret-$RANDOM$RANDOM

# start_server KIND PORT: sets SRV_PORT, SRV_PID (node servers.mjs).
start_server() {
	local kind=$1 port=$2 i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		rm -f "$T/$ROW.port"
		node "$NODE_DIR/servers.mjs" "$kind" --port "$port" --port-file "$T/$ROW.port" \
		    --ttl "$TTL" --secret "$SECRET" --control "$T/$ROW.control" \
		    >>"$T/$ROW.server.log" 2>&1 &
		SRV_PID=$!
		track_pid "$SRV_PID"
		ROW_ISSUER_PID=$SRV_PID
		if wait_for 30 test -s "$T/$ROW.port"; then
			SRV_PORT=$(cat "$T/$ROW.port")
			return 0
		fi
		stop_pid "$SRV_PID"
		# The port may still be held by the previous instance.
		[ "$port" = 0 ] || wait_for 5 port_closed "$port" || true
	done
	return 1
}

# accepts TOKEN: the server itself says the token is good now. While the
# server is down (OFFLINE=1): for oidc, the token is the one introspected
# before (TOK0) and the exp it was given then is ahead; for mock, the JWT
# verifies against the saved JWKS.
accepts() {
	if [ "${OFFLINE:-0}" = 1 ]; then
		case $KIND in
		oidc) [ "$1" = "$TOK0" ] && [ "${EXP0:-0}" -gt "$(date +%s)" ] ;;
		mock) printf '%s' "$1" | node "$NODE_DIR/verify-jwt.mjs" \
		    "file:$T/$ROW.jwks" "http://127.0.0.1:$SRV_PORT" >"$T/$ROW.verify" ;;
		esac
		return
	fi
	case $KIND in
	oidc)
		curl -sf --max-time 5 -u "crvs-basic:$SECRET" --data-urlencode "token=$1" \
		    "http://127.0.0.1:$SRV_PORT/token/introspection" >"$T/$ROW.introspect" &&
		    grep -q '"active":true' "$T/$ROW.introspect" &&
		    grep -q "\"client_id\":\"$CLIENT\"" "$T/$ROW.introspect"
		;;
	mock)
		printf '%s' "$1" | node "$NODE_DIR/verify-jwt.mjs" \
		    "http://127.0.0.1:$SRV_PORT/jwks" "http://127.0.0.1:$SRV_PORT" >"$T/$ROW.verify"
		;;
	esac
}

# accepts_cmd: what accepts does, as a command that reads the token on its
# stdin (for the sampler's -x, which judges each new token when first
# served).
accepts_cmd() {
	if [ "${OFFLINE:-0}" = 1 ]; then
		case $KIND in
		oidc) printf '[ "$(%q --hash)" = %q ] && [ %q -gt "$(date +%%s)" ]' \
		    "$SAMPLER" "$(token_hash "$TOK0")" "${EXP0:-0}" ;;
		mock) printf 'node %q %q %q >/dev/null' "$NODE_DIR/verify-jwt.mjs" \
		    "file:$T/$ROW.jwks" "http://127.0.0.1:$SRV_PORT" ;;
		esac
		return
	fi
	case $KIND in
	oidc) printf 'curl -sf --max-time 5 -u %q --data-urlencode token@- %q >%q && grep -q %q %q && grep -q %q %q' \
	    "crvs-basic:$SECRET" "http://127.0.0.1:$SRV_PORT/token/introspection" \
	    "$T/$ROW.introspect-x" '"active":true' "$T/$ROW.introspect-x" \
	    "\"client_id\":\"$CLIENT\"" "$T/$ROW.introspect-x" ;;
	mock) printf 'node %q %q %q >/dev/null' "$NODE_DIR/verify-jwt.mjs" \
	    "http://127.0.0.1:$SRV_PORT/jwks" "http://127.0.0.1:$SRV_PORT" ;;
	esac
}

# row_server KIND CLIENT FORMAT AUTH SCOPE
row_server() {
	local tok ei port s
	KIND=$1 CLIENT=$2
	local format=$3 auth=$4 scope=$5
	echo ok >"$T/$ROW.control"
	start_server "$KIND" 0 || { rfail "the $KIND server did not start"; return; }
	port=$SRV_PORT
	ROW_SOCK=$T/$ROW.sock
	write_secret "$ROW" "$SECRET"
	# refresh_min_interval = 0: forced refreshes here probe the server.
	printf '[client %s]\ntoken_url = http://127.0.0.1:%s/token\nclient_id = %s\nclient_secret_file = %s\nrequest_format = %s\nclient_auth = %s\nscope = %s\nmin_valid = %s\ntimeout = %s\nrefresh_min_interval = 0\n' \
	    "$ROW" "$port" "$CLIENT" "$T/$ROW.secret" "$format" "$auth" "$scope" "$MIN_VALID" "$TIMEOUT" |
	    daemon_conf "$T/$ROW.conf" "$ROW_SOCK"
	start_tokend "$T/$ROW.conf" "$ROW_SOCK" "$T/$ROW.tokend.log" || { rfail "crvs-tokend did not start"; return; }
	ROW_DAEMON_PID=$TOKEND_PID
	wait_for 20 "$TOKEN" -s "$ROW_SOCK" "$ROW" || true

	# Gets and serves.
	local ta sexp left
	ta=$(now_ms)
	cli "$ROW_SOCK" -j "$ROW"
	tok=$(jstr "$out" access_token)
	ei=$(jnum "$out" expires_in)
	rcheck "gets a token ($format body, client_auth $auth; exit $rc: $err)" test "$rc" = 0 -a -n "$tok"
	rcheck "the server accepts it" accepts "$tok"
	note "the server says: $(cat "$T/$ROW.introspect" "$T/$ROW.verify" 2>/dev/null | head -c 300)"
	if [ "$KIND" = oidc ]; then
		rcheck "with the scope asked for ($scope)" grep -q "\"scope\":\"$scope\"" "$T/$ROW.introspect"
		sexp=$(jnum "$(cat "$T/$ROW.introspect" 2>/dev/null)" exp)
	else
		sexp=$(jwt_claim "$tok" exp)
	fi
	# expires_in against what the server's own exp left: not more (plus
	# the time since it was asked for) and not 3 s less.
	left=$(( ${sexp:-0} * 1000 - $(now_ms) ))
	rcheck "expires_in ${ei:-?} is within the server's $TTL s and agrees with its exp (${left} ms left now)" \
	    test -n "$ei" -a -n "$sexp" -a "${ei:-0}" -le "$TTL" -a $(( ${ei:-0} * 1000 )) -ge $((left - 3000)) \
	    -a $(( ${ei:-0} * 1000 )) -le $((left + $(now_ms) - ta + 1000))
	s=$(daemon_status "$ROW_SOCK" "$ROW")
	rcheck "status: valid ($(jstr "$s" state))" test "$(jstr "$s" state)" = valid

	# Refreshes: the token changes before it runs out, and every answer in
	# the meantime is good (the sampler, for TTL + 3 s; the server judges
	# each new token when first served).
	local r0 r1
	r0=$(daemon_refreshes "$ROW_SOCK" "$ROW")
	sample "$ROW_SOCK" "$ROW" "$T/$ROW.watch" -m "$MIN_VALID" -i 100 \
	    -d $(( (TTL + 3) * 1000 )) -x "$(accepts_cmd)"
	r1=$(daemon_refreshes "$ROW_SOCK" "$ROW")
	note "refresh watch: $(cat "$T/$ROW.watch.summary"); $((r1 - r0)) refreshes"
	rcheck "refreshes: the token changed within $((TTL + 3)) s ($S_distinct tokens served, $((r1 - r0)) refreshes)" \
	    test "$S_distinct" -ge 2 -a $((r1 - r0)) -ge 1
	rcheck "every answer meanwhile had at least min_valid left, and each new token was accepted ($((S_unavail + S_other + S_short + S_overclaim + S_check_failed)) bad of $S_answers)" \
	    test "$S_answers" -ge 1 -a "$S_unavail" = 0 -a "$S_other" = 0 -a "$S_short" = 0 -a "$S_overclaim" = 0 -a "$S_check_failed" = 0

	# Many consumers, one upstream request: after a refresh, the server's
	# tokens are made to live 10 * TTL s; 100 callers at once ask for one
	# second more than the current token has left (from the daemon's
	# answer, not a constant), so each needs the next token, and the next
	# token meets that for minutes: however long starting 100 processes
	# takes, one request to the server must serve them all. That min_valid
	# must also be below the lifetime of the token just fetched: until the
	# next token arrives, that is all the daemon knows of the issuer, and
	# a min_valid its tokens cannot meet is answered 503 at once. Right
	# after the refresh the token has left0 s left (whole seconds, so the
	# lifetime is more); once it has less than left0 - 1 s left (the
	# daemon says left0 - 2), left + 1 <= left0 - 1 is both more than the
	# token has and less than its lifetime, and the refresh the daemon
	# plans at about two thirds of the lifetime is seconds away. The
	# long tokens and the count start before that wait: on a slow machine
	# the planned refresh may come first, and then it is the one request
	# (a long token, which meets every caller); otherwise the callers'
	# need makes it. Either way one request, and a token the callers
	# had not been served before.
	"$TOKEN" -s "$ROW_SOCK" refresh "$ROW" >/dev/null 2>&1 || true
	local before after outs left left0 want cur
	printf 'ok\nttl %s\n' $((TTL * 10)) >"$T/$ROW.control"
	before=$(grep -c 'POST /token -> 200' "$T/$ROW.server.log" || true)
	cur=$("$TOKEN" -s "$ROW_SOCK" "$ROW" 2>/dev/null || true)
	left0=$(jnum "$(daemon_status "$ROW_SOCK" "$ROW")" expires_in)
	wait_for 5 eval 'left=$(jnum "$(daemon_status "$ROW_SOCK" "$ROW")" expires_in); test "${left:-0}" -le $(( ${left0:-$TTL} - 2 ))' || true
	left=$(jnum "$(daemon_status "$ROW_SOCK" "$ROW")" expires_in)
	want=$(( ${left:-$TTL} + 1 ))
	note "the token had $left0 s left after the refresh, $left s now; 100 callers ask for min_valid=$want"
	mkdir -p "$T/$ROW.many"
	seq 100 | xargs -P 100 -I{} sh -c '"$1" -s "$2" -m "$3" "$4" >"$5/{}" 2>&1 || echo "exit $?" >>"$5/{}"' \
	    _ "$TOKEN" "$ROW_SOCK" "$want" "$ROW" "$T/$ROW.many"
	after=$(grep -c 'POST /token -> 200' "$T/$ROW.server.log" || true)
	outs=$(cat "$T/$ROW.many"/* | sort -u | wc -l)
	# What they got, tokens by hash (never printed).
	note "the 100 callers got: $(cat "$T/$ROW.many"/* | sort | uniq -c |
	    while read -r n line; do
		case $line in
		"exit "*|*" "*) printf '%s x "%s"; ' "$n" "$line" ;;
		*) printf '%s x token %s; ' "$n" "$(token_hash "$line")" ;;
		esac
	    done)"
	rcheck "100 concurrent callers needing a new token: one request to the server ($((after - before)))" \
	    test $((after - before)) = 1
	rcheck "... and all 100 got the same new token ($outs distinct answers)" \
	    test "$outs" = 1 -a -n "$cur" -a "$(head -n 1 "$T/$ROW.many/1")" != "$cur"
	rcheck "... which the server accepts" accepts "$(head -n 1 "$T/$ROW.many/1")"
	# Back to TTL-second tokens (the long one is replaced at once).
	echo ok >"$T/$ROW.control"

	# A 503 from the server.
	SERVABLE_MS=$(( (TTL - 1 - MIN_VALID) * 1000 ))
	ACCEPTS_CMD=$(accepts_cmd)
	fresh_token
	echo 'status 503' >"$T/$ROW.control"
	forced_refresh_start
	observe '503'
	forced_refresh_check '503'
	rcheck "the daemon stays up" alive "$ROW_DAEMON_PID"
	status_shows transient '503' unavailable
	recover eval 'echo ok >"$T/$ROW.control"'

	# The server stops, then comes back on the same port.
	fresh_token
	EXP0=$(jnum "$(cat "$T/$ROW.introspect" 2>/dev/null)" exp)
	[ "$KIND" != mock ] || curl -sf --max-time 5 "http://127.0.0.1:$port/jwks" >"$T/$ROW.jwks"
	OFFLINE=1
	ACCEPTS_CMD=$(accepts_cmd)
	stop_pid "$SRV_PID"
	ROW_ISSUER_PID=
	wait_for 10 port_closed "$port" || true
	forced_refresh_start
	observe 'connect|refused'
	forced_refresh_check 'connect|refused'
	rcheck "the daemon stays up" alive "$ROW_DAEMON_PID"
	status_shows transient 'connect|refused' unavailable
	OFFLINE=0
	ACCEPTS_CMD=$(accepts_cmd)
	recover start_server "$KIND" "$port"
	rcheck "the daemon stays up to the end" alive "$ROW_DAEMON_PID"
}

# A wrong secret: the server's 401 invalid_client is reported as rejected.
row_wrong_secret() {
	local s
	KIND=oidc CLIENT=crvs-post
	echo ok >"$T/$ROW.control"
	start_server oidc 0 || { rfail "the oidc server did not start"; return; }
	ROW_SOCK=$T/$ROW.sock
	write_secret "$ROW" "not-the-secret"
	printf '[client %s]\ntoken_url = http://127.0.0.1:%s/token\nclient_id = crvs-post\nclient_secret_file = %s\nrequest_format = form\nscope = crvs:read\nmin_valid = 2\n' \
	    "$ROW" "$SRV_PORT" "$T/$ROW.secret" | daemon_conf "$T/$ROW.conf" "$ROW_SOCK"
	start_tokend "$T/$ROW.conf" "$ROW_SOCK" "$T/$ROW.tokend.log" || { rfail "crvs-tokend did not start"; return; }
	ROW_DAEMON_PID=$TOKEND_PID
	wait_for 15 eval 'test -n "$(jstr "$(daemon_status "$ROW_SOCK" "$ROW")" last_error)"' || true
	cli "$ROW_SOCK" "$ROW"
	rcheck "no token: exit 75 (exit $rc)" test "$rc" = 75 -a -z "$out"
	rcheck "the message says the server refused the client: \"$err\"" grep -Eiq '401|invalid_client|rejected' <<<"$err"
	s=$(daemon_status "$ROW_SOCK" "$ROW")
	note "status: $(jstr "$s" state) $(jstr "$s" error_class): $(jstr "$s" last_error)"
	rcheck "status: rejected" test "$(jstr "$s" state)" = rejected -a "$(jstr "$s" error_class)" = rejected
	rcheck "the daemon stays up" alive "$ROW_DAEMON_PID"
}

declare -A ROWS=(
	[oidc_basic_form]="row_server oidc crvs-basic form basic 'crvs:read crvs:write'"
	[oidc_post_form]="row_server oidc crvs-post form body crvs:read"
	[oidc_wrong_secret]="row_wrong_secret"
	[mock_form_basic]="row_server mock crvs-mock form basic crvs:read"
	[mock_json_body]="row_server mock crvs-mock json body crvs:read"
)
ORDER=(oidc_basic_form oidc_post_form oidc_wrong_secret mock_form_basic mock_json_body)
[ -z "${INTEROP_ROWS:-}" ] || read -r -a ORDER <<<"$INTEROP_ROWS"
JOBS=${INTEROP_JOBS:-$(nproc)}
run_rows "${ORDER[@]}"
echo "---- recovery times"
grep -h '^RECOVERY' "$T"/row.*.out | sort -t' ' -k3,3g || true
echo "$TEST_NAME: runtime $(secs_since "$START") s"
finish
