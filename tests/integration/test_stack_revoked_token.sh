#!/bin/bash
# A revoked token is rejected at once: Dovecot asks glewlwyd on every login
# (no auth cache), so revocation through stack_token_revoke takes effect on
# the next login. Covers a confidential-client token (introspection passdb)
# and a public-client token (userinfo passdb).
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
test_require_tools curl:curl jq:jq

imaps_login() {
    curl -sS -v --max-time 20 --cacert "$STACK_CA_FILE" \
        "imaps://$STACK_MAIL_HOST:$STACK_IMAPS_PORT/" -u "$1:" \
        --oauth2-bearer "$2" -X 'EXAMINE INBOX' 2>&1
}

for client in "$STACK_CONF_CLIENT_ID" "$STACK_PUB_CLIENT_ID"; do
    token=$(stack_access_token "$client" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD") ||
        test_fail "could not get a $client token"
    out=$(imaps_login "$STACK_ALICE_USER" "$token") || test_fail "$client token rejected before revocation: $(tail -n 3 <<<"$out")"
    test_pass "$client token accepted before revocation"

    stack_token_revoke "$token" || test_fail "revocation of the $client token failed"
    test_equal "$client token inactive after revocation" \
        "$(stack_token_introspect "$token" | jq -r .active)" false

    if out=$(imaps_login "$STACK_ALICE_USER" "$token"); then
        test_fail "Dovecot accepted the revoked $client token"
    fi
    # A rejected token ends in AUTHENTICATIONFAILED; UNAVAILABLE would mean
    # that a passdb failed internally.
    test_match "revoked $client token: authentication failed" "$out" 'NO \[AUTHENTICATIONFAILED\]'
done

test_done
