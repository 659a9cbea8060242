#!/bin/bash
# Forced refreshes are rate-limited per client (issue 9, item 4): every
# token request costs the issuer a bcrypt check, so a forced refresh within
# refresh_min_interval (default 10 s) of the last successful fetch answers
# with the token just fetched. `refresh --rejected` keeps its meaning: a
# report of the current token always reaches the issuer. A reload to
# refresh_min_interval = 0 lets every forced refresh through.
. "$(dirname "$0")/lib.sh"

start_issuer issuer --lifetime 600
client_section demo "$ISSUER_PORT" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo
first=$("$TOKEN" demo)
before=$(issuer_stat "$ISSUER_PORT" requests)

# Ten forced refreshes as fast as a user can type them.
: >"$T/answers"
for _ in $(seq 10); do
	run_cli f refresh demo
	[ "$f_rc" = 0 ] && [ -n "$f_out" ] || fail "a forced refresh failed (exit $f_rc: $f_err)"
	printf '%s\n' "$f_out" >>"$T/answers"
done
n=$(( $(issuer_stat "$ISSUER_PORT" requests) - before ))
# Whatever the machine's speed, judged by the daemon's own clock: a forced
# refresh reaches the issuer only 10 s or more after the last fetch (the
# start-up one included), and gets the token just fetched otherwise.
fetches=$(log_ms 'requesting a token from the issuer' | tr '\n' ' ')
gaps=$(echo "$fetches" | awk '{ for (i = 2; i <= NF; i++) printf "%d ", $i - $(i - 1) }')
check "10 forced refreshes made $n upstream requests, each 10 s or more after the one before (gaps in ms: ${gaps:-none})" \
    eval 'echo "$gaps" | awk "{ for (i = 1; i <= NF; i++) if (\$i < 10000) exit 1 }"'
check "the log shows every fetch ($(echo "$fetches" | wc -w) = 1 + $n)" \
    test "$(echo "$fetches" | wc -w)" = $((1 + n))
distinct=$( (echo "$first"; cat "$T/answers") | sort -u | wc -l)
check "each was answered with the token just fetched ($distinct distinct tokens = 1 + $n)" \
    test "$distinct" = $((1 + n))
check "the daemon's log says why" grep -q 'forced refresh .* after the last fetch' "$T/tokend.log"

# A report of the current token is not rate-limited.
cur=$("$TOKEN" demo)
before=$(issuer_stat "$ISSUER_PORT" requests)
printf '%s\n' "$cur" | "$TOKEN" refresh --rejected demo >"$T/rej.out" 2>"$T/rej.err" || true
check "refresh --rejected of the current token asks the issuer at once" \
    test "$(issuer_stat "$ISSUER_PORT" requests)" = $((before + 1))
check "and prints a new token" test -s "$T/rej.out" -a "$(cat "$T/rej.out")" != "$cur"
check "which the gateway accepts" gateway_accepts "$ISSUER_PORT" "$(cat "$T/rej.out")"

# refresh_min_interval = 0 (a reload): every forced refresh asks.
client_section demo "$ISSUER_PORT" "refresh_min_interval = 0" | write_conf
kill -HUP "$DAEMON_PID"
wait_for 10 grep -q 'reloaded\|reload failed' "$T/tokend.log"
check "the reload took refresh_min_interval = 0" sh -c "! grep -q 'reload failed' '$T/tokend.log'"
before=$(issuer_stat "$ISSUER_PORT" requests)
for _ in 1 2 3; do "$TOKEN" refresh demo >/dev/null 2>&1 || true; done
check "with refresh_min_interval = 0, three forced refreshes ask three times" \
    test "$(issuer_stat "$ISSUER_PORT" requests)" = $((before + 3))

stop_daemon
check "the daemon stopped cleanly (exit $DAEMON_RC)" test "$DAEMON_RC" = 0
finish
