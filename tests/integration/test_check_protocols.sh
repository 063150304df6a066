#!/bin/bash
# mailtoken check logs in to Dovecot over IMAPS, IMAP with STARTTLS,
# POP3S, POP3 with STARTTLS, submission with STARTTLS, submissions, and
# Postfix smtpd, with XOAUTH2 and with OAUTHBEARER. Each check opens
# exactly one connection, logs out, and shows no token.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
test_require_tools jq:jq base64:coreutils

mt_account alice "$STACK_CONF_CLIENT_ID"
token=$(mt token alice) || test_fail "mailtoken token alice failed"
test_pass "the account has an access token"

host=$STACK_MAIL_HOST
# protocol  server  Dovecot's login process (empty: Postfix)
servers=(
    "imap imaps://$host:$STACK_IMAPS_PORT imap-login"
    "imap imap://$host:$STACK_IMAP_PORT imap-login"
    "pop3 pop3s://$host:$STACK_POP3S_PORT pop3-login"
    "pop3 pop3://$host:$STACK_POP3_PORT pop3-login"
    "smtp smtp://$host:$STACK_SUBMISSION_PORT submission-login"
    "smtp smtps://$host:$STACK_SUBMISSIONS_PORT submission-login"
    "smtp smtp://$host:$STACK_SMTP_AUTH_PORT -"
)

for entry in "${servers[@]}"; do
    read -r protocol server login <<<"$entry"
    for mech in xoauth2 oauthbearer; do
        MECH=$(tr a-z A-Z <<<"$mech")
        what="$protocol $server $MECH"
        dovecot_mark=$(stack_log_mark dovecot)
        postfix_mark=$(stack_log_mark postfix)
        status=0
        out=$(mt check --mech "$mech" alice "$protocol" "$server" 2>&1) || status=$?
        test_equal "$what: exit code" "$status" 0
        test_match "$what: logged in" "$out" "authenticated as $STACK_ALICE_USER with $MECH"
        test_match "$what: shows the AUTH command" "$out" "C: (M1 AUTHENTICATE|AUTH) $MECH"
        test_match "$what: verified the certificate" "$out" "certificate verified for $host"
        case $protocol in
            imap) test_match "$what: EXAMINE INBOX worked" "$out" 'M2 OK \[READ-ONLY\]' ;;
            pop3) test_match "$what: STAT worked" "$out" 'C: STAT' ;;
            smtp) test_match "$what: no MAIL FROM" "$(grep -c 'MAIL FROM' <<<"$out" || true)" '^0$' ;;
        esac
        case $server in
            imap://* | pop3://* | smtp://*)
                test_match "$what: STARTTLS first" "$out" 'C: (A[0-9]+ )?(STARTTLS|STLS)'
                ;;
        esac
        test_match "$what: logged out" "$out" '^logged out$'
        mt_assert_no_token "$what" "$out" "$token"

        sleep 0.2
        if [ "$login" != - ]; then
            log=$(stack_log_since dovecot "$dovecot_mark" | grep -- "$login:" || true)
            test_match "$what: Dovecot saw $MECH" "$log" "Login: user=<$STACK_ALICE_USER>, method=$MECH"
            test_equal "$what: exactly one connection" "$(mt_dovecot_sessions "$log")" 1
            test_match "$what: the session ended with a logout" \
                "$(stack_log_since dovecot "$dovecot_mark")" 'Disconnected: Logged out'
        else
            # Postfix names the mechanism only for a message; auth=1 counts a successful AUTH.
            log=$(stack_log_since postfix "$postfix_mark" | grep 'postfix/authsmtp/smtpd' || true)
            test_match "$what: Postfix accepted the AUTH" "$log" 'starttls=1 auth=1 quit=1'
            test_equal "$what: exactly one connection" "$(grep -c ': connect from' <<<"$log")" 1
            test_match "$what: 235 for $MECH" "$out" "^S: 235 "
        fi
    done
done

# Without a server argument a generic account has no server to use.
status=0
out=$(mt check alice imap 2>&1) || status=$?
test_equal "generic account without server: exit code" "$status" 64
test_match "generic account without server: message" "$out" 'no standard IMAP server'

test_done
