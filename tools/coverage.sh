#!/bin/sh
# make coverage: line and branch coverage of daemon/ and client/ from the
# test suite. The sources are built again with --coverage in an
# out-of-tree directory ($top_builddir/_coverage), the suite runs there
# (check-all when the Makefile has it, else check; COVERAGE_TARGET
# overrides), and gcovr reports file by file (also as
# _coverage/coverage.txt).
set -eu
# Absolute and canonical: gcovr's filters must match the paths it finds,
# also when make runs in an out-of-tree build (top_srcdir = build/..).
srcdir=$(cd "${top_srcdir:-$(dirname "$0")/..}" && pwd -P)
builddir=$(cd "${top_builddir:-.}" && pwd -P)
dir=$builddir/_coverage

rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
"$srcdir/configure" -q CFLAGS="-O0 -g --coverage" LDFLAGS="--coverage"
make -s -j"$(nproc)"
target=${COVERAGE_TARGET:-$(grep -q '^check-all:' Makefile &&
    echo check-all || echo check)}
rc=0
make -j"$(nproc)" "$target" || rc=$?
[ $rc -eq 0 ] || echo "coverage: make $target failed; the figures below" \
    "cover what ran" >&2
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
exit $rc
