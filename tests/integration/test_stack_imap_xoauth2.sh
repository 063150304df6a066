#!/bin/bash
# Dovecot's XOAUTH2 over IMAPS, with Python's imaplib as the client (curl
# 7.88 always picks OAUTHBEARER, and imtest needs a Cyrus XOAUTH2 plugin):
# a valid token logs in; a bad one gets Dovecot's JSON error challenge,
# then NO after the client's empty response.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
test_require_tools jq:jq curl:curl /usr/bin/python3:python3

token=$(stack_access_token "$STACK_CONF_CLIENT_ID" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD") ||
    test_fail "could not get a token from glewlwyd"

# Prints "OK", or "NO <challenge JSON>" when the server rejected the token.
xoauth2_login() {
    /usr/bin/python3 - "$STACK_MAIL_HOST" "$STACK_IMAPS_PORT" "$STACK_CA_FILE" "$1" "$2" <<'PY'
import base64, imaplib, ssl, sys
host, port, cafile, user, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
context = ssl.create_default_context(cafile=cafile)
first = ("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode()
challenges = []
def answer(challenge):
    if not challenge:
        return first
    challenges.append(challenge.decode())
    return b""
imap = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=20)
try:
    imap.authenticate("XOAUTH2", answer)
    print("OK")
    imap.logout()
except imaplib.IMAP4.error:
    print("NO", challenges[0] if challenges else "")
PY
}

result=$(xoauth2_login "$STACK_ALICE_USER" "$token") || test_fail "the Python IMAP client failed"
test_equal "XOAUTH2 login with a valid token" "$result" OK

result=$(xoauth2_login "$STACK_ALICE_USER" "not-a-valid-token") || test_fail "the Python IMAP client failed"
test_match "XOAUTH2 login with a bad token is rejected" "$result" '^NO '
challenge=${result#NO }
test_equal "error challenge status" "$(jq -r .status <<<"$challenge")" 401
test_equal "error challenge scope" "$(jq -r .scope <<<"$challenge")" "$STACK_SCOPE"

test_done
