#!/bin/bash
# Callers that hang up while their request waits for a slow fetch are
# noticed at once (not when the answer is finally written), and the one
# that stays still gets its token from the same single fetch. The order is
# judged from the daemon's own log (hang-ups before the new token), not
# from a wall-clock window, so a slow machine cannot turn it.
. "$(dirname "$0")/lib.sh"

start_issuer issuer --lifetime 600
# refresh_min_interval = 0: the forced refreshes below must wait for a fetch.
client_section demo "$ISSUER_PORT" "$(printf 'timeout = 30\nrefresh_min_interval = 0')" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo
# The fetch is held for 15 s: time for the ten to connect and hang up.
issuer_post "$ISSUER_PORT" '/control/mode?mode=slow&delay=15' >/dev/null

"$TOKEN" -t 40 refresh demo >"$T/stayer.out" 2>&1 &
stayer=$!
PIDS+=("$stayer")
hangers=()
for i in $(seq 10); do
	curl -s --max-time 60 -X POST --unix-socket "$SOCK" \
	    http://x/v1/clients/demo/refresh >/dev/null 2>&1 &
	hangers+=("$!")
	PIDS+=("$!")
done
# All eleven wait for the one fetch; then the ten hang up.
wait_for 20 eval '[ "$(grep -c "/v1/clients/demo/refresh for uid" "$T/tokend.log")" -ge 11 ]' || true
for p in "${hangers[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
wait_for 20 eval '[ "$(grep -c "hung up while its request waited" "$T/tokend.log")" -ge 10 ]' || true
issuer_post "$ISSUER_PORT" '/control/mode?mode=ok' >/dev/null
rc=0
wait "$stayer" || rc=$?
last_hangup=$(log_ms 'hung up while its request waited' | sort -n | tail -n 1)
new_token=$(log_ms 'new token' | sort -n | tail -n 1)
check "the daemon noticed all ten hang-ups before the fetch ended ($(grep -c 'hung up while its request waited' "$T/tokend.log") noticed, the last $(( ${new_token:-0} - ${last_hangup:-0} )) ms before the new token)" \
    test "$(grep -c 'hung up while its request waited' "$T/tokend.log")" -ge 10 -a -n "$last_hangup" -a -n "$new_token" -a "${last_hangup:-0}" -lt "${new_token:-0}"
check "the caller that stayed got a token (exit $rc)" test "$rc" = 0 -a -s "$T/stayer.out"
check "one upstream request served them all ($(issuer_stat "$ISSUER_PORT" requests) in all)" \
    test "$(issuer_stat "$ISSUER_PORT" requests)" = 2
run_cli a demo
check "the daemon still answers" test "$a_rc" = 0
stop_daemon
check "and stops cleanly (exit $DAEMON_RC)" test "$DAEMON_RC" = 0
finish
