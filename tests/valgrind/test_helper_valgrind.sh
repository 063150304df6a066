#!/bin/bash
# The helper under valgrind memcheck, against the scripted token
# endpoint: import, a refresh through libcurl, a cached token, status,
# the plugin's requests, a failed refresh (HTTP 503 and invalid_grant),
# authorize with curl as the browser, and forget. Every run must end
# without a memory error or a definite or possible leak.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"

cli_setup valgrind "${MAILTOKEN_TEST_PORT_OFFSET:-86}"
: "${VALGRIND:?set VALGRIND to the valgrind program}"
unset DISPLAY WAYLAND_DISPLAY
client=11111111-2222-3333-4444-555555555555
auth_pid=""

valgrind_cleanup() {
    if [[ -n "$auth_pid" ]] && kill -0 "$auth_pid" 2>/dev/null; then
        kill "$auth_pid" 2>/dev/null || true
        wait "$auth_pid" 2>/dev/null || true
    fi
    cli_cleanup
}
trap valgrind_cleanup EXIT

# vg NAME EXPECTED_EXIT ARGS...: mailtoken ARGS under memcheck. valgrind
# exits 99 on a memory error or leak, which no mailtoken exit code uses.
vg() {
    local name=$1 expected=$2 rc=0
    shift 2
    "$VALGRIND" -q --error-exitcode=99 --leak-check=full "$MAILTOKEN" "$@" \
        > "$work/$name.out" 2> "$work/$name.err" < "${stdin:-/dev/null}" || rc=$?
    if [[ $rc -eq 99 ]]; then
        fail "$name: valgrind found errors:"
        grep '^==' "$work/$name.err" >&2 || true
    else
        expect_eq "$name: exit code" "$rc" "$expected"
    fi
}

write_config "authorization_endpoint = $endpoint/common/oauth2/v2.0/authorize"
start_fake "{\"live\": {\"style\": \"microsoft\", \"refresh_tokens\": [\"RT-valgrind\"],
    \"clients\": {\"$client\": {\"secret\": null, \"redirect_uris\": [\"http://localhost/\"]}}}}"

echo RT-valgrind > "$work/rt"
stdin=$work/rt vg import 0 -v import ms
vg refresh 0 -v token --refresh ms
vg cached 0 token ms
vg status 0 -v status
vg request-token 0 request TOKEN ms
vg request-status 0 request STATUS ms

start_fake '{"routes": {"token": ["quirks/http503.json"]}}'
vg refresh-503 75 -v token --refresh ms
start_fake '{"routes": {"token": ["microsoft/invalid_grant-700082.json"]}}'
vg refresh-invalid-grant 77 -v token --refresh ms

start_fake "{\"live\": {\"style\": \"microsoft\",
    \"clients\": {\"$client\": {\"secret\": null, \"redirect_uris\": [\"http://localhost/\"]}}}}"
"$VALGRIND" -q --error-exitcode=99 --leak-check=full "$MAILTOKEN" -v authorize ms --no-browser \
    --timeout 60 > "$work/authorize.out" 2> "$work/authorize.err" &
auth_pid=$!
url=""
for _ in $(seq 400); do
    if [[ -s "$work/authorize.out" && -z "$(tail -c 1 "$work/authorize.out")" ]]; then
        url=$(head -n 1 "$work/authorize.out")
        break
    fi
    sleep 0.05
done
if [[ -n "$url" ]]; then
    curl -sS -L --max-redirs 2 --max-time 30 -o /dev/null "$url" || true
else
    fail "authorize printed no URL: $(cat "$work/authorize.err")"
fi
rc=0
wait "$auth_pid" || rc=$?
auth_pid=""
if [[ $rc -eq 99 ]]; then
    fail "authorize: valgrind found errors:"
    grep '^==' "$work/authorize.err" >&2 || true
else
    expect_eq "authorize: exit code" "$rc" 0
fi

vg forget 0 -v forget ms

finish
