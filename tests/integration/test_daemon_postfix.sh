#!/bin/bash
# Postfix relays through Dovecot submission with XOAUTH2 tokens from
# `mailtoken serve`, set up as contrib/postfix/README.md describes. The
# smtp client runs chrooted (as in Debian's master.cf) as user postfix,
# and the plugin asks the daemon over private/mailtoken. The daemon runs
# as an unprivileged user on a socket created for it the way
# mailtoken.socket does. glewlwyd is the authorization server.
#
# Checks: the message arrives; the chroot holds nothing of ours but the
# socket; postfix cannot read the refresh token; a daemon that is down
# makes Postfix defer (4.x.x) and the mail goes once it is back; a uid
# missing from allow is refused, logged and deferred as well.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
here=$(cd "$(dirname "$0")" && pwd)
test_require_tools postfix:postfix postconf:postfix sendmail:postfix setpriv:util-linux \
    /usr/bin/python3:python3 jq:jq

mailtoken=${MAILTOKEN:-}
plugdir=${MAILTOKEN_PLUGIN_DIR:-}
[ -x "$mailtoken" ] || test_fail "MAILTOKEN does not name the mailtoken program: '$mailtoken'"
[ -f "$plugdir/libmailtoken.so" ] || test_fail "MAILTOKEN_PLUGIN_DIR holds no libmailtoken.so: '$plugdir'"
[ "$(id -u)" -eq 0 ] || test_fail "this test runs the daemon as user daemon: run it as root"

runas=daemon
name=daemon-$$
daemon_pid=''
instance_started=''

# Stops the daemon with SIGTERM; fails unless it exits with status 0.
stop_daemon() {
    local status=0
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" || status=$?
    fi
    daemon_pid=''
    return "$status"
}

finish() {
    local status=$?
    stop_daemon || status=1
    if [ -n "$instance_started" ]; then
        stack_postfix_client_stop "$name" || status=1
    fi
    _test_cleanup
    exit "$status"
}
trap finish EXIT

# The daemon's user must reach its configuration and store in the test folder.
chmod 0711 "$TEST_TMP"
store=$TEST_TMP/store
install -d -o "$runas" -g "$runas" -m 0700 "$store"
secret=$TEST_TMP/relay.secret
printf '%s\n' "$STACK_CONF_CLIENT_SECRET" >"$secret"
chown "$runas:$runas" "$secret"
chmod 0400 "$secret"

stack_postfix_client_start "$name" "127.0.0.1:$STACK_SUBMISSION_PORT" --chroot=y \
    --sasl-passwd="[127.0.0.1]:$STACK_SUBMISSION_PORT relay" \
    --main-cf="smtp_sasl_mechanism_filter = xoauth2" \
    --import-env="SASL_PATH=$plugdir" --import-env="MAILTOKEN_CONFIG=$TEST_TMP/mailtoken.conf" \
    ${MAILTOKEN_SANITIZER_PRELOAD:+"--import-env=LD_PRELOAD=$MAILTOKEN_SANITIZER_PRELOAD"} \
    ${MAILTOKEN_SANITIZER_PRELOAD:+"--import-env=ASAN_OPTIONS=detect_leaks=0"} ||
    test_fail "the Postfix client instance did not start"
instance_started=1
pfdir=$(stack_postfix_client_dir "$name")
spool=$pfdir/spool
sock=$spool/private/mailtoken
test_match "the smtp client is chrooted" "$(postconf -c "$pfdir/etc" -M smtp/unix)" \
    '^smtp +unix +- +- +y '

write_config() {
    cat >"$TEST_TMP/mailtoken.conf" <<EOF
[defaults]
store = $store
socket = $sock
plugin_socket = private/mailtoken
keepalive = 0

[relay]
provider = generic
client_id = $STACK_CONF_CLIENT_ID
client_secret_file = $secret
user = $STACK_ALICE_USER
token_endpoint = $STACK_TOKEN_ENDPOINT
authorization_endpoint = $STACK_AUTHORIZATION_ENDPOINT
scope = $STACK_SCOPE
allow = $1
EOF
    chmod 0644 "$TEST_TMP/mailtoken.conf"
}
write_config postfix

as_daemon_user() {
    setpriv --reuid="$runas" --regid="$runas" --clear-groups "$@"
}

# count PATTERN FILE: prints how many lines of FILE match (0 when FILE is missing).
count() {
    local n
    n=$(grep -c -- "$1" "$2" 2>/dev/null) || true
    echo "${n:-0}"
}

# Starts the daemon and waits for its summary line about the account.
start_daemon() {
    local started
    started=$(count "relay: authorized" "$TEST_TMP/daemon.log")
    /usr/bin/python3 "$here/daemon_socket_activate.py" --socket "$sock" --owner "$runas" \
        --group postfix --mode 0660 --user "$runas" -- \
        "$mailtoken" --config "$TEST_TMP/mailtoken.conf" serve >>"$TEST_TMP/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 100); do
        if [ "$(count "relay: authorized" "$TEST_TMP/daemon.log")" -gt "$started" ]; then
            return 0
        fi
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$TEST_TMP/daemon.log" >&2
    test_fail "the daemon did not start"
}

# relay SUBJECT: injects a message from alice to bob (tests that fetch
# alice's mailbox run beside this one).
relay() {
    printf 'From: %s\nTo: %s\nSubject: %s\n\nRelayed with a token from mailtoken serve.\n' \
        "$STACK_ALICE_EMAIL" "$STACK_BOB_EMAIL" "$1" |
        stack_postfix_client_sendmail "$name" "$STACK_ALICE_EMAIL" "$STACK_BOB_EMAIL" ||
        test_fail "sendmail failed"
}

# A refresh token from glewlwyd, stored by the daemon's user as `mailtoken import` does.
reply=$(stack_token_code "$STACK_CONF_CLIENT_ID" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD") ||
    test_fail "no tokens from glewlwyd"
refresh_token=$(jq -er .refresh_token <<<"$reply") || test_fail "glewlwyd sent no refresh token"
as_daemon_user "$mailtoken" --config "$TEST_TMP/mailtoken.conf" import relay <<<"$refresh_token" ||
    test_fail "mailtoken import failed"
start_daemon
test_equal "the socket belongs to the daemon's user and group postfix, mode 0660" \
    "$(stat -c '%U %G %a %F' "$sock")" "$runas postfix 660 socket"

# 1. A message goes out through the chroot.
mark=$(stack_log_mark dovecot)
subject=$(test_unique_subject)
relay "$subject"
stack_postfix_client_wait_log "$name" 'status=sent' 30 >/dev/null ||
    test_fail "the first message was not relayed"
stack_wait_mail "$STACK_BOB_USER" "$subject" >/dev/null || test_fail "the first message did not arrive"
test_pass "a message relayed with a token from the daemon arrived"
test_match "Dovecot logged an XOAUTH2 login" "$(stack_log_since dovecot "$mark")" \
    "Login: user=<$STACK_ALICE_USER>, method=XOAUTH2"
test_match "the daemon logged the token by fingerprint" "$(cat "$TEST_TMP/daemon.log")" \
    "relay: handed out a new access token sha256:[0-9a-f]{12}, valid for [0-9]+ s, to uid [0-9]+ \\(postfix\\)"

# 2. The chroot contains the socket and Postfix's own files, nothing of ours.
access_token=$(jq -r .access_token "$store/relay.json")
[ -n "$access_token" ] && [ "$access_token" != null ] || test_fail "no access token in the store"
test_equal "the only file named mailtoken in the chroot is the socket" \
    "$(find "$spool" -name '*mailtoken*' -printf '%y %P\n')" "s private/mailtoken"
test_equal "no helper program, plugin or CA file in the chroot" \
    "$(find "$spool" \( -name 'mailtoken*' -o -name '*.so*' -o -name '*.crt' -o -name '*.pem' \) -type f)" ""
if grep -rqF -- "$access_token" "$spool" 2>/dev/null; then
    test_fail "the access token was written inside the chroot"
fi
if grep -rqF -- "$refresh_token" "$spool" "$pfdir/maillog" 2>/dev/null; then
    test_fail "the refresh token appears in the chroot or in Postfix's log"
fi
test_pass "no token is stored in the chroot"

# 3. The refresh token stays with the daemon's user.
test_equal "the store folder is private to the daemon's user" "$(stat -c '%U %a' "$store")" "$runas 700"
if setpriv --reuid=postfix --regid=postfix --clear-groups cat "$store/relay.json" >/dev/null 2>&1; then
    test_fail "user postfix can read the refresh token file"
fi
test_pass "user postfix cannot read the refresh token file"
if grep -qF -- "$refresh_token" "$TEST_TMP/daemon.log" || grep -qF -- "$access_token" "$TEST_TMP/daemon.log"; then
    test_fail "a token appears in the daemon's log"
fi
test_pass "the daemon's log holds no token"

# 4. The daemon is down: Postfix defers, then relays once it is back.
stop_daemon || test_fail "the daemon did not exit with status 0 on SIGTERM"
test_match "the daemon logged its stop" "$(cat "$TEST_TMP/daemon.log")" 'stopped'
subject=$(test_unique_subject)
relay "$subject"
deferred=$(stack_postfix_client_wait_log "$name" 'status=deferred' 40) ||
    test_fail "the message was not deferred while the daemon was down"
test_match "Postfix defers with a 4.x.x status while the daemon is down" "$deferred" \
    'dsn=4\.[0-9]+\.[0-9]+, status=deferred'
if grep -q 'status=bounced' "$pfdir/maillog"; then
    test_fail "Postfix bounced a message"
fi
test_pass "nothing bounced"
start_daemon
stack_postfix_client_flush "$name" || test_fail "postqueue -f failed"
stack_wait_mail "$STACK_BOB_USER" "$subject" 60 >/dev/null ||
    test_fail "the deferred message did not arrive after the daemon came back"
test_pass "the deferred message went out once the daemon was back"

# 5. postfix is not in allow: the daemon refuses and logs it, Postfix defers.
write_config root
kill -HUP "$daemon_pid"
for _ in $(seq 50); do
    grep -q 'reloaded the configuration' "$TEST_TMP/daemon.log" && break
    sleep 0.1
done
grep -q 'reloaded the configuration' "$TEST_TMP/daemon.log" || test_fail "the daemon did not reload"
deferred_before=$(count 'status=deferred' "$pfdir/maillog")
subject=$(test_unique_subject)
relay "$subject"
for _ in $(seq 300); do
    [ "$(count 'status=deferred' "$pfdir/maillog")" -gt "$deferred_before" ] && break
    sleep 0.1
done
test_match "a uid not in allow is refused and logged" "$(cat "$TEST_TMP/daemon.log")" \
    "relay: refused TOKEN from uid $(id -u postfix) \\(postfix\\): not in the account's allow list"
test_match "Postfix defers the refused message" "$(tail -n 5 "$pfdir/maillog")" \
    'dsn=4\.[0-9]+\.[0-9]+, status=deferred'

# 6. The account needs authorization (its tokens are gone): the mail is
# deferred and Postfix's log names the command to run. After a new import
# the mail goes.
write_config postfix
kill -HUP "$daemon_pid"
as_daemon_user "$mailtoken" --config "$TEST_TMP/mailtoken.conf" forget relay >/dev/null 2>&1 ||
    test_fail "mailtoken forget failed"
deferred_before=$(count 'status=deferred' "$pfdir/maillog")
subject=$(test_unique_subject)
relay "$subject"
for _ in $(seq 300); do
    [ "$(count 'status=deferred' "$pfdir/maillog")" -gt "$deferred_before" ] && break
    sleep 0.1
done
test_match "an account that needs authorization defers the mail" "$(tail -n 5 "$pfdir/maillog")" \
    'dsn=4\.[0-9]+\.[0-9]+, status=deferred'
test_match "Postfix's log says to run mailtoken authorize" "$(tail -n 5 "$pfdir/maillog")" \
    'mailtoken authorize relay'
reply=$(stack_token_code "$STACK_CONF_CLIENT_ID" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD") ||
    test_fail "no tokens from glewlwyd"
jq -er .refresh_token <<<"$reply" |
    as_daemon_user "$mailtoken" --config "$TEST_TMP/mailtoken.conf" import relay >/dev/null 2>&1 ||
    test_fail "mailtoken import failed"
stack_postfix_client_flush "$name" || test_fail "postqueue -f failed"
stack_wait_mail "$STACK_BOB_USER" "$subject" 60 >/dev/null ||
    test_fail "the deferred message did not arrive after the new authorization"
test_pass "the deferred messages went out after the new authorization"

test_done
