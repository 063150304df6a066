#!/bin/bash
# Long access tokens: the RS256 glewlwyd instance issues about 800
# characters. mailtoken check sends the IMAP response on the AUTHENTICATE
# line (SASL-IR). It sends the SMTP and POP3 responses after the server's
# continuation, because the SMTP AUTH line would pass 512 octets, and
# Dovecot submission rejects AUTH lines over about 1 KiB.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
test_require_tools jq:jq

mt_account alice "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_RS_NAME"
token=$(mt token alice) || test_fail "mailtoken token alice failed"
if [ "${#token}" -lt 700 ]; then
    test_fail "the RS256 token has only ${#token} characters"
fi
test_pass "the RS256 token has ${#token} characters"

host=$STACK_MAIL_HOST
for mech in xoauth2 oauthbearer; do
    MECH=$(tr a-z A-Z <<<"$mech")
    out=$(mt check --mech "$mech" alice "imaps://$host:$STACK_IMAPS_PORT" 2>&1) ||
        test_fail "IMAPS $MECH with a long token: $(tail -n 3 <<<"$out")"
    test_match "IMAPS $MECH: response on the AUTHENTICATE line" "$out" \
        "C: M1 AUTHENTICATE $MECH \[$MECH response: 1[0-9]{3} base64 characters"
    mt_assert_no_token "IMAPS $MECH" "$out" "$token"

    for server in "smtp://$host:$STACK_SUBMISSION_PORT" "smtp://$host:$STACK_SMTP_AUTH_PORT" \
        "pop3s://$host:$STACK_POP3S_PORT"; do
        out=$(mt check --mech "$mech" alice "$server" 2>&1) ||
            test_fail "$server $MECH with a long token: $(tail -n 3 <<<"$out")"
        test_match "$server $MECH: AUTH without the response" "$out" "^C: AUTH $MECH$"
        test_match "$server $MECH: response after the continuation" "$out" \
            "^C: \[$MECH response: 1[0-9]{3} base64 characters"
        test_match "$server $MECH: authenticated" "$out" "authenticated as $STACK_ALICE_USER with $MECH"
        mt_assert_no_token "$server $MECH" "$out" "$token"
    done
done

test_done
