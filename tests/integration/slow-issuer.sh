#!/bin/bash
# An issuer so slow that its tokens arrive with less than min_valid left:
# they can never be served, so the daemon must back off instead of asking
# again and again, and say why.
. "$(dirname "$0")/lib.sh"

start_issuer issuer --lifetime 8
issuer_post "$ISSUER_PORT" '/control/mode?mode=slow&delay=4' >/dev/null
client_section demo "$ISSUER_PORT" "min_valid = 5" | write_conf
start_daemon
wait_for 15 sh -c "curl -sf --unix-socket '$SOCK' http://x/v1/clients/demo | grep -q '\"last_error\":\"'"
curl -sf --unix-socket "$SOCK" http://x/v1/clients/demo >"$T/status"
check "status names the problem (arrived with less than min_valid)" \
    grep -q 'arrived with [0-9]* s, not more than min_valid' "$T/status"
check "status classifies it as a bad response" grep -q '"error_class":"bad response"' "$T/status"
run_cli a demo
check "crvs-token exits 75 and prints nothing" test "$a_rc" = 75 -a -z "$a_out"
# Before the fix such a token was installed with its refresh due in the
# past: refetched back to back, no failure counted, nothing in status.
check "it counts as a failure with a backoff step" \
    grep -Eq 'demo: token request failed \(bad answer by issuer \(HTTP 200\): the token arrived with .*retry 1 in' "$T/tokend.log"
check "status counts the failure" grep -q '"consecutive_failures":[1-9]' "$T/status"
issuer_post "$ISSUER_PORT" '/control/mode?mode=ok' >/dev/null
check "once the issuer is fast again, a token is served within the backoff" \
    wait_for 70 "$TOKEN" demo
check "the daemon is still running" daemon_alive
finish
