#!/bin/bash
# Who may read which token: allow_users / allow_groups checked against the
# peer's credentials (SO_PEERCRED, supplementary groups counted), forbidden
# answers that carry no token, listings that show only what the caller may
# read, denials logged with uid and pid, socket mode and group as configured,
# and allow lists that a reload (SIGHUP) changes without a restart.
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/seclib.sh"

G=crvstest-acl-g
A=crvstest-acl-a
B=crvstest-acl-b
C=crvstest-acl-c
sec_group "$G"
sec_user "$A"
sec_user "$B" "$G"	# member of G only as a supplementary group
sec_user "$C"

start_issuer issuer --lifetime 600
write_acl_conf() {	# MODE GROUP USERS_ALLOWED
	{
		printf 'socket_mode = %s\n' "$1"
		[ -z "$2" ] || printf 'socket_group = %s\n' "$2"
		client_section open "$ISSUER_PORT"
		client_section users "$ISSUER_PORT" "allow_users = $3"
		client_section groups "$ISSUER_PORT" "allow_groups = $G"
	} | write_conf
}
write_acl_conf 0666 "" "$A"
start_daemon
wait_for 10 "$TOKEN" open
wait_for 10 "$TOKEN" users
wait_for 10 "$TOKEN" groups

# Root (and the daemon's own uid) may read everything: the reference tokens.
tok_open=$("$TOKEN" open); tok_users=$("$TOKEN" users); tok_groups=$("$TOKEN" groups)
remember_token "$tok_open"; remember_token "$tok_users"; remember_token "$tok_groups"
requests0=$(issuer_stat "$ISSUER_PORT" requests)

# has_no_token FILE_OR_STRING: neither a token nor a JWT-looking string.
has_no_token() {
	! printf '%s' "$1" | grep -qFf "$T/tokens" &&
	! printf '%s' "$1" | grep -Eq 'eyJ[A-Za-z0-9_-]{8,}\.'
}

# --- user a: in allow_users of 'users' --------------------------------------
run_cli_as a1 "$A" users
check "a (allow_users) gets 'users': exit 0 and the token" test "$a1_rc" = 0 -a "$a1_out" = "$tok_users"
run_cli_as a2 "$A" groups
check "a gets 'groups' refused: exit 77 ($a2_rc)" test "$a2_rc" = 77
check "a's refusal prints nothing on stdout" test -z "$a2_out"
check "a's refusal carries no token" has_no_token "$a2_out$a2_err"
check "a's refusal says it is not allowed ($a2_err)" \
    sh -c "printf '%s' \"\$1\" | grep -Eiq 'not allowed|forbidden|may not'" _ "$a2_err"
run_cli_as a3 "$A" open
check "a gets 'open' (no allow list)" test "$a3_rc" = 0 -a "$a3_out" = "$tok_open"

# --- user b: member of G only as a supplementary group ----------------------
check "b's primary group is not $G (the test is about supplementary groups)" \
    test "$(id -g "$B")" != "$(gid_of "$G")"
run_cli_as b1 "$B" groups
check "b (supplementary member of $G) gets 'groups'" test "$b1_rc" = 0 -a "$b1_out" = "$tok_groups"
run_cli_as b2 "$B" users
check "b gets 'users' refused: exit 77 ($b2_rc)" test "$b2_rc" = 77 -a -z "$b2_out"
check "b's refusal carries no token" has_no_token "$b2_out$b2_err"
rc=0; as_user_nogroups "$B" "$TOKEN" groups >"$T/b3.out" 2>"$T/b3.err" || rc=$?
check "b without its supplementary groups is refused 'groups' (exit $rc)" test "$rc" = 77 -a ! -s "$T/b3.out"
rc=0; setpriv --reuid="$(uid_of "$C")" --regid="$(gid_of "$G")" --clear-groups \
    "$TOKEN" groups >"$T/pg.out" 2>/dev/null || rc=$?
check "a peer whose primary (effective) gid is $G gets 'groups'" test "$rc" = 0 -a "$(cat "$T/pg.out")" = "$tok_groups"

# --- user c: in neither list -------------------------------------------------
run_cli_as c1 "$C" open
check "c gets 'open'" test "$c1_rc" = 0 -a "$c1_out" = "$tok_open"
run_cli_as c2 "$C" users
check "c gets 'users' refused: exit 77" test "$c2_rc" = 77 -a -z "$c2_out"
run_cli_as c3 "$C" groups
check "c gets 'groups' refused: exit 77" test "$c3_rc" = 77 -a -z "$c3_out"
check "c's refusals carry no token" has_no_token "$c2_out$c2_err$c3_out$c3_err"
run_cli_as c4 "$C" -j users
check "c with -j: still exit 77 and no token" test "$c4_rc" = 77 && has_no_token "$c4_out$c4_err"
run_cli_as c5 "$C" -H -m 60 get users
check "c with -H -m 60 get: still exit 77 and no token" test "$c5_rc" = 77 && has_no_token "$c5_out$c5_err"

# The HTTP API as c: every route that names a client is refused, and none of
# the ways of spelling a path gets around the check.
code=$(curl_as "$C" "$T/c.tok" http://x/v1/clients/users/token)
check "GET /v1/clients/users/token as c: 403 ($code)" test "$code" = 403
check "the 403 is JSON error forbidden" test "$(json_field error <"$T/c.tok" 2>/dev/null)" = forbidden
check "the 403 body carries no token" has_no_token "$(cat "$T/c.tok")"
code=$(curl_as "$C" "$T/c.txt" -H 'Accept: text/plain' http://x/v1/clients/users/token)
check "GET .../token with Accept: text/plain as c: 403 ($code), no token" \
    test "$code" = 403 && has_no_token "$(cat "$T/c.txt")"
code=$(curl_as "$C" "$T/c.st" http://x/v1/clients/users)
check "GET /v1/clients/users (status) as c: 403 ($code)" test "$code" = 403
code=$(curl_as "$C" "$T/c.rf" -X POST http://x/v1/clients/users/refresh)
check "POST /v1/clients/users/refresh as c: 403 ($code), no token" \
    test "$code" = 403 && has_no_token "$(cat "$T/c.rf")"
code=$(curl_as "$C" "$T/c.rf2" -X POST -H 'Content-Type: application/json' \
    --data "{\"rejected_token\":\"$tok_users\"}" http://x/v1/clients/users/refresh)
check "POST refresh with the rejected token in the body as c: 403 ($code)" \
    test "$code" = 403 && ! grep -qF "\"access_token\"" "$T/c.rf2"
bypass_ok=1
for p in '/v1/clients/%75sers/token' '/v1/clients/users%2ftoken' \
    '/v1/clients/users/token?min_valid=0' '/v1/clients/users/token/' \
    '/v1/clients/./users/token' '/v1/clients/open/../users/token' \
    '/v1/clients/users/token%00' '/v1/clients/users%00/token' \
    '//v1/clients/users/token' '/v1//clients/users/token' \
    '/v1/clients/USERS/token' '/v1/clients/users/token#x' '/v1/clients/users/token;x'; do
	code=$(curl_as "$C" "$T/c.bp" "http://x$p")
	if [ "$code" = 200 ] && grep -q access_token "$T/c.bp" || ! has_no_token "$(cat "$T/c.bp")"; then
		echo "  bypass: $p answered $code with a token"
		bypass_ok=0
	fi
done
check "no spelling of the path gives c the token of 'users'" test "$bypass_ok" = 1

code=$(curl_as "$C" "$T/c.list" http://x/v1/clients)
names=$(python3 -c 'import json,sys; print(",".join(sorted(c["name"] for c in json.load(open(sys.argv[1]))["clients"])))' "$T/c.list" 2>/dev/null || echo '?')
check "GET /v1/clients as c lists only open ($names)" test "$code" = 200 -a "$names" = open
curl -sf --unix-socket "$SOCK" http://x/v1/clients >"$T/root.list"
names=$(python3 -c 'import json,sys; print(",".join(sorted(c["name"] for c in json.load(open(sys.argv[1]))["clients"])))' "$T/root.list")
check "GET /v1/clients as root lists all three ($names)" test "$names" = groups,open,users
code=$(curl_as "$A" "$T/a.list" http://x/v1/clients)
names=$(python3 -c 'import json,sys; print(",".join(sorted(c["name"] for c in json.load(open(sys.argv[1]))["clients"])))' "$T/a.list" 2>/dev/null || echo '?')
check "GET /v1/clients as a lists open and users ($names)" test "$names" = open,users
code=$(curl_as "$C" "$T/c.health" http://x/v1/health)
check "GET /v1/health as c: 200 and names no other client" \
    sh -c "test '$code' = 200 && ! grep -Eq '\"(users|groups)\"' '$T/c.health'"
check "/v1/health as c counts one client" test "$(json_field clients <"$T/c.health" 2>/dev/null)" = 1
code=$(curl_as "$C" "$T/c.metrics" http://x/metrics)
labels=$(grep -o 'client="[^"]*"' "$T/c.metrics" | sort -u | tr '\n' ' ')
check "/metrics as c: 200 and only client=\"open\" ($labels)" \
    test "$code" = 200 -a "$labels" = 'client="open" '
run_cli_as cs "$C" status
check "'crvs-token status' as c shows only open" \
    sh -c "printf '%s\n' \"\$1\" | grep -Eq '^open ' && ! printf '%s\n' \"\$1\" | grep -Eq '^(users|groups) '" _ "$cs_out"
run_cli_as cs2 "$C" status users
check "'crvs-token status users' as c: exit 77" test "$cs2_rc" = 77
check "no listing for c holds a token" no_known_token_in "$T/c.list" "$T/c.health" "$T/c.metrics"

# refresh and refresh --rejected are refused too, and cause no upstream fetch.
run_cli_as r1 "$C" refresh users
check "'refresh users' as c: exit 77, nothing on stdout" test "$r1_rc" = 77 -a -z "$r1_out"
rc=0; printf '%s\n' "$tok_users" | as_user "$C" "$TOKEN" refresh --rejected users >"$T/r2.out" 2>"$T/r2.err" || rc=$?
check "'refresh --rejected users' as c: exit 77, nothing on stdout" test "$rc" = 77 -a ! -s "$T/r2.out"
run_cli_as r3 "$C" refresh groups
check "'refresh groups' as c: exit 77" test "$r3_rc" = 77
check "the refused refreshes caused no upstream request" \
    test "$(issuer_stat "$ISSUER_PORT" requests)" = "$requests0"
check "root still gets the same token of 'users' (not refreshed)" test "$("$TOKEN" users)" = "$tok_users"

# The denial is logged with the peer's uid and pid, and holds no token.
setpriv --reuid="$(uid_of "$C")" --regid="$(id -g "$C")" --clear-groups \
    "$TOKEN" users >/dev/null 2>&1 &
cpid=$!	# setpriv execs the CLI: the same pid connects
wait "$cpid" || true
wait_for 5 grep -q "uid $(uid_of "$C") pid $cpid" "$T/tokend.log" || true
check "the denial is logged with c's uid $(uid_of "$C") and pid $cpid" \
    grep -Eq "(warning|error|info).*users.*uid $(uid_of "$C")[^0-9].*pid $cpid([^0-9]|$)" "$T/tokend.log"
check "denials are logged for 'groups' too" grep -Eq "groups.*denied|denied.*groups" "$T/tokend.log"
check "/metrics counts the denials" \
    sh -c "curl -sf --unix-socket '$SOCK' http://x/metrics | grep -Eq '^crvs_tokend_denied_total [1-9]'"

# --- reload: a new allow_users applies without a restart ---------------------
write_acl_conf 0666 "" "$C"
kill -HUP "$DAEMON_PID"
wait_for 10 grep -q 'reloaded' "$T/tokend.log" || true
run_cli_as h1 "$C" users
check "after SIGHUP with allow_users = c: c gets 'users'" test "$h1_rc" = 0 -a "$h1_out" = "$tok_users"
run_cli_as h2 "$A" users
check "after SIGHUP: a is refused 'users' (exit $h2_rc)" test "$h2_rc" = 77 -a -z "$h2_out"
check "the reload kept the token (no upstream request)" \
    test "$(issuer_stat "$ISSUER_PORT" requests)" = "$requests0"
check "the daemon kept its pid across the reload" daemon_alive
# allow_users emptied: no list, anyone who can open the socket.
write_acl_conf 0666 "" ""
kill -HUP "$DAEMON_PID"
wait_for 10 sh -c "[ \$(grep -c reloaded '$T/tokend.log') -ge 2 ]" || true
run_cli_as h3 "$A" users
check "after SIGHUP with allow_users emptied: a gets 'users'" test "$h3_rc" = 0
# A reload that fails keeps the running lists.
write_acl_conf 0666 "" "$C"
kill -HUP "$DAEMON_PID"
wait_for 10 sh -c "[ \$(grep -c reloaded '$T/tokend.log') -ge 3 ]" || true
write_acl_conf 0666 "" "$A crvstest-acl-no-such-user"
kill -HUP "$DAEMON_PID"
wait_for 10 grep -q 'reload failed' "$T/tokend.log" || true
check "a reload naming an unknown user fails, naming file, line and user" \
    grep -Eq "reload failed.*tokend.conf:[0-9]+: unknown user 'crvstest-acl-no-such-user'" "$T/tokend.log"
run_cli_as h4 "$C" users
check "after the failed reload the previous list still applies: c gets 'users'" test "$h4_rc" = 0
run_cli_as h5 "$A" users
check "after the failed reload a is still refused 'users'" test "$h5_rc" = 77

# --- socket mode and group: the outer gate ------------------------------------
stop_daemon
write_acl_conf 0660 "$G" "$A"
start_daemon
wait_for 10 "$TOKEN" open
st=$(stat -c '%a %G %U' "$SOCK")
check "socket_mode 0660, socket_group $G: stat says '660 $G root' ($st)" test "$st" = "660 $G root"
run_cli_as m1 "$C" open
check "c (not in $G) cannot connect: exit 69 or 77 ($m1_rc)" test "$m1_rc" = 77 -o "$m1_rc" = 69
check "and is told clearly why ($m1_err)" \
    sh -c "printf '%s' \"\$1\" | grep -q 'cannot reach crvs-tokend at $SOCK: Permission denied'" _ "$m1_err"
run_cli_as m2 "$A" open
check "a (not in $G) cannot connect either ($m2_rc)" test "$m2_rc" = 77 -o "$m2_rc" = 69
run_cli_as m3 "$B" open
check "b (supplementary member of $G) connects and gets 'open'" test "$m3_rc" = 0 -a -n "$m3_out"
run_cli_as m4 "$B" groups
check "b gets 'groups' through the 0660 socket" test "$m4_rc" = 0 -a -n "$m4_out"
remember_token "$m3_out"; remember_token "$m4_out"
run_cli_as m5 "$B" users
check "b still gets 'users' refused inside the socket (exit 77)" test "$m5_rc" = 77

check "no token in the daemon's log" no_known_token_in "$T/tokend.log"
check "nothing that looks like a JWT in the daemon's log" no_jwt_in "$T/tokend.log"
check "no token in any CLI's stderr" no_known_token_in "$T/cli-stderr.all"
check "the daemon is still running" daemon_alive
finish
