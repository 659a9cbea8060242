#!/bin/bash
# A token with a 4-second lifetime is refreshed before it expires, and no
# request ever gets a token the gateway would refuse. The answers are
# watched by the sampler (one keep-alive connection, an answer every
# 100 ms), each judged by the token's own exp against the issuer's clock
# when it was served; how often the token was replaced comes from the
# daemon's own counter and the issuer's request count.
. "$(dirname "$0")/lib.sh"

LIFETIME=4
MIN_VALID=1
WINDOW=$((LIFETIME * 7 / 2))	# three and a half lifetimes

start_issuer issuer --lifetime "$LIFETIME"
client_section demo "$ISSUER_PORT" "min_valid = $MIN_VALID" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo

# The CLI itself: a token with at least min_valid left, which the gateway
# takes at once.
run_cli j -j demo
check "crvs-token -j prints a token with at least min_valid left (exit $j_rc)" \
    test "$j_rc" = 0 -a "$(jnum "$j_out" expires_in)" -ge "$MIN_VALID"
check "the gateway accepts it" gateway_accepts "$ISSUER_PORT" "$(jstr "$j_out" access_token)"

r0=$(daemon_refreshes "$SOCK" demo)
q0=$(issuer_stat "$ISSUER_PORT" requests)
start=$(now_ms)
sample "$SOCK" demo "$T/watch" -i 100 -d $((WINDOW * 1000)) \
    -g "$ISSUER_PORT"
elapsed=$(( ($(now_ms) - start) / 1000 ))
r1=$(daemon_refreshes "$SOCK" demo)
q1=$(issuer_stat "$ISSUER_PORT" requests)
note "sampler: $(cat "$T/watch.summary")"
note "$((r1 - r0)) refreshes and $((q1 - q0)) upstream requests in $elapsed s"
check "every answer was a token ($S_answers answers: $S_unavail without a token, $S_other other)" \
    test "$S_answers" -ge 1 -a "$S_unavail" = 0 -a "$S_other" = 0
check "no answer had less than min_valid left ($S_short), nor claimed more than its exp leaves ($S_overclaim) or far less ($S_underclaim)" \
    test "$S_short" = 0 -a "$S_overclaim" = 0 -a "$S_underclaim" = 0
check "the gateway accepted each new token when it was first served ($S_check_failed of $S_distinct refused)" \
    test "$S_check_failed" = 0
check "the token was replaced before each expiry: $((r1 - r0)) refreshes in $elapsed s of ${LIFETIME}-second tokens" \
    test $((r1 - r0)) -ge $((elapsed / LIFETIME))
check "consumers were served the new tokens ($S_distinct distinct in $elapsed s)" \
    test "$S_distinct" -ge $((elapsed / LIFETIME + 1))
# About one refresh a second (3 s tokens, refreshed with 2 s left); a
# refresh loop would show as hundreds.
check "refreshing did not hammer the issuer ($((q1 - q0)) requests in $elapsed s)" \
    test $((q1 - q0)) -le $((elapsed * 4 + 4))
check "the daemon logged the refreshes" grep -q 'new token' "$T/tokend.log"
finish
