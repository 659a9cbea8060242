#!/bin/bash
# Every example in examples/ run as the README shows it, against the test
# token server and a real daemon: the cron job (a token, the call, exit 75
# and silence when there is no token, flock keeping a second run out), the
# shell script that retries once after a 401 (the token revoked at the
# gateway), Python over the socket and through the CLI, Node over the socket
# (when node is installed; otherwise reported as a skip), and the systemd
# units (systemd-analyze verify).
. "$(dirname "$0")/lib.sh"

EX=$top_srcdir/examples
export PATH="$top_builddir:$PATH"
# "down"'s issuer answers 503: never a token.
start_issuer down --lifetime 600
issuer_post "$down_PORT" '/control/mode?mode=status&status=503' >/dev/null
start_issuer issuer --lifetime 600
{
	client_section demo "$ISSUER_PORT"
	client_section down "$down_PORT" "timeout = 2"
} | write_conf
start_daemon
API=http://127.0.0.1:$ISSUER_PORT/gateway/check
export CRVS_API_URL=$API CRVS_CLIENT=demo
wait_for 10 "$TOKEN" demo || { fail "the daemon has no token"; exit 1; }

# ---------------------------------------------------------------- cron
cron_cmd=$(sed -n 's/^[^#].* svc-dhis2 \(flock .*\) \/usr\/local\/bin\/crvs-sync.sh$/\1/p' "$EX/cron/crvs-sync.cron")
check "the cron line runs the script under flock: $cron_cmd" \
	test "$cron_cmd" = "flock -n -E 75 /run/lock/crvs-sync.lock"
lock=$T/crvs-sync.lock
run() {	# run NAME CMD...: stdout, stderr and exit status as NAME_out, NAME_err, NAME_rc
	local n=$1 rc=0
	shift
	"$@" >"$T/$n.out" 2>"$T/$n.err" || rc=$?
	printf -v "${n}_rc" '%s' "$rc"
}
run cron flock -n -E 75 "$lock" "$EX/cron/crvs-sync.sh"
check "cron job: exit 0 and the gateway's answer ($(head -c 80 "$T/cron.out"))" \
	sh -c "[ $cron_rc = 0 ] && [ -s '$T/cron.out' ] && [ ! -s '$T/cron.err' ]"
CRVS_CLIENT=down run cron75 flock -n -E 75 "$lock" "$EX/cron/crvs-sync.sh"
check "cron job without a token: exit 75 and not a word (no cron mail)" \
	sh -c "[ $cron75_rc = 75 ] && [ ! -s '$T/cron75.out' ] && [ ! -s '$T/cron75.err' ]"
CRVS_CLIENT=nosuch run cron67 flock -n -E 75 "$lock" "$EX/cron/crvs-sync.sh"
check "cron job for an unknown client: exit 67, said on stderr" \
	sh -c "[ $cron67_rc = 67 ] && grep -q 'exit 67' '$T/cron67.err'"
# A run still going holds the lock.
flock "$lock" sleep 30 &
holder=$!
PIDS+=("$holder")
wait_for 5 sh -c "! flock -n '$lock' true"
run cronlocked flock -n -E 75 "$lock" "$EX/cron/crvs-sync.sh"
check "cron job while the previous run holds the lock: exit 75, nothing run" \
	sh -c "[ $cronlocked_rc = 75 ] && [ ! -s '$T/cronlocked.out' ]"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

# ---------------------------------------------------------------- shell
run sh1 "$EX/shell/call-api.sh" "$API" demo
check "call-api.sh: exit 0, the gateway's answer, no retry" \
	sh -c "[ $sh1_rc = 0 ] && [ -s '$T/sh1.out' ] && ! grep -q 401 '$T/sh1.err'"
old=$("$TOKEN" demo)
# The gateway now refuses the current token (it was revoked).
curl -sf -X POST --data-binary "$old" "http://127.0.0.1:$ISSUER_PORT/control/revoke" >/dev/null
check "the revoked token is refused by the gateway" sh -c "! curl -sf -H 'Authorization: Bearer $old' '$API' >/dev/null"
before=$(issuer_stat "$ISSUER_PORT" requests)
run sh2 "$EX/shell/call-api.sh" "$API" demo
new=$("$TOKEN" demo)
check "call-api.sh after a 401: reported the token, got a new one, exit 0" \
	sh -c "[ $sh2_rc = 0 ] && grep -q '401 from the gateway' '$T/sh2.err' && [ '$new' != '$old' ]"
check "one refresh for it at the issuer" test "$(issuer_stat "$ISSUER_PORT" requests)" -gt "$before"
check "the new token is accepted by the gateway" gateway_accepts "$ISSUER_PORT" "$new"

# ---------------------------------------------------------------- python
run py1 python3 "$EX/python/token_socket.py" "$API" demo
check "Python over the socket (http.client): exit 0 and the answer" \
	sh -c "[ $py1_rc = 0 ] && [ -s '$T/py1.out' ]"
run py2 python3 "$EX/python/token_socket.py" "$API" down
check "Python over the socket, no token: exit 75 and the daemon's reason ($(cat "$T/py2.err"))" \
	sh -c "[ $py2_rc = 75 ] && grep -q 'unavailable' '$T/py2.err'"
run py3 python3 "$EX/python/token_cli.py" "$API" demo
check "Python through crvs-token: exit 0 and the answer" \
	sh -c "[ $py3_rc = 0 ] && [ -s '$T/py3.out' ]"
run py4 python3 "$EX/python/token_cli.py" "$API" down
check "Python through crvs-token, no token: crvs-token's exit 75 passed on" test "$py4_rc" = 75

# ---------------------------------------------------------------- node
if command -v node >/dev/null 2>&1; then
	run js1 node "$EX/node/token.js" "$API" demo
	check "Node over the socket (http.request socketPath): exit 0 and the answer" \
		sh -c "[ $js1_rc = 0 ] && [ -s '$T/js1.out' ]"
	run js2 node "$EX/node/token.js" "$API" down
	check "Node over the socket, no token: exit 75 and the daemon's reason" \
		sh -c "[ $js2_rc = 75 ] && grep -q 'unavailable' '$T/js2.err'"
else
	echo "SKIP: $TEST_NAME: node is not installed: the Node example was not run"
fi

# ---------------------------------------------------------------- systemd
if command -v systemd-analyze >/dev/null 2>&1; then
	# As installed: the script where ExecStart= says, here the example.
	mkdir "$T/units"
	sed "s|^ExecStart=/usr/local/bin/crvs-sync.sh|ExecStart=$EX/cron/crvs-sync.sh|" \
		"$EX/systemd/crvs-sync.service" >"$T/units/crvs-sync.service"
	cp "$EX/systemd/crvs-sync.timer" "$T/units/"
	# crvs-tokend.service itself is not installed here: what verify says
	# about it is left out.
	out=$(cd "$T/units" && systemd-analyze verify --man=no crvs-sync.service crvs-sync.timer 2>&1 |
		grep -v 'crvs-tokend.service' || true)
	check "systemd-analyze verify crvs-sync.service crvs-sync.timer: clean${out:+: $out}" test -z "$out"
	check "the service is ordered after and wants crvs-tokend.service, in group crvs-token" \
		sh -c "grep -qx 'After=crvs-tokend.service' '$EX/systemd/crvs-sync.service' &&
			grep -qx 'Wants=crvs-tokend.service' '$EX/systemd/crvs-sync.service' &&
			grep -qx 'SupplementaryGroups=crvs-token' '$EX/systemd/crvs-sync.service'"
else
	echo "SKIP: $TEST_NAME: systemd-analyze is not installed: the units were not verified"
fi

# ---------------------------------------------------------------- README
for f in cron/crvs-sync.cron cron/crvs-sync.sh shell/call-api.sh python/token_socket.py \
	python/token_cli.py node/token.js systemd/crvs-sync.service systemd/crvs-sync.timer; do
	check "the README points to examples/$f" grep -qF "examples/$f" "$top_srcdir/README.md"
done
finish
