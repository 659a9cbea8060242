#!/bin/bash
# Proxies (issue 9, item 6). With http_proxy/ALL_PROXY in the daemon's
# environment, an http:// request to a loopback issuer, secret included,
# used to go to the proxy. A loopback issuer is now never proxied, while
# https_proxy is still honoured for an https:// issuer elsewhere (a CONNECT
# tunnel keeps TLS end to end).
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"

# A tiny proxy that records the first line of every request it gets and
# answers 502.
python3 - "$T/proxy.port" "$T/proxy.seen" "$T/proxy.raw" >"$T/proxy.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        data = c.recv(65536)
    except OSError:
        data = b""
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    with open(sys.argv[2], "a") as f:
        f.write(line + "\n")
    with open(sys.argv[3], "ab") as f:
        f.write(data)
    try:
        c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    except OSError:
        pass
    c.close()
PY
PIDS+=($!)
wait_for 10 test -s "$T/proxy.port" || { echo "the proxy did not start"; exit 1; }
PROXY=http://127.0.0.1:$(cat "$T/proxy.port")
: >"$T/proxy.seen"; : >"$T/proxy.raw"

start_issuer issuer --lifetime 600
{
	client_section loop4 "$ISSUER_PORT"
	client_section name "$ISSUER_PORT" | sed 's|127.0.0.1|localhost|'
	# An https:// issuer that only the proxy could reach.
	client_section far "$ISSUER_PORT" | sed 's|http://127.0.0.1:[0-9]*|https://issuer.crvs-test.invalid|'
} | write_conf

export http_proxy=$PROXY HTTP_PROXY=$PROXY https_proxy=$PROXY HTTPS_PROXY=$PROXY ALL_PROXY=$PROXY all_proxy=$PROXY
unset no_proxy NO_PROXY
start_daemon
check "the loopback client gets its token with the proxy variables set" wait_for 15 "$TOKEN" loop4
check "so does the one that names localhost" wait_for 15 "$TOKEN" name
check "the https:// issuer elsewhere is tried through the proxy (CONNECT)" \
    wait_for 15 grep -q "^CONNECT issuer.crvs-test.invalid:443 " "$T/proxy.seen"
check "and the proxy never saw a loopback request ($(grep -v '^CONNECT issuer.crvs-test.invalid' "$T/proxy.seen" | head -3 | tr '\n' '|'))" \
    sh -c "! grep -v '^CONNECT issuer.crvs-test.invalid:443 ' '$T/proxy.seen' | grep -q ."
basic=$(printf '%s:%s' "$CLIENT_ID" "$SECRET" | base64 -w0)
check "nor the secret, plain or in a Basic header" \
    sh -c "! grep -aqe '$SECRET' -e '$basic' '$T/proxy.raw'"
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY ALL_PROXY all_proxy

finish
