#!/bin/bash
# Callers that hang up while their request waits for a slow fetch are
# noticed at once (not when the answer is finally written), and the one
# that stays still gets its token from the same single fetch.
. "$(dirname "$0")/lib.sh"

start_issuer issuer --lifetime 600
# refresh_min_interval = 0: the forced refreshes below must wait for a fetch.
client_section demo "$ISSUER_PORT" "refresh_min_interval = 0" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo
issuer_post "$ISSUER_PORT" '/control/mode?mode=slow&delay=4' >/dev/null

"$TOKEN" -t 20 refresh demo >"$T/stayer.out" 2>&1 &
stayer=$!
PIDS+=("$stayer")
for i in $(seq 10); do
	curl -s --max-time 1 -X POST --unix-socket "$SOCK" \
	    http://x/v1/clients/demo/refresh >/dev/null 2>&1 &
	PIDS+=("$!")
done
# The fetch answers after 4 s; the ten leave after 1 s.
check "the daemon noticed all ten hang-ups before the fetch ended" \
    wait_for 3 sh -c "[ \$(grep -c 'hung up while its request waited' '$T/tokend.log') -ge 10 ]"
rc=0
wait "$stayer" || rc=$?
check "the caller that stayed got a token (exit $rc)" test "$rc" = 0 -a -s "$T/stayer.out"
check "one upstream request served them all ($(issuer_stat "$ISSUER_PORT" requests) in all)" \
    test "$(issuer_stat "$ISSUER_PORT" requests)" = 2
issuer_post "$ISSUER_PORT" '/control/mode?mode=ok' >/dev/null
run_cli a demo
check "the daemon still answers" test "$a_rc" = 0
stop_daemon
check "and stops cleanly (exit $DAEMON_RC)" test "$DAEMON_RC" = 0
finish
