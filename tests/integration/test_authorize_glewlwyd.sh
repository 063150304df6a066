#!/bin/bash
# mailtoken authorize against glewlwyd. The authorization code grant runs
# for the confidential and the public client, with the browser played by
# stack_browser_authorize. Then `mailtoken token --refresh` uses the
# stored refresh token, and both tokens log in over IMAPS. The device
# grant runs end to end. A revoked refresh token must give exit status 77
# with the hint to run authorize again.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
test_require_tools curl:curl jq:jq /usr/bin/python3:python3

: "${MAILTOKEN:?set MAILTOKEN to the mailtoken program under test}"
[ -x "$MAILTOKEN" ] || test_fail "MAILTOKEN=$MAILTOKEN is not an executable"

store=$TEST_TMP/store
auth_pid=''

cleanup_authorize() {
    if [ -n "$auth_pid" ] && kill -0 "$auth_pid" 2>/dev/null; then
        kill "$auth_pid" 2>/dev/null || true
        wait "$auth_pid" 2>/dev/null || true
    fi
    _test_cleanup
}
trap cleanup_authorize EXIT

# The browser-flow accounts request openid too, so that the id_token names
# the user. pubbob expects another user than the one who signs in, and
# pubdevice uses the device grant.
{
    echo "[defaults]"
    echo "store = $store"
    echo "timeout = 10"
    echo "user = $STACK_ALICE_EMAIL"
    echo "authorization_endpoint = $STACK_AUTHORIZATION_ENDPOINT"
    echo "token_endpoint = $STACK_TOKEN_ENDPOINT"
    echo "device_authorization_endpoint = $STACK_DEVICE_AUTHORIZATION_ENDPOINT"
    echo "issuer = $STACK_ISSUER"
    echo "redirect_uri = $STACK_REDIRECT_URI"
    echo ""
    echo "[conf]"
    echo "provider = generic"
    echo "client_id = $STACK_CONF_CLIENT_ID"
    echo "client_secret = $STACK_CONF_CLIENT_SECRET"
    echo "client_auth = basic"
    echo "scope = openid $STACK_SCOPE"
    echo ""
    echo "[pub]"
    echo "provider = generic"
    echo "client_id = $STACK_PUB_CLIENT_ID"
    echo "scope = openid $STACK_SCOPE"
    echo ""
    echo "[pubbob]"
    echo "provider = generic"
    echo "client_id = $STACK_PUB_CLIENT_ID"
    echo "scope = openid $STACK_SCOPE"
    echo "user = $STACK_BOB_EMAIL"
    echo ""
    echo "[pubdevice]"
    echo "provider = generic"
    echo "client_id = $STACK_PUB_CLIENT_ID"
    echo "scope = $STACK_SCOPE"
} > "$TEST_TMP/config"
chmod 600 "$TEST_TMP/config"
export MAILTOKEN_CONFIG=$TEST_TMP/config

# Prints the decoded value of query parameter $2 of URL $1.
url_param() {
    _stack_url_param "$1" "$2"
}

# Starts `mailtoken authorize ARGS...` in the background and waits until
# it has printed $1 complete lines on stdout. That can take a minute: the
# redirect port may still be in TIME_WAIT from an earlier test's server,
# and mailtoken waits for it.
start_authorize() {
    local lines=$1 i
    shift
    : > "$TEST_TMP/out"
    : > "$TEST_TMP/err"
    "$MAILTOKEN" authorize "$@" > "$TEST_TMP/out" 2> "$TEST_TMP/err" &
    auth_pid=$!
    for ((i = 0; i < 1600; i++)); do
        if [ "$(grep -c '' "$TEST_TMP/out")" -ge "$lines" ] && [ -z "$(tail -c 1 "$TEST_TMP/out")" ]; then
            return 0
        fi
        kill -0 "$auth_pid" 2>/dev/null || break
        sleep 0.05
    done
    test_fail "mailtoken authorize $* printed no URL: $(cat "$TEST_TMP/err")"
}

# Waits for mailtoken authorize; sets auth_rc and auth_err.
finish_authorize() {
    auth_rc=0
    wait "$auth_pid" || auth_rc=$?
    auth_pid=''
    auth_err=$(cat "$TEST_TMP/err")
}

imaps_ok() {
    curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "imaps://$STACK_MAIL_HOST:$STACK_IMAPS_PORT/" \
        -u "$1:" --oauth2-bearer "$2" -X 'EXAMINE INBOX' >/dev/null 2>&1
}

# ---- authorization code grant for both clients ----
for account in conf pub; do
    start_authorize 1 "$account" --no-browser --timeout 60
    url=$(head -n 1 "$TEST_TMP/out")
    test_equal "$account: URL line starts with the authorization endpoint" "${url%%\?*}" \
        "$STACK_AUTHORIZATION_ENDPOINT"
    test_equal "$account: redirect_uri as configured" "$(url_param "$url" redirect_uri)" \
        "$STACK_REDIRECT_URI"
    test_equal "$account: PKCE S256" "$(url_param "$url" code_challenge_method)" S256
    status=$(stack_browser_authorize "$url" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD") ||
        test_fail "$account: stack_browser_authorize failed: $(cat "$TEST_TMP/err")"
    test_equal "$account: the listener answered the browser" "$status" 200
    finish_authorize
    test_equal "$account: authorize exit status" "$auth_rc" 0
    test_match "$account: the id_token names the user" "$auth_err" \
        "$account: authorized as $STACK_ALICE_EMAIL"
    if grep -q warning <<<"$auth_err"; then
        test_fail "$account: unexpected warning: $auth_err"
    fi
    test_pass "$account: no warning"

    first=$("$MAILTOKEN" token "$account") || test_fail "$account: mailtoken token failed"
    imaps_ok "$STACK_ALICE_USER" "$first" || test_fail "$account: Dovecot rejected the authorized token"
    test_pass "$account: the authorized token logs in over IMAPS"

    refreshed=$("$MAILTOKEN" token --refresh "$account" 2> "$TEST_TMP/refresh.err") ||
        test_fail "$account: refresh with the stored refresh token failed: $(cat "$TEST_TMP/refresh.err")"
    if [ "$refreshed" = "$first" ]; then
        test_fail "$account: the refresh returned the same access token"
    fi
    test_pass "$account: the refresh returned a new access token"
    imaps_ok "$STACK_ALICE_USER" "$refreshed" || test_fail "$account: Dovecot rejected the refreshed token"
    test_pass "$account: the refreshed token logs in over IMAPS"
    test_match "$account: status says authorized" "$("$MAILTOKEN" status "$account")" authorized
done

# ---- the sign-in is by another user than the account's ----
start_authorize 1 pubbob --no-browser --timeout 60
test_equal "other user: login_hint is the account's user" \
    "$(url_param "$(head -n 1 "$TEST_TMP/out")" login_hint)" "$STACK_BOB_EMAIL"
stack_browser_authorize "$(head -n 1 "$TEST_TMP/out")" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD" \
    > /dev/null || test_fail "other user: stack_browser_authorize failed"
finish_authorize
test_equal "other user: authorize exit status" "$auth_rc" 0
test_match "other user: warning names both users" "$auth_err" \
    "warning: the sign-in was as $STACK_ALICE_EMAIL, but the account's user is $STACK_BOB_EMAIL"

# ---- the device grant ----
start_authorize 2 pubdevice --device --timeout 60
verification=$(sed -n 1p "$TEST_TMP/out")
user_code=$(sed -n 2p "$TEST_TMP/out")
test_equal "device: verification URI" "$verification" "$STACK_DEVICE_VERIFICATION_URL"
test_match "device: user code" "$user_code" '^[A-Z0-9-]{4,}$'
stack_device_approve "$user_code" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD" ||
    test_fail "device: stack_device_approve failed"
finish_authorize
test_equal "device: authorize exit status" "$auth_rc" 0
test_match "device: success message" "$auth_err" "pubdevice: authorized"
token=$("$MAILTOKEN" token pubdevice) || test_fail "device: mailtoken token failed"
imaps_ok "$STACK_ALICE_USER" "$token" || test_fail "device: Dovecot rejected the device-grant token"
test_pass "device: the token logs in over IMAPS"

# ---- a revoked refresh token ----
refresh=$(jq -er .refresh_token "$store/pub.json") || test_fail "no refresh token in the store of pub"
stack_token_revoke "$refresh" > /dev/null || test_fail "revoking the refresh token failed"
rc=0
"$MAILTOKEN" token --refresh pub > "$TEST_TMP/revoked.out" 2> "$TEST_TMP/revoked.err" || rc=$?
test_equal "revoked: exit status" "$rc" 77
test_match "revoked: the hint to authorize again" "$(cat "$TEST_TMP/revoked.err")" "mailtoken authorize pub"
test_equal "revoked: nothing on stdout" "$(cat "$TEST_TMP/revoked.out")" ""
test_match "revoked: status says so" "$("$MAILTOKEN" status pub)" "needs-reauthorization|error"

# Authorizing again repairs the account.
start_authorize 1 pub --no-browser --timeout 60
status=$(stack_browser_authorize "$(head -n 1 "$TEST_TMP/out")" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD") ||
    test_fail "re-authorize: stack_browser_authorize failed"
finish_authorize
test_equal "re-authorize: exit status" "$auth_rc" 0
"$MAILTOKEN" token --refresh pub > /dev/null || test_fail "re-authorize: the refresh still fails"
test_pass "re-authorize: refresh works again"

test_done
