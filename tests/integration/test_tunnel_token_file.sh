#!/bin/bash
# token_file keeps a copy of the current access token for programs that
# read a password file on each poll. mailtoken writes it with mode 0600
# when it hands out a token and replaces it when a rejected token is
# refreshed. The file's token logs in to Dovecot each time.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
test_require_tools jq:jq curl:curl stat:coreutils

host=$STACK_MAIL_HOST
file=$TEST_TMP/files/alice.token
mkdir -p "$TEST_TMP/files"
mt_account alice "$STACK_CONF_CLIENT_ID" "$STACK_OIDC_NAME" "token_file = $file"

# imaps_login TOKEN: logs in with curl and the token; fails when Dovecot rejects it.
imaps_login() {
    curl -sS --max-time 20 --cacert "$STACK_CA_FILE" "imaps://$host:$STACK_IMAPS_PORT/" \
        -u "$STACK_ALICE_USER:" --oauth2-bearer "$1" -X 'EXAMINE INBOX' >/dev/null 2>&1
}

token=$(mt token alice) || test_fail "mailtoken token alice failed"
test_equal "token_file contains the token" "$(cat "$file")" "$token"
test_equal "token_file mode" "$(stat -c %a "$file")" 600
imaps_login "$(cat "$file")" || test_fail "Dovecot rejected the token from token_file"
test_pass "the token from token_file logs in"

rm "$file"
test_equal "token_file comes back on the next request" "$(mt token alice; cat "$file")" \
    "$token"$'\n'"$token"

stack_token_revoke "$token" || test_fail "revocation failed"
status=0
mt check alice "imaps://$host:$STACK_IMAPS_PORT" >/dev/null 2>&1 || status=$?
test_equal "check with the revoked token: exit code" "$status" 77
test_equal "token_file still has the revoked token until the refresh" "$(cat "$file")" "$token"

status=0
mt check alice "imaps://$host:$STACK_IMAPS_PORT" >/dev/null 2>&1 || status=$?
test_equal "check after the refresh: exit code" "$status" 0
fresh=$(cat "$file")
if [ "$fresh" = "$token" ]; then
    test_fail "token_file was not replaced after the refresh"
fi
test_equal "token_file has the stored token" "$fresh" "$(mt_stored_access_token alice)"
test_equal "token_file mode after the refresh" "$(stat -c %a "$file")" 600
test_equal "no temporary files beside token_file" "$(ls -A "$TEST_TMP/files")" "alice.token"
imaps_login "$fresh" || test_fail "Dovecot rejected the refreshed token from token_file"
test_pass "the refreshed token from token_file logs in"

test_done
