# Helpers for the fault, clock, storm, soak and interop tests, on top of
# tests/lib.sh (scripts source tests/integration/lib.sh or tests/lib.sh
# first). Adds: independent rows, each with its own issuer and daemon, run
# a few at a time; the fault cycle of a row (a good token, a fault, what
# consumers see, the status, the recovery); request times from the
# daemon's log; certificates.
# shellcheck shell=bash

# Older names for what tests/lib.sh now does for every suite.
FAULTS_PIDFILE=$PIDFILE
faults_cleanup() { :; }

# fetch_times LOG SINCE_MS: the times (ms) at which the daemon logged that
# it requested a token, from SINCE_MS on (its debug lines start with a local
# ISO time with milliseconds); empty if the log has none.
fetch_times() {
	log_times "$1" "$2" 'requesting a token'
}
# log_times LOG SINCE_MS REGEX: the times (ms) of the daemon's log lines
# that match REGEX, from SINCE_MS on.
log_times() {
	local line ts
	grep -E -- "$3" "$1" 2>/dev/null | while read -r line; do
		ts=${line%% *}
		ts=$(date -d "${ts/T/ } " +%s%3N 2>/dev/null) || continue
		[ "$ts" -ge "$2" ] && echo "$ts"
	done
}

# request_times SAMPLES RQ0 LOG SINCE: sets t1 and t2, the times (ms) of
# the first two token requests after the issuer had counted RQ0: from the
# daemon's LOG when it has them since SINCE (it times them more precisely
# than sampling the issuer can under load), else from SAMPLES ("TIME COUNT"
# lines).
request_times() {
	local t n ft
	t1= t2=
	while read -r t n; do
		[ -n "$n" ] || continue
		if [ -z "$t1" ] && [ "$n" -ge $(($2 + 1)) ]; then t1=$t; fi
		if [ "$n" -ge $(($2 + 2)) ]; then t2=$t; break; fi
	done <"$1"
	ft=$(fetch_times "$3" "$4" | head -n 2 | tr '\n' ' ')
	if [ "$(wc -w <<<"$ft")" = 2 ]; then
		read -r t1 t2 <<<"$ft"
	fi
}

# valgrind_summary LOG: the error summary line of a daemon run under valgrind.
valgrind_summary() {
	grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost' "$1" | tr -s ' ' | sed 's/^==[0-9]*== //' | tr '\n' ';'
}

# gen_cert NAME: a self-signed certificate for IP 127.0.0.1 and localhost,
# as $T/NAME.crt and $T/NAME.key.
gen_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
	    -keyout "$T/$1.key" -out "$T/$1.crt" -subj "/CN=127.0.0.1" \
	    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    >"$T/$1.openssl.out" 2>&1
}

# ---- rows: independent cases, each in a background subshell with its own
# issuer and daemon, run in parallel; results are gathered at the end ----

ROW=
ROW_ISSUER_PID=
ROW_DAEMON_PID=
ROW_DAEMON_RC=
ROW_PIDS=()	# more processes of the row, stopped by row_cleanup

rpass() { pass "[$ROW] $*"; }
rfail() { fail "[$ROW] $*"; }
rcheck() {
	local what=$1
	shift
	if "$@"; then rpass "$what"; else rfail "$what"; fi
}
note() { echo "NOTE: $TEST_NAME: [$ROW] $*"; }

row_cleanup() {
	local p
	if [ -n "$ROW_DAEMON_PID" ]; then
		stop_tokend "$ROW_DAEMON_PID"
		ROW_DAEMON_RC=$STOP_RC
		ROW_DAEMON_PID=
		if [ "$ROW_DAEMON_RC" = 0 ]; then
			rpass "the daemon stopped cleanly on SIGTERM${TOKEND_WRAPPER:+ (valgrind: $(valgrind_summary "$T/$ROW.tokend.log"))}"
		else
			rfail "the daemon stopped cleanly on SIGTERM (exit status $ROW_DAEMON_RC${TOKEND_WRAPPER:+; valgrind: $(valgrind_summary "$T/$ROW.tokend.log")})"
		fi
	fi
	[ -z "$ROW_ISSUER_PID" ] || stop_pid "$ROW_ISSUER_PID"
	for p in "${ROW_PIDS[@]}"; do stop_pid "$p"; done
	echo "ROWRESULT $ROW $PASSED $FAILED"
}

# run_rows NAME...: runs the rows named (commands in the associative array
# ROWS), at most $JOBS at a time (default: as many as there are CPUs;
# 0: all at once), and adds up their results.
run_rows() {
	local running=0 r p f res rowpids=() jobs=${JOBS:-$(nproc)}
	for r in "$@"; do
		[ -n "${ROWS[$r]:-}" ] || { fail "no row named $r"; continue; }
		if [ "$jobs" -gt 0 ] && [ "$running" -ge "$jobs" ]; then
			wait -n "${rowpids[@]}" || true
			running=$((running - 1))
		fi
		(
			set +e
			ROW=$r
			PASSED=0 FAILED=0
			trap row_cleanup EXIT
			eval "${ROWS[$r]}"
		) >"$T/row.$r.out" 2>&1 &
		rowpids+=($!)
		track_pid $!
		running=$((running + 1))
	done
	for p in "${rowpids[@]}"; do wait "$p" || true; done

	for r in "$@"; do
		[ -f "$T/row.$r.out" ] || continue
		echo "---- $r"
		grep -E '^(PASS|FAIL|NOTE|RECOVERY)' "$T/row.$r.out" || true
		res=$(grep '^ROWRESULT' "$T/row.$r.out" | tail -n 1)
		if [ -z "$res" ]; then
			fail "[$r] the row did not finish"
			tail -n 20 "$T/row.$r.out"
			continue
		fi
		read -r _ _ p f <<<"$res"
		PASSED=$((PASSED + p))
		FAILED=$((FAILED + f))
		if [ "$f" -ne 0 ] || [ -n "${KEEP_LOGS:-}" ]; then
			echo "---- $r: daemon log (last 25 lines)"
			tail -n 25 "$T/$r.tokend.log" 2>/dev/null || true
		fi
	done
}

# ---- the fault cycle of a row: a good token, a fault, what consumers see,
# the status, the recovery. A row sets ROW, ROW_SOCK, MIN_VALID, TIMEOUT and
# SERVABLE_MS, and the script defines accepts TOKEN (the issuer or gateway
# would take it now). ----

# fresh_token: forces a refresh while the issuer is good; sets TOK0, T0 (ms,
# just before the request that got it) and T0E (just after).
fresh_token() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		T0=$(now_ms)
		cli "$ROW_SOCK" -t 10 refresh "$ROW"
		T0E=$(now_ms)
		[ "$rc" = 0 ] && break
		sleep 1
	done
	TOK0=$out
	rcheck "a good token first (refresh exit $rc)" test "$rc" = 0 -a -n "$TOK0"
	rcheck "the issuer accepts it" accepts "$TOK0"
}

# forced_refresh_start [quiet]: `crvs-token refresh NAME` in the
# background (with a hanging issuer it takes the upstream timeout), so that
# consumers are observed meanwhile: unless told quiet, the observing
# sampler starts first (see observe); forced_refresh_check REGEX judges the
# refresh. It promises a new token, so it exits 75 with a message that
# names the failure (or, as an older contract had it, prints the previous,
# still servable token); never any other token.
forced_refresh_start() {
	[ "${1:-}" = quiet ] || observe_start
	(
		cli "$ROW_SOCK" -t $(( ${TIMEOUT:-2} + 10 )) refresh "$ROW"
		printf '%s' "$out" >"$T/$ROW.fr.out"
		printf '%s' "$err" >"$T/$ROW.fr.err"
		echo "$rc" >"$T/$ROW.fr.rc"
	) &
	FR_PID=$!
}
forced_refresh_check() {
	local regex=$1
	wait "$FR_PID" || true
	rc=$(cat "$T/$ROW.fr.rc" 2>/dev/null || echo none)
	out=$(cat "$T/$ROW.fr.out" 2>/dev/null || true)
	err=$(cat "$T/$ROW.fr.err" 2>/dev/null || true)
	if [ "$rc" = 0 ]; then
		rcheck "a forced refresh that fails prints no token but the previous one" \
		    test "$(token_hash "$out")" = "$(prev_hash)"
	else
		rcheck "a forced refresh that fails exits 75 and says why (exit $rc: $err)" \
		    eval '[ "$rc" = 75 ] && [ -z "$out" ] && grep -Eiq -- "$regex" <<<"$err"'
	fi
	FR_RC=$rc
}
# forced_refresh REGEX: the same, in the foreground.
forced_refresh() {
	forced_refresh_start quiet
	forced_refresh_check "$1"
}
# prev_hash: the hash of the token that was current when the issuer began
# to fail (the sampler's first answer), else of TOK0.
prev_hash() {
	if [ -n "${S_expected:-}" ] && [ "$S_expected" != - ]; then
		echo "$S_expected"
	else
		token_hash "$TOK0"
	fi
}

# observe_start: the sampler (one keep-alive connection, an answer every
# 100 ms, each judged by the token's own exp against the issuer's clock),
# started in the background as soon as the issuer fails, until five
# answers in a row have no token (at most 60 s). The token it is served
# first is the previous token: the current one when the fault began (TOK0,
# unless the daemon's own refresh replaced it before the fault).
observe_start() {
	S_expected=
	"$SAMPLER" -s "$ROW_SOCK" -c "$ROW" -o "$T/$ROW.observe.rec" \
	    -m "$MIN_VALID" -k "${ROW_SKEW:-0}" -i 100 -u 5 -d 60000 -p first \
	    ${ACCEPTS_GW:+-g "$ACCEPTS_GW"} ${ACCEPTS_CMD:+-x "$ACCEPTS_CMD"} \
	    >"$T/$ROW.observe.summary" &
	OBS_PID=$!
	ROW_PIDS+=("$OBS_PID")
}

# observe REGEX: waits for the sampler and judges what consumers got once
# the issuer failed. Every answer must be the previous token with at least
# MIN_VALID s left, never after an answer without a token; an answer
# without one must come only once that token had at most MIN_VALID + 2 s
# left, and say what went wrong (REGEX). The token must have been served
# until it had at most MIN_VALID + 3 s left. The fake issuer's gateway
# check on port $ACCEPTS_GW, or the command $ACCEPTS_CMD (the token on its
# stdin), judges it when first served. Then crvs-token itself: exit 75,
# nothing on stdout, the reason on stderr.
observe() {
	local regex=$1 msgs badmsg
	[ -n "${OBS_PID:-}" ] || observe_start
	wait "$OBS_PID" || true
	OBS_PID=
	sample_parse "$T/$ROW.observe.summary"
	msgs=$(sample_messages "$T/$ROW.observe.rec")
	badmsg=$(grep -Eiv -- "$regex" <<<"$msgs" || true)
	note "sampler: $(cat "$T/$ROW.observe.summary")"
	note "previous token served $S_ok times ($S_near_end with at most $((MIN_VALID + 3)) s left); then $S_tail_unavail answers without a token: \"$(head -n 1 <<<"$msgs")\""
	if [ "$S_expected" != - ] && [ "$S_expected" != "$(token_hash "$TOK0")" ]; then
		note "the daemon's own refresh had replaced TOK0 before the fault"
	fi
	rcheck "the previous token was served while the issuer failed ($S_ok answers)" \
	    test "$S_ok" -ge 3
	rcheck "it was served until close to the end of its servable time ($S_near_end answers with at most min_valid + 3 s left by its exp)" \
	    test "$S_near_end" -ge 1
	rcheck "then no token: 503 ($S_tail_unavail answers in a row)" test "$S_tail_unavail" -ge 5
	rcheck "not before the token stopped being servable ($S_early answers without a token while it had more than min_valid + 2 s left)" \
	    test "$S_early" = 0
	rcheck "never an expired, short, other or refused token, nor a token again after none, nor another error (other token $S_wrong, short $S_short, overclaimed $S_overclaim, refused $S_check_failed, after none $S_after_unavail, other $S_other)" \
	    test "$S_wrong" = 0 -a "$S_short" = 0 -a "$S_overclaim" = 0 -a "$S_check_failed" = 0 -a "$S_after_unavail" = 0 -a "$S_other" = 0
	rcheck "the answers without a token say what went wrong (/$regex/): \"$(head -n 1 <<<"$msgs")\"${badmsg:+; not: \"$badmsg\"}" \
	    test -n "$msgs" -a -z "$badmsg"
	cli "$ROW_SOCK" -j -t 8 "$ROW"
	rcheck "crvs-token then exits 75, prints nothing, and says why (exit $rc: $err)" \
	    eval '[ "$rc" = 75 ] && [ -z "$out" ] && grep -Eiq -- "$regex" <<<"$err"'
}

# status_shows CLASS REGEX STATE: the status names the error.
status_shows() {
	local class=$1 regex=$2 state=$3 s le ec st
	s=$(daemon_status "$ROW_SOCK" "$ROW")
	le=$(jstr "$s" last_error)
	ec=$(jstr "$s" error_class)
	st=$(jstr "$s" state)
	note "status: state=$st error_class=$ec last_error=\"$le\""
	rcheck "status shows last_error (/$regex/)" grep -Eiq -- "$regex" <<<"$le"
	rcheck "status error_class is '$class' (got '$ec')" grep -Eqx -- "$class" <<<"$ec"
	rcheck "status state is '$state' (got '$st')" grep -Eqx -- "$state" <<<"$st"
	rcheck "status counts failures ($(jnum "$s" failures))" test "$(jnum "$s" failures)" -ge 1
	cli "$ROW_SOCK" health
	rcheck "health exits 75 while there is no servable token (exit $rc)" test "$rc" = 75
}

# recover RESTORE_COMMAND...: restores the issuer and waits for a new
# token; the bound is the backoff step that was pending (next_refresh) plus
# 3 s. The time is the daemon's own: when its log says it installed the
# new token, not when a polling loop noticed.
recover() {
	local s next due t0 t1 tok ei rtime rms bound inflight=0 tnew
	# The daemon may recover while the action still runs (a scheduled
	# retry that finds a restarted issuer up before restart_issuer
	# returns, on a loaded machine): its new token is looked for from
	# before the action, and counts as at once.
	t0=$(now_ms)
	"$@"
	t1=$(now_ms)
	# The step pending once the issuer is back (an attempt may have failed
	# while it was coming back).
	# next_refresh is a moment (whole seconds): judged against it, not
	# against when this status call returned, which a loaded machine
	# delays by seconds.
	s=$(daemon_status "$ROW_SOCK" "$ROW")
	next=$(jnum "$s" next_refresh)
	due=$(( ${next:-0} - t1 / 1000 ))
	[ "$due" -gt 0 ] || inflight=1
	wait_for 75 "$TOKEN" -s "$ROW_SOCK" -t 8 "$ROW" || true
	# One answer, judged at once by the sampler: the token's exp against
	# min_valid, and the issuer's (or server's) own check.
	sample "$ROW_SOCK" "$ROW" "$T/$ROW.recover" -m "$MIN_VALID" \
	    -k "${ROW_SKEW:-0}" -d 1 ${ACCEPTS_GW:+-g "$ACCEPTS_GW"} \
	    ${ACCEPTS_CMD:+-x "$ACCEPTS_CMD"}
	tok=$(awk -F'\t' '$1 != "CHECK" && $3 == 200 { print $4; exit }' "$T/$ROW.recover.rec")
	ei=$(awk -F'\t' '$1 != "CHECK" && $3 == 200 { print $5; exit }' "$T/$ROW.recover.rec")
	tnew=$(log_times "$T/$ROW.tokend.log" "$t0" 'new token' | head -n 1)
	rms=$(( ${tnew:-$(now_ms)} - t1 ))
	[ "$rms" -ge 0 ] || rms=0
	rtime=$(printf '%d.%d' $((rms / 1000)) $((rms % 1000 / 100)))
	# The bound, as a moment: the pending step's (rounded up) plus 3 s.
	if [ "$inflight" = 1 ]; then bound=$((t1 + (TIMEOUT + 62) * 1000)); else bound=$(( (next + 1) * 1000 + 3000 )); fi
	echo "RECOVERY $ROW ${rtime}s (next attempt was due in ${due}s$([ "$inflight" = 0 ] || echo ', a fetch in flight'))"
	note "recovered in $rtime s after the issuer did (next attempt was due in $due s)"
	rcheck "recovered after the issuer did, within one backoff step ($rtime s by the daemon's log; bound $(( (bound - t1 + 999) / 1000 )) s)" \
	    test -n "$tok" -a -n "$tnew" -a "${tnew:-0}" -le "$bound"
	rcheck "recovered in at most 70 s" test -n "$tnew" -a "$rms" -le 70000
	rcheck "the new token differs from the previous one" test -n "$tok" -a "$tok" != "$(prev_hash)"
	rcheck "the new token has at least min_valid left by expires_in and by its exp (expires_in=${ei:-}; $(cat "$T/$ROW.recover.summary"))" \
	    test "$S_ok" = 1 -a "$S_short" = 0 -a "$S_overclaim" = 0
	if [ -n "${ACCEPTS_GW:-}${ACCEPTS_CMD:-}" ]; then
		rcheck "the gateway accepts the new token" test "$S_check_failed" = 0
	fi
	wait_for 2 eval 's=$(daemon_status "$ROW_SOCK" "$ROW"); [ "$(jstr "$s" state)" = valid ]' || true
	s=$(daemon_status "$ROW_SOCK" "$ROW")
	rcheck "status is valid again, with no last_error ($(jstr "$s" state))" \
	    eval 'test "$(jstr "$s" state)" = valid && jnull "$s" last_error && jnull "$s" error_class'
}
