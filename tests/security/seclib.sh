# Helpers for the security tests (tests/security/*.sh), on top of
# tests/lib.sh (through tests/integration/lib.sh), which the caller sources
# first:
#
#     . "$top_srcdir/tests/integration/lib.sh"
#     . "$top_srcdir/tests/security/seclib.sh"
#
# Test users and groups: every script makes its own (crvstest-TAG-NAME), so
# that scripts run in parallel by `make -j check` do not share accounts; ones
# left over by a killed run are removed first, and all are removed at exit.
# The tests need root (useradd, setpriv); without it they are skipped (77).
# shellcheck shell=bash

[ "$(id -u)" -eq 0 ] || skip "the security tests run as root (useradd, setpriv)"
need_tools setpriv useradd userdel groupadd groupdel python3 curl stat ss

# shellcheck disable=SC2034 # used by the scripts that source this
HOSTILE=$top_srcdir/tests/security/hostile.py
SEC_USERS=()
SEC_GROUPS=()

# The temporary directory must be traversable by the test users.
chmod 755 "$T"

sec_cleanup() {
	local rc=$? u g
	cleanup "$rc"
	for u in "${SEC_USERS[@]}"; do
		pkill_uid_free "$u"
		userdel "$u" >/dev/null 2>&1 || true
		if getent group "$u" >/dev/null 2>&1; then
			groupdel "$u" >/dev/null 2>&1 || true
		fi
	done
	for g in "${SEC_GROUPS[@]}"; do
		groupdel "$g" >/dev/null 2>&1 || true
	done
	exit "$rc"
}
trap sec_cleanup EXIT

# A user's processes must be gone before userdel; only the ones the test
# started (in PIDS) are stopped by cleanup, so this only waits a moment.
pkill_uid_free() {
	local uid
	uid=$(id -u "$1" 2>/dev/null) || return 0
	for _ in $(seq 20); do
		pgrep -u "$uid" >/dev/null 2>&1 || return 0
		sleep 0.1
	done
}

# sec_group NAME: (re)creates a group; prints nothing.
sec_group() {
	if getent group "$1" >/dev/null; then
		# Left over by a killed run: its members first.
		for u in $(getent passwd | awk -F: -v g="$(getent group "$1" | cut -d: -f3)" '$4 == g {print $1}'); do
			userdel "$u" >/dev/null 2>&1 || true
		done
		groupdel "$1" >/dev/null 2>&1 || true
	fi
	groupadd "$1"
	SEC_GROUPS+=("$1")
}

# sec_user NAME [SUPPLEMENTARY_GROUP]: (re)creates a user with its own
# primary group, no home, no shell.
sec_user() {
	if getent passwd "$1" >/dev/null; then
		userdel "$1" >/dev/null 2>&1 || true
	fi
	if getent group "$1" >/dev/null; then
		groupdel "$1" >/dev/null 2>&1 || true
	fi
	groupadd "$1"
	useradd -M -N -g "$1" -s /usr/sbin/nologin ${2:+-G "$2"} "$1"
	SEC_USERS+=("$1")
}

uid_of() { id -u "$1"; }
gid_of() { getent group "$1" | cut -d: -f3; }

# as_user USER CMD...: runs CMD with USER's uid and primary gid and the
# supplementary groups /etc/group gives it (none if it has none).
as_user() {
	local u=$1 groups
	shift
	groups=$(id -G "$u" | tr ' ' ',')
	setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" \
	    --groups="$groups" "$@"
}

# as_user_nogroups USER CMD...: the same without supplementary groups.
as_user_nogroups() {
	local u=$1
	shift
	setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups "$@"
}

# run_cli_as VAR_PREFIX USER ARGS...: run_cli as another user.
run_cli_as() {
	local p=$1 u=$2 rc=0
	shift 2
	as_user "$u" "$TOKEN" "$@" >"$T/cli.out" 2>"$T/cli.err" </dev/null || rc=$?
	printf -v "${p}_out" '%s' "$(cat "$T/cli.out")"
	printf -v "${p}_err" '%s' "$(cat "$T/cli.err")"
	printf -v "${p}_rc" '%s' "$rc"
	cat "$T/cli.err" >>"$T/cli-stderr.all"
}

# curl_as USER OUTFILE ARGS...: curl on the daemon's socket as USER; prints
# the HTTP status (000 when there was no answer).
curl_as() {
	local u=$1 out=$2
	shift 2
	# curl runs as USER and cannot write into $T: the body goes to its
	# stdout (redirected by this shell), the status to its stderr.
	{ as_user "$u" curl -s --max-time 10 --path-as-is \
	    -w '%{stderr}%{http_code}' --unix-socket "$SOCK" "$@" >"$out"; } 2>&1 || true
}

# timed_token CLIENT: runs `crvs-token CLIENT` as root; sets TT_MS (its
# duration), TT_RC and TT_OUT.
# shellcheck disable=SC2034
timed_token() {
	local start rc=0
	start=$(now_ms)
	TT_OUT=$("$TOKEN" -t 5 "$@" 2>>"$T/cli-stderr.all") || rc=$?
	TT_MS=$(( $(now_ms) - start ))
	TT_RC=$rc
}

# Known tokens: appended to $T/tokens, one per line, for the leak checks.
remember_token() {
	[ -n "$1" ] && printf '%s\n' "$1" >>"$T/tokens"
	return 0
}

# no_jwt_in FILE...: no string that looks like a JWT (header.payload) is in
# the files; a token must never appear in logs or listings.
no_jwt_in() {
	! grep -Eq 'eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}' "$@"
}

# no_known_token_in FILE...: none of the remembered tokens is in the files.
no_known_token_in() {
	[ -s "$T/tokens" ] || return 0
	! grep -qFf "$T/tokens" "$@"
}

# log_lines_well_formed FILE: every line of the daemon's log starts with
# its timestamp and tag (no line was injected by a hostile request).
log_lines_well_formed() {
	! grep -Evq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+ crvs-tokend\[[0-9]+\] (error|warning|info|debug): ' "$1"
}

# daemon_rss_kb PID: VmRSS in kB.
daemon_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# backlog_empty: no connection waits in the backlog of the daemon's
# listening socket ($SOCK) for the daemon to accept it (ss's Recv-Q).
backlog_empty() {
	[ "$(ss -xlnH 2>/dev/null | awk -v p="$SOCK" '$5 == p { print $3 }')" = 0 ]
}

# daemon_nfds PID: open descriptors.
daemon_nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# listen_fd_of PID PATH: the daemon's descriptor for the listening socket
# bound to PATH (from /proc/net/unix).
listen_fd_of() {
	local pid=$1 path=$2 ino fd
	ino=$(awk -v p="$path" '$8 == p {print $7; exit}' /proc/net/unix)
	[ -n "$ino" ] || return 1
	for fd in /proc/"$pid"/fd/*; do
		if [ "$(readlink "$fd")" = "socket:[$ino]" ]; then
			basename "$fd"
			return 0
		fi
	done
	return 1
}
