# Booting this machine's own root, overlaid, as a systemd-nspawn container
# (nothing written there reaches the host): sourced after lib.sh, by the
# tests that need a real systemd as PID 1 (nspawn.sh, package.sh).
#
#   nspawn_boot             boots it; sets ct (the container's PID 1, as seen
#                           from here); skips (exit 77) if nspawn cannot run
#   in_ct CMD...            runs CMD inside
#   R PATH                  PATH inside the container, as seen from here
#   as USER CMD...          runs CMD inside as USER with USER's groups
#
# The EXIT trap powers the container off (bounded) and then runs
# lib_cleanup.

nspawn_skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || nspawn_skip "systemd-nspawn needs root"
for t in unshare nsenter setpriv; do
	command -v "$t" >/dev/null 2>&1 || nspawn_skip "$t is not installed"
done
command -v systemd-nspawn >/dev/null 2>&1 || nspawn_skip "systemd-nspawn is not installed (apt-get install --no-install-recommends systemd-container)"

machine=crvs-tokend-test-$$
hostroot=
ns=
ct=
nspawn_log=$tmp/nspawn.log

nspawn_cleanup() {
	local i
	if [ -n "$ns" ] && kill -0 "$ns" 2>/dev/null; then
		if [ -z "$ct" ] || ! timeout 10 nsenter -t "$ct" -a systemctl \
			poweroff --no-block >/dev/null 2>&1; then
			kill -TERM "$ns" 2>/dev/null || true
		fi
		for i in $(seq 150); do
			kill -0 "$ns" 2>/dev/null || break
			# SIGTERM asks nspawn to power the container off; a second
			# one forces it.
			if [ "$i" = 100 ] || [ "$i" = 125 ]; then kill -TERM "$ns" 2>/dev/null || true; fi
			sleep 0.1
		done
		kill -KILL "$ns" 2>/dev/null || true
	fi
	[ -z "$ns" ] || wait "$ns" 2>/dev/null || true
	rm -rf "/run/systemd/nspawn/propagate/$machine"
	# Only rmdir: the bind mount lived in nspawn's private mount namespace.
	[ -z "$hostroot" ] || rmdir "$hostroot" 2>/dev/null || true
	lib_cleanup
}
trap nspawn_cleanup EXIT

in_ct() { nsenter -t "$ct" -a "$@"; }
R() { echo "/proc/$ct/root$1"; }
as() {
	local u=$1
	shift
	in_ct setpriv --reuid="$u" --regid="$(in_ct id -g "$u")" --init-groups -- "$@"
}

nspawn_boot() {
	local masks f c state
	hostroot=$(mktemp -d /var/tmp/crvs-hostroot.XXXXXX)
	# Services enabled on the host would start inside too.
	masks=(systemd.mask=nginx.service systemd.mask=redis-server.service
		systemd.mask=postgresql.service)
	for f in /etc/systemd/system/multi-user.target.wants/*.service; do
		[ -e "$f" ] && masks+=("systemd.mask=$(basename "$f")")
	done
	unshare -m --propagation private sh -c 'mount --bind / "$0" && exec systemd-nspawn \
		-D "$0" -M "$1" --volatile=overlay --boot --register=no --keep-unit \
		--console=passive --private-network -- "$@"' "$hostroot" "$machine" "${masks[@]}" \
		>"$nspawn_log" 2>&1 &
	ns=$!
	for _ in $(seq 400); do
		kill -0 "$ns" 2>/dev/null || break
		c=$(awk '{ print $1 }' "/proc/$ns/task/$ns/children" 2>/dev/null || true)
		if [ -n "$c" ] && [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ]; then
			ct=$c
			break
		fi
		sleep 0.05
	done
	if [ -z "$ct" ]; then
		echo "---- systemd-nspawn output"
		tail -20 "$nspawn_log" || true
		nspawn_skip "systemd-nspawn cannot boot a container on this machine"
	fi
	wait_for 20 test -S "/proc/$ct/root/run/systemd/private" ||
		die "the container's systemd did not come up"
	state=$(timeout 30 nsenter -t "$ct" -a systemctl is-system-running --wait 2>&1 || true)
	echo "    container PID 1 is host pid $ct; system state: $state"
	[ "$state" = running ] || in_ct systemctl --failed --no-pager || true
	in_ct systemctl is-system-running >/dev/null 2>&1 || [ "$state" = degraded ] ||
		die "the container's systemd does not answer (state: $state)"
}
