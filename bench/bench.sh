#!/bin/bash
# make bench: crvs-tokend side by side with what it replaces or competes
# with, in one run on this machine, printed as Markdown and written to
# bench/RESULTS.md. Loopback and Unix sockets only; bounded (about 5 minutes
# on an idle 2-core machine, 10 at most). Figures on a shared machine are
# noisy: every comparison is made in the same run, and ratios matter more
# than absolute numbers.
#
#   CLI latency     hyperfine: cat of a token file, crvs-token, oidc-token
#                   (oidc-agent, its token from oidc-provider), curl
#   Throughput      bench/loadgen against the daemon and nginx (one worker,
#                   the same bytes as static files, on a Unix socket) at 1,
#                   16 and 64 keep-alive connections, JSON and text/plain
#   Footprint       RssAnon and RSS at 1, 100, 1000 clients; CPU time and
#                   wake-ups over IDLE_SECONDS idle with 100 clients
#   Start-up        until 1,000 clients are valid, issuer 100 ms a request
#   Refresh storm   serve latency while 1,000 clients refresh at once
#
# Environment: REQUESTS (per throughput run, default 20000), REPEATS
# (default 3), IDLE_SECONDS (default 60), RUNS (hyperfine, default 200).
set -euo pipefail
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
REQUESTS=${REQUESTS:-20000} REPEATS=${REPEATS:-3}
IDLE_SECONDS=${IDLE_SECONDS:-60} RUNS=${RUNS:-200}
OUT=${BENCH_OUT:-$top_srcdir/bench/RESULTS.md}

# Bench-only tools are installed here, not by quickstart.sh.
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v oidc-agent >/dev/null || need+=(oidc-agent-cli)
command -v npm >/dev/null || need+=(nodejs npm)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	echo "bench: installing ${need[*]}" >&2
	apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi
make -s -C "$top_builddir" crvs-tokend crvs-token \
    tests/fake-issuer/fake-issuer tests/tools/json bench/loadgen

. "$top_srcdir/tests/integration/lib.sh"
LOG_LEVEL=warning
LOADGEN=$top_builddir/bench/loadgen
R=$T/results.md
: >"$R"
say() { printf '%s\n' "$*" | tee -a "$R"; }
# status_kb PID FIELD: a field of /proc/PID/status, in KiB.
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# cpu_ticks PID: user + system time (utime, stime of /proc/PID/stat).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
health_ok() {
	curl -sf --max-time 5 --unix-socket "$1" http://localhost/v1/health \
	    >/dev/null
}
# clients_conf N PORT: N client sections against one issuer.
clients_conf() {
	local i
	for i in $(seq "$1"); do
		client_section "c$i" "$2"
	done
}

# ---- the machine ----
start_cost=$(hyperfine -N --warmup 50 --runs 500 --export-json "$T/true.json" \
    true 2>/dev/null >/dev/null && python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1e3))' "$T/true.json")
say "# crvs-tokend benchmark"
say ""
say "$(date -u +%Y-%m-%d), $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), Linux $(uname -r), load average $(cut -d' ' -f1 /proc/loadavg) at the start."
say "Process start (\`hyperfine -N true\`, median): **$start_cost ms**."
say "Reproduce: \`make bench\` (bench/bench.sh)."
say ""

# ---- one daemon with one client, for the CLI and throughput ----
start_issuer issuer --lifetime 600
client_section demo "$ISSUER_PORT" | write_conf
start_daemon
wait_for 10 "$TOKEN" demo
"$TOKEN" demo >"$T/token.txt"
curl -sf --unix-socket "$SOCK" http://localhost/v1/clients/demo/token \
    >"$T/answer.json"
"$TOKEN" demo >"$T/answer.txt"

# ---- oidc-agent holding a token from oidc-provider, the same job ----
# The provider mints the refresh token a login would have given (see
# bench/oidc-agent-provider.mjs); oidc-gen sets the account up by the
# refresh flow; the agent then answers oidc-token from its cache.
oidc_agent_up() {
	local modules port
	modules=$(interop_node_dir)/node_modules || return 1
	mkdir -m 0700 "$T/oidc"
	node "$top_srcdir/bench/oidc-agent-provider.mjs" \
	    --node-modules "$modules" \
	    --port-file "$T/oidc/port" --rt-file "$T/oidc/rt" \
	    >"$T/oidc/provider.log" 2>&1 &
	PIDS+=($!)
	wait_for 30 test -s "$T/oidc/port" || { cat "$T/oidc/provider.log"; return 1; }
	port=$(cat "$T/oidc/port")
	export OIDC_CONFIG_DIR=$T/oidc/conf OIDC_SOCK=$T/oidc/agent.sock
	mkdir -m 0700 "$OIDC_CONFIG_DIR"
	oidc-agent -d --quiet --no-autoreauthenticate --socket-path="$OIDC_SOCK" \
	    </dev/null >"$T/oidc/agent.log" 2>&1 &
	PIDS+=($!)
	wait_for 10 test -S "$OIDC_SOCK" || { cat "$T/oidc/agent.log"; return 1; }
	OIDC_REFRESH_TOKEN=$(cat "$T/oidc/rt") OIDC_ENCRYPTION_PW=bench \
	    timeout 30 oidc-gen bench --issuer="http://127.0.0.1:$port" \
	    --client-id=bench --client-secret=bench-secret \
	    --scope="openid offline_access" --redirect-uri=http://localhost:4242/ \
	    --rt-env --pw-env --confirm-default --no-url-call --prompt=none \
	    </dev/null >"$T/oidc/gen.log" 2>&1 || { cat "$T/oidc/gen.log"; return 1; }
	timeout 10 oidc-token bench >/dev/null </dev/null
}
oidc=()
if oidc_agent_up; then
	oidc=(-n oidc-token "oidc-token bench")
	oidc_note="\`oidc-token\`: oidc-agent 4.2.6 holding an access token (lifetime 1 h) from oidc-provider on loopback, each call answered from the agent's cache, as crvs-token's are from the daemon's."
else
	oidc_note="\`oidc-token\` is missing from this table: oidc-agent could not be set up (its output is above)."
fi

say "## CLI latency (hyperfine, $RUNS runs)"
say ""
say "$oidc_note"
say ""
hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$T/cli.json" \
    -n cat "cat $T/token.txt" \
    -n crvs-token "$TOKEN -s $SOCK demo" \
    "${oidc[@]}" \
    -n "curl --unix-socket" "curl -s --unix-socket $SOCK -H 'Accept: text/plain' http://localhost/v1/clients/demo/token" \
    >"$T/hyperfine.txt" 2>&1 || { cat "$T/hyperfine.txt"; exit 1; }
python3 - "$T/cli.json" <<'PY' | tee -a "$R"
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = r["cat"]["median"]
print("| command | median ms | mean ms | vs cat |")
print("|---|---:|---:|---:|")
for name, x in r.items():
    print(f"| {name} | {x['median']*1e3:.2f} | {x['mean']*1e3:.2f} | {x['median']/base:.2f}x |")
PY
say ""

# ---- nginx, one worker, the same bytes as static files ----
mkdir -p "$T/www" "$T/nginx"
cp "$T/answer.json" "$T/www/token.json"
cp "$T/answer.txt" "$T/www/token.text"
NGINX_SOCK=$T/nginx.sock
cat >"$T/nginx.conf" <<EOF
worker_processes 1;
daemon off;
user root;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	keepalive_requests 1000000;
	server {
		listen unix:$NGINX_SOCK;
		root $T/www;
		location = /token.json { default_type application/json; add_header Cache-Control no-store; }
		location = /token.text { default_type "text/plain; charset=utf-8"; add_header Cache-Control no-store; }
	}
}
EOF
/usr/sbin/nginx -c "$T/nginx.conf" -e "$T/nginx/error.log" >"$T/nginx.log" 2>&1 &
PIDS+=($!)
wait_for 10 test -S "$NGINX_SOCK" || { echo "nginx did not start"; cat "$T/nginx.log" "$T/nginx/error.log"; exit 1; }

say "## Throughput of token GETs (bench/loadgen, keep-alive, $REQUESTS requests a run, median of $REPEATS)"
say ""
say "Answer sizes: JSON $(wc -c <"$T/answer.json") bytes, text/plain $(wc -c <"$T/answer.txt") bytes; nginx serves the same bytes from files."
say ""
for rep in $(seq "$REPEATS"); do
	for conns in 1 16 64; do
		for kind in json text; do
			if [ $kind = json ]; then hdr='Accept: application/json'; else hdr='Accept: text/plain'; fi
			echo "tokend $kind $conns $("$LOADGEN" -u "$SOCK" -t "$conns" -n "$REQUESTS" -H "$hdr" /v1/clients/demo/token)"
			echo "nginx $kind $conns $("$LOADGEN" -u "$NGINX_SOCK" -t "$conns" -n "$REQUESTS" -H "$hdr" /token.$kind)"
		done
	done
done >"$T/tput.txt"
python3 - "$T/tput.txt" <<'PY' | tee -a "$R"
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    d = dict(zip(f[3::2], f[4::2]))
    rows.setdefault((f[1], int(f[2]), f[0]), []).append(d)
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
print("| answer | connections | crvs-tokend req/s | nginx req/s | ratio | tokend p50/p99 ms | nginx p50/p99 ms | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for kind in ("json", "text"):
    for c in (1, 16, 64):
        t, n = rows[(kind, c, "tokend")], rows[(kind, c, "nginx")]
        err = sum(int(r["errors"]) for r in t + n)
        print(f"| {'JSON' if kind == 'json' else 'text/plain'} | {c} | {med(t,'rps'):.0f} | {med(n,'rps'):.0f} | "
              f"{med(t,'rps')/med(n,'rps'):.2f}x | {med(t,'p50_ms'):.3f} / {med(t,'p99_ms'):.3f} | "
              f"{med(n,'p50_ms'):.3f} / {med(n,'p99_ms'):.3f} | {err} |")
PY
say ""
stop_daemon

# ---- footprint ----
say "## Footprint (clients holding tokens, no connection open)"
say ""
say "| clients | RssAnon MiB | RSS MiB |"
say "|---:|---:|---:|"
for n in 1 100 1000; do
	clients_conf "$n" "$ISSUER_PORT" | write_conf
	start_daemon
	wait_for 120 health_ok "$SOCK" || { echo "bench: $n clients did not become valid"; exit 1; }
	# Let the loop settle (malloc_trim runs once all are valid).
	sleep 1
	say "| $n | $(mib "$(status_kb "$DAEMON_PID" RssAnon)") | $(mib "$(status_kb "$DAEMON_PID" VmRSS)") |"
	if [ "$n" = 100 ]; then
		c0=$(cpu_ticks "$DAEMON_PID")
		v0=$(status_kb "$DAEMON_PID" voluntary_ctxt_switches)
		n0=$(status_kb "$DAEMON_PID" nonvoluntary_ctxt_switches)
		sleep "$IDLE_SECONDS"
		c1=$(cpu_ticks "$DAEMON_PID")
		v1=$(status_kb "$DAEMON_PID" voluntary_ctxt_switches)
		n1=$(status_kb "$DAEMON_PID" nonvoluntary_ctxt_switches)
		idle="Idle for $IDLE_SECONDS s with 100 clients (tokens of 600 s, refreshes due after about 400 s): **$((v1 - v0)) wake-ups** (voluntary context switches), $((n1 - n0)) involuntary, CPU time $(( (c1 - c0) * 1000 / $(getconf CLK_TCK) )) ms."
	fi
	stop_daemon
done
say ""
say "$idle"
say ""

# ---- start-up and refresh storm: an issuer that takes 100 ms a request ----
# The upstream cap ([daemon] max_upstream, default 4 per issuer host) is in
# force: it protects the issuer, so N clients need at least N / 4 * 100 ms.
secs() { awk -v d="$1" 'BEGIN { printf "%.2f", d / 1e9 }'; }
issuer_post "$ISSUER_PORT" '/control/mode?mode=slow&delay=0.1' >/dev/null
say "## Start-up and refresh storm (issuer answers after 100 ms, max_upstream 4)"
say ""
say "| clients | valid after s | floor (n / 4 x 0.1 s) | s per client | upstream requests |"
say "|---:|---:|---:|---:|---:|"
for n in 250 500 1000; do
	{ client_section demo "$ISSUER_PORT"; clients_conf $((n - 1)) "$ISSUER_PORT"; } | write_conf
	issuer_post "$ISSUER_PORT" /control/reset-stats >/dev/null
	t0=$(date +%s%N)
	start_daemon
	wait_for 300 health_ok "$SOCK" || { echo "bench: $n slow clients did not become valid"; exit 1; }
	t1=$(date +%s%N)
	say "| $n | $(secs $((t1 - t0))) | $(awk -v n="$n" 'BEGIN { printf "%.2f", n / 4 * 0.1 }') | $(awk -v d=$((t1 - t0)) -v n="$n" 'BEGIN { printf "%.4f", d / 1e9 / n }') | $(issuer_stat "$ISSUER_PORT" requests) |"
	[ "$n" = 1000 ] || stop_daemon
done
peak=$(status_kb "$DAEMON_PID" VmHWM)
say ""
say "At 1,000: peak RSS $(mib "$peak") MiB, RssAnon after $(mib "$(status_kb "$DAEMON_PID" RssAnon)") MiB."
say ""
# The storm: a reload that changes every other client's settings (a new
# scope makes each a new client, so all 999 fetch at once, queued behind the
# cap) while load runs on "demo", which is unchanged and stays valid. The
# load starts once the issuer has seen the first storm request (the reload's
# parse is over) and must end before the last: the issuer's own count says
# whether the storm really ran under the load.
q1=$("$LOADGEN" -u "$SOCK" -t 1 -n "$REQUESTS" /v1/clients/demo/token)
q16=$("$LOADGEN" -u "$SOCK" -t 16 -n "$REQUESTS" /v1/clients/demo/token)
{ client_section demo "$ISSUER_PORT"
  for i in $(seq 999); do client_section "c$i" "$ISSUER_PORT" 'scope = storm'; done
} | write_conf
before=$(issuer_stat "$ISSUER_PORT" requests)
kill -HUP "$DAEMON_PID"
wait_for 60 issuer_requests_ge "$ISSUER_PORT" $((before + 1)) || { echo "bench: the reload started no fetch"; exit 1; }
r0=$(( $(issuer_stat "$ISSUER_PORT" requests) - before ))
s1=$("$LOADGEN" -u "$SOCK" -t 1 -n "$REQUESTS" /v1/clients/demo/token)
s16=$("$LOADGEN" -u "$SOCK" -t 16 -n "$REQUESTS" /v1/clients/demo/token)
r1=$(( $(issuer_stat "$ISSUER_PORT" requests) - before ))
wait_for 300 health_ok "$SOCK" || { echo "bench: the storm's clients did not become valid again"; exit 1; }
rall=$(( $(issuer_stat "$ISSUER_PORT" requests) - before ))
if [ "$r1" -lt 999 ]; then inside="the storm was still running when the load ended"; else inside="**the storm ended before the load did: the figures below are not a storm's**"; fi
say "Refresh storm: a reload changes the scope of 999 clients; the issuer counted $r0 of their requests when the load started and $r1 when it ended ($inside); all $rall answered, every client valid again."
say ""
say "| load on one valid client (text/plain) | connections | req/s | p50 ms | p99 ms | errors |"
say "|---|---:|---:|---:|---:|---:|"
for row in "quiet:1:$q1" "quiet:16:$q16" "999 clients refreshing:1:$s1" "999 clients refreshing:16:$s16"; do
	name=${row%%:*} rest=${row#*:}
	c=${rest%%:*} f=${rest#*:}
	say "| $name | $c | $(awk '{print $8}' <<<"$f") | $(awk '{print $10}' <<<"$f") | $(awk '{print $12}' <<<"$f") | $(awk '{print $4}' <<<"$f") |"
done
say ""
stop_daemon

cp "$R" "$OUT"
echo "bench: wrote $OUT" >&2
FAILED=0
