#!/bin/bash
# crvs-tokend --probe against the test token server, in each failure mode an
# operator meets: a wrong secret, an OpenCRVS 1.x issuer refusing a body, an
# issuer that is unreachable, a TLS failure, a slow issuer; and success. Each
# run prints a verdict per client and exits 0 only when every client got a
# usable token. The probe opens no socket, and shows neither the secret nor
# the token.
. "$(dirname "$0")/lib.sh"

for tool in openssl python3; do
	command -v "$tool" >/dev/null || { echo "SKIP: $TEST_NAME: needs $tool"; exit 77; }
done

start_issuer plain --lifetime 600
start_issuer v1 --lifetime 600 --v1 --gateway
start_issuer skewed --lifetime 900 --skew 120
start_issuer slow --lifetime 600

# A self-signed certificate for 127.0.0.1, and an issuer that serves it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T/tls.key" \
    -out "$T/tls.crt" >"$T/openssl.log" 2>&1
start_issuer tls --lifetime 600 --tls "$T/tls.crt" "$T/tls.key"

# A port that is bound but not listening: connections are refused, and no
# one else can take it while the test runs.
python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True); time.sleep(600)' >"$T/closed.port" &
PIDS+=("$!")
wait_for 10 test -s "$T/closed.port"
CLOSED_PORT=$(cat "$T/closed.port")

# The slow issuer answers after 30 s; the probing client waits 2 s.
issuer_post "$slow_PORT" '/control/mode?mode=slow&delay=30' >/dev/null

{
	client_section good "$plain_PORT"
	client_section wrong "$plain_PORT"
	client_section v1json "$v1_PORT" "request_format = json"
	client_section v1query "$v1_PORT" "request_format = query"
	client_section skewed "$skewed_PORT"
	client_section closed "$CLOSED_PORT"
	client_section slow "$slow_PORT" "timeout = 2"
	printf '[client tlsbad]\ntoken_url = https://127.0.0.1:%s/auth/token\nclient_id = %s\nclient_secret_file = %s\n' \
	    "$tls_PORT" "$CLIENT_ID" "$T/good.secret"
	printf '[client tlsgood]\ntoken_url = https://127.0.0.1:%s/auth/token\nclient_id = %s\nclient_secret_file = %s\nca_file = %s\n' \
	    "$tls_PORT" "$CLIENT_ID" "$T/good.secret" "$T/tls.crt"
	# Plain HTTP where https:// was configured: no TLS at all.
	printf '[client nottls]\ntoken_url = https://127.0.0.1:%s/auth/token\nclient_id = %s\nclient_secret_file = %s\n' \
	    "$plain_PORT" "$CLIENT_ID" "$T/good.secret"
} | write_conf
write_secret wrong not-the-secret

# probe NAME CLIENT...: runs the probe; ${NAME}_out, ${NAME}_err, ${NAME}_rc.
probe() {
	local p=$1 rc=0
	shift
	"$TOKEND" -c "$T/tokend.conf" --probe "$@" >"$T/probe-$p.out" 2>"$T/probe-$p.err" || rc=$?
	cat "$T/probe-$p.out" "$T/probe-$p.err" >>"$T/probe.log"
	printf -v "${p}_out" '%s' "$(cat "$T/probe-$p.out")"
	printf -v "${p}_err" '%s' "$(cat "$T/probe-$p.err")"
	printf -v "${p}_rc" '%s' "$rc"
}
# has TEXT PATTERN: TEXT has a line matching the extended regex PATTERN.
has() { grep -Eq -- "$2" <<<"$1"; }
# clock_shown TEXT SECONDS: the probe's report TEXT puts the issuer's clock
# SECONDS ahead of ours (0: in step). The probe estimates the offset from
# Date (whole seconds) against the middle of its request, so its figure
# may be off by half a second plus half the round trip it reports ("after
# N s"), then rounded: a loaded machine's round trip widens the bound, and
# does not change the verdict. Sets CLOCK_SEEN, for the check's text.
clock_shown() {
	local shown rtt r ds slop
	shown=$(sed -nE 's/^  issuer clock: +([0-9]+) s ahead of ours.*/\1/p; s/^  issuer clock: +([0-9]+) s behind ours.*/-\1/p; s/^  issuer clock: +in step with ours.*/0/p' <<<"$1")
	rtt=$(sed -nE 's/^  HTTP status: +200, after ([0-9]+\.[0-9]) s$/\1/p' <<<"$1")
	r=${rtt:-0.0}
	ds=$(( 10#${r%.*}${r#*.} ))		# tenths of a second
	slop=$(( 1 + (ds + 19) / 20 ))		# 1 s + rtt / 2, rounded up
	CLOCK_SEEN="shown: ${shown:-none}; round trip ${rtt:-?} s, so $2 +/- $slop"
	[ -n "$shown" ] && [ -n "$rtt" ] &&
	    [ "$shown" -ge $(($2 - slop)) ] && [ "$shown" -le $(($2 + slop)) ]
}

probe ok good
check "success: exit 0 ($ok_rc)" test "$ok_rc" = 0
check "success: HTTP 200" has "$ok_out" '^  HTTP status: +200,'
check "success: the verdict is OK" has "$ok_out" '^  verdict: +OK: a usable token'
check "success: the token's lifetime, from its claims" has "$ok_out" '^  token: +JWT, lifetime 59[89] s'
check "success: its scopes, from its claims" has "$ok_out" '^  scopes: +record\.notify\[event=birth\|death\]$'
rc=0; clock_shown "$ok_out" 0 || rc=1
check "success: the issuer's clock is in step ($CLOCK_SEEN)" test "$rc" = 0
check "success: one of one usable" has "$ok_out" '^1 of 1 client got a usable token$'
check "success: the issuer saw exactly one request" test "$(issuer_stat "$plain_PORT" requests)" = 1
check "no socket was created" test ! -e "$SOCK"

probe wrong wrong
check "wrong secret: exit 1 ($wrong_rc)" test "$wrong_rc" = 1
check "wrong secret: HTTP 401" has "$wrong_out" '^  HTTP status: +401,'
check "wrong secret: the issuer's own words" has "$wrong_out" '^  issuer said: +invalid_client: Invalid client id or secret'
check "wrong secret: the verdict says refused" has "$wrong_out" '^  verdict: +FAILED: the issuer refused the request \(HTTP 401\)'

probe v1 v1json v1query
check "1.x, json and query: exit 1, one failed ($v1_rc)" test "$v1_rc" = 1
check "1.x: json gets 400 unsupported_grant_type" has "$v1_out" '^  issuer said: +unsupported_grant_type: Grant type must be client_credentials$'
check "1.x: json gets the hint to use request_format = query" has "$v1_out" '^  hint: +OpenCRVS 1\.x reads its parameters from the URL.s query string only: set request_format = query'
check "1.x: the hint says what query means for the secret" has "$v1_out" 'secret then travels in the URL.*access logs'
check "1.x: query gets a usable token" \
    sh -c 'printf "%s\n" "$1" | sed -n "/^client v1query/,/verdict/p" | grep -q "verdict: *OK"' _ "$v1_out"
check "1.x: one of two usable" has "$v1_out" '^1 of 2 clients got a usable token$'

probe skew skewed
check "skewed issuer: exit 0 ($skew_rc)" test "$skew_rc" = 0
rc=0; clock_shown "$skew_out" 120 || rc=1
check "skewed issuer: its clock is 120 s ahead ($CLOCK_SEEN)" test "$rc" = 0
check "skewed issuer: lifetime judged by its Date" has "$skew_out" '^  token: +JWT, lifetime 89[89] s \(judged by Date\)'

probe closed closed
check "unreachable: exit 1 ($closed_rc)" test "$closed_rc" = 1
check "unreachable: no HTTP status" has "$closed_out" '^  HTTP status: +none'
check "unreachable: the verdict says so" has "$closed_out" '^  verdict: +FAILED: the issuer is unreachable'

probe tlsbad tlsbad
check "TLS, unknown CA: exit 1 ($tlsbad_rc)" test "$tlsbad_rc" = 1
check "TLS, unknown CA: curl's words name the certificate" has "$tlsbad_out" '^  transport: .*certificate'
check "TLS, unknown CA: the verdict says TLS failed" has "$tlsbad_out" '^  verdict: +FAILED: the TLS handshake with the issuer failed'

probe nottls nottls
check "TLS to a plain HTTP server: exit 1 ($nottls_rc)" test "$nottls_rc" = 1
check "TLS to a plain HTTP server: the verdict says TLS failed" has "$nottls_out" '^  verdict: +FAILED: the TLS handshake with the issuer failed'

probe tlsgood tlsgood
check "TLS with ca_file: exit 0 ($tlsgood_rc)" test "$tlsgood_rc" = 0
check "TLS with ca_file: a usable token" has "$tlsgood_out" '^  verdict: +OK'

start=$(date +%s%N)
probe slow slow
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "slow issuer: exit 1 ($slow_rc)" test "$slow_rc" = 1
check "slow issuer: the verdict names the timeout" has "$slow_out" '^  verdict: +FAILED: the issuer did not answer within timeout \(2 s\)'
check "slow issuer: the probe gave up with the client's timeout, not the issuer's 30 s ($ms ms)" test "$ms" -lt 25000

# Every client at once: all are reported, in configuration order.
probe all
check "all clients: exit 1 ($all_rc)" test "$all_rc" = 1
check "all clients: 4 of 10 usable" has "$all_out" '^4 of 10 clients got a usable token$'
check "all clients: a verdict for each" test "$(grep -c '^  verdict: ' <<<"$all_out")" = 10
check "all clients: in configuration order" test "$(grep -o '^client [a-z0-9]*' <<<"$all_out" | tr '\n' ' ')" = \
    "client good client wrong client v1json client v1query client skewed client closed client slow client tlsbad client tlsgood client nottls "

probe unknown good nosuch
check "an unknown client: exit 64 ($unknown_rc)" test "$unknown_rc" = 64
check "an unknown client: named on stderr" has "$unknown_err" "no client 'nosuch'"

check "--probe with --check-config is a usage error" sh -c '! "$1" -c "$2" --probe --check-config >/dev/null 2>&1' _ "$TOKEND" "$T/tokend.conf"
check "--help documents --probe" sh -c '"$1" --help | grep -q -- "--probe"' _ "$TOKEND"

check "no secret in any probe output" sh -c "! grep -qF '$SECRET' '$T/probe.log'"
check "no token in any probe output" sh -c "! grep -q 'eyJ' '$T/probe.log'"
check "no socket was ever created" test ! -e "$SOCK"
finish
