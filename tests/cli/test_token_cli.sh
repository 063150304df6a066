#!/bin/bash
# mailtoken token, import and status against the scripted token endpoint:
# one request for many concurrent callers, refresh-token rotation, crash
# safety, a read-only store, provider errors and their exit codes, and no
# secret in any output.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cli_setup token "${MAILTOKEN_TEST_PORT_OFFSET:-61}"
require_tools setpriv

live_scenario() {
    # $1: extra live options as JSON members, e.g. "strict_rotation": true
    printf '{"live": {"style": "microsoft", "access_token_length": 485, "refresh_tokens": ["RT-start"]%s}}' \
        "${1:+, $1}"
}

reset_store() {
    rm -rf "$work/store"
    echo RT-start | "$MAILTOKEN" import ms 2> "$work/import.err"
}

# ---- concurrent callers share one refresh ----
write_config
start_fake "$(live_scenario)"
reset_store
callers=()
for i in $(seq 50); do
    "$MAILTOKEN" token ms > "$work/out.$i" 2> "$work/err.$i" &
    callers+=($!)
done
# Wait for the callers only: the endpoint runs in the background too.
for pid in "${callers[@]}"; do
    wait "$pid" || true
done
first=$(cat "$work/out.1")
expect_eq "50 callers: length of the token" "${#first}" 485
same=0
for i in $(seq 50); do
    [[ "$(cat "$work/out.$i")" == "$first" ]] && same=$((same + 1))
done
expect_eq "50 callers: all print the same token" "$same" 50
expect_eq "50 callers: requests to the token endpoint" "$(token_requests refresh_token)" 1

# ---- strict rotation: a refresh token dies once used ----
start_fake "$(live_scenario '"strict_rotation": true, "rotate_refresh_token": true')"
reset_store
"$MAILTOKEN" token --refresh ms > "$work/t1" 2> "$work/e1"
rc1=$?
"$MAILTOKEN" token --refresh ms > "$work/t2" 2> "$work/e2"
rc2=$?
expect_eq "rotation: first refresh" "$rc1" 0
expect_eq "rotation: second refresh" "$rc2" 0
expect_eq "rotation: refresh requests" "$(token_requests refresh_token)" 2
expect_eq "rotation: the second refresh used the rotated token" \
    "$(jq -rs '[.[] | select(.form.grant_type == "refresh_token") | .form.refresh_token] | .[0] != .[1]' "$fake_log")" true
if [[ "$(cat "$work/t1")" == "$(cat "$work/t2")" ]]; then
    fail "rotation: the two refreshes printed the same access token"
else
    pass
fi

# ---- SIGKILL at each step of a refresh leaves a store that still works ----
start_fake "$(live_scenario)"
preload="$KILLSHIM"
if [[ "${SANITIZED:-0}" == 1 ]]; then
    export ASAN_OPTIONS=verify_asan_link_order=0
fi
for step in connect tmp-open rename after-rename; do
    reset_store
    cp "$work/store/ms.json" "$work/before.json"
    set +e
    LD_PRELOAD="$preload" MAILTOKEN_TEST_KILL_AT=$step "$MAILTOKEN" token --refresh ms \
        > "$work/killed.out" 2> "$work/killed.err"
    rc=$?
    set -e
    expect_eq "kill at $step: the process died by SIGKILL" "$rc" 137
    expect_eq "kill at $step: nothing on stdout" "$(cat "$work/killed.out")" ""
    if ! jq -e .refresh_token "$work/store/ms.json" > /dev/null; then
        fail "kill at $step: the store file is not valid JSON with a refresh token"
    else
        pass
    fi
    if [[ $step != after-rename ]]; then
        if cmp -s "$work/before.json" "$work/store/ms.json"; then pass; else
            fail "kill at $step: the store file changed before the rename"
        fi
    fi
    set +e
    token=$("$MAILTOKEN" token ms 2> "$work/after.err")
    rc=$?
    set -e
    expect_eq "kill at $step: the next token call works" "$rc" 0
    expect_eq "kill at $step: the next token call prints a token" "${#token}" 485
    leftovers=$(find "$work/store" -name '*.tmp' | wc -l)
    expect_eq "kill at $step: temporary files left after the next write" "$leftovers" 0
done
unset ASAN_OPTIONS

# ---- a read-only store: the old file is kept and the error names the store ----
reset_store
chown -R nobody:nogroup "$work/store"
chmod 644 "$work/config"
cp "$work/store/ms.json" "$work/before.json"
chmod 500 "$work/store"
set +e
setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/nonexistent \
    MAILTOKEN_CONFIG="$work/config" "$MAILTOKEN" token ms > "$work/ro.out" 2> "$work/ro.err"
rc=$?
set -e
chmod 700 "$work/store"
chown -R root:root "$work/store"
chmod 600 "$work/config"
if [[ $rc -eq 73 || $rc -eq 74 ]]; then pass; else
    fail "read-only store: exit code $rc, expected 73 or 74 ($(cat "$work/ro.err"))"
fi
expect_eq "read-only store: nothing on stdout" "$(cat "$work/ro.out")" ""
expect_contains "read-only store: the message names the store" "$(cat "$work/ro.err")" "$work/store"
if cmp -s "$work/before.json" "$work/store/ms.json"; then pass; else
    fail "read-only store: the old file changed"
fi

# ---- provider errors: exit code and the fix in one line ----
check_error() {
    # check_error FIXTURE EXIT_CODE PIECE
    start_fake "{\"routes\": {\"token\": [\"$1\"]}}"
    reset_store
    set +e
    "$MAILTOKEN" token ms > "$work/err.out" 2> "$work/err.err"
    local rc=$?
    set -e
    expect_eq "$1: exit code" "$rc" "$2"
    expect_eq "$1: nothing on stdout" "$(cat "$work/err.out")" ""
    expect_contains "$1: message" "$(cat "$work/err.err")" "$3"
    expect_eq "$1: one line" "$(wc -l < "$work/err.err")" 1
}
check_error microsoft/invalid_grant-700082.json 77 "run mailtoken authorize ms"
check_error microsoft/invalid_grant-50173.json 77 "revoked"
check_error microsoft/invalid_grant-70043.json 77 "sign-in frequency"
check_error microsoft/invalid_grant-50076.json 77 "multi-factor"
check_error microsoft/invalid_grant-65001.json 77 "consented"
check_error microsoft/invalid_client-7000222.json 78 "create a new secret under Certificates & secrets"
check_error microsoft/invalid_client-7000215.json 78 "Value, not its Secret ID"
check_error microsoft/invalid_client-700025.json 78 "public client"
check_error microsoft/invalid_client-7000218.json 78 "Allow public client flows"
check_error microsoft/unauthorized_client-700016.json 78 "client_id is not known"
check_error microsoft/invalid_request-90002.json 78 "tenant does not exist"
check_error microsoft/invalid_scope-70011.json 78 "scope"
check_error quirks/http429-retry-after.json 75 "Retry-After"
check_error quirks/http503.json 75 "try again"
check_error quirks/html-502.json 75 "HTTP 502"
check_error quirks/truncated-json.json 76 "malformed JSON"
check_error quirks/huge-body.json 76 "larger than"
check_error quirks/http200-no-access_token.json 76 "no access_token"
check_error quirks/http200-error-invalid_grant.json 77 "invalid_grant"
check_error quirks/close-without-reply.json 75 "ms"
start_fake '{"routes": {"token": ["microsoft/invalid_grant-700082.json"]}}'
reset_store
expect_contains "errors: the trace ID is quoted" "$("$MAILTOKEN" token ms 2>&1 || true)" "trace ID"

# status after a rejected refresh token
start_fake '{"routes": {"token": ["microsoft/invalid_grant-700082.json"]}}'
reset_store
"$MAILTOKEN" token ms > /dev/null 2>&1 || true
set +e
status=$("$MAILTOKEN" status ms 2>&1)
rc=$?
set -e
expect_eq "status: exit code after a rejected refresh" "$rc" 77
expect_contains "status: state" "$status" "needs-reauthorization"
expect_contains "status: the last error" "$status" "AADSTS700082"

# ---- canary: no secret in any output, -v included ----
write_config "client_secret = CANARY-SECRET-7f3a91"
start_fake '{"live": {"style": "microsoft", "refresh_tokens": ["CANARY-RT-b52c07"],
  "clients": {"11111111-2222-3333-4444-555555555555": {"secret": "CANARY-SECRET-7f3a91"}}}}'
rm -rf "$work/store"
echo CANARY-RT-b52c07 | "$MAILTOKEN" -v import ms > "$work/canary.out" 2> "$work/canary.err"
"$MAILTOKEN" -v token ms > "$work/token.out" 2>> "$work/canary.err"
access=$(cat "$work/token.out")
"$MAILTOKEN" -v token --refresh ms >> "$work/canary.out" 2>> "$work/canary.err"
"$MAILTOKEN" -v status >> "$work/canary.out" 2>> "$work/canary.err"
"$MAILTOKEN" -v request TOKEN ms > /dev/null 2>> "$work/canary.err"
start_fake '{"routes": {"token": ["microsoft/invalid_client-7000222.json"]}}'
"$MAILTOKEN" -v token --refresh ms >> "$work/canary.out" 2>> "$work/canary.err" || true
all=$(cat "$work/canary.out" "$work/canary.err")
expect_lacks "canary: client secret" "$all" "CANARY-SECRET"
expect_lacks "canary: refresh token" "$all" "CANARY-RT"
expect_lacks "canary: access token on stderr" "$(cat "$work/canary.err")" "${access:0:40}"
expect_contains "canary: -v shows fingerprints" "$(cat "$work/canary.err")" "refresh_token=sha256:"
expect_eq "canary: access token length" "${#access}" 485

finish
