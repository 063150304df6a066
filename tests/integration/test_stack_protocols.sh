#!/bin/bash
# One OAUTHBEARER login with curl on each Dovecot listener: IMAP plain and
# STARTTLS, IMAPS, POP3 plain and STARTTLS, POP3S. TLS is verified against
# the stack's CA for the name localhost.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
test_require_tools curl:curl jq:jq

token=$(stack_access_token "$STACK_PUB_CLIENT_ID" "$STACK_BOB_USER" "$STACK_BOB_PASSWORD") ||
    test_fail "could not get a token from glewlwyd"

check_login() {
    local what=$1 url=$2 out
    shift 2
    out=$(curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "$@" "$url" \
        -u "$STACK_BOB_USER:" --oauth2-bearer "$token" 2>&1) ||
        test_fail "$what: login failed: $(tail -n 3 <<<"$out")"
    test_pass "$what login"
}

check_login "IMAP (no TLS)" "imap://$STACK_MAIL_HOST:$STACK_IMAP_PORT/" -X 'EXAMINE INBOX'
check_login "IMAP STARTTLS" "imap://$STACK_MAIL_HOST:$STACK_IMAP_PORT/" --ssl-reqd -X 'EXAMINE INBOX'
check_login "IMAPS" "imaps://$STACK_MAIL_HOST:$STACK_IMAPS_PORT/" -X 'EXAMINE INBOX'
check_login "POP3 (no TLS)" "pop3://$STACK_MAIL_HOST:$STACK_POP3_PORT/"
check_login "POP3 STARTTLS" "pop3://$STACK_MAIL_HOST:$STACK_POP3_PORT/" --ssl-reqd
check_login "POP3S" "pop3s://$STACK_MAIL_HOST:$STACK_POP3S_PORT/"

# The certificate must verify by IP address too (SAN IP:127.0.0.1).
curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "imaps://127.0.0.1:$STACK_IMAPS_PORT/" \
    -u "$STACK_BOB_USER:" --oauth2-bearer "$token" -X 'EXAMINE INBOX' >/dev/null ||
    test_fail "IMAPS to 127.0.0.1 failed (certificate SAN IP:127.0.0.1?)"
test_pass "IMAPS by IP address verifies"

test_done
