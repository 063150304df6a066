#!/bin/bash
# Mechanism choice in Postfix's smtp client without a mechanism filter.
# libsasl2 loads Cyrus's PLAIN and LOGIN plugins next to ours. The server
# (plugin_fake_smtp.py, over verified STARTTLS) offers PLAIN LOGIN XOAUTH2
# OAUTHBEARER, and Postfix has a password map entry without a password.
# With the other documented settings (smtp_sasl_security_options =
# noanonymous) libsasl2 must choose one of our mechanisms, and the message
# must carry alice's address and the stored token.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/lib-plugin.sh"
test_require_tools postfix:postfix postconf:postfix sendmail:postfix script:bsdutils \
    setpriv:util-linux pkg-config:pkg-config jq:jq /usr/bin/python3:python3 \
    saslpluginviewer:sasl2-bin

system_plugins=$(pkg-config --variable=libdir libsasl2)/sasl2
for plugin in libplain.so liblogin.so; do
    [ -f "$system_plugins/$plugin" ] ||
        test_fail "$system_plugins/$plugin is missing (install the Debian package libsasl2-modules)"
done
# libsasl2 ranks mechanisms by their security flags, and among equals by
# the order in which it loaded them. With PLAIN and LOGIN in the first
# folder of SASL_PATH, libsasl2 2.1.28 prefers PLAIN to a mechanism of
# equal flags (checked with sasl-sample-client), so only the plugin's flags
# can make it choose XOAUTH2 or OAUTHBEARER.
mkdir -p "$TEST_TMP/sasl-system"
ln -s "$system_plugins/libplain.so" "$system_plugins/liblogin.so" "$TEST_TMP/sasl-system/"
PLUGIN_SASL_PATH=$TEST_TMP/sasl-system:$MAILTOKEN_PLUGIN_DIR
mechanisms=$(SASL_PATH=$PLUGIN_SASL_PATH plugin_run 30 saslpluginviewer -c 2>&1) ||
    test_fail "saslpluginviewer failed: $mechanisms"
installed=$(awk '/^Installed and properly configured SASL \(client side\) mechanisms/ { getline; print; exit }' \
    <<<"$mechanisms")
for mech in PLAIN LOGIN XOAUTH2 OAUTHBEARER; do
    test_match "libsasl2 loads $mech" "$installed" " $mech( |\$)"
done

fake_dir=$TEST_TMP/fake_smtp
mkdir -p "$fake_dir"
/usr/bin/python3 "$MAILTOKEN_SOURCE_DIR/tests/integration/plugin_fake_smtp.py" \
    "$STACK_SERVER_CERT" "$STACK_SERVER_KEY" "$fake_dir/sessions.log" "$fake_dir/port" \
    >"$fake_dir/out" 2>&1 &
fake_pid=$!
stack_track_pid "plugin-fake-smtp-$$" "$fake_pid" plugin_fake_smtp.py
stop_fake() {
    kill "$fake_pid" 2>/dev/null || true
    wait "$fake_pid" 2>/dev/null || true
    rm -f "$STACK_DIR/pids/plugin-fake-smtp-$$.pid" "$STACK_DIR/pids/plugin-fake-smtp-$$.pid.cmd"
}
trap 'status=$?; stop_fake; _test_cleanup; exit "$status"' EXIT
for ((i = 0; i < 100; i++)); do
    [ -s "$fake_dir/port" ] && break
    _stack_pid_alive "$fake_pid" || break
    sleep 0.05
done
[ -s "$fake_dir/port" ] || test_fail "the fake SMTP server did not start: $(cat "$fake_dir/out")"
fake_port=$(cat "$fake_dir/port")

account=alice
config_dir=$TEST_TMP/mailtoken
chmod 0711 "$TEST_TMP"
plugin_account_glewlwyd "$config_dir" "$account" "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_NAME" postfix
name=plugin-mech-$$
plugin_postfix_start "$name" "$config_dir" "$fake_port" "$account" "smtp_sasl_mechanism_filter ="
dir=$(stack_postfix_client_dir "$name")
test_equal "no mechanism filter" "$(postconf -c "$dir/etc" -h smtp_sasl_mechanism_filter)" ""

mark=$(stack_log_mark "postfix-client-$name")
subject=$(test_unique_subject)
plugin_postfix_send "$name" "$subject"
plugin_postfix_wait "$name" "$mark" 'status=(sent|deferred|bounced)' >/dev/null
test_match "Postfix sent the message" "$(stack_log_since "postfix-client-$name" "$mark")" \
    "relay=127.0.0.1\\[127.0.0.1\\]:$fake_port, .*status=sent"

session=$(jq -c --arg s "$subject" 'select(.subject == $s)' "$fake_dir/sessions.log")
[ -n "$session" ] || test_fail "the fake server recorded no session for the message"
mech=$(jq -r .mechanism <<<"$session")
test_match "libsasl2 chose one of the plugin's mechanisms" "$mech" '^(XOAUTH2|OAUTHBEARER)$'
message=$(jq -r '.initial_response // .response' <<<"$session" | base64 -d | tr '\001' '|')
token=$(plugin_store_field "$config_dir" "$account" access_token)
if [ "$mech" = XOAUTH2 ]; then
    expected="user=$STACK_ALICE_EMAIL|auth=Bearer $token||"
else
    expected="n,a=$STACK_ALICE_EMAIL,|host=127.0.0.1|port=$fake_port|auth=Bearer $token||"
fi
if [ "$message" != "$expected" ]; then
    test_fail "$mech message: expected '${expected/$token/$(plugin_fingerprint "$token")}', got '${message/$token/$(plugin_fingerprint "$token")}'"
fi
test_pass "$mech message carries alice's address and the stored token"

plugin_check_no_secret "$(stack_log_path "postfix-client-$name")" "$token"
plugin_postfix_check_health "$name"
stack_postfix_client_stop "$name" || test_fail "instance $name did not stop"
test_done
