#!/bin/bash
# msmtp 1.8 with contrib/msmtp/msmtprc. Its "office365" account (XOAUTH2,
# STARTTLS) and "gmail" account (OAUTHBEARER, implicit TLS) send through
# Dovecot submission, with passwordeval running `mailtoken token`. Each
# mechanism runs on each TLS variant, and every message must arrive.
# Command line options and a changed "host" line point the accounts at the
# stack. With a long (RS256) token,
# OAUTHBEARER fails at Dovecot submission because msmtp puts the token on
# the AUTH line, and works through Postfix smtpd, which accepts long lines.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
test_require_tools msmtp:msmtp jq:jq

source_dir=${MAILTOKEN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
contrib=$source_dir/contrib/msmtp/msmtprc
[ -f "$contrib" ] || test_fail "$contrib is missing"

# msmtp accepts every setting on its command line except "host" when an
# account is named, so the copy gets the stack's host name.
host=$STACK_MAIL_HOST
rc=$TEST_TMP/msmtprc
sed -E "s/^host .*/host $host/" "$contrib" >"$rc"
chmod 600 "$rc"

# send WHAT ACCOUNT CONF MAILTOKEN_ACCOUNT MSMTP_OPTION...: sends alice a
# message through msmtp account ACCOUNT of the copy and sets $subject,
# $status and $out (msmtp's combined output).
send() {
    local what=$1 account=$2 conf=$3 token_account=$4
    shift 4
    subject=$(test_unique_subject)
    status=0
    out=$(printf 'From: %s\nTo: %s\nSubject: %s\n\nSent by msmtp (%s).\n' \
        "$STACK_ALICE_EMAIL" "$STACK_ALICE_EMAIL" "$subject" "$what" |
        msmtp -C "$rc" -a "$account" --tls-trust-file="$STACK_CA_FILE" \
            --user="$STACK_ALICE_USER" --from="$STACK_ALICE_EMAIL" \
            --logfile="$TEST_TMP/msmtp.log" \
            --passwordeval="$MAILTOKEN --config $conf token $token_account" \
            "$@" "$STACK_ALICE_EMAIL" 2>&1) || status=$?
}

# expect_delivery WHAT: the last send exited 0 and its message arrived.
expect_delivery() {
    test_equal "$1: msmtp exit code" "$status" 0
    stack_wait_mail "$STACK_ALICE_USER" "$subject" >/dev/null ||
        test_fail "$1: the message did not arrive: $out"
    test_pass "$1: the message arrived"
}

mt_account alice "$STACK_CONF_CLIENT_ID"
short_conf=$MT_CONF
mt_account rs "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_RS_NAME"
long_conf=$MT_CONF

starttls=(--port="$STACK_SUBMISSION_PORT" --tls-starttls=on)
implicit=(--port="$STACK_SUBMISSIONS_PORT" --tls-starttls=off)

send "office365 as shipped, STARTTLS" office365 "$short_conf" alice "${starttls[@]}"
expect_delivery "office365 as shipped, STARTTLS"
send "office365 with OAUTHBEARER, STARTTLS" office365 "$short_conf" alice "${starttls[@]}" \
    --auth=oauthbearer
expect_delivery "office365 with OAUTHBEARER, STARTTLS"
send "gmail as shipped, implicit TLS" gmail "$short_conf" alice "${implicit[@]}"
expect_delivery "gmail as shipped, implicit TLS"
send "gmail with XOAUTH2, implicit TLS" gmail "$short_conf" alice "${implicit[@]}" \
    --auth=xoauth2
expect_delivery "gmail with XOAUTH2, implicit TLS"

token=$(mt token rs) || test_fail "mailtoken token rs failed"
if [ "${#token}" -lt 700 ]; then
    test_fail "the RS256 token has only ${#token} characters"
fi
test_pass "the RS256 token has ${#token} characters"
send "XOAUTH2 with the RS256 token" office365 "$long_conf" rs "${starttls[@]}"
expect_delivery "XOAUTH2 with the RS256 token"

# Known limit: the OAUTHBEARER response goes on the AUTH line.
send "OAUTHBEARER with the RS256 token to submission" office365 "$long_conf" rs \
    "${starttls[@]}" --auth=oauthbearer
test_equal "OAUTHBEARER with the RS256 token to submission: msmtp exit code" "$status" 77
test_match "OAUTHBEARER with the RS256 token to submission: Dovecot rejects the AUTH line" \
    "$out" "500 5\.5\.2 Line too long"
send "OAUTHBEARER with the RS256 token to Postfix" office365 "$long_conf" rs \
    --port="$STACK_SMTP_AUTH_PORT" --tls-starttls=on --auth=oauthbearer
expect_delivery "OAUTHBEARER with the RS256 token to Postfix"

# When mailtoken cannot give a token, msmtp shows mailtoken's message.
cat >"$TEST_TMP/new.conf" <<EOC
[defaults]
store = $TEST_TMP/store-new

[new]
provider = generic
authorization_endpoint = $STACK_AUTHORIZATION_ENDPOINT
token_endpoint = $STACK_TOKEN_ENDPOINT
client_id = $STACK_PUB_CLIENT_ID
user = $STACK_ALICE_USER
scope = $STACK_SCOPE
EOC
send "account without authorization" office365 "$TEST_TMP/new.conf" new "${starttls[@]}"
if [ "$status" -eq 0 ]; then
    test_fail "account without authorization: msmtp exited 0"
fi
test_pass "account without authorization: msmtp exit code $status"
test_match "account without authorization: mailtoken's message reaches the user" "$out" \
    "mailtoken: new: not authorized yet"

mt_assert_no_token "msmtp's log" "$(cat "$TEST_TMP/msmtp.log")" "$token"

test_done
