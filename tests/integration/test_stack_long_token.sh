#!/bin/bash
# The RS256 plugin instance issues long tokens (about 800 characters), and
# Dovecot accepts them over IMAPS, POP3S and Postfix smtpd (curl sends
# OAUTHBEARER after the 334 continuation, so no AUTH line limit applies).
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
test_require_tools curl:curl jq:jq

token=$(stack_access_token "$STACK_CONF_CLIENT_ID" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD" \
    "$STACK_SCOPE" "$STACK_OIDC_RS_NAME") || test_fail "could not get a token from the RS256 instance"
if [ "${#token}" -lt 700 ]; then
    test_fail "RS256 token is only ${#token} characters long, expected at least 700"
fi
test_pass "RS256 token is ${#token} characters long"
test_equal "RS256 token header algorithm" \
    "$(cut -d. -f1 <<<"$token" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .alg)" RS256

short=$(stack_access_token "$STACK_PUB_CLIENT_ID" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD") ||
    test_fail "could not get a token from the HS256 instance"
if [ "${#short}" -gt 520 ]; then
    test_fail "HS256 token is ${#short} characters long, expected at most 520"
fi
test_pass "HS256 token is ${#short} characters long"

public=$(stack_access_token "$STACK_PUB_CLIENT_ID" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD" \
    "$STACK_SCOPE" "$STACK_OIDC_RS_NAME") || test_fail "could not get a public-client RS256 token"

curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "imaps://$STACK_MAIL_HOST:$STACK_IMAPS_PORT/" \
    -u "$STACK_ALICE_USER:" --oauth2-bearer "$token" -X 'EXAMINE INBOX' >/dev/null ||
    test_fail "Dovecot IMAPS rejected the RS256 token"
test_pass "IMAPS accepts the RS256 token of $STACK_CONF_CLIENT_ID"
curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "imaps://$STACK_MAIL_HOST:$STACK_IMAPS_PORT/" \
    -u "$STACK_ALICE_USER:" --oauth2-bearer "$public" -X 'EXAMINE INBOX' >/dev/null ||
    test_fail "Dovecot IMAPS rejected the public client's RS256 token"
test_pass "IMAPS accepts the RS256 token of $STACK_PUB_CLIENT_ID"
curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "pop3s://$STACK_MAIL_HOST:$STACK_POP3S_PORT/" \
    -u "$STACK_ALICE_USER:" --oauth2-bearer "$token" >/dev/null ||
    test_fail "Dovecot POP3S rejected the RS256 token"
test_pass "POP3S accepts the RS256 token"

subject=$(test_unique_subject)
printf 'Subject: %s\r\n\r\nLong token.\r\n' "$subject" >"$TEST_TMP/message"
curl -sS --max-time 20 --ssl-reqd --cacert "$STACK_CA_FILE" \
    "smtp://$STACK_MAIL_HOST:$STACK_SMTP_AUTH_PORT" -u "$STACK_ALICE_USER:" --oauth2-bearer "$token" \
    --mail-from "$STACK_ALICE_EMAIL" --mail-rcpt "$STACK_ALICE_EMAIL" -T "$TEST_TMP/message" ||
    test_fail "Postfix smtpd rejected the RS256 token"
stack_wait_mail "$STACK_ALICE_USER" "$subject" >/dev/null || test_fail "the message did not arrive"
test_pass "Postfix smtpd accepts the RS256 token and delivers"

stack_token_revoke "$token" "$STACK_OIDC_RS_NAME" || test_fail "revocation at the RS256 instance failed"
if curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "imaps://$STACK_MAIL_HOST:$STACK_IMAPS_PORT/" \
    -u "$STACK_ALICE_USER:" --oauth2-bearer "$token" -X 'EXAMINE INBOX' >/dev/null 2>&1; then
    test_fail "Dovecot accepted the revoked RS256 token"
fi
test_pass "revoked RS256 token is rejected"

test_done
