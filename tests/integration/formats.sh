#!/bin/bash
# Every request_format and client_auth, and the gateway's way of answering
# (application/octet-stream, chunked, gzip).
. "$(dirname "$0")/lib.sh"

start_issuer plain --lifetime 600
start_issuer gw --lifetime 600 --gateway
start_issuer basicsrv --lifetime 600
# refresh_min_interval = 0: refresh_and_stat's forced refreshes must reach
# the issuer right after the first fetch.
{
	client_section json "$plain_PORT" "request_format = json
refresh_min_interval = 0"
	client_section form "$plain_PORT" "request_format = form
refresh_min_interval = 0"
	client_section query "$plain_PORT" "request_format = query
refresh_min_interval = 0"
	client_section basic "$basicsrv_PORT" "client_auth = basic
request_format = form"
	client_section gateway "$gw_PORT"
} | write_conf
start_daemon
wait_for 10 "$TOKEN" json

# refresh_and_stat CLIENT KEY: makes CLIENT ask the issuer, then reads KEY
# of what the issuer saw last.
refresh_and_stat() {
	"$TOKEN" refresh "$1" >/dev/null 2>&1 || true
	issuer_stat "$plain_PORT" "$2"
}

v=$(refresh_and_stat json last_content_type)
check "json: the request body is application/json ($v)" test "$v" = application/json
run_cli j json
check "json: a token is served" test "$j_rc" = 0 -a -n "$j_out"

v=$(refresh_and_stat form last_content_type)
check "form: the body is x-www-form-urlencoded ($v)" test "$v" = application/x-www-form-urlencoded
run_cli f form
check "form: a token is served" test "$f_rc" = 0 -a -n "$f_out"

v=$(refresh_and_stat query last_query_had_secret)
check "query: the parameters are in the URL ($v)" test "$v" = true
run_cli q query
check "query: a token is served" test "$q_rc" = 0 -a -n "$q_out"

wait_for 10 issuer_requests_ge "$basicsrv_PORT" 1
v=$(issuer_stat "$basicsrv_PORT" last_auth_basic)
check "basic: HTTP Basic client authentication was sent ($v)" test "$v" = true
run_cli b basic
# OpenCRVS does not support Basic: 400 invalid_request, as the real one.
check "basic: OpenCRVS refuses Basic; the CLI exits 75" test "$b_rc" = 75
check "basic: and says the issuer rejected it (HTTP 400)" \
    sh -c "printf '%s' \"\$1\" | grep -q 'HTTP 400'" _ "$b_err"

run_cli g gateway
check "gateway (octet-stream, chunked, gzip): a token is served" test "$g_rc" = 0 -a -n "$g_out"
check "gateway: the token is one its gateway accepts" gateway_accepts "$gw_PORT" "$g_out"
check "no secret in the log, whatever the format" sh -c "! grep -qF '$SECRET' '$T/tokend.log'"
finish
