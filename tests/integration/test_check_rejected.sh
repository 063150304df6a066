#!/bin/bash
# A revoked access token: mailtoken check exits 77, shows Dovecot's reply
# and error challenge and the likely causes, marks the token as rejected
# in the store, and the next check refreshes the token and succeeds. Over
# IMAPS, POP3S and submission, with both mechanisms.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
test_require_tools jq:jq

mt_account alice "$STACK_CONF_CLIENT_ID"
host=$STACK_MAIL_HOST
cases=(
    "imap imaps://$host:$STACK_IMAPS_PORT xoauth2 NO \[AUTHENTICATIONFAILED\]"
    "pop3 pop3s://$host:$STACK_POP3S_PORT oauthbearer -ERR \[AUTH\]"
    "smtp smtp://$host:$STACK_SUBMISSION_PORT xoauth2 535 5\.7\.8"
    "smtp smtp://$host:$STACK_SUBMISSION_PORT oauthbearer 535 5\.7\.8"
)

for entry in "${cases[@]}"; do
    read -r protocol server mech reply <<<"$entry"
    what="$protocol $server $mech"
    token=$(mt token alice) || test_fail "$what: mailtoken token failed"
    stack_token_revoke "$token" || test_fail "$what: revocation failed"
    test_equal "$what: glewlwyd says the token is inactive" \
        "$(stack_token_introspect "$token" | jq -r .active)" false

    mark=$(stack_log_mark dovecot)
    status=0
    out=$(mt check --mech "$mech" alice "$protocol" "$server" 2>&1) || status=$?
    test_equal "$what: exit code" "$status" 77
    test_match "$what: the server's reply" "$out" "mailtoken: alice: $host rejected the token with .*$reply"
    test_match "$what: the error challenge" "$out" 'error challenge: \{"status":"(401|invalid_token)"'
    test_match "$what: likely causes" "$out" 'likely causes, most likely first:'
    test_match "$what: expiry or revocation first" "$out" $'first:\n  - the token expired or was revoked'
    test_match "$what: says the next run refreshes" "$out" 'marked as rejected, so the next mailtoken run gets a new one'
    test_match "$what: logged out after the rejection" "$out" '^logged out$'
    test_equal "$what: the store marks the token" \
        "$(mt_token_rejected alice)" yes
    mt_assert_no_token "$what" "$out" "$token"
    sleep 0.2
    test_equal "$what: exactly one connection" \
        "$(mt_dovecot_sessions "$(stack_log_since dovecot "$mark" | grep -- '-login:' || true)")" 1

    status=0
    out=$(mt check --mech "$mech" alice "$protocol" "$server" 2>&1) || status=$?
    test_equal "$what: the next check exit code" "$status" 0
    fresh=$(mt token alice)
    if [ "$fresh" = "$token" ]; then
        test_fail "$what: the next check used the revoked token again"
    fi
    test_pass "$what: the next check used a refreshed token"
    test_equal "$what: the store no longer marks it" \
        "$(mt_token_rejected alice)" no
done

test_done
