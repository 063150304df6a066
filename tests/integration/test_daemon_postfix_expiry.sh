#!/bin/bash
# The access token expires between two messages, and the second one still
# goes. tests/tools/fake_as.py issues tokens that live 12 s and is the
# token endpoint of `mailtoken serve`; Dovecot checks tokens at its
# tokeninfo (stack_dovecot_restart --scripted-tokeninfo), so an expired
# token is really rejected. Postfix (smtp chrooted) relays through
# Dovecot submission with the plugin asking the daemon over
# private/mailtoken. Restarts Dovecot twice, so it runs alone.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
here=$(cd "$(dirname "$0")" && pwd)
test_require_tools postfix:postfix sendmail:postfix curl:curl jq:jq /usr/bin/python3:python3

mailtoken=${MAILTOKEN:-}
plugdir=${MAILTOKEN_PLUGIN_DIR:-}
[ -x "$mailtoken" ] || test_fail "MAILTOKEN does not name the mailtoken program: '$mailtoken'"
[ -f "$plugdir/libmailtoken.so" ] || test_fail "MAILTOKEN_PLUGIN_DIR holds no libmailtoken.so: '$plugdir'"

lifetime=12
name=expiry-$$
as_pid=''
daemon_pid=''
instance_started=''
dovecot_changed=''

finish() {
    local status=$?
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        if ! wait "$daemon_pid"; then
            echo "FAIL: $TEST_NAME: the daemon did not exit with status 0 on SIGTERM" >&2
            status=1
        fi
    fi
    if [ -n "$instance_started" ]; then
        stack_postfix_client_stop "$name" || status=1
    fi
    if [ -n "$as_pid" ]; then
        kill -TERM "$as_pid" 2>/dev/null || true
        wait "$as_pid" 2>/dev/null || true
    fi
    if [ -n "$dovecot_changed" ] && ! stack_dovecot_restart; then
        echo "FAIL: $TEST_NAME: could not restart Dovecot without the scripted passdb" >&2
        status=1
    fi
    _test_cleanup
    exit "$status"
}
trap finish EXIT

cat >"$TEST_TMP/scenario.json" <<EOF
{"live": {"style": "microsoft", "user": "$STACK_ALICE_EMAIL", "expires_in": $lifetime,
          "refresh_tokens": ["RT-postfix"]}}
EOF
/usr/bin/python3 "$here/../tools/fake_as.py" --port "$STACK_SCRIPTED_PORT" \
    --scenario "$TEST_TMP/scenario.json" --log "$TEST_TMP/as.log" \
    --pidfile "$TEST_TMP/as.pid" >"$TEST_TMP/as.out" 2>&1 &
as_pid=$!
for _ in $(seq 100); do
    [ -e "$TEST_TMP/as.pid" ] && break
    sleep 0.1
done
[ -e "$TEST_TMP/as.pid" ] || test_fail "fake_as did not start: $(cat "$TEST_TMP/as.out")"
dovecot_changed=1
stack_dovecot_restart --scripted-tokeninfo || test_fail "Dovecot did not restart with the scripted passdb"

stack_postfix_client_start "$name" "127.0.0.1:$STACK_SUBMISSION_PORT" --chroot=y \
    --sasl-passwd="[127.0.0.1]:$STACK_SUBMISSION_PORT relay" \
    --main-cf="smtp_sasl_mechanism_filter = xoauth2" \
    --import-env="SASL_PATH=$plugdir" --import-env="MAILTOKEN_CONFIG=$TEST_TMP/mailtoken.conf" \
    ${MAILTOKEN_SANITIZER_PRELOAD:+"--import-env=LD_PRELOAD=$MAILTOKEN_SANITIZER_PRELOAD"} \
    ${MAILTOKEN_SANITIZER_PRELOAD:+"--import-env=ASAN_OPTIONS=detect_leaks=0"} ||
    test_fail "the Postfix client instance did not start"
instance_started=1
pfdir=$(stack_postfix_client_dir "$name")

cat >"$TEST_TMP/mailtoken.conf" <<EOF
[defaults]
store = $TEST_TMP/store
socket = $pfdir/spool/private/mailtoken
socket_group = postfix
plugin_socket = private/mailtoken
keepalive = 0

[relay]
provider = generic
client_id = relay-app
user = $STACK_ALICE_USER
token_endpoint = http://127.0.0.1:$STACK_SCRIPTED_PORT/common/oauth2/v2.0/token
authorization_endpoint = http://127.0.0.1:$STACK_SCRIPTED_PORT/common/oauth2/v2.0/authorize
scope = mail
refresh_margin = 2
allow = postfix
EOF
"$mailtoken" --config "$TEST_TMP/mailtoken.conf" import relay <<<"RT-postfix" >/dev/null 2>&1 ||
    test_fail "mailtoken import failed"
# Here the daemon runs as root and creates its socket inside the chroot itself.
"$mailtoken" --config "$TEST_TMP/mailtoken.conf" serve >"$TEST_TMP/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
    grep -q "relay: authorized" "$TEST_TMP/daemon.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "relay: authorized" "$TEST_TMP/daemon.log" || test_fail "the daemon did not start"

logins() {
    grep -c "Login: user=<$STACK_ALICE_USER>, method=XOAUTH2" "$STACK_DOVECOT_LOG" || true
}
relay() {
    printf 'From: %s\nTo: %s\nSubject: %s\n\nToken expiry test.\n' \
        "$STACK_ALICE_EMAIL" "$STACK_BOB_EMAIL" "$1" |
        stack_postfix_client_sendmail "$name" "$STACK_ALICE_EMAIL" "$STACK_BOB_EMAIL" ||
        test_fail "sendmail failed"
}
tokeninfo_status() {
    curl -s -o /dev/null -w '%{http_code}' --get --data-urlencode "access_token=$1" \
        "http://127.0.0.1:$STACK_SCRIPTED_PORT/tokeninfo"
}

before=$(logins)
subject=$(test_unique_subject)
relay "$subject"
stack_wait_mail "$STACK_BOB_USER" "$subject" 30 >/dev/null || test_fail "the first message did not arrive"
test_pass "the first message arrived"
first=$(jq -r .access_token "$TEST_TMP/store/relay.json")
test_equal "the first token is valid at the tokeninfo endpoint" "$(tokeninfo_status "$first")" 200

# Wait until the first token has expired at the server.
for _ in $(seq $((lifetime * 2 + 10))); do
    [ "$(tokeninfo_status "$first")" = 401 ] && break
    sleep 1
done
test_equal "the first token has expired at the server" "$(tokeninfo_status "$first")" 401

subject=$(test_unique_subject)
relay "$subject"
stack_wait_mail "$STACK_BOB_USER" "$subject" 30 >/dev/null ||
    test_fail "the second message did not arrive after the first token expired"
test_pass "the second message arrived after the first token expired"
test_equal "Dovecot saw a new XOAUTH2 login for each message" "$(($(logins) - before))" 2
second=$(jq -r .access_token "$TEST_TMP/store/relay.json")
[ "$second" != "$first" ] || test_fail "the store still holds the first token"
test_pass "the daemon replaced the expired token"
refreshes=$(jq -s '[.[] | select(.form.grant_type == "refresh_token")] | length' "$TEST_TMP/as.log")
[ "$refreshes" -ge 2 ] || test_fail "expected at least 2 refreshes at the token endpoint, saw $refreshes"
test_pass "the daemon refreshed at the token endpoint ($refreshes refreshes)"
last_checked=$(jq -rs '[.[] | select(.route == "tokeninfo")] | last | .query.access_token' "$TEST_TMP/as.log")
[ "$last_checked" != "$first" ] || test_fail "Dovecot was last sent the expired token"
test_pass "the second login used a new token"

test_done
