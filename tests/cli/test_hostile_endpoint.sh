#!/bin/bash
# mailtoken token against a hostile token endpoint, in the cases that
# test_token_cli.sh does not cover. The server sends no reply at all, or
# dribbles it one byte a second, or sends 10 MB of body, bytes that are
# not UTF-8, a cut transfer or a reset, or redirects to another host;
# over HTTPS its certificate comes from an unknown CA or names another
# host. Each case must give its exit code (75 temporary
# failure, 76 broken reply), one line on stderr, nothing on stdout and no
# secret, within a bound on wall time that the account's timeout sets.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cli_setup hostile "${MAILTOKEN_TEST_PORT_OFFSET:-80}"
require_tools openssl
other_port=$((port + 1))
tls_port=$((port + 2))
other_pid=""
secret=hostile-client-secret-4d61c2

hostile_cleanup() {
    if [[ -n "$other_pid" ]] && kill -0 "$other_pid" 2>/dev/null; then
        kill "$other_pid" 2>/dev/null || true
        wait "$other_pid" 2>/dev/null || true
    fi
    cli_cleanup
}
trap hostile_cleanup EXIT

# account_config TOKEN_ENDPOINT TIMEOUT [EXTRA LINES...]
account_config() {
    local url=$1 timeout=$2
    shift 2
    {
        echo "[defaults]"
        echo "store = $work/store"
        echo ""
        echo "[ms]"
        echo "provider = microsoft"
        echo "tenant = contoso.onmicrosoft.com"
        echo "client_id = 11111111-2222-3333-4444-555555555555"
        echo "client_secret = $secret"
        echo "user = alice@example.test"
        echo "token_endpoint = $url"
        echo "timeout = $timeout"
        for line in "$@"; do echo "$line"; done
    } > "$work/config"
    chmod 600 "$work/config"
    export MAILTOKEN_CONFIG="$work/config"
}

# start_server PORT SCENARIO LOG [FAKE_AS OPTIONS...]: a scripted endpoint; prints its PID.
start_server() {
    local server_port=$1 scenario=$2 log=$3 pidfile
    shift 3
    pidfile=$work/server-$server_port.pid
    rm -f "$pidfile"
    printf '%s\n' "$scenario" > "$work/scenario-$server_port.json"
    : > "$log"
    "$python" "$cli_root/tests/tools/fake_as.py" --port "$server_port" \
        --scenario "$work/scenario-$server_port.json" --log "$log" --pidfile "$pidfile" \
        --fixtures "$cli_root/tests/fixtures/provider" "$@" > /dev/null 2> "$work/server.err" &
    for _ in $(seq 100); do
        [[ -s "$pidfile" ]] && break
        sleep 0.05
    done
    if [[ ! -s "$pidfile" ]]; then
        echo "FAIL: the scripted endpoint on port $server_port did not start:" >&2
        cat "$work/server.err" >&2
        exit 1
    fi
    cat "$pidfile"
}

# run_token NAME: runs mailtoken token ms with a fresh store; sets rc, out, err, elapsed (ms).
run_token() {
    local started ended
    rm -rf "$work/store"
    echo RT-hostile | "$MAILTOKEN" import ms 2> "$work/import.err"
    started=$(date +%s%3N)
    rc=0
    "$MAILTOKEN" token ms > "$work/out" 2> "$work/err" || rc=$?
    ended=$(date +%s%3N)
    elapsed=$((ended - started))
    out=$(cat "$work/out")
    err=$(cat "$work/err")
}

# expect_failure NAME EXIT_CODE PIECE MAX_MS
expect_failure() {
    expect_eq "$1: exit code" "$rc" "$2"
    expect_eq "$1: nothing on stdout" "$out" ""
    expect_contains "$1: message" "$err" "$3"
    expect_eq "$1: one line on stderr" "$(wc -l < "$work/err")" 1
    expect_lacks "$1: no client secret in the message" "$err" "$secret"
    expect_lacks "$1: no refresh token in the message" "$err" "RT-hostile"
    if (( elapsed <= $4 )); then pass; else
        fail "$1: took $elapsed ms, more than $4 ms"
    fi
}

token_url="$endpoint/contoso.onmicrosoft.com/oauth2/v2.0/token"

# ---- no reply at all: the account's timeout ends the wait ----
account_config "$token_url" 2
start_fake '{"routes": {"token": [{"fixture": "microsoft/token-success.json", "delay": 60}]}}'
run_token
expect_failure "no reply" 75 "timed out after 2 s" 4500
expect_eq "no reply: one request" "$(token_requests)" 1

# ---- one byte a second: the timeout covers the whole exchange ----
account_config "$token_url" 3
start_fake '{"routes": {"token": ["quirks/slow-dribble.json"]}}'
run_token
expect_failure "one byte a second" 75 "timed out after 3 s" 5500

# ---- 10 MB of body: cut off at 1 MiB ----
account_config "$token_url" 20
start_fake '{"routes": {"token": [{"status": 200, "huge": 10485760,
    "headers": {"Content-Type": "application/json"},
    "body": {"access_token": "AT", "token_type": "Bearer", "expires_in": 3599}}]}}'
run_token
expect_failure "10 MB body" 76 "larger than 1048576 bytes" 10000

# ---- bytes that are not UTF-8, a cut transfer, a reset ----
account_config "$token_url" 5
start_fake '{"routes": {"token": ["quirks/invalid-utf8-token.json"]}}'
run_token
expect_failure "token with bytes that are not UTF-8" 76 "invalid access_token" 5000
start_fake '{"routes": {"token": ["quirks/invalid-utf8-error.json"]}}'
run_token
expect_failure "error description with bytes that are not UTF-8" 77 "invalid_grant" 5000
expect_lacks "error description with an escape byte: not passed to the terminal" "$err" $'\e'
start_fake '{"routes": {"token": ["quirks/truncated-transfer.json"]}}'
run_token
expect_failure "transfer cut short" 75 "failed" 5000
start_fake '{"routes": {"token": ["quirks/reset-connection.json"]}}'
run_token
expect_failure "connection reset" 75 "failed" 5000

# ---- a redirect to another host is not followed ----
other_log=$work/other.log
other_pid=$(start_server "$other_port" \
    '{"live": {"style": "microsoft", "refresh_tokens": ["RT-hostile"]}}' "$other_log")
for status in 302 307; do
    account_config "$token_url" 5
    start_fake "{\"routes\": {\"token\": [{\"status\": $status,
        \"headers\": {\"Location\": \"http://localhost:$other_port/common/oauth2/v2.0/token\"},
        \"body\": \"\"}]}}"
    run_token
    expect_failure "HTTP $status to another host" 76 "redirect, which mailtoken does not follow" 5000
    expect_eq "HTTP $status to another host: requests that reached the other host" \
        "$(wc -l < "$other_log")" 0
done
kill "$other_pid" 2>/dev/null || true
wait "$other_pid" 2>/dev/null || true
other_pid=""

# ---- HTTPS: an unknown CA, and a certificate for another name ----
pki=$work/pki
mkdir "$pki"
# make_cert NAME SUBJECT_ALT_NAME: a server certificate signed by the test CA.
make_cert() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=$1" -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>> "$pki/openssl.err"
    printf 'subjectAltName = %s\n' "$2" > "$pki/$1.ext"
    openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
        -CAcreateserial -days 1 -extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>> "$pki/openssl.err"
}
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -subj "/CN=mailtoken test CA" -keyout "$pki/ca.key" -out "$pki/ca.crt" \
        2> "$pki/openssl.err" ||
    ! make_cert loopback "IP:127.0.0.1" || ! make_cert elsewhere "DNS:elsewhere.example"; then
    cat "$pki/openssl.err" >&2
    fail "openssl could not make the test certificates"
    finish
fi
tls_url="https://127.0.0.1:$tls_port/contoso.onmicrosoft.com/oauth2/v2.0/token"
live='{"live": {"style": "microsoft", "refresh_tokens": ["RT-hostile"]}}'

tls_log=$work/tls.log
other_pid=$(start_server "$tls_port" "$live" "$tls_log" \
    --tls-cert "$pki/loopback.crt" --tls-key "$pki/loopback.key")
account_config "$tls_url" 5
run_token
expect_failure "certificate from an unknown CA" 75 "not trusted" 5000
# OpenSSL's reason, as libcurl 7.88 quotes it.
expect_contains "certificate from an unknown CA: the reason" "$err" "unable to get local issuer"
expect_eq "certificate from an unknown CA: no request got through" "$(wc -l < "$tls_log")" 0
# The same server with its CA named: the failure above came from the CA alone.
account_config "$tls_url" 5 "ca_file = $pki/ca.crt"
run_token
expect_eq "certificate from a named CA: exit code" "$rc" 0
expect_eq "certificate from a named CA: a token is printed" "${#out}" 485
kill "$other_pid" 2>/dev/null || true
wait "$other_pid" 2>/dev/null || true

other_pid=$(start_server "$tls_port" "$live" "$tls_log" \
    --tls-cert "$pki/elsewhere.crt" --tls-key "$pki/elsewhere.key")
account_config "$tls_url" 5 "ca_file = $pki/ca.crt"
run_token
expect_failure "certificate for another host name" 75 "does not match its name" 5000
expect_contains "certificate for another host name: the reason" "$err" "no alternative certificate subject name"
expect_eq "certificate for another host name: no request got through" "$(wc -l < "$tls_log")" 0
kill "$other_pid" 2>/dev/null || true
wait "$other_pid" 2>/dev/null || true
other_pid=""

finish
