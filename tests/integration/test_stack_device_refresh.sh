#!/bin/bash
# Device grant approved through stack_device_approve, then a refresh: both
# tokens log in to Dovecot. glewlwyd's refresh tokens do not rotate here,
# so the refresh reply carries no new refresh token.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
test_require_tools curl:curl jq:jq /usr/bin/python3:python3

imaps_ok() {
    curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "imaps://$STACK_MAIL_HOST:$STACK_IMAPS_PORT/" \
        -u "$1:" --oauth2-bearer "$2" -X 'EXAMINE INBOX' >/dev/null 2>&1
}

for client in "$STACK_PUB_CLIENT_ID" "$STACK_CONF_CLIENT_ID"; do
    reply=$(stack_token_device "$client" "$STACK_BOB_USER" "$STACK_BOB_PASSWORD") ||
        test_fail "device grant for $client failed"
    test_equal "device grant scope for $client" "$(jq -r .scope <<<"$reply")" "$STACK_SCOPE"
    imaps_ok "$STACK_BOB_USER" "$(jq -r .access_token <<<"$reply")" ||
        test_fail "Dovecot rejected the device-grant token of $client"
    test_pass "device-grant token of $client logs in"

    refresh=$(jq -r .refresh_token <<<"$reply")
    reply=$(stack_token_refresh "$client" "$refresh") || test_fail "refresh for $client failed"
    imaps_ok "$STACK_BOB_USER" "$(jq -r .access_token <<<"$reply")" ||
        test_fail "Dovecot rejected the refreshed token of $client"
    test_pass "refreshed token of $client logs in"
    test_equal "refresh reply of $client has no new refresh token" \
        "$(jq -r '.refresh_token // "none"' <<<"$reply")" none
    reply=$(stack_token_refresh "$client" "$refresh") || test_fail "second refresh for $client failed"
    test_pass "refresh token of $client is reusable"
done

# The verification_uri_complete form, at the RS256 instance.
reply=$(curl -sS --max-time 10 -d "client_id=$STACK_PUB_CLIENT_ID" -d "scope=$STACK_SCOPE" \
    "$STACK_RS_DEVICE_AUTHORIZATION_ENDPOINT") || test_fail "device authorization request failed"
complete=$(jq -r '.verification_uri_complete // empty' <<<"$reply")
test_match "verification_uri_complete of the RS256 instance" "$complete" "^$STACK_RS_DEVICE_VERIFICATION_URL\\?code="
stack_device_approve "$complete" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD" ||
    test_fail "stack_device_approve rejected verification_uri_complete"
reply=$(curl -sS --max-time 10 -d "client_id=$STACK_PUB_CLIENT_ID" \
    -d grant_type=urn:ietf:params:oauth:grant-type:device_code \
    --data-urlencode "device_code=$(jq -r .device_code <<<"$reply")" "$STACK_RS_TOKEN_ENDPOINT")
imaps_ok "$STACK_ALICE_USER" "$(jq -r '.access_token // empty' <<<"$reply")" ||
    test_fail "Dovecot rejected the RS256 device-grant token: $(head -c 200 <<<"$reply")"
test_pass "device grant approved by URL at the RS256 instance logs in"

# A user code glewlwyd never issued is reported as an error.
if stack_device_approve "XXXX-0000" "$STACK_BOB_USER" "$STACK_BOB_PASSWORD" 2>/dev/null; then
    test_fail "stack_device_approve accepted an unknown user code"
fi
test_pass "unknown user code is rejected"

test_done
