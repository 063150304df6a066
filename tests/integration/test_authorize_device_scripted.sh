#!/bin/bash
# mailtoken authorize --device against the scripted authorization server
# tests/tools/fake_as.py. Covered: the output format, polling intervals
# with slow_down (measured from the server's request log), each error that
# ends the grant, and the end of polling when expires_in has passed.
# Google accounts with the Gmail scope must be rejected before any request.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"

cli_setup authorize-device "${MAILTOKEN_TEST_PORT_OFFSET:-64}"

ms_client=11111111-2222-3333-4444-555555555555
device_grant=urn:ietf:params:oauth:grant-type:device_code

{
    echo "[defaults]"
    echo "store = $work/store"
    echo "timeout = 5"
    echo ""
    echo "[ms]"
    echo "provider = microsoft"
    echo "tenant = common"
    echo "client_id = $ms_client"
    echo "user = alice@example.test"
    echo "token_endpoint = $endpoint/common/oauth2/v2.0/token"
    echo "device_authorization_endpoint = $endpoint/common/oauth2/v2.0/devicecode"
    echo ""
    echo "[gmail]"
    echo "provider = google"
    echo "client_id = mailtoken-test.apps.googleusercontent.com"
    echo "client_secret = GOCSPX-test-secret"
    echo "token_endpoint = $endpoint/token"
    echo "device_authorization_endpoint = $endpoint/device/code"
} > "$work/config"
chmod 600 "$work/config"
export MAILTOKEN_CONFIG="$work/config"

# device_scenario POLLS_JSON [EXTRA_DEVICE_JSON]: Microsoft style, a public
# client, a 1-second interval unless EXTRA_DEVICE_JSON changes it.
device_scenario() {
    printf '{"live": {"style": "microsoft", "clients": {"%s": {"secret": null}},
        "device": {"interval": 1, "polls": %s%s}}}' "$ms_client" "$1" "${2:+, $2}"
}

# run_device: runs mailtoken authorize ms --device; sets rc, out, err.
run_device() {
    rc=0
    "$MAILTOKEN" authorize ms --device "$@" > "$work/out" 2> "$work/err" || rc=$?
    out=$(cat "$work/out")
    err=$(cat "$work/err")
}

# poll_gaps: seconds between the device request and each poll, rounded to 0.1 s.
poll_gaps() {
    jq -rs --arg g "$device_grant" '
        [.[] | select(.route == "device" or .form.grant_type == $g) | .epoch]
        | [range(1; length) as $i | (.[$i] - .[$i - 1]) * 10 | round / 10] | map(tostring) | join(" ")' \
        "$fake_log"
}

# ---- pending, slow_down, pending, approved ----
start_fake "$(device_scenario '["authorization_pending", "slow_down", "authorization_pending", "approve"]')"
run_device
expect_eq "device: exit status" "$rc" 0
expect_eq "device: stdout has the address and the code" "$(wc -l <<<"$out")" 2
expect_eq "device: first line is the verification URI" "$(sed -n 1p <<<"$out")" "https://microsoft.com/devicelogin"
user_code=$(sed -n 2p <<<"$out")
expect_contains "device: the code is shown on stderr too" "$err" "code $user_code"
expect_contains "device: Microsoft's message is shown" "$err" "the server says:"
expect_contains "device: success message" "$err" "ms: authorized"
expect_eq "device: polls" "$(token_requests "$device_grant")" 4
read -r -a gaps <<<"$(poll_gaps)"
expect_eq "device: number of waits" "${#gaps[@]}" 4
# Waits: 1 s, 1 s, then 6 s twice after slow_down added 5 s for good.
for i in 0 1; do
    expect_eq "device: wait $((i + 1)) is about 1 s" \
        "$(awk -v g="${gaps[$i]}" 'BEGIN { print (g >= 0.9 && g < 2.5) }')" 1
done
for i in 2 3; do
    expect_eq "device: wait $((i + 1)) is about 6 s after slow_down" \
        "$(awk -v g="${gaps[$i]}" 'BEGIN { print (g >= 5.9 && g < 7.5) }')" 1
done
expect_eq "device: the device request carries the scope" \
    "$(jq -rs '[.[] | select(.route == "device")][0].form.scope | contains("offline_access")' "$fake_log")" true
device_code=$(jq -rs --arg g "$device_grant" '[.[] | select(.form.grant_type == $g)][0].form.device_code' "$fake_log")
expect_lacks "device: no device code in the output" "$out$err" "$device_code"
token=$("$MAILTOKEN" token ms) || fail "device: mailtoken token failed"
expect_eq "device: the stored token is used without a request" "$(token_requests refresh_token)" 0
expect_lacks "device: no access token in the authorize output" "$out$err" "$token"

# ---- each error that ends the grant ----
for case in "access_denied 77 declined" "authorization_declined 77 declined" \
    "bad_verification_code 76 bad_verification_code" "expired_token 75 expired"; do
    read -r error status text <<<"$case"
    start_fake "$(device_scenario "[\"authorization_pending\", \"$error\", \"approve\"]")"
    run_device
    expect_eq "$error: exit status" "$rc" "$status"
    expect_contains "$error: message" "$err" "$text"
    expect_contains "$error: what to do" "$err" "mailtoken authorize ms --device"
    expect_eq "$error: no poll after the error" "$(token_requests "$device_grant")" 2
done

# ---- nothing after expires_in ----
start_fake "$(device_scenario '["authorization_pending"]' '"expires_in": 3')"
run_device
expect_eq "expiry: exit status" "$rc" 75
expect_contains "expiry: message" "$err" "expired (after 3 s)"
expect_eq "expiry: polls at 1 and 2 s only" "$(token_requests "$device_grant")" 2
last=$(jq -rs --arg g "$device_grant" '
    ([.[] | select(.form.grant_type == $g) | .epoch] | max) - ([.[] | select(.route == "device") | .epoch] | min)' \
    "$fake_log")
expect_eq "expiry: the last poll came before expires_in" "$(awk -v t="$last" 'BEGIN { print (t < 3) }')" 1

# ---- --timeout ends polling sooner ----
start_fake "$(device_scenario '["authorization_pending"]')"
run_device --timeout 2
expect_eq "--timeout: exit status" "$rc" 75
expect_contains "--timeout: message" "$err" "timed out after 2 s"

# ---- Google with the Gmail scope: refused before any request ----
start_fake "$(device_scenario '["approve"]')"
rc=0
"$MAILTOKEN" authorize gmail --device > "$work/out" 2> "$work/err" || rc=$?
expect_eq "gmail: exit status" "$rc" 64
expect_contains "gmail: explanation" "$(cat "$work/err")" "Google does not allow Gmail scopes in the device flow"
expect_contains "gmail: the way out" "$(cat "$work/err")" "ssh -L"
expect_eq "gmail: no request at all" "$(jq -s 'length' "$fake_log")" 0

finish
