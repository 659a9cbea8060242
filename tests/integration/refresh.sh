#!/bin/bash
# A token with a 4-second lifetime is refreshed before it expires, and no
# request ever gets a token the gateway would refuse.
. "$(dirname "$0")/lib.sh"

start_issuer issuer --lifetime 4
client_section demo "$ISSUER_PORT" "min_valid = 1" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo

declare -A seen=()
samples=0 bad=0 short=0
# At least 14 s (several lifetimes) and 40 samples, whatever the load on
# the machine; 90 s at most.
start=$(date +%s)
while { [ $(( $(date +%s) - start )) -lt 14 ] || [ "$samples" -lt 40 ]; } &&
    [ $(( $(date +%s) - start )) -lt 90 ]; do
	out=$("$TOKEN" -j demo) || { bad=$((bad + 1)); continue; }
	tok=$(printf '%s' "$out" | json_field access_token)
	left=$(printf '%s' "$out" | json_field expires_in)
	samples=$((samples + 1))
	[ "$left" -ge 1 ] || short=$((short + 1))
	gateway_accepts "$ISSUER_PORT" "$tok" || bad=$((bad + 1))
	seen[$tok]=1
	sleep 0.1
done
requests=$(issuer_stat "$ISSUER_PORT" requests)
echo "$TEST_NAME: $samples samples, ${#seen[@]} distinct tokens, $requests upstream requests"
check "many samples were taken" test "$samples" -ge 40
check "no sample was refused by the gateway or failed ($bad)" test "$bad" = 0
check "no sample had less than min_valid left ($short)" test "$short" = 0
elapsed=$(( $(date +%s) - start ))
check "the token was replaced at least 4 times in ${elapsed} s" test "${#seen[@]}" -ge 4
# About one refresh a second (3 s tokens, refreshed with 2 s left); a
# refresh loop would show as hundreds.
check "refreshing did not hammer the issuer ($requests requests in ${elapsed} s)" \
    test "$requests" -le $((elapsed * 4 + 4))
check "the daemon logged the refreshes" grep -q 'new token' "$T/tokend.log"
finish
