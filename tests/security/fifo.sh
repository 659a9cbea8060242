#!/bin/bash
# No file read may block the daemon (issue 9, item 2). A FIFO given as a
# secret file, the configuration file, a drop-in or a ca_file used to make
# open() wait for a writer: --check-config hung, and a SIGHUP with a FIFO
# secret in clients.d froze the whole event loop. Each is now refused at
# once, naming the file, and the running daemon keeps serving. A secret
# file owned by another non-root user is refused too.
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/seclib.sh"

U=crvstest-fifo-u
sec_user "$U"
start_issuer issuer --lifetime 600

# check_config CONF LOG: --check-config, bounded; sets CC_RC (124: hung).
check_config() {
	CC_RC=0
	timeout 10 "$TOKEND" -c "$1" --check-config >"$T/$2" 2>&1 </dev/null || CC_RC=$?
}

# --- a FIFO secret ----------------------------------------------------------------
client_section demo "$ISSUER_PORT" | write_conf
mkfifo -m 600 "$T/fifo.secret"
sed "s|client_secret_file = .*|client_secret_file = $T/fifo.secret|" \
    "$T/tokend.conf" >"$T/fifo-secret.conf"
check_config "$T/fifo-secret.conf" fifo-secret.log
check "--check-config with a FIFO secret ends (exit $CC_RC, 124 = hung)" test "$CC_RC" -ne 124
check "it fails, saying the secret is not a regular file ($(head -c 200 "$T/fifo-secret.log"))" \
    sh -c "[ $CC_RC -ne 0 ] && grep -q 'secret $T/fifo.secret is not a regular file' '$T/fifo-secret.log'"

# --- a FIFO as the configuration file, a drop-in, a ca_file ---------------------
mkfifo -m 600 "$T/fifo.conf"
check_config "$T/fifo.conf" fifo-conf.log
check "--check-config on a FIFO configuration file ends and fails (exit $CC_RC: $(head -c 200 "$T/fifo-conf.log"))" \
    sh -c "[ $CC_RC -ne 0 ] && [ $CC_RC -ne 124 ] && grep -q '$T/fifo.conf: not a regular file' '$T/fifo-conf.log'"
mkdir -p "$T/dropin/clients.d"
cp "$T/tokend.conf" "$T/dropin/tokend.conf"
mkfifo -m 600 "$T/dropin/clients.d/x.conf"
check_config "$T/dropin/tokend.conf" fifo-dropin.log
check "--check-config with a FIFO drop-in ends and fails (exit $CC_RC: $(head -c 200 "$T/fifo-dropin.log"))" \
    sh -c "[ $CC_RC -ne 0 ] && [ $CC_RC -ne 124 ] && grep -q 'clients.d/x.conf: not a regular file' '$T/fifo-dropin.log'"
mkfifo -m 644 "$T/fifo.pem"
printf 'ca_file = %s\n' "$T/fifo.pem" >>"$T/tokend.conf"
check_config "$T/tokend.conf" fifo-ca.log
check "--check-config with a FIFO ca_file ends and fails (exit $CC_RC: $(head -c 200 "$T/fifo-ca.log"))" \
    sh -c "[ $CC_RC -ne 0 ] && [ $CC_RC -ne 124 ] && grep -q 'ca_file $T/fifo.pem is not a regular file' '$T/fifo-ca.log'"

# --- a secret owned by another (non-root) user ------------------------------------
client_section demo "$ISSUER_PORT" | write_conf
chown "$U" "$T/demo.secret"
check_config "$T/tokend.conf" owner.log
check "a secret owned by another user is refused (exit $CC_RC: $(head -c 200 "$T/owner.log"))" \
    sh -c "[ $CC_RC -ne 0 ] && grep -q 'secret $T/demo.secret is owned by uid $(uid_of "$U")' '$T/owner.log'"
chown root "$T/demo.secret"
check_config "$T/tokend.conf" owner-ok.log
check "and accepted once root owns it again ($CC_RC)" test "$CC_RC" = 0

# --- SIGHUP with a FIFO secret in clients.d ---------------------------------------
mkdir -p "$T/clients.d"
start_daemon
check "the daemon serves demo" wait_for 10 "$TOKEN" demo
printf '[client late]\ntoken_url = http://127.0.0.1:%s/auth/token\nclient_id = %s\nclient_secret_file = %s\n' \
    "$ISSUER_PORT" "$CLIENT_ID" "$T/fifo.secret" >"$T/clients.d/late.conf"
kill -HUP "$DAEMON_PID"
check "the reload is refused, naming the FIFO" \
    wait_for 10 grep -q "secret $T/fifo.secret is not a regular file" "$T/tokend.log"
rc=0
out=$(timeout 10 "$TOKEN" -t 5 demo) || rc=$?
check "after the SIGHUP the daemon still answers at once ($rc)" test "$rc" = 0 -a -n "$out"
remember_token "$out"
run_cli st status
check "and status too ($st_rc)" test "$st_rc" = 0
check "the daemon is alive" daemon_alive

finish
