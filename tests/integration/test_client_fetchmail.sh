#!/bin/bash
# fetchmail 6.4 with contrib/fetchmail/fetchmailrc: both poll entries
# (Microsoft 365 and Gmail), pointed at the stack, fetch a message sent to
# alice through `mailtoken tunnel` in one run. test_tunnel_clients.sh
# covers the tunnel itself with fetchmail, mbsync and long tokens. This
# test keeps the shipped file working.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/mailtoken-account.sh"
test_require_tools fetchmail:fetchmail curl:curl jq:jq

source_dir=${MAILTOKEN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
contrib=$source_dir/contrib/fetchmail/fetchmailrc
[ -f "$contrib" ] || test_fail "$contrib is missing"
host=$STACK_MAIL_HOST

mt_account alice "$STACK_CONF_CLIENT_ID"
subject=$(test_unique_subject)
printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nFetched by fetchmail.\r\n' \
    "$STACK_ALICE_EMAIL" "$STACK_ALICE_EMAIL" "$subject" >"$TEST_TMP/message"
curl -sS --max-time 20 --ssl-reqd --cacert "$STACK_CA_FILE" "smtp://$host:$STACK_SUBMISSION_PORT" \
    -u "$STACK_ALICE_USER:" --oauth2-bearer "$(mt token alice)" --mail-from "$STACK_ALICE_EMAIL" \
    --mail-rcpt "$STACK_ALICE_EMAIL" -T "$TEST_TMP/message" || test_fail "could not send '$subject'"
stack_wait_mail "$STACK_ALICE_USER" "$subject" >/dev/null || test_fail "'$subject' did not arrive"

# The copy runs once in the foreground, logs to standard error, uses
# mailtoken --config for both accounts and delivers into one file per
# poll entry.
dir=$TEST_TMP/fetchmail
mkdir -p "$dir"
chmod 700 "$dir"
sed -e '/^set daemon /d' -e '/^set syslog$/d' \
    -e "s|^poll [a-z0-9.]* protocol IMAP port 993\$|poll $host protocol IMAP port $STACK_IMAPS_PORT|" \
    -e "s|plugin \"mailtoken tunnel [a-z0-9]* imap |plugin \"$MAILTOKEN --config $MT_CONF tunnel alice imap |" \
    -e "s|^  user \"[^\"]*\" is \"[^\"]*\" here\$|  user \"$STACK_ALICE_USER\" is \"$(id -un)\" here|" \
    "$contrib" |
    awk -v dir="$dir" '/^  mda / { n++; printf "  mda \"/bin/sh -c '"'"'cat >> %s/fetched-%d.mbox'"'"'\"\n", dir, n; next } { print }' \
        >"$dir/rc"
chmod 600 "$dir/rc"
test_equal "both poll entries point at the stack" "$(grep -c "^poll $host " "$dir/rc")" 2
test_equal "both plugin commands were rewritten" "$(grep -c "plugin \"$MAILTOKEN " "$dir/rc")" 2
test_equal "both entries deliver into a file" "$(grep -c "mda \"/bin/sh -c 'cat >> $dir/fetched-" "$dir/rc")" 2

# --all: the second entry fetches the message that the first marked as seen.
# --pidfile: as root, fetchmail locks /var/run/fetchmail.pid otherwise and
# refuses to run while another test's fetchmail holds it.
status=0
FETCHMAILHOME=$dir fetchmail -f "$dir/rc" --pidfile "$dir/fetchmail.pid" --nosyslog -N --all >"$dir/out" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
    test_fail "fetchmail exited with $status: $(tail -n 5 "$dir/out")"
fi
test_pass "fetchmail exit code 0"
# Other tests may deliver to alice during the run, and fetchmail then polls
# the folder again, so an entry can fetch the message more than once.
for entry in 1 2; do
    if ! grep -qFx -- "Subject: $subject" "$dir/fetched-$entry.mbox" 2>/dev/null; then
        test_fail "poll entry $entry did not fetch the message: $(tail -n 5 "$dir/out")"
    fi
    test_pass "poll entry $entry fetched the message"
done

test_done
