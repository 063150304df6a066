#!/bin/bash
# Real IMAP clients without OAuth2 on top of mailtoken tunnel: fetchmail
# 6.4 through its plugin option (the settings that work with a PREAUTH
# tunnel: auth ssh, and sslproto "" so that it does not demand STARTTLS),
# and mbsync through Tunnel. Both fetch messages sent to alice, with a
# short (HS256) and a long (RS256) token.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
test_require_tools fetchmail:fetchmail mbsync:isync curl:curl jq:jq

host=$STACK_MAIL_HOST

# send SUBJECT: sends alice a message through submission with account alice's token.
send() {
    printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nFetched through the tunnel.\r\n' \
        "$STACK_ALICE_EMAIL" "$STACK_ALICE_EMAIL" "$1" >"$TEST_TMP/message"
    curl -sS --max-time 20 --ssl-reqd --cacert "$STACK_CA_FILE" \
        "smtp://$host:$STACK_SUBMISSION_PORT" -u "$STACK_ALICE_USER:" \
        --oauth2-bearer "$(mt token alice)" --mail-from "$STACK_ALICE_EMAIL" \
        --mail-rcpt "$STACK_ALICE_EMAIL" -T "$TEST_TMP/message" || test_fail "could not send '$1'"
    stack_wait_mail "$STACK_ALICE_USER" "$1" >/dev/null || test_fail "'$1' did not arrive"
}

# fetch_with_fetchmail WHAT ACCOUNT CONF SUBJECT...
fetch_with_fetchmail() {
    local what=$1 account=$2 conf=$3 dir=$TEST_TMP/fetchmail-$2 subject status=0
    shift 3
    mkdir -p "$dir"
    chmod 700 "$dir"
    cat >"$dir/rc" <<EOR
poll $host via $host protocol IMAP port $STACK_IMAPS_PORT
  plugin "$MAILTOKEN --config $conf tunnel $account imap imaps://%h:%p"
  auth ssh
  user $STACK_ALICE_USER is root here
  sslproto ""
  keep
  fetchall
  mda "/bin/sh -c 'cat >> $dir/fetched.mbox'"
EOR
    chmod 600 "$dir/rc"
    # --pidfile: root's default lock file would clash with another fetchmail test.
    FETCHMAILHOME=$dir fetchmail -f "$dir/rc" --pidfile "$dir/fetchmail.pid" --nosyslog -N \
        >"$dir/out" 2>&1 || status=$?
    test_equal "$what: fetchmail exit code" "$status" 0
    for subject in "$@"; do
        test_match "$what: fetchmail fetched '$subject'" "$(cat "$dir/fetched.mbox")" \
            "^Subject: $subject"
    done
}

mt_account alice "$STACK_CONF_CLIENT_ID"
alice_conf=$MT_CONF
first=$(test_unique_subject)
second=$(test_unique_subject)
send "$first"
send "$second"
fetch_with_fetchmail "HS256 token" alice "$alice_conf" "$first" "$second"

mt_account rs "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_RS_NAME"
fetch_with_fetchmail "RS256 token" rs "$MT_CONF" "$first" "$second"

mkdir -p "$TEST_TMP/mbsync/mail"
cat >"$TEST_TMP/mbsync/rc" <<EOR
IMAPStore remote
Tunnel "$MAILTOKEN --config $alice_conf tunnel alice imap imap://$host:$STACK_IMAP_PORT"

MaildirStore local
Path $TEST_TMP/mbsync/mail/
Inbox $TEST_TMP/mbsync/mail/INBOX

Channel alice
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
EOR
status=0
mbsync -c "$TEST_TMP/mbsync/rc" alice >"$TEST_TMP/mbsync/out" 2>&1 || status=$?
test_equal "mbsync exit code" "$status" 0
for subject in "$first" "$second"; do
    if ! grep -rqFx -- "Subject: $subject" "$TEST_TMP/mbsync/mail/INBOX"; then
        test_fail "mbsync did not fetch '$subject': $(cat "$TEST_TMP/mbsync/out")"
    fi
    test_pass "mbsync fetched '$subject'"
done

test_done
