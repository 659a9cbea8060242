#!/bin/bash
# The socket file: a stale one (from a daemon killed with SIGKILL) is
# replaced; a live daemon on the same path is never displaced; what is not a
# socket is never removed; the socket is never open to others, not even for
# an instant during start-up; its descriptors are close-on-exec and
# non-blocking.
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/seclib.sh"

G=crvstest-sock-g
sec_group "$G"

start_issuer issuer --lifetime 600
conf_with_mode() {	# MODE [GROUP]
	{
		printf 'socket_mode = %s\n' "$1"
		[ -z "${2:-}" ] || printf 'socket_group = %s\n' "$2"
		client_section demo "$ISSUER_PORT"
	} | write_conf
}
conf_with_mode 0660 "$G"

# start_fg LOG: runs the daemon in the foreground, bounded; sets FG_RC.
start_fg() {
	FG_RC=0
	timeout 10 "$TOKEND" -c "$T/tokend.conf" >"$T/$1" 2>&1 || FG_RC=$?
}

# --- a stale socket from a killed daemon -------------------------------------
start_daemon
wait_for 10 "$TOKEN" demo
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
check "after SIGKILL the socket file is left behind" test -S "$SOCK"
run_cli dead demo
check "and nothing answers on it (exit 69)" test "$dead_rc" = 69
start_daemon
check "the next start replaces the stale socket" wait_for 10 "$TOKEN" demo
check "and says so in its log" grep -q "removed stale socket $SOCK" "$T/tokend.log"
st=$(stat -c '%a %G' "$SOCK")
check "the new socket has mode 660 and group $G ($st)" test "$st" = "660 $G"

# --- a second daemon on the same path while the first runs --------------------
first=$DAEMON_PID
ino_before=$(stat -c %i "$SOCK")
start_fg second.log
check "a second daemon on the same socket exits non-zero ($FG_RC)" test "$FG_RC" -ne 0 -a "$FG_RC" -ne 124
check "with a message that names the path and says it is in use ($(head -c 200 "$T/second.log"))" \
    grep -Eiq "(already|in use).*$SOCK|$SOCK.*(already|in use)" "$T/second.log"
check "the first daemon keeps running" kill -0 "$first"
check "its socket file is untouched (same inode)" test "$(stat -c %i "$SOCK" 2>/dev/null)" = "$ino_before"
run_cli still demo
check "and it still serves" test "$still_rc" = 0 -a -n "$still_out"
remember_token "$still_out"
# Even when its backlog is momentarily busy (a burst of connections), the
# live daemon is not mistaken for a stale one.
python3 "$HOSTILE" "$SOCK" burst 300 >/dev/null 2>&1 &
burst=$!
start_fg third.log
wait "$burst" 2>/dev/null || true
check "a third daemon started during a burst of connections also refuses ($FG_RC)" \
    test "$FG_RC" -ne 0 -a "$FG_RC" -ne 124 -a "$(stat -c %i "$SOCK" 2>/dev/null)" = "$ino_before"
check "the first daemon still serves after that" "$TOKEN" demo

# --- close-on-exec and non-blocking --------------------------------------------
lfd=$(listen_fd_of "$first" "$SOCK" || true)
flags=$(awk '/^flags:/ {print $2}' "/proc/$first/fdinfo/$lfd" 2>/dev/null || echo 0)
check "the listening socket is O_CLOEXEC (fd $lfd, flags $flags)" test $(( 0$flags & 02000000 )) -ne 0
check "the listening socket is O_NONBLOCK (flags $flags)" test $(( 0$flags & 04000 )) -ne 0
# The accepted connections are close-on-exec too (they, and the listening
# socket, are the entries for the socket's path in /proc/net/unix).
# Held 8 s: within the daemon's 10 s idle timeout, and long enough for the
# count below on a slow machine (it reads /proc once per descriptor).
python3 "$HOSTILE" "$SOCK" idle 8 >/dev/null 2>&1 &
idlers=$!
# socket_fds: the daemon's descriptors for the socket's path (the listening
# socket and the connections it accepted).
socket_fds() {
	local inodes fd l ino n=0
	inodes=" $(awk -v p="$SOCK" '$8 == p {printf "%s ", $7}' /proc/net/unix)"
	for fd in /proc/"$first"/fd/*; do
		l=$(readlink "$fd" || true)
		case $l in socket:*) ;; *) continue ;; esac
		ino=${l#socket:[}; ino=${ino%]}
		case $inodes in *" $ino "*) n=$((n + 1)) ;; esac
	done
	echo "$n"
}
# The daemon has accepted the idle connection.
wait_for 10 eval '[ "$(socket_fds)" -ge 2 ]' || true
inodes=" $(awk -v p="$SOCK" '$8 == p {printf "%s ", $7}' /proc/net/unix)"
nconn=0; leak=""
for fd in /proc/"$first"/fd/*; do
	n=$(basename "$fd")
	l=$(readlink "$fd" || true)
	case $l in socket:*) ;; *) continue ;; esac
	ino=${l#socket:[}; ino=${ino%]}
	case $inodes in *" $ino "*) ;; *) continue ;; esac
	nconn=$((nconn + 1))
	f=$(awk '/^flags:/ {print $2}' "/proc/$first/fdinfo/$n" 2>/dev/null || echo 0)
	[ $(( 0$f & 02000000 )) -ne 0 ] || leak="$leak $n"
done
check "the listening socket and the accepted connection ($nconn descriptors) are close-on-exec${leak:+ (not:$leak)}" \
    test "$nconn" -ge 2 -a -z "$leak"
other=""
for fd in /proc/"$first"/fd/*; do
	n=$(basename "$fd")
	[ "$n" -gt 2 ] || continue
	[ -e "/proc/$$/fd/$n" ] && [ "$(readlink "/proc/$$/fd/$n")" = "$(readlink "$fd")" ] && continue
	f=$(awk '/^flags:/ {print $2}' "/proc/$first/fdinfo/$n" 2>/dev/null || echo 02000000)
	[ $(( 0$f & 02000000 )) -ne 0 ] || other="$other $n($(readlink "$fd"))"
done
[ -z "$other" ] || echo "INFO: descriptors without close-on-exec that the daemon opened itself (libcurl's wake-up socketpair?):$other"
kill "$idlers" 2>/dev/null || true
wait "$idlers" 2>/dev/null || true

# --- what is not a socket is left alone --------------------------------------
stop_daemon
check "SIGTERM removes the socket" test ! -e "$SOCK"
printf 'precious data\n' >"$SOCK"
start_fg regular.log
check "a regular file at the socket path: refused, exit non-zero ($FG_RC)" test "$FG_RC" -ne 0 -a "$FG_RC" -ne 124
check "with a message that names the path ($(head -c 200 "$T/regular.log"))" \
    grep -q "$SOCK.*not a socket" "$T/regular.log"
check "the regular file is still there, unchanged" test "$(cat "$SOCK" 2>/dev/null)" = "precious data"
rm -f "$SOCK"
printf 'target\n' >"$T/target"
ln -s "$T/target" "$SOCK"
start_fg symlink.log
check "a symlink at the socket path: refused ($FG_RC)" test "$FG_RC" -ne 0 -a "$FG_RC" -ne 124
check "the symlink and its target are left alone" test -L "$SOCK" -a "$(cat "$T/target")" = target
rm -f "$SOCK"
mkdir "$SOCK"
start_fg dir.log
check "a directory at the socket path: refused and left alone ($FG_RC)" test "$FG_RC" -ne 0 -a -d "$SOCK"
rmdir "$SOCK"
# A symlink to a live daemon's socket elsewhere is not a socket either.
# daemons_running CONF: crvs-tokend processes started with -c CONF.
daemons_running() {
	local p n=0
	for p in $(pgrep -x crvs-tokend || true); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "-c $1 " && n=$((n + 1))
	done
	echo "$n"
}
check "no daemon was left running by the refused starts" test "$(daemons_running "$T/tokend.conf")" = 0

# --- the mode during start-up -----------------------------------------------
# A watcher polls the path as fast as it can while the daemon starts and
# stops 40 times with socket_mode 0660: it must never see a bit for others,
# nor group bits while the group is not yet the configured one.
python3 "$HOSTILE" "$SOCK" watch "$T/watch.out" "$T/watch.stop" "$(gid_of "$G")" &
watcher=$!
PIDS+=("$watcher")
starts=0
for _ in $(seq 40); do
	"$TOKEND" -c "$T/tokend.conf" >>"$T/starts.log" 2>&1 &
	p=$!
	wait_for 5 test -S "$SOCK" || true
	kill -TERM "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	starts=$((starts + 1))
	[ ! -e "$SOCK" ] || rm -f "$SOCK"
done
touch "$T/watch.stop"
wait "$watcher" 2>/dev/null || true
cat "$T/watch.out"
seen=$(awk '/^seen/ {print $2}' "$T/watch.out")
polls=$(awk '/^polls/ {print $2}' "$T/watch.out")
bad=$(awk '/^bad/ {print $2}' "$T/watch.out")
check "the watcher saw the socket during $starts starts ($seen sightings in $polls polls)" test "${seen:-0}" -gt 0
check "it never saw a mode with bits for others, nor group bits before the group was set ($bad)" test "${bad:-x}" = 0

# With socket_mode 0600 the group gets nothing either.
conf_with_mode 0600
start_daemon
st=$(stat -c '%a' "$SOCK")
check "socket_mode 0600 gives mode 600 ($st)" test "$st" = 600
stop_daemon
# A socket directory that does not exist is created 0750 with the socket
# group (when systemd's RuntimeDirectory= did not make it).
{ printf '[daemon]\nsocket = %s/nodir/tokend.sock\nsocket_group = %s\n' "$T" "$G"; client_section demo "$ISSUER_PORT"; } >"$T/nodir.conf"
chmod 600 "$T/nodir.conf"
"$TOKEND" -c "$T/nodir.conf" >"$T/nodir.log" 2>&1 &
ndpid=$!
PIDS+=("$ndpid")
wait_for 10 test -S "$T/nodir/tokend.sock" || true
st=$(stat -c '%a %G' "$T/nodir" 2>/dev/null || echo missing)
check "a missing socket directory is created with mode 750 and group $G ($st)" test "$st" = "750 $G"
check "and the daemon serves there" "$TOKEN" -s "$T/nodir/tokend.sock" demo
kill -TERM "$ndpid"; wait "$ndpid" 2>/dev/null || true
# Two missing levels: not created; a clear message.
{ printf '[daemon]\nsocket = %s/no/dir/tokend.sock\n' "$T"; client_section demo "$ISSUER_PORT"; } >"$T/nodir2.conf"
chmod 600 "$T/nodir2.conf"
rc=0; timeout 10 "$TOKEND" -c "$T/nodir2.conf" >"$T/nodir2.log" 2>&1 || rc=$?
check "a socket two missing directories down: exit 1 with a message naming the path ($rc)" \
    sh -c "test $rc = 1 && grep -q '$T/no/dir' '$T/nodir2.log'"
# A world-writable directory (not sticky): another user could swap the
# socket; the daemon refuses it (tests/security/socket-dir.sh has the rest
# of that rule and the race).
mkdir -m 0777 "$T/ww"
chmod 0777 "$T/ww"
{ printf '[daemon]\nsocket = %s/ww/tokend.sock\n' "$T"; client_section demo "$ISSUER_PORT"; } >"$T/ww.conf"
chmod 600 "$T/ww.conf"
rc=0; timeout 10 "$TOKEND" -c "$T/ww.conf" >"$T/ww.log" 2>&1 || rc=$?
check "a world-writable socket directory is refused, naming it ($rc)" \
    sh -c "test $rc = 1 && grep -q 'unsafe directory $T/ww: mode 0777' '$T/ww.log'"
check "and no socket was made there" test ! -e "$T/ww/tokend.sock"
check "no token in any log" no_jwt_in "$T"/*.log
finish
