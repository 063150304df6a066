#!/bin/bash
# Shared mailbox: imtest logs in as account alice with the authorization id
# (-u) bob@example.test. The plugin must put bob's address into XOAUTH2's
# user= and OAUTHBEARER's a=, and alice's token into auth=. Dovecot accepts
# a token only for its own user, so it rejects the login, and its log shows
# both halves: the user bob and a token that belongs to alice. The
# account's "mailbox" key has the same effect without -u.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/lib-plugin.sh"
test_require_tools "$STACK_IMTEST:cyrus-clients" jq:jq /usr/bin/python3:python3

account=alice

# shared_login NAME CONFIG_DIR MECH [IMTEST OPTIONS...]
shared_login() {
    local name=$1 config_dir=$2 mech=$3 out mark token fingerprint expected
    shift 3
    out=$TEST_TMP/$name.out
    mark=$(stack_log_mark dovecot)
    plugin_use_config "$config_dir/config"
    plugin_cyrus_client "$out" imtest implicit "$STACK_IMAPS_PORT" "$mech" "$account" "$@" ||
        test_fail "$name: imtest failed: $(tail -n 5 "$out")"
    if grep -q '^Authenticated\.' "$out"; then
        test_fail "$name: Dovecot accepted alice's token for bob"
    fi

    # The helper has marked the token rejected since, but it is still the one sent.
    token=$(plugin_store_field "$config_dir" "$account" access_token)
    fingerprint=$(plugin_fingerprint "$token")
    if [ "$mech" = XOAUTH2 ]; then
        expected="user=$STACK_BOB_EMAIL^Aauth=Bearer $fingerprint^A^A"
    else
        expected="n,a=$STACK_BOB_EMAIL,^Ahost=$STACK_MAIL_HOST^Aport=$STACK_IMAPS_PORT^Aauth=Bearer $fingerprint^A^A"
    fi
    test_equal "$name: bob's address and alice's token on the wire" "$(plugin_wire_message "$out")" "$expected"
    test_match "$name: Dovecot saw user bob with alice's token" "$(stack_log_since dovecot "$mark")" \
        "oauth2\\($STACK_BOB_EMAIL,[^)]*\\): oauth2 failed: .*Username '$STACK_BOB_USER' did not match '$STACK_ALICE_USER'"
}

plugin_account_glewlwyd "$TEST_TMP/plain" "$account"
for mech in XOAUTH2 OAUTHBEARER; do
    shared_login "authorization id, $mech" "$TEST_TMP/plain" "$mech" -u "$STACK_BOB_EMAIL"
done

# An authorization id equal to the authentication name is no shared mailbox.
plugin_use_config "$TEST_TMP/plain/config"
out=$TEST_TMP/same.out
plugin_cyrus_client "$out" imtest implicit "$STACK_IMAPS_PORT" XOAUTH2 "$account" -u "$account" ||
    test_fail "imtest failed: $(tail -n 5 "$out")"
grep -q '^Authenticated\.' "$out" || test_fail "login with -u $account failed: $(tail -n 5 "$out")"
test_match "authorization id equal to the account: the account's user is sent" \
    "$(plugin_wire_message "$out")" "^user=$STACK_ALICE_EMAIL\\^A"

plugin_write_config "$TEST_TMP/mailbox" "$account" "$STACK_TOKEN_ENDPOINT" \
    "$STACK_CONF_CLIENT_ID" "$STACK_CONF_CLIENT_SECRET" "mailbox = $STACK_BOB_EMAIL"
plugin_import "$TEST_TMP/mailbox" "$account" "$(plugin_store_field "$TEST_TMP/plain" "$account" refresh_token)"
for mech in XOAUTH2 OAUTHBEARER; do
    shared_login "mailbox key, $mech" "$TEST_TMP/mailbox" "$mech"
done

test_done
