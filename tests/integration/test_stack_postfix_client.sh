#!/bin/bash
# Postfix client instances from stack_postfix_client_start: with the smtp
# client chrooted (Debian's default) and not, each relays a message over
# verified STARTTLS to Postfix <base+25>, which delivers it to the Maildir.
# import_environment carries the variables given with --import-env.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
test_require_tools postfix:postfix postconf:postfix sendmail:postfix script:bsdutils

for chroot in y n; do
    name=smoke-$chroot-$$
    stack_postfix_client_start "$name" "127.0.0.1:$STACK_SMTP_RELAY_PORT" --chroot="$chroot" \
        --import-env=MAILTOKEN_TEST_MARK=1 --main-cf="smtp_tls_loglevel = 1" ||
        test_fail "client instance with chroot $chroot did not start"
    dir=$(stack_postfix_client_dir "$name")
    test_match "chroot column of smtp (chroot $chroot)" \
        "$(postconf -c "$dir/etc" -M smtp/unix)" "^smtp +unix +- +- +$chroot "
    test_match "import_environment (chroot $chroot)" \
        "$(postconf -c "$dir/etc" -h import_environment)" 'MAILTOKEN_TEST_MARK=1'

    subject=$(test_unique_subject)
    printf 'From: %s\nTo: %s\nSubject: %s\n\nRelayed by a client instance.\n' \
        "$STACK_ALICE_EMAIL" "$STACK_BOB_EMAIL" "$subject" |
        stack_postfix_client_sendmail "$name" "$STACK_ALICE_EMAIL" "$STACK_BOB_EMAIL" ||
        test_fail "sendmail of client instance $name failed"
    stack_postfix_client_wait_log "$name" 'status=sent' >/dev/null ||
        test_fail "client instance $name did not relay the message"
    test_match "relay over verified TLS (chroot $chroot)" "$(cat "$dir/maillog")" \
        "Verified TLS connection established to 127.0.0.1\\[127.0.0.1\\]:$STACK_SMTP_RELAY_PORT"
    stack_wait_mail "$STACK_BOB_USER" "$subject" >/dev/null ||
        test_fail "message relayed by $name did not arrive"
    test_pass "message relayed with chroot $chroot arrived"

    stack_postfix_client_stop "$name" || test_fail "client instance $name did not stop"
    if _stack_postfix_cmd "$dir/etc" status >/dev/null 2>&1; then
        test_fail "client instance $name still runs after stop"
    fi
    test_pass "client instance with chroot $chroot stopped"
done

test_done
