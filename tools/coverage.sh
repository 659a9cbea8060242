#!/bin/sh
# make coverage: line and branch coverage of daemon/ and client/ from the
# test suite. The sources are built again with --coverage in an
# out-of-tree directory ($top_builddir/_coverage), the suite runs there
# (check-all when the Makefile has it, else check; COVERAGE_TARGET
# overrides), and gcovr reports file by file (also as
# _coverage/coverage.txt, or _coverage/build/coverage.txt from an in-tree
# build).
set -eu
# Absolute and canonical: gcovr's filters must match the paths it finds,
# also when make runs in an out-of-tree build (top_srcdir = build/..).
srcdir=$(cd "${top_srcdir:-$(dirname "$0")/..}" && pwd -P)
builddir=$(cd "${top_builddir:-.}" && pwd -P)
dir=$builddir/_coverage

rm -rf "$dir"
mkdir -p "$dir"
# configure refuses to build out of a source tree that is configured itself
# (an in-tree build, as quickstart.sh makes): then the build runs on a
# clean copy of the sources (make distdir) and the report names those.
if [ -f "$srcdir/config.status" ]; then
	make -s -C "$builddir" distdir distdir="$dir/src" >/dev/null
	srcdir=$dir/src
	dir=$dir/build
	mkdir -p "$dir"
fi
cd "$dir"
"$srcdir/configure" -q CFLAGS="-O0 -g --coverage" LDFLAGS="--coverage"
make -s -j"$(nproc)"
target=${COVERAGE_TARGET:-$(grep -q '^check-all:' Makefile &&
    echo check-all || echo check)}
rc=0
make -j"$(nproc)" "$target" || rc=$?
[ $rc -eq 0 ] || echo "coverage: make $target failed; the figures below" \
    "cover what ran" >&2
# configure's test programs, built with --coverage too, are not ours.
rm -f "$dir"/*conftest*.gc*
gcovr --root "$srcdir" --object-directory "$dir" \
    --filter "$srcdir/daemon/" --filter "$srcdir/client/" \
    --exclude-unreachable-branches --branches --txt "$dir/coverage.txt" \
    >/dev/null
gcovr --root "$srcdir" --object-directory "$dir" \
    --filter "$srcdir/daemon/" --filter "$srcdir/client/" \
    --exclude-unreachable-branches --txt "$dir/coverage-lines.txt" \
    >/dev/null
echo "== lines"; cat "$dir/coverage-lines.txt"
echo "== branches"; cat "$dir/coverage.txt"
# The targets are set for daemon/ alone (90 % of lines, 75 % of branches).
echo "== daemon/"
gcovr --root "$srcdir" --object-directory "$dir" --filter "$srcdir/daemon/" \
    --exclude-unreachable-branches --print-summary \
    --txt "$dir/coverage-daemon.txt" |
    sed -n 's/^\(lines\|branches\): /daemon\/ \1: /p'
exit $rc
