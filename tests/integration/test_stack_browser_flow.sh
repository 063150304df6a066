#!/bin/bash
# glewlwyd issues a token through the browser automation: the
# authorization URL a program would print goes to stack_browser_authorize,
# the redirect reaches a loopback catcher (standing in for the helper's
# listener), the code is exchanged with PKCE, and Dovecot accepts the token
# over IMAPS with curl (OAUTHBEARER).
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
test_require_tools curl:curl jq:jq openssl:openssl /usr/bin/python3:python3

caught=$TEST_TMP/caught
stack_catcher_start "$STACK_REDIRECT_PORT" "$caught" || test_fail "the loopback catcher did not start"

read -r verifier challenge < <(stack_pkce_pair)
state=$(openssl rand -hex 8)
redirect=$(jq -rn --arg u "$STACK_REDIRECT_URI" '$u | @uri')
url="$STACK_AUTHORIZATION_ENDPOINT?response_type=code&client_id=$STACK_PUB_CLIENT_ID"
url+="&redirect_uri=$redirect&scope=$STACK_SCOPE&state=$state"
url+="&code_challenge=$challenge&code_challenge_method=S256"

status=$(stack_browser_authorize "$url" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD") ||
    test_fail "stack_browser_authorize failed"
test_equal "listener status printed by stack_browser_authorize" "$status" 200

target=$(stack_catcher_wait "$caught") || test_fail "the redirect did not reach the catcher"
test_match "redirect path" "$target" '^/callback\?'
test_equal "state in the redirect" "$(_stack_url_param "http://x$target" state)" "$state"
code=$(_stack_url_param "http://x$target" code)
test_match "authorization code in the redirect" "$code" '^[A-Za-z0-9_-]{8,}$'

reply=$(curl -sS --max-time 10 -d "client_id=$STACK_PUB_CLIENT_ID" -d grant_type=authorization_code \
    --data-urlencode "code=$code" --data-urlencode "redirect_uri=$STACK_REDIRECT_URI" \
    --data-urlencode "code_verifier=$verifier" "$STACK_TOKEN_ENDPOINT") ||
    test_fail "token request failed"
token=$(jq -r '.access_token // empty' <<<"$reply")
test_match "access token from the code exchange" "$token" '^eyJ[A-Za-z0-9_.-]+$'
test_match "refresh token from the code exchange" "$(jq -r '.refresh_token // empty' <<<"$reply")" '.{20,}'
test_equal "token scope" "$(jq -r .scope <<<"$reply")" "$STACK_SCOPE"

# The code is single-use.
status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -d "client_id=$STACK_PUB_CLIENT_ID" \
    -d grant_type=authorization_code --data-urlencode "code=$code" \
    --data-urlencode "redirect_uri=$STACK_REDIRECT_URI" --data-urlencode "code_verifier=$verifier" \
    "$STACK_TOKEN_ENDPOINT")
test_match "second use of the code is rejected" "$status" '^4[0-9][0-9]$'

out=$(curl -sS -v --max-time 20 --cacert "$STACK_CA_FILE" \
    "imaps://$STACK_MAIL_HOST:$STACK_IMAPS_PORT/" -u "$STACK_ALICE_USER:" \
    --oauth2-bearer "$token" -X 'EXAMINE INBOX' 2>&1) || test_fail "IMAPS login with the token failed: $(tail -n 5 <<<"$out")"
test_match "IMAPS login used OAUTHBEARER" "$out" '> A[0-9]+ AUTHENTICATE OAUTHBEARER'
test_match "IMAPS EXAMINE INBOX after login" "$out" '\* [0-9]+ EXISTS'

# Dovecot compares the SASL user with the token's user.
if curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "imaps://$STACK_MAIL_HOST:$STACK_IMAPS_PORT/" \
    -u "$STACK_BOB_USER:" --oauth2-bearer "$token" -X 'EXAMINE INBOX' >/dev/null 2>&1; then
    test_fail "Dovecot accepted alice's token for user bob"
fi
test_pass "alice's token is rejected for user bob"

test_done
