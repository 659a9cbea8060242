#!/bin/bash
# An OpenCRVS 1.x issuer (the test token server's --v1, behind its gateway):
# it reads the query string only, so a json client is refused with 400
# unsupported_grant_type. The daemon must say so in the issuer's words, with
# the request_format = query hint, in its log, in `status` and in
# crvs-token's message; a query client of the same issuer gets tokens.
. "$(dirname "$0")/lib.sh"

start_issuer v1 --lifetime 600 --v1 --gateway
{
	client_section json "$v1_PORT" "request_format = json"
	client_section form "$v1_PORT" "request_format = form"
	client_section query "$v1_PORT" "request_format = query"
} | write_conf
start_daemon

# The query client gets a token the 1.x gateway accepts.
wait_for 10 "$TOKEN" query
run_cli q query
check "query: a token is served (rc $q_rc)" test "$q_rc" = 0 -a -n "$q_out"
check "query: the 1.x gateway accepts it" gateway_accepts "$v1_PORT" "$q_out"

# The json client: crvs-token's message.
run_cli j json
check "json: crvs-token exits 75 ($j_rc)" test "$j_rc" = 75
check "json: its message names unsupported_grant_type: $j_err" \
    grep -q 'HTTP 400.*unsupported_grant_type: Grant type must be client_credentials' <<<"$j_err"
check "json: its message gives the request_format = query hint" \
    grep -q "hint: OpenCRVS 1.x reads its parameters from the URL's query string only: set request_format = query" <<<"$j_err"

# status, as a table and as JSON.
run_cli s status
row=$(grep '^json ' <<<"$s_out" || true)
check "status: the json row is rejected: $row" grep -q '^json  *rejected ' <<<"$row"
check "status: the json row shows unsupported_grant_type" grep -q 'unsupported_grant_type' <<<"$row"
check "status: the json row shows the hint" grep -q 'set request_format = query (the secret then travels in the URL' <<<"$row"
check "status: the query row is valid" grep -q '^query  *valid ' <<<"$s_out"
last_error=$("$TOKEN" status json -j | json_field last_error)
check "status -j: last_error in full: $last_error" grep -q '^rejected by issuer (HTTP 400): unsupported_grant_type: .*; hint: .*request_format = query' <<<"$last_error"

# form is a body too: the same hint.
run_cli f form
check "form: the same hint" grep -q 'unsupported_grant_type.*set request_format = query' <<<"$f_err"

# The log line.
check "log: the json client's failure names unsupported_grant_type and the hint" \
    grep -q 'json: token request failed (rejected by issuer (HTTP 400): unsupported_grant_type: .*set request_format = query' "$T/tokend.log"
check "log: no hint for the query client" sh -c "! grep -q 'query: token request failed' '$T/tokend.log'"
check "no secret in the log" sh -c "! grep -qF '$SECRET' '$T/tokend.log'"
finish
