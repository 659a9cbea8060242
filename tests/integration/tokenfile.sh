#!/bin/bash
# Token files (token_file=): the file appears with its mode, group and
# content in each format; it follows every refresh and a reader polling it
# never sees a partial, empty or expired token; it is removed when no
# servable token is left (issuer down past the servable time, a rejected
# token, a reload that removes the client, a stop) and comes back with the
# next good token; a symlink at the path or an untrusted directory is
# refused. Root-only checks (another user's directory) are skipped, and
# said so, when not root.
. "$(dirname "$0")/lib.sh"

POLL="python3 $here/tokenfile-poll.py"
F=$T/files
mkdir "$F"
chmod 755 "$F"

# A group that this user may give files to, other than its own primary one.
if [ "$(id -u)" = 0 ]; then
	GRP=$(getent group 1 | cut -d: -f1)
else
	GRP=$(id -Gn | tr ' ' '\n' | grep -vx "$(id -gn)" | head -n1 || true)
fi

mode_of() { stat -c %a "$1"; }
group_of() { stat -c %G "$1"; }
gone() { [ ! -e "$1" ] && [ ! -L "$1" ]; }

# --- 1. Formats, mode and group -------------------------------------------
start_issuer issuer --lifetime 600
{
	client_section plain "$ISSUER_PORT" "token_file = $F/plain.token
refresh_min_interval = 0"
	client_section hdr "$ISSUER_PORT" "token_file = $F/hdr.token
token_file_format = header
token_file_mode = 0600"
	client_section js "$ISSUER_PORT" "token_file = $F/js.json
token_file_format = json
token_file_mode = 0644${GRP:+
token_file_group = $GRP}"
} | write_conf
start_daemon
check "the token file appears after start" wait_for 10 test -s "$F/js.json"
wait_for 10 test -s "$F/plain.token"
wait_for 10 test -s "$F/hdr.token"
run_cli p plain
check "token format: the file holds the token the socket serves, and a newline" \
    test "$(cat "$F/plain.token")" = "$p_out" -a "$(tail -c1 "$F/plain.token" | od -An -c | tr -d ' ')" = '\n'
check "token format: default mode 0640 ($(mode_of "$F/plain.token"))" test "$(mode_of "$F/plain.token")" = 640
check "token format: owned by the daemon's user" test "$(stat -c %u "$F/plain.token")" = "$(id -u)"
run_cli h hdr
check "header format: 'Authorization: Bearer TOKEN'" \
    test "$(cat "$F/hdr.token")" = "Authorization: Bearer $h_out"
check "header format: mode 0600 ($(mode_of "$F/hdr.token"))" test "$(mode_of "$F/hdr.token")" = 600
check "header format: curl -H @FILE gets through the gateway" \
    curl -sf --max-time 5 -H @"$F/hdr.token" "http://127.0.0.1:$ISSUER_PORT/gateway/check" -o /dev/null
run_cli j js -j
# jcmp: the file's JSON against the socket's answer, in one python run.
jcmp=$(python3 -c '
import json, sys
f = json.load(open(sys.argv[1])); s = json.loads(sys.argv[2])
print("same" if (f["access_token"], f["client"], f["token_type"], f["expires_at"]) ==
    (s["access_token"], "js", "Bearer", s["expires_at"]) and "expires_in" not in f else f)
' "$F/js.json" "$j_out" 2>&1)
check "json format: access_token, client, token_type, expires_at as the socket says ($jcmp)" \
    test "$jcmp" = same
check "json format: mode 0644 ($(mode_of "$F/js.json"))" test "$(mode_of "$F/js.json")" = 644
if [ -n "$GRP" ]; then
	check "json format: group $GRP ($(group_of "$F/js.json"))" test "$(group_of "$F/js.json")" = "$GRP"
else
	echo "SKIP: $TEST_NAME: token_file_group (this user has no second group)"
fi
check "no temporary file is left beside them" \
    test "$(find "$F" -name '.crvs-tokend.*' | wc -l)" = 0
check "no token reached the log" sh -c "! grep -qF -- '$p_out' '$T/tokend.log'"

# A symlink put at the path while running: the next write refuses it and
# writes nothing through it.
echo "not a token" >"$T/target"
rm "$F/plain.token"
ln -s "$T/target" "$F/plain.token"
"$TOKEN" refresh plain >/dev/null
check "a symlink at the path is refused at the next write (logged)" \
    wait_for 5 grep -q "plain.token is a symbolic link" "$T/tokend.log"
check "... and nothing was written through it" test "$(cat "$T/target")" = "not a token"
check "... and the symlink is left alone" test -L "$F/plain.token"
rm "$F/plain.token"

# A reported (rejected) token: the socket serves it to the others until its
# replacement is there, and so does the file; then the file has the new one.
"$TOKEN" refresh plain >/dev/null
check "with the symlink gone, the next token is written again" wait_for 5 test -s "$F/plain.token"
old=$(cat "$F/plain.token")
issuer_post "$ISSUER_PORT" '/control/mode?mode=status&status=503' >/dev/null
rc=0
printf '%s\n' "$old" | "$TOKEN" refresh --rejected plain >/dev/null 2>&1 || rc=$?
check "refresh --rejected with the issuer down: no new token (exit $rc)" test "$rc" = 75
run_cli o plain
check "... the file keeps the token the socket still serves to others" \
    test "$(cat "$F/plain.token")" = "$o_out" -a "$o_out" = "$old"
issuer_post "$ISSUER_PORT" '/control/mode?mode=ok' >/dev/null
# The daemon retries after its backoff (about a second).
check "... and has the replacement once it is there" \
    wait_for 20 sh -c "[ -s '$F/plain.token' ] && [ \"\$(cat '$F/plain.token')\" != '$old' ]"
run_cli n plain
check "... which is what the socket serves" test "$(cat "$F/plain.token")" = "$n_out"

# A reload that removes a client removes its file; one that moves a file
# keeps the token (same source) and writes it at the new path.
tok_js=$(printf '%s' "$j_out" | json_field access_token)
{
	client_section plain "$ISSUER_PORT" "token_file = $F/plain.token"
	client_section js "$ISSUER_PORT" "token_file = $F/moved.json
token_file_format = json"
} | write_conf
kill -HUP "$DAEMON_PID"
check "reload: the removed client's file is removed" wait_for 5 gone "$F/hdr.token"
check "reload: a moved file leaves its old path" wait_for 5 gone "$F/js.json"
check "reload: ... and is at the new path with the same token" \
    wait_for 5 sh -c "[ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"access_token\"])' '$F/moved.json' 2>/dev/null)\" = '$tok_js' ]"
check "reload: ... and the new mode (0640 default: $(mode_of "$F/moved.json"))" test "$(mode_of "$F/moved.json")" = 640
check "reload: the kept client's file stays" test -s "$F/plain.token"

# A reload into a directory others can write to fails; the running
# configuration and its files stay.
mkdir "$T/open"
chmod 777 "$T/open"
client_section plain "$ISSUER_PORT" "token_file = $T/open/plain.token" | write_conf
kill -HUP "$DAEMON_PID"
check "reload into a world-writable directory fails (logged)" \
    wait_for 5 grep -q "reload failed.*lets other users write to it" "$T/tokend.log"
check "... the daemon keeps its files" test -s "$F/plain.token" -a -s "$F/moved.json"
check "... and writes nothing there" test -z "$(ls -A "$T/open")"

stop_daemon
check "a clean stop exits 0 ($DAEMON_RC)" test "$DAEMON_RC" = 0
check "a clean stop removes the files (nothing would refresh them)" \
    sh -c "[ -z \"\$(ls -A '$F')\" ]"

# --- 2. Refused at start ----------------------------------------------------
# start_refused WHAT: the daemon exits 1 before listening, saying WHAT.
start_refused() {
	local rc=0
	timeout 20 "$TOKEND" -c "$T/tokend.conf" >"$T/refused.log" 2>&1 || rc=$?
	[ "$rc" = 1 ] && grep -q "$1" "$T/refused.log" && [ ! -S "$SOCK" ]
}
ln -s "$T/target" "$F/link.token"
client_section plain "$ISSUER_PORT" "token_file = $F/link.token" | write_conf
check "start: a symlink at token_file is refused, naming file:line" \
    start_refused "tokend.conf:4: \[client plain\] token_file: $F/link.token is a symbolic link"
check "start: ... and its target is untouched" test "$(cat "$T/target")" = "not a token"
rm "$F/link.token"
client_section plain "$ISSUER_PORT" "token_file = $T/open/plain.token" | write_conf
check "start: a world-writable directory is refused" start_refused "lets other users write to it"
client_section plain "$ISSUER_PORT" "token_file = $T/nodir/plain.token" | write_conf
check "start: a missing directory is refused" start_refused "nodir: No such file or directory"
if [ "$(id -u)" = 0 ]; then
	mkdir "$T/theirs"
	chown 65534 "$T/theirs"
	client_section plain "$ISSUER_PORT" "token_file = $T/theirs/plain.token" | write_conf
	check "start: another user's directory is refused" start_refused "owned by uid 65534"
else
	echo "SKIP: $TEST_NAME: another user's directory (needs root)"
fi

# A file left by an earlier run (a crash) is removed at start, even when no
# token can be had.
issuer_post "$ISSUER_PORT" '/control/mode?mode=status&status=503' >/dev/null
echo "stale" >"$F/plain.token"
client_section plain "$ISSUER_PORT" "token_file = $F/plain.token" | write_conf
start_daemon
check "start: a stale file is removed although the issuer fails" wait_for 10 gone "$F/plain.token"
issuer_post "$ISSUER_PORT" '/control/mode?mode=ok' >/dev/null
stop_daemon

# --- 3. Refreshes, outage and recovery, with a reader polling ------------
# 4 s tokens, min_valid 1: refreshed about every 2-3 s; servable until 1 s
# before expiry.
start_issuer short --lifetime 4
client_section demo "$short_PORT" "min_valid = 1
token_file = $F/demo.token" | write_conf
start_daemon
wait_for 10 test -s "$F/demo.token"
$POLL "$F/demo.token" "$T/poll.stop" 1 "$T/poll.ready" >"$T/poll.out" 2>"$T/poll.err" &
poller=$!
PIDS+=("$poller")
wait_for 30 test -e "$T/poll.ready" || { fail "the reader did not start"; cat "$T/poll.err"; }
# Several refreshes: four more new tokens by the daemon's log.
new_tokens() { grep -c 'demo: new token' "$T/tokend.log" || true; }
first=$(new_tokens)
check "the token is refreshed (4 new tokens) while the reader polls" \
    wait_for 40 sh -c "[ \$(grep -c 'demo: new token' '$T/tokend.log') -ge $((first + 4)) ]"
# Tokens last about a second between refreshes: a sample counts when the
# file did not change while the socket was asked; a mismatch then fails.
same_as_socket() {
	local a b c end=$(( $(date +%s) + 20 ))
	while [ "$(date +%s)" -lt "$end" ]; do
		a=$(cat "$1" 2>/dev/null) || continue
		b=$("$TOKEN" "$2" 2>/dev/null) || continue
		c=$(cat "$1" 2>/dev/null) || continue
		[ "$a" = "$c" ] || continue
		[ "$a" = "$b" ]
		return
	done
	return 1
}
check "the file holds the token the socket serves" same_as_socket "$F/demo.token" demo

# The issuer fails from now on: the file goes at the token's servable end.
issuer_post "$short_PORT" '/control/mode?mode=status&status=503' >/dev/null
check "issuer down: the file is removed within the token's lifetime" \
    wait_for 10 gone "$F/demo.token"
run_cli g demo
check "issuer down: the socket has no token either (exit $g_rc)" test "$g_rc" = 75
check "issuer down: the daemon says why it removed the file" \
    grep -q "removed token file .*demo.token: no servable token" "$T/tokend.log"
issuer_post "$short_PORT" '/control/mode?mode=ok' >/dev/null
# The daemon retries with backoff (full jitter, capped at 60 s).
check "issuer back: the file comes back with the next good token" \
    wait_for 70 test -s "$F/demo.token"
wait_for 5 test -s "$F/demo.token"
touch "$T/poll.stop"
wait "$poller" || true
summary=$(cat "$T/poll.out")
echo "$TEST_NAME: reader: $summary"
eval "$(printf '%s' "$summary" | python3 -c '
import json, sys
for k, v in json.load(sys.stdin).items():
    print("r_%s=\"%s\"" % (k, " ".join(map(str, v)) if isinstance(v, list) else v))')"
check "the reader read the file" test "$r_reads" -gt 0
check "the reader saw the tokens change ($r_distinct distinct)" test "$r_distinct" -ge 4
check "the reader never saw an empty file ($r_empty)" test "$r_empty" = 0
check "the reader never saw a partial file ($r_partial)" test "$r_partial" = 0
check "the reader never saw an expired token ($r_expired)" test "$r_expired" = 0
removals=$r_removals
check "the reader saw the file go ($removals ms after the servable end)" test -n "$removals"
# The socket's margin is min_valid (1 s): the file must be gone by then.
for r in $removals; do
	check "removal gap $r ms <= the socket's margin (1000 ms)" test "$r" -le 1000
done
late=$(grep -o 'removing -\?[0-9]* ms after' "$T/tokend.log" | grep -o -- '-\?[0-9]*' | sort -n | tail -n1)
echo "$TEST_NAME: largest gap: reader $r_max_late_ms ms past exp - min_valid; daemon's timer ${late:-?} ms past its deadline"

stop_daemon
finish
