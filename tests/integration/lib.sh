# Shared helpers for the integration tests: real processes (the test token
# server, crvs-tokend, crvs-token) on loopback and Unix sockets, bounded
# waits, and a trap that stops everything a test started.
# shellcheck shell=bash

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
TOKEND=$top_builddir/crvs-tokend
TOKEN=$top_builddir/crvs-token
ISSUER=$top_builddir/tests/fake-issuer/fake-issuer
CLIENT_ID=2fd153ab-86c8-45fb-990d-721140e46061
SECRET=test-secret

T=$(mktemp -d "${TMPDIR:-/tmp}/crvs-test.XXXXXX")
chmod 755 "$T"
SOCK=$T/tokend.sock
export CRVS_TOKEND_SOCKET=$SOCK
PIDS=()
FAILED=0
PASSED=0
TEST_NAME=$(basename "$0" .sh)

# cleanup [RC]: RC is how the script ended (default $?; an EXIT trap that
# runs other commands first passes it on).
cleanup() {
	local rc=${1:-$?} pid
	# set -e ended the script between checks: say so, and show the logs.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "${FAILED:-0}" -eq 0 ]; then
		echo "FAIL: $TEST_NAME: stopped early (exit $rc) after $PASSED checks; logs follow"
		FAILED=1
	fi
	# Only our own children: bash reaps those that ended, and with
	# pid_max 32768 their numbers may belong to someone else by now.
	for pid in "${PIDS[@]}"; do
		lib_is_child "$pid" && kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			lib_is_child "$pid" || break
			sleep 0.05
		done
		lib_is_child "$pid" && kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "${FAILED:-0}" -ne 0 ] || [ -n "${KEEP_LOGS:-}" ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f (last 40 lines)"
			tail -n 40 "$f"
		done
	fi
	rm -rf "$T"
}
# lib_is_child PID: PID is (still) a process this shell started.
lib_is_child() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	[ "$2" = "$$" ] && [ "$1" != Z ]
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass() { PASSED=$((PASSED + 1)); echo "PASS: $TEST_NAME: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $TEST_NAME: $*"; }
# check DESCRIPTION COMMAND...: one assertion.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
	echo "$TEST_NAME: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds.
wait_for() {
	local limit=$1 start
	shift
	start=$(date +%s%N)
	until "$@" >/dev/null 2>&1; do
		if [ $(( ($(date +%s%N) - start) / 1000000 )) -gt $((limit * 1000)) ]; then
			return 1
		fi
		sleep 0.05
	done
}

# start_issuer NAME [ARGS...]: sets ISSUER_PORT (and NAME_PORT).
start_issuer() {
	local name=$1 pid
	shift
	rm -f "$T/$name.port"
	"$ISSUER" --port 0 --port-file "$T/$name.port" "$@" >"$T/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	eval "${name}_PID=$pid"
	wait_for 10 test -s "$T/$name.port" || { echo "issuer $name did not start"; cat "$T/$name.log"; exit 1; }
	ISSUER_PORT=$(cat "$T/$name.port")
	eval "${name}_PORT=$ISSUER_PORT"
}

# issuer_get PORT PATH: the control API of a fake issuer.
# (15 s: a loaded machine running the suites in parallel can be slow.)
issuer_get() { curl -sf --max-time 15 "http://127.0.0.1:$1$2"; }
issuer_post() { curl -sf --max-time 15 -X POST "http://127.0.0.1:$1$2"; }
# issuer_stat PORT KEY: one number from /control/stats.
issuer_stat() {
	issuer_get "$1" /control/stats |
	    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
# gateway_accepts PORT TOKEN: the issuer's gateway would take this token now.
gateway_accepts() {
	curl -sf --max-time 5 -H "Authorization: Bearer $2" \
	    "http://127.0.0.1:$1/gateway/check" >/dev/null
}

write_secret() {
	printf '%s\n' "${2:-$SECRET}" >"$T/$1.secret"
	chmod 600 "$T/$1.secret"
}

# write_conf BODY: the [daemon] section plus whatever clients follow.
write_conf() {
	{
		printf '[daemon]\nsocket = %s\nlog_level = %s\n' "$SOCK" "${LOG_LEVEL:-debug}"
		cat
	} >"$T/tokend.conf"
	chmod 600 "$T/tokend.conf"
}

# client_section NAME PORT [EXTRA LINES]
client_section() {
	write_secret "$1"
	printf '[client %s]\ntoken_url = http://127.0.0.1:%s/auth/token\nclient_id = %s\nclient_secret_file = %s\n%s\n' \
	    "$1" "$2" "$CLIENT_ID" "$T/$1.secret" "${3:-}"
}

# TOKEND_WRAPPER (e.g. "valgrind -q --error-exitcode=99") runs the daemon
# under a checker; a checker's complaints land in tokend.log.
start_daemon() {
	# shellcheck disable=SC2086
	${TOKEND_WRAPPER:-} "$TOKEND" -c "$T/tokend.conf" "$@" >>"$T/tokend.log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	wait_for 10 test -S "$SOCK" || { echo "crvs-tokend did not start"; cat "$T/tokend.log"; exit 1; }
}

# stop_daemon: SIGTERM, then the daemon's exit status in DAEMON_RC.
stop_daemon() {
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	wait_for 20 sh -c "! kill -0 $DAEMON_PID" || kill -KILL "$DAEMON_PID"
	DAEMON_RC=0
	wait "$DAEMON_PID" 2>/dev/null || DAEMON_RC=$?
}

daemon_alive() { kill -0 "$DAEMON_PID" 2>/dev/null; }

# run_cli VAR_PREFIX ARGS...: runs crvs-token, keeping stdout, stderr and
# the exit status in ${P}_out, ${P}_err, ${P}_rc.
run_cli() {
	local p=$1 rc=0
	shift
	"$TOKEN" "$@" >"$T/cli.out" 2>"$T/cli.err" || rc=$?
	printf -v "${p}_out" '%s' "$(cat "$T/cli.out")"
	printf -v "${p}_err" '%s' "$(cat "$T/cli.err")"
	printf -v "${p}_rc" '%s' "$rc"
}

json_field() {
	python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print("" if v is None else v)' "$1"
}

# issuer_requests_ge PORT N: the issuer has seen at least N token requests.
issuer_requests_ge() { [ "$(issuer_stat "$1" requests 2>/dev/null || echo 0)" -ge "$2" ]; }
