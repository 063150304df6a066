#!/bin/bash
# Cyrus imtest, pop3test and smtptest log in to Dovecot through the plugin
# with XOAUTH2 and with OAUTHBEARER: IMAP over implicit TLS and over
# STARTTLS, POP3 over implicit TLS, submission over STARTTLS. No password
# is given: the plugin gets the token from mailtoken, which refreshes it
# from glewlwyd on first use. For each login the test checks the client's
# output (the clients exit 0 even when the login fails), the SASL message
# on the wire, Dovecot's log line and the plugin's log line.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/lib-plugin.sh"
test_require_tools "$STACK_IMTEST:cyrus-clients" "$STACK_POP3TEST:cyrus-clients" \
    "$STACK_SMTPTEST:cyrus-clients" jq:jq /usr/bin/python3:python3

account=alice
plugin_account_glewlwyd "$TEST_TMP/mailtoken" "$account"
plugin_use_config
tokens=()

# login CLIENT TLS PORT DOVECOT_SERVICE MECH
login() {
    local client=$1 tls=$2 port=$3 service=$4 mech=$5 out mark token fingerprint expected
    local name="$client $tls $mech"
    out=$TEST_TMP/$client-$tls-$mech.out
    mark=$(stack_log_mark dovecot)
    : >"$PLUGIN_SYSLOG"
    plugin_cyrus_client "$out" "$client" "$tls" "$port" "$mech" "$account" ||
        test_fail "$name: the client failed: $(tail -n 5 "$out")"
    grep -q '^Authenticated\.' "$out" || test_fail "$name: not authenticated: $(tail -n 8 "$out")"
    test_pass "$name: authenticated"

    token=$(plugin_store_field "$TEST_TMP/mailtoken" "$account" access_token)
    tokens+=("$token")
    fingerprint=$(plugin_fingerprint "$token")
    if [ "$mech" = XOAUTH2 ]; then
        expected="user=$STACK_ALICE_EMAIL^Aauth=Bearer $fingerprint^A^A"
    else
        expected="n,a=$STACK_ALICE_EMAIL,^Ahost=$STACK_MAIL_HOST^Aport=$port^Aauth=Bearer $fingerprint^A^A"
    fi
    test_equal "$name: message on the wire" "$(plugin_wire_message "$out")" "$expected"
    test_match "$name: Dovecot logged the login" "$(stack_log_since dovecot "$mark")" \
        "$service-login: Info: Login: user=<$STACK_ALICE_EMAIL>, method=$mech, "
    test_match "$name: plugin logged the token it sent" "$(cat "$PLUGIN_SYSLOG")" \
        "mailtoken: $mech: account $account: sending token $fingerprint for $STACK_ALICE_EMAIL "
    plugin_check_no_secret "$PLUGIN_SYSLOG" "$token"
}

for mech in XOAUTH2 OAUTHBEARER; do
    login imtest implicit "$STACK_IMAPS_PORT" imap "$mech"
    login imtest starttls "$STACK_IMAP_PORT" imap "$mech"
    login pop3test implicit "$STACK_POP3S_PORT" pop3 "$mech"
    login smtptest starttls "$STACK_SUBMISSION_PORT" submission "$mech"
done

# One refresh on first use, then the same access token for every login.
test_equal "one access token for all logins" "$(printf '%s\n' "${tokens[@]}" | sort -u | wc -l)" 1
test_equal "access token not marked rejected" \
    "$(plugin_store_field "$TEST_TMP/mailtoken" "$account" access_rejected)" 0

test_done
