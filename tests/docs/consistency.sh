#!/bin/bash
# The manual pages against the code: options, configuration keys, API
# routes and fields, error codes, states, environment and exit status, and
# that each page formats without warnings. The pages are mdoc(7): options
# are found as "Fl x" / "Fl \-long", configuration keys as "Ic key".
#
# MANDIR=DIR checks the pages in DIR instead of $top_srcdir/man (to see the
# test fail on a damaged copy). Needs groff (groff-base) or mandoc; uses
# both when both are there.
# shellcheck shell=bash

set -euo pipefail

. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"
TEST_NAME=docs
MANDIR=${MANDIR:-$top_srcdir/man}
DAEMON_PAGE=$MANDIR/crvs-tokend.8
CLI_PAGE=$MANDIR/crvs-token.1
CONF_PAGE=$MANDIR/crvs-tokend.conf.5
SRC=$top_srcdir

have() { command -v "$1" >/dev/null 2>&1; }

# render PAGE: plain ASCII text, one paragraph a line (no wrapping, no
# hyphenation, no overstriking), so that grep sees whole phrases.
render() {
	if have groff; then
		groff -mandoc -Tascii -P-cbou -rLL=1000n "$1" 2>/dev/null
	else
		mandoc -Tascii -O width=1000 "$1" | sed 's/.\x08//g'
	fi
}

# section TEXT NAME: the lines of section NAME of a rendered page.
section() {
	awk -v name="$2" '
		/^[A-Z][A-Z0-9 ]*$/ { on = ($0 == name); next }
		on { print }' "$1"
}

# sorted_words: one word a line, sorted, unique, blank lines dropped.
sorted_words() { tr ' ' '\n' | sed '/^$/d' | LC_ALL=C sort -u; }

# compare WHAT LEFT_NAME LEFT_FILE RIGHT_NAME RIGHT_FILE: every word of
# LEFT is in RIGHT. One PASS or FAIL line, naming what is missing.
subset() {
	local what=$1 lname=$2 lfile=$3 rname=$4 rfile=$5 missing
	missing=$(LC_ALL=C comm -23 "$lfile" "$rfile" | tr '\n' ' ')
	if [ ! -s "$lfile" ]; then
		fail "$what: found nothing in $lname (is the extraction broken?)"
	elif [ -z "$missing" ]; then
		pass "$what: all $(wc -l <"$lfile") of $lname are in $rname"
	else
		fail "$what: in $lname but not in $rname: $missing"
	fi
}

for f in "$DAEMON_PAGE" "$CLI_PAGE" "$CONF_PAGE"; do
	if [ ! -f "$f" ]; then
		fail "missing page $f"
	fi
done
for f in "$TOKEND" "$TOKEN"; do
	if [ ! -x "$f" ]; then
		fail "missing program $f (build first)"
	fi
done
if ! have groff && ! have mandoc; then
	fail "neither groff nor mandoc is installed: cannot check the pages"
fi
if [ "$FAILED" -ne 0 ]; then
	finish
	exit 1
fi

render "$DAEMON_PAGE" >"$T/daemon.txt"
render "$CLI_PAGE" >"$T/cli.txt"
render "$CONF_PAGE" >"$T/conf.txt"

# --- 1. Formatting ----------------------------------------------------
for f in "$DAEMON_PAGE" "$CLI_PAGE" "$CONF_PAGE"; do
	name=$(basename "$f")
	if have groff; then
		out=$(groff -mandoc -ww -z "$f" 2>&1 || echo "groff exited $?")
		if [ -z "$out" ]; then
			pass "$name: groff -mandoc -ww -z is silent"
		else
			fail "$name: groff -mandoc -ww -z: $out"
		fi
	fi
	if have mandoc; then
		# The "outdated mandoc.db" notes are about the system's
		# database, not about the page.
		out=$(mandoc -Tlint -W warning "$f" 2>&1 |
		    grep -v 'outdated mandoc.db' || true)
		if [ -z "$out" ]; then
			pass "$name: mandoc -Tlint -W warning is silent"
		else
			fail "$name: mandoc -Tlint: $out"
		fi
	fi
done

# --- 2. Options ---------------------------------------------------------
# From --help: words that start with - or -- after a blank, "[", "," or "(".
help_options() {
	"$1" --help | grep -oE '(^|[][ ,(|])--?[A-Za-z][-A-Za-z]*' |
	    sed -E 's/^[][ ,(|]//' | LC_ALL=C sort -u
}
# From a page's source: "Fl x" is -x, "Fl \-long" is --long.
page_options() {
	grep -oE '(^|[ .])Fl (\\-)?[A-Za-z][-A-Za-z]*' "$1" |
	    sed -E 's/^[ .]?Fl //; s/^\\-/-/; s/^/-/' | LC_ALL=C sort -u
}
help_options "$TOKEND" >"$T/tokend.help"
page_options "$DAEMON_PAGE" >"$T/tokend.page"
subset "crvs-tokend options" "crvs-tokend --help" "$T/tokend.help" \
    "crvs-tokend.8" "$T/tokend.page"
subset "crvs-tokend options" "crvs-tokend.8" "$T/tokend.page" \
    "crvs-tokend --help" "$T/tokend.help"
help_options "$TOKEN" >"$T/token.help"
page_options "$CLI_PAGE" >"$T/token.page"
subset "crvs-token options" "crvs-token --help" "$T/token.help" \
    "crvs-token.1" "$T/token.page"
subset "crvs-token options" "crvs-token.1" "$T/token.page" \
    "crvs-token --help" "$T/token.help"

# --- 3. Configuration keys --------------------------------------------
grep -oE 'strcmp\(key, "[a-z_]+"\)' "$SRC/daemon/conf.c" |
    sed -E 's/.*"([a-z_]+)".*/\1/' | LC_ALL=C sort -u >"$T/keys.code"
# Documented: the ".It Ic key" entries of crvs-tokend.conf(5).
grep -oE '^\.It Ic [a-z_]+' "$CONF_PAGE" | sed 's/^\.It Ic //' |
    LC_ALL=C sort -u >"$T/keys.doc"
subset "config keys" "daemon/conf.c" "$T/keys.code" \
    "crvs-tokend.conf.5 (.It Ic)" "$T/keys.doc"
subset "config keys" "crvs-tokend.conf.5 (.It Ic)" "$T/keys.doc" \
    "daemon/conf.c" "$T/keys.code"
# Every key named anywhere ("Ic key") in the three pages, and every
# "key = value" line of their example configuration files (the literal
# displays that hold a [daemon] or [client NAME] line), is one the parser
# takes.
{
	cat "$DAEMON_PAGE" "$CLI_PAGE" "$CONF_PAGE" |
	    grep -oE '(^|[ .])Ic [a-z_]+' | sed -E 's/^[ .]?Ic //'
	cat "$DAEMON_PAGE" "$CLI_PAGE" "$CONF_PAGE" | awk '
		/^\.Bd -literal/ { on = 1; ini = 0; n = 0; next }
		/^\.Ed/ {
			if (ini)
				for (i = 1; i <= n; i++)
					print block[i]
			on = 0
			next
		}
		on {
			block[++n] = $0
			if ($0 ~ /^\[(daemon|client [^]]+)\]/)
				ini = 1
		}' | grep -oE '^[a-z_]+ = ' | sed 's/ = $//'
} | LC_ALL=C sort -u >"$T/keys.mentioned"
subset "config keys" "the pages' Ic references and examples" \
    "$T/keys.mentioned" "daemon/conf.c" "$T/keys.code"

# --- 4. API routes ----------------------------------------------------
# The route table of daemon/api.c: { API_GET, "/v1/clients/*/token", fn }.
grep -oE '\{ *API_[A-Z]+, *"[^"]+"' "$SRC/daemon/api.c" |
    sed -E 's/\{ *API_([A-Z]+), *"([^"]+)"/\1 \2/' >"$T/routes"
if [ ! -s "$T/routes" ]; then
	fail "API routes: found no route table in daemon/api.c"
fi
section "$T/daemon.txt" "HTTP API" >"$T/api.txt"
while read -r method pattern; do
	# "*" is a client name; the page writes it as a word such as "name".
	re=$(printf '%s' "$pattern" | sed -E 's/[.?+]/\\&/g; s/\*/[A-Za-z]+/g')
	if grep -qE "^[[:space:]]*$method $re([^-/A-Za-z0-9_]|\$)" "$T/api.txt"; then
		pass "API route $method $pattern is in crvs-tokend.8"
	else
		fail "API route $method $pattern is not in crvs-tokend.8's HTTP API"
	fi
done <"$T/routes"
# And every route the page lists is in the table.
grep -oE '^[[:space:]]*(GET|POST|PUT|DELETE|PATCH) /[^[ ]*' "$T/api.txt" |
    sed -E 's/^[[:space:]]*//' | while read -r method path; do
	ok=0
	while read -r m pattern; do
		re=$(printf '%s' "$pattern" | sed -E 's/[.?+]/\\&/g; s/\*/[A-Za-z]+/g')
		if [ "$m" = "$method" ] && printf '%s\n' "$path" | grep -qxE "$re"; then
			ok=1
		fi
	done <"$T/routes"
	if [ "$ok" -eq 1 ]; then
		echo "PASS: docs: documented route $method $path is in daemon/api.c"
	else
		echo "FAIL: docs: documented route $method $path is not in daemon/api.c"
	fi
done >"$T/routes.back"
while read -r line; do
	case $line in
	PASS:*) pass "${line#PASS: docs: }" ;;
	*) fail "${line#FAIL: docs: }" ;;
	esac
done <"$T/routes.back"

# --- 5. API vocabulary ------------------------------------------------
# Error codes: the string literals of every api_error(...) call, and the
# fixed JSON answers of server.c.
{
	tr '\n' ' ' <"$SRC/daemon/api.c" | grep -oE 'api_error\([^;]*;' |
	    grep -oE '"[a-z]+(_[a-z]+)*"' | tr -d '"'
	grep -oE '\\"error\\": *\\"[a-z_]+\\"' "$SRC/daemon/server.c" |
	    sed -E 's/.*\\"([a-z_]+)\\"$/\1/'
} | LC_ALL=C sort -u >"$T/codes.code"
missing=
while read -r code; do
	grep -qE "(^|[^a-z_])$code([^a-z_]|\$)" "$T/api.txt" ||
	    missing="$missing $code"
done <"$T/codes.code"
if [ ! -s "$T/codes.code" ]; then
	fail "API error codes: found none in daemon/api.c"
elif [ -z "$missing" ]; then
	pass "API error codes: all $(wc -l <"$T/codes.code") are in crvs-tokend.8"
else
	fail "API error codes missing from crvs-tokend.8's HTTP API:$missing"
fi
# JSON fields the daemon writes: each is a quoted key of an example or a
# list item of the page.
grep -ohE 'json_object_object_add\([a-z]+, *"[a-z_]+"' \
    "$SRC/daemon/api.c" "$SRC/daemon/client.c" |
    sed -E 's/.*"([a-z_]+)"$/\1/' | LC_ALL=C sort -u >"$T/fields.code"
missing=
while read -r field; do
	grep -qE "\"$field\"|^[[:space:]]+$field([[:space:]]|\$)" "$T/api.txt" ||
	    missing="$missing $field"
done <"$T/fields.code"
if [ ! -s "$T/fields.code" ]; then
	fail "API JSON fields: found none in daemon/api.c and daemon/client.c"
elif [ -z "$missing" ]; then
	pass "API JSON fields: all $(wc -l <"$T/fields.code") are in crvs-tokend.8"
else
	fail "API JSON fields missing from crvs-tokend.8's HTTP API:$missing"
fi
# Prometheus metrics.
grep -ohE 'crvs_tokend_[a-z_]+' "$SRC/daemon/api.c" | LC_ALL=C sort -u \
    >"$T/metrics.code"
grep -ohE 'crvs_tokend_[a-z_]+' "$T/daemon.txt" | LC_ALL=C sort -u \
    >"$T/metrics.doc"
subset "metrics" "daemon/api.c" "$T/metrics.code" "crvs-tokend.8" \
    "$T/metrics.doc"
subset "metrics" "crvs-tokend.8" "$T/metrics.doc" "daemon/api.c" \
    "$T/metrics.code"
# Client states: the strings client_state_name() returns.
awk '/^client_state_name\(/ { on = 1 } on { print } on && /^}/ { exit }' \
    "$SRC/daemon/client.c" | grep -oE '"[a-z]+"' | tr -d '"' |
    LC_ALL=C sort -u >"$T/states.code"
section "$T/daemon.txt" "FAILURES" |
    awk '/^   STATES$/ { on = 1; next } /^   [A-Z]/ { on = 0 } on' |
    grep -oE '^ {5}[a-z]+( |$)' | tr -d ' ' | LC_ALL=C sort -u \
    >"$T/states.doc"
subset "client states" "client_state() in daemon/client.c" \
    "$T/states.code" "crvs-tokend.8 STATES" "$T/states.doc"
subset "client states" "crvs-tokend.8 STATES" "$T/states.doc" \
    "client_state() in daemon/client.c" "$T/states.code"
missing=
while read -r state; do
	section "$T/cli.txt" OUTPUT | grep -qw "$state" ||
	    missing="$missing $state"
done <"$T/states.code"
if [ -z "$missing" ]; then
	pass "client states: all are in crvs-token.1's status columns"
else
	fail "client states missing from crvs-token.1's OUTPUT:$missing"
fi

# --- 6. Environment ---------------------------------------------------
env_check() {
	local page=$1 text=$2 missing=
	shift 2
	grep -ohE 'getenv\("[A-Z_]+"\)' "$@" | sed -E 's/.*"([A-Z_]+)".*/\1/' |
	    LC_ALL=C sort -u >"$T/env"
	while read -r var; do
		section "$text" ENVIRONMENT | grep -qw "$var" ||
		    missing="$missing $var"
	done <"$T/env"
	if [ -z "$missing" ]; then
		pass "environment: the $(wc -l <"$T/env") variables the code reads are in $page's ENVIRONMENT"
	else
		fail "environment: read by the code but not in $page's ENVIRONMENT:$missing"
	fi
}
env_check crvs-token.1 "$T/cli.txt" "$SRC/client/crvs-token.c"
env_check crvs-tokend.8 "$T/daemon.txt" "$SRC"/daemon/*.c

# --- 7. Exit status ---------------------------------------------------
# crvs-token: the codes its usage lists, and every EX_ constant it uses.
sysexit() {
	local name=$1 v=
	if [ -r /usr/include/sysexits.h ]; then
		v=$(awk -v n="$name" '$1 == "#define" && $2 == n { print $3 }' \
		    /usr/include/sysexits.h)
	fi
	if [ -z "$v" ]; then
		case $name in
		EX_OK) v=0 ;; EX_USAGE) v=64 ;; EX_DATAERR) v=65 ;;
		EX_NOINPUT) v=66 ;; EX_NOUSER) v=67 ;; EX_NOHOST) v=68 ;;
		EX_UNAVAILABLE) v=69 ;; EX_SOFTWARE) v=70 ;; EX_OSERR) v=71 ;;
		EX_OSFILE) v=72 ;; EX_CANTCREAT) v=73 ;; EX_IOERR) v=74 ;;
		EX_TEMPFAIL) v=75 ;; EX_PROTOCOL) v=76 ;; EX_NOPERM) v=77 ;;
		EX_CONFIG) v=78 ;;
		esac
	fi
	echo "$v"
}
"$TOKEN" --help | sed -n '/^Exit status/,$p' | grep -oE '\b[0-9]+\b' |
    LC_ALL=C sort -u >"$T/exit.usage"
{
	cat "$T/exit.usage"
	grep -oE '\bEX_[A-Z]+\b' "$SRC/client/crvs-token.c" | sort -u |
	    while read -r name; do sysexit "$name"; done
} | LC_ALL=C sort -u >"$T/exit.code"
section "$T/cli.txt" "EXIT STATUS" | grep -oE '^ {5}[0-9]+( |$)' |
    tr -d ' ' | LC_ALL=C sort -u >"$T/exit.doc"
subset "crvs-token exit status" "crvs-token --help" "$T/exit.usage" \
    "crvs-token.1 EXIT STATUS" "$T/exit.doc"
subset "crvs-token exit status" "client/crvs-token.c (EX_*)" \
    "$T/exit.code" "crvs-token.1 EXIT STATUS" "$T/exit.doc"
subset "crvs-token exit status" "crvs-token.1 EXIT STATUS" "$T/exit.doc" \
    "client/crvs-token.c" "$T/exit.code"
# crvs-tokend: what main() returns and what exit() is called with.
{
	awk '/^main\(/ { on = 1 } on { print } on && /^}/ { exit }' \
	    "$SRC/daemon/main.c" | grep -oE 'return [0-9]+;' | grep -oE '[0-9]+'
	grep -ohE '\bexit\([0-9]+\)' "$SRC"/daemon/*.c | grep -oE '[0-9]+'
} | LC_ALL=C sort -u >"$T/dexit.code"
section "$T/daemon.txt" "EXIT STATUS" | grep -oE '^ {5}[0-9]+( |$)' |
    tr -d ' ' | LC_ALL=C sort -u >"$T/dexit.doc"
subset "crvs-tokend exit status" "daemon/main.c" "$T/dexit.code" \
    "crvs-tokend.8 EXIT STATUS" "$T/dexit.doc"
subset "crvs-tokend exit status" "crvs-tokend.8 EXIT STATUS" \
    "$T/dexit.doc" "daemon/main.c" "$T/dexit.code"

finish
