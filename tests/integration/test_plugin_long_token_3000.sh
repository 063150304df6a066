#!/bin/bash
# 3000-character access tokens, as long as Microsoft's often are: the
# scripted token endpoint (tests/tools/fake_as.py, live mode) issues them
# for a refresh token that mailtoken imports, and Dovecot, restarted with
# the scripted tokeninfo passdb, accepts them. smtptest, a naive client
# that puts any initial response on the AUTH line, and Postfix's smtp
# client log in to Dovecot submission through the plugin, which must keep
# the 4 KB message off the AUTH line (see test_plugin_long_token.sh).
# Restarts Dovecot twice, so it runs alone (ctest RUN_SERIAL).
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/lib-plugin.sh"
test_require_tools "$STACK_SMTPTEST:cyrus-clients" postfix:postfix postconf:postfix \
    sendmail:postfix script:bsdutils setpriv:util-linux jq:jq /usr/bin/python3:python3 \
    sasl-sample-client:sasl2-bin stdbuf:coreutils

account=alice
refresh=RT-$(openssl rand -hex 16)
endpoint=http://127.0.0.1:$STACK_SCRIPTED_PORT
fake_dir=$TEST_TMP/fake_as
mkdir -p "$fake_dir"
cat >"$fake_dir/scenario.json" <<EOF
{
  "comment": "3000-character access tokens for alice; the refresh token is imported",
  "live": {
    "style": "microsoft",
    "user": "$STACK_ALICE_EMAIL",
    "access_token_length": 3000,
    "refresh_tokens": ["$refresh"]
  }
}
EOF

restore() {
    _stack_kill_pidfile "$fake_dir/fake_as.pid" fake_as.py
    rm -f "$STACK_DIR/pids/plugin-fake-as.pid" "$STACK_DIR/pids/plugin-fake-as.pid.cmd"
    if ! stack_dovecot_restart; then
        echo "FAIL: $TEST_NAME: could not restart Dovecot without the scripted passdb" >&2
        return 1
    fi
}
trap 'status=$?; restore || status=1; _test_cleanup; exit "$status"' EXIT

/usr/bin/python3 "$MAILTOKEN_SOURCE_DIR/tests/tools/fake_as.py" --port "$STACK_SCRIPTED_PORT" \
    --scenario "$fake_dir/scenario.json" --log "$fake_dir/requests.log" \
    --pidfile "$fake_dir/fake_as.pid" >"$fake_dir/out" 2>&1 &
fake_pid=$!
stack_track_pid plugin-fake-as "$fake_pid" fake_as.py
for ((i = 0; i < 100; i++)); do
    [ -s "$fake_dir/fake_as.pid" ] && break
    _stack_pid_alive "$fake_pid" || break
    sleep 0.05
done
[ -s "$fake_dir/fake_as.pid" ] || test_fail "the scripted token endpoint did not start: $(cat "$fake_dir/out")"
stack_dovecot_restart --scripted-tokeninfo || test_fail "Dovecot did not restart with the scripted passdb"

# smtptest runs as root, Postfix's smtp client as postfix: one copy each.
plugin_write_config "$TEST_TMP/root" "$account" "$endpoint/token" mailtoken-test ''
plugin_import "$TEST_TMP/root" "$account" "$refresh"
chmod 0711 "$TEST_TMP"
plugin_write_config "$TEST_TMP/postfix" "$account" "$endpoint/token" mailtoken-test ''
plugin_import "$TEST_TMP/postfix" "$account" "$refresh" postfix
plugin_use_config "$TEST_TMP/root/config"

for mech in XOAUTH2 OAUTHBEARER; do
    out=$TEST_TMP/smtptest-$mech.out
    mark=$(stack_log_mark dovecot)
    plugin_cyrus_client "$out" smtptest starttls "$STACK_SUBMISSION_PORT" "$mech" "$account" ||
        test_fail "$mech: smtptest failed: $(tail -n 5 "$out")"
    grep -q '^Authenticated\.' "$out" || test_fail "$mech: not authenticated: $(tail -n 8 "$out" | cut -c1-200)"
    test_pass "smtptest $mech: authenticated"
    token=$(plugin_store_field "$TEST_TMP/root" "$account" access_token)
    test_equal "smtptest $mech: token length" "${#token}" 3000
    test_match "smtptest $mech: AUTH without initial response, then 334" "$(tr -d '\r' <"$out")" \
        "C: AUTH $mech"$'\n'"S: 334 "$'\n'"C: [A-Za-z0-9+/=]{4000,}"$'\n'"S: 235 "
    test_match "smtptest $mech: message carries the token" "$(plugin_wire_message "$out")" \
        "auth=Bearer $(plugin_fingerprint "$token")\\^A\\^A\$"
    test_match "smtptest $mech: Dovecot logged the login" "$(stack_log_since dovecot "$mark")" \
        "submission-login: Info: Login: user=<$STACK_ALICE_EMAIL>, method=$mech, "
    # A client that puts the plugin's initial response on the AUTH line.
    report=$(plugin_naive_smtp "$mech" smtp "$account" "$TEST_TMP/naive-$mech.log") ||
        test_fail "$mech: the naive SMTP client failed: $(tail -n 3 "$TEST_TMP/naive-$mech.log")"
    test_match "naive client $mech: no initial response on the AUTH line" "$report" '^initial-response no$'
    test_match "naive client $mech: logged in" "$report" '^reply 235 '
    # NOTE: sasl-sample-client 2.1.28 keeps the initial response in a
    # 2048-byte buffer, so the counter-check with service "imap" that
    # test_plugin_long_token.sh makes cannot run with this token.
    plugin_check_no_secret "$TEST_TMP/naive-$mech.log" "$token"
done

name=plugin-3000-$$
log=postfix-client-$name
plugin_postfix_start "$name" "$TEST_TMP/postfix" "$STACK_SUBMISSION_PORT" "$account"
mark=$(stack_log_mark "$log")
dovecot_mark=$(stack_log_mark dovecot)
subject=$(test_unique_subject)
plugin_postfix_send "$name" "$subject"
plugin_postfix_wait "$name" "$mark" 'status=(sent|deferred|bounced)' >/dev/null
test_match "Postfix sent the message" "$(stack_log_since "$log" "$mark")" 'status=sent'
stack_wait_mail "$STACK_BOB_USER" "$subject" >/dev/null || test_fail "the message did not arrive"
test_pass "the message relayed with a 3000-character token arrived"
postfix_token=$(plugin_store_field "$TEST_TMP/postfix" "$account" access_token)
test_equal "Postfix's token length" "${#postfix_token}" 3000
test_match "Dovecot logged Postfix's login" "$(stack_log_since dovecot "$dovecot_mark")" \
    "submission-login: Info: Login: user=<$STACK_ALICE_EMAIL>, method=XOAUTH2, "
test_equal "the scripted endpoint validated Postfix's token" \
    "$(jq -s --arg t "$postfix_token" '[.[] | select(.route == "tokeninfo" and .query.access_token == $t and .status == 200)] | length > 0' "$fake_dir/requests.log")" true

plugin_check_no_secret "$(stack_log_path "$log")" "$token" "$postfix_token"
plugin_check_no_secret "$PLUGIN_SYSLOG" "$token" "$postfix_token"
plugin_postfix_check_health "$name"
stack_postfix_client_stop "$name" || test_fail "instance $name did not stop"
test_done
