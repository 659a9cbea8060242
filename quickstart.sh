#!/bin/sh
# The README's two commands, on a fresh Debian 12 machine as root:
#   ./quickstart.sh demo   install what is missing, build, and run crvs-tokend
#                          against the bundled test token server (Ctrl-C stops)
#   ./quickstart.sh test   install what is missing, build, and run every test
#                          (make check-all)
set -eu
cd "$(dirname "$0")"

# Debian packages for building and testing (also read by .ci/run).
PACKAGES="build-essential autoconf automake libtool pkg-config
libevent-dev libcurl4-openssl-dev libjson-c-dev libinih-dev libsystemd-dev
libhttp-parser-dev libssl-dev zlib1g-dev check
ca-certificates curl python3 openssl procps util-linux
systemd systemd-container faketime iproute2 groff-base
debhelper lintian bash-completion
clang libclang-rt-14-dev cppcheck gcovr"

install_deps() {
	missing=
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q 'install ok installed' || missing="$missing $p"
	done
	# Node.js (for the interoperability tests) may come from elsewhere.
	command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
	[ -z "$missing" ] && return 0
	echo "quickstart: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# --no-install-recommends: a recommended package of systemd-container
	# would edit nsswitch.conf.
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

build() {
	[ -x configure ] || autoreconf -fi >/dev/null
	[ -f Makefile ] || ./configure -q --enable-werror
	make -s -j"$(nproc)"
}

demo() {
	make -s tests/fake-issuer/fake-issuer
	d=$(mktemp -d /tmp/crvs-demo.XXXXXX)
	chmod 700 "$d"
	trap 'kill $ipid $dpid 2>/dev/null; wait 2>/dev/null; rm -rf "$d"' EXIT
	trap 'exit 0' INT TERM
	./tests/fake-issuer/fake-issuer --port 0 --port-file "$d/port" \
	    --lifetime 20 --gateway 2>"$d/issuer.log" &
	ipid=$!
	i=0; while [ ! -s "$d/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
	printf 'test-secret\n' >"$d/secret"; chmod 600 "$d/secret"
	cat >"$d/crvs-tokend.conf" <<CONF
[daemon]
socket = $d/crvs-tokend.sock
log_level = info

# The bundled test token server, answering like an OpenCRVS gateway
# (20-second tokens so that refreshes show quickly).
[client demo]
token_url = http://127.0.0.1:$(cat "$d/port")/auth/token
client_id = 2fd153ab-86c8-45fb-990d-721140e46061
client_secret_file = $d/secret
min_valid = 5
CONF
	chmod 600 "$d/crvs-tokend.conf"
	echo "== config: $d/crvs-tokend.conf"; sed 's/^/   /' "$d/crvs-tokend.conf"
	./crvs-tokend -c "$d/crvs-tokend.conf" &
	dpid=$!
	export CRVS_TOKEND_SOCKET="$d/crvs-tokend.sock"
	i=0; while ! ./crvs-token health >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
	echo "== crvs-token demo"
	./crvs-token demo
	echo "== crvs-token status"
	./crvs-token status
	echo "== the daemon refreshes the token before it expires (Ctrl-C stops):"
	wait $dpid
}

# One closing line for the whole run: the test programs that passed,
# failed and were skipped (a skipped program is not a pass), and the
# count of checks (each program's own log ends with "N passed, N failed").
summary() {
	pass=0; fail=0; skip=0; checks=0
	for trs in $(find tests -name '*.trs'); do
		case "$(sed -n 's/^:test-result: //p' "$trs")" in
		PASS) pass=$((pass + 1)) ;;
		SKIP) skip=$((skip + 1)); echo "skipped: ${trs%.trs}" ;;
		*) fail=$((fail + 1)) ;;
		esac
	done
	checks=$(cat $(find tests -name '*.log') 2>/dev/null |
	    sed -n 's/^[a-z0-9_-]*: \([0-9][0-9]*\) passed, [0-9]* failed$/\1/p;
	        s/^[0-9]*%: Checks: \([0-9]*\), Failures: 0, Errors: 0$/\1/p' |
	    awk '{ n += $1 } END { print n + 0 }')
	echo "make check-all: $checks checks passed in $pass test programs"
	echo "$pass passed, $fail failed, $skip skipped"
}

case "${1:-}" in
demo)	install_deps; build; demo ;;
test)	install_deps; build
	rc=0
	# Every tier (see README): also the root, npm and container tests.
	make -j"$(nproc)" check-all || rc=$?
	[ $rc -eq 0 ] || tail -n 200 test-suite.log 2>/dev/null || true
	summary ;
	exit $rc ;;
*)	echo "usage: $0 demo|test" >&2; exit 64 ;;
esac
