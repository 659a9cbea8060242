#!/bin/bash
# A reload that changes a client's settings (here its token_url) replaces
# the client: callers waiting on it wait for the new one instead of failing
# with "removed from the configuration" (issue 9, item 9). A client that a
# reload truly removes still fails its waiters at once.
. "$(dirname "$0")/lib.sh"

start_issuer old --lifetime 600
start_issuer new --lifetime 600
# timeout = 60: the fetches that the slow issuer holds stay in flight until
# the reload, however slow the machine.
{ client_section demo "$old_PORT" "timeout = 60"
  client_section gone "$old_PORT" "timeout = 60"; } | write_conf
start_daemon
wait_for 10 "$TOKEN" demo
wait_for 10 "$TOKEN" gone
demo_tok=$("$TOKEN" demo)
gone_tok=$("$TOKEN" gone)

# The old issuer now answers after 50 s: the callers' reports below start
# fetches that are still in flight when the reload comes.
issuer_post "$old_PORT" '/control/mode?mode=slow&delay=50' >/dev/null
before=$(issuer_stat "$old_PORT" requests)
N=5
for i in $(seq "$N"); do
	printf '%s\n' "$demo_tok" | "$TOKEN" -t 60 refresh --rejected demo \
	    >"$T/w$i.out" 2>"$T/w$i.err" &
	PIDS+=("$!")
	eval "w${i}_PID=$!"
done
printf '%s\n' "$gone_tok" | "$TOKEN" -t 60 refresh --rejected gone \
    >"$T/gone.out" 2>"$T/gone.err" &
gone_pid=$!
PIDS+=("$gone_pid")
# Both fetches reached the old issuer, and the callers wait.
check "the callers' reports reached the old issuer" \
    wait_for 10 issuer_requests_ge "$old_PORT" $((before + 2))
check "all $N callers are waiting (a request each in the daemon's log)" \
    wait_for 10 sh -c "[ \$(grep -c 'refresh for uid' '$T/tokend.log') -ge $((N + 1)) ]"

# The reload: demo moves to the new issuer, gone is removed.
client_section demo "$new_PORT" "timeout = 60" | write_conf
kill -HUP "$DAEMON_PID"
for i in $(seq "$N"); do
	rc=0
	eval "wait \$w${i}_PID" || rc=$?
	echo "$rc" >"$T/w$i.rc"
done
rc=0; wait "$gone_pid" || rc=$?
codes=$(cat "$T"/w*.rc | sort | uniq -c | tr -s ' ' | tr '\n' ';')
check "all $N callers of the changed client got a token (exits: $codes)" \
    test "$(cat "$T"/w*.rc | sort -u)" = 0
check "none was told the client was removed" sh -c "! grep -l removed '$T'/w*.err"
tok=$(cat "$T/w1.out")
check "they got one token, from the new issuer, which its gateway accepts" \
    eval '[ "$(cat "$T"/w*.out | sort -u | wc -l)" = 1 ] && [ "$tok" != "$demo_tok" ] && gateway_accepts "$new_PORT" "$tok"'
check "the removed client's caller failed with a reason (exit $rc: $(cat "$T/gone.err"))" \
    eval '[ "$rc" = 75 ] && [ ! -s "$T/gone.out" ] && grep -q removed "$T/gone.err"'

stop_daemon
check "the daemon stopped cleanly (exit $DAEMON_RC)" test "$DAEMON_RC" = 0
finish
