#!/bin/bash
# mailtoken check never logs in when TLS fails. A CA that did not sign the
# server's certificate gives exit code 75 over implicit TLS and STARTTLS.
# So do TLS to a plain-text port and STARTTLS to a TLS port (a timeout).
# No AUTH command is sent and the token is not marked as rejected.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
test_require_tools jq:jq openssl:openssl

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=some other CA" \
    -keyout "$TEST_TMP/other-ca.key" -out "$TEST_TMP/other-ca.crt" 2>/dev/null ||
    test_fail "openssl could not make a CA"
mt_account alice "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_NAME" "timeout = 3"
good_conf=$MT_CONF
sed "s|^ca_file = .*|ca_file = $TEST_TMP/other-ca.crt|" "$good_conf" >"$TEST_TMP/other-ca.conf"
chmod 600 "$TEST_TMP/other-ca.conf"
mt token alice >/dev/null || test_fail "mailtoken token alice failed"

host=$STACK_MAIL_HOST
for server in "imaps://$host:$STACK_IMAPS_PORT" "imap://$host:$STACK_IMAP_PORT" \
    "smtp://$host:$STACK_SUBMISSION_PORT" "pop3s://$host:$STACK_POP3S_PORT"; do
    status=0
    out=$("$MAILTOKEN" --config "$TEST_TMP/other-ca.conf" check alice "$server" 2>&1) || status=$?
    test_equal "$server with another CA: exit code" "$status" 75
    test_match "$server with another CA: message" "$out" \
        "mailtoken: alice: TLS with $server/ failed \(SSL certificate problem"
    test_equal "$server with another CA: no AUTH command sent" \
        "$(grep -cE '^C: (M[0-9]+ AUTHENTICATE|AUTH )' <<<"$out" || true)" 0
done

status=0
out=$(mt check alice "imaps://$host:$STACK_IMAP_PORT" 2>&1) || status=$?
test_equal "implicit TLS to the plain-text port: exit code" "$status" 75
test_match "implicit TLS to the plain-text port: message" "$out" 'TLS with imaps://'

status=0
start=$(date +%s)
out=$(mt check alice "imap://$host:$STACK_IMAPS_PORT" 2>&1) || status=$?
test_equal "STARTTLS to the TLS port: exit code" "$status" 75
test_match "STARTTLS to the TLS port: message" "$out" 'sent no greeting within 3 s: if that port expects TLS'
test_match "STARTTLS to the TLS port: within the timeout" "$(($(date +%s) - start))" '^[3-6]$'

test_equal "the token is not marked as rejected" \
    "$(mt_token_rejected alice)" no
test_done
