# The shared library of every test script (sourced, not run): checks and
# their count, bounded waits on a condition, processes started and always
# stopped (never signalling a process number that was reused), clocks, the
# one JSON reader, and starting the test token server and crvs-tokend.
# The per-suite files (tests/integration/lib.sh, tests/faults/faults-lib.sh,
# tests/security/seclib.sh, tests/systemd/lib.sh) source this and add only
# what their suite needs.
#
# Every script that sources it ends with `finish`, which prints the closing
# line "NAME: N passed, N failed" (quickstart.sh adds these up) and returns
# non-zero when a check failed. `skip REASON` ends a script with 77.
# shellcheck shell=bash

set -euo pipefail

# Sourced twice (a suite file and a script both source it): once is enough.
if [ -z "${CRVS_TESTS_LIB:-}" ]; then
CRVS_TESTS_LIB=1

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$LIB_DIR/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
TOKEND=$top_builddir/crvs-tokend
TOKEN=$top_builddir/crvs-token
ISSUER=$top_builddir/tests/fake-issuer/fake-issuer
JSON=$top_builddir/tests/tools/json
SAMPLER=$top_builddir/tests/tools/sampler
CLIENT_ID=2fd153ab-86c8-45fb-990d-721140e46061
SECRET=test-secret
: "${TOKEND_WRAPPER:=}"

T=$(mktemp -d "${TMPDIR:-/tmp}/crvs-test.XXXXXX")
chmod 755 "$T"
SOCK=$T/tokend.sock
export CRVS_TOKEND_SOCKET=$SOCK
PIDS=()		# children of this shell, stopped at exit
PIDFILE=$T/tracked.pids	# "PID START" lines, from any subshell
: >"$PIDFILE"
FAILED=0
PASSED=0
TEST_NAME=$(basename "$0" .sh)
# How long a daemon may take to stop (valgrind's leak check is slow).
if [ -n "$TOKEND_WRAPPER" ]; then STOP_WAIT=120; else STOP_WAIT=10; fi

# ---- checks ----

pass() { PASSED=$((PASSED + 1)); echo "PASS: $TEST_NAME: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $TEST_NAME: $*"; }
note() { echo "NOTE: $TEST_NAME: $*"; }
# check DESCRIPTION COMMAND...: one assertion.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
# finish: the closing line; fails when a check did.
finish() {
	echo "$TEST_NAME: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}
# die MESSAGE: a failure the rest of the script cannot go on without.
die() {
	fail "$*"
	finish || true
	exit 1
}
# skip REASON: the script cannot run here (exit 77: automake's SKIP).
skip() {
	echo "SKIP: $TEST_NAME: $*"
	exit 77
}
# need_tools TOOL...: skip unless every TOOL is installed.
need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
	done
}

# ---- clocks and waits ----

# now_ms: the wall clock in milliseconds (without a process).
now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((10#$t / 1000)); }
# secs_since MS: elapsed seconds with one decimal.
secs_since() {
	local d=$(($(now_ms) - $1))
	printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}
# wait_for SECONDS COMMAND...: polls until COMMAND succeeds; fails after
# SECONDS (a whole or decimal number).
wait_for() {
	local limit deadline
	limit=$(awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }')
	shift
	deadline=$(($(now_ms) + limit))
	until "$@" >/dev/null 2>&1; do
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# ---- processes ----

# proc_stat PID FIELD: a field of /proc/PID/stat counted after the command
# name (3 is the state, 4 the parent, 22 the start time); empty when gone.
proc_stat() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- "$2" $s
	local n=$(($1 - 2))
	shift "$n"
	printf '%s' "$1"
}
# proc_state PID: R, S, Z, ... or empty when gone.
proc_state() { proc_stat "$1" 3; }
# pid_start PID: when the process started (clock ticks since boot), empty
# when it is gone. With pid_max 32768 and suites starting tens of thousands
# of processes, a number alone may belong to someone else by the time it is
# cleaned up: the start time goes with it.
pid_start() { proc_stat "$1" 22; }
# alive PID: running and not a zombie.
alive() { kill -0 "$1" 2>/dev/null && [ "$(proc_state "$1")" != Z ]; }
# lib_is_child PID: PID is (still) a live process this shell started.
lib_is_child() {
	[ "$(proc_stat "$1" 4)" = "$$" ] && [ "$(proc_state "$1")" != Z ]
}
# track_pid PID: stop PID at exit, whichever subshell started it.
track_pid() { echo "$1 $(pid_start "$1")" >>"$PIDFILE"; }
# same_process PID START: PID is still the process that started at START.
same_process() {
	[ -n "$2" ] && [ "$(pid_start "$1")" = "$2" ] &&
	    [ "$(proc_state "$1")" != Z ]
}
# stop_pid PID: TERM, then KILL after 5 s (only while it is the same
# process).
stop_pid() {
	local start
	start=$(pid_start "$1")
	[ -n "$start" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 100); do
		same_process "$1" "$start" || return 0
		sleep 0.05
	done
	same_process "$1" "$start" && kill -KILL "$1" 2>/dev/null || true
}

# cleanup [RC]: stops every process a test started, shows the logs when a
# check failed (or KEEP_LOGS is set), removes $T. RC is how the script
# ended (default $?; a trap that runs other commands first passes it on).
cleanup() {
	local rc=${1:-$?} pid start
	# set -e ended the script between checks: say so, and show the logs.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "${FAILED:-0}" -eq 0 ]; then
		echo "FAIL: $TEST_NAME: stopped early (exit $rc) after $PASSED checks; logs follow"
		FAILED=1
		echo "$TEST_NAME: $PASSED passed, $FAILED failed"
	fi
	# Tracked with their start time (from any subshell).
	if [ -f "$PIDFILE" ]; then
		while read -r pid start; do
			same_process "$pid" "$start" && kill -TERM "$pid" 2>/dev/null || true
		done <"$PIDFILE"
		while read -r pid start; do
			for _ in $(seq 100); do
				same_process "$pid" "$start" || break
				sleep 0.05
			done
			same_process "$pid" "$start" && kill -KILL "$pid" 2>/dev/null || true
		done <"$PIDFILE"
	fi
	# Only our own children: bash reaps those that ended, and their
	# numbers may belong to someone else by now.
	for pid in "${PIDS[@]}"; do
		lib_is_child "$pid" && kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 100); do
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
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- JSON: one reader, tests/tools/json (json-c) ----

# json_get JSON PATH: the value at a dotted PATH (strings unquoted; empty
# when null or absent). json_type JSON PATH: absent, null, string, int, ...
json_get() { printf '%s' "$1" | "$JSON" "$2" 2>/dev/null || true; }
json_type() { printf '%s' "$1" | "$JSON" -t "$2" 2>/dev/null || echo absent; }
# json_field PATH: the same on stdin; fails when PATH is absent or stdin
# is not JSON.
json_field() { "$JSON" "$1"; }
# Older names: an integer field, a string field, null or absent.
jnum() { json_get "$1" "$2"; }
jstr() { json_get "$1" "$2"; }
jnull() { case $(json_type "$1" "$2") in null|absent) return 0 ;; *) return 1 ;; esac; }
# jwt_claim TOKEN CLAIM: a claim of a JWT's payload (the token goes on a
# pipe, never in argv).
jwt_claim() { printf '%s' "$1" | "$JSON" --jwt "$2" 2>/dev/null || true; }
# token_hash TOKEN: how the sampler names a token (tokens are not printed).
token_hash() { printf '%s\n' "$1" | "$SAMPLER" --hash; }

# ---- the test token server ----

# start_issuer NAME [ARGS...]: a fake issuer on a free port; sets
# ISSUER_PORT, ISSUER_PID, NAME_PORT and NAME_PID. A child of this shell.
start_issuer() {
	local name=$1
	shift
	start_issuer_at "$name" 0 "$@" || die "issuer $name did not start"
	PIDS+=("$ISSUER_PID")
	printf -v "${name}_PID" '%s' "$ISSUER_PID"
	printf -v "${name}_PORT" '%s' "$ISSUER_PORT"
}
# start_issuer_at NAME PORT ARGS...: the same on a given port (0: any), from
# any subshell; retries while the port is still held by a previous instance.
start_issuer_at() {
	local name=$1 port=$2 i
	shift 2
	for i in 1 2 3 4 5 6 7 8 9 10; do
		rm -f "$T/$name.port"
		"$ISSUER" --port "$port" --port-file "$T/$name.port" "$@" \
		    >>"$T/$name.log" 2>&1 &
		ISSUER_PID=$!
		track_pid "$ISSUER_PID"
		if wait_for 10 eval 'test -s "$T/$name.port" || ! alive "$ISSUER_PID"' &&
		    test -s "$T/$name.port"; then
			ISSUER_PORT=$(cat "$T/$name.port")
			return 0
		fi
		stop_pid "$ISSUER_PID"
		# The port may still be held by the previous instance.
		wait_for 5 port_closed "$port" || true
	done
	echo "issuer $name did not start on port $port"
	cat "$T/$name.log"
	return 1
}

# issuer_get PORT PATH, issuer_post PORT PATH: its control API.
# (15 s: a loaded machine running the suites in parallel can be slow.)
issuer_get() { curl -sf --max-time 15 "http://127.0.0.1:$1$2"; }
issuer_post() { curl -sf --max-time 15 -X POST "http://127.0.0.1:$1$2"; }
# issuer_stat PORT PATH: one value of /control/stats (e.g. requests, or
# per_client.ID).
issuer_stat() { json_field "$2" < <(issuer_get "$1" /control/stats); }
# issuer_requests_ge PORT N: the issuer has seen at least N token requests.
issuer_requests_ge() { [ "$(issuer_stat "$1" requests 2>/dev/null || echo 0)" -ge "$2" ]; }
# gateway_verdict PORT TOKEN: what the issuer's gateway says of TOKEN: ok;
# expired (it says so only of a token whose signature and issuer it has
# verified); or refused. The token goes to curl on stdin, never in argv.
gateway_verdict() {
	local out
	out=$(printf 'Authorization: Bearer %s\n' "$2" | curl -s --max-time 15 \
	    -H @- -w '\n%{http_code}' "http://127.0.0.1:$1/gateway/check" 2>/dev/null)
	case $out in
	*$'\n'200) echo ok ;;
	*'Expired token'*$'\n'401) echo expired ;;
	*) echo refused ;;
	esac
}
# gateway_accepts PORT TOKEN: the issuer's gateway would take TOKEN now.
gateway_accepts() { [ "$(gateway_verdict "$1" "$2")" = ok ]; }
gw_accepts() { gateway_accepts "$@"; }
# served_genuine PORT TOKEN MIN_VALID: TOKEN, served by the last `cli`
# (asked at $CLI_ASKED), is one the issuer at PORT (unskewed) made and had
# MIN_VALID s or more left by its own exp when it was asked for; the gateway
# accepts it, or refuses it only as expired, which a token with a few
# seconds left may be by the time a slow machine asks. Sets GW_VERDICT.
served_genuine() {
	local exp
	GW_VERDICT=$(gateway_verdict "$1" "$2")
	exp=$(jwt_claim "$2" exp)
	[ -n "$exp" ] && [ $((exp * 1000 - CLI_ASKED)) -ge $(($3 * 1000)) ] &&
	    case $GW_VERDICT in ok | expired) true ;; *) false ;; esac
}
# interop_node_dir: the directory of tests/interop's npm packages (exact
# versions, package-lock.json), installed there with npm ci when missing,
# or in a copy under $T when the source tree is read-only (make distcheck).
# The interoperability tests and make bench run oidc-provider from it.
interop_node_dir() {
	local src=$top_srcdir/tests/interop dir=$top_srcdir/tests/interop
	if [ ! -d "$dir/node_modules/oidc-provider" ] ||
	    [ ! -d "$dir/node_modules/oauth2-mock-server" ]; then
		if [ ! -w "$src" ]; then
			dir=$T/interop
			mkdir -p "$dir"
			cp "$src/package.json" "$src/package-lock.json" "$src"/*.mjs "$dir/"
		fi
		echo "installing the OAuth 2.0 servers with npm ci in $dir" >&2
		if ! (cd "$dir" && npm ci --no-audit --no-fund >"$T/npm.out" 2>&1); then
			cat "$T/npm.out" >&2
			return 1
		fi
	fi
	echo "$dir"
}
# port_closed PORT: nothing listens there.
port_closed() { ! curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$1/"; }

# ---- configuration ----

# write_secret NAME [SECRET]: $T/NAME.secret, mode 0600.
write_secret() {
	printf '%s\n' "${2:-$SECRET}" >"$T/$1.secret"
	chmod 600 "$T/$1.secret"
}
# daemon_conf FILE SOCK: a [daemon] section; client sections follow on stdin.
daemon_conf() {
	{
		printf '[daemon]\nsocket = %s\nlog_level = %s\n' "$2" "${LOG_LEVEL:-debug}"
		cat
	} >"$1"
	chmod 600 "$1"
}
# write_conf: the same for the script's one daemon ($T/tokend.conf, $SOCK).
write_conf() { daemon_conf "$T/tokend.conf" "$SOCK"; }
# client_section NAME PORT [EXTRA LINES]
client_section() {
	write_secret "$1"
	printf '[client %s]\ntoken_url = http://127.0.0.1:%s/auth/token\nclient_id = %s\nclient_secret_file = %s\n%s\n' \
	    "$1" "$2" "$CLIENT_ID" "$T/$1.secret" "${3:-}"
}

# ---- crvs-tokend ----

# start_tokend CONF SOCK LOG: from any subshell; sets TOKEND_PID. The daemon
# runs under $TOKEND_WRAPPER (e.g. "valgrind -q --error-exitcode=99") when
# set; a checker's complaints land in LOG.
start_tokend() {
	local sock=$2
	# shellcheck disable=SC2086
	$TOKEND_WRAPPER "$TOKEND" -c "$1" >>"$3" 2>&1 &
	TOKEND_PID=$!
	track_pid "$TOKEND_PID"
	wait_for 60 eval 'test -S "$sock" || ! alive "$TOKEND_PID"' || true
	test -S "$sock" && alive "$TOKEND_PID" || { echo "crvs-tokend did not start"; tail -n 30 "$3"; return 1; }
}
# start_daemon [ARGS...]: the script's one daemon ($T/tokend.conf, $SOCK,
# $T/tokend.log); sets DAEMON_PID.
start_daemon() {
	# shellcheck disable=SC2086
	$TOKEND_WRAPPER "$TOKEND" -c "$T/tokend.conf" "$@" >>"$T/tokend.log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	wait_for 60 eval 'test -S "$SOCK" || ! alive "$DAEMON_PID"' || true
	test -S "$SOCK" && alive "$DAEMON_PID" || die "crvs-tokend did not start ($(tail -n 5 "$T/tokend.log" | tr '\n' ' '))"
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
	alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || rc=$?
	STOP_RC=$rc
}
# stop_daemon: the same for the script's one daemon; sets DAEMON_RC.
stop_daemon() {
	stop_tokend "$DAEMON_PID"
	DAEMON_RC=$STOP_RC
}
daemon_alive() { alive "$DAEMON_PID"; }
# log_ms REGEX [LOG]: the times (ms since the epoch) of the daemon's log
# lines matching REGEX, by the daemon's own timestamps ($T/tokend.log).
log_ms() {
	local line
	grep -E -- "$1" "${2:-$T/tokend.log}" | while read -r line; do
		date -d "$(echo "${line%% *}" | tr T ' ')" +%s%3N
	done
}

# daemon_status SOCK NAME: GET /v1/clients/NAME over the Unix socket.
daemon_status() {
	curl -s --max-time 5 --unix-socket "$1" "http://crvs-tokend/v1/clients/$2"
}
# daemon_refreshes SOCK NAME: tokens the daemon got for NAME so far.
daemon_refreshes() { jnum "$(daemon_status "$1" "$2")" refreshes; }

# ---- crvs-token ----

# run_cli VAR_PREFIX ARGS...: runs crvs-token, keeping stdout, stderr and
# the exit status in ${P}_out, ${P}_err, ${P}_rc.
run_cli() {
	local p=$1 rc=0 f
	shift
	f=$(mktemp "$T/cli.XXXXXX")
	"$TOKEN" "$@" >"$f" 2>"$f.err" || rc=$?
	printf -v "${p}_out" '%s' "$(cat "$f")"
	printf -v "${p}_err" '%s' "$(cat "$f.err")"
	printf -v "${p}_rc" '%s' "$rc"
	rm -f "$f" "$f.err"
}
# cli SOCK ARGS...: runs crvs-token against SOCK; sets out, err, rc.
cli() {
	local sock=$1 f
	shift
	f=$(mktemp "$T/cli.XXXXXX")
	rc=0
	CLI_ASKED=$(now_ms)
	"$TOKEN" -s "$sock" "$@" >"$f" 2>"$f.err" || rc=$?
	out=$(cat "$f")
	err=$(cat "$f.err")
	rm -f "$f" "$f.err"
}

# ---- the token sampler (tests/tools/sampler) ----

# sample SOCK NAME OUTPUT ARGS...: runs the sampler (see sampler.c for
# ARGS) with records in OUTPUT.rec and its summary in OUTPUT.summary; the
# summary's words become shell variables prefixed S_ (S_answers, S_short,
# ...).
sample() {
	local sock=$1 name=$2 o=$3
	shift 3
	"$SAMPLER" -s "$sock" -c "$name" -o "$o.rec" "$@" >"$o.summary"
	sample_parse "$o.summary"
}
# sample_parse SUMMARY: sets the S_ variables from a sampler's summary.
sample_parse() {
	local w
	# shellcheck disable=SC2013
	for w in $(cat "$1" 2>/dev/null); do
		case $w in
		[a-z_]*=*) printf -v "S_${w%%=*}" '%s' "${w#*=}" ;;
		esac
	done
}
# sample_messages FILE: the distinct messages of the answers without a
# token in a sampler's records.
sample_messages() { awk -F'\t' '$1 != "CHECK" && $3 != 200 { print $12 }' "$1" | sort -u; }

fi
