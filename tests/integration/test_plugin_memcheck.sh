#!/bin/bash
# mbsync logs in through the plugin under a memory checker: in the normal
# build under valgrind's memcheck (--leak-check=full), in the sanitizer
# build with the ASan and UBSan runtimes preloaded and leak detection on.
# Two logins: one with XOAUTH2 that succeeds and syncs, and one with
# OAUTHBEARER for an account whose mailbox the token does not cover. The
# second gets Dovecot's error challenge, so the plugin runs the helper a
# second time to report the rejection. Any memory error or leak fails the
# test.
#
# mbsync, not imtest: imtest never calls sasl_dispose, so the plugin's
# per-connection state would still be reachable at exit and a leak in it
# would go unnoticed. No suppressions are needed with Debian 12's
# libsasl2 2.1.28, OpenSSL 3.0 and isync 1.4.4.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/lib-plugin.sh"
test_require_tools mbsync:isync curl:curl jq:jq
# A status that mbsync itself never exits with (it uses 0 and 1).
checker_status=99
if [ "$MAILTOKEN_SANITIZED" = 1 ]; then
    checker=sanitizers
    # The helper gets no preload: the plugin runs it with a minimal
    # environment, and it is built with the sanitizers itself.
    PLUGIN_ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0:exitcode=$checker_status
    export UBSAN_OPTIONS=exitcode=$checker_status
    memcheck=()
else
    test_require_tools valgrind:valgrind
    checker=valgrind
    memcheck=(valgrind --leak-check=full --error-exitcode="$checker_status"
        --log-file="$TEST_TMP/valgrind.%p.log")
fi

account=alice
plugin_account_glewlwyd "$TEST_TMP/mailtoken" "$account"
plugin_write_config "$TEST_TMP/shared" "$account" "$STACK_TOKEN_ENDPOINT" \
    "$STACK_CONF_CLIENT_ID" "$STACK_CONF_CLIENT_SECRET" "mailbox = $STACK_BOB_EMAIL"
plugin_import "$TEST_TMP/shared" "$account" "$(plugin_store_field "$TEST_TMP/mailtoken" "$account" refresh_token)"

subject=$(test_unique_subject)
printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nFor mbsync under %s.\r\n' \
    "$STACK_BOB_EMAIL" "$STACK_ALICE_EMAIL" "$subject" "$checker" >"$TEST_TMP/message"
curl -sS --max-time 20 "smtp://127.0.0.1:$STACK_SMTP_RELAY_PORT" --mail-from "$STACK_BOB_EMAIL" \
    --mail-rcpt "$STACK_ALICE_EMAIL" -T "$TEST_TMP/message" ||
    test_fail "could not deliver the test message through Postfix"
stack_wait_mail "$STACK_ALICE_USER" "$subject" >/dev/null || test_fail "the test message did not arrive"

# checked_sync NAME CONFIG_DIR MECH EXPECTED_STATUS: runs mbsync under the
# checker; prints mbsync's output file.
checked_sync() {
    local name="$checker, $1" config_dir=$2 mech=$3 expected=$4 rc out status=0
    rc=$TEST_TMP/mbsyncrc-$mech
    out=$TEST_TMP/mbsync-$mech.out
    mkdir -p "$TEST_TMP/local-$mech"
    cat >"$rc" <<EOF
IMAPAccount remote
Host $STACK_MAIL_HOST
Port $STACK_IMAPS_PORT
User $account
AuthMechs $mech
SSLType IMAPS
CertificateFile $STACK_CA_FILE

IMAPStore remote
Account remote

MaildirStore local
Path $TEST_TMP/local-$mech/
Inbox $TEST_TMP/local-$mech/INBOX

Channel inbox
Far :remote:INBOX
Near :local:INBOX
Create Near
Sync Pull
SyncState *
EOF
    plugin_use_config "$config_dir/config"
    rm -f "$TEST_TMP"/valgrind.*.log
    plugin_run 120 "${memcheck[@]}" mbsync -c "$rc" -a </dev/null >"$out" 2>&1 || status=$?
    if [ "$status" -eq "$checker_status" ] || [ "$status" -ge 124 ]; then
        cat "$TEST_TMP"/valgrind.*.log "$out" 2>/dev/null | tail -n 80 >&2
        test_fail "$name: mbsync exited with status $status (memory error, leak or timeout; see above)"
    fi
    if [ "$checker" = valgrind ]; then
        test_match "$name: valgrind found no errors" "$(cat "$TEST_TMP"/valgrind.*.log)" \
            'ERROR SUMMARY: 0 errors from 0 contexts'
    else
        if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out"; then
            test_fail "$name: the sanitizers reported errors (see above)"
        fi
        test_pass "$name: the sanitizers reported nothing"
    fi
    test_equal "$name: mbsync's exit status" "$status" "$expected"
}

checked_sync "XOAUTH2 login" "$TEST_TMP/mailtoken" XOAUTH2 0
if ! grep -rqFx -- "Subject: $subject" "$TEST_TMP/local-XOAUTH2/INBOX/new" "$TEST_TMP/local-XOAUTH2/INBOX/cur"; then
    test_fail "the message was not synced"
fi
test_pass "$checker, XOAUTH2 login: the message was synced"

checked_sync "OAUTHBEARER error challenge" "$TEST_TMP/shared" OAUTHBEARER 1
test_equal "$checker, OAUTHBEARER error challenge: the helper recorded the rejection" \
    "$(plugin_store_field "$TEST_TMP/shared" "$account" access_rejected)" 1

test_done
