#!/bin/bash
# The canary test: unique secrets go in, and none may come out where it
# does not belong. A client secret, a refresh token and access tokens
# with unique values (and prefixes that every token the scripted server
# issues carries) are seeded through the scripted token endpoint and
# through mailtoken's own store.
#
# Then every command runs with -v against that endpoint and a small
# IMAP/POP3/SMTP server: import, token, status and request; check over
# IMAP, POP3 and SMTP with both mechanisms, with an accepted and a
# rejected token; tunnel; serve, logging to stderr and to syslog;
# authorize in the browser and the device flow; a rejected client secret;
# and forget. The SASL plugin logs in through libsasl2, with the real
# helper and through the daemon's socket, once with its log callback
# captured and once logging to syslog. A preloaded library captures
# syslog for every program of the test.
#
# No canary, plain or in base64 at any offset, may appear in any of
# their outputs. Exempt, because carrying a token there is their job:
# the standard output of `mailtoken token` and of `mailtoken request
# TOKEN` (and the daemon's reply to TOKEN), the token store, token_file,
# and what goes to the servers. The servers' own logs are the test's,
# not mailtoken's.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"

cli_setup canary "${MAILTOKEN_TEST_PORT_OFFSET:-74}"
require_tools openssl
: "${CANARY_SASL:?set CANARY_SASL to the canary_sasl program of this build}"
: "${SYSLOG_CAPTURE:?set SYSLOG_CAPTURE to the syslog_capture.so of this build}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset DISPLAY WAYLAND_DISPLAY
imaps_port=$((port + 1))
pop3s_port=$((port + 2))
smtps_port=$((port + 3))
mail_pid=""
auth_pid=""

canary_cleanup() {
    for pid in "$auth_pid" "$mail_pid"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    cli_cleanup
}
trap canary_cleanup EXIT

# ---- the canaries ----
tag=$(openssl rand -hex 8)
secret=CANARYSECRET$tag
wrong_secret=CANARYWRONGSECRET$tag
seeded_refresh=CANARYSEEDRT$tag
access_prefix=CANARYAT$tag
refresh_prefix=CANARYRT$tag
seeded_access=${access_prefix}STORESEEDED
rejected_access=CANARYBADAT$tag
printf '%s\n' "$secret" "$wrong_secret" "$seeded_refresh" "$access_prefix" "$refresh_prefix" \
    "$seeded_access" "$rejected_access" > "$work/canaries"
client=11111111-2222-3333-4444-555555555555
wrong_client=99999999-2222-3333-4444-555555555555

# Outputs to scan: every file in $work/scan. Exempt outputs go elsewhere.
mkdir "$work/scan" "$work/exempt"
export MAILTOKEN_TEST_SYSLOG=$work/scan/syslog
: > "$MAILTOKEN_TEST_SYSLOG"
preload=$SYSLOG_CAPTURE
if [[ "${SANITIZED:-0}" == 1 ]]; then
    export ASAN_OPTIONS=verify_asan_link_order=0
fi
step=0

# mt NAME [mailtoken arguments...]: runs mailtoken -v; standard output
# and error go to scan/STEP-NAME.out and .err; sets rc.
mt() {
    local name=$1
    shift
    step=$((step + 1))
    rc=0
    LD_PRELOAD="$preload" "$MAILTOKEN" -v "$@" > "$work/scan/$step-$name.out" \
        2> "$work/scan/$step-$name.err" < /dev/null || rc=$?
}

# mt_exempt NAME ARGS...: as mt, but standard output carries a token by design.
mt_exempt() {
    local name=$1
    shift
    step=$((step + 1))
    rc=0
    LD_PRELOAD="$preload" "$MAILTOKEN" -v "$@" > "$work/exempt/$step-$name.out" \
        2> "$work/scan/$step-$name.err" < /dev/null || rc=$?
    out=$(cat "$work/exempt/$step-$name.out")
}

# ---- servers: the scripted token endpoint, and IMAPS, POP3S, SMTPS ----
pki=$work/pki
mkdir "$pki"
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -subj "/CN=canary test CA" -keyout "$pki/ca.key" -out "$pki/ca.crt" 2> "$pki/err" ||
    ! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=127.0.0.1" -keyout "$pki/mail.key" -out "$pki/mail.csr" 2>> "$pki/err" ||
    ! openssl x509 -req -in "$pki/mail.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
        -CAcreateserial -days 1 -extfile <(echo "subjectAltName = IP:127.0.0.1") \
        -out "$pki/mail.crt" 2>> "$pki/err"; then
    cat "$pki/err" >&2
    fail "openssl could not make the test certificates"
    finish
fi

"$python" "$here/fake_mail.py" --imaps "$imaps_port" --pop3s "$pop3s_port" \
    --smtps "$smtps_port" --tls-cert "$pki/mail.crt" --tls-key "$pki/mail.key" \
    --accept-prefix "$access_prefix" --log "$work/mail.log" --pidfile "$work/mail.pid" \
    > /dev/null 2> "$work/mail.err" &
mail_pid=$!
for _ in $(seq 100); do
    [[ -s "$work/mail.pid" ]] && break
    sleep 0.05
done
if [[ ! -s "$work/mail.pid" ]]; then
    echo "FAIL: the test mail server did not start: $(cat "$work/mail.err")" >&2
    exit 1
fi

start_fake "{\"live\": {\"style\": \"microsoft\",
    \"refresh_tokens\": [\"$seeded_refresh\"],
    \"access_token_prefix\": \"$access_prefix\", \"refresh_token_prefix\": \"$refresh_prefix\",
    \"device\": {\"interval\": 1, \"polls\": [\"authorization_pending\", \"approve\"]},
    \"clients\": {
        \"$client\": {\"secret\": \"$secret\", \"redirect_uris\": [\"http://localhost/\"]},
        \"$wrong_client\": {\"secret\": \"the-real-one\", \"redirect_uris\": [\"http://localhost/\"]}}}}"

printf '%s\n' "$secret" > "$work/client.secret"
chmod 600 "$work/client.secret"
base="$endpoint/contoso.onmicrosoft.com/oauth2/v2.0"
cat > "$work/config" <<EOF
[defaults]
store = $work/store
timeout = 5
ca_file = $pki/ca.crt

[ms]
provider = microsoft
tenant = contoso.onmicrosoft.com
client_id = $client
client_secret_file = $work/client.secret
user = alice@example.test
token_file = $work/exempt/token_file
authorization_endpoint = $base/authorize
token_endpoint = $base/token
device_authorization_endpoint = $base/devicecode
revocation_endpoint = $endpoint/revoke

[wrong]
provider = microsoft
tenant = contoso.onmicrosoft.com
client_id = $wrong_client
client_secret = $wrong_secret
user = alice@example.test
token_endpoint = $base/token
EOF
chmod 600 "$work/config"
export MAILTOKEN_CONFIG=$work/config

# set_stored_access TOKEN: puts an access token into ms's store file, valid for an hour.
set_stored_access() {
    jq --arg t "$1" --argjson now "$(date +%s)" \
        '.access_token = $t | .obtained_at = $now | .expires_in = 3600 | .access_rejected = 0' \
        "$work/store/ms.json" > "$work/store/ms.json.new"
    chmod 600 "$work/store/ms.json.new"
    mv "$work/store/ms.json.new" "$work/store/ms.json"
}

# ---- import, token, status ----
step=$((step + 1))
rc=0
printf '%s\n' "$seeded_refresh" | LD_PRELOAD="$preload" "$MAILTOKEN" -v import ms \
    > "$work/scan/$step-import.out" 2> "$work/scan/$step-import.err" || rc=$?
expect_eq "import: exit code" "$rc" 0
mt status status
mt_exempt token token ms
expect_eq "token: exit code" "$rc" 0
expect_contains "token: an access token the server issued" "$out" "$access_prefix"
mt_exempt token-refresh token --refresh ms
expect_contains "token --refresh: a new access token" "$out" "$access_prefix"
expect_contains "-v shows tokens as fingerprints" "$(cat "$work"/scan/*-token-refresh.err)" \
    "refresh_token=sha256:"
set_stored_access "$seeded_access"
mt_exempt token-stored token ms
expect_eq "token: hands out the token seeded into the store" "$out" "$seeded_access"
mt status-ms status ms

# ---- the plugin's requests ----
mt_exempt request-token request TOKEN ms
expect_contains "request TOKEN: the reply carries the token" "$out" "$seeded_access"
mt request-status request STATUS ms
fingerprint=$(printf '%s' "$seeded_access" | sha256sum | cut -c 1-12)
mt request-rejected request REJECTED ms "sha256:$fingerprint"
expect_eq "request REJECTED: exit code" "$rc" 0

# ---- check and tunnel against the mail server ----
mt check-imap check ms imap "imaps://127.0.0.1:$imaps_port"
expect_eq "check imap: exit code" "$rc" 0
mt check-imap-oauthbearer check --mech oauthbearer ms imap "imaps://127.0.0.1:$imaps_port"
expect_eq "check imap oauthbearer: exit code" "$rc" 0
mt check-pop3 check ms pop3 "pop3s://127.0.0.1:$pop3s_port"
expect_eq "check pop3: exit code" "$rc" 0
mt check-smtp check ms smtp "smtps://127.0.0.1:$smtps_port"
expect_eq "check smtp: exit code" "$rc" 0
set_stored_access "$rejected_access"
mt check-rejected check ms imap "imaps://127.0.0.1:$imaps_port"
if [[ $rc -ne 0 ]]; then pass; else fail "check with a rejected token: exit code 0"; fi
set_stored_access "$rejected_access"
mt check-smtp-rejected check --mech oauthbearer ms smtp "smtps://127.0.0.1:$smtps_port"
if [[ $rc -ne 0 ]]; then pass; else fail "check smtp with a rejected token: exit code 0"; fi
step=$((step + 1))
rc=0
printf 'a1 NOOP\r\na2 EXAMINE INBOX\r\na3 LOGOUT\r\n' |
    LD_PRELOAD="$preload" "$MAILTOKEN" -v tunnel ms imap "imaps://127.0.0.1:$imaps_port" \
    > "$work/scan/$step-tunnel.out" 2> "$work/scan/$step-tunnel.err" || rc=$?
expect_eq "tunnel: exit code" "$rc" 0
expect_contains "tunnel: the session went through" "$(cat "$work/scan/$step-tunnel.out")" "a3 OK"
expect_eq "the mail server saw logins with the canary token" \
    "$(jq -s '[.[] | select(.accepted)] | length' "$work/mail.log")" 5
expect_eq "the mail server saw the rejected token twice" \
    "$(jq -s '[.[] | select(.accepted | not)] | length' "$work/mail.log")" 2

# ---- the plugin through libsasl2, with the real helper ----
mt_exempt token-before-plugin token --refresh ms
step=$((step + 1))
rc=0
LD_PRELOAD="$preload" MAILTOKEN_HELPER="$MAILTOKEN" "$CANARY_SASL" "$work/scan/sasl.log" \
    "$access_prefix" ms > "$work/scan/$step-sasl.out" 2> "$work/scan/$step-sasl.err" || rc=$?
expect_eq "plugin logins: exit code" "$rc" 0
expect_contains "plugin: its log callback got the plugin's messages" \
    "$(cat "$work/scan/sasl.log")" "mailtoken:"
expect_contains "plugin: the log shows token fingerprints" "$(cat "$work/scan/sasl.log")" \
    "sha256:"
expect_contains "plugin: without a log callback, its messages went to syslog" \
    "$(cat "$MAILTOKEN_TEST_SYSLOG")" "mailtoken:"

# ---- the daemon: the plugin through its socket, and raw requests ----
# daemon_phase LOG_TARGET: runs mailtoken -v serve with log = LOG_TARGET,
# lets the plugin and raw requests use its socket, then stops it.
daemon_phase() {
    local target=$1 sock=$work/daemon-$1.sock pid
    sed -e "/^\[defaults\]/a socket = $sock\nlog = $target\nplugin_socket = $sock" \
        "$work/config" > "$work/config-$target"
    chmod 600 "$work/config-$target"
    step=$((step + 1))
    MAILTOKEN_CONFIG=$work/config-$target LD_PRELOAD="$preload" "$MAILTOKEN" -v serve \
        > "$work/scan/$step-serve-$target.out" 2> "$work/scan/$step-serve-$target.err" &
    pid=$!
    for _ in $(seq 100); do
        [[ -S "$sock" ]] && break
        sleep 0.05
    done
    if [[ ! -S "$sock" ]]; then
        fail "serve with log = $target: no socket $sock"
        kill "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
        return
    fi
    step=$((step + 1))
    rc=0
    MAILTOKEN_CONFIG=$work/config-$target MAILTOKEN_SOCKET=$sock LD_PRELOAD="$preload" \
        MAILTOKEN_HELPER=/nonexistent/the-daemon-must-answer "$CANARY_SASL" \
        "$work/scan/sasl-daemon-$target.log" "$access_prefix" ms \
        > "$work/scan/$step-sasl-daemon.out" 2> "$work/scan/$step-sasl-daemon.err" || rc=$?
    expect_eq "plugin through the daemon (log = $target): exit code" "$rc" 0
    "$python" - "$sock" "$work" "$target" <<'PY'
import socket, sys
sock, work, target = sys.argv[1:4]
requests = [("request-token", b"MAILTOKEN/1 TOKEN ms\n", "exempt"),
            ("request-status", b"MAILTOKEN/1 STATUS\n", "scan"),
            ("request-rejected", b"MAILTOKEN/1 REJECTED ms sha256:0123456789ab\n", "scan"),
            ("request-garbage", b"GET / HTTP/1.1\r\n\r\n", "scan")]
for name, line, where in requests:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(sock)
        s.sendall(line)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    with open(f"{work}/{where}/daemon-{target}-{name}.out", "wb") as f:
        f.write(reply)
PY
    expect_contains "daemon (log = $target): TOKEN answered with the token" \
        "$(cat "$work/exempt/daemon-$target-request-token.out")" "$access_prefix"
    kill -TERM "$pid" 2> /dev/null || true
    rc=0
    wait "$pid" || rc=$?
    expect_eq "serve with log = $target: exit code after SIGTERM" "$rc" 0
}
daemon_phase stderr
expect_contains "serve with log = stderr: its log shows what it did" \
    "$(cat "$work"/scan/*-serve-stderr.err)" "TOKEN"
syslog_lines=$(wc -l < "$MAILTOKEN_TEST_SYSLOG")
daemon_phase syslog
if (( $(wc -l < "$MAILTOKEN_TEST_SYSLOG") > syslog_lines + 3 )); then pass; else
    fail "serve with log = syslog: its lines did not reach the syslog capture"
fi

# ---- authorize: the browser flow and the device flow ----
rm -f "$work/auth.out"
LD_PRELOAD="$preload" "$MAILTOKEN" -v authorize ms --no-browser --timeout 30 \
    > "$work/scan/authorize.out" 2> "$work/scan/authorize.err" &
auth_pid=$!
url=""
for _ in $(seq 200); do
    if [[ -s "$work/scan/authorize.out" && -z "$(tail -c 1 "$work/scan/authorize.out")" ]]; then
        url=$(head -n 1 "$work/scan/authorize.out")
        break
    fi
    sleep 0.05
done
if [[ -n "$url" ]]; then
    curl -sS -L --max-redirs 2 --max-time 10 -o "$work/page" "$url" || true
else
    fail "authorize printed no URL"
fi
rc=0
wait "$auth_pid" || rc=$?
auth_pid=""
expect_eq "authorize: exit code" "$rc" 0
mt authorize-device authorize --device ms --timeout 30
expect_eq "authorize --device: exit code" "$rc" 0

# ---- a client secret the server rejects ----
printf '%s\n' "$seeded_refresh" | "$MAILTOKEN" import wrong 2> /dev/null
mt wrong-secret token wrong
expect_eq "rejected client secret: exit code" "$rc" 78

# ---- forget, with revocation ----
mt forget forget ms
expect_eq "forget: exit code" "$rc" 0

# ---- what else is secret: codes and verifiers of the sign-ins ----
jq -r 'select(.form != null) | .form | (.code, .code_verifier, .device_code) // empty' \
    "$fake_log" | sort -u >> "$work/canaries"
expect_eq "the code, the verifier and the device code were collected" \
    "$(wc -l < "$work/canaries")" 10

# ---- the scan ----
# First on a file that does contain a canary inside a SASL message, so the scanner can fail.
printf 'user=alice@example.test\001auth=Bearer %s\001\001' "$seeded_access" | base64 -w 0 \
    > "$work/control"
if "$python" "$here/scan_canaries.py" "$work/canaries" "$work/control" > /dev/null; then
    fail "the scanner missed a canary in a base64 SASL message"
else
    pass
fi
# The exempt outputs carry the access token by design, but never a refresh token or a secret.
grep -v -e "^$access_prefix" -e "^$seeded_access\$" -e "^$rejected_access\$" "$work/canaries" \
    > "$work/canaries-not-access"
exempt=("$work"/exempt/*)
expect_eq "exempt outputs checked for refresh tokens and secrets" "$(( ${#exempt[@]} >= 6 ))" 1
if "$python" "$here/scan_canaries.py" "$work/canaries-not-access" "${exempt[@]}" \
        > "$work/exempt-hits"; then
    pass
else
    fail "refresh tokens or secrets in outputs that may carry only an access token:" \
        "$(tr '\n' ';' < "$work/exempt-hits")"
fi
files=("$work"/scan/*)
expect_eq "outputs scanned (at least one per command)" "$(( ${#files[@]} >= 40 ))" 1
if "$python" "$here/scan_canaries.py" "$work/canaries" "${files[@]}" > "$work/hits"; then
    pass
else
    fail "canaries in mailtoken's outputs: $(tr '\n' ';' < "$work/hits")"
fi

finish
