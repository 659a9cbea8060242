# Helpers for the tests in tests/systemd: sourced, not run.
#
# Sets top_srcdir and top_builddir (make check exports both; run by hand they
# default to the tree the script is in), a temporary directory $tmp, and an
# EXIT trap that kills every process started through these helpers and
# removes $tmp. Every wait polls for a condition until a deadline.

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-$here/../..}" && pwd)
TOKEND=$top_builddir/crvs-tokend
TOKEN=$top_builddir/crvs-token
ISSUER=$top_builddir/tests/fake-issuer/fake-issuer
DEFAULT_ID=2fd153ab-86c8-45fb-990d-721140e46061
DEFAULT_SECRET=test-secret

for b in "$TOKEND" "$TOKEN" "$ISSUER"; do
	if [ ! -x "$b" ]; then
		echo "FAIL: $b is not built (make check builds it)"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/crvs-systemd.XXXXXX")
chmod 0755 "$tmp"
pids=()
npass=0
nfail=0

lib_cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		# Bounded: SIGKILL whatever is still there after 3 s.
		for _ in $(seq 30); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ "${KEEP_TMP:-}" = 1 ]; then
		echo "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap lib_cleanup EXIT
trap 'exit 130' INT TERM

pass() { echo "PASS: $*"; npass=$((npass + 1)); }
fail() { echo "FAIL: $*"; nfail=$((nfail + 1)); }
check() {	# check "what" command...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
# Ends the test: a summary line, exit 0 only if nothing failed.
finish() {
	echo "$(basename "$0" .sh): $npass passed, $nfail failed"
	[ "$nfail" = 0 ]
}
# A failure that the rest of the test cannot go on without.
die() {
	fail "$*"
	finish || true
	exit 1
}

# wait_for SECONDS command...: polls every 50 ms until command succeeds.
wait_for() {
	local deadline=$(($(date +%s%N) / 1000000 + $1 * 1000))
	shift
	while ! "$@"; do
		[ $(($(date +%s%N) / 1000000)) -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# start_issuer NAME [fake-issuer options]: starts a fake issuer on a free
# port; sets ${NAME}_port and ${NAME}_url (its token endpoint).
start_issuer() {
	local name=$1 pf
	shift
	pf=$tmp/$name.port
	"$ISSUER" --port 0 --port-file "$pf" "$@" >"$tmp/$name.log" 2>&1 &
	pids+=("$!")
	wait_for 10 test -s "$pf" || die "fake issuer $name did not start"
	printf -v "${name}_port" '%s' "$(cat "$pf")"
	printf -v "${name}_url" 'http://127.0.0.1:%s/auth/token' "$(cat "$pf")"
}

# issuer_stat PORT KEY [ID]: a number from the fake issuer's /control/stats:
# a top-level counter, or per_client[ID] (0 when absent).
issuer_stat() {
	curl -sf "http://127.0.0.1:$1/control/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
v = s[sys.argv[1]]
print(v.get(sys.argv[2], 0) if len(sys.argv) > 2 else v)' "${@:2}"
}

# secret_file NAME VALUE: a 0600 secret file; prints its path.
secret_file() {
	(umask 077 && printf '%s\n' "$2" >"$tmp/$1.secret")
	echo "$tmp/$1.secret"
}

# Receives sd_notify datagrams on $tmp/notify.sock into $tmp/notify.log, one
# line each: the sender's pid, a tab, and the message with newlines as " | ".
start_notify_listener() {
	NOTIFY_LOG=$tmp/notify.log
	: >"$NOTIFY_LOG"
	python3 -u - "$tmp/notify.sock" "$NOTIFY_LOG" <<'EOF' &
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
with open(sys.argv[2], "a") as log:
    while True:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = 0
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
        text = msg.decode("utf-8", "replace").strip("\n").replace("\n", " | ")
        log.write("%d\t%s\n" % (pid, text))
        log.flush()
EOF
	pids+=("$!")
	wait_for 10 test -S "$tmp/notify.sock" || die "notify listener did not start"
}

# notify_count REGEX: how many notify messages match REGEX (grep -E).
notify_count() {
	grep -cE "$1" "$NOTIFY_LOG" || true
}
