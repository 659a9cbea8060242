#!/bin/bash
# crvs-tokend under a real systemd: boots this machine's own root, overlaid
# (nothing written reaches the host), as a systemd-nspawn container with its
# own network, installs the built binaries, units, sysusers.d and tmpfiles.d
# snippets and the shipped example configuration there, with a client secret
# given by LoadCredential=, and the fake issuer running inside. Then checks,
# driving systemctl and journalctl:
#   - systemd-analyze verify and security (exposure <= 1.5) on the loaded units
#   - systemctl start returns only once a token is servable; StatusText
#   - a member of crvs-token gets the token, a non-member cannot reach it
#   - systemctl reload keeps the token; a broken configuration is survived
#   - the journal carries CLIENT= and PRIORITY= fields
#   - systemctl stop is clean
#   - socket activation, also across a stop of the service
#   - the watchdog restarts a daemon that stops answering (SIGSTOP)
# Needs root. Exits 77 only if
# systemd-nspawn cannot run here at all. The whole run is bounded by a
# timeout, and the container is always powered off.
set -euo pipefail

NSPAWN_TIMEOUT=${NSPAWN_TIMEOUT:-105}
if [ -z "${CRVS_NSPAWN_TIMED:-}" ]; then
	export CRVS_NSPAWN_TIMED=1
	exec timeout -k 10 "$NSPAWN_TIMEOUT" bash "$0" "$@"
fi

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "systemd-nspawn needs root"
for t in unshare nsenter setpriv curl; do
	command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
done
if ! command -v systemd-nspawn >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
	# --no-install-recommends matters: a recommended package edits
	# nsswitch.conf.
	echo "# installing systemd-container"
	DEBIAN_FRONTEND=noninteractive timeout 60 apt-get install -y -q \
		--no-install-recommends systemd-container >/dev/null 2>&1 || true
fi
command -v systemd-nspawn >/dev/null 2>&1 || skip "systemd-nspawn is not installed"

. "$(dirname "$0")/lib.sh"
# The container's crvs-token uses the default socket, not the test's.
unset CRVS_TOKEND_SOCKET

. "$(dirname "$0")/nspawn-lib.sh"

prop() { in_ct systemctl show -p "$2" --value "$1"; }
stats() { in_ct curl -sf "http://127.0.0.1:$port/control/stats" | "$JSON" "$1"; }
tls_stats() {
	in_ct curl -sf --cacert /usr/local/libexec/crvs-tokend-test/tls/cert.pem \
		"https://127.0.0.1:$tls_port/control/stats" | "$JSON" "$1"
}
journal_dump() {
	echo "---- journal of crvs-tokend (last 60 lines)"
	in_ct journalctl --no-pager -n 60 -u crvs-tokend.service -u crvs-tokend.socket 2>&1 || true
}

# ---------------------------------------------------------------- boot
echo "# booting the host's root, overlaid, as container $machine"
nspawn_boot

# ---------------------------------------------------------------- install
echo "# installing the build into the container"
sbindir=/usr/local/sbin
install -D -m 0755 "$TOKEND" "$(R $sbindir)/crvs-tokend"
install -D -m 0755 "$TOKEN" "$(R /usr/local/bin)/crvs-token"
install -D -m 0755 "$ISSUER" "$(R /usr/local/libexec/crvs-tokend-test)/fake-issuer"
sed -e "s|@sbindir@|$sbindir|g" "$top_srcdir/systemd/crvs-tokend.service.in" \
	>"$(R /etc/systemd/system)/crvs-tokend.service"
cp "$top_srcdir/systemd/crvs-tokend.socket" "$(R /etc/systemd/system)/"
mkdir -p "$(R /etc/sysusers.d)" "$(R /etc/tmpfiles.d)"
cp "$top_srcdir/systemd/crvs-tokend.sysusers" "$(R /etc/sysusers.d)/crvs-tokend.conf"
cp "$top_srcdir/systemd/crvs-tokend.tmpfiles" "$(R /etc/tmpfiles.d)/crvs-tokend.conf"
in_ct systemd-sysusers crvs-tokend.conf >/dev/null 2>&1 || die "systemd-sysusers failed"
in_ct systemd-tmpfiles --create crvs-tokend.conf || die "systemd-tmpfiles failed"
check "sysusers: user crvs-tokend, primary group crvs-token" \
	test "$(in_ct id -gn crvs-tokend)" = crvs-token
in_ct useradd --no-create-home --user-group --groups crvs-token member
in_ct useradd --no-create-home --user-group outsider

# The fake issuer, inside (the container has a network of its own).
in_ct systemd-run --quiet --unit=crvs-fake-issuer \
	/usr/local/libexec/crvs-tokend-test/fake-issuer --port 0 \
	--port-file /run/crvs-fake-issuer.port --lifetime 600 ||
	die "cannot start the fake issuer in the container"
wait_for 10 test -s "$(R /run/crvs-fake-issuer.port)" || die "the fake issuer did not start"
port=$(cat "$(R /run/crvs-fake-issuer.port)")
# And one over TLS, so that the sandboxed daemon does a real TLS handshake.
command -v openssl >/dev/null 2>&1 || die "openssl is needed for the TLS issuer"
mkdir -p "$(R /usr/local/libexec/crvs-tokend-test)/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 \
	-keyout "$(R /usr/local/libexec/crvs-tokend-test)/tls/key.pem" \
	-out "$(R /usr/local/libexec/crvs-tokend-test)/tls/cert.pem" >/dev/null 2>&1 ||
	die "cannot make a test certificate"
in_ct systemd-run --quiet --unit=crvs-fake-issuer-tls \
	/usr/local/libexec/crvs-tokend-test/fake-issuer --port 0 \
	--port-file /run/crvs-fake-issuer-tls.port --lifetime 600 \
	--tls /usr/local/libexec/crvs-tokend-test/tls/cert.pem \
	/usr/local/libexec/crvs-tokend-test/tls/key.pem ||
	die "cannot start the TLS fake issuer in the container"
wait_for 10 test -s "$(R /run/crvs-fake-issuer-tls.port)" || die "the TLS fake issuer did not start"
tls_port=$(cat "$(R /run/crvs-fake-issuer-tls.port)")

# The configuration where the daemon looks by default (as built), the
# shipped example as the main file, the client as a drop-in with its secret
# as a credential, and the shipped sample beside it (not loaded).
conf=$("$TOKEND" --help | sed -n 's/.*(default \(.*\));/\1/p')
[ -n "$conf" ] || die "cannot tell the daemon's default configuration path"
exec_override=
case "$conf" in
/tmp/* | /var/tmp/* | /home/* | /root/* | /run/user/*)
	# A build for a throwaway prefix (make distcheck): the sandbox
	# (PrivateTmp=, ProtectHome=) hides that path from the service, as it
	# should; use /etc and say so with -c.
	echo "    note: the built-in $conf is hidden by the sandbox; using -c /etc/crvs-tokend/crvs-tokend.conf"
	conf=/etc/crvs-tokend/crvs-tokend.conf
	exec_override="ExecStart=
ExecStart=$sbindir/crvs-tokend -c $conf"
	;;
esac
confdir=$(dirname "$conf")
mkdir -p "$(R "$confdir")/clients.d" "$(R "$confdir")/secrets"
chmod 0700 "$(R "$confdir")/secrets"
cp "$top_srcdir/etc/crvs-tokend.conf" "$(R "$conf")"
cp "$top_srcdir/etc/clients.d/example.conf.sample" "$(R "$confdir")/clients.d/"
(umask 077 && printf '%s\n' "$DEFAULT_SECRET" >"$(R "$confdir")/secrets/alpha")
cat >"$(R "$confdir")/clients.d/alpha.conf" <<EOF
[client alpha]
token_url = http://127.0.0.1:$port/auth/token
client_id = $DEFAULT_ID
client_secret_credential = alpha
# The journal check's forced refresh must reach the issuer.
refresh_min_interval = 0
EOF
cp "$(R "$confdir")/secrets/alpha" "$(R "$confdir")/secrets/tls"
cat >"$(R "$confdir")/clients.d/tls.conf" <<EOF
[client tls]
token_url = https://127.0.0.1:$tls_port/auth/token
client_id = $DEFAULT_ID
client_secret_credential = tls
ca_file = /usr/local/libexec/crvs-tokend-test/tls/cert.pem
request_format = form
EOF
mkdir -p "$(R /etc/systemd/system/crvs-tokend.service.d)"
cat >"$(R /etc/systemd/system/crvs-tokend.service.d)/credentials.conf" <<EOF
[Service]
LoadCredential=alpha:$confdir/secrets/alpha
LoadCredential=tls:$confdir/secrets/tls
$exec_override
EOF
# A sanitized build (CI's sanitizer stage) runs under the unit as well,
# with the stage's options; its reports reach the journal, checked at the
# end. LeakSanitizer stops the daemon's threads with ptrace, which the
# unit refuses (no CAP_SYS_PTRACE, and the daemon makes itself
# non-dumpable), so leaks are left to the tiers that run it outside one.
sanitized=
if grep -q __asan_init "$TOKEND"; then
	sanitized=1
	cat >"$(R /etc/systemd/system/crvs-tokend.service.d)/sanitizer.conf" <<EOF
[Service]
Environment="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
Environment="UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}"
EOF
	echo "    the build is sanitized: ASAN_OPTIONS and UBSAN_OPTIONS for the unit, leak checks off there"
fi
in_ct systemctl daemon-reload
echo "    installed: $sbindir/crvs-tokend, /usr/local/bin/crvs-token, units in /etc/systemd/system, config $conf (+ clients.d/alpha.conf and tls.conf, secrets by LoadCredential=)"

# ---------------------------------------------------------------- analyze
out=$(in_ct systemd-analyze verify --man=no /etc/systemd/system/crvs-tokend.service \
	/etc/systemd/system/crvs-tokend.socket 2>&1) && rc=0 || rc=$?
check "systemd-analyze verify inside reports nothing (exit $rc)${out:+: $out}" \
	test "$rc" = 0 -a -z "$out"
score=$(in_ct systemd-analyze security --no-pager crvs-tokend.service 2>&1 |
	sed -n 's/.*Overall exposure level for crvs-tokend.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security crvs-tokend.service inside: exposure ${score:-?} <= 1.5" \
	awk -v s="${score:-99}" 'BEGIN { exit !(s <= 1.5) }'

# ---------------------------------------------------------------- start
echo "# systemctl start"
# The first token takes 2 s.
in_ct curl -sf -X POST "http://127.0.0.1:$port/control/mode?mode=slow&delay=2&count=1" >/dev/null
t0=$(date +%s%N)
in_ct systemctl start crvs-tokend.service || { journal_dump; die "systemctl start crvs-tokend failed"; }
t1=$(date +%s%N)
tok=$(in_ct crvs-token alpha) || tok=
check "systemctl start returned after the first token (the issuer took 2 s; start took $(((t1 - t0) / 1000000)) ms)" \
	test $(((t1 - t0) / 1000000)) -ge 1900
check "crvs-token right after systemctl start gets the token" test -n "$tok"
check "one request to the issuer so far" test "$(stats requests)" = 1
ttok=$(in_ct crvs-token tls) || ttok=
check "the sandboxed daemon got a token over TLS (https, ca_file)" \
	test -n "$ttok" -a "$(tls_stats requests)" = 1
status=$(prop crvs-tokend StatusText)
check "systemctl show -p StatusText: \"$status\"" \
	grep -qE '^2 clients: 2 valid, next refresh at [0-9]{2}:[0-9]{2}:[0-9]{2}$' <<<"$status"
check "systemctl status shows the Status: line" \
	sh -c "nsenter -t $ct -a systemctl status --no-pager crvs-tokend | grep -q 'Status: \"2 clients: 2 valid'"
check "the example in clients.d/*.sample was not loaded (2 clients)" \
	sh -c "nsenter -t $ct -a crvs-token status | grep -c '^[a-z]' | grep -qx 2"

# ---------------------------------------------------------------- access
echo "# who may read the token"
check "/run/crvs-tokend is crvs-tokend:crvs-token 0750" \
	test "$(in_ct stat -c '%U:%G %a' /run/crvs-tokend)" = "crvs-tokend:crvs-token 750"
check "the socket is crvs-tokend:crvs-token 0660" \
	test "$(in_ct stat -c '%U:%G %a' /run/crvs-tokend/crvs-tokend.sock)" = "crvs-tokend:crvs-token 660"
check "a member of crvs-token gets the token" test "$(as member crvs-token alpha)" = "$tok"
rc=0
err=$(as outsider crvs-token alpha 2>&1 >/dev/null) || rc=$?
check "a non-member is refused: exit $rc ($err)" \
	sh -c "[ $rc = 69 ] || [ $rc = 77 ]"
ids=$(in_ct awk '/^(Uid|Gid|CapEff|CapBnd):/ { print $2 }' "/proc/$(prop crvs-tokend MainPID)/status" | tr '\n' ' ')
check "the daemon runs as crvs-tokend:crvs-token with no capabilities (uid gid CapEff CapBnd: $ids)" \
	test "$ids" = "$(in_ct id -u crvs-tokend) $(in_ct id -g crvs-tokend) 0000000000000000 0000000000000000 "

# ---------------------------------------------------------------- reload
echo "# systemctl reload"
pid=$(prop crvs-tokend MainPID)
check "systemctl reload succeeds" in_ct systemctl reload crvs-tokend
check "the reload kept the tokens: no new request, same tokens, same process" \
	test "$(stats requests)/$(tls_stats requests)" = 1/1 -a "$(in_ct crvs-token alpha)" = "$tok" -a \
	"$(in_ct crvs-token tls)" = "$ttok" -a "$(prop crvs-tokend MainPID)" = "$pid"
check "the service is active after the reload" test "$(prop crvs-tokend ActiveState)" = active
printf '[client broken]\ntoken_url = http://127.0.0.1:%s/auth/token\nscpoe = typo\n' "$port" \
	>"$(R "$confdir")/clients.d/zz-broken.conf"
in_ct systemctl reload crvs-tokend || true
check "a broken configuration: the reload failure is in the journal with file and line" \
	wait_for 10 sh -c "nsenter -t $ct -a journalctl --no-pager -u crvs-tokend | grep -q \"reload failed.*zz-broken.conf:3: unknown key 'scpoe'\""
check "a broken configuration: StatusText says the previous one runs" \
	grep -q "reload failed" <<<"$(prop crvs-tokend StatusText)"
check "a broken configuration: the tokens are still served, with no new request" \
	test "$(in_ct crvs-token alpha)" = "$tok" -a "$(in_ct crvs-token tls)" = "$ttok" -a \
	"$(stats requests)/$(tls_stats requests)" = 1/1
rm "$(R "$confdir")/clients.d/zz-broken.conf"
in_ct systemctl reload crvs-tokend
check "fixed again: StatusText back to normal" \
	wait_for 5 sh -c "nsenter -t $ct -a systemctl show -p StatusText --value crvs-tokend | grep -q '^2 clients: 2 valid'"

# ---------------------------------------------------------------- journal
echo "# journal fields"
# One refused request: a warning about the client.
in_ct curl -sf -X POST "http://127.0.0.1:$port/control/mode?mode=status&status=401&count=1" >/dev/null
in_ct crvs-token refresh alpha >/dev/null 2>&1 || true
wait_for 10 sh -c "nsenter -t $ct -a journalctl --no-pager -u crvs-tokend -o json CLIENT=alpha PRIORITY=4 | grep -q 'token request failed'" || true
json=$(in_ct journalctl --no-pager -u crvs-tokend -o json CLIENT=alpha)
check "journalctl -o json: the client's lines carry CLIENT=alpha ($(grep -c . <<<"$json") lines)" \
	grep -q '"CLIENT":"alpha"' <<<"$json"
check "journalctl -o json: they carry PRIORITY= and the unit" \
	sh -c 'grep "\"MESSAGE\":\"alpha: new token" | grep "\"PRIORITY\":\"6\"" | grep -q "\"_SYSTEMD_UNIT\":\"crvs-tokend.service\""' <<<"$json"
check "journalctl -o json: the refused request is a warning (PRIORITY=4) with CLIENT=alpha" \
	sh -c 'grep "token request failed" | grep -q "\"PRIORITY\":\"4\""' <<<"$json"
check "journalctl -o json: no line holds a token" \
	sh -c "! nsenter -t $ct -a journalctl --no-pager -o json | grep -qF -e '$tok' -e '$ttok'"
check "meanwhile the previous token is still served" wait_for 10 sh -c "nsenter -t $ct -a crvs-token alpha >/dev/null 2>&1"

# ---------------------------------------------------------------- stop
echo "# systemctl stop"
t0=$(date +%s%N)
in_ct systemctl stop crvs-tokend.service
t1=$(date +%s%N)
check "systemctl stop: clean exit 0 in $(((t1 - t0) / 1000000)) ms" \
	test "$(prop crvs-tokend Result)/$(prop crvs-tokend ExecMainStatus)/$(prop crvs-tokend ActiveState)" = success/0/inactive -a \
	$(((t1 - t0) / 1000000)) -lt 5000
check "systemctl stop: the daemon logged its stop and removed its socket" \
	sh -c "nsenter -t $ct -a journalctl --no-pager -u crvs-tokend | grep -q 'crvs-tokend\[[0-9]*\]: stopped' &&
		! nsenter -t $ct -a test -e /run/crvs-tokend/crvs-tokend.sock"

# ---------------------------------------------------------------- socket
echo "# socket activation"
in_ct systemctl start crvs-tokend.socket
check "crvs-tokend.socket listens; the service is not running" \
	test "$(prop crvs-tokend.socket ActiveState)/$(prop crvs-tokend.service ActiveState)" = active/inactive
check "the socket systemd made is crvs-tokend:crvs-token 0660 in a 0750 directory" \
	test "$(in_ct stat -c '%U:%G %a' /run/crvs-tokend/crvs-tokend.sock /run/crvs-tokend | tr '\n' ' ')" = \
	"crvs-tokend:crvs-token 660 crvs-tokend:crvs-token 750 "
before=$(stats requests)
rc=0
tok2=$(as member crvs-token alpha 2>"$tmp/activation.err") || rc=$?
check "the first connection (a member's crvs-token) started the service and got a token (exit $rc$(sed 's/^/: /' "$tmp/activation.err"))" \
	test -n "$tok2" -a "$(prop crvs-tokend.service ActiveState)" != inactive -a "$(stats requests)" -gt "$before"
# It answers as soon as its client has a token; it is "active" (READY=1)
# once every client has had its first attempt.
active() { [ "$(prop crvs-tokend.service ActiveState)" = active ]; }
check "the activated service becomes active" wait_for 10 active
check "the daemon took its socket from systemd" \
	sh -c "nsenter -t $ct -a journalctl --no-pager -u crvs-tokend | grep -q 'listening on the socket from systemd'"
in_ct systemctl stop crvs-tokend.service 2>/dev/null
check "stopping the service leaves the socket listening, its file in place" \
	test "$(prop crvs-tokend.socket ActiveState)/$(prop crvs-tokend.service ActiveState)" = active/inactive -a \
	"$(in_ct stat -c %F /run/crvs-tokend/crvs-tokend.sock)" = socket
check "the next connection starts it again" \
	sh -c "nsenter -t $ct -a setpriv --reuid=member --regid=member --init-groups crvs-token alpha >/dev/null"
check "the service is active again" wait_for 10 active
in_ct systemctl stop crvs-tokend.service crvs-tokend.socket 2>/dev/null

# ---------------------------------------------------------------- watchdog
echo "# watchdog"
cat >"$(R /etc/systemd/system/crvs-tokend.service.d)/watchdog.conf" <<EOF
[Service]
WatchdogSec=2s
RestartSec=500ms
EOF
in_ct systemctl daemon-reload
in_ct systemctl start crvs-tokend.service
wd=$(prop crvs-tokend WatchdogTimestampMonotonic)
check "the daemon pings the watchdog (WatchdogSec=2s)" \
	wait_for 5 sh -c "[ \"\$(nsenter -t $ct -a systemctl show -p WatchdogTimestampMonotonic --value crvs-tokend)\" != '$wd' ]"
pid=$(prop crvs-tokend MainPID)
in_ct kill -STOP "$pid"
echo "    SIGSTOP to the daemon (pid $pid in the container)"
restarted() {
	local n p a
	n=$(prop crvs-tokend NRestarts)
	p=$(prop crvs-tokend MainPID)
	a=$(prop crvs-tokend ActiveState)
	[ "$n" -ge 1 ] && [ "$p" != "$pid" ] && [ "$p" != 0 ] && [ "$a" = active ]
}
check "systemd restarted the stopped daemon (watchdog timeout, NRestarts >= 1)" wait_for 20 restarted
check "the journal says the watchdog fired" \
	sh -c "nsenter -t $ct -a journalctl --no-pager -u crvs-tokend | grep -q \"Failed with result 'watchdog'\""
check "the restarted daemon serves a token" sh -c "nsenter -t $ct -a crvs-token alpha >/dev/null"
in_ct systemctl stop crvs-tokend.service

if [ -n "$sanitized" ]; then
	check "no sanitizer report in the container's journal" \
		sh -c "! nsenter -t $ct -a journalctl --no-pager | grep -E 'ERROR: (Address|Leak)Sanitizer|SUMMARY: [A-Za-z]+Sanitizer|runtime error: '"
fi
[ "$nfail" = 0 ] || journal_dump
finish
