#!/bin/bash
# One fetch per client at a time: 200 callers at a cold start cause one
# upstream request; 100 consumers reporting the same rejected token cause one
# refresh and never get that token back.
. "$(dirname "$0")/lib.sh"

start_issuer issuer --lifetime 600
issuer_post "$ISSUER_PORT" '/control/mode?mode=slow&delay=2' >/dev/null
client_section demo "$ISSUER_PORT" | write_conf
start_daemon

mkdir "$T/out"
seq 200 | xargs -P 200 -I{} sh -c '"$1" demo >"$2/out/{}" 2>&1; echo $? >"$2/out/{}.rc"' _ "$TOKEN" "$T"
check "all 200 callers exited 0" test "$(cat "$T"/out/*.rc | sort -u)" = 0
check "all 200 callers printed the same token" test "$(cat "$T"/out/[0-9] "$T"/out/[0-9][0-9] "$T"/out/[0-9][0-9][0-9] | sort -u | wc -l)" = 1
check "the issuer saw exactly one request" test "$(issuer_stat "$ISSUER_PORT" requests)" = 1
old=$(cat "$T/out/1")

issuer_post "$ISSUER_PORT" '/control/mode?mode=ok' >/dev/null
before=$(issuer_stat "$ISSUER_PORT" requests)
rm -rf "$T/out"; mkdir "$T/out"
seq 100 | xargs -P 100 -I{} sh -c 'printf "%s\n" "$3" | "$1" refresh --rejected demo >"$2/out/{}" 2>&1; echo $? >"$2/out/{}.rc"' _ "$TOKEN" "$T" "$old"
after=$(issuer_stat "$ISSUER_PORT" requests)
new=$(cat "$T/out/1")
check "all 100 reporters exited 0" test "$(cat "$T"/out/*.rc | sort -u)" = 0
check "all 100 reporters got the same new token" test "$(cat "$T"/out/[0-9] "$T"/out/[0-9][0-9] "$T"/out/100 | sort -u | wc -l)" = 1
check "the new token differs from the rejected one" test "$new" != "$old"
# OpenCRVS re-mints the same string within a second: one retry may be needed.
check "one refresh, at most one re-ask ($((after - before)) requests)" test $((after - before)) -ge 1 -a $((after - before)) -le 2
run_cli again refresh --rejected demo <<<"$old"
check "reporting the old token again hands out the current one, no request" \
    test "$again_out" = "$new" -a "$(issuer_stat "$ISSUER_PORT" requests)" = "$after"
finish
