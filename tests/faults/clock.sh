#!/bin/bash
# Clock jumps and skew (issue 3, item 3): validity is kept on CLOCK_BOOTTIME
# and judged by the issuer's clock, so a local wall clock that is off, or
# that jumps while the daemon runs, changes nothing. The daemon runs under
# libfaketime with only its wall clock faked (FAKETIME_DONT_FAKE_MONOTONIC=1,
# the offset read from a file at every call, so it can jump at run time);
# the fake issuer's own clock is moved with --skew. In every case, tokens are
# served with the right remaining validity (checked against exp and the
# issuer's clock, and by the issuer's gateway check), refreshed on time, and
# never served expired. Also: a Retry-After given as an HTTP date is judged
# by the issuer's clock, not the skewed local one.
# Needs libfaketime (Debian package libfaketime); skips (77) without it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/faults/faults-lib.sh"
TEST_NAME=clock
START=$(now_ms)

FAKETIME_LIB=${FAKETIME_LIB:-}
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
    /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 \
    /usr/local/lib/faketime/libfaketime.so.1; do
	[ -n "$FAKETIME_LIB" ] && break
	[ -f "$f" ] && FAKETIME_LIB=$f
done
if [ -z "$FAKETIME_LIB" ]; then
	echo "$TEST_NAME: SKIP: libfaketime is not installed (apt-get install faketime)"
	exit 77
fi

LIFETIME=6
MIN_VALID=1
WINDOW=16	# seconds each row watches the tokens

# faked_tokend_wrapper: runs the daemon with its wall clock read from
# $T/$ROW.faketime ("+3600", "-3600", ...), re-read at every call.
faked_wrapper() {
	echo "env LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$T/$ROW.faketime FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 ${TOKEND_WRAPPER}"
}

# clock_setup WALL_OFFSET ISSUER_SKEW LIFETIME MIN_VALID
clock_setup() {
	local off=$1 skew=$2 life=$3 minv=$4
	start_issuer_at "$ROW.issuer" 0 --lifetime "$life" --skew "$skew" || return 1
	ROW_ISSUER_PID=$ISSUER_PID
	ROW_PORT=$ISSUER_PORT
	ROW_SKEW=$skew
	ROW_SOCK=$T/$ROW.sock
	echo "$off" >"$T/$ROW.faketime"
	client_section "$ROW" "$ROW_PORT" "min_valid = $minv
timeout = 3" | daemon_conf "$T/$ROW.conf" "$ROW_SOCK"
	TOKEND_WRAPPER=$(faked_wrapper) start_tokend "$T/$ROW.conf" "$ROW_SOCK" "$T/$ROW.tokend.log" || return 1
	ROW_DAEMON_PID=$TOKEND_PID
	wait_for 15 "$TOKEN" -s "$ROW_SOCK" "$ROW" || true
}

# The daemon's idea of the time (last_refresh) against ours.
check_faked() {
	local off=$1 s lr d
	s=$(daemon_status "$ROW_SOCK" "$ROW")
	lr=$(jnum "$s" last_refresh)
	d=$(( ${lr:-0} - $(date +%s) ))
	note "the daemon's wall clock is off by $d s (wanted $off)"
	rcheck "libfaketime moves the daemon's wall clock ($d s, wanted $off)" \
	    test "$d" -ge $((off - 20)) -a "$d" -le $((off + 5))
}

# watch_tokens SECONDS: polls crvs-token -j. Every answer must be a token
# whose expires_in is at least MIN_VALID and at most what exp leaves by the
# issuer's clock (and not much less), accepted by the issuer's gateway.
watch_tokens() {
	local secs=$1 t t0 n=0 ok=0 bad=0 unav=0 firstbad='' tok ei exp real prev='' distinct=0 rq0 rq1
	rq0=$(issuer_stat "$ROW_PORT" requests)
	t=$(now_ms)
	while [ $(( $(now_ms) - t )) -lt $((secs * 1000)) ]; do
		t0=$(now_ms)
		cli "$ROW_SOCK" -j -t 8 "$ROW"
		n=$((n + 1))
		if [ "$rc" != 0 ]; then
			unav=$((unav + 1)); firstbad=${firstbad:-"exit $rc: $err"}
			sleep 0.25
			continue
		fi
		tok=$(jstr "$out" access_token)
		ei=$(jnum "$out" expires_in)
		exp=$(jwt_claim "$tok" exp)
		# What the token really had left by the issuer's clock, in ms,
		# when it was asked for (it had no more when it was answered).
		real=$(( ${exp:-0} * 1000 - (t0 + ROW_SKEW * 1000) ))
		if [ -z "$ei" ] || [ "$ei" -lt "$MIN_VALID" ]; then
			bad=$((bad + 1)); firstbad=${firstbad:-"expires_in=$ei under min_valid"}
		elif [ $((ei * 1000)) -gt $((real + 100)) ]; then
			bad=$((bad + 1)); firstbad=${firstbad:-"expires_in=$ei but only $real ms left by the issuer's clock"}
		elif [ $((ei * 1000)) -lt $((real - 3000 - ($(now_ms) - t0))) ]; then
			bad=$((bad + 1)); firstbad=${firstbad:-"expires_in=$ei though $real ms are left by the issuer's clock"}
		elif ! gateway_accepts "$ROW_PORT" "$tok"; then
			bad=$((bad + 1)); firstbad=${firstbad:-"the issuer's gateway refused a served token (expires_in=$ei)"}
		else
			ok=$((ok + 1))
		fi
		[ "$tok" = "$prev" ] || distinct=$((distinct + 1))
		prev=$tok
		sleep 0.25
	done
	rq1=$(issuer_stat "$ROW_PORT" requests)
	note "$n answers: $ok good, $bad bad, $unav without a token; $distinct tokens; $((rq1 - rq0)) upstream requests in $secs s"
	rcheck "every answer was a token ($unav were not: ${firstbad:-})" test "$unav" = 0
	rcheck "never expired, short, over-long or refused (${firstbad:-none})" test "$bad" = 0
	rcheck "many answers ($n)" test "$n" -ge 20
	rcheck "refreshed on time: $distinct tokens in $secs s of ${LIFETIME}-second tokens" \
	    test "$distinct" -ge $((secs / LIFETIME + 1))
	rcheck "without hammering the issuer ($((rq1 - rq0)) requests)" test $((rq1 - rq0)) -le $((secs * 2 / LIFETIME + 3))
}

row_skew() {
	local off=$1 skew=$2
	clock_setup "$off" "$skew" "$LIFETIME" "$MIN_VALID" || { rfail "setup"; return; }
	check_faked "$off"
	watch_tokens "$WINDOW"
	rcheck "the daemon stays up" alive "$ROW_DAEMON_PID"
}

# The wall clock jumps back and forth while the daemon runs.
row_jumps() {
	local jumper
	clock_setup +0 0 "$LIFETIME" "$MIN_VALID" || { rfail "setup"; return; }
	(
		while :; do
			for o in +3600 -3600 +0 +86400 -86400 -30 +30 +600 -600; do
				echo "$o" >"$T/$ROW.faketime.new"
				mv "$T/$ROW.faketime.new" "$T/$ROW.faketime"
				sleep 1.3
			done
		done
	) &
	jumper=$!
	ROW_PIDS+=("$jumper")
	watch_tokens $((WINDOW + 4))
	stop_pid "$jumper"
	rcheck "the daemon stays up" alive "$ROW_DAEMON_PID"
}

# 503 with "Retry-After: <HTTP date 6 s ahead by the issuer's clock>": the
# retry comes about then, whatever the daemon's wall clock says.
row_retry_after_date() {
	local off=$1 rq0 t1='' t2='' n t target ra enc gap want sampler i
	clock_setup "$off" 0 20 2 || { rfail "setup"; return; }
	cli "$ROW_SOCK" -t 10 refresh "$ROW"
	rcheck "a good token first (exit $rc)" test "$rc" = 0
	local tok0=$out
	target=$(( $(date +%s) + 6 ))
	ra=$(date -u -d "@$target" '+%a, %d %b %Y %H:%M:%S GMT')
	enc=${ra// /%20}
	enc=${enc//,/%2C}
	enc=${enc//:/%3A}
	issuer_post "$ROW_PORT" "/control/mode?mode=status&status=503&retry_after=$enc" >/dev/null
	rq0=$(issuer_stat "$ROW_PORT" requests)
	(
		for ((i = 0; i < 400; i++)); do
			echo "$(now_ms) $(issuer_stat "$ROW_PORT" requests)"
			sleep 0.05
		done
	) >"$T/$ROW.samples" 2>/dev/null &
	sampler=$!
	ROW_PIDS+=("$sampler")
	local since=$(( $(now_ms) + off * 1000 - 50 ))
	cli "$ROW_SOCK" -t 10 refresh "$ROW"
	rcheck "the failed refresh prints no other token (exit $rc)" test "$rc" = 75 -o "$out" = "$tok0"
	# Wait for the retry (or 20 s).
	for ((i = 0; i < 200; i++)); do
		[ "$(issuer_stat "$ROW_PORT" requests)" -ge $((rq0 + 2)) ] && break
		sleep 0.1
	done
	sleep 0.2
	stop_pid "$sampler"
	# The daemon's log times are on its faked wall clock: take the
	# offset off when they were used.
	request_times "$T/$ROW.samples" "$rq0" "$T/$ROW.tokend.log" "$since"
	if [ "$(fetch_times "$T/$ROW.tokend.log" "$since" | head -n 2 | wc -l)" = 2 ]; then
		t1=$((t1 - off * 1000)) t2=$((t2 - off * 1000))
	fi
	[ -n "$t2" ] || { echo "samples:"; head -5 "$T/$ROW.samples"; tail -3 "$T/$ROW.samples"; }
	want=$(( target * 1000 - ${t1:-0} ))
	gap=$(( ${t2:-999999999} - ${t1:-0} ))
	note "Retry-After: $ra (${want} ms after the failed request, by the issuer's clock); the daemon's clock is off by $off s; it retried after $gap ms"
	rcheck "Retry-After as an HTTP date is honoured by the issuer's clock: retry after $gap ms, wanted ${want} ms (-1200/+2500)" \
	    test -n "$t1" -a "$gap" -ge $((want - 1200)) -a "$gap" -le $((want + 2500))
	issuer_post "$ROW_PORT" "/control/mode?mode=ok" >/dev/null
	rcheck "the daemon stays up" alive "$ROW_DAEMON_PID"
}

declare -A ROWS=(
	[wall_ahead_1h]="row_skew +3600 0"
	[wall_behind_1h]="row_skew -3600 0"
	[issuer_ahead_1h]="row_skew +0 3600"
	[issuer_behind_1h]="row_skew +0 -3600"
	[wall_ahead_issuer_behind]="row_skew +3600 -3600"
	[wall_jumps]="row_jumps"
	[retry_after_date_real_clock]="row_retry_after_date +0"
	[retry_after_date_wall_ahead]="row_retry_after_date +3600"
	[retry_after_date_wall_behind]="row_retry_after_date -3600"
)
ORDER=(wall_ahead_1h wall_behind_1h issuer_ahead_1h issuer_behind_1h
    wall_ahead_issuer_behind wall_jumps retry_after_date_real_clock
    retry_after_date_wall_ahead retry_after_date_wall_behind)
[ -z "${CLOCK_ROWS:-}" ] || read -r -a ORDER <<<"$CLOCK_ROWS"
JOBS=${CLOCK_JOBS:-0}
run_rows "${ORDER[@]}"
echo "$TEST_NAME: runtime $(secs_since "$START") s"
finish
