#!/bin/bash
# Postfix's smtp client (chroot off) relays through Dovecot submission
# (STARTTLS) with the plugin, configured exactly as contrib/sasl/README.md
# documents it; the helper runs as user postfix.
#  1. A message arrives; Dovecot logs an XOAUTH2 login of alice.
#  2. The stored access token is revoked: the next message is deferred with
#     a 4xx status, the maillog says why in one line, and the helper marks
#     the token rejected. After a flush the helper refreshes and the
#     message arrives.
#  3. With Postfix's default smtp_sasl_security_options (noplaintext,
#     noanonymous) no mechanism is usable, as the README says.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/lib-plugin.sh"
test_require_tools postfix:postfix postconf:postfix sendmail:postfix postqueue:postfix \
    script:bsdutils setpriv:util-linux jq:jq

account=alice
name=plugin-$$
config_dir=$TEST_TMP/mailtoken
# The helper runs as postfix and must reach its folder.
chmod 0711 "$TEST_TMP"
plugin_account_glewlwyd "$config_dir" "$account" "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_NAME" postfix
plugin_postfix_start "$name" "$config_dir" "$STACK_SUBMISSION_PORT" "$account"
dir=$(stack_postfix_client_dir "$name")
log=postfix-client-$name

effective=$(postconf -c "$dir/etc" -n)
for line in "${PLUGIN_POSTFIX_SETTINGS[@]}"; do
    grep -qxF -- "$line" <<<"$effective" || test_fail "main.cf of $name lacks '$line'"
done
test_pass "Postfix runs with the ${#PLUGIN_POSTFIX_SETTINGS[@]} documented settings"
test_match "smtp runs without chroot" "$(postconf -c "$dir/etc" -M smtp/unix)" '^smtp +unix +- +- +n '

# 1. Relay.
mark=$(stack_log_mark "$log")
dovecot_mark=$(stack_log_mark dovecot)
subject=$(test_unique_subject)
plugin_postfix_send "$name" "$subject"
plugin_postfix_wait "$name" "$mark" 'status=(sent|deferred|bounced)' >/dev/null
test_match "first message sent" "$(stack_log_since "$log" "$mark")" \
    "relay=127.0.0.1\\[127.0.0.1\\]:$STACK_SUBMISSION_PORT, .*status=sent"
stack_wait_mail "$STACK_BOB_USER" "$subject" >/dev/null || test_fail "the first message did not arrive"
test_pass "first message arrived"
test_match "Dovecot logged the XOAUTH2 login" "$(stack_log_since dovecot "$dovecot_mark")" \
    "submission-login: Info: Login: user=<$STACK_ALICE_EMAIL>, method=XOAUTH2, "
first_token=$(plugin_store_field "$config_dir" "$account" access_token)
test_equal "the helper ran as postfix" "$(stat -c %U "$config_dir/store/$account.json")" postfix

# 2. Revoked token.
stack_token_revoke "$first_token" || test_fail "could not revoke the stored access token"
fingerprint=$(plugin_fingerprint "$first_token")
mark=$(stack_log_mark "$log")
subject=$(test_unique_subject)
plugin_postfix_send "$name" "$subject"
lines=$(plugin_postfix_wait "$name" "$mark" 'status=(sent|deferred|bounced)')
test_match "message deferred with a 4xx status" "$lines" \
    'dsn=4\.[0-9.]+, status=deferred \(SASL authentication failed; server [^ ]+ said: 535 '
reason="warning: SASL authentication failure: mailtoken: XOAUTH2: account $account: the server rejected token $fingerprint: status 401, scope $STACK_SCOPE\$"
test_equal "one log line says why" "$(grep -cE -- "$reason" <<<"$lines")" 1
test_equal "the helper marked the token rejected" \
    "$(plugin_store_field "$config_dir" "$account" access_rejected)" 1
test_equal "the stored token is still the rejected one" \
    "$(plugin_store_field "$config_dir" "$account" access_token)" "$first_token"

mark=$(stack_log_mark "$log")
stack_postfix_client_flush "$name" || test_fail "postqueue -f failed"
plugin_postfix_wait "$name" "$mark" 'status=(sent|bounced)' >/dev/null
test_match "deferred message sent after the flush" "$(stack_log_since "$log" "$mark")" 'status=sent'
stack_wait_mail "$STACK_BOB_USER" "$subject" >/dev/null || test_fail "the deferred message did not arrive"
test_pass "deferred message arrived"
second_token=$(plugin_store_field "$config_dir" "$account" access_token)
if [ "$second_token" = "$first_token" ]; then
    test_fail "the helper did not refresh the rejected token"
fi
test_pass "the helper refreshed the rejected token"
test_equal "the new token is not marked rejected" \
    "$(plugin_store_field "$config_dir" "$account" access_rejected)" 0

# 3. Postfix's default security options.
out=$(postconf -c "$dir/etc" -X smtp_sasl_security_options smtp_sasl_tls_security_options 2>&1) ||
    test_fail "postconf -X failed: $out"
test_equal "default smtp_sasl_security_options" \
    "$(postconf -c "$dir/etc" -h smtp_sasl_security_options)" "noplaintext, noanonymous"
_stack_postfix_cmd "$dir/etc" reload >/dev/null || test_fail "postfix reload failed"
mark=$(stack_log_mark "$log")
subject=$(test_unique_subject)
plugin_postfix_send "$name" "$subject"
lines=$(plugin_postfix_wait "$name" "$mark" 'status=(sent|deferred|bounced)')
test_match "default security options: no usable mechanism" "$lines" \
    'SASL authentication failure: No worthy mechs found'
test_match "default security options: message deferred" "$lines" 'status=deferred'

plugin_check_no_secret "$(stack_log_path "$log")" "$first_token" "$second_token"
plugin_postfix_check_health "$name"
stack_postfix_client_stop "$name" || test_fail "instance $name did not stop"
test_done
