#!/bin/bash
# The daemon's sd_notify protocol without systemd: a NOTIFY_SOCKET listener
# records what the real daemon sends, against the fake issuer.
#
#  1. READY=1 only once the first token is there (the issuer is slowed down),
#     with a STATUS= line; WATCHDOG=1 pings at half WATCHDOG_USEC; SIGHUP gives
#     RELOADING=1 (with MONOTONIC_USEC) then READY=1; SIGTERM gives
#     STOPPING=1; in that order, all from the daemon's own pid.
#  2. A client whose first attempt fails does not hold READY=1 back, and the
#     STATUS= line names it.
#  3. Reload: an unchanged client (and one whose timing settings changed)
#     keeps its token, with no new request to the issuer; a changed client is
#     fetched again; a removed one is gone; an added one is fetched. A broken
#     configuration leaves the running one serving, and says why.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# run_daemon NAME CONF [WATCHDOG_USEC]: starts crvs-tokend as systemd would,
# with NOTIFY_SOCKET (and the watchdog variables, WATCHDOG_PID being the
# daemon's own pid); sets dpid.
run_daemon() {
	local name=$1 conf=$2 wd=${3:-}
	if [ -n "$wd" ]; then
		env -u JOURNAL_STREAM NOTIFY_SOCKET="$tmp/notify.sock" \
			WATCHDOG_USEC="$wd" sh -c \
			'export WATCHDOG_PID=$$; exec "$0" -c "$1"' "$TOKEND" "$conf" \
			2>"$tmp/$name.log" &
	else
		env -u JOURNAL_STREAM -u WATCHDOG_USEC -u WATCHDOG_PID \
			NOTIFY_SOCKET="$tmp/notify.sock" "$TOKEND" -c "$conf" \
			2>"$tmp/$name.log" &
	fi
	dpid=$!
	pids+=("$dpid")
}

# stop_daemon: SIGTERM and wait (bounded); sets drc to its exit status.
stop_daemon() {
	kill -TERM "$dpid"
	wait_for 10 sh -c "! kill -0 $dpid 2>/dev/null" || die "daemon $dpid did not stop on SIGTERM"
	drc=0
	wait "$dpid" || drc=$?
}

ms() { echo $(($(date +%s%N) / 1000000)); }
# The notify lines after line $1 (1-based count of lines already seen).
after() { tail -n +"$(($1 + 1))" "$NOTIFY_LOG"; }
# The protocol events, in order, as one line: READY RELOADING READY ...
events() {
	cut -f2 "$NOTIFY_LOG" | grep -oE '(^| )(READY|RELOADING|STOPPING)=1' |
		sed 's/^ //; s/=1$//' | tr '\n' ' ' | sed 's/ $//'
}

start_notify_listener

# ---------------------------------------------------------------- 1
echo "# 1. READY, STATUS, WATCHDOG, RELOADING, READY, STOPPING"
start_issuer one --lifetime 600
# The first token takes 1.5 s: READY=1 must wait for it.
curl -sf -X POST "http://127.0.0.1:$one_port/control/mode?mode=slow&delay=1.5&count=1" >/dev/null ||
	die "cannot slow down the fake issuer"
cat >"$tmp/one.conf" <<EOF
[daemon]
socket = $tmp/one.sock
[client alpha]
token_url = $one_url
client_id = $DEFAULT_ID
client_secret_file = $(secret_file one "$DEFAULT_SECRET")
EOF
t0=$(ms)
run_daemon one "$tmp/one.conf" 1000000
wait_for 15 grep -q 'READY=1' "$NOTIFY_LOG" || die "no READY=1 within 15 s"
t_ready=$(ms)
tok=$("$TOKEN" -s "$tmp/one.sock" alpha) || tok=
check "READY=1 waited for the first token (the issuer took 1.5 s; READY after $((t_ready - t0)) ms)" \
	test $((t_ready - t0)) -ge 1400
check "a token is servable as soon as READY=1 is sent" test -n "$tok"
check "READY=1 after exactly one token request" test "$(issuer_stat "$one_port" issued)" = 1
ready_line=$(grep -m1 'READY=1' "$NOTIFY_LOG" | cut -f2)
echo "    ready message: $ready_line"
check "READY=1 comes with STATUS=1 client: 1 valid, next refresh at ..." \
	grep -qE 'STATUS=1 client: 1 valid, next refresh at [0-9]{2}:[0-9]{2}:[0-9]{2}' <<<"$ready_line"
# WATCHDOG_USEC=1 s: a ping every 0.5 s, so 4 more take about 2 s.
pings() { notify_count $'\tWATCHDOG=1$'; }
n0=$(pings)
wait_for 5 eval 'test "$(pings)" -ge $((n0 + 5))' || true
# Timed by when the daemon sent them (the kernel's timestamps), not by this
# script's polling nor by when the listener got to read them:
# the 4 intervals after the first new ping (2000 ms expected).
t_wd=$(grep -E $'\tWATCHDOG=1$' "$NOTIFY_LOG.ms" | sed -n "$((n0 + 1))p;$((n0 + 5))p" |
	cut -f1 | tr '\n' ' ' | awk '{ print $2 - $1 }')
check "WATCHDOG=1 at half WATCHDOG_USEC=1s: 4 intervals in ${t_wd:-?} ms (1900-3000 expected)" \
	test "$(pings)" -ge $((n0 + 5)) -a "${t_wd:-0}" -ge 1900 -a "${t_wd:-0}" -le 3000

seen=$(wc -l <"$NOTIFY_LOG")
kill -HUP "$dpid"
wait_for 10 sh -c "tail -n +$((seen + 1)) '$NOTIFY_LOG' | grep -q 'READY=1'" ||
	die "no READY=1 within 10 s of SIGHUP"
reload=$(after "$seen" | grep -v $'\tWATCHDOG=1$' | cut -f2)
echo "    after SIGHUP: $(tr '\n' '/' <<<"$reload")"
# in_order A B: a message matching A, and a later one matching B.
in_order() {
	awk -v a="$1" -v b="$2" '$0 ~ a && !r { r = NR; next } r && $0 ~ b { ok = 1 }
		END { exit !ok }'
}
check "SIGHUP: RELOADING=1 then READY=1" in_order RELOADING=1 READY=1 <<<"$reload"
mono=$(grep -oE 'MONOTONIC_USEC=[0-9]+' <<<"$reload" | head -1 | cut -d= -f2)
now_mono=$(python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)')
check "RELOADING=1 carries MONOTONIC_USEC of CLOCK_MONOTONIC now ($mono vs $now_mono)" \
	test -n "$mono" -a "$((now_mono - ${mono:-0}))" -ge 0 -a "$((now_mono - ${mono:-0}))" -lt 10000000
check "READY=1 after the reload carries a STATUS= line" \
	grep -qE 'READY=1.*STATUS=1 client: 1 valid' <<<"$reload"
check "the reload kept the token (no new request to the issuer)" \
	test "$(issuer_stat "$one_port" requests)" = 1 -a "$("$TOKEN" -s "$tmp/one.sock" alpha)" = "$tok"

stop_daemon
check "SIGTERM: the daemon exits 0 (exit $drc)" test "$drc" = 0
check "SIGTERM: STOPPING=1 sent" grep -q 'STOPPING=1' "$NOTIFY_LOG"
check "SIGTERM: the daemon removed its socket" test ! -e "$tmp/one.sock"
ev=$(events)
check "the events came in order: READY RELOADING READY STOPPING (got: $ev)" \
	test "$ev" = "READY RELOADING READY STOPPING"
check "WATCHDOG=1 pings stop with STOPPING=1" \
	sh -c "! sed -n '/STOPPING=1/,\$p' '$NOTIFY_LOG' | grep -q $'\tWATCHDOG=1'"
others=$(cut -f1 "$NOTIFY_LOG" | sort -u | grep -vx "$dpid" || true)
check "every message came from the daemon's main pid $dpid (NotifyAccess=main)" test -z "$others"

# ---------------------------------------------------------------- 2
echo "# 2. a client whose first attempt fails does not hold READY=1 back"
: >"$NOTIFY_LOG"
cat >"$tmp/two.conf" <<EOF
[daemon]
socket = $tmp/two.sock
[client broken]
token_url = $one_url
client_id = $DEFAULT_ID
client_secret_file = $(secret_file two "not-the-secret")
EOF
run_daemon two "$tmp/two.conf"
check "READY=1 within 15 s although the issuer refuses the client" \
	wait_for 15 grep -q 'READY=1' "$NOTIFY_LOG"
ready_line=$(grep -m1 'READY=1' "$NOTIFY_LOG" | cut -f2 || true)
echo "    ready message: $ready_line"
check "its STATUS= line names the failing client" \
	grep -qE 'STATUS=1 client: 0 valid; broken: .+' <<<"$ready_line"
rc=0
"$TOKEN" -s "$tmp/two.sock" -t 2 broken >/dev/null 2>&1 || rc=$?
check "crvs-token for the failing client exits 75 (exit $rc)" test "$rc" = 75
stop_daemon

# ---------------------------------------------------------------- 3
echo "# 3. reload keeps unchanged clients, refetches changed ones"
: >"$NOTIFY_LOG"
K=11111111-1111-4111-8111-111111111111
C=22222222-2222-4222-8222-222222222222
G=33333333-3333-4333-8333-333333333333
A=44444444-4444-4444-8444-444444444444
start_issuer three --lifetime 600 --client "$K:sk" --client "$C:sc" \
	--client "$G:sg" --client "$A:sa"
write_three() {	# write_three EXTRA_FOR_keep EXTRA_FOR_change WITH_gone WITH_added
	{
		echo "[daemon]"
		echo "socket = $tmp/three.sock"
		echo "[client keep]"
		echo "token_url = $three_url"
		echo "client_id = $K"
		echo "client_secret_file = $(secret_file k sk)"
		echo "$1"
		echo "[client change]"
		echo "token_url = $three_url"
		echo "client_id = $C"
		echo "client_secret_file = $(secret_file c sc)"
		echo "$2"
		if [ "$3" = 1 ]; then
			echo "[client gone]"
			echo "token_url = $three_url"
			echo "client_id = $G"
			echo "client_secret_file = $(secret_file g sg)"
		fi
		if [ "$4" = 1 ]; then
			echo "[client added]"
			echo "token_url = $three_url"
			echo "client_id = $A"
			echo "client_secret_file = $(secret_file a sa)"
		fi
	} >"$tmp/three.conf.new"
	mv "$tmp/three.conf.new" "$tmp/three.conf"
}
# reload: SIGHUP, then wait for the READY=1 that ends it.
reload() {
	local n
	n=$(notify_count 'READY=1')
	kill -HUP "$dpid"
	wait_for 10 eval 'test "$(notify_count READY=1)" -gt "$n"' ||
		die "no READY=1 within 10 s of SIGHUP"
}
write_three "" "" 1 0
run_daemon three "$tmp/three.conf"
wait_for 15 grep -q 'READY=1' "$NOTIFY_LOG" || die "no READY=1 within 15 s"
tk=$("$TOKEN" -s "$tmp/three.sock" keep)
check "before the reload: one request each for keep, change and gone" \
	test "$(issuer_stat "$three_port" per_client_requests "$K")/$(issuer_stat "$three_port" \
		per_client_requests "$C")/$(issuer_stat "$three_port" per_client_requests "$G")" = 1/1/1

# keep: only a timing setting changes (applies in place); change: a scope
# (a different token); gone: removed; added: new.
write_three "min_valid = 20" "scope = crvs.test" 0 1
reload
check "after the reload the changed client was fetched again (2 requests)" \
	wait_for 10 eval 'test "$(issuer_stat "$three_port" per_client_requests "$C")" = 2'
check "after the reload the added client was fetched (1 request)" \
	wait_for 10 eval 'test "$(issuer_stat "$three_port" per_client_requests "$A")" = 1'
check "the unchanged client caused no new request (still 1)" \
	test "$(issuer_stat "$three_port" per_client_requests "$K")" = 1
check "the unchanged client still serves the same token" \
	test "$("$TOKEN" -s "$tmp/three.sock" keep)" = "$tk"
check "the changed client serves a token" test -n "$("$TOKEN" -s "$tmp/three.sock" change)"
check "the added client serves a token" test -n "$("$TOKEN" -s "$tmp/three.sock" added)"
rc=0
"$TOKEN" -s "$tmp/three.sock" gone >/dev/null 2>&1 || rc=$?
check "the removed client is gone: crvs-token exits 67 (exit $rc)" test "$rc" = 67
check "the daemon logged that the removed client's token was dropped" \
	grep -qE 'gone: removed or changed; its token is dropped' "$tmp/three.log"

# A broken configuration: the running one stays.
before=$(issuer_stat "$three_port" requests)
tc2=$("$TOKEN" -s "$tmp/three.sock" change)
write_three "min_valid = 20" "scope = crvs.test
scpoe = typo" 0 1
seen=$(wc -l <"$NOTIFY_LOG")
reload
msg=$(after "$seen" | cut -f2 | tr '\n' '/')
echo "    after SIGHUP: $msg"
check "a failed reload sends RELOADING=1 then READY=1 with a STATUS= that says so" \
	grep -qE 'RELOADING=1.*/.*READY=1.*STATUS=reload failed' <<<"$msg"
check "a failed reload logs why, naming file and line" \
	grep -qE "reload failed.*three.conf:[0-9]+: unknown key 'scpoe'" "$tmp/three.log"
check "after a failed reload the old clients still serve the same tokens" \
	test "$("$TOKEN" -s "$tmp/three.sock" keep)" = "$tk" -a \
	"$("$TOKEN" -s "$tmp/three.sock" change)" = "$tc2"
check "after a failed reload the added client is still there" \
	test -n "$("$TOKEN" -s "$tmp/three.sock" added)"
check "a failed reload made no request to the issuer" \
	test "$(issuer_stat "$three_port" requests)" = "$before"

stop_daemon
check "the daemon stops cleanly after the reloads (exit $drc)" test "$drc" = 0

finish
