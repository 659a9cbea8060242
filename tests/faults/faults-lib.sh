# Helpers for the fault, clock, storm and soak tests, on top of
# tests/integration/lib.sh (source that first). Adds: several daemons and
# issuers per test, each with its own files; processes started in background
# subshells are tracked in a file so the EXIT trap stops them too; a wrapper
# for the daemon ($TOKEND_WRAPPER, e.g. "valgrind --error-exitcode=99
# --leak-check=full"); JSON field extraction without forking.
# shellcheck shell=bash

FAULTS_PIDFILE=$T/extra.pids
: >"$FAULTS_PIDFILE"
: "${TOKEND_WRAPPER:=}"
# How long a daemon may take to stop (valgrind's leak check is slow).
if [ -n "$TOKEND_WRAPPER" ]; then STOP_WAIT=120; else STOP_WAIT=10; fi

# pid_start PID: when the process started (field 22 of /proc/PID/stat),
# empty when it is gone. pid_max is 32768 here and the suites start tens of
# thousands of processes: a tracked number may belong to someone else by
# the time it is cleaned up, so the start time goes with it.
pid_start() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	set -- $s
	printf '%s' "${20}"
}

track_pid() { echo "$1 $(pid_start "$1")" >>"$FAULTS_PIDFILE"; }

faults_cleanup() {
	local pid start
	[ -f "$FAULTS_PIDFILE" ] || return 0
	while read -r pid start; do
		[ -n "$pid" ] && [ -n "$start" ] && [ "$(pid_start "$pid")" = "$start" ] &&
		    kill -TERM "$pid" 2>/dev/null || true
	done <"$FAULTS_PIDFILE"
	while read -r pid start; do
		[ -n "$pid" ] && [ -n "$start" ] || continue
		for _ in $(seq 100); do
			[ "$(pid_start "$pid")" = "$start" ] || break
			[ "$(proc_state "$pid")" = Z ] && break
			sleep 0.05
		done
		[ "$(pid_start "$pid")" = "$start" ] &&
		    kill -KILL "$pid" 2>/dev/null || true
	done <"$FAULTS_PIDFILE"
	: >"$FAULTS_PIDFILE"
}
trap 'faults_rc=$?; faults_cleanup; cleanup "$faults_rc"' EXIT

# proc_state PID: R, S, Z, ... or empty when gone.
proc_state() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	printf '%s' "${s%% *}"
}
# alive PID: running and not a zombie.
alive() { kill -0 "$1" 2>/dev/null && [ "$(proc_state "$1")" != Z ]; }

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# secs_since MS: elapsed seconds with one decimal.
secs_since() {
	local d=$(($(now_ms) - $1))
	printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

# jnum JSON KEY: an integer field of a flat JSON object (empty if absent or
# null). jstr JSON KEY: a string field, with \/ and \" unescaped.
jnum() {
	local re="\"$2\":[[:space:]]*(-?[0-9]+)"
	if [[ $1 =~ $re ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}
jstr() {
	local re="\"$2\":[[:space:]]*\"(([^\"\\\\]|\\\\.)*)\"" v
	if [[ $1 =~ $re ]]; then
		v=${BASH_REMATCH[1]}
		v=${v//\\\//\/}
		v=${v//\\\"/\"}
		printf '%s' "$v"
	fi
}
jnull() {
	local re="\"$2\":[[:space:]]*null"
	[[ $1 =~ $re ]] || ! [[ $1 == *"\"$2\":"* ]]
}

# daemon_status SOCK NAME: GET /v1/clients/NAME over the Unix socket.
daemon_status() {
	curl -s --max-time 5 --unix-socket "$1" "http://crvs-tokend/v1/clients/$2"
}

# cli SOCK ARGS...: runs crvs-token against SOCK; sets out, err, rc.
cli() {
	local sock=$1 f
	shift
	f=$(mktemp "$T/cli.XXXXXX")
	rc=0
	"$TOKEN" -s "$sock" "$@" >"$f" 2>"$f.err" || rc=$?
	out=$(cat "$f")
	err=$(cat "$f.err")
	rm -f "$f" "$f.err"
}

# start_issuer_at NAME PORT ARGS...: a fake issuer on a given port (0: any)
# that any subshell may start; sets ISSUER_PORT and ISSUER_PID.
start_issuer_at() {
	local name=$1 port=$2 i
	shift 2
	for i in 1 2 3 4 5 6 7 8 9 10; do
		rm -f "$T/$name.port"
		"$ISSUER" --port "$port" --port-file "$T/$name.port" "$@" \
		    >>"$T/$name.log" 2>&1 &
		ISSUER_PID=$!
		track_pid "$ISSUER_PID"
		if wait_for 10 test -s "$T/$name.port"; then
			ISSUER_PORT=$(cat "$T/$name.port")
			return 0
		fi
		# The port may still be held by the previous instance.
		kill "$ISSUER_PID" 2>/dev/null || true
		sleep 0.3
	done
	echo "issuer $name did not start on port $port"
	cat "$T/$name.log"
	return 1
}

# stop_pid PID: TERM, then KILL after a few seconds.
stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 100); do
		alive "$1" || return 0
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null || true
}

# fetch_times LOG SINCE_MS: the times (ms) at which the daemon logged that
# it requested a token, from SINCE_MS on (its debug lines start with a local
# ISO time with milliseconds); empty if the log has none.
fetch_times() {
	local line ts
	grep 'requesting a token' "$1" 2>/dev/null | while read -r line; do
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

# port_closed PORT: nothing listens there.
port_closed() { ! curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$1/"; }

# daemon_conf FILE SOCK: a [daemon] section; client sections follow on stdin.
daemon_conf() {
	{
		printf '[daemon]\nsocket = %s\nlog_level = %s\n' "$2" "${LOG_LEVEL:-debug}"
		cat
	} >"$1"
	chmod 600 "$1"
}

# start_tokend CONF SOCK LOG: sets TOKEND_PID (a child of the calling shell).
start_tokend() {
	local sock=$2
	# shellcheck disable=SC2086
	$TOKEND_WRAPPER "$TOKEND" -c "$1" >>"$3" 2>&1 &
	TOKEND_PID=$!
	track_pid "$TOKEND_PID"
	wait_for 60 eval 'test -S "$sock" || ! alive "$TOKEND_PID"' || true
	test -S "$sock" && alive "$TOKEND_PID" || { echo "crvs-tokend did not start"; tail -n 30 "$3"; return 1; }
}

# stop_tokend PID: TERM and wait (in the shell that started it, not in a
# command substitution); sets STOP_RC to the exit status (99: valgrind found
# errors; 137: had to be killed).
stop_tokend() {
	local pid=$1 rc=0 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_WAIT * 20; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || rc=$?
	STOP_RC=$rc
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

# gw_accepts GWPORT TOKEN: the gateway check of a fake issuer. Every fake
# issuer signs alike, so one that never fails can judge the tokens of all.
gw_accepts() {
	curl -sf --max-time 5 -H "Authorization: Bearer $2" \
	    "http://127.0.0.1:$1/gateway/check" >/dev/null
}

# jwt_claim TOKEN CLAIM: an integer claim of a JWT payload.
jwt_claim() {
	local p=${1#*.}
	p=${p%%.*}
	p=$(printf '%s' "$p" | tr '_-' '/+')
	while [ $((${#p} % 4)) -ne 0 ]; do p+='='; done
	jnum "$(printf '%s' "$p" | base64 -d 2>/dev/null)" "$2"
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
# ROWS), at most $JOBS at a time (0: all), and adds up their results.
run_rows() {
	local running=0 r p f res rowpids=()
	for r in "$@"; do
		[ -n "${ROWS[$r]:-}" ] || { fail "no row named $r"; continue; }
		if [ "${JOBS:-0}" -gt 0 ] && [ "$running" -ge "$JOBS" ]; then
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
		sleep 0.2
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

# forced_refresh_start: `crvs-token refresh NAME` in the background (with a
# hanging issuer it takes the upstream timeout), so that consumers are
# observed meanwhile; forced_refresh_check REGEX judges it. It promises a new
# token, so it exits 75 with a message that names the failure (or, as an
# older contract had it, prints the previous, still servable token); never
# any other token.
forced_refresh_start() {
	(
		cli "$ROW_SOCK" -t 10 refresh "$ROW"
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
		rcheck "a forced refresh that fails prints no token but the previous one" test "$out" = "$TOK0"
	else
		rcheck "a forced refresh that fails exits 75 and says why (exit $rc: $err)" \
		    eval '[ "$rc" = 75 ] && [ -z "$out" ] && grep -Eiq -- "$regex" <<<"$err"'
	fi
	FR_RC=$rc
}
# forced_refresh REGEX: the same, in the foreground.
forced_refresh() {
	forced_refresh_start
	forced_refresh_check "$1"
}

# observe REGEX: polls crvs-token -j until the previous token stops being
# served (then five more answers). Every token printed must be TOK0, have at
# least MIN_VALID s left by the JSON and be accepted (the script's accepts
# TOKEN); every failure must be exit 75 with a message matching REGEX. TOK0
# was fetched at T0 (ms) and stays servable SERVABLE_MS.
observe() {
	local regex=$1 deadline served=0 unavail=0 bad=0 badmsg=0 ei tok
	local first_unavail=0 last_served=0 firstbad='' firstmsg=''
	deadline=$(($(now_ms) + 25000))
	while [ "$(now_ms)" -lt "$deadline" ] && [ "$unavail" -lt 5 ]; do
		cli "$ROW_SOCK" -j -t 8 "$ROW"
		if [ "$rc" = 0 ]; then
			tok=$(jstr "$out" access_token)
			ei=$(jnum "$out" expires_in)
			if [ "$tok" != "$TOK0" ]; then
				bad=$((bad + 1)); firstbad=${firstbad:-"a different token was served"}
			elif [ -z "$ei" ] || [ "$ei" -lt "$MIN_VALID" ]; then
				bad=$((bad + 1)); firstbad=${firstbad:-"served with expires_in=$ei"}
			elif ! accepts "$tok"; then
				bad=$((bad + 1)); firstbad=${firstbad:-"the gateway refused a served token (expires_in=$ei)"}
			fi
			if [ "$unavail" -gt 0 ]; then
				bad=$((bad + 1)); firstbad=${firstbad:-"a token was served again after a 75"}
			fi
			served=$((served + 1))
			last_served=$(now_ms)
		elif [ "$rc" = 75 ]; then
			[ "$unavail" -gt 0 ] || first_unavail=$(now_ms)
			unavail=$((unavail + 1))
			firstmsg=${firstmsg:-$err}
			if [ -n "$out" ]; then
				bad=$((bad + 1)); firstbad=${firstbad:-"exit 75 but something on stdout"}
			fi
			if ! grep -Eiq -- "$regex" <<<"$err"; then
				badmsg=$((badmsg + 1))
			fi
		else
			bad=$((bad + 1)); firstbad=${firstbad:-"crvs-token exit $rc: $err"}
		fi
		sleep 0.3
	done
	note "previous token served $served times, for $(( (last_served - T0) / 100 ))/10 s after it was issued; then $unavail answers 75: \"$firstmsg\""
	rcheck "the previous token was served while the issuer failed ($served answers)" test "$served" -ge 3
	rcheck "it was served until close to the end of its servable time ($(( (last_served - T0) / 100 ))/10 s of $((SERVABLE_MS / 1000)))" \
	    test $((last_served - T0)) -ge $((SERVABLE_MS - 2500))
	rcheck "then crvs-token exits 75 ($unavail times)" test "$unavail" -ge 5
	rcheck "not before the token stopped being servable" \
	    test $((first_unavail - T0)) -ge $((SERVABLE_MS - 1500))
	rcheck "never an expired, short or refused token nor a wrong exit (${firstbad:-none})" test "$bad" = 0
	rcheck "the 75 message says what went wrong (/$regex/): \"$firstmsg\"" test "$badmsg" = 0 -a -n "$firstmsg"
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

# recover RESTORE_COMMAND...: restores the issuer and waits for a new token;
# the bound is the backoff step that was pending (next_refresh) plus slack.
recover() {
	local s next due t1 tok ei rtime bound inflight=0 i
	"$@"
	t1=$(now_ms)
	# The step pending once the issuer is back (an attempt may have failed
	# while it was coming back).
	s=$(daemon_status "$ROW_SOCK" "$ROW")
	next=$(jnum "$s" next_refresh)
	due=$(( ${next:-0} - $(date +%s) ))
	[ "$due" -gt 0 ] || inflight=1
	tok=
	while [ $(( $(now_ms) - t1 )) -lt 75000 ]; do
		cli "$ROW_SOCK" -j -t 8 "$ROW"
		if [ "$rc" = 0 ]; then
			tok=$(jstr "$out" access_token)
			ei=$(jnum "$out" expires_in)
			break
		fi
		sleep 0.1
	done
	rtime=$(secs_since "$t1")
	if [ "$inflight" = 1 ]; then bound=$((TIMEOUT + 62)); else bound=$((due + 3)); fi
	echo "RECOVERY $ROW ${rtime}s (next attempt was due in ${due}s$([ "$inflight" = 0 ] || echo ', a fetch in flight'))"
	note "recovered in $rtime s after the issuer did (next attempt was due in $due s)"
	rcheck "recovered after the issuer did, within one backoff step ($rtime s, bound $bound s)" \
	    test -n "$tok" -a $(( ($(now_ms) - t1) / 1000 )) -le "$bound"
	rcheck "recovered in at most 70 s" test $(( ($(now_ms) - t1) / 1000 )) -le 70
	rcheck "the new token differs from the previous one" test -n "$tok" -a "$tok" != "$TOK0"
	rcheck "the new token has at least min_valid left (expires_in=${ei:-})" test -n "${ei:-}" -a "${ei:-0}" -ge "$MIN_VALID"
	if [[ $tok == eyJ* ]]; then
		rcheck "the gateway accepts the new token" accepts "$tok"
	fi
	for i in 1 2 3 4 5 6 7 8 9 10; do
		s=$(daemon_status "$ROW_SOCK" "$ROW")
		[ "$(jstr "$s" state)" = valid ] && break
		sleep 0.2
	done
	rcheck "status is valid again, with no last_error ($(jstr "$s" state))" \
	    eval 'test "$(jstr "$s" state)" = valid && jnull "$s" last_error && jnull "$s" error_class'
}

