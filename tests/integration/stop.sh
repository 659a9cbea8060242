#!/bin/bash
# A stop (SIGTERM, as systemctl restart and apt upgrade send it) answers
# the requests of connections the daemon had already accepted instead of
# dropping them: a consumer that connected a moment before the stop gets its
# token, not a reset. Idle keep-alive connections are closed at once, a
# silent connection cannot hold the stop for long, and the socket's file is
# gone as soon as the stop begins. Every step waits on a condition (the
# daemon's log line, an answer, an end of connection), never on a delay.
. "$(dirname "$0")/lib.sh"
need_tools python3

start_issuer issuer --lifetime 600
client_section demo "$ISSUER_PORT" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo

python3 "$(dirname "$0")/stop-drain.py" "$SOCK" "$DAEMON_PID" \
    "$T/tokend.log" demo >"$T/drain.out" 2>&1
sed 's/^\(A-token\) .*/\1 (withheld)/' "$T/drain.out"
field() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$T/drain.out"; }

check "the keep-alive connection had its first answer ($(field B-first))" \
    test "$(field B-first)" = 200
check "the daemon logged that it was stopping before A asked" \
    eval '! grep -q STOPPING-NOT-LOGGED "$T/drain.out"'
check "A, connected before the stop, got its token after it began ($(field A))" \
    test "$(field A)" = "200 close"
token=$(field A-token)
check "the token A got is one the gateway accepts" gateway_accepts "$ISSUER_PORT" "$token"
check "A's connection ended after the answer ($(field A-closed))" test "$(field A-closed)" = True
check "the idle keep-alive connection was closed by the stop ($(field B-closed))" \
    test "$(field B-closed)" = True
check "the silent connection was closed when the bounded wait ended ($(field S-closed))" \
    test "$(field S-closed)" = True
rc=0
wait_for 20 eval '! alive "$DAEMON_PID"' || true
check "the daemon exited" eval '! alive "$DAEMON_PID"'
wait "$DAEMON_PID" 2>/dev/null || rc=$?
check "with status 0 ($rc)" test "$rc" = 0
check "it said the silent connection was still open when it gave up waiting" \
    grep -q "stopping with connections still open" "$T/tokend.log"
check "the socket file is gone" test ! -e "$SOCK"
check "the token is not in the log" eval '[ -n "$token" ] && ! grep -qF -- "$token" "$T/tokend.log"'
finish
