#!/bin/bash
# The token endpoint reached through an HTTP proxy: the account's proxy
# key, and the usual http_proxy and https_proxy variables (an HTTPS
# endpoint through a CONNECT tunnel, with the certificate still verified).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cli_setup proxy "${MAILTOKEN_TEST_PORT_OFFSET:-30}"
require_tools openssl
proxy_port=$((port + 1))
proxy_log=$work/proxy.log
proxy_pid=""

stop_proxy() {
    if [[ -n $proxy_pid ]]; then
        kill "$proxy_pid" 2> /dev/null || true
        wait "$proxy_pid" 2> /dev/null || true
        proxy_pid=""
    fi
}
trap 'stop_proxy; cli_cleanup' EXIT

: > "$proxy_log"
"$python" "$cli_root/tests/tools/http_proxy.py" --port "$proxy_port" --log "$proxy_log" \
    --pidfile "$work/proxy.pid" > /dev/null 2> "$work/proxy.err" &
proxy_pid=$!
for _ in $(seq 100); do
    [[ -s $work/proxy.pid ]] && break
    sleep 0.05
done
[[ -s $work/proxy.pid ]] || { cat "$work/proxy.err" >&2; echo "FAIL: the proxy did not start" >&2; exit 1; }

refresh() {
    # refresh NAME: a forced refresh; prints nothing, records the exit code in $rc.
    set +e
    "$MAILTOKEN" token --refresh ms > "$work/$1.out" 2> "$work/$1.err"
    rc=$?
    set -e
}

reset_store() {
    rm -rf "$work/store"
    echo RT-proxy | "$MAILTOKEN" import ms 2> /dev/null
}

# ---- the proxy key ----
start_fake '{"live": {"style": "microsoft", "refresh_tokens": ["RT-proxy"]}}'
write_config "proxy = http://127.0.0.1:$proxy_port"
reset_store
refresh key
expect_eq "proxy key: exit code" "$rc" 0
expect_contains "proxy key: the request went through the proxy" "$(cat "$proxy_log")" \
    "POST http://127.0.0.1:$port/contoso.onmicrosoft.com/oauth2/v2.0/token"
expect_eq "proxy key: the endpoint saw one refresh" "$(token_requests refresh_token)" 1

# ---- http_proxy from the environment ----
: > "$proxy_log"
write_config
reset_store
set +e
http_proxy=http://127.0.0.1:$proxy_port "$MAILTOKEN" token --refresh ms > /dev/null 2> "$work/env.err"
rc=$?
set -e
expect_eq "http_proxy: exit code" "$rc" 0
expect_contains "http_proxy: the request went through the proxy" "$(cat "$proxy_log")" \
    "POST http://127.0.0.1:$port/"

# ---- https_proxy and a TLS endpoint: CONNECT, certificate verified ----
pki=$work/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test CA" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$pki/server.key" \
    -out "$pki/server.csr" 2> /dev/null
printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\n' > "$pki/san.ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 2 -extfile "$pki/san.ext" -out "$pki/server.crt" 2> /dev/null
stop_fake
printf '%s\n' '{"live": {"style": "microsoft", "refresh_tokens": ["RT-proxy"]}}' > "$work/scenario.json"
: > "$fake_log"
"$python" "$cli_root/tests/tools/fake_as.py" --port "$port" --scenario "$work/scenario.json" \
    --log "$fake_log" --pidfile "$work/fake.pid" --tls-cert "$pki/server.crt" \
    --tls-key "$pki/server.key" > /dev/null 2> "$work/fake.err" &
fake_pid=$!
for _ in $(seq 100); do
    [[ -s $work/fake.pid ]] && break
    sleep 0.05
done
: > "$proxy_log"
write_config
sed -i "s|^token_endpoint = http://|token_endpoint = https://|" "$work/config"
echo "ca_file = $pki/ca.crt" >> "$work/config"
reset_store
set +e
https_proxy=http://127.0.0.1:$proxy_port "$MAILTOKEN" token --refresh ms > /dev/null 2> "$work/tls.err"
rc=$?
set -e
expect_eq "https_proxy: exit code ($(cat "$work/tls.err"))" "$rc" 0
expect_contains "https_proxy: a CONNECT tunnel to the endpoint" "$(cat "$proxy_log")" \
    "CONNECT 127.0.0.1:$port"

# Without the CA the certificate is not trusted, proxy or not.
sed -i "/^ca_file = /d" "$work/config"
reset_store
set +e
https_proxy=http://127.0.0.1:$proxy_port "$MAILTOKEN" token --refresh ms > /dev/null 2> "$work/untrusted.err"
rc=$?
set -e
expect_eq "https_proxy, unknown CA: exit code" "$rc" 75
expect_contains "https_proxy, unknown CA: the message" "$(cat "$work/untrusted.err")" "not trusted"

finish
