#!/bin/bash
# Out of descriptors (issue 10: an error path no other test reached). The
# daemon runs with a hard limit of 64 open files, so at most 32 connections
# (half the limit when it is that low). While it is stopped (SIGSTOP), local
# users queue 400 connections in its listening socket's backlog; continued,
# one accept callback takes them in until accept() fails with EMFILE.
# Before the fix that crashed the daemon (its error callback took evhttp's
# argument for its own) and, once that was fixed, the connections over the
# cap had not been admitted yet, so none was evicted and root waited for
# the 10 s idle timeout. Now: the daemon stays up, the uids holding the most
# connections give theirs up, accepting resumes as soon as one closes, root
# gets its token within the CLI's limit, and the daemon keeps no more than
# its cap, with a warning in its log at most once a second. Stopped in the
# middle of a second flood, it exits 0.
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/seclib.sh"
need_tools prlimit

LIMIT=64
CAP=$((LIMIT / 2))	# max_connections for a limit of 512 or less
NCONN=400

start_issuer issuer --lifetime 600
{
	printf 'socket_mode = 0666\n'	# the 20 uids below connect too
	client_section demo "$ISSUER_PORT"
} | write_conf
# The daemon raises its soft limit to the hard one: set both. (Under
# valgrind, which keeps descriptors of its own below that limit and closes
# an accepted one that falls among them, a peer may see its connection
# reset by valgrind; memcheck found no error on this path.)
TOKEND_WRAPPER="prlimit --nofile=$LIMIT:$LIMIT -- ${TOKEND_WRAPPER:-}" start_daemon
wait_for 10 "$TOKEN" demo
tok=$("$TOKEN" demo)
remember_token "$tok"
check "the daemon runs with $LIMIT descriptors at most" \
    grep -Eq "^Max open files +$LIMIT +$LIMIT " "/proc/$DAEMON_PID/limits"
fd0=$(daemon_nfds "$DAEMON_PID")
echo "INFO: $fd0 descriptors open before the flood"

# The flood, queued while the daemon cannot accept: 400 connections from
# 20 uids, held until told to stop (or 60 s).
kill -STOP "$DAEMON_PID"
uids=$(seq -s, 61001 61020)
timeout 90 python3 "$HOSTILE" "$SOCK" many "$NCONN" 60 "$T/many.ready" "$T/many.stop" "$uids" >"$T/many.out" 2>&1 &
many=$!
PIDS+=("$many")
wait_for 30 test -s "$T/many.ready" || true
t0=$(now_ms)
kill -CONT "$DAEMON_PID"
read -r opened failed _ <"$T/many.ready" || opened=0
check "$NCONN connections queued in the backlog ($opened opened, ${failed:-?} refused)" test "${opened:-0}" = "$NCONN"

timed_token demo
check "with them queued and held, root's 'crvs-token -t 5 demo' gets the token (exit $TT_RC, ${TT_MS} ms)" \
    test "$TT_RC" = 0 -a "$TT_OUT" = "$tok"
check "the daemon is alive" daemon_alive
wait_for 20 backlog_empty || true
check "it accepted the whole backlog" backlog_empty
check "accept() ran out of descriptors, and the daemon paused instead of failing (the path under test)" \
    grep -q 'accept: Too many open files; pausing new connections until one closes' "$T/tokend.log"
check "the cap made the uids holding the most give connections up, and said so" \
    grep -Eq '[0-9]+ connections open; closing those of uid 610[0-2][0-9]' "$T/tokend.log"
nevict=$(grep -c 'connections open; closing those of uid' "$T/tokend.log" || true)
check "one such line per uid at most ($nevict lines for 20 uids)" test "$nevict" -le 20
# What it keeps: the cap's connections, once the ones it shut down are
# closed (the loop reads their end).
wait_for 20 eval '[ $(( $(daemon_nfds "$DAEMON_PID") - fd0 )) -le $CAP ]' || true
held=$(( $(daemon_nfds "$DAEMON_PID") - fd0 ))
check "it keeps at most its cap of $CAP connections ($held beyond its own descriptors)" test "$held" -le "$CAP"
timed_token demo
check "and still answers root (exit $TT_RC, ${TT_MS} ms)" test "$TT_RC" = 0 -a "$TT_OUT" = "$tok"
secs=$(( ($(now_ms) - t0 + 999) / 1000 ))
npause=$(grep -c 'accept: Too many open files' "$T/tokend.log" || true)
check "the pause is logged at most once a second ($npause lines in $secs s)" test "$npause" -le "$secs"

touch "$T/many.stop"
wait "$many" 2>/dev/null || true
sed 's/^INFO /INFO: many: /' "$T/many.out"
wait_for 20 eval '[ "$(daemon_nfds "$DAEMON_PID")" -le "$fd0" ]' || true
check "once the flood is gone the daemon is back to its $fd0 descriptors ($(daemon_nfds "$DAEMON_PID"))" \
    test "$(daemon_nfds "$DAEMON_PID")" -le "$fd0"
timed_token demo
check "a normal request is answered (exit $TT_RC, ${TT_MS} ms)" test "$TT_RC" = 0 -a "$TT_OUT" = "$tok"

# Stopping in the middle of a flood: the connections held open make it
# wait for its bound on a stop, then it frees them all (and must not touch
# its listener, paused or not, once evhttp has freed it).
kill -STOP "$DAEMON_PID"
rm -f "$T/many.ready" "$T/many.ready.done" "$T/many.stop"
timeout 90 python3 "$HOSTILE" "$SOCK" many "$NCONN" 60 "$T/many.ready" "$T/many.stop" "$uids" >"$T/many2.out" 2>&1 &
many=$!
PIDS+=("$many")
wait_for 30 test -s "$T/many.ready" || true
kill -CONT "$DAEMON_PID"
stop_daemon
touch "$T/many.stop"
wait "$many" 2>/dev/null || true
check "stopped in the middle of a flood, the daemon exits 0 (exit $DAEMON_RC)" test "$DAEMON_RC" = 0
check "no token in the daemon's log" no_jwt_in "$T/tokend.log"
finish
