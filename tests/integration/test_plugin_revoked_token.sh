#!/bin/bash
# A revoked access token, with imtest over IMAPS and each mechanism:
# Dovecot answers the plugin's message with its error challenge, the
# plugin answers it (XOAUTH2: an empty response, OAUTHBEARER: 0x01), logs
# the server's status in one line, and tells the helper, which marks the
# stored token rejected. The next login gets a refreshed token and
# succeeds.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/lib-plugin.sh"
test_require_tools "$STACK_IMTEST:cyrus-clients" jq:jq /usr/bin/python3:python3

account=alice
config_dir=$TEST_TMP/mailtoken
plugin_account_glewlwyd "$config_dir" "$account"
plugin_use_config

# login NAME MECH: one imtest login; prints the output file's name.
login() {
    local out=$TEST_TMP/$1.out
    : >"$PLUGIN_SYSLOG"
    plugin_cyrus_client "$out" imtest implicit "$STACK_IMAPS_PORT" "$2" "$account" ||
        test_fail "$1: imtest failed: $(tail -n 5 "$out")"
    printf '%s\n' "$out"
}

for mech in XOAUTH2 OAUTHBEARER; do
    out=$(login "$mech-before" "$mech")
    grep -q '^Authenticated\.' "$out" || test_fail "$mech: first login failed: $(tail -n 5 "$out")"
    test_pass "$mech: login before the revocation"

    revoked=$(plugin_store_field "$config_dir" "$account" access_token)
    fingerprint=$(plugin_fingerprint "$revoked")
    stack_token_revoke "$revoked" || test_fail "could not revoke the stored access token"

    out=$(login "$mech-revoked" "$mech")
    if grep -q '^Authenticated\.' "$out"; then
        test_fail "$mech: the revoked token logged in"
    fi
    test_match "$mech: login with the revoked token fails" "$(cat "$out")" \
        '^S: A01 NO \[AUTHENTICATIONFAILED\]'
    challenge=$(plugin_wire_challenges "$out")
    if [ "$mech" = XOAUTH2 ]; then
        test_equal "$mech: Dovecot's error challenge" "$(jq -r .status <<<"$challenge")" 401
        test_match "$mech: empty response to the challenge" "$(cat "$out")" $'^C: \r?$'
        status="status 401, scope $STACK_SCOPE"
    else
        test_equal "$mech: Dovecot's error challenge" "$(jq -r .status <<<"$challenge")" invalid_token
        test_match "$mech: 0x01 response to the challenge" "$(cat "$out")" $'^C: AQ==\r?$'
        status="status invalid_token, scope (none)"
    fi
    reason="mailtoken: $mech: account $account: the server rejected token $fingerprint: $status"
    test_equal "$mech: one log line says why" "$(grep -cxF -- "<5> $reason" "$PLUGIN_SYSLOG")" 1
    test_match "$mech: the plugin reported the rejection to the helper" "$(cat "$PLUGIN_SYSLOG")" \
        "account $account: reported the rejection of token $fingerprint to the token source"
    test_equal "$mech: the helper marked the token rejected" \
        "$(plugin_store_field "$config_dir" "$account" access_rejected)" 1

    out=$(login "$mech-after" "$mech")
    grep -q '^Authenticated\.' "$out" || test_fail "$mech: login after the rejection failed: $(tail -n 5 "$out")"
    test_pass "$mech: next login succeeds"
    fresh=$(plugin_store_field "$config_dir" "$account" access_token)
    if [ "$fresh" = "$revoked" ]; then
        test_fail "$mech: the helper handed out the rejected token again"
    fi
    test_pass "$mech: the helper refreshed the token"
    test_equal "$mech: the fresh token is not marked rejected" \
        "$(plugin_store_field "$config_dir" "$account" access_rejected)" 0
    plugin_check_no_secret "$PLUGIN_SYSLOG" "$revoked" "$fresh"
done

test_done
