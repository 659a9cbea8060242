#!/bin/bash
# Text from the issuer never reaches a log or a terminal raw: an error
# description, an error code and a token_type carrying a newline (to forge a
# log line) and ESC (a terminal escape) show up escaped, as \n and \x1b, in
# the daemon's log, in crvs-token's message, in `status` and in last_error.
. "$(dirname "$0")/lib.sh"

start_issuer evil --lifetime 600
# refresh_min_interval = 0: the forced refreshes below must reach the
# (hostile) issuer right after the first token.
{
	client_section evil "$evil_PORT" "refresh_min_interval = 0"
	client_section plain "$evil_PORT" "request_format = form
refresh_min_interval = 0"
} | write_conf

# The line a hostile issuer would like the log to show.
FORGED='1999-01-01T00:00:00.000 crvs-tokend[1] info: evil: new token'
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# no_raw_controls FILE: FILE exists and holds no control character but the
# newlines that end its lines.
no_raw_controls() {
	python3 -c 'import sys
data = open(sys.argv[1], "rb").read()
sys.exit(1 if any(b < 0x20 and b != 0x0a or b == 0x7f for b in data) else 0)' "$1"
}
# no_forged_line: no line of the log starts with the forged time stamp.
no_forged_line() { ! grep -q '^1999-' "$T/tokend.log"; }

start_daemon
wait_for 10 "$TOKEN" evil
wait_for 10 "$TOKEN" plain
# Both have tokens; now the issuer turns hostile, and evil asks again.
issuer_post "$evil_PORT" "/control/mode?mode=status&status=400&error=$(enc $'invalid\x1b[2Jrequest')&text=$(enc $'boom\n'"$FORGED"$'\x1b[31m red\r\x07')" >/dev/null
"$TOKEN" refresh evil >/dev/null 2>&1 || true
wait_for 10 grep -q 'evil: token request failed' "$T/tokend.log"

check "log: no raw control characters" no_raw_controls "$T/tokend.log"
check "log: no line forged by the issuer" no_forged_line
check "log: the description is there, escaped" \
    grep -qF 'invalid\x1b[2Jrequest: boom\n1999-01-01T00:00:00.000 crvs-tokend[1] info: evil: new token\x1b[31m red\r\x07' "$T/tokend.log"

"$TOKEN" refresh evil >"$T/get.out" 2>"$T/get.err" || true
check "crvs-token: its message has no raw control characters" no_raw_controls "$T/get.err"
check "crvs-token: its message is one line" test "$(wc -l <"$T/get.err")" = 1
check "crvs-token: its message shows the issuer's words escaped" grep -qF 'boom\n1999-01-01' "$T/get.err"

"$TOKEN" status >"$T/status.out" 2>&1 || true
check "status: no raw control characters" no_raw_controls "$T/status.out"
check "status: a header and two rows" test "$(wc -l <"$T/status.out")" = 3
check "status: the evil row shows the escaped words" grep -qF 'invalid\x1b[2Jrequest: boom\n' "$T/status.out"

last_error=$("$TOKEN" status evil -j | json_field last_error)
check "last_error holds no control character" python3 -c 'import sys; sys.exit(any(ord(c) < 0x20 or ord(c) == 0x7f for c in sys.argv[1]))' "$last_error"
check "last_error holds the escaped words: $last_error" grep -qF 'boom\n1999' <<<"$last_error"

# A 200 whose token_type carries the same.
issuer_post "$evil_PORT" "/control/mode?mode=bad_token_type&text=$(enc $'Bearer\x1b[31m\n'"$FORGED")" >/dev/null
"$TOKEN" refresh plain >"$T/refresh.out" 2>"$T/refresh.err" || true
check "token_type: crvs-token's message has no raw control characters" no_raw_controls "$T/refresh.err"
check "token_type: it is one line and shows the text escaped" \
    sh -c 'test "$(wc -l <"$1")" = 1 && grep -qF "token_type is '"'"'Bearer\\x1b[31m\\n1999-01-01T00:00:00" "$1"' _ "$T/refresh.err"
wait_for 10 grep -q 'plain: token request failed.*token_type' "$T/tokend.log"
check "token_type: the log has no raw control characters" no_raw_controls "$T/tokend.log"
check "token_type: no line forged in the log" no_forged_line
"$TOKEN" status >"$T/status2.out" 2>&1 || true
check "token_type: status has no raw control characters" no_raw_controls "$T/status2.out"
check "token_type: status is a header and two rows" test "$(wc -l <"$T/status2.out")" = 3
check "no secret in the log" sh -c "! grep -qF '$SECRET' '$T/tokend.log'"
finish
