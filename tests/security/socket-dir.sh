#!/bin/bash
# The socket's directory (issue 9, item 1). A user who can write to it could
# rename a symbolic link over the socket between bind() and the daemon's
# chmod/chown by path, making the root daemon change the mode and group of
# any file; or plant an impostor socket that the CLI would then hand the
# current token to. The daemon refuses such a directory (owned by someone
# else, or writable by others, sticky or not; a directory above writable by
# others only if sticky) and never changes the socket by path; the CLI
# refuses a socket that someone other than root, the caller and the daemon's
# user could have put there (exit 69).
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/seclib.sh"

RACER=$top_builddir/tests/security/sockrace
# The test users need a python3 they can run (not one under /root).
PYU=/usr/bin/python3
if ! [ -x "$PYU" ]; then
	echo "SKIP: $TEST_NAME: needs $PYU for the unprivileged racer"
	exit 77
fi
TRIES=${SOCKRACE_TRIES:-50}
A=crvstest-sd-a		# the attacker
B=crvstest-sd-b		# an honest user of the socket group
G=crvstest-sd-g
sec_group "$G"
sec_user "$A"
sec_user "$B" "$G"

start_issuer issuer --lifetime 600
# conf SOCKET: a daemon on SOCKET with group G and mode 0660.
conf() {
	{
		printf 'socket_group = %s\nsocket_mode = 0660\n' "$G"
		client_section demo "$ISSUER_PORT"
	} | write_conf
	sed -i "s|^socket = .*|socket = $1|" "$T/tokend.conf"
}
# try_start LOG: starts the daemon and waits until it listens or exits;
# stops it if it runs. Sets TRY_RC (0 when it was listening).
try_start() {
	local pid
	"$TOKEND" -c "$T/tokend.conf" >"$T/$1" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_for 10 sh -c "grep -q 'listening on' '$T/$1' || ! kill -0 $pid" || true
	if kill -0 "$pid" 2>/dev/null; then
		TRY_RC=0
		kill -TERM "$pid"
		wait "$pid" 2>/dev/null || true
	else
		TRY_RC=0
		wait "$pid" 2>/dev/null || TRY_RC=$?
		[ "$TRY_RC" -ne 0 ] || TRY_RC=1
	fi
}

# --- the symlink race, against a directory the attacker can write to ---------
printf 'root only\n' >"$T/victim"
chmod 600 "$T/victim"
victim_before=$(stat -c '%a %U:%G' "$T/victim")
race() {	# DIR: TRIES start-ups with the racer watching DIR
	local d=$1 racer i started=0 refused=0 changed=0
	conf "$d/tokend.sock"
	setpriv --reuid="$(uid_of "$A")" --regid="$(id -g "$A")" --clear-groups \
	    "$RACER" "$d" tokend.sock "$T/victim" >"$T/racer.log" 2>&1 &
	racer=$!
	PIDS+=("$racer")
	wait_for 10 grep -q watching "$T/racer.log"
	for i in $(seq "$TRIES"); do
		rm -f "$d/tokend.sock"
		try_start "race-$i.log"
		if [ "$TRY_RC" -eq 0 ]; then started=$((started + 1)); else refused=$((refused + 1)); fi
		[ "$(stat -c '%a %U:%G' "$T/victim")" = "$victim_before" ] || changed=$((changed + 1))
		# Put it back for the next try, so each try counts on its own.
		chmod 600 "$T/victim"; chown root:root "$T/victim"
	done
	kill "$racer" 2>/dev/null || true
	wait "$racer" 2>/dev/null || true
	RACE_STARTED=$started RACE_REFUSED=$refused RACE_CHANGED=$changed
	RACE_SWAPS=$(grep -c '^swap [0-9]' "$T/racer.log" || true)
}
mkdir "$T/shared"; chmod 777 "$T/shared"
race "$T/shared"
check "racing a symlink in (root-owned 0777 directory): the victim kept its mode and group in all $TRIES start-ups (changed $RACE_CHANGED times; racer swaps $RACE_SWAPS)" \
    test "$RACE_CHANGED" -eq 0
check "the daemon refused that directory every time ($RACE_REFUSED of $TRIES)" test "$RACE_REFUSED" -eq "$TRIES"
check "and said why, naming it ($(head -c 300 "$T/race-1.log"))" \
    grep -q "unsafe directory $T/shared: mode 0777 lets other users write" "$T/race-1.log"

mkdir "$T/attacker"; chown "$A" "$T/attacker"; chmod 755 "$T/attacker"
conf "$T/attacker/tokend.sock"; try_start attacker.log
check "a directory owned by another user is refused ($TRY_RC: $(head -c 300 "$T/attacker.log"))" \
    grep -q "unsafe directory $T/attacker: owned by uid $(uid_of "$A")" "$T/attacker.log"

# --- which directories the daemon takes ---------------------------------------
mkdir -m 1777 "$T/sticky"
conf "$T/sticky/tokend.sock"; try_start sticky.log
check "a shared sticky directory (1777, like /tmp) is refused too ($TRY_RC)" \
    grep -q "unsafe directory $T/sticky: mode 1777" "$T/sticky.log"
mkdir -m 700 "$T/shared/own"
conf "$T/shared/own/tokend.sock"; try_start below-open.log
check "a private directory below a non-sticky open one is refused ($TRY_RC)" \
    grep -q "unsafe directory $T/shared: mode 0777 lets other users write to it and it is not sticky" "$T/below-open.log"
mkdir -m 700 "$T/sticky/own"
conf "$T/sticky/own/tokend.sock"; try_start below-sticky.log
check "a private root-owned directory below a sticky one is fine ($TRY_RC)" test "$TRY_RC" -eq 0
conf "$T/run/tokend.sock"; try_start created.log
check "a missing directory is created and used ($TRY_RC)" test "$TRY_RC" -eq 0
check "as root:$G mode 750 ($(stat -c '%U:%G %a' "$T/run"))" test "$(stat -c '%U:%G %a' "$T/run")" = "root:$G 750"

# A running daemon in the created directory: the socket has its mode and
# group from birth (umask and a no-follow chown of the socket it bound).
SOCK=$T/run/tokend.sock
conf "$SOCK"
start_daemon
check "the daemon serves from it" wait_for 10 "$TOKEN" -s "$SOCK" demo
check "the socket is 660 root:$G ($(stat -c '%a %U:%G' "$SOCK"))" test "$(stat -c '%a %U:%G' "$SOCK")" = "660 root:$G"
run_cli_as ok "$B" -s "$SOCK" demo
check "a member of $G gets the token through it ($ok_rc)" test "$ok_rc" = 0 -a -n "$ok_out"
remember_token "$ok_out"

# --- the CLI and an impostor ---------------------------------------------------
# The attacker listens in a directory of their own and records what arrives.
setpriv --reuid="$(uid_of "$A")" --regid="$(id -g "$A")" --clear-groups \
    "$PYU" - "$T/attacker/imp.sock" "$T/attacker/imp.got" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(16)
while True:
    c, _ = s.accept()
    c.settimeout(2)
    try:
        data = c.recv(65536)
    except OSError:
        data = b""
    with open(sys.argv[2], "ab") as f:
        f.write(data or b"(connected)\n")
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
              b"Connection: close\r\n\r\nimpostor\n")
    c.close()
PY
imp=$!
PIDS+=("$imp")
check "the impostor listens" wait_for 10 test -S "$T/attacker/imp.sock"
: >"$T/attacker/imp.got"; chown "$A" "$T/attacker/imp.got"
real=$("$TOKEN" -s "$SOCK" demo)
rc=0
printf '%s\n' "$real" | as_user "$B" "$TOKEN" -s "$T/attacker/imp.sock" refresh --rejected demo \
    >"$T/imp.out" 2>"$T/imp.err" || rc=$?
check "refresh --rejected on a socket owned by another user exits 69 ($rc)" test "$rc" = 69
check "with a clear error ($(cat "$T/imp.err"))" \
    grep -q "refusing the socket $T/attacker/imp.sock: unsafe directory $T/attacker: owned by uid" "$T/imp.err"
check "and the impostor got nothing, not the token ($(wc -c <"$T/attacker/imp.got") bytes)" \
    test ! -s "$T/attacker/imp.got"
run_cli root_imp -s "$T/attacker/imp.sock" demo
check "root refuses it too ($root_imp_rc)" test "$root_imp_rc" = 69 -a ! -s "$T/attacker/imp.got"
# The attacker's socket in the open root-owned directory.
ln "$T/attacker/imp.sock" "$T/shared/imp.sock" 2>/dev/null || \
    as_user "$A" ln -s "$T/attacker/imp.sock" "$T/shared/imp.sock"
run_cli open_imp -s "$T/shared/imp.sock" demo
check "a socket in a directory others can write to is refused ($open_imp_rc: $open_imp_err)" \
    test "$open_imp_rc" = 69 -a ! -s "$T/attacker/imp.got"
# The caller trusts their own socket: the rule does not refuse everything.
run_cli_as self "$A" -s "$T/attacker/imp.sock" demo
check "the attacker's own CLI does talk to the attacker's socket" test -s "$T/attacker/imp.got"

# The daemon's own user: /run/crvs-tokend as the shipped units make it
# (owned by the daemon's user, 0750, the socket group).
DU=$(sed -n 's/^#define DAEMON_USER "\(.*\)"$/\1/p' "$top_builddir/config.h")
DU=${DU:-crvs-tokend}
if ! getent passwd "$DU" >/dev/null; then
	sec_user "$DU"
fi
mkdir -m 750 "$T/run2"; chown "$DU:$G" "$T/run2"
: >"$T/run2.got"; chown "$DU" "$T/run2.got"
setpriv --reuid="$(uid_of "$DU")" --regid="$(id -g "$DU")" --clear-groups "$PYU" -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o660); s.listen(4)
c, _ = s.accept(); open(sys.argv[2], "ab").write(c.recv(65536))
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
' "$T/run2/s.sock" "$T/run2.got" &
PIDS+=($!)
chgrp "$G" "$T/run2.got" 2>/dev/null || true
check "a socket of $DU starts" wait_for 10 test -S "$T/run2/s.sock"
chgrp "$G" "$T/run2/s.sock" 2>/dev/null || true
run_cli_as du "$B" -s "$T/run2/s.sock" demo
check "a directory owned by $DU, 0750, passes the CLI's check ($du_rc: $du_err)" \
    test -s "$T/run2.got"

finish
