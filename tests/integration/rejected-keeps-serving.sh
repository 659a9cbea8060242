#!/bin/bash
# One report must not take the token from everyone (issue 9, item 10).
# While the issuer fails, one consumer reports the current, valid token with
# `refresh --rejected` (as one whose call got 401 for another reason would):
# the reporter gets no token (never the one it reported), everyone else keeps
# getting it while it is servable, and status says a replacement is
# pending. When the issuer recovers, the replacement takes its place.
. "$(dirname "$0")/lib.sh"

start_issuer issuer --lifetime 600
client_section demo "$ISSUER_PORT" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo
tok=$("$TOKEN" demo)

# Failing, and asking to be left alone for 3 s after each attempt.
issuer_post "$ISSUER_PORT" '/control/mode?mode=status&status=503&retry_after=3' >/dev/null
run_cli r refresh --rejected demo <<<"$tok"
check "the reporter is told there is no new token (exit $r_rc: $r_err)" \
    test "$r_rc" = 75 -a -z "$r_out"

for i in 1 2 3; do
	run_cli o -j demo
	check "another consumer still gets the reported token ($i, exit $o_rc)" \
	    test "$o_rc" = 0 -a "$(printf '%s' "$o_out" | json_field access_token)" = "$tok"
done
check "the gateway still accepts it" gateway_accepts "$ISSUER_PORT" "$tok"
curl -sf --max-time 5 --unix-socket "$SOCK" http://x/v1/clients/demo >"$T/status.json"
check "the status says a replacement is pending" \
    test "$(json_field replacement_pending <"$T/status.json")" = true
run_cli s status demo
check "'crvs-token status' says so too" eval 'grep -q "replacement pending" <<<"$s_out"'
run_cli r2 refresh --rejected demo <<<"$tok"
check "reporting it again gives no token either (exit $r2_rc)" test "$r2_rc" = 75 -a -z "$r2_out"

# The issuer recovers: the daemon's retry installs the replacement.
issuer_post "$ISSUER_PORT" '/control/mode?mode=ok' >/dev/null
replaced() { [ "$("$TOKEN" demo 2>/dev/null)" != "$tok" ]; }
# Within the backoff's cap (60 s) of the last failed retry, however many
# retries a slow machine let happen meanwhile.
check "the replacement is installed once the issuer recovers" wait_for 75 replaced
new=$("$TOKEN" demo)
check "it is a new token the gateway accepts" gateway_accepts "$ISSUER_PORT" "$new"
curl -sf --max-time 5 --unix-socket "$SOCK" http://x/v1/clients/demo >"$T/status.json"
check "no replacement is pending any more" \
    test "$(json_field replacement_pending <"$T/status.json")" = false
run_cli r3 refresh --rejected demo <<<"$tok"
check "a late report of the replaced token gets the new one" test "$r3_rc" = 0 -a "$r3_out" = "$new"

stop_daemon
check "the daemon stopped cleanly (exit $DAEMON_RC)" test "$DAEMON_RC" = 0
finish
