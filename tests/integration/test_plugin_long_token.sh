#!/bin/bash
# RS256 access tokens from glewlwyd (786 characters) through Dovecot
# submission, whose login process rejects an AUTH command line longer than
# about 1 KiB ("500 5.5.2 Line too long"). RFC 4954 limits that line to
# 512 bytes, so for the SASL service "smtp" the plugin gives no initial
# response and sends its message after the server's empty 334 challenge.
# smtptest and Postfix hold a long initial response back on their own.
# A naive client (sasl-sample-client behind plugin_naive_smtp.py) does
# not, so it shows the plugin's rule at work. With the service "imap" the
# same client shows the failure that the rule prevents. All of them must
# log in, with both mechanisms, and Postfix's message must arrive.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/lib-plugin.sh"
test_require_tools "$STACK_SMTPTEST:cyrus-clients" postfix:postfix postconf:postfix \
    sendmail:postfix script:bsdutils setpriv:util-linux jq:jq /usr/bin/python3:python3 \
    sasl-sample-client:sasl2-bin stdbuf:coreutils

account=alice
# smtptest runs as root and Postfix's smtp client as postfix, and the
# helper insists on owning its store: each gets its own copy of the account.
plugin_account_glewlwyd "$TEST_TMP/root" "$account" "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_RS_NAME"
chmod 0711 "$TEST_TMP"
config_dir=$TEST_TMP/postfix
plugin_write_config "$config_dir" "$account" "$STACK_RS_TOKEN_ENDPOINT" \
    "$STACK_CONF_CLIENT_ID" "$STACK_CONF_CLIENT_SECRET"
plugin_import "$config_dir" "$account" "$(plugin_store_field "$TEST_TMP/root" "$account" refresh_token)" postfix
plugin_use_config "$TEST_TMP/root/config"

for mech in XOAUTH2 OAUTHBEARER; do
    out=$TEST_TMP/smtptest-$mech.out
    mark=$(stack_log_mark dovecot)
    plugin_cyrus_client "$out" smtptest starttls "$STACK_SUBMISSION_PORT" "$mech" "$account" ||
        test_fail "$mech: smtptest failed: $(tail -n 5 "$out")"
    grep -q '^Authenticated\.' "$out" || test_fail "$mech: not authenticated: $(tail -n 8 "$out")"
    test_pass "smtptest $mech: authenticated"
    token=$(plugin_store_field "$TEST_TMP/root" "$account" access_token)
    if [ "${#token}" -lt 700 ]; then
        test_fail "the RS256 token has only ${#token} characters"
    fi
    test_pass "smtptest $mech: the token has ${#token} characters"
    test_match "smtptest $mech: AUTH without initial response, then 334" "$(tr -d '\r' <"$out")" \
        "C: AUTH $mech"$'\n'"S: 334 "$'\n'"C: [A-Za-z0-9+/=]{1000,}"$'\n'"S: 235 "
    test_match "smtptest $mech: message carries the token" "$(plugin_wire_message "$out")" \
        "auth=Bearer $(plugin_fingerprint "$token")\\^A\\^A\$"
    test_match "smtptest $mech: Dovecot logged the login" "$(stack_log_since dovecot "$mark")" \
        "submission-login: Info: Login: user=<$STACK_ALICE_EMAIL>, method=$mech, "
    # A client that puts the plugin's initial response on the AUTH line.
    report=$(plugin_naive_smtp "$mech" smtp "$account" "$TEST_TMP/naive-$mech.log") ||
        test_fail "$mech: the naive SMTP client failed: $(tail -n 3 "$TEST_TMP/naive-$mech.log")"
    test_match "naive client $mech: no initial response on the AUTH line" "$report" '^initial-response no$'
    test_match "naive client $mech: logged in" "$report" '^reply 235 '
    # The same client for a service that is not SMTP gets the initial
    # response, and Dovecot submission rejects the long line.
    report=$(plugin_naive_smtp "$mech" imap "$account" "$TEST_TMP/naive-imap-$mech.log") ||
        test_fail "$mech: the naive SMTP client failed: $(tail -n 3 "$TEST_TMP/naive-imap-$mech.log")"
    test_match "naive client $mech, service imap: initial response on the AUTH line" "$report" \
        '^initial-response yes$'
    test_match "naive client $mech, service imap: Dovecot rejects the AUTH line" "$report" \
        '^reply 500 5\.5\.2 Line too long'
    plugin_check_no_secret "$TEST_TMP/naive-$mech.log" "$token"
done

name=plugin-long-$$
log=postfix-client-$name
plugin_postfix_start "$name" "$config_dir" "$STACK_SUBMISSION_PORT" "$account"
mark=$(stack_log_mark "$log")
dovecot_mark=$(stack_log_mark dovecot)
subject=$(test_unique_subject)
plugin_postfix_send "$name" "$subject"
plugin_postfix_wait "$name" "$mark" 'status=(sent|deferred|bounced)' >/dev/null
test_match "Postfix sent the message" "$(stack_log_since "$log" "$mark")" 'status=sent'
stack_wait_mail "$STACK_BOB_USER" "$subject" >/dev/null || test_fail "the message did not arrive"
test_pass "the message relayed with an RS256 token arrived"
token=$(plugin_store_field "$config_dir" "$account" access_token)
test_equal "the RS256 token is signed with RS256" \
    "$(cut -d. -f1 <<<"$token" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .alg)" RS256
test_match "Dovecot logged Postfix's login" "$(stack_log_since dovecot "$dovecot_mark")" \
    "submission-login: Info: Login: user=<$STACK_ALICE_EMAIL>, method=XOAUTH2, "

plugin_check_no_secret "$(stack_log_path "$log")" "$token"
plugin_check_no_secret "$PLUGIN_SYSLOG" "$token"
plugin_postfix_check_health "$name"
stack_postfix_client_stop "$name" || test_fail "instance $name did not stop"
test_done
