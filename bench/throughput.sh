#!/bin/bash
# Many local consumers at once: requests per second and latency of the
# daemon's socket, side by side with each consumer asking the token endpoint
# itself (the test token server, which unlike OpenCRVS does no bcrypt).
# Bounded: REQUESTS requests per run (default 20000), THREADS concurrent
# connections (default 32). Prints medians of RUNS runs (default 3).
set -euo pipefail
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
REQUESTS=${REQUESTS:-20000} THREADS=${THREADS:-32} RUNS=${RUNS:-3}
make -s -C "$top_builddir" crvs-tokend crvs-token tests/fake-issuer/fake-issuer bench/loadgen
. "$top_srcdir/tests/integration/lib.sh"
LOG_LEVEL=warning
start_issuer issuer --lifetime 600
client_section demo "$ISSUER_PORT" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo
LOADGEN=$top_builddir/bench/loadgen
body="{\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\",\"client_secret\":\"$SECRET\"}"
for r in $(seq "$RUNS"); do
	"$LOADGEN" -u "$SOCK" -t "$THREADS" -n "$REQUESTS" /v1/clients/demo/token | sed 's/^/daemon /'
	"$LOADGEN" -p "$ISSUER_PORT" -t "$THREADS" -n "$REQUESTS" -m POST -b "$body" -H 'Accept: application/json' /auth/token | sed 's/^/issuer /'
done >"$T/runs.txt"
python3 - "$T/runs.txt" "$(issuer_stat "$ISSUER_PORT" requests)" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    d = dict(zip(f[1::2], f[2::2]))
    rows.setdefault(f[0], []).append(d)
print(f"{'target':8} {'rps (median)':>13} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
med = {}
for name, rs in rows.items():
    med[name] = statistics.median(float(r["rps"]) for r in rs)
    print(f"{name:8} {med[name]:13.0f} {statistics.median(float(r['p50_ms']) for r in rs):8.3f} "
          f"{statistics.median(float(r['p99_ms']) for r in rs):8.3f} {sum(int(r['errors']) for r in rs):7d}")
print(f"daemon/issuer throughput ratio: {med['daemon']/med['issuer']:.1f}x")
print(f"upstream token requests caused by the daemon runs: {int(sys.argv[2]) - int(sum(int(r['requests']) for r in rows['issuer']))}")
PY
FAILED=0
