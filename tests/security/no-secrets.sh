#!/bin/bash
# Secret hygiene. The daemon runs at log_level = debug with a known,
# distinctive client secret through success in every request_format,
# client_auth = basic, every failure mode of the issuer, a refused
# connection, a reload and failed reloads, and all the listings; neither the
# secret (raw, URL-encoded, JSON-escaped, base64 in a Basic header) nor any
# token the issuer minted appears in its stderr, the CLI's stderr, the
# listings, or its /proc cmdline and environ. The process is not dumpable
# (checked while it runs as a non-root user), and secret files or inline
# secrets that others can read are refused at start-up without quoting the
# secret.
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/seclib.sh"

D=crvstest-ns-d
sec_user "$D"

core=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)
SECRET="S3cr3t-$core/+=&~x"
# The forms the secret can take on its way out.
needles() {
	python3 - "$CLIENT_ID" "$SECRET" <<'EOF'
import base64, json, sys, urllib.parse
cid, s = sys.argv[1], sys.argv[2]
forms = {
    s,                                        # raw
    urllib.parse.quote(s, safe=""),           # URL-encoded (curl_easy_escape)
    urllib.parse.quote_plus(s),               # form-encoded
    json.dumps(s)[1:-1],                      # JSON
    json.dumps(s)[1:-1].replace("/", "\\/"),  # JSON with escaped slashes
    base64.b64encode((cid + ":" + s).encode()).decode(),
    base64.b64encode((cid + ":" + urllib.parse.quote(s, safe="")).encode()).decode(),
    base64.b64encode((cid + ":" + urllib.parse.quote_plus(s)).encode()).decode(),
    base64.b64encode(s.encode()).decode().rstrip("="),
}
# The random core alone catches every form that does not re-encode it.
forms.add(s.split("-", 1)[1].split("/")[0])
print("\n".join(sorted(forms)))
EOF
}
needles >"$T/needles"

start_issuer good --lifetime 600 --client "$CLIENT_ID:$SECRET"
start_issuer bad --lifetime 600 --client "$CLIENT_ID:$SECRET"
start_issuer bas --lifetime 600 --client "$CLIENT_ID:$SECRET"	# for Basic
dead_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

client_sec() {	# NAME PORT EXTRA
	local q=""
	case $1 in f*) q=${FQ:-} ;; esac
	write_secret "$1" "$SECRET"
	# refresh_min_interval = 0: the forced refreshes below reach the
	# issuer, so their traffic is checked for secrets too.
	printf '[client %s]\ntoken_url = http://127.0.0.1:%s/auth/token%s\nclient_id = %s\nclient_secret_file = %s\nrefresh_min_interval = 0\n%s\n' \
	    "$1" "$2" "$q" "$CLIENT_ID" "$T/$1.secret" "${3:-}"
}
conf_body() {	# [EXTRA for fjson]
	client_sec json "$good_PORT" "request_format = json"
	client_sec form "$good_PORT" "request_format = form"
	client_sec query "$good_PORT" "request_format = query"
	client_sec basic "$bas_PORT" "client_auth = basic
request_format = form"
	printf '[client inline]\ntoken_url = http://127.0.0.1:%s/auth/token?x=1\nclient_id = %s\nclient_secret = %s\nrequest_format = query\n' \
	    "$good_PORT" "$CLIENT_ID" "$SECRET"
	client_sec fjson "$bad_PORT" "request_format = json
timeout = ${1:-2}"
	client_sec fform "$bad_PORT" "request_format = form
timeout = 2"
	client_sec fquery "$bad_PORT" "request_format = query
timeout = 2"
	client_sec fbasic "$bad_PORT" "client_auth = basic
timeout = 2"
	# (FQ: a query string that makes the f* clients new ones on reload)
	client_sec down "$dead_port" "request_format = query
timeout = 2"
	client_sec downjson "$dead_port" "timeout = 2"
}
conf_body | LOG_LEVEL=debug write_conf
start_daemon
for c in json form query inline fjson fform fquery; do
	wait_for 10 "$TOKEN" "$c" || true
done

# cli NAME ARGS...: runs crvs-token as root, keeping its stdout in
# $T/out/NAME.out (scanned for leaks, except that tokens are expected
# there) and its stderr in $T/out/NAME.err; remembers any token printed.
mkdir -p "$T/out"
cli() {
	local n=$1 rc=0
	shift
	"$TOKEN" "$@" >"$T/out/$n.out" 2>"$T/out/$n.err" </dev/null || rc=$?
	echo "$rc" >"$T/out/$n.rc"
	if [ "$rc" = 0 ]; then
		case " $* " in
		*" -j "*) remember_token "$(json_field access_token <"$T/out/$n.out" 2>/dev/null || true)" ;;
		*" status "*|*" health "*) ;;
		*) remember_token "$(cat "$T/out/$n.out")" ;;
		esac
	fi
	return 0
}
rc_of() { cat "$T/out/$1.rc"; }

# --- success in every format ------------------------------------------------
for c in json form query inline fjson fform fquery; do
	cli "get-$c" -j "$c"
	check "$c: a token is served" test "$(rc_of "get-$c")" = 0
	cli "refresh-$c" -j refresh "$c"
	check "$c: a forced refresh is served" test "$(rc_of "refresh-$c")" = 0
done
check "the tokens collected are ones the gateway accepts" \
    gateway_accepts "$good_PORT" "$(json_field access_token <"$T/out/refresh-json.out")"
wait_for 10 issuer_requests_ge "$bas_PORT" 1 || true
check "basic: the issuer did receive HTTP Basic authentication" \
    test "$(issuer_stat "$bas_PORT" last_auth_basic)" = true
cli basic-refresh refresh basic
cli basic-get basic
check "basic: refused by the (OpenCRVS-like) issuer: exit 75" test "$(rc_of basic-get)" = 75
issuer_post "$good_PORT" /control/reset-stats >/dev/null
cli q2 refresh query
check "query: the secret really was in the URL" test "$(issuer_stat "$good_PORT" last_query_had_secret)" = true

# --- every failure mode of the issuer -----------------------------------------
# After a failure a client backs off (a forced refresh does not ask again
# until then), so each mode gets fresh clients: a reload that changes their
# token_url (a query parameter) replaces them, and each new client asks the
# issuer at once. Every mode is thus also a reload.
modes="status&status=401 status&status=400 status&status=500 status&status=503&retry_after=1
hang html nonjson truncated truncated_json huge no_access_token opaque expired exp_before_iat
bad_token_type reset expires_in&expires_in=-5 expires_in&expires_in=0 slow&delay=1"
round=0
for m in $modes; do
	round=$((round + 1))
	issuer_post "$bad_PORT" "/control/mode?mode=$m" >/dev/null
	before=$(issuer_stat "$bad_PORT" requests)
	nreload=$(grep -c 'reloaded' "$T/tokend.log" || true)
	FQ="?round=$round" conf_body | LOG_LEVEL=debug write_conf
	kill -HUP "$DAEMON_PID"
	wait_for 10 sh -c "[ \$(grep -c reloaded '$T/tokend.log') -gt $nreload ]" || true
	wait_for 10 issuer_requests_ge "$bad_PORT" $((before + 4)) || true
	tag=$(printf '%s' "$m" | tr -c 'A-Za-z0-9_\n' '_')
	jobs_=()
	for c in fjson fform fquery fbasic; do
		cli "mode-$tag-$c" -t 8 -j "$c" &
		jobs_+=($!)
	done
	for j in "${jobs_[@]}"; do wait "$j" || true; done
	echo "INFO: mode $m: $(( $(issuer_stat "$bad_PORT" requests) - before )) upstream requests; exit $(rc_of "mode-$tag-fjson") $(rc_of "mode-$tag-fform") $(rc_of "mode-$tag-fquery") $(rc_of "mode-$tag-fbasic") (json form query basic): $(head -c 140 "$T/out/mode-$tag-fjson.err")"
	cli "mode-$tag-status" status
	curl -s --unix-socket "$SOCK" http://x/v1/clients >"$T/out/api-clients-$tag.json" || true
done
issuer_post "$bad_PORT" /control/mode?mode=ok >/dev/null
FQ="?round=ok" conf_body | LOG_LEVEL=debug write_conf
nreload=$(grep -c 'reloaded' "$T/tokend.log" || true)
kill -HUP "$DAEMON_PID"
wait_for 10 sh -c "[ \$(grep -c reloaded '$T/tokend.log') -gt $nreload ]" || true
for c in fjson fform fquery; do
	wait_for 10 "$TOKEN" "$c" || true
	cli "ok-$c" -j "$c"
done
check "every mode reached the issuer (four requests each)" \
    test "$(issuer_stat "$bad_PORT" requests)" -ge $((round * 4))
check "after the failure modes the failing clients recover" \
    test "$(rc_of ok-fjson)$(rc_of ok-fform)$(rc_of ok-fquery)" = 000
check "a 401 gives the CLI exit 75" test "$(rc_of mode-status_status_401-fjson)" = 75
check "the opaque token of the 'opaque' mode was served and collected" \
    grep -q '^opaque-' "$T/tokens"

# --- connection refused --------------------------------------------------------
cli down down
cli downjson downjson
cli down-refresh refresh down
check "connection refused (query format): exit 75" test "$(rc_of down)" = 75
check "and the CLI says why ($(head -c 120 "$T/out/down.err"))" grep -Eiq 'connect|refused' "$T/out/down.err"

# --- listings ------------------------------------------------------------------
cli status status
cli health health
for c in json form query basic inline fjson fquery down; do
	cli "status-$c" status "$c"
	curl -s --unix-socket "$SOCK" "http://x/v1/clients/$c" >"$T/out/api-status-$c.json" || true
done
curl -s --unix-socket "$SOCK" http://x/v1/clients >"$T/out/api-clients.json"
curl -s --unix-socket "$SOCK" http://x/metrics >"$T/out/api-metrics.txt"
curl -s --unix-socket "$SOCK" http://x/v1/health >"$T/out/api-health.json" || true
curl -s --unix-socket "$SOCK" http://x/v1/clients/nope/token >"$T/out/api-unknown.json" || true
check "the listings were produced" test -s "$T/out/api-clients.json" -a -s "$T/out/api-metrics.txt" -a -s "$T/out/status.out"

# --- reloads ---------------------------------------------------------------------
conf_body 3 | LOG_LEVEL=debug write_conf
kill -HUP "$DAEMON_PID"
wait_for 10 grep -q 'reloaded' "$T/tokend.log" || true
check "a reload (SIGHUP) succeeds" grep -q 'reloaded' "$T/tokend.log"
cli after-reload -j json
check "tokens are served after the reload" test "$(rc_of after-reload)" = 0
reload_fails() {	# DESCRIPTION: sends SIGHUP and waits for the failure line
	local before
	before=$(grep -c 'reload failed' "$T/tokend.log" || true)
	kill -HUP "$DAEMON_PID"
	wait_for 10 sh -c "[ \$(grep -c 'reload failed' '$T/tokend.log') -gt $before ]" || true
	check "a failed reload: $1" sh -c "[ \$(grep -c 'reload failed' '$T/tokend.log') -gt $before ]"
}
chmod 644 "$T/json.secret"
reload_fails "secret file mode 0644"
check "  its message names the secret file and the line" \
    grep -Eq "reload failed.*tokend.conf:[0-9]+: secret $T/json.secret is accessible" "$T/tokend.log"
chmod 600 "$T/json.secret"
chmod 644 "$T/tokend.conf"
reload_fails "inline client_secret in a world-readable file"
check "  its message names file and line" \
    grep -Eq "reload failed.*tokend.conf:[0-9]+: client_secret is inline" "$T/tokend.log"
chmod 600 "$T/tokend.conf"
mkdir -p "$T/clients.d"
printf '[client pasted]\ntoken_url = http://127.0.0.1:%s/auth/token\nclient_id = x\nclient_secret_credential = %s\n' \
    "$good_PORT" "$SECRET" >"$T/clients.d/pasted.conf"
chmod 600 "$T/clients.d/pasted.conf"
reload_fails "the secret pasted by mistake as client_secret_credential"
rm -f "$T/clients.d/pasted.conf"
printf '[client pasted2]\ntoken_url = http://127.0.0.1:%s/auth/token\nclient_id = x\nclient_secret_file = %s\n' \
    "$good_PORT" "$SECRET" >"$T/clients.d/pasted.conf"
chmod 600 "$T/clients.d/pasted.conf"
reload_fails "the secret pasted by mistake as client_secret_file"
rm -f "$T/clients.d/pasted.conf"
printf '[client pasted3]\ntoken_url = http://127.0.0.1:%s/auth/token?client_secret=%s\nclient_id = x\nclient_secret = x\nrequest_format = bogus\n' \
    "$good_PORT" "$SECRET" >"$T/clients.d/pasted.conf"
chmod 600 "$T/clients.d/pasted.conf"
reload_fails "a bad line in a client whose token_url carries the secret"
rm -f "$T/clients.d/pasted.conf"
cli after-failed -j fjson
check "after the failed reloads the daemon still serves" test "$(rc_of after-failed)" = 0

# --- /proc of the daemon -------------------------------------------------------
tr '\0' '\n' <"/proc/$DAEMON_PID/cmdline" >"$T/out/proc-cmdline"
tr '\0' '\n' <"/proc/$DAEMON_PID/environ" >"$T/out/proc-environ"
check "the daemon's command line and environment were read" test -s "$T/out/proc-cmdline"

# Informational: where copies of the secret linger in the daemon's memory
# outside the MADV_DONTDUMP mappings (a core dump, if one were ever made,
# would hold those).
python3 - "$DAEMON_PID" "$T/needles" <<'EOF' || true
import re, sys
pid = int(sys.argv[1])
core = [l for l in open(sys.argv[2]).read().split("\n") if l and "/" not in l and len(l) == 20]
needles = [n.encode() for n in core] or []
hits_dd = hits_plain = 0
where = set()
flags, cur = {}, None
with open("/proc/%d/smaps" % pid) as f:
    for line in f:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        if m:
            cur = (int(m.group(1), 16), int(m.group(2), 16), m.group(3), line.split()[-1] if len(line.split()) > 5 else "[anon]")
            flags[cur] = ""
        elif line.startswith("VmFlags:") and cur:
            flags[cur] = line
with open("/proc/%d/mem" % pid, "rb", 0) as mem:
    for (lo, hi, perm, name), vf in flags.items():
        if "r" not in perm or hi - lo > 256 << 20 or name in ("[vvar]", "[vsyscall]"):
            continue
        try:
            mem.seek(lo)
            data = mem.read(hi - lo)
        except OSError:
            continue
        for n in needles:
            c = data.count(n)
            if c:
                if " dd" in vf:
                    hits_dd += c
                else:
                    hits_plain += c
                    where.add(name)
print("INFO: copies of the secret in the daemon's memory: %d in MADV_DONTDUMP "
      "mappings, %d elsewhere%s" % (hits_dd, hits_plain,
      " (" + ", ".join(sorted(where)) + ")" if where else ""))
EOF

# --- leak checks ---------------------------------------------------------------
scan="$T/tokend.log $T/out/*.err $T/cli-stderr.all $T/out/status*.out $T/out/health.out $T/out/api-* $T/out/proc-*"
# shellcheck disable=SC2086
ls $scan >/dev/null 2>&1 || true
leaks() {	# PATTERN_FILE: prints files that hold any line of it
	# shellcheck disable=SC2086
	grep -lFf "$1" $scan 2>/dev/null || true
}
found=$(leaks "$T/needles")
check "the secret (in any of its forms) appears nowhere${found:+: $found}" test -z "$found"
if [ -n "$found" ]; then
	# shellcheck disable=SC2086
	grep -hFf "$T/needles" $found | head -n 5 | sed "s/$core/<SECRET-CORE>/g; s/^/  leak: /"
fi
sort -u "$T/tokens" -o "$T/tokens"
echo "INFO: $(wc -l <"$T/tokens") distinct tokens collected"
# (tokens minted for one client id within a second are byte-identical)
check "at least 4 distinct tokens were collected (JWTs and an opaque one)" test "$(wc -l <"$T/tokens")" -ge 4
found=$(leaks "$T/tokens")
check "no collected token appears in the log, stderr, listings or /proc${found:+: $found}" test -z "$found"
# shellcheck disable=SC2086
check "nothing that looks like a JWT or an opaque token of the issuer in them" \
    sh -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{8,}\\.eyJ|opaque-[0-9a-f]{16}' $scan"
check "the CLI printed tokens only on stdout (sanity: the tokens are there)" \
    sh -c "grep -qFf '$T/tokens' '$T'/out/*.out"
check "the debug log was really at debug level" grep -q ' debug: ' "$T/tokend.log"
check "the failure modes left words in the log" grep -q 'token request failed' "$T/tokend.log"
stop_daemon

# --- start-up refusals ----------------------------------------------------------
startup() {	# LOG: runs the daemon in the foreground, bounded
	local rc=0
	timeout 10 "$TOKEND" -c "$T/s.conf" >"$T/$1" 2>&1 || rc=$?
	echo "$rc"
}
write_secret s644 "$SECRET"; chmod 644 "$T/s644.secret"
{ printf '[daemon]\nsocket = %s\n' "$SOCK"; printf '[client s]\ntoken_url = http://127.0.0.1:%s/auth/token\nclient_id = x\nclient_secret_file = %s\n' "$good_PORT" "$T/s644.secret"; } >"$T/s.conf"
chmod 600 "$T/s.conf"
rc=$(startup s644.log)
check "a secret file with mode 0644 is refused at start-up (exit $rc)" test "$rc" = 1
check "  naming the file and the line: $(head -c 200 "$T/s644.log")" \
    grep -q "s.conf:6: secret $T/s644.secret is accessible by group or others" "$T/s644.log"
check "  without the secret" sh -c "! grep -qFf '$T/needles' '$T/s644.log'"
check "  and no socket was created" test ! -e "$SOCK"
chmod 640 "$T/s644.secret"
rc=$(startup s640.log)
check "a group-readable secret file (0640) is refused too (exit $rc)" test "$rc" = 1
rc=0; "$TOKEND" --check-config -c "$T/s.conf" >"$T/check.log" 2>&1 || rc=$?
check "--check-config refuses it too (exit $rc), without the secret" \
    sh -c "test $rc = 1 && ! grep -qFf '$T/needles' '$T/check.log'"
{ printf '[daemon]\nsocket = %s\n' "$SOCK"; printf '[client s]\ntoken_url = http://127.0.0.1:%s/auth/token\nclient_id = x\nclient_secret = %s\n' "$good_PORT" "$SECRET"; } >"$T/s.conf"
chmod 644 "$T/s.conf"
rc=$(startup inline.log)
check "an inline client_secret in a world-readable config is refused (exit $rc)" test "$rc" = 1
check "  naming the file and the line: $(head -c 200 "$T/inline.log")" \
    grep -Eq "s.conf:6: client_secret is inline in a file that (group or )?others can read" "$T/inline.log"
check "  without the secret" sh -c "! grep -qFf '$T/needles' '$T/inline.log'"
chmod 600 "$T/s.conf"
rc=0; "$TOKEND" --check-config -c "$T/s.conf" >"$T/inline-ok.log" 2>&1 || rc=$?
check "the same config with mode 0600 is accepted (exit $rc)" test "$rc" = 0
chmod 640 "$T/s.conf"
rc=0; "$TOKEND" --check-config -c "$T/s.conf" >"$T/inline-640.log" 2>&1 || rc=$?
echo "INFO: an inline secret in a group-readable (0640) config: --check-config exits $rc$(grep -q . "$T/inline-640.log" && echo ": $(head -c 150 "$T/inline-640.log")")"

# --- not dumpable: the daemon as a non-root user ------------------------------
du=$(uid_of "$D"); dg=$(id -g "$D")
mkdir -m 700 "$T/d"
write_secret dsec "$SECRET"
mv "$T/dsec.secret" "$T/d/secret"
{ printf '[daemon]\nsocket = %s/d/tokend.sock\nlog_level = debug\n' "$T"
  printf '[client demo]\ntoken_url = http://127.0.0.1:%s/auth/token\nclient_id = %s\nclient_secret_file = %s/d/secret\n' "$good_PORT" "$CLIENT_ID" "$T"; } >"$T/d/tokend.conf"
chmod 600 "$T/d/tokend.conf" "$T/d/secret"
chown -R "$du:$dg" "$T/d"
(cd "$T/d" && ulimit -c unlimited 2>/dev/null; exec setpriv --reuid="$du" --regid="$dg" --clear-groups \
    "$TOKEND" -c "$T/d/tokend.conf" 2>"$T/d-tokend.log") &
dpid=$!
PIDS+=("$dpid")
wait_for 10 test -S "$T/d/tokend.sock" || true
# Asked as the daemon's own user: crvs-token trusts a socket only when it
# belongs to root, the caller or the daemon user it was built for.
as_d() { setpriv --reuid="$du" --regid="$dg" --clear-groups "$@"; }
wait_for 10 as_d "$TOKEN" -s "$T/d/tokend.sock" demo || true
dtok=$(as_d "$TOKEN" -s "$T/d/tokend.sock" demo 2>/dev/null || true)
remember_token "$dtok"
check "the daemon runs as $D (uid $du)" \
    sh -c "awk '/^Uid:/ {print \$3}' /proc/$dpid/status | grep -qx '$du'"
check "and serves ($([ -n "$dtok" ] && echo token || echo none))" test -n "$dtok"
owners=$(stat -c '%U' "/proc/$dpid/environ" "/proc/$dpid/mem" "/proc/$dpid/maps" "/proc/$dpid/fd" | sort -u | tr '\n' ' ')
check "its /proc entries are owned by root, as for a non-dumpable process ($owners)" test "$owners" = "root "
rc=0; as_user_nogroups "$D" cat "/proc/$dpid/environ" >/dev/null 2>&1 || rc=$?
check "its own user cannot read /proc/PID/environ (exit $rc)" test "$rc" -ne 0
rc=0; as_user_nogroups "$D" python3 -c 'import sys; f=open("/proc/%s/mem" % sys.argv[1], "rb"); f.seek(0x400000); f.read(1)' "$dpid" >/dev/null 2>&1 || rc=$?
check "its own user cannot read /proc/PID/mem (exit $rc)" test "$rc" -ne 0
rc=0; as_user_nogroups "$D" cat "/proc/$dpid/maps" >/dev/null 2>&1 || rc=$?
check "its own user cannot read /proc/PID/maps (exit $rc)" test "$rc" -ne 0
if command -v gcore >/dev/null 2>&1; then
	rc=0; (cd "$T/d" && timeout 30 setpriv --reuid="$du" --regid="$dg" --clear-groups env HOME="$T/d" \
	    gcore -o "$T/d/gcore" "$dpid") >"$T/gcore.log" 2>&1 || rc=$?
	check "gcore run by its own user fails (exit $rc) and writes no core" \
	    sh -c "test $rc -ne 0 && ! ls '$T'/d/gcore* >/dev/null 2>&1"
fi
check "its core size limit is 0" grep -Eq '^Max core file size +0 +0 ' "/proc/$dpid/limits"
echo "INFO: /proc/PID/coredump_filter = $(cat "/proc/$dpid/coredump_filter")"
ndd=$(grep -c '^VmFlags:.* dd' "/proc/$dpid/smaps" || true)
check "secret memory is marked MADV_DONTDUMP ($ndd mappings with 'dd')" test "$ndd" -gt 0
if [ "$(cat /proc/sys/kernel/core_pattern)" = core ] || [ "$(cat /proc/sys/kernel/core_pattern)" = core.%p ]; then
	kill -ABRT "$dpid" 2>/dev/null || true
	wait_for 5 sh -c "! kill -0 $dpid" || true
	check "killed with SIGABRT it leaves no core file" sh -c "! ls '$T'/d/core* >/dev/null 2>&1"
fi
found=$(grep -lFf "$T/needles" "$T/d-tokend.log" 2>/dev/null || true)
check "the non-root daemon's log has neither secret nor token" \
    sh -c "test -z '$found' && ! grep -qFf '$T/tokens' '$T/d-tokend.log'"
finish
