#!/bin/bash
# crvs-token exec: COMMAND gets the token in $CRVS_TOKEN (or --env NAME)
# and its expiry in $CRVS_TOKEN_EXPIRES_AT, never on a command line; the
# exit status is COMMAND's, the CLI's own when there is no token, and 127 or
# 126 when COMMAND is not found or cannot be run.
. "$(dirname "$0")/lib.sh"

start_issuer issuer --lifetime 600
client_section demo "$ISSUER_PORT" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo
run_cli j demo -j
want_tok=$(printf '%s' "$j_out" | json_field access_token)
want_exp=$(printf '%s' "$j_out" | json_field expires_at)

# What the command sees, with its own arguments (options included) intact.
"$TOKEN" exec demo -- sh -c 'printf "%s\n%s\n%s\n" "$CRVS_TOKEN" "$CRVS_TOKEN_EXPIRES_AT" "$*"' sh -x --y "a b" \
    >"$T/env.out" 2>"$T/env.err" || true
check "the command gets the token in CRVS_TOKEN" test "$(sed -n 1p "$T/env.out")" = "$want_tok"
check "... and its expiry in CRVS_TOKEN_EXPIRES_AT ($(sed -n 2p "$T/env.out"))" \
    test "$(sed -n 2p "$T/env.out")" = "$want_exp"
check "... and its own arguments, options included" test "$(sed -n 3p "$T/env.out")" = "-x --y a b"
check "a command can use it: the gateway accepts it" \
    "$TOKEN" exec demo -- sh -c "curl -sf --max-time 5 -o /dev/null -H \"Authorization: Bearer \$CRVS_TOKEN\" http://127.0.0.1:$ISSUER_PORT/gateway/check"

"$TOKEN" exec --env API_TOKEN demo -- sh -c 'printf "%s|%s" "$API_TOKEN" "${CRVS_TOKEN-unset}"' >"$T/named.out" || true
check "--env NAME puts it in NAME instead" test "$(cat "$T/named.out")" = "$want_tok|unset"
"$TOKEN" -m 60 exec demo -- sh -c 'test -n "$CRVS_TOKEN"' || rc=$?
check "-m SECS goes with exec" test "${rc:-0}" = 0

# The token is in no process's argv: the command's, or the CLI's while it
# waits (the CLI execs, so they are the same process).
"$TOKEN" exec demo -- sh -c 'cat /proc/$$/cmdline | tr "\0" " "; echo; cat /proc/$PPID/cmdline 2>/dev/null | tr "\0" " "' >"$T/argv.out" 2>&1 || true
check "the token is not on the command line" sh -c "! grep -qF -- '$want_tok' '$T/argv.out'"
"$TOKEN" exec demo -- sh -c 'echo $$ >"$0"' "$T/pid" &
cli=$!
wait "$cli" || true
check "the CLI has become the command (same process $cli)" test "$(cat "$T/pid")" = "$cli"

# Exit statuses.
for st in 0 1 3 42 255; do
	rc=0
	"$TOKEN" exec demo -- sh -c "exit $st" || rc=$?
	check "the command's exit status $st is passed through ($rc)" test "$rc" = "$st"
done
rc=0
"$TOKEN" exec demo -- sh -c 'kill -TERM $$' || rc=$?
check "a command killed by a signal: the shell's 128+15 ($rc)" test "$rc" = 143
rc=0
"$TOKEN" exec demo -- no-such-command-crvs >/dev/null 2>"$T/nf.err" || rc=$?
check "command not found: 127 ($rc), as a shell says" test "$rc" = 127 -a -s "$T/nf.err"
printf 'echo hi\n' >"$T/notexec"
chmod 644 "$T/notexec"
rc=0
"$TOKEN" exec demo -- "$T/notexec" >/dev/null 2>&1 || rc=$?
check "command not executable: 126 ($rc)" test "$rc" = 126
rc=0
"$TOKEN" exec demo -- "$T" >/dev/null 2>&1 || rc=$?
check "a directory as command: 126 ($rc)" test "$rc" = 126

# The CLI's own statuses, and the command does not run.
ran() { test -e "$T/ran"; }
rc=0
"$TOKEN" exec nosuch -- touch "$T/ran" 2>"$T/e.err" || rc=$?
check "unknown client: 67 ($rc), command not run" sh -c "[ $rc = 67 ] && [ ! -e '$T/ran' ]"
rc=0
"$TOKEN" -s "$T/none.sock" exec demo -- touch "$T/ran" 2>/dev/null || rc=$?
check "daemon not reachable: 69 ($rc), command not run" sh -c "[ $rc = 69 ] && [ ! -e '$T/ran' ]"
rc=0
"$TOKEN" -m 3600 exec demo -- touch "$T/ran" 2>/dev/null || rc=$?
check "no token with that much validity: 75 ($rc), command not run" sh -c "[ $rc = 75 ] && [ ! -e '$T/ran' ]"
for args in "exec demo" "exec demo --" "exec -- true" "exec demo extra -- true" \
    "-j exec demo -- true" "--env 1X exec demo -- true" "--env CRVS_TOKEN_EXPIRES_AT exec demo -- true" \
    "--env X demo" "--env PATH exec demo -- true" "--env LD_PRELOAD exec demo -- true" \
    "--env BASH_ENV exec demo -- true" "--env IFS exec demo -- true"; do
	rc=0
	# shellcheck disable=SC2086
	"$TOKEN" $args 2>/dev/null >/dev/null || rc=$?
	check "usage error: crvs-token $args: 64 ($rc)" test "$rc" = 64
done
# "--" still only ends the options without exec.
run_cli dd -- demo
check "without exec, -- ends the options (crvs-token -- demo: $dd_rc)" test "$dd_rc" = 0 -a "$dd_out" = "$want_tok"

# Not allowed: a client that only another user may read (root skips: the
# daemon's own user may read everything).
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: $TEST_NAME: not allowed (77) is tested as root only"
else
	stop_daemon
	{
		client_section demo "$ISSUER_PORT"
		client_section private "$ISSUER_PORT" "allow_users = root"
	} | write_conf
	start_daemon
	chmod 755 "$T"
	chmod 666 "$SOCK"
	wait_for 10 "$TOKEN" private
	rc=0
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$TOKEN" -s "$SOCK" exec private -- touch "$T/ran" 2>/dev/null || rc=$?
	check "not allowed: 77 ($rc), command not run" sh -c "[ $rc = 77 ] && [ ! -e '$T/ran' ]"
fi
check "no token reached the daemon's log" sh -c "! grep -qF -- '$want_tok' '$T/tokend.log'"
finish
