#!/bin/bash
# Certificate credentials (RFC 7523 client assertions, glewlwyd's
# private_key_jwt) against glewlwyd. A client registered with the public
# key of a self-signed certificate, and no secret, gets tokens from the
# client credentials grant (RS256 and PS256). It also refreshes a user's
# token (authorization code grant) with mailtoken's assertions. A key
# others can read is refused before any request, a key glewlwyd does not
# know is rejected with exit code 78, status shows the certificate's
# expiry, and the tokens log in to Dovecot through the SASL plugin. Restarts Dovecot,
# so the test runs alone (ctest RUN_SERIAL).
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/apponly-lib.sh"
test_require_tools curl:curl jq:jq openssl:openssl /usr/bin/python3:python3 \
    "$STACK_IMTEST:cyrus-clients"

instance=oidcapp
client=mailcert
token_endpoint=$STACK_API_URL/$instance/token

remove_glewlwyd_setup() {
    apponly_glewlwyd_api DELETE "/client/$client" '' allow-404 >/dev/null &&
        apponly_glewlwyd_api DELETE "/mod/plugin/$instance" '' allow-404 >/dev/null
}
trap 'status=$?; apponly_standin_stop || status=1; remove_glewlwyd_setup || status=1; _test_cleanup; exit "$status"' EXIT

# ---- glewlwyd: a plugin instance that accepts client assertions, a client with a public key ----
apponly_make_certificate app || test_fail "openssl could not make the app's certificate"
apponly_make_certificate stranger || test_fail "openssl could not make a second certificate"
apponly_make_certificate soon 10 || test_fail "openssl could not make a short-lived certificate"
remove_glewlwyd_setup || test_fail "could not remove an earlier setup from glewlwyd"
parameters=$(apponly_glewlwyd_api GET "/mod/plugin/$STACK_OIDC_NAME" |
    jq -c --arg iss "$STACK_API_URL/$instance" \
        '.parameters + {iss: $iss, "client-pubkey-parameter": "pubkey", "request-parameter-allow": true}') ||
    test_fail "could not read the parameters of glewlwyd's plugin instance $STACK_OIDC_NAME"
apponly_glewlwyd_api POST /mod/plugin/ "$(jq -nc --arg name "$instance" --argjson p "$parameters" \
    '{module: "oidc", name: $name, display_name: "OIDC with client assertions", parameters: $p}')" \
    >/dev/null || test_fail "could not add glewlwyd's plugin instance $instance"
apponly_glewlwyd_api POST /client/ "$(jq -nc --arg id "$client" --arg redirect "$STACK_REDIRECT_URI" \
    --arg pubkey "$(openssl x509 -in "$TEST_TMP/app.crt" -noout -pubkey)" '{
    client_id: $id, name: "Mail app (certificate)", confidential: true,
    token_endpoint_auth_method: ["private_key_jwt"], pubkey: $pubkey,
    redirect_uri: [$redirect], authorization_type: ["code", "refresh_token", "client_credentials"],
    scope: ["mail"], enabled: true}')" >/dev/null ||
    test_fail "could not add glewlwyd client $client with the certificate's public key"

# ---- the configuration ----
config=$TEST_TMP/mailtoken.conf
cp "$TEST_TMP/app.key" "$TEST_TMP/open.key"
chmod 644 "$TEST_TMP/open.key"
account() {
    # $1 name, then extra lines
    local name=$1
    shift
    printf '\n[%s]\nprovider = generic\nclient_id = %s\ntoken_endpoint = %s\nscope = %s\n' \
        "$name" "$client" "$token_endpoint" "$STACK_SCOPE"
    printf '%s\n' "$@"
}
{
    printf '[defaults]\nstore = %s/store\n' "$TEST_TMP"
    account cert-app grant=client_credentials "client_certificate = $TEST_TMP/app.crt" \
        "client_key = $TEST_TMP/app.key" "mailbox = $STACK_ALICE_EMAIL"
    account cert-app-ps grant=client_credentials "client_certificate = $TEST_TMP/app.crt" \
        "client_key = $TEST_TMP/app.key" "client_assertion_alg = PS256"
    account cert-user "client_certificate = $TEST_TMP/app.crt" "client_key = $TEST_TMP/app.key" \
        "user = $STACK_ALICE_EMAIL"
    account cert-stranger grant=client_credentials "client_certificate = $TEST_TMP/stranger.crt" \
        "client_key = $TEST_TMP/stranger.key"
    account cert-open grant=client_credentials "client_certificate = $TEST_TMP/app.crt" \
        "client_key = $TEST_TMP/open.key"
    account cert-soon grant=client_credentials "client_certificate = $TEST_TMP/soon.crt" \
        "client_key = $TEST_TMP/soon.key"
} >"$config"
mt() { "$MAILTOKEN" --config "$config" "$@"; }

# ---- client credentials with the certificate ----
token=$(mt token cert-app 2>"$TEST_TMP/err") || test_fail "mailtoken token cert-app failed: $(cat "$TEST_TMP/err")"
info=$(stack_token_introspect "$token" "$instance") || test_fail "could not introspect the token"
test_equal "RS256 assertion: glewlwyd issued an active token" "$(jq -r .active <<<"$info")" true
# glewlwyd's introspection names the client only after HTTP Basic; the JWT names it always.
test_equal "RS256 assertion: the token belongs to the app" \
    "$(apponly_jwt_part "$token" 2 | jq -r .client_id)" "$client"

token_ps=$(mt token cert-app-ps 2>"$TEST_TMP/err") ||
    test_fail "mailtoken token cert-app-ps failed: $(cat "$TEST_TMP/err")"
test_equal "PS256 assertion: glewlwyd issued an active token" \
    "$(stack_token_introspect "$token_ps" "$instance" | jq -r .active)" true

# glewlwyd refuses an assertion whose jti it has seen, so back-to-back requests prove fresh ones.
first=$(mt token --refresh cert-app) || test_fail "the first token --refresh cert-app failed"
second=$(mt token --refresh cert-app) || test_fail "a second token --refresh right after failed (jti reused?)"
if [ "$first" = "$second" ] || [ "$first" = "$token" ]; then
    test_fail "token --refresh handed out a token it had before"
fi
test_pass "back-to-back refreshes each get a new token"

rc=0
out=$(mt authorize cert-app 2>&1) || rc=$?
test_equal "authorize of the certificate app exits 0" "$rc" 0
test_match "authorize checks the certificate instead of signing in" "$out" \
    'needs no authorization; requesting a token to check its client certificate'

# ---- refused keys ----
before=$(apponly_token_requests "$instance")
rc=0
mt token cert-open >/dev/null 2>"$TEST_TMP/err" || rc=$?
test_equal "a key others can read: exit code" "$rc" 78
test_match "a key others can read: the message" "$(cat "$TEST_TMP/err")" \
    "cert-open: cannot sign a client assertion: client_key $TEST_TMP/open.key .*mode 0644.*run chmod 600 $TEST_TMP/open.key"
test_equal "a key others can read: no request was sent" "$(apponly_token_requests "$instance")" "$before"

rc=0
mt token cert-stranger >/dev/null 2>"$TEST_TMP/err" || rc=$?
test_equal "an unregistered certificate: exit code" "$rc" 78
test_match "an unregistered certificate: the message" "$(cat "$TEST_TMP/err")" \
    'cert-stranger: refreshing the access token failed: HTTP 403: the server rejected the client; check client_id and the client certificate and key'

# ---- status ----
end=$(date -u -d "$(openssl x509 -in "$TEST_TMP/app.crt" -noout -enddate | cut -d= -f2)" +%F)
rc=0
status_out=$(mt status cert-app) || rc=$?
test_equal "status of the certificate account exits 0" "$rc" 0
test_match "status shows the certificate's expiry" "$status_out" \
    "^cert-app +$STACK_ALICE_EMAIL +generic +authorized +valid, .* +none \(app-only\) +certificate expires $end\$"
if grep -q warning <<<"$status_out"; then
    test_fail "status warns about a certificate valid for 59 more days: $status_out"
fi
test_pass "no warning 59 days ahead"
status_out=$(mt status cert-soon) || true
test_match "status warns under 30 days ahead" "$status_out" \
    "cert-soon: warning: the certificate in client_certificate expires in (9|10) days"
status_out=$(mt status cert-open) || true
test_match "status warns about the key others can read" "$status_out" \
    "cert-open: warning: .*private key file $TEST_TMP/open.key can be read by other users"

# ---- a user's token, refreshed with the certificate ----
jar=$(_stack_browser_jar) || test_fail "no cookie jar"
pair=$(stack_pkce_pair)
_stack_browser_login "$jar" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD" ||
    test_fail "alice could not log in to glewlwyd"
_stack_browser_grant "$jar" "$client" "$STACK_SCOPE" || test_fail "alice could not consent for $client"
location=$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 10 -b "$jar" -c "$jar" -G \
    --data-urlencode response_type=code --data-urlencode "client_id=$client" \
    --data-urlencode "redirect_uri=$STACK_REDIRECT_URI" --data-urlencode "scope=$STACK_SCOPE" \
    --data-urlencode state=s1 --data-urlencode "code_challenge=${pair#* }" \
    --data-urlencode code_challenge_method=S256 --data-urlencode g_continue= \
    "$STACK_API_URL/$instance/auth")
code=$(_stack_url_param "$location" code)
[ -n "$code" ] || test_fail "no authorization code in glewlwyd's redirect: $location"

# The code is redeemed with an assertion made here by openssl, independently of mailtoken.
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT"}' | apponly_base64url)
claims=$(jq -nc --arg aud "$token_endpoint" --arg id "$client" --arg jti "$(openssl rand -hex 16)" \
    --argjson now "$now" '{aud: $aud, iss: $id, sub: $id, jti: $jti, nbf: $now, iat: $now, exp: ($now + 300)}' |
    apponly_base64url)
signature=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -sign "$TEST_TMP/app.key" -binary |
    apponly_base64url)
reply=$(curl -sS --max-time 10 -d grant_type=authorization_code --data-urlencode "code=$code" \
    --data-urlencode "redirect_uri=$STACK_REDIRECT_URI" --data-urlencode "code_verifier=${pair% *}" \
    -d "client_id=$client" -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
    -d "client_assertion=$header.$claims.$signature" "$token_endpoint")
refresh_token=$(jq -er .refresh_token <<<"$reply") || test_fail "code redemption failed: $reply"
printf '%s\n' "$refresh_token" | mt import cert-user >/dev/null 2>&1 ||
    test_fail "mailtoken import cert-user failed"
user_token=$(mt token cert-user 2>"$TEST_TMP/err") ||
    test_fail "the refresh with mailtoken's assertion failed: $(cat "$TEST_TMP/err")"
info=$(stack_token_introspect "$user_token" "$instance") || test_fail "could not introspect the user's token"
test_equal "refresh with the certificate: the token is alice's" "$(jq -r .username <<<"$info")" \
    "$STACK_ALICE_USER"
test_equal "refresh with the certificate: issued to the app" \
    "$(apponly_jwt_part "$user_token" 2 | jq -r .client_id)" "$client"

# ---- logins through the plugin ----
apponly_standin_start "$STACK_ALICE_EMAIL" "$client" "$instance" ||
    test_fail "the stand-in or Dovecot with the scripted passdb did not start"
test_equal "plugin login with the certificate app's token" "$(apponly_plugin_login cert-app "$config")" OK
test_equal "the app's login sent the mailbox as user=" "$(apponly_sent_user cert-app)" "$STACK_ALICE_EMAIL"
test_equal "plugin login with alice's token refreshed by certificate" \
    "$(apponly_plugin_login cert-user "$config")" OK

test_done
