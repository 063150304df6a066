#!/bin/bash
# curl with tokens from mailtoken. First as typed by hand, `curl
# --oauth2-bearer "$(mailtoken token alice)"`: list the mailboxes over
# IMAPS, send a message through submission with STARTTLS, then find it
# with an IMAP SEARCH and fetch it. Then the scripts in contrib/curl with a
# short and a long (RS256) token, over STARTTLS and implicit TLS. curl
# 7.88 logs in with OAUTHBEARER because Dovecot offers it, also when
# asked for XOAUTH2. Over SMTP it sends the token after the 334, so long
# tokens pass Dovecot submission.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
test_require_tools curl:curl jq:jq

source_dir=${MAILTOKEN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
imap_list=$source_dir/contrib/curl/imap-list
smtp_send=$source_dir/contrib/curl/smtp-send
for script in "$imap_list" "$smtp_send"; do
    [ -x "$script" ] || test_fail "$script is missing or not executable"
done
host=$STACK_MAIL_HOST
imaps=imaps://$host:$STACK_IMAPS_PORT

# write_message SUBJECT: writes $TEST_TMP/message, a message to alice.
write_message() {
    printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nSent by curl.\r\n' \
        "$STACK_ALICE_EMAIL" "$STACK_ALICE_EMAIL" "$1" >"$TEST_TMP/message"
}

# expect_arrival WHAT SUBJECT: the message with SUBJECT reaches alice's Maildir.
expect_arrival() {
    stack_wait_mail "$STACK_ALICE_USER" "$2" >/dev/null || test_fail "$1: the message did not arrive"
    test_pass "$1: the message arrived"
}

mt_account alice "$STACK_CONF_CLIENT_ID"
short_conf=$MT_CONF

# By hand. The -v trace contains the token, so checks on it never print it.
status=0
trace=$(curl -v -sS --max-time 20 --cacert "$STACK_CA_FILE" -u "$STACK_ALICE_USER:" \
    --oauth2-bearer "$(mt token alice)" "$imaps/" 2>&1) || status=$?
test_equal "IMAPS list: curl exit code" "$status" 0
trace=${trace//$'\r'/}
test_match "IMAPS list: INBOX is listed" "$(grep '^< \* LIST' <<<"$trace")" '^< \* LIST .* INBOX$'
if ! grep -q '^> A[0-9]* AUTHENTICATE OAUTHBEARER [A-Za-z0-9+/=]*$' <<<"$trace"; then
    test_fail "IMAPS list: curl did not send AUTHENTICATE OAUTHBEARER with the response"
fi
test_pass "IMAPS list: OAUTHBEARER with the response on the AUTHENTICATE line"

subject=$(test_unique_subject)
write_message "$subject"
status=0
trace=$(curl -v -sS --max-time 20 --ssl-reqd --cacert "$STACK_CA_FILE" -u "$STACK_ALICE_USER:" \
    --oauth2-bearer "$(mt token alice)" --mail-from "$STACK_ALICE_EMAIL" \
    --mail-rcpt "$STACK_ALICE_EMAIL" -T "$TEST_TMP/message" \
    "smtp://$host:$STACK_SUBMISSION_PORT" 2>&1) || status=$?
test_equal "SMTP with STARTTLS: curl exit code" "$status" 0
trace=${trace//$'\r'/}
if ! grep -qx '> AUTH OAUTHBEARER' <<<"$trace"; then
    test_fail "SMTP with STARTTLS: curl did not send AUTH OAUTHBEARER without a response"
fi
test_pass "SMTP with STARTTLS: AUTH OAUTHBEARER, response after the 334"
expect_arrival "SMTP with STARTTLS" "$subject"

word=${subject##*-}
status=0
found=$(curl -sS --max-time 20 --cacert "$STACK_CA_FILE" -u "$STACK_ALICE_USER:" \
    --oauth2-bearer "$(mt token alice)" "$imaps/INBOX?SUBJECT%20$word") || status=$?
test_equal "IMAP SEARCH: curl exit code" "$status" 0
test_match "IMAP SEARCH: the message is found" "$found" '^\* SEARCH [0-9]+'
index=$(sed -n 's/^\* SEARCH \([0-9]*\).*/\1/p' <<<"$found" | tr -d '\r')
status=0
fetched=$(curl -sS --max-time 20 --cacert "$STACK_CA_FILE" -u "$STACK_ALICE_USER:" \
    --oauth2-bearer "$(mt token alice)" "$imaps/INBOX/;MAILINDEX=$index") || status=$?
test_equal "IMAP FETCH: curl exit code" "$status" 0
test_match "IMAP FETCH: the message has the subject" "$fetched" "^Subject: $subject"

# Known limit of curl 7.88: AUTH=XOAUTH2 does not keep it from OAUTHBEARER.
trace=$(curl -v -sS --max-time 20 --cacert "$STACK_CA_FILE" -u "$STACK_ALICE_USER:" \
    --login-options AUTH=XOAUTH2 --oauth2-bearer "$(mt token alice)" "$imaps/" 2>&1) || true
if ! grep -q '^> A[0-9]* AUTHENTICATE OAUTHBEARER ' <<<"$trace"; then
    test_fail "AUTH=XOAUTH2: curl no longer uses OAUTHBEARER; update the documentation"
fi
test_pass "AUTH=XOAUTH2: curl still logs in with OAUTHBEARER"

# The scripts in contrib/curl, with the short and the long token.
mt_account rs "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_RS_NAME"
long_conf=$MT_CONF
token=$(mt token rs) || test_fail "mailtoken token rs failed"
if [ "${#token}" -lt 700 ]; then
    test_fail "the RS256 token has only ${#token} characters"
fi
test_pass "the RS256 token has ${#token} characters"

for entry in "alice $short_conf HS256" "rs $long_conf RS256"; do
    read -r account conf kind <<<"$entry"
    export MAILTOKEN_CONFIG=$conf CURL_CA_BUNDLE=$STACK_CA_FILE
    status=0
    out=$("$imap_list" "$account" "$STACK_ALICE_USER" "$imaps/" 2>&1) || status=$?
    test_equal "imap-list, $kind token: exit code" "$status" 0
    test_match "imap-list, $kind token: INBOX is listed" "$out" '^\* LIST .* INBOX'

    for url in "smtp://$host:$STACK_SUBMISSION_PORT" "smtps://$host:$STACK_SUBMISSIONS_PORT"; do
        subject=$(test_unique_subject)
        write_message "$subject"
        status=0
        out=$("$smtp_send" "$account" "$STACK_ALICE_USER" "$STACK_ALICE_EMAIL" \
            "$STACK_ALICE_EMAIL" "$TEST_TMP/message" "$url" 2>&1) || status=$?
        test_equal "smtp-send, $kind token, $url: exit code" "$status" 0
        expect_arrival "smtp-send, $kind token, $url" "$subject"
    done
    unset MAILTOKEN_CONFIG CURL_CA_BUNDLE
done
mt_assert_no_token "the scripts' output" "$out" "$token"

# The scripts keep the token out of curl's argument list: a wrapper named
# curl, first in PATH, records the arguments and runs the real curl.
real_curl=$(command -v curl)
mkdir -p "$TEST_TMP/bin"
cat >"$TEST_TMP/bin/curl" <<EOS
#!/bin/sh
printf '%s\n' "\$@" >>"$TEST_TMP/curl-arguments"
exec "$real_curl" "\$@"
EOS
chmod +x "$TEST_TMP/bin/curl"
token=$(mt token alice)
subject=$(test_unique_subject)
write_message "$subject"
status=0
PATH=$TEST_TMP/bin:$PATH MAILTOKEN_CONFIG=$short_conf CURL_CA_BUNDLE=$STACK_CA_FILE \
    "$imap_list" alice "$STACK_ALICE_USER" "$imaps/" >/dev/null 2>&1 || status=$?
PATH=$TEST_TMP/bin:$PATH MAILTOKEN_CONFIG=$short_conf CURL_CA_BUNDLE=$STACK_CA_FILE \
    "$smtp_send" alice "$STACK_ALICE_USER" "$STACK_ALICE_EMAIL" "$STACK_ALICE_EMAIL" \
    "$TEST_TMP/message" "smtp://$host:$STACK_SUBMISSION_PORT" >/dev/null 2>&1 || status=$?
test_equal "scripts through the curl wrapper: exit codes" "$status" 0
test_equal "scripts through the curl wrapper: curl runs" \
    "$(grep -c '^--config$' "$TEST_TMP/curl-arguments")" 2
mt_assert_no_token "curl's arguments" "$(cat "$TEST_TMP/curl-arguments")" "$token"

test_done
