#!/bin/bash
# The shipped units as systemd itself judges them: "systemd-analyze verify"
# reports nothing, "systemd-analyze security --offline=yes" scores 1.5 or
# lower, and the sysusers.d / tmpfiles.d snippets create what the units
# expect. Skips (77) only when systemd-analyze is not installed.
set -euo pipefail

. "$(cd "$(dirname "$0")" && pwd)/../lib.sh"
MAX_EXPOSURE=${MAX_EXPOSURE:-1.5}

command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze is not installed"

tmp=$T
ok() { pass "$@"; }
ko() { fail "$@"; }

# Render the unit as "make install" does, with the built daemon's path:
# verify wants every Exec binary to exist.
sbindir=$(cd "$top_builddir" && pwd)
[ -x "$sbindir/crvs-tokend" ] || { echo "FAIL: $sbindir/crvs-tokend is not built"; exit 1; }
units=$tmp/units
mkdir "$units"
sed -e "s|@sbindir@|$sbindir|g" "$top_srcdir/systemd/crvs-tokend.service.in" \
	>"$units/crvs-tokend.service"
cp "$top_srcdir/systemd/crvs-tokend.socket" "$units/"
if grep -n '@[a-z_]*@' "$units/crvs-tokend.service"; then
	ko "crvs-tokend.service.in: every @var@ is substituted"
else
	ok "crvs-tokend.service.in: every @var@ is substituted"
fi

# The Documentation= man pages, when the tree has them; otherwise verify
# cannot find them here (they are not installed yet) and is told not to look.
man=(--man=no)
pages=(crvs-tokend.8 crvs-tokend.conf.5 crvs-token.1)
have_pages=1
for p in "${pages[@]}"; do
	[ -f "$top_srcdir/man/$p" ] || [ -f "$top_builddir/man/$p" ] || have_pages=0
done
if [ "$have_pages" = 1 ] && command -v man >/dev/null 2>&1; then
	for p in "${pages[@]}"; do
		mkdir -p "$tmp/man/man${p##*.}"
		src=$top_builddir/man/$p
		[ -f "$src" ] || src=$top_srcdir/man/$p
		cp "$src" "$tmp/man/man${p##*.}/"
	done
	export MANPATH="$tmp/man:"
	man=(--man=yes)
else
	echo "note: man pages not in the tree; verify runs with --man=no"
fi

# verify: exit 0 and not a word, on stdout or stderr.
set +e
(cd "$units" && systemd-analyze verify "${man[@]}" ./crvs-tokend.service \
	./crvs-tokend.socket) >"$tmp/verify.out" 2>&1
rc=$?
set -e
if [ "$rc" = 0 ] && [ ! -s "$tmp/verify.out" ]; then
	ok "systemd-analyze verify crvs-tokend.service crvs-tokend.socket reports nothing"
else
	ko "systemd-analyze verify (exit $rc):"
	sed 's/^/    /' "$tmp/verify.out"
fi

# security: the overall exposure.
set +e
(cd "$units" && systemd-analyze security --offline=yes --no-pager \
	./crvs-tokend.service) >"$tmp/security.out" 2>&1
rc=$?
set -e
score=$(sed -n 's/.*Overall exposure level for crvs-tokend.service: \([0-9.]*\).*/\1/p' \
	"$tmp/security.out")
if [ -z "$score" ]; then
	ko "systemd-analyze security --offline=yes gives a score (exit $rc):"
	sed 's/^/    /' "$tmp/security.out"
elif awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
	ok "systemd-analyze security --offline=yes: exposure $score <= $MAX_EXPOSURE"
else
	ko "systemd-analyze security --offline=yes: exposure $score > $MAX_EXPOSURE:"
	grep '✗' "$tmp/security.out" | sed 's/^/    /'
fi

# The settings the rest of the design relies on.
svc=$units/crvs-tokend.service
want() {
	if grep -qx -- "$1" "$svc" "$units/crvs-tokend.socket"; then
		ok "unit sets $1"
	else
		ko "unit sets $1"
	fi
}
want "Type=notify"
want "ExecStart=$sbindir/crvs-tokend"
want 'ExecReload=kill -HUP $MAINPID'
want "User=crvs-tokend"
want "Group=crvs-token"
want "RuntimeDirectory=crvs-tokend"
want "RuntimeDirectoryMode=0750"
want "ListenStream=/run/crvs-tokend/crvs-tokend.sock"
want "SocketUser=crvs-tokend"
want "SocketGroup=crvs-token"
want "SocketMode=0660"
want "Service=crvs-tokend.service"

# sysusers.d: a user crvs-tokend whose primary group is crvs-token (the
# unit's Group=, so the runtime directory lets the group in).
root=$tmp/root
mkdir -p "$root/etc"
: >"$root/etc/passwd"
: >"$root/etc/group"
if command -v systemd-sysusers >/dev/null 2>&1; then
	if systemd-sysusers --root="$root" \
		"$top_srcdir/systemd/crvs-tokend.sysusers" >"$tmp/sysusers.out" 2>&1; then
		gid=$(awk -F: '$1 == "crvs-token" { print $3 }' "$root/etc/group")
		ugid=$(awk -F: '$1 == "crvs-tokend" { print $4 }' "$root/etc/passwd")
		shell=$(awk -F: '$1 == "crvs-tokend" { print $7 }' "$root/etc/passwd")
		if [ -n "$gid" ] && [ "$gid" = "$ugid" ] && [ "$gid" -lt 1000 ]; then
			ok "sysusers: system user crvs-tokend in system group crvs-token (gid $gid), shell $shell"
		else
			ko "sysusers: user crvs-tokend with primary group crvs-token:"
			cat "$root/etc/passwd" "$root/etc/group" "$tmp/sysusers.out" | sed 's/^/    /'
		fi
	else
		ko "systemd-sysusers accepts crvs-tokend.sysusers:"
		sed 's/^/    /' "$tmp/sysusers.out"
	fi
	# tmpfiles.d: the directory crvs-tokend:crvs-token 0750.
	if command -v systemd-tmpfiles >/dev/null 2>&1 &&
		systemd-tmpfiles --root="$root" --create \
		"$top_srcdir/systemd/crvs-tokend.tmpfiles" >"$tmp/tmpfiles.out" 2>&1; then
		got=$(stat -c '%a %u:%g' "$root/run/crvs-tokend")
		uid=$(awk -F: '$1 == "crvs-tokend" { print $3 }' "$root/etc/passwd")
		if [ "$got" = "750 $uid:$gid" ]; then
			ok "tmpfiles: /run/crvs-tokend is crvs-tokend:crvs-token 0750"
		else
			ko "tmpfiles: /run/crvs-tokend is $got, not 750 $uid:$gid"
		fi
	else
		ko "systemd-tmpfiles accepts crvs-tokend.tmpfiles:"
		sed 's/^/    /' "$tmp/tmpfiles.out"
	fi
else
	echo "note: systemd-sysusers not installed; snippets not checked"
fi

finish
