#!/bin/bash
# App-only access with a client secret: glewlwyd's client credentials grant
# for the confidential client, no authorize step, the token cached until it
# expires, status showing the account as authorized, the plugin's request
# reply, and a login to Dovecot through the SASL plugin with the account's
# mailbox as user=. Dovecot checks app tokens through a stand-in for
# Exchange's mailbox permissions (apponly-lib.sh), which means restarting
# it, so the test runs alone (ctest RUN_SERIAL).
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/apponly-lib.sh"
test_require_tools curl:curl jq:jq openssl:openssl /usr/bin/python3:python3 \
    "$STACK_IMTEST:cyrus-clients"
[ "$STACK_CLIENT_CREDENTIALS" = yes ] || test_fail "glewlwyd's client credentials grant did not work when the stack started"

trap 'status=$?; apponly_standin_stop || status=1; _test_cleanup; exit "$status"' EXIT

config=$TEST_TMP/mailtoken.conf
secret_file=$TEST_TMP/relay.secret
(umask 077 && printf '%s\n' "$STACK_CONF_CLIENT_SECRET" >"$secret_file")
cat >"$config" <<EOF
[defaults]
store = $TEST_TMP/store

[relay]
provider = generic
grant = client_credentials
client_id = $STACK_CONF_CLIENT_ID
client_secret_file = $secret_file
client_auth = basic
token_endpoint = $STACK_TOKEN_ENDPOINT
scope = $STACK_SCOPE
mailbox = $STACK_ALICE_EMAIL

[relay-bob]
provider = generic
grant = client_credentials
client_id = $STACK_CONF_CLIENT_ID
client_secret_file = $secret_file
client_auth = basic
token_endpoint = $STACK_TOKEN_ENDPOINT
scope = $STACK_SCOPE
user = $STACK_BOB_EMAIL

[relay-post]
provider = generic
grant = client_credentials
client_id = $STACK_CONF_CLIENT_ID
client_secret_command = cat $secret_file
client_auth = post
token_endpoint = $STACK_TOKEN_ENDPOINT
scope = $STACK_SCOPE
EOF
mt() { "$MAILTOKEN" --config "$config" "$@"; }

# ---- the token, without authorize ----
before=$(apponly_token_requests "$STACK_OIDC_NAME")
token=$(mt token relay 2>"$TEST_TMP/token.err") ||
    test_fail "mailtoken token relay failed: $(cat "$TEST_TMP/token.err")"
test_match "an app-only account gets a token without authorize" "$token" '^[A-Za-z0-9._-]{100,}$'
test_equal "one request to the token endpoint" \
    "$(($(apponly_token_requests "$STACK_OIDC_NAME") - before))" 1
again=$(mt token relay) || test_fail "the second mailtoken token relay failed"
test_equal "the cached token is handed out again" "$again" "$token"
test_equal "no request for the cached token" \
    "$(($(apponly_token_requests "$STACK_OIDC_NAME") - before))" 1

# stack_token_introspect makes token requests of its own, so it comes after the counts.
info=$(stack_token_introspect "$token") || test_fail "could not introspect the token"
test_equal "the token is active" "$(jq -r .active <<<"$info")" true
test_equal "the token belongs to the app" "$(jq -r .client_id <<<"$info")" "$STACK_CONF_CLIENT_ID"
test_equal "the token names no user" "$(jq -r 'has("username")' <<<"$info")" false

fresh=$(mt token --refresh relay) || test_fail "mailtoken token --refresh relay failed"
if [ "$fresh" = "$token" ]; then
    test_fail "token --refresh handed out the old token"
fi
test_pass "token --refresh fetches a new app token"
# glewlwyd's introspection leaves client_id out for this client authentication: read the JWT.
post_token=$(mt token relay-post) || test_fail "mailtoken token relay-post (client_auth post) failed"
test_equal "form-posted client credentials work too" \
    "$(apponly_jwt_part "$post_token" 2 | jq -r .client_id)" "$STACK_CONF_CLIENT_ID"

# ---- authorize is not needed, and prints why ----
rc=0
out=$(mt authorize relay 2>&1) || rc=$?
test_equal "authorize of an app-only account exits 0" "$rc" 0
test_match "authorize says the account needs no authorization" "$out" \
    'relay: this account uses grant client_credentials, .* needs no authorization; requesting a token to check its client secret'
test_match "authorize checks the credentials with one token request" "$out" \
    'relay: the token endpoint issued an access token'
# authorize stored a new token; the request reply below must hand out this one.
fresh=$(mt token relay) || test_fail "mailtoken token relay after authorize failed"

# ---- status ----
rc=0
status_out=$(mt status) || rc=$?
test_equal "status exits 0 for app-only accounts" "$rc" 0
test_match "status shows the app-only account as authorized" "$status_out" \
    "^relay +$STACK_ALICE_EMAIL +generic +authorized +valid, [0-9]+ (min|h) left +none \(app-only\)"
if grep -q 'mailtoken authorize' <<<"$status_out"; then
    test_fail "status asks to run authorize for an app-only account: $status_out"
fi
test_pass "status does not ask for authorize"

# ---- the plugin's request ----
reply=$(mt request TOKEN relay) || test_fail "mailtoken request TOKEN relay failed"
test_equal "request reply: status line" "$(head -n1 <<<"$reply")" "MAILTOKEN/1 OK"
test_equal "request reply: account" "$(sed -n 's/^account //p' <<<"$reply")" relay
test_equal "request reply: mailbox" "$(sed -n 's/^mailbox //p' <<<"$reply")" "$STACK_ALICE_EMAIL"
test_equal "request reply: no user field" "$(grep -c '^user ' <<<"$reply" || true)" 0
test_equal "request reply: the cached token" "$(sed -n 's/^token //p' <<<"$reply")" "$fresh"
reply=$(mt request TOKEN relay-bob) || test_fail "mailtoken request TOKEN relay-bob failed"
test_equal "request reply of an account with user only" "$(sed -n 's/^user //p' <<<"$reply")" \
    "$STACK_BOB_EMAIL"

# ---- login through the plugin ----
apponly_standin_start "$STACK_ALICE_EMAIL" "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_NAME" ||
    test_fail "the stand-in or Dovecot with the scripted passdb did not start"
test_equal "plugin login with the app token (mailbox as user=)" \
    "$(apponly_plugin_login relay "$config")" OK
test_equal "user= sent for the account with a mailbox" "$(apponly_sent_user relay)" \
    "$STACK_ALICE_EMAIL"
test_equal "a mailbox the app may not open is refused" \
    "$(apponly_plugin_login relay-bob "$config")" NO
test_match "the stand-in vouched for the app's token, for alice only" \
    "$(tail -n1 "$TEST_TMP/standin.log")" "client $STACK_CONF_CLIENT_ID user None -> $STACK_ALICE_EMAIL\$"
test_equal "user= sent for the account with only a user" "$(apponly_sent_user relay-bob)" \
    "$STACK_BOB_EMAIL"

test_done
