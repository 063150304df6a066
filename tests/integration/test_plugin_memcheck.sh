#!/bin/bash
# imtest logs in through the plugin under a memory checker: in the normal
# build under valgrind's memcheck (valgrind --leak-check=full
# --error-exitcode=1), in the sanitizer build with the ASan and UBSan
# runtimes preloaded and leak detection on. Two logins: one with XOAUTH2
# that succeeds, and one with OAUTHBEARER that gets Dovecot's error
# challenge (an authorization id that the token does not cover), which also
# runs the helper a second time to report the rejection. Any memory error or leak
# fails the test. No suppressions are needed with the libsasl2 2.1.28,
# OpenSSL 3.0 and cyrus-clients 3.6 of Debian 12.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/lib-plugin.sh"
test_require_tools "$STACK_IMTEST:cyrus-clients"
if [ "$MAILTOKEN_SANITIZED" = 1 ]; then
    checker=sanitizers
    # The helper is not preloaded: the plugin runs it with a minimal
    # environment, and it is built with the sanitizers itself.
    PLUGIN_ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0
    memcheck=()
else
    test_require_tools valgrind:valgrind
    checker=valgrind
    memcheck=(valgrind --leak-check=full --error-exitcode=1 --track-origins=yes
        --log-file="$TEST_TMP/valgrind.%p.log")
fi

account=alice
plugin_account_glewlwyd "$TEST_TMP/mailtoken" "$account"
plugin_use_config

# checked_login NAME MECH EXPECTED [IMTEST OPTIONS...]: EXPECTED is
# "Authenticated" or "failed".
checked_login() {
    local name="$checker, $1" mech=$2 expected=$3 out status=0
    shift 3
    out=$TEST_TMP/$mech-$expected.out
    rm -f "$TEST_TMP"/valgrind.*.log
    plugin_run 120 "${memcheck[@]}" "$STACK_IMTEST" -s -m "$mech" -a "$account" "$@" \
        -p "$STACK_IMAPS_PORT" "$STACK_MAIL_HOST" </dev/null >"$out" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$TEST_TMP"/valgrind.*.log "$out" 2>/dev/null | grep -v '^C: ' | tail -n 60 >&2
        test_fail "$name: imtest exited with status $status (memory error or leak, see above)"
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
    if [ "$expected" = Authenticated ]; then
        test_match "$name: login succeeded" "$(cat "$out")" '^Authenticated\.'
    else
        test_match "$name: error challenge answered, login failed" "$(cat "$out")" \
            '^S: A01 NO \[AUTHENTICATIONFAILED\]'
    fi
}

checked_login "XOAUTH2 login" XOAUTH2 Authenticated
checked_login "OAUTHBEARER error challenge" OAUTHBEARER failed -u "$STACK_BOB_EMAIL"
test_equal "the helper recorded the rejection" \
    "$(plugin_store_field "$TEST_TMP/mailtoken" "$account" access_rejected)" 1

test_done
