#!/bin/bash
# NeoMutt 20220429 with contrib/neomutt/office365.neomuttrc and
# gmail.neomuttrc, pointed at the stack: each mechanism sends a message
# over SMTP in batch mode (STARTTLS and implicit TLS), the message arrives,
# and NeoMutt reads it over IMAPS in tmux. NeoMutt runs `mailtoken token`
# for every login. The long (RS256) token shows two NeoMutt limits. It
# rejects OAUTHBEARER tokens longer than 510 characters and then tries
# XOAUTH2 when that is listed next. It sends XOAUTH2's response on the SMTP
# AUTH line, which Dovecot submission rejects and Postfix smtpd accepts.
# XOAUTH2 over IMAP and the tunnel alternative have no such limit.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
MUTT=neomutt
. "$(dirname "$0")/mutt-client.sh"

office365=$(mutt_contrib neomutt/office365.neomuttrc)
gmail=$(mutt_contrib neomutt/gmail.neomuttrc)
starttls=$(mutt_smtp_url smtp "$STACK_SUBMISSION_PORT")
implicit=$(mutt_smtp_url smtps "$STACK_SUBMISSIONS_PORT")
postfix=$(mutt_smtp_url smtp "$STACK_SMTP_AUTH_PORT")
oauthbearer=('set imap_authenticators = "oauthbearer"' 'set smtp_authenticators = "oauthbearer"')
xoauth2=('set imap_authenticators = "xoauth2"' 'set smtp_authenticators = "xoauth2"')

# send_and_read WHAT RC MECH: sends a message with RC, which must log in
# with MECH, waits for it and reads it with RC.
send_and_read() {
    local what=$1 rc=$2 mech=$3
    mutt_subject
    mutt_send "$rc" "$subject" "Body of $word."
    test_equal "$what: neomutt exit code" "$status" 0
    test_match "$what: SMTP mechanism" "$out" "Authenticating \($mech\)"
    stack_wait_mail "$STACK_ALICE_USER" "$subject" >/dev/null ||
        test_fail "$what: the message did not arrive: $out"
    test_pass "$what: the message arrived"
    mutt_read "$what" "$rc" "$word" "Body of $word\."
}

mt_account alice "$STACK_CONF_CLIENT_ID"
short_conf=$MT_CONF

rc=$(mutt_variant office365 "$office365" "$short_conf" alice "$starttls")
send_and_read "office365.neomuttrc as shipped, SMTP with STARTTLS" "$rc" XOAUTH2
rc=$(mutt_variant office365-ob "$office365" "$short_conf" alice "$starttls" "${oauthbearer[@]}")
send_and_read "office365.neomuttrc with OAUTHBEARER, SMTP with STARTTLS" "$rc" OAUTHBEARER
rc=$(mutt_variant gmail "$gmail" "$short_conf" alice "$implicit")
send_and_read "gmail.neomuttrc as shipped, SMTPS" "$rc" OAUTHBEARER
short_word=$word
rc=$(mutt_variant gmail-x "$gmail" "$short_conf" alice "$implicit" "${xoauth2[@]}")
send_and_read "gmail.neomuttrc with XOAUTH2, SMTPS" "$rc" XOAUTH2

mt_account rs "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_RS_NAME"
long_conf=$MT_CONF
token=$(mt token rs) || test_fail "mailtoken token rs failed"
if [ "${#token}" -lt 700 ]; then
    test_fail "the RS256 token has only ${#token} characters"
fi
test_pass "the RS256 token has ${#token} characters"

rc=$(mutt_variant rs "$office365" "$long_conf" rs "$starttls")
mutt_read "RS256 token, XOAUTH2" "$rc" "$short_word" "Body of $short_word\."

# Known limit: the XOAUTH2 response goes on the SMTP AUTH line.
mutt_subject
mutt_send "$rc" "$subject" "Body of $word."
test_equal "RS256 token, XOAUTH2 to submission: neomutt exit code" "$status" 1
test_match "RS256 token, XOAUTH2 to submission: Dovecot rejects the AUTH line" "$out" \
    "SMTP session failed: 500 5\.5\.2 Line too long"
rc=$(mutt_variant rs-postfix "$office365" "$long_conf" rs "$postfix")
mutt_send "$rc" "$subject" "Body of $word."
test_equal "RS256 token, XOAUTH2 to Postfix: neomutt exit code" "$status" 0
stack_wait_mail "$STACK_ALICE_USER" "$subject" >/dev/null ||
    test_fail "RS256 token, XOAUTH2 to Postfix: the message did not arrive: $out"
test_pass "RS256 token, XOAUTH2 to Postfix: the message arrived"

# Known limit: NeoMutt rejects OAUTHBEARER tokens over 510 characters before
# it sends anything. The number in its message is the size of its read buffer.
rc=$(mutt_variant rs-ob "$office365" "$long_conf" rs "$postfix" "${oauthbearer[@]}")
mutt_send "$rc" "$subject" "Body of $word."
test_equal "RS256 token, OAUTHBEARER over SMTP: neomutt exit code" "$status" 1
test_match "RS256 token, OAUTHBEARER over SMTP: NeoMutt rejects the token" "$out" \
    "OAUTH token is too big: [0-9]+"
if ! mutt_errors "$rc" "<E> Unable to open mailbox"; then
    test_fail "RS256 token, OAUTHBEARER over IMAP: the mailbox opened: $(grep -v '^ *$' <<<"$screen" | tail -n 8)"
fi
test_pass "RS256 token, OAUTHBEARER over IMAP: the mailbox does not open"
test_match "RS256 token, OAUTHBEARER over IMAP: NeoMutt rejects the token" "$screen" \
    "OAUTH token is too big: [0-9]+"

# gmail.neomuttrc lists xoauth2 after oauthbearer, so IMAP still works.
rc=$(mutt_variant rs-gmail "$gmail" "$long_conf" rs "$implicit")
mutt_read "RS256 token, gmail.neomuttrc as shipped" "$rc" "$short_word" "Body of $short_word\."

# The commented alternative in office365.neomuttrc: IMAP through mailtoken tunnel.
if ! grep -q '^#   set tunnel = "mailtoken tunnel work imap"$' "$office365"; then
    test_fail "office365.neomuttrc no longer shows the tunnel alternative"
fi
rc=$(mutt_variant tunnel "$office365" "$long_conf" rs "$starttls" "${oauthbearer[@]}" \
    "$(mutt_tunnel_line "$long_conf" rs)" \
    "set folder = \"imap://$STACK_MAIL_HOST/\"" 'set spoolfile = "+INBOX"')
mutt_read "RS256 token through mailtoken tunnel" "$rc" "$short_word" "Body of $short_word\."
mutt_stop_tunnels

test_done
