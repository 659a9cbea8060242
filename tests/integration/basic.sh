#!/bin/bash
# The daemon serves the token the issuer minted, over the CLI and over plain
# HTTP on the socket.
. "$(dirname "$0")/lib.sh"

start_issuer issuer --lifetime 600
# refresh_min_interval = 0: a forced refresh right after the first fetch
# must reach the issuer here (refresh-limit.sh tests the limit).
client_section demo "$ISSUER_PORT" "refresh_min_interval = 0" | write_conf
start_daemon

run_cli a demo
check "crvs-token prints a token and exits 0" test "$a_rc" = 0 -a -n "$a_out"
check "the printed token is one the issuer minted and its gateway accepts" \
    gateway_accepts "$ISSUER_PORT" "$a_out"
sub=$(printf '%s' "$a_out" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null | json_field sub || true)
check "the token's subject is the configured client id" test "$sub" = "$CLIENT_ID"
check "exactly one upstream request for one client" test "$(issuer_stat "$ISSUER_PORT" requests)" = 1

run_cli b get demo
check "'get demo' prints the same token" test "$b_out" = "$a_out"
run_cli h -H demo
check "-H prints an Authorization header" test "$h_out" = "Authorization: Bearer $a_out"
t_before=$(date +%s)
run_cli j -j demo
t_after=$(date +%s)
check "-j prints JSON with the same access_token" \
    test "$(printf '%s' "$j_out" | json_field access_token)" = "$a_out"
check "-j says token_type Bearer" test "$(printf '%s' "$j_out" | json_field token_type)" = Bearer
# Judged by the token's own exp (the issuer shares this machine's clock),
# not by how long the commands above took: the daemon may be up to 3 s
# conservative (the issuer's Date has whole seconds), never generous.
exp=$(jwt_claim "$a_out" exp)
exp_in=$(printf '%s' "$j_out" | json_field expires_in)
check "expires_in is what the token's exp leaves when asked ($exp_in s; exp - now: $((exp - t_before)) s)" \
    test "$exp_in" -le $((exp - t_before)) -a "$exp_in" -ge $((exp - t_after - 3))
exp_at=$(printf '%s' "$j_out" | json_field expires_at)
check "expires_at is the token's exp, at most 3 s earlier ($((exp - exp_at)) s)" \
    test $((exp - exp_at)) -ge 0 -a $((exp - exp_at)) -le 3

curl_tok=$(curl -sf --unix-socket "$SOCK" -H 'Accept: text/plain' http://localhost/v1/clients/demo/token)
check "curl --unix-socket with Accept: text/plain gets the token" test "$curl_tok" = "$a_out"
code=$(curl -s -o "$T/health" -w '%{http_code}' --unix-socket "$SOCK" http://localhost/v1/health)
check "GET /v1/health answers 200 ok" test "$code" = 200 -a "$(json_field status <"$T/health")" = ok
curl -sf --unix-socket "$SOCK" http://localhost/v1/clients/demo >"$T/status"
check "GET /v1/clients/demo says state valid" test "$(json_field state <"$T/status")" = valid
check "the status never holds the token" sh -c "! grep -qF '$a_out' '$T/status'"
curl -sf --unix-socket "$SOCK" http://localhost/v1/clients >"$T/clients"
check "GET /v1/clients lists demo" grep -q '"name":"demo"' "$T/clients"
curl -sf --unix-socket "$SOCK" http://localhost/metrics >"$T/metrics"
check "/metrics has Prometheus text for demo" grep -q '^crvs_tokend_token_servable{client="demo"} 1$' "$T/metrics"
run_cli s status
check "'crvs-token status' shows demo valid" sh -c "printf '%s' \"\$1\" | grep -Eq '^demo +valid'" _ "$s_out"
run_cli hl health
check "'crvs-token health' exits 0" test "$hl_rc" = 0

# Many reads, one upstream request.
for _ in $(seq 50); do "$TOKEN" demo >/dev/null; done
check "50 more reads cause no upstream request" test "$(issuer_stat "$ISSUER_PORT" requests)" = 1

run_cli f refresh demo
check "'refresh demo' prints a token" test "$f_rc" = 0 -a -n "$f_out"
check "a forced refresh asks the issuer once more" test "$(issuer_stat "$ISSUER_PORT" requests)" = 2

check "no token or secret in the daemon's log" \
    sh -c "! grep -qF -e '$a_out' -e '$SECRET' '$T/tokend.log'"

stop_daemon
check "SIGTERM stops the daemon cleanly (exit $DAEMON_RC)" test "$DAEMON_RC" = 0
check "SIGTERM removes the socket" test ! -e "$SOCK"
finish
