#!/bin/bash
# Hostile requests to the loopback listener while mailtoken authorize
# waits, beyond those of test_authorize_scripted.sh: a valid-looking
# reply (the right state, a forged code) at another path, in a POST, and
# with a foreign Host header, and an oversized request. None of them may
# end the wait or reach the token endpoint. The real reply that follows
# is exchanged, exactly once and with its own code, and a second
# callback afterwards finds the port closed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cli_setup callbacks "${MAILTOKEN_TEST_PORT_OFFSET:-78}"
unset DISPLAY WAYLAND_DISPLAY
client=11111111-2222-3333-4444-555555555555
auth_pid=""

callbacks_cleanup() {
    if [[ -n "$auth_pid" ]] && kill -0 "$auth_pid" 2>/dev/null; then
        kill "$auth_pid" 2>/dev/null || true
        wait "$auth_pid" 2>/dev/null || true
    fi
    cli_cleanup
}
trap callbacks_cleanup EXIT

# url_param URL NAME: the decoded value of query parameter NAME.
url_param() {
    "$python" -c '
import sys, urllib.parse
query = urllib.parse.urlsplit(sys.argv[1]).query
print(urllib.parse.parse_qs(query, keep_blank_values=True).get(sys.argv[2], [""])[0])' "$1" "$2"
}

# raw_request BYTES_FILE: sends a file as the request; prints the reply's status code.
raw_request() {
    "$python" - "$listen_port" "$1" <<'PY'
import socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
    s.sendall(open(path, "rb").read())
    reply = b""
    while b"\r\n" not in reply:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
print(reply.split(b" ")[1].decode() if reply.count(b" ") else "none")
PY
}

write_config "authorization_endpoint = $endpoint/common/oauth2/v2.0/authorize"
start_fake "{\"live\": {\"style\": \"microsoft\", \"clients\": {
    \"$client\": {\"secret\": null, \"redirect_uris\": [\"http://localhost/\"]}}}}"

"$MAILTOKEN" authorize ms --no-browser --timeout 60 > "$work/out" 2> "$work/err" &
auth_pid=$!
url=""
for _ in $(seq 200); do
    if [[ -s "$work/out" && -z "$(tail -c 1 "$work/out")" ]]; then
        url=$(head -n 1 "$work/out")
        break
    fi
    sleep 0.05
done
if [[ -z "$url" ]]; then
    fail "mailtoken authorize printed no URL: $(cat "$work/err")"
    finish
fi
redirect=$(url_param "$url" redirect_uri)
state=$(url_param "$url" state)
listen_port=$(sed -E 's|^http://[^:]+:([0-9]+)/.*|\1|' <<<"$redirect")

# The browser's step at the server, without the redirect to the listener yet.
location=$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 5 "$url")
code=$(url_param "$location" code)
expect_contains "the server redirects to the listener" "$location" "$redirect?"
if [[ -n "$code" ]]; then pass; else fail "the server's redirect has no code: $location"; fi

# ---- the right state with a forged code, where the reply must not be taken ----
status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
    "http://127.0.0.1:$listen_port/other?code=FORGED-PATH&state=$state" || true)
expect_eq "reply at another path: 404" "$status" 404
status=$(curl -sS --path-as-is -o /dev/null -w '%{http_code}' --max-time 5 \
    "http://127.0.0.1:$listen_port/./?code=FORGED-DOTS&state=$state" || true)
expect_eq "reply at a path with a dot segment: 404" "$status" 404
status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
    -d "code=FORGED-POST&state=$state" "$redirect" || true)
expect_eq "reply in a POST: 405" "$status" 405
status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: attacker.example" \
    "$redirect?code=FORGED-HOST&state=$state" || true)
expect_eq "reply with a foreign Host header: 400" "$status" 400

# ---- an oversized request: 431, and the wait goes on ----
{
    printf 'GET /?code=FORGED-BIG&state=%s HTTP/1.1\r\nHost: localhost:%s\r\n' "$state" "$listen_port"
    printf 'X-Padding: %s\r\n' "$(head -c 12000 /dev/zero | tr '\0' a)"
    printf '\r\n'
} > "$work/big.request"
expect_eq "oversized request: 431" "$(raw_request "$work/big.request")" 431

if kill -0 "$auth_pid" 2>/dev/null; then pass; else
    fail "mailtoken authorize stopped waiting after the hostile requests"
fi
expect_eq "no token request yet" "$(token_requests)" 0

# ---- the real reply ----
status=$(curl -sS -o "$work/page" -w '%{http_code}' --max-time 10 "$location" || true)
expect_eq "the real reply: 200" "$status" 200
rc=0
wait "$auth_pid" || rc=$?
auth_pid=""
expect_eq "authorize: exit status" "$rc" 0
expect_eq "one code exchanged" "$(token_requests authorization_code)" 1
expect_eq "the exchanged code is the server's" \
    "$(jq -rs '[.[] | select(.route == "token")][0].form.code' "$fake_log")" "$code"
expect_lacks "no forged code reached the token endpoint" "$(cat "$fake_log")" "FORGED"
expect_lacks "the code is not in the output" "$(cat "$work/out" "$work/err")" "$code"

# ---- a second callback after the first ----
refused=0
curl -sS -o /dev/null --max-time 5 "$location" 2> /dev/null || refused=$?
expect_eq "a second callback finds the port closed (curl exit 7)" "$refused" 7
expect_eq "still one code exchanged" "$(token_requests authorization_code)" 1

finish
