#!/bin/bash
# Socket activation without systemd as PID 1: systemd-socket-activate holds
# the listening socket and starts crvs-tokend on the first connection, as
# crvs-tokend.socket does. That first connection gets a token; the daemon
# uses the socket it was given (not the one in its configuration) and leaves
# it in place when it stops; an unusable set of passed sockets is refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v systemd-socket-activate >/dev/null 2>&1; then
	echo "SKIP: systemd-socket-activate is not installed"
	exit 77
fi
# Nothing of the caller's own activation may leak in.
unset LISTEN_FDS LISTEN_PID LISTEN_FDNAMES NOTIFY_SOCKET WATCHDOG_USEC \
	WATCHDOG_PID JOURNAL_STREAM

start_issuer iss --lifetime 600
# The first token takes a second: the first caller waits for it.
curl -sf -X POST "http://127.0.0.1:$iss_port/control/mode?mode=slow&delay=1&count=1" >/dev/null ||
	die "cannot slow down the fake issuer"
cat >"$tmp/tokend.conf" <<EOF
[daemon]
socket = $tmp/from-config.sock
[client alpha]
token_url = $iss_url
client_id = $DEFAULT_ID
client_secret_file = $(secret_file alpha "$DEFAULT_SECRET")
EOF

sock=$tmp/activated.sock
systemd-socket-activate -l "$sock" "$TOKEND" -c "$tmp/tokend.conf" \
	>"$tmp/activate.log" 2>&1 &
apid=$!
pids+=("$apid")
wait_for 10 test -S "$sock" || die "systemd-socket-activate did not listen on $sock"
pass "systemd-socket-activate listens on $sock"

# Nothing runs yet: no daemon, no request to the issuer.
sleep 0.3	# give a wrongly eager start the chance to show itself
check "before the first connection the daemon has not started" \
	test "$(cat /proc/$apid/comm)" = systemd-socket- -a \
	"$(issuer_stat "$iss_port" requests)" = 0

t0=$(date +%s%N)
tok=$("$TOKEN" -s "$sock" -t 15 alpha) || tok=
t1=$(date +%s%N)
check "the first connection started the daemon and got a token ($(((t1 - t0) / 1000000)) ms)" \
	test -n "$tok"
check "the activated process is crvs-tokend (same pid $apid)" \
	test "$(cat /proc/$apid/comm 2>/dev/null)" = crvs-tokend
check "the daemon made exactly one request to the issuer" \
	test "$(issuer_stat "$iss_port" requests)" = 1
check "the daemon logged that the socket came from systemd" \
	grep -q "listening on the socket from systemd" "$tmp/activate.log"
check "the daemon did not create the socket of its configuration" \
	test ! -e "$tmp/from-config.sock"
check "a second connection gets the same token without a new request" \
	test "$("$TOKEN" -s "$sock" alpha)" = "$tok" -a \
	"$(issuer_stat "$iss_port" requests)" = 1
check "crvs-token health succeeds on the activated socket" \
	sh -c '"$0" -s "$1" health >/dev/null' "$TOKEN" "$sock"

kill -TERM "$apid"
wait_for 10 sh -c "! kill -0 $apid 2>/dev/null" || die "the daemon did not stop on SIGTERM"
rc=0
wait "$apid" || rc=$?
check "SIGTERM stops the activated daemon with exit 0 (exit $rc)" test "$rc" = 0
check "the daemon left the socket it was given in place (its owner removes it)" \
	test -S "$sock"
rm -f "$sock"

# Two sockets, or a socket that is not a Unix stream socket: refused
# plainly, at once.
bad() {	# bad NAME EXPECTED-MESSAGE systemd-socket-activate-args...
	local name=$1 want=$2 p rc=0
	shift 2
	systemd-socket-activate "$@" "$TOKEND" -c "$tmp/tokend.conf" \
		>"$tmp/$name.log" 2>&1 &
	p=$!
	pids+=("$p")
	wait_for 10 test -S "$tmp/$name.a" || die "systemd-socket-activate ($name) did not listen"
	# Wake it up: a connection, or a datagram for a datagram socket.
	if [ "$1" = --datagram ]; then
		python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"GET / HTTP/1.0\r\n\r\n", sys.argv[1])' "$tmp/$name.a"
	else
		"$TOKEN" -s "$tmp/$name.a" -t 5 alpha >/dev/null 2>&1 || true
	fi
	wait_for 10 sh -c "! kill -0 $p 2>/dev/null" || { fail "$name: the daemon did not exit"; return; }
	wait "$p" || rc=$?
	check "$name: the daemon exits 1 (exit $rc) saying: $want" \
		sh -c "test $rc = 1 && grep -q '$want' '$tmp/$name.log'"
}
bad two-sockets "systemd passed 2 sockets; expected one" \
	-l "$tmp/two-sockets.a" -l "$tmp/two-sockets.b"
bad datagram "not a listening Unix stream socket" \
	--datagram -l "$tmp/datagram.a"

finish
