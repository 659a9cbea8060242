#!/bin/bash
# The soak (issue 3, item 8): short-lived tokens (SOAK_LIFETIME, default 3 s)
# refreshed over and over while SOAK_CLIENTS consumer loops (default 4) poll
# the daemon with the sampler (a request every 10 ms each, as `crvs-token -j
# -m 1` would, without a process per request), and a driver switches the issuer into a
# random failure mode (count=1: the next request only) for about SOAK_FAIL_PCT
# (default 30) % of the upstream requests. Runs SOAK_SECONDS (default 45; the
# long version is SOAK_SECONDS=600).
# Reports the requests answered, the answers with a token, the answers with
# an expired or under-min_valid token (by the JSON expires_in and by the
# token's exp, and by the gateway check on every new token), the availability,
# and the refresh cycles. Fails only on an expired or under-min_valid token
# served, the daemon dying or not recovering at the end, or an availability
# under SOAK_MIN_AVAILABILITY (default 50) %.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/faults/faults-lib.sh"
TEST_NAME=soak
SECS=${SOAK_SECONDS:-45}
CLIENTS=${SOAK_CLIENTS:-4}
LIFE=${SOAK_LIFETIME:-3}
NTOK=${SOAK_TOKENS:-3}
FAIL_PCT=${SOAK_FAIL_PCT:-30}
MIN_AVAIL=${SOAK_MIN_AVAILABILITY:-50}
ASK=1	# the min_valid every consumer asks for
START=$(now_ms)

start_issuer issuer --lifetime "$LIFE"
P=$ISSUER_PORT
for k in $(seq "$NTOK"); do
	client_section "soak$k" "$P" "min_valid = 0
timeout = 1
fallback_lifetime = $LIFE"
done | LOG_LEVEL=info write_conf
# shellcheck disable=SC2086
$TOKEND_WRAPPER "$TOKEND" -c "$T/tokend.conf" >>"$T/tokend.log" 2>&1 &
DAEMON_PID=$!
track_pid "$DAEMON_PID"
wait_for 60 test -S "$SOCK" || { fail "crvs-tokend did not start"; finish; }
for k in $(seq "$NTOK"); do wait_for 20 "$TOKEN" -m "$ASK" "soak$k" || true; done
issuer_post "$P" /control/reset-stats >/dev/null

# The failure modes the driver picks from (each for one request).
MODES=(
	'mode=status&status=500' 'mode=status&status=502'
	'mode=status&status=503&retry_after=1' 'mode=status&status=401'
	'mode=status&status=400' 'mode=hang' 'mode=slow&delay=2'
	'mode=slow&delay=0.3' 'mode=html' 'mode=nonjson' 'mode=truncated'
	'mode=truncated_json' 'mode=huge' 'mode=no_access_token'
	"mode=opaque&expires_in=$LIFE" 'mode=opaque' 'mode=expired'
	'mode=exp_before_iat' 'mode=bad_token_type' 'mode=reset'
)
# SOAK_MODES="mode=... mode=..." replaces the list.
[ -z "${SOAK_MODES:-}" ] || read -r -a MODES <<<"$SOAK_MODES"
END=$(( $(now_ms) + SECS * 1000 ))

# The driver: after each upstream request it sees, arms a failure for the
# next one with probability FAIL_PCT %.
(
	last=0 armed=0
	declare -A by=()
	while [ "$(now_ms)" -lt "$END" ]; do
		s=$(issuer_get "$P" /control/stats 2>/dev/null) || { sleep 0.05; continue; }
		n=$(jnum "$s" requests)
		if [ -n "$n" ] && [ "$n" -gt "$last" ]; then
			last=$n
			if [ "$(jstr "$s" mode)" = ok ] && [ $((RANDOM % 100)) -lt "$FAIL_PCT" ]; then
				m=${MODES[RANDOM % ${#MODES[@]}]}
				issuer_post "$P" "/control/mode?$m&count=1" >/dev/null 2>&1 || true
				armed=$((armed + 1))
				k=${m#mode=}
				by[${k%%&retry_after*}]=$(( ${by[${k%%&retry_after*}]:-0} + 1 ))
			fi
		fi
		sleep 0.03
	done
	issuer_post "$P" /control/mode?mode=ok >/dev/null 2>&1 || true
	echo "armed $armed"
	for k in "${!by[@]}"; do echo "mode $k ${by[$k]}"; done
) >"$T/driver.out" 2>&1 &
DRIVER=$!
track_pid "$DRIVER"

# A consumer: the sampler on its own keep-alive connection, asking every
# 10 ms for SECS; it judges every answer by the token's exp against the
# issuer's clock, and asks the gateway about every new token it is given.
consumer() {
	local id=$1 name=soak$(( ($1 - 1) % NTOK + 1 ))
	"$SAMPLER" -s "$SOCK" -c "$name" -m "$ASK" -i 10 -d $((SECS * 1000)) \
	    -g "$P" -o "$T/consumer.$id.rec" \
	    >"$T/consumer.$id.result"
}
CPIDS=()
for i in $(seq "$CLIENTS"); do
	consumer "$i" &
	CPIDS+=($!)
	track_pid $!
done

# Watch that the daemon stays up meanwhile.
died_at=
while [ "$(now_ms)" -lt "$END" ]; do
	if ! alive "$DAEMON_PID"; then died_at=$(secs_since "$START"); break; fi
	sleep 0.5
done
for p in "${CPIDS[@]}"; do wait "$p" || true; done
wait "$DRIVER" || true

n=0 tok=0 unav=0 other=0 short=0 gw=0 gwbad=0 late=0 firstbad=''
for i in $(seq "$CLIENTS"); do
	S_answers=0 S_ok=0 S_unavail=0 S_other=0 S_short=0 S_overclaim=0
	S_distinct=0 S_check_failed=0 S_check_late=0
	for w in $(cat "$T/consumer.$i.result" 2>/dev/null); do
		case $w in [a-z_]*=[0-9]*) printf -v "S_${w%%=*}" '%s' "${w#*=}" ;; esac
	done
	n=$((n + S_answers)) tok=$((tok + S_ok)) unav=$((unav + S_unavail))
	other=$((other + S_other)) short=$((short + S_short + S_overclaim))
	gw=$((gw + S_distinct)) gwbad=$((gwbad + S_check_failed))
	late=$((late + S_check_late))
	[ -n "$firstbad" ] || firstbad=$(awk -F'\t' -v m="$ASK" '($1 == "CHECK" && $3 == "failed") || ($1 != "CHECK" && ($3 == 0 || ($3 != 200 && $3 != 503 && $3 != 504) || ($3 == 200 && $5 < m))) { print; exit }' "$T/consumer.$i.rec" 2>/dev/null | cut -f1-3,5-11)
done
served=$(curl -s --max-time 5 --unix-socket "$SOCK" http://crvs-tokend/metrics |
    awk '$1 == "crvs_tokend_requests_total" { print $2 }')
stats=$(issuer_get "$P" /control/stats || echo '{}')
requests=$(jnum "$stats" requests)
issued=$(jnum "$stats" issued)
armed=$(sed -n 's/^armed //p' "$T/driver.out")
refreshes=0 failures=0
for k in $(seq "$NTOK"); do
	dstat=$(daemon_status "$SOCK" "soak$k" || true)
	refreshes=$((refreshes + $(jnum "$dstat" refreshes)))
	failures=$((failures + $(jnum "$dstat" failures)))
done
avail=$(awk -v a="$tok" -v b="$n" 'BEGIN { printf "%.2f", b ? 100 * a / b : 0 }')
answered=$((tok + unav))

echo "$TEST_NAME: $SECS s, $CLIENTS consumer loops on $NTOK clients asking min_valid=$ASK, ${LIFE}-second tokens, ~$FAIL_PCT % of upstream requests failing"
echo "$TEST_NAME: requests made:              $n (the daemon counted ${served:-?} API requests)"
echo "$TEST_NAME: requests answered:          $answered (with a token: $tok; exit 75: $unav; other exits: $other)"
echo "$TEST_NAME: expired or under-min_valid: $short by expires_in and exp; $gwbad of $gw new tokens refused by the gateway check ($late more refused once under a second from their exp)"
echo "$TEST_NAME: availability:               $avail % of requests answered with a token"
echo "$TEST_NAME: upstream requests:          ${requests:-?} ($armed failures injected: $(sed -n 's/^mode //p' "$T/driver.out" | sort | tr '\n' ',' | sed 's/,$//'))"
echo "$TEST_NAME: refresh cycles:             ${issued:-?} tokens issued; the daemon installed $refreshes and counted $failures failures ($NTOK clients)"
[ -z "$firstbad" ] || echo "$TEST_NAME: first problem seen: $firstbad"

check "the daemon stayed up${died_at:+ (died at $died_at s)}" test -z "$died_at"
check "many requests were made (${served:-?} counted by the daemon)" test "${served:-0}" -ge $((SECS * 5))
check "no answer had an expired or under-min_valid token by expires_in or by its exp ($short)" test "$short" = 0
check "the gateway accepted every new token a consumer was given ($gwbad of $gw refused)" test "$gwbad" = 0 -a "$gw" -gt 0
check "availability $avail % is at least $MIN_AVAIL %" \
    awk -v a="$avail" -v m="$MIN_AVAIL" 'BEGIN { exit !(a >= m) }'
check "faults were injected ($armed) and tokens were refreshed (${issued:-0} issued)" \
    test "${armed:-0}" -gt 0 -a "${issued:-0}" -ge $((SECS / LIFE))

# The issuer is good again: the daemon recovers.
t=$(now_ms)
for k in $(seq "$NTOK"); do
	wait_for 75 "$TOKEN" -m "$ASK" "soak$k" || true
	echo "$TEST_NAME: soak$k recovered $(secs_since "$t") s after the last fault"
	# One answer, judged by the sampler (exp, min_valid, the gateway).
	sample "$SOCK" "soak$k" "$T/recover.$k" -m "$ASK" -d 1 -g "$P"
	check "soak$k recovers after the faults stop ($(cat "$T/recover.$k.summary"))" \
	    test "$S_ok" = 1 -a "$S_short" = 0 -a "$S_overclaim" = 0 -a "$S_check_failed" = 0
done
check "the daemon is still up" alive "$DAEMON_PID"
stop_tokend "$DAEMON_PID"
check "the daemon stopped cleanly (exit $STOP_RC)${TOKEND_WRAPPER:+ $(valgrind_summary "$T/tokend.log")}" test "$STOP_RC" = 0
echo "$TEST_NAME: runtime $(secs_since "$START") s"
finish
