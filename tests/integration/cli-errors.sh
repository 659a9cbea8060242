#!/bin/bash
# The CLI's exit codes (sysexits) and messages, as SPEC.md fixes them.
. "$(dirname "$0")/lib.sh"

run_cli m demo
check "no daemon: exit 69" test "$m_rc" = 69
check "no daemon: the message names the socket" sh -c "printf '%s' \"\$1\" | grep -q 'cannot reach crvs-tokend at $SOCK'" _ "$m_err"

run_cli u
check "no arguments: exit 64" test "$u_rc" = 64
run_cli u2 get
check "'get' without a client: exit 64" test "$u2_rc" = 64
run_cli u3 'bad/name'
check "an invalid client name: exit 64" test "$u3_rc" = 64
run_cli u4 -m -5 demo
check "a negative --min-valid: exit 64" test "$u4_rc" = 64
run_cli u5 --rejected demo
check "--rejected without refresh: exit 64" test "$u5_rc" = 64
run_cli hv --help
check "--help exits 0 and shows the usage" sh -c "[ $hv_rc = 0 ] && printf '%s' \"\$1\" | grep -q '^usage: crvs-token'" _ "$hv_out"
run_cli v -V
check "-V prints the version" sh -c "printf '%s' \"\$1\" | grep -q '^crvs-token [0-9]'" _ "$v_out"

# The rejected client gets an issuer of its own: its retries must not
# count against demo's.
start_issuer rej --lifetime 600
start_issuer issuer --lifetime 600
# A port that nothing listens on: bind one, note it, close it.
dead_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
	client_section demo "$ISSUER_PORT"
	client_section down "$dead_port" "timeout = 2"
	client_section refused "$rej_PORT"
} | write_conf
# The issuer does not know this secret: 401 invalid_client.
write_secret refused wrong-secret
start_daemon
wait_for 10 "$TOKEN" demo

run_cli k nope
check "an unknown client: exit 67" test "$k_rc" = 67
check "an unknown client: the message names it" sh -c "printf '%s' \"\$1\" | grep -q \"no client 'nope'\"" _ "$k_err"

wait_for 10 sh -c "curl -sf --unix-socket '$SOCK' http://x/v1/clients/down | grep -q '\"last_error\":\"'"
run_cli d down
check "an unreachable issuer: exit 75" test "$d_rc" = 75
check "an unreachable issuer: the message says why" \
    sh -c "printf '%s' \"\$1\" | grep -Eiq 'connect|refused'" _ "$d_err"
check "an unreachable issuer: nothing on stdout" test -z "$d_out"

run_cli r refused
check "a rejected client: exit 75" test "$r_rc" = 75
check "a rejected client: the message says rejected, HTTP 401" \
    sh -c "printf '%s' \"\$1\" | grep -q 'rejected by issuer (HTTP 401)'" _ "$r_err"
run_cli rs status refused
check "status shows the rejected state" sh -c "printf '%s' \"\$1\" | grep -Eq '^refused +rejected'" _ "$rs_out"

run_cli hl health
check "health with a failing client: exit 75" test "$hl_rc" = 75
run_cli ok demo
check "the healthy client is still served: exit 0" test "$ok_rc" = 0

run_cli mv -m 100000 demo
check "--min-valid beyond the limit: exit 64" test "$mv_rc" = 64
run_cli lm -m 3000 -t 5 demo
check "a min_valid that no token can meet: exit 75" test "$lm_rc" = 75
check "... and the message explains the lifetime" sh -c "printf '%s' \"\$1\" | grep -q 'tokens live'" _ "$lm_err"
before=$(issuer_stat "$ISSUER_PORT" requests)
for _ in 1 2 3; do "$TOKEN" -m 3000 demo >/dev/null 2>&1 || true; done
check "... and asking again does not load the issuer" test "$(issuer_stat "$ISSUER_PORT" requests)" = "$before"

check "the daemon is still running" daemon_alive
finish
