# Helpers for the tests in tests/systemd: sourced, not run.
# shellcheck shell=bash

# The shared helpers (checks, bounded waits, processes stopped at exit,
# the fake issuer, the JSON reader) are in tests/lib.sh; the names these
# scripts have always used are kept below.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
DEFAULT_ID=$CLIENT_ID
DEFAULT_SECRET=$SECRET

for b in "$TOKEND" "$TOKEN" "$ISSUER"; do
	if [ ! -x "$b" ]; then
		echo "FAIL: $b is not built (make check builds it)"
		exit 1
	fi
done

# Older names: $tmp is $T, pids are PIDS (stopped at exit), npass and
# nfail are the counts, lib_cleanup is cleanup.
tmp=$T
declare -n pids=PIDS npass=PASSED nfail=FAILED
lib_cleanup() { cleanup "$@"; }

# start_issuer NAME [fake-issuer options]: the shared one, plus
# ${NAME}_port and ${NAME}_url (its token endpoint).
eval "lib_start_issuer() $(declare -f start_issuer | tail -n +2)"
start_issuer() {
	lib_start_issuer "$@"
	printf -v "${1}_port" '%s' "$ISSUER_PORT"
	printf -v "${1}_url" 'http://127.0.0.1:%s/auth/token' "$ISSUER_PORT"
}

# issuer_stat PORT KEY [ID]: a top-level counter, or per_client[ID] (0
# when absent).
issuer_stat() {
	local v
	v=$(json_field "$2${3:+.$3}" < <(issuer_get "$1" /control/stats)) || v=0
	echo "${v:-0}"
}

# secret_file NAME VALUE: a 0600 secret file; prints its path.
secret_file() {
	(umask 077 && printf '%s\n' "$2" >"$tmp/$1.secret")
	echo "$tmp/$1.secret"
}

# Receives sd_notify datagrams on $tmp/notify.sock into $tmp/notify.log, one
# line each: the sender's pid, a tab, and the message with newlines as " | ";
# NOTIFY_LOG.ms has the same messages after the time the kernel queued them
# on the socket (ms, SO_TIMESTAMP): when the daemon sent them, however late
# this listener gets to read them.
start_notify_listener() {
	NOTIFY_LOG=$tmp/notify.log
	: >"$NOTIFY_LOG"
	python3 -u - "$tmp/notify.sock" "$NOTIFY_LOG" <<'EOF' &
import os, socket, struct, sys, time
SO_TIMESTAMP = 29       # Linux; SCM_TIMESTAMP has the same value
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
with open(sys.argv[2], "a") as log:
    while True:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12) +
                                   socket.CMSG_SPACE(16))
        pid = 0
        at = time.time() * 1000
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
            elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMP:
                sec, usec = struct.unpack("qq", data[:16])
                at = sec * 1000 + usec / 1000
        text = msg.decode("utf-8", "replace").strip("\n").replace("\n", " | ")
        log.write("%d\t%s\n" % (pid, text))
        log.flush()
        with open(sys.argv[2] + ".ms", "a") as ms:
            ms.write("%d\t%s\n" % (at, text))
EOF
	pids+=("$!")
	wait_for 10 test -S "$tmp/notify.sock" || die "notify listener did not start"
}

# notify_count REGEX: how many notify messages match REGEX (grep -E).
notify_count() {
	grep -cE "$1" "$NOTIFY_LOG" || true
}
