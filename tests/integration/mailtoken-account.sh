# shellcheck shell=bash
# Sourced by test_check_*.sh and test_tunnel_*.sh after lib/testlib.sh: a
# mailtoken account for alice at the stack's glewlwyd, ready to use
# without `mailtoken authorize` (the code grant runs through the stack's
# browser helpers, and the refresh token goes in with `mailtoken import`).

: "${MAILTOKEN:?set MAILTOKEN to the mailtoken program under test}"
[ -x "$MAILTOKEN" ] || test_fail "MAILTOKEN=$MAILTOKEN is not an executable"

# Writes $TEST_TMP/NAME.conf for account NAME and imports a refresh token.
#   mt_account NAME CLIENT [INSTANCE] [EXTRA_LINE...]
# CLIENT is a glewlwyd client of plugin instance INSTANCE (default: the
# HS256 one). Each EXTRA_LINE is appended to the account's section.
# Sets MT_CONF to the file's path.
mt_account() {
    local name=$1 client=$2 instance=${3:-$STACK_OIDC_NAME} reply refresh line
    shift 3 || shift $#
    MT_CONF=$TEST_TMP/$name.conf
    reply=$(stack_token_code "$client" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD" \
        "$STACK_SCOPE" "$instance") || test_fail "the code grant for $client at $instance failed"
    refresh=$(jq -er .refresh_token <<<"$reply") || test_fail "glewlwyd sent no refresh token"
    {
        printf '[defaults]\nstore = %s\n\n[%s]\n' "$TEST_TMP/store-$name" "$name"
        printf 'provider = generic\n'
        printf 'authorization_endpoint = %s\n' "$STACK_API_URL/$instance/auth"
        printf 'token_endpoint = %s\n' "$STACK_API_URL/$instance/token"
        printf 'client_id = %s\n' "$client"
        if [ "$client" = "$STACK_CONF_CLIENT_ID" ]; then
            printf 'client_secret = %s\n' "$STACK_CONF_CLIENT_SECRET"
        fi
        printf 'user = %s\nscope = %s\nca_file = %s\n' "$STACK_ALICE_USER" "$STACK_SCOPE" \
            "$STACK_CA_FILE"
        for line in "$@"; do
            printf '%s\n' "$line"
        done
    } >"$MT_CONF"
    chmod 600 "$MT_CONF"
    printf '%s\n' "$refresh" | "$MAILTOKEN" --config "$MT_CONF" import "$name" 2>/dev/null ||
        test_fail "mailtoken import $name failed"
}

# Runs mailtoken with the account's configuration.
mt() {
    "$MAILTOKEN" --config "$MT_CONF" "$@"
}

# Prints the stored access token of account $1 (for revocation by the test).
mt_stored_access_token() {
    jq -r '.access_token // empty' "$TEST_TMP/store-$1/$1.json"
}

# Prints yes when the store marks account $1's access token as rejected, else no.
mt_token_rejected() {
    jq -r 'if (.access_rejected // 0) == 1 or .access_rejected == true then "yes" else "no" end' \
        "$TEST_TMP/store-$1/$1.json"
}

# Fails when the output $2 contains token $3 or its XOAUTH2 response; $1 describes it.
mt_assert_no_token() {
    local ir
    ir=$(printf 'user=%s\001auth=Bearer %s\001\001' "$STACK_ALICE_USER" "$3" | base64 -w0)
    if grep -qF -- "$3" <<<"$2" || grep -qF -- "$ir" <<<"$2"; then
        test_fail "$1: the output contains the access token"
    fi
    test_pass "$1: no token in the output"
}

# Prints the number of distinct login sessions in Dovecot's log lines $1.
mt_dovecot_sessions() {
    grep -o 'session=<[^>]*>' <<<"$1" | sort -u | wc -l
}
