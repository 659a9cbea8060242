#!/bin/bash
# How long does a cron job wait for its token? crvs-token side by side with
# cat (reading the token from a file: the floor), curl over the daemon's
# socket, and asking the token endpoint directly (what each script would do
# without the daemon; the real OpenCRVS adds 0.1-0.2 s of bcrypt to that).
# One hyperfine run, medians and ratios: the machines are shared and noisy.
#
#   bench/cli-startup.sh [RUNS]        (needs hyperfine and a built tree)
set -euo pipefail
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
runs=${1:-300}
command -v hyperfine >/dev/null || { echo "bench: hyperfine is not installed (apt-get install hyperfine)"; exit 1; }
make -s -C "$top_builddir" crvs-tokend crvs-token tests/fake-issuer/fake-issuer
. "$top_srcdir/tests/integration/lib.sh"
LOG_LEVEL=warning
start_issuer issuer --lifetime 600
client_section demo "$ISSUER_PORT" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo
"$TOKEN" demo >"$T/token.txt"

hyperfine -N --warmup 30 --runs "$runs" --export-json "$T/bench.json" \
    -n cat "cat $T/token.txt" \
    -n crvs-token "$TOKEN -s $SOCK demo" \
    -n "curl --unix-socket" "curl -s --unix-socket $SOCK -H 'Accept: text/plain' http://localhost/v1/clients/demo/token" \
    -n "curl to the token endpoint" "curl -s -X POST -H 'Content-Type: application/json' -d '{\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\",\"client_secret\":\"$SECRET\"}' http://127.0.0.1:$ISSUER_PORT/auth/token" \
    >"$T/hyperfine.txt" 2>&1 || { cat "$T/hyperfine.txt"; exit 1; }
python3 - "$T/bench.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = r["cat"]["median"]
print(f"{'command':30} {'median':>10} {'mean':>10} {'vs cat':>8}")
for name, x in r.items():
    print(f"{name:30} {x['median']*1e3:8.2f}ms {x['mean']*1e3:8.2f}ms {x['median']/base:7.2f}x")
PY
FAILED=0
