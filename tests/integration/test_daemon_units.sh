#!/bin/bash
# Checks the systemd units in contrib/systemd with systemd-analyze verify
# (syntax, known options, dependencies) after pointing ExecStart at the
# mailtoken under test, and the sysusers.d file with systemd-sysusers
# --dry-run on a copy of this machine's user database, and loads the
# Postfix example configuration. It does not start the units: that needs
# systemd as PID 1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
units="$here/../../contrib/systemd"
mailtoken=${MAILTOKEN_BIN:-$here/../../build/helper/mailtoken}

for tool in systemd-analyze systemd-sysusers; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "FAIL: $tool is missing (Debian package systemd)" >&2
        exit 1
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checks=0

sed "s|^ExecStart=/usr/local/bin/mailtoken |ExecStart=$mailtoken |" \
    "$units/mailtoken.service" > "$work/mailtoken.service"
cp "$units/mailtoken.socket" "$work/"
if grep -q '^ExecStart=/usr/local/bin/mailtoken ' "$work/mailtoken.service"; then
    echo "FAIL: ExecStart was not rewritten" >&2
    exit 1
fi
if ! out=$(systemd-analyze verify "$work/mailtoken.socket" "$work/mailtoken.service" 2>&1) ||
   [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify reports:" >&2
    echo "$out" >&2
    exit 1
fi
checks=$((checks + 1))
echo "ok $checks - systemd-analyze verify accepts mailtoken.service and mailtoken.socket"

for key in 'Type=notify' 'User=mailtoken' 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
           'StateDirectory=mailtoken' 'StateDirectoryMode=0700' 'PrivateTmp=yes' \
           'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'; do
    if ! grep -qx "$key" "$units/mailtoken.service"; then
        echo "FAIL: mailtoken.service lacks $key" >&2
        exit 1
    fi
    checks=$((checks + 1))
    echo "ok $checks - mailtoken.service sets $key"
done
if grep -q '^PrivateUsers=' "$units/mailtoken.service"; then
    echo "FAIL: PrivateUsers= would hide the peers' uids from the allow lists" >&2
    exit 1
fi
checks=$((checks + 1))
echo "ok $checks - mailtoken.service keeps the peers' real uids (no PrivateUsers=)"

exposure=$(systemd-analyze security --offline=yes "$work/mailtoken.service" 2>&1 |
           sed -n 's/.*Overall exposure level for mailtoken.service: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ] || ! awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
    echo "FAIL: systemd-analyze security rates the exposure '$exposure', expected at most 2.0" >&2
    exit 1
fi
checks=$((checks + 1))
echo "ok $checks - systemd-analyze security rates the exposure $exposure"

mkdir -p "$work/root/etc"
for f in passwd group shadow gshadow; do
    if [ -e "/etc/$f" ]; then cp "/etc/$f" "$work/root/etc/"; fi
done
if ! out=$(systemd-sysusers --dry-run --root="$work/root" "$units/mailtoken.sysusers" 2>&1); then
    echo "FAIL: systemd-sysusers rejects mailtoken.sysusers: $out" >&2
    exit 1
fi
if ! grep -q "user 'mailtoken'" <<<"$out" && ! getent passwd mailtoken >/dev/null; then
    echo "FAIL: systemd-sysusers would not create the user mailtoken: $out" >&2
    exit 1
fi
checks=$((checks + 1))
echo "ok $checks - mailtoken.sysusers creates the system user mailtoken"
# The example configuration for Postfix must load (77: not authorized yet is fine).
example="$here/../../contrib/postfix/mailtoken.conf.example"
status=0
out=$("$mailtoken" --config "$example" status 2>&1) || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
    echo "FAIL: mailtoken rejects $example (exit status $status): $out" >&2
    exit 1
fi
checks=$((checks + 1))
echo "ok $checks - contrib/postfix/mailtoken.conf.example is a valid configuration"
echo "test_daemon_units: $checks checks passed"
