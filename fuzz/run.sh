#!/bin/sh
# Builds the libFuzzer targets with clang, ASan and UBSan, and runs each for
# FUZZ_SECONDS (default 60). `make fuzz` calls it; by hand:
#
#   fuzz/run.sh [build|run] [TARGET...]      (run builds first)
#
# The daemon's sources are compiled again here, with the fuzzer's
# instrumentation, out of the way of the normal build (in $top_builddir/fuzz/
# build). Each target's seeds are fuzz/corpus/TARGET and fuzz/regress/TARGET;
# what it learns goes to $top_builddir/fuzz/work/TARGET, and an input that
# fails is saved in $top_builddir/fuzz/findings/TARGET/: fix the parser, then
# keep the input in fuzz/regress/TARGET so that make check replays it.
#
# Environment: FUZZ_SECONDS, FUZZ_CC (clang), FUZZ_FLAGS (extra libFuzzer
# options, e.g. -runs=10000000), FUZZ_NICE (a niceness for the runs).
set -eu
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${top_builddir:-$(pwd)}
cc=${FUZZ_CC:-clang}
seconds=${FUZZ_SECONDS:-60}
out=$builddir/fuzz/build
# The configuration target writes two files an input: keep that in memory.
[ -z "${TMPDIR:-}" ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
all="conf token jwt api reply"

mode=${1:-run}
[ $# -gt 0 ] && shift
targets=${*:-$all}

if [ ! -f "$builddir/config.h" ]; then
	echo "fuzz: $builddir/config.h is missing: run configure first" >&2
	exit 2
fi
command -v "$cc" >/dev/null || {
	echo "fuzz: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 2
}

san="-fsanitize=address,undefined -fno-sanitize-recover=all"
cflags="-g -O1 -fno-omit-frame-pointer $san -I$builddir -I$srcdir/daemon
-I$srcdir/client -I$srcdir/fuzz -DSYSCONFDIR=\"/etc\"
$(pkg-config --cflags libevent libcurl json-c inih libsystemd)"
libs="$(pkg-config --libs libevent libcurl json-c inih libsystemd)
-lhttp_parser -lm"

build() {
	mkdir -p "$out"
	objs=
	for f in "$srcdir"/daemon/*.c $(ls "$srcdir"/client/reply.c 2>/dev/null); do
		case $f in */main.c) continue ;; esac
		o=$out/$(basename "$f" .c).o
		if [ ! -f "$o" ] || [ "$f" -nt "$o" ] ||
		    [ "$builddir/config.h" -nt "$o" ]; then
			# shellcheck disable=SC2086
			$cc $cflags -fsanitize=fuzzer-no-link -c "$f" -o "$o"
		fi
		objs="$objs $o"
	done
	for t in $targets; do
		# shellcheck disable=SC2086
		$cc $cflags -fsanitize=fuzzer "$srcdir/fuzz/fuzz_$t.c" $objs \
		    $libs -o "$out/fuzz_$t"
	done
}

run() {
	rc=0
	for t in $targets; do
		mkdir -p "$builddir/fuzz/work/$t" "$builddir/fuzz/findings/$t"
		log=$builddir/fuzz/work/$t.log
		dict=
		[ -f "$srcdir/fuzz/$t.dict" ] && dict=-dict=$srcdir/fuzz/$t.dict
		echo "fuzz: $t for $seconds s"
		# A target with no finding yet has no regress directory (git
		# keeps no empty one): give libFuzzer only those that exist.
		regress=
		[ -d "$srcdir/fuzz/regress/$t" ] && regress=$srcdir/fuzz/regress/$t
		# shellcheck disable=SC2086
		if nice -n "${FUZZ_NICE:-0}" "$out/fuzz_$t" \
		    -max_total_time="$seconds" -print_final_stats=1 \
		    -close_fd_mask=3 -timeout="${FUZZ_TIMEOUT:-60}" -rss_limit_mb=2048 \
		    -artifact_prefix="$builddir/fuzz/findings/$t/" \
		    $dict ${FUZZ_FLAGS:-} "$builddir/fuzz/work/$t" \
		    "$srcdir/fuzz/corpus/$t" ${regress:+"$regress"} \
		    >"$log" 2>&1; then
			sed -n 's/^stat::number_of_executed_units: */  executions: /p;
			    s/^#[0-9]*.*DONE *cov: \([0-9]*\).*/  edges: \1/p' \
			    "$log"
		else
			rc=1
			echo "fuzz: $t FAILED; its log ($log) ends with:" >&2
			tail -n 40 "$log" >&2
			ls "$builddir/fuzz/findings/$t" >&2
		fi
	done
	return $rc
}

case $mode in
build)	build ;;
run)	build; run ;;
*)	echo "usage: $0 [build|run] [TARGET...]" >&2; exit 64 ;;
esac
