#!/bin/bash
# mailtoken tunnel under a scripted IMAP session: the PREAUTH greeting
# comes first, then only the server's IMAP on standard output, over IMAPS
# and IMAP with STARTTLS. A revoked access token is refreshed once and
# retried on the same connection. A revoked refresh token ends the tunnel
# with exit code 77 and nothing on standard output. Long (RS256) tokens work.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
test_require_tools jq:jq curl:curl

host=$STACK_MAIL_HOST
mt_account alice "$STACK_CONF_CLIENT_ID"
token=$(mt token alice) || test_fail "mailtoken token alice failed"

subject=$(test_unique_subject)
printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nThrough the tunnel.\r\n' \
    "$STACK_ALICE_EMAIL" "$STACK_ALICE_EMAIL" "$subject" >"$TEST_TMP/message"
curl -sS --max-time 20 --ssl-reqd --cacert "$STACK_CA_FILE" \
    "smtp://$host:$STACK_SUBMISSION_PORT" -u "$STACK_ALICE_USER:" --oauth2-bearer "$token" \
    --mail-from "$STACK_ALICE_EMAIL" --mail-rcpt "$STACK_ALICE_EMAIL" -T "$TEST_TMP/message" ||
    test_fail "could not send the test message"
stack_wait_mail "$STACK_ALICE_USER" "$subject" >/dev/null || test_fail "the test message did not arrive"

# session WHAT SERVER: runs a scripted session, checks standard output and error.
session() {
    local what=$1 server=$2 out err status=0
    printf 'a1 EXAMINE INBOX\r\na2 SEARCH SUBJECT "%s"\r\na3 LOGOUT\r\n' "$subject" |
        mt tunnel alice imap "$server" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || status=$?
    out=$(cat "$TEST_TMP/out")
    err=$(cat "$TEST_TMP/err")
    test_equal "$what: exit code" "$status" 0
    test_match "$what: PREAUTH greeting first" "$(head -n 1 <<<"$out")" \
        $'^\\* PREAUTH \\[CAPABILITY IMAP4rev1 [^]]*\\] mailtoken tunnel ready\r$'
    if head -n 1 <<<"$out" | grep -qE 'STARTTLS|AUTH=|LOGINDISABLED'; then
        test_fail "$what: the greeting offers login capabilities: $(head -n 1 <<<"$out")"
    fi
    test_pass "$what: no login capabilities in the greeting"
    test_match "$what: EXAMINE completed" "$out" '^a1 OK \[READ-ONLY\]'
    test_match "$what: the message is found" "$out" '^\* SEARCH [0-9]+'
    test_match "$what: LOGOUT completed" "$out" '^a3 OK'
    test_equal "$what: nothing but IMAP on standard output" \
        "$(grep -cvE $'^(\\* |a[123] )' <<<"$out" || true)" 0
    test_equal "$what: nothing on standard error" "$err" ""
}

session "IMAPS" "imaps://$host:$STACK_IMAPS_PORT"
session "IMAP with STARTTLS" "imap://$host:$STACK_IMAP_PORT"

# A revoked access token: one rejection, one refresh, one more AUTHENTICATE.
old=$(mt_stored_access_token alice)
stack_token_revoke "$old" || test_fail "revocation of the access token failed"
mark=$(stack_log_mark dovecot)
session "after revocation" "imaps://$host:$STACK_IMAPS_PORT"
if [ "$(mt_stored_access_token alice)" = "$old" ]; then
    test_fail "after revocation: the store still has the revoked token"
fi
test_pass "after revocation: the store has a new token"
sleep 0.2
log=$(stack_log_since dovecot "$mark" | grep -- 'imap-login:' || true)
test_equal "after revocation: one connection" "$(mt_dovecot_sessions "$log")" 1

# A revoked refresh token as well: the tunnel cannot log in and reports it on standard error only.
refresh=$(jq -r .refresh_token "$TEST_TMP/store-alice/alice.json")
stack_token_revoke "$refresh" || test_fail "revocation of the refresh token failed"
stack_token_revoke "$(mt_stored_access_token alice)" || test_fail "revocation of the access token failed"
status=0
printf 'a1 LOGOUT\r\n' | mt tunnel alice imap "imaps://$host:$STACK_IMAPS_PORT" \
    >"$TEST_TMP/out" 2>"$TEST_TMP/err" || status=$?
test_equal "revoked refresh token: exit code" "$status" 77
test_equal "revoked refresh token: nothing on standard output" "$(cat "$TEST_TMP/out")" ""
test_match "revoked refresh token: message" "$(cat "$TEST_TMP/err")" '^mailtoken: alice: '

mt_account rs "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_RS_NAME"
long=$(mt token rs)
test_match "RS256 token length" "${#long}" '^[7-9][0-9]{2}$'
status=0
printf 'a1 NOOP\r\na2 LOGOUT\r\n' | mt tunnel rs imap "imaps://$host:$STACK_IMAPS_PORT" \
    >"$TEST_TMP/out" 2>"$TEST_TMP/err" || status=$?
test_equal "long token: exit code" "$status" 0
test_match "long token: NOOP completed" "$(cat "$TEST_TMP/out")" '^a1 OK'

test_done
