#!/bin/bash
# mutt 2.2 with contrib/mutt/office365.muttrc and gmail.muttrc, pointed at
# the stack: each mechanism sends a message over SMTP in batch mode
# (STARTTLS and implicit TLS), the message arrives, and mutt reads it over
# IMAPS in tmux. mutt runs `mailtoken token` for every login. With a long
# (RS256) token, XOAUTH2 works everywhere and OAUTHBEARER works for IMAP;
# OAUTHBEARER fails at Dovecot submission because mutt sends the token on
# the AUTH line, and works through Postfix smtpd, which accepts long lines.
# The tunnel alternative of office365.muttrc reads the message as well.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
MUTT=mutt
. "$(dirname "$0")/mutt-client.sh"

office365=$(mutt_contrib mutt/office365.muttrc)
gmail=$(mutt_contrib mutt/gmail.muttrc)
starttls=$(mutt_smtp_url smtp "$STACK_SUBMISSION_PORT")
implicit=$(mutt_smtp_url smtps "$STACK_SUBMISSIONS_PORT")
postfix=$(mutt_smtp_url smtp "$STACK_SMTP_AUTH_PORT")

# send_and_read WHAT RC MECH: sends a message with RC, which must log in
# with MECH, waits for it and reads it with RC.
send_and_read() {
    local what=$1 rc=$2 mech=$3
    mutt_subject
    mutt_send "$rc" "$subject" "Body of $word."
    test_equal "$what: mutt exit code" "$status" 0
    test_match "$what: SMTP mechanism" "$out" "Authenticating \($mech\)"
    stack_wait_mail "$STACK_ALICE_USER" "$subject" >/dev/null ||
        test_fail "$what: the message did not arrive: $out"
    test_pass "$what: the message arrived"
    mutt_read "$what" "$rc" "$word" "Body of $word\."
}

mt_account alice "$STACK_CONF_CLIENT_ID"
short_conf=$MT_CONF

rc=$(mutt_variant office365 "$office365" "$short_conf" alice "$starttls")
send_and_read "office365.muttrc as shipped, SMTP with STARTTLS" "$rc" XOAUTH2
rc=$(mutt_variant office365-ob "$office365" "$short_conf" alice "$starttls" \
    'set imap_authenticators = "oauthbearer"' 'set smtp_authenticators = "oauthbearer"')
send_and_read "office365.muttrc with OAUTHBEARER, SMTP with STARTTLS" "$rc" OAUTHBEARER
rc=$(mutt_variant gmail "$gmail" "$short_conf" alice "$implicit")
send_and_read "gmail.muttrc as shipped, SMTPS" "$rc" OAUTHBEARER
rc=$(mutt_variant gmail-x "$gmail" "$short_conf" alice "$implicit" \
    'set imap_authenticators = "xoauth2"' 'set smtp_authenticators = "xoauth2"')
send_and_read "gmail.muttrc with XOAUTH2, SMTPS" "$rc" XOAUTH2

mt_account rs "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_RS_NAME"
long_conf=$MT_CONF
token=$(mt token rs) || test_fail "mailtoken token rs failed"
if [ "${#token}" -lt 700 ]; then
    test_fail "the RS256 token has only ${#token} characters"
fi
test_pass "the RS256 token has ${#token} characters"

rc=$(mutt_variant rs "$office365" "$long_conf" rs "$starttls")
send_and_read "RS256 token, XOAUTH2" "$rc" XOAUTH2
long_word=$word
rc=$(mutt_variant rs-ob "$office365" "$long_conf" rs "$starttls" \
    'set imap_authenticators = "oauthbearer"' 'set smtp_authenticators = "oauthbearer"')
mutt_read "RS256 token, OAUTHBEARER" "$rc" "$long_word" "Body of $long_word\."

# Known limit: mutt sends OAUTHBEARER's response on the AUTH line, and
# Dovecot replies "500 5.5.2 Line too long". mutt then sends the 0x01 that
# ends a failed exchange and shows the reply to that line instead.
mutt_subject
mutt_send "$rc" "$subject" "Body of $word."
test_equal "RS256 token, OAUTHBEARER to submission: mutt exit code" "$status" 1
test_match "RS256 token, OAUTHBEARER to submission: the server's reply" "$out" \
    "SMTP session failed: 500 5\.5\.2 Invalid command syntax"
rc=$(mutt_variant rs-ob-postfix "$office365" "$long_conf" rs "$postfix" \
    'set smtp_authenticators = "oauthbearer"')
mutt_send "$rc" "$subject" "Body of $word."
test_equal "RS256 token, OAUTHBEARER to Postfix: mutt exit code" "$status" 0
stack_wait_mail "$STACK_ALICE_USER" "$subject" >/dev/null ||
    test_fail "RS256 token, OAUTHBEARER to Postfix: the message did not arrive: $out"
test_pass "RS256 token, OAUTHBEARER to Postfix: the message arrived"

# The commented alternative in office365.muttrc: IMAP through mailtoken tunnel.
if ! grep -q '^#   set tunnel = "mailtoken tunnel work imap"$' "$office365"; then
    test_fail "office365.muttrc no longer shows the tunnel alternative"
fi
rc=$(mutt_variant tunnel "$office365" "$long_conf" rs "$starttls" \
    "$(mutt_tunnel_line "$long_conf" rs)" \
    "set folder = \"imap://$STACK_MAIL_HOST/\"" 'set spoolfile = "+INBOX"')
mutt_read "RS256 token through mailtoken tunnel" "$rc" "$long_word" "Body of $long_word\."
mutt_stop_tunnels

test_done
