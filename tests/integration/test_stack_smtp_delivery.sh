#!/bin/bash
# Mail sent with curl through Postfix smtpd <base+26> (STARTTLS, AUTH via
# Dovecot SASL) and through Dovecot submission (<base+87> STARTTLS,
# <base+65> implicit TLS, relaying to Postfix <base+25>) arrives in the
# recipient's Maildir.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
test_require_tools curl:curl jq:jq openssl:openssl

token=$(stack_access_token "$STACK_CONF_CLIENT_ID" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD") ||
    test_fail "could not get a token from glewlwyd"

# send_mail URL SUBJECT [curl options]
send_mail() {
    local url=$1 subject=$2 message=$TEST_TMP/message
    shift 2
    printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nTest body.\r\n' \
        "$STACK_ALICE_EMAIL" "$STACK_BOB_EMAIL" "$subject" >"$message"
    curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "$@" "$url" \
        -u "$STACK_ALICE_USER:" --oauth2-bearer "$token" \
        --mail-from "$STACK_ALICE_EMAIL" --mail-rcpt "$STACK_BOB_EMAIL" -T "$message"
}

mark=$(stack_log_mark postfix)
subject=$(test_unique_subject)
send_mail "smtp://$STACK_MAIL_HOST:$STACK_SMTP_AUTH_PORT" "$subject" --ssl-reqd ||
    test_fail "curl could not send through Postfix smtpd on port $STACK_SMTP_AUTH_PORT"
test_pass "Postfix smtpd accepted the message"
file=$(stack_wait_mail "$STACK_BOB_USER" "$subject") || test_fail "message sent through Postfix smtpd did not arrive"
test_match "message from Postfix smtpd in bob's Maildir" "$file" "/mail/$STACK_BOB_USER/Maildir/(new|cur)/"
test_match "Postfix logged the SASL login" "$(stack_log_since postfix "$mark")" \
    "sasl_method=OAUTHBEARER, sasl_username=$STACK_ALICE_USER"

subject=$(test_unique_subject)
send_mail "smtp://$STACK_MAIL_HOST:$STACK_SUBMISSION_PORT" "$subject" --ssl-reqd ||
    test_fail "curl could not send through Dovecot submission on port $STACK_SUBMISSION_PORT"
stack_wait_mail "$STACK_BOB_USER" "$subject" >/dev/null || test_fail "message sent through Dovecot submission did not arrive"
test_pass "message through Dovecot submission (STARTTLS) arrived"

subject=$(test_unique_subject)
send_mail "smtps://$STACK_MAIL_HOST:$STACK_SUBMISSIONS_PORT" "$subject" ||
    test_fail "curl could not send through Dovecot submissions on port $STACK_SUBMISSIONS_PORT"
stack_wait_mail "$STACK_BOB_USER" "$subject" >/dev/null || test_fail "message sent through Dovecot submissions did not arrive"
test_pass "message through Dovecot submissions (implicit TLS) arrived"

test_done
