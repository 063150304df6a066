#!/bin/bash
# mbsync (isync 1.4, linked with libsasl2) syncs alice's INBOX from
# Dovecot over IMAPS through the plugin:
#  - with "AuthMechs XOAUTH2" (and OAUTHBEARER) and no password anywhere in
#    its configuration: the user name names the mailtoken account;
#  - with PassCmd "mailtoken token ACCOUNT" and a user name that names no
#    account, so that the plugin takes the password as the access token.
# A message delivered beforehand must appear in the local Maildir.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/lib-plugin.sh"
test_require_tools mbsync:isync curl:curl jq:jq

account=alice
plugin_account_glewlwyd "$TEST_TMP/mailtoken" "$account"
plugin_use_config

subject=$(test_unique_subject)
printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nFor mbsync.\r\n' \
    "$STACK_BOB_EMAIL" "$STACK_ALICE_EMAIL" "$subject" >"$TEST_TMP/message"
curl -sS --max-time 20 "smtp://127.0.0.1:$STACK_SMTP_RELAY_PORT" --mail-from "$STACK_BOB_EMAIL" \
    --mail-rcpt "$STACK_ALICE_EMAIL" -T "$TEST_TMP/message" ||
    test_fail "could not deliver the test message through Postfix"
stack_wait_mail "$STACK_ALICE_USER" "$subject" >/dev/null || test_fail "the test message did not arrive"

# Writes an mbsync configuration for one channel to file $1: IMAP user $2,
# local Maildir $3, then extra IMAPAccount lines.
write_mbsyncrc() {
    local file=$1 user=$2 local_dir=$3
    shift 3
    mkdir -p "$local_dir"
    {
        printf 'IMAPAccount remote\n'
        printf 'Host %s\n' "$STACK_MAIL_HOST"
        printf 'Port %s\n' "$STACK_IMAPS_PORT"
        printf 'User %s\n' "$user"
        printf '%s\n' "$@"
        printf 'SSLType IMAPS\n'
        printf 'CertificateFile %s\n\n' "$STACK_CA_FILE"
        printf 'IMAPStore remote\nAccount remote\n\n'
        printf 'MaildirStore local\nPath %s/\nInbox %s/INBOX\n\n' "$local_dir" "$local_dir"
        printf 'Channel inbox\nFar :remote:INBOX\nNear :local:INBOX\n'
        printf 'Create Near\nSync Pull\nSyncState *\n'
    } >"$file"
}

# run_mbsync NAME MBSYNCRC LOCAL_DIR MECH USER: runs mbsync and checks the
# result; USER is the name Dovecot should log.
run_mbsync() {
    local name=$1 rc=$2 local_dir=$3 mech=$4 user=$5 mark out
    mark=$(stack_log_mark dovecot)
    out=$(plugin_run 60 mbsync -c "$rc" -a </dev/null 2>&1) ||
        test_fail "$name: mbsync failed: $out"
    test_pass "$name: mbsync exited 0"
    if ! grep -rqFx -- "Subject: $subject" "$local_dir/INBOX/new" "$local_dir/INBOX/cur" 2>/dev/null; then
        test_fail "$name: the message is not in $local_dir/INBOX"
    fi
    test_pass "$name: the message is in the local Maildir"
    test_match "$name: Dovecot logged the login" "$(stack_log_since dovecot "$mark")" \
        "imap-login: Info: Login: user=<$user>, method=$mech, "
}

for mech in XOAUTH2 OAUTHBEARER; do
    rc=$TEST_TMP/mbsyncrc-$mech
    write_mbsyncrc "$rc" "$account" "$TEST_TMP/local-$mech" "AuthMechs $mech"
    if grep -Eiq '^[[:space:]]*pass' "$rc"; then
        test_fail "the mbsync configuration names a password"
    fi
    run_mbsync "AuthMechs $mech, no password" "$rc" "$TEST_TMP/local-$mech" "$mech" "$STACK_ALICE_EMAIL"
done

# PassCmd: the helper's account is "work"; mbsync logs in as "alice", which
# names no account, so the plugin's token request fails and the plugin
# uses the password that PassCmd printed.
plugin_write_config "$TEST_TMP/passcmd" work "$STACK_TOKEN_ENDPOINT" \
    "$STACK_CONF_CLIENT_ID" "$STACK_CONF_CLIENT_SECRET"
refresh=$(plugin_store_field "$TEST_TMP/mailtoken" "$account" refresh_token)
plugin_import "$TEST_TMP/passcmd" work "$refresh"
plugin_use_config "$TEST_TMP/passcmd/config"
answer=$(env MAILTOKEN_CONFIG="$TEST_TMP/passcmd/config" "$MAILTOKEN" request TOKEN "$STACK_ALICE_USER" || true)
test_match "the helper has no account $STACK_ALICE_USER" "$answer" '^MAILTOKEN/1 ERR 78 unknown-account'

rc=$TEST_TMP/mbsyncrc-passcmd
write_mbsyncrc "$rc" "$STACK_ALICE_USER" "$TEST_TMP/local-passcmd" "AuthMechs XOAUTH2" \
    "PassCmd \"$MAILTOKEN token work\""
run_mbsync "PassCmd" "$rc" "$TEST_TMP/local-passcmd" XOAUTH2 "$STACK_ALICE_USER"

plugin_check_no_secret "$PLUGIN_SYSLOG" "$(plugin_store_field "$TEST_TMP/mailtoken" "$account" access_token)" \
    "$(plugin_store_field "$TEST_TMP/passcmd" work access_token)"
test_done
