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
	# refresh_min_interval = 0: the Retry-After rows' forced refresh must
	# reach the issuer right after the first one.
	client_section "$ROW" "$ROW_PORT" "min_valid = $minv
timeout = 3
refresh_min_interval = 0" | daemon_conf "$T/$ROW.conf" "$ROW_SOCK"
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

# watch_tokens SECONDS: watches the answers with the sampler (one
# keep-alive connection, an answer every 100 ms). Every answer must be a
# token whose expires_in is at least MIN_VALID, at most what exp leaves by
# the issuer's clock when it was asked for (+100 ms) and not 3 s less than
# what it left when it was answered; each new token is accepted by the
# issuer's gateway when first served. The daemon's refresh counter shows
# the token replaced before each expiry; the issuer's count, no hammering.
watch_tokens() {
	local secs=$1 rq0 rq1 r0 r1 elapsed t
	rq0=$(issuer_stat "$ROW_PORT" requests)
	r0=$(daemon_refreshes "$ROW_SOCK" "$ROW")
	t=$(now_ms)
	sample "$ROW_SOCK" "$ROW" "$T/$ROW.watch" -m "$MIN_VALID" -k "$ROW_SKEW" \
	    -i 100 -d $((secs * 1000)) -g "$ROW_PORT"
	elapsed=$(( ($(now_ms) - t) / 1000 ))
	rq1=$(issuer_stat "$ROW_PORT" requests)
	r1=$(daemon_refreshes "$ROW_SOCK" "$ROW")
	note "sampler: $(cat "$T/$ROW.watch.summary")"
	note "$((r1 - r0)) refreshes, $((rq1 - rq0)) upstream requests in $elapsed s"
	rcheck "every answer was a token ($S_answers answers; $S_unavail without a token, $S_other other: $(sample_messages "$T/$ROW.watch.rec" | head -n 1))" \
	    test "$S_answers" -ge 1 -a "$S_unavail" = 0 -a "$S_other" = 0
	rcheck "never expired, short, over-long or refused (short $S_short, more than exp leaves $S_overclaim, 3 s under it $S_underclaim, refused by the gateway $S_check_failed)" \
	    test "$S_short" = 0 -a "$S_overclaim" = 0 -a "$S_underclaim" = 0 -a "$S_check_failed" = 0
	rcheck "refreshed on time: $((r1 - r0)) refreshes and $S_distinct tokens served in $elapsed s of ${LIFETIME}-second tokens" \
	    test $((r1 - r0)) -ge $((elapsed / LIFETIME)) -a "$S_distinct" -ge $((elapsed / LIFETIME + 1))
	rcheck "without hammering the issuer ($((rq1 - rq0)) requests)" test $((rq1 - rq0)) -le $((elapsed * 2 / LIFETIME + 3))
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
	local off=$1 rq0 t1='' t2='' n t target ra enc gap want i
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
	# When the requests were sent: from the daemon's log (its debug lines
	# carry milliseconds), not from polling the issuer.
	: >"$T/$ROW.samples"
	local since=$(( $(now_ms) + off * 1000 - 50 ))
	cli "$ROW_SOCK" -t 10 refresh "$ROW"
	rcheck "the failed refresh prints no other token (exit $rc)" test "$rc" = 75 -o "$out" = "$tok0"
	# Wait for the retry (20 s at most): the issuer counts it, then the
	# daemon's log has both request times.
	wait_for 20 issuer_requests_ge "$ROW_PORT" $((rq0 + 2)) || true
	wait_for 5 eval '[ "$(fetch_times "$T/$ROW.tokend.log" "$since" | wc -l)" -ge 2 ]' || true
	# The daemon's log times are on its faked wall clock: take the
	# offset off when they were used.
	request_times "$T/$ROW.samples" "$rq0" "$T/$ROW.tokend.log" "$since"
	if [ "$(fetch_times "$T/$ROW.tokend.log" "$since" | head -n 2 | wc -l)" = 2 ]; then
		t1=$((t1 - off * 1000)) t2=$((t2 - off * 1000))
	fi
	[ -n "$t2" ] || note "the daemon's log has no two token requests since $since: $(fetch_times "$T/$ROW.tokend.log" "$since" | tr '\n' ' ')"
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
JOBS=${CLOCK_JOBS:-$(nproc)}
run_rows "${ORDER[@]}"
echo "$TEST_NAME: runtime $(secs_since "$START") s"
finish
