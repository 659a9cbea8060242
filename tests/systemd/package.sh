#!/bin/bash
# The Debian package, the way an administrator meets it: builds it from a
# copy of the distributed tree (dpkg-buildpackage -us -uc -b, the package's
# own "make check" left out: the suite running this is that check), runs
# lintian on it (no error, no warning), then in a booted systemd-nspawn
# container (this machine's root, overlaid) installs it with dpkg -i and
# checks:
#   - the user and group exist, /etc/crvs-tokend/secrets is 0700 the
#     daemon's, the configuration files are conffiles
#   - on a fresh install, with no client yet, the socket and the service
#     are enabled and active, and the status says "no clients configured"
#   - a client added for the test token server (run inside) is served after
#     "systemctl reload": a member of crvs-token gets a token the issuer's
#     gateway accepts, a non-member gets exit 77
#   - systemctl reload keeps the token (no new request to the issuer)
#   - an upgrade to the same package with a higher version (repacked)
#     restarts the daemon while consumers in a loop see no error
#   - dpkg --purge leaves no user, group, unit, enablement link or file
# Needs root, dpkg-buildpackage, debhelper and lintian; exits 77 only if
# those or systemd-nspawn are missing. Bounded by a timeout. KEEP_PACKAGE=DIR
# keeps the .debs built; PACKAGE_PREBUILT=DIR tests those instead of
# building (to work on this test; the build and lintian are then left out).
set -euo pipefail

PACKAGE_TIMEOUT=${PACKAGE_TIMEOUT:-900}
if [ -z "${CRVS_PACKAGE_TIMED:-}" ]; then
	export CRVS_PACKAGE_TIMED=1
	exec timeout -k 10 "$PACKAGE_TIMEOUT" bash "$0" "$@"
fi

if [ -n "${DEB_RULES_REQUIRES_ROOT:-}" ]; then
	echo "SKIP: inside a package build (dpkg-buildpackage): the package cannot test itself"
	exit 77
fi
for t in dpkg-buildpackage dh lintian curl; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "SKIP: $t is not installed (apt-get install --no-install-recommends debhelper lintian curl)"
		exit 77
	fi
done

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nspawn-lib.sh"

# ---------------------------------------------------------------- build
version=$(sed -n '1s/^crvs-tokend (\([^)]*\)).*/\1/p' "$top_srcdir/debian/changelog")
[ -n "$version" ] || die "cannot read the version from debian/changelog"
arch=$(dpkg --print-architecture)
deb=$tmp/build/crvs-tokend_${version}_$arch.deb
mkdir -p "$tmp/build"
if [ -n "${PACKAGE_PREBUILT:-}" ]; then
	# For working on this test: what a run with KEEP_PACKAGE=DIR built
	# and lintian checked then.
	echo "# the package from $PACKAGE_PREBUILT (PACKAGE_PREBUILT; no build, no lintian)"
	cp "$PACKAGE_PREBUILT"/*.deb "$tmp/build/"
else
	echo "# building the package from the distributed tree"
	src=$tmp/build/crvs-tokend-$version
	make -s -C "$top_builddir" distdir distdir="$src" >"$tmp/distdir.log" 2>&1 ||
		{ tail -20 "$tmp/distdir.log"; die "make distdir failed"; }
	t0=$(date +%s)
	(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
		dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 && rc=0 || rc=$?
	check "dpkg-buildpackage -us -uc -b built crvs-tokend_${version}_$arch.deb (exit $rc, $(($(date +%s) - t0)) s)" \
		test "$rc" = 0 -a -f "$deb"
	[ -f "$deb" ] || { tail -30 "$tmp/build.log"; die "no package"; }
	lintian --fail-on none "$tmp/build/crvs-tokend_${version}_$arch.changes" >"$tmp/lintian.out" 2>&1 || true
	check "lintian: no error and no warning$(grep -E '^[EW]: ' "$tmp/lintian.out" | sed 's/^/\n    /' | tr -d '\n')" \
		sh -c "! grep -qE '^[EW]: ' '$tmp/lintian.out'"
	if [ -n "${KEEP_PACKAGE:-}" ]; then
		mkdir -p "$KEEP_PACKAGE"
		cp "$tmp"/build/*.deb "$KEEP_PACKAGE"/
	fi
fi
# The upgrade: the same files with a higher version, as a rebuild with a
# new changelog entry would give (the maintainer scripts are what an
# upgrade exercises; rebuilding would double the test's longest step).
new_version=$version+upgrade1
mkdir "$tmp/repack"
dpkg-deb -R "$deb" "$tmp/repack/root"
sed -i "s/^Version: .*/Version: $new_version/" "$tmp/repack/root/DEBIAN/control"
deb2=$tmp/repack/crvs-tokend_${new_version}_$arch.deb
dpkg-deb -b --root-owner-group "$tmp/repack/root" "$deb2" >/dev/null
dpkg --compare-versions "$new_version" gt "$version" || die "$new_version is not higher than $version"

# ---------------------------------------------------------------- boot
echo "# booting the host's root, overlaid, as container $machine"
nspawn_boot
journal_dump() {
	echo "---- journal of crvs-tokend (last 60 lines)"
	in_ct journalctl --no-pager -n 60 -u crvs-tokend.service -u crvs-tokend.socket 2>&1 || true
}
prop() { in_ct systemctl show -p "$2" --value "$1"; }
stats() {
	in_ct curl -sf "http://127.0.0.1:$port/control/stats" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}
# The host may have the package installed: the container starts clean.
if in_ct dpkg-query -W crvs-tokend >/dev/null 2>&1; then
	in_ct dpkg --purge crvs-tokend >/dev/null 2>&1 || die "cannot purge the host's crvs-tokend in the container"
fi
in_ct getent passwd crvs-tokend >/dev/null && in_ct userdel crvs-tokend
in_ct getent group crvs-token >/dev/null && in_ct groupdel crvs-token
# A Docker-built host root denies every service start to maintainer scripts
# (policy-rc.d exits 101); a real server has no such file.
if [ -e "$(R /usr/sbin/policy-rc.d)" ]; then
	echo "    removing the host's /usr/sbin/policy-rc.d inside the container"
	rm -f "$(R /usr/sbin/policy-rc.d)"
fi
mkdir -p "$(R /var/tmp/crvs-pkg)"
cp "$deb" "$deb2" "$(R /var/tmp/crvs-pkg)/"

# ---------------------------------------------------------------- install
echo "# dpkg -i crvs-tokend_${version}_$arch.deb"
in_ct dpkg -i "/var/tmp/crvs-pkg/$(basename "$deb")" </dev/null >"$tmp/install.log" 2>&1 && rc=0 || rc=$?
check "dpkg -i installs it (exit $rc)$(grep -iE 'warn|error' "$tmp/install.log" | sed 's/^/\n    /' | tr -d '\n')" \
	sh -c "[ $rc = 0 ] && ! grep -qiE 'warn|error' '$tmp/install.log'"
check "user crvs-tokend with primary group crvs-token, a system account without login" \
	test "$(in_ct id -gn crvs-tokend) $(in_ct getent passwd crvs-tokend | cut -d: -f7)" = "crvs-token /usr/sbin/nologin" -a \
	"$(in_ct id -u crvs-tokend)" -lt 1000
check "/etc/crvs-tokend/secrets is crvs-tokend:crvs-token 0700" \
	test "$(in_ct stat -c '%U:%G %a' /etc/crvs-tokend/secrets)" = "crvs-tokend:crvs-token 700"
conffiles=$(in_ct dpkg-query -W -f='${Conffiles}' crvs-tokend | awk '{ print $1 }' | sort | tr '\n' ' ')
check "conffiles: $conffiles" \
	test "$conffiles" = "/etc/crvs-tokend/clients.d/example.conf.sample /etc/crvs-tokend/crvs-tokend.conf "
check "the bash completion is where bash-completion looks" \
	in_ct test -f /usr/share/bash-completion/completions/crvs-token
check "the man pages are installed" \
	in_ct test -f /usr/share/man/man5/crvs-tokend.conf.5.gz -a -f /usr/share/man/man8/crvs-tokend.8.gz -a \
	-f /usr/share/man/man1/crvs-token.1.gz
active() { [ "$(prop "$1" ActiveState)" = active ]; }
check "crvs-tokend.socket and .service are enabled: $(in_ct systemctl is-enabled crvs-tokend.socket crvs-tokend.service | tr '\n' ' ')" \
	test "$(in_ct systemctl is-enabled crvs-tokend.socket crvs-tokend.service | tr '\n' ' ')" = "enabled enabled "
check "with no client configured the service runs: socket $(prop crvs-tokend.socket ActiveState), service $(prop crvs-tokend.service ActiveState)" \
	wait_for 10 sh -c "[ \"\$(nsenter -t $ct -a systemctl show -p ActiveState --value crvs-tokend.socket crvs-tokend.service | grep . | tr '\n' ' ')\" = 'active active ' ]"
check "its status says so: \"$(prop crvs-tokend StatusText)\"" \
	test "$(prop crvs-tokend StatusText)" = "no clients configured"
check "the daemon took its socket from systemd" \
	sh -c "nsenter -t $ct -a journalctl --no-pager -u crvs-tokend | grep -q 'listening on the socket from systemd'"
check "crvs-token status answers (exit 0, no client)" \
	test "$(in_ct crvs-token status | wc -l)" = 1

# ---------------------------------------------------------------- a client
echo "# adding a client for the test token server"
install -D -m 0755 "$ISSUER" "$(R /usr/local/libexec/crvs-tokend-test)/fake-issuer"
in_ct systemd-run --quiet --unit=crvs-fake-issuer \
	/usr/local/libexec/crvs-tokend-test/fake-issuer --port 0 \
	--port-file /run/crvs-fake-issuer.port --lifetime 600 ||
	die "cannot start the fake issuer in the container"
wait_for 10 test -s "$(R /run/crvs-fake-issuer.port)" || die "the fake issuer did not start"
port=$(cat "$(R /run/crvs-fake-issuer.port)")
# As crvs-tokend.conf(5) says: a secret file of the daemon's user, 0600,
# in secrets/.
(umask 077 && printf '%s\n' "$DEFAULT_SECRET" >"$(R /etc/crvs-tokend/secrets)/alpha")
in_ct chown crvs-tokend:crvs-token /etc/crvs-tokend/secrets/alpha
cat >"$(R /etc/crvs-tokend/clients.d)/alpha.conf" <<EOF
[client alpha]
token_url = http://127.0.0.1:$port/auth/token
client_id = $DEFAULT_ID
client_secret_file = /etc/crvs-tokend/secrets/alpha
EOF
check "crvs-tokend --check-config as the daemon's user accepts it" \
	as crvs-tokend crvs-tokend --check-config
in_ct useradd --no-create-home --user-group --groups crvs-token member
in_ct useradd --no-create-home --user-group outsider
check "systemctl reload succeeds" in_ct systemctl reload crvs-tokend
check "the status counts the client" \
	wait_for 10 sh -c "nsenter -t $ct -a systemctl show -p StatusText --value crvs-tokend | grep -q '^1 clients*: 1 valid'"
tok=$(as member crvs-token alpha) || tok=
check "a member of crvs-token gets a token" test -n "$tok"
check "the issuer's gateway accepts it" \
	in_ct curl -sf -H "Authorization: Bearer $tok" "http://127.0.0.1:$port/gateway/check" -o /dev/null
rc=0
err=$(as outsider crvs-token alpha 2>&1 >/dev/null) || rc=$?
check "a non-member gets exit 77 ($err)" test "$rc" = 77
check "crvs-token status lists the client" \
	sh -c "nsenter -t $ct -a crvs-token status | grep -q '^alpha  *valid'"

# ---------------------------------------------------------------- reload
before=$(stats requests)
pid=$(prop crvs-tokend MainPID)
check "systemctl reload succeeds" in_ct systemctl reload crvs-tokend
check "the reload kept the token: same token, no new request ($before), same process" \
	test -n "$tok" -a "$(as member crvs-token alpha)" = "$tok" -a "$(stats requests)" = "$before" -a \
	"$(prop crvs-tokend MainPID)" = "$pid"

# ---------------------------------------------------------------- upgrade
echo "# upgrade to $new_version while consumers ask for tokens"
mkdir -p "$(R /var/tmp/crvs-consumer)"
in_ct chown member "/var/tmp/crvs-consumer"
# A consumer as a cron job would be: one crvs-token after another, each
# outcome on a line.
in_ct systemd-run --quiet --unit=crvs-consumer -p User=member -p Group=member \
	-p SupplementaryGroups=crvs-token sh -c '
	while [ ! -e /var/tmp/crvs-consumer/stop ]; do
		if crvs-token alpha >/dev/null 2>>/var/tmp/crvs-consumer/err; then
			echo ok; else echo "fail $?"; fi >>/var/tmp/crvs-consumer/log
	done' || die "cannot start the consumer loop"
consumed() {
	local n
	n=$(grep -c '^ok' "$(R /var/tmp/crvs-consumer/log)" 2>/dev/null) || true
	[ "${n:-0}" -ge "$1" ]
}
wait_for 20 consumed 20 || die "the consumer loop does not get tokens"
in_ct dpkg -i "/var/tmp/crvs-pkg/$(basename "$deb2")" </dev/null >"$tmp/upgrade.log" 2>&1 && rc=0 || rc=$?
check "dpkg -i of $new_version upgrades it (exit $rc)" \
	test "$rc" = 0 -a "$(in_ct dpkg-query -W -f='${Version}' crvs-tokend)" = "$new_version"
n_at_upgrade=$(grep -c . "$(R /var/tmp/crvs-consumer/log)")
check "the daemon was restarted (a new process) and is active" \
	wait_for 20 sh -c "p=\$(nsenter -t $ct -a systemctl show -p MainPID --value crvs-tokend); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] &&
		[ \"\$(nsenter -t $ct -a systemctl show -p ActiveState --value crvs-tokend)\" = active ]"
wait_for 20 consumed $((n_at_upgrade + 20)) || true
touch "$(R /var/tmp/crvs-consumer/stop)"
wait_for 20 sh -c "! nsenter -t $ct -a systemctl is-active --quiet crvs-consumer" || true
total=$(grep -c . "$(R /var/tmp/crvs-consumer/log)")
fails=$(grep -c '^fail' "$(R /var/tmp/crvs-consumer/log)" || true)
check "no consumer saw an error across the upgrade: $total calls, $fails failed$(sort "$(R /var/tmp/crvs-consumer/err)" | uniq -c | head -3 | sed 's/^/\n    /' | tr -d '\n')" \
	test "$fails" = 0 -a "$total" -gt "$((n_at_upgrade + 19))"
check "the upgrade kept the client's files" \
	in_ct test -f /etc/crvs-tokend/clients.d/alpha.conf -a -f /etc/crvs-tokend/secrets/alpha
check "after the upgrade a member still gets a valid token" \
	sh -c "t=\$(nsenter -t $ct -a setpriv --reuid=member --regid=member --init-groups crvs-token alpha) &&
		nsenter -t $ct -a curl -sf -H \"Authorization: Bearer \$t\" http://127.0.0.1:$port/gateway/check -o /dev/null"

# ---------------------------------------------------------------- purge
echo "# dpkg --purge crvs-tokend"
uid=$(in_ct id -u crvs-tokend)
gid=$(in_ct getent group crvs-token | cut -d: -f3)
in_ct dpkg --purge crvs-tokend </dev/null >"$tmp/purge.log" 2>&1 && rc=0 || rc=$?
check "dpkg --purge succeeds (exit $rc)$(grep -iE 'warn|error' "$tmp/purge.log" | sed 's/^/\n    /' | tr -d '\n')" \
	sh -c "[ $rc = 0 ] && ! grep -qiE 'warn|error' '$tmp/purge.log'"
check "dpkg no longer knows the package" sh -c "! nsenter -t $ct -a dpkg-query -W crvs-tokend >/dev/null 2>&1"
check "no user crvs-tokend, no group crvs-token" \
	sh -c "! nsenter -t $ct -a getent passwd crvs-tokend && ! nsenter -t $ct -a getent group crvs-token"
check "member is no longer in a crvs-token group" \
	sh -c "! nsenter -t $ct -a id -nG member | grep -qw crvs-token"
check "no process of the daemon is left" sh -c "! nsenter -t $ct -a pgrep -u $uid >/dev/null"
check "the units are gone (LoadState not-found, inactive)" \
	test "$(in_ct systemctl show -p LoadState,ActiveState --value crvs-tokend.service crvs-tokend.socket | grep . | tr '\n' ' ')" = \
	"not-found inactive not-found inactive "
left=$(in_ct find /etc /lib /usr /run /var/lib -xdev \( -name '*crvs-tokend*' -o -name '*crvs-token*' \
	-o -uid "$uid" -o -gid "$gid" \) -not -path '/usr/local/libexec/crvs-tokend-test*' 2>/dev/null | head -20 | tr '\n' ' ')
check "no file left behind: ${left:-none}" test -z "$left"
in_ct systemctl stop crvs-fake-issuer.service 2>/dev/null || true

[ "$nfail" = 0 ] || { journal_dump; tail -20 "$tmp/lintian.out" 2>/dev/null || true; }
finish
