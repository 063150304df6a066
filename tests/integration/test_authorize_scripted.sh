#!/bin/bash
# mailtoken authorize (browser and --manual flows) against the scripted
# authorization server tests/tools/fake_as.py, with curl as the browser.
# Covered: Microsoft and Google styles, favicon first, a second callback,
# wrong state, access_denied, a missing code, a wrong iss, the timeout and
# provider errors at the token endpoint. The server's request log shows
# that no code reaches the token endpoint when a check failed.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"

cli_setup authorize "${MAILTOKEN_TEST_PORT_OFFSET:-63}"
require_tools openssl

ms_client=11111111-2222-3333-4444-555555555555
google_client=mailtoken-test.apps.googleusercontent.com
google_secret=GOCSPX-test-secret
auth_pid=""
# mailtoken starts xdg-open only where these say a desktop runs.
unset DISPLAY WAYLAND_DISPLAY

authorize_cleanup() {
    if [[ -n "$auth_pid" ]] && kill -0 "$auth_pid" 2>/dev/null; then
        kill "$auth_pid" 2>/dev/null || true
        wait "$auth_pid" 2>/dev/null || true
    fi
    cli_cleanup
}
trap authorize_cleanup EXIT

# url_param URL NAME: the decoded value of query parameter NAME ("" when absent).
url_param() {
    "$python" -c '
import sys, urllib.parse
query = urllib.parse.urlsplit(sys.argv[1]).query
print(urllib.parse.parse_qs(query, keep_blank_values=True).get(sys.argv[2], [""])[0])' "$1" "$2"
}

# write_accounts: account "ms" (public client) and "google" (desktop client
# with secret) against the scripted endpoint, plus "cc" (client credentials).
write_accounts() {
    {
        echo "[defaults]"
        echo "store = $work/store"
        echo "timeout = 5"
        echo ""
        echo "[ms]"
        echo "provider = microsoft"
        echo "tenant = common"
        echo "client_id = $ms_client"
        echo "user = alice@example.test"
        echo "authorization_endpoint = $endpoint/common/oauth2/v2.0/authorize"
        echo "token_endpoint = $endpoint/common/oauth2/v2.0/token"
        echo ""
        echo "[msconf]"
        echo "provider = microsoft"
        echo "tenant = common"
        echo "client_id = conf-app"
        echo "client_secret = wrong-secret"
        echo "authorization_endpoint = $endpoint/common/oauth2/v2.0/authorize"
        echo "token_endpoint = $endpoint/common/oauth2/v2.0/token"
        echo ""
        echo "[google]"
        echo "provider = google"
        echo "client_id = $google_client"
        echo "client_secret = $google_secret"
        echo "user = alice@example.test"
        echo "redirect_uri = http://127.0.0.1/"
        echo "authorization_endpoint = $endpoint/o/oauth2/v2/auth"
        echo "token_endpoint = $endpoint/token"
        echo ""
        echo "[cc]"
        echo "provider = microsoft"
        echo "grant = client_credentials"
        echo "client_id = conf-app"
        echo "client_secret = conf-secret"
        echo "token_endpoint = $endpoint/common/oauth2/v2.0/token"
    } > "$work/config"
    chmod 600 "$work/config"
    export MAILTOKEN_CONFIG="$work/config"
}

# scenario [AUTHORIZE_JSON]: Microsoft and Google clients; AUTHORIZE_JSON
# is the live "authorize" object (an error or a Google iss).
scenario() {
    printf '{"live": {"style": "%s", "require_pkce": true, "clients": {
        "%s": {"secret": null, "redirect_uris": ["http://localhost/"]},
        "conf-app": {"secret": "conf-secret", "redirect_uris": ["http://localhost/"]},
        "%s": {"secret": "%s", "redirect_uris": ["http://127.0.0.1/"]}}%s}}' \
        "${2:-microsoft}" "$ms_client" "$google_client" "$google_secret" "${1:+, \"authorize\": $1}"
}

# start_authorize ARGS...: runs mailtoken authorize in the background and
# waits until it has printed the authorization URL (sets url).
start_authorize() {
    : > "$work/out"
    : > "$work/err"
    "$MAILTOKEN" authorize "$@" > "$work/out" 2> "$work/err" &
    auth_pid=$!
    url=""
    for _ in $(seq 200); do
        if [[ -s "$work/out" && -z "$(tail -c 1 "$work/out")" ]]; then
            url=$(head -n 1 "$work/out")
            break
        fi
        kill -0 "$auth_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ -z "$url" ]]; then
        fail "mailtoken authorize $* printed no URL: $(cat "$work/err")"
    fi
    redirect=$(url_param "$url" redirect_uri)
    state=$(url_param "$url" state)
}

# finish_authorize: waits for mailtoken; sets auth_rc, auth_out and auth_err.
finish_authorize() {
    auth_rc=0
    wait "$auth_pid" || auth_rc=$?
    auth_pid=""
    auth_out=$(cat "$work/out")
    auth_err=$(cat "$work/err")
}

# browse URL: follows the scripted server's redirect to the listener like a
# browser; prints the listener's HTTP status.
browse() {
    curl -sS -L --max-redirs 2 --max-time 10 -o "$work/page" -w '%{http_code}' "$1" || true
}

# s256 VERIFIER: the PKCE S256 challenge.
s256() {
    printf '%s' "$1" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n'
}

write_accounts

# A stand-in for xdg-open that records how it was started and then plays
# the browser. mailtoken sends its output to /dev/null, so it writes to files.
mkdir "$work/bin"
cat > "$work/bin/xdg-open" <<'SCRIPT'
#!/bin/bash
printf '%s\n' "$#" "$@" > "$XDG_RECORD.tmp"
find /proc/$$/fd -lname 'socket:*' | wc -l > "$XDG_RECORD.sockets"
ps -o sid= -p $$ | tr -d ' ' > "$XDG_RECORD.sid"
mv "$XDG_RECORD.tmp" "$XDG_RECORD"
curl -sS -L --max-redirs 2 --max-time 10 -o /dev/null "$1" 2> /dev/null || true
SCRIPT
chmod 755 "$work/bin/xdg-open"
export XDG_RECORD=$work/xdg-open.args

# ---- Microsoft public client: favicon first, then the sign-in ----
start_fake "$(scenario)"
start_authorize ms --no-browser
expect_eq "ms: URL line is the authorize endpoint" "${url%%\?*}" "$endpoint/common/oauth2/v2.0/authorize"
expect_eq "ms: only the URL on stdout" "$(wc -l < "$work/out")" 1
expect_eq "ms: redirect_uri form" "$(sed -E 's/[0-9]+/P/' <<<"$redirect")" "http://localhost:P/"
expect_eq "ms: code_challenge_method" "$(url_param "$url" code_challenge_method)" S256
expect_contains "ms: scope has offline_access" "$(url_param "$url" scope)" offline_access
expect_eq "ms: state length" "${#state}" 43
expect_contains "ms: what it waits for" "$(cat "$work/err")" "waiting for the browser to return to $redirect"
expect_eq "ms: favicon gets 404" \
    "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "${redirect}favicon.ico")" 404
expect_eq "ms: browser gets the success page" "$(browse "$url")" 200
expect_contains "ms: success page text" "$(cat "$work/page")" "return to the terminal"
# The port closed once the reply was processed.
second=0
curl -sS -o /dev/null --max-time 5 "$redirect?code=again&state=$state" 2> /dev/null || second=$?
expect_eq "ms: a second callback cannot connect (curl exit 7)" "$second" 7
finish_authorize
expect_eq "ms: exit status" "$auth_rc" 0
expect_contains "ms: success message" "$auth_err" "ms: authorized"
expect_contains "ms: how to test" "$auth_err" "mailtoken token ms"
expect_eq "ms: one token request" "$(token_requests authorization_code)" 1
expect_eq "ms: redirect_uri of the token request equals the authorization request's" \
    "$(jq -rs '[.[] | select(.route == "token")][0].form.redirect_uri' "$fake_log")" "$redirect"
expect_eq "ms: redirect_uri sent by the browser request" \
    "$(jq -rs '[.[] | select(.route == "authorize")][0].query.redirect_uri' "$fake_log")" "$redirect"
verifier=$(jq -rs '[.[] | select(.route == "token")][0].form.code_verifier' "$fake_log")
expect_eq "ms: code_verifier matches the challenge" "$(s256 "$verifier")" "$(url_param "$url" code_challenge)"
expect_eq "ms: public client sends no secret" \
    "$(jq -s '[.[] | select(.route == "token")][0].form | has("client_secret")' "$fake_log")" false
code=$(jq -rs '[.[] | select(.route == "token")][0].form.code' "$fake_log")
expect_lacks "ms: no code in the output" "$auth_out$auth_err" "$code"
expect_lacks "ms: no verifier in the output" "$auth_out$auth_err" "$verifier"
token=$("$MAILTOKEN" token ms 2> "$work/token.err") || fail "ms: mailtoken token failed: $(cat "$work/token.err")"
expect_eq "ms: mailtoken token prints the stored token" "$(token_requests)" 1
expect_lacks "ms: no access token in the authorize output" "$auth_out$auth_err" "$token"
expect_contains "ms: status says authorized" "$("$MAILTOKEN" status ms)" authorized

# ---- a reply with the wrong state ----
start_fake "$(scenario)"
start_authorize ms --no-browser
status=$(curl -sS -o "$work/page" -w '%{http_code}' --max-time 5 "$redirect?code=forged&state=WRONG" || true)
expect_eq "wrong state: page status" "$status" 400
expect_contains "wrong state: page says so" "$(cat "$work/page")" "state mismatch"
finish_authorize
expect_eq "wrong state: exit status" "$auth_rc" 76
expect_contains "wrong state: message" "$auth_err" "state mismatch"
expect_eq "wrong state: no token request" "$(token_requests)" 0

# ---- the user declines ----
start_fake "$(scenario '{"error": "access_denied", "error_description": "the user canceled"}')"
start_authorize ms --no-browser
expect_eq "access_denied: page status" "$(browse "$url")" 400
finish_authorize
expect_eq "access_denied: exit status" "$auth_rc" 77
expect_contains "access_denied: message" "$auth_err" "declined access"
expect_contains "access_denied: description shown" "$auth_err" "the user canceled"
expect_eq "access_denied: no token request" "$(token_requests)" 0

# ---- a reply with the right state but no code ----
start_fake "$(scenario)"
start_authorize ms --no-browser
status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$redirect?state=$state" || true)
expect_eq "missing code: page status" "$status" 400
finish_authorize
expect_eq "missing code: exit status" "$auth_rc" 76
expect_contains "missing code: message" "$auth_err" "no authorization code"
expect_eq "missing code: no token request" "$(token_requests)" 0

# ---- a desktop: xdg-open gets the URL, detached, without our sockets ----
start_fake "$(scenario)"
rm -f "$XDG_RECORD"
rc=0
PATH="$work/bin:$PATH" DISPLAY=:99 "$MAILTOKEN" authorize ms --timeout 20 \
    > "$work/out" 2> "$work/err" || rc=$?
expect_eq "xdg-open: exit status" "$rc" 0
expect_eq "xdg-open: started with the URL as its only argument" \
    "$(cat "$XDG_RECORD" 2> /dev/null)" "$(printf '1\n%s' "$(head -n 1 "$work/out")")"
expect_eq "xdg-open: no socket of mailtoken inherited" "$(cat "$XDG_RECORD.sockets")" 0
if [[ "$(cat "$XDG_RECORD.sid")" == "$(ps -o sid= -p $$ | tr -d ' ')" ]]; then
    fail "xdg-open: runs in the session of the test, not in its own"
else
    pass
fi
expect_eq "xdg-open: one token request" "$(token_requests authorization_code)" 1

# ---- no desktop, and no browser ever comes back ----
start_fake "$(scenario)"
rm -f "$XDG_RECORD"
started=$(date +%s)
PATH="$work/bin:$PATH" start_authorize ms --timeout 2
finish_authorize
elapsed=$(( $(date +%s) - started ))
expect_eq "timeout: exit status" "$auth_rc" 75
expect_contains "timeout: message" "$auth_err" "timed out after 2 s waiting for the browser"
expect_eq "timeout: took about 2 s" "$(( elapsed >= 2 && elapsed <= 5 ))" 1
expect_eq "timeout: no token request" "$(token_requests)" 0
if [[ -e "$XDG_RECORD" ]]; then
    fail "timeout: xdg-open was started although DISPLAY and WAYLAND_DISPLAY are unset"
else
    pass
fi
after=0
curl -sS -o /dev/null --max-time 5 "$redirect" 2> /dev/null || after=$?
expect_eq "timeout: the port is closed" "$after" 7

# ---- Google: iss, extra parameters, secret in the body ----
start_fake "$(scenario '{"iss": "https://accounts.google.com", "extra_params": {"scope": "https://mail.google.com/", "authuser": "0", "prompt": "consent"}}' google)"
start_authorize google --no-browser
expect_eq "google: redirect_uri keeps 127.0.0.1 and gets a port" \
    "$(sed -E 's/:[0-9]+\//:P\//' <<<"$redirect")" "http://127.0.0.1:P/"
expect_eq "google: access_type" "$(url_param "$url" access_type)" offline
expect_eq "google: browser gets the success page" "$(browse "$url")" 200
finish_authorize
expect_eq "google: exit status" "$auth_rc" 0
expect_eq "google: client_secret in the body" \
    "$(jq -rs '[.[] | select(.route == "token")][0].form.client_secret' "$fake_log")" "$google_secret"
expect_eq "google: no HTTP Basic" \
    "$(jq -rs '[.[] | select(.route == "token")][0].basic_user' "$fake_log")" null
expect_lacks "google: no secret in the output" "$auth_out$auth_err" "$google_secret"

# ---- Google with a foreign iss ----
start_fake "$(scenario '{"iss": "https://evil.example"}' google)"
start_authorize google --no-browser
expect_eq "wrong iss: page status" "$(browse "$url")" 400
finish_authorize
expect_eq "wrong iss: exit status" "$auth_rc" 76
expect_contains "wrong iss: message" "$auth_err" "https://evil.example"
expect_eq "wrong iss: no token request" "$(token_requests)" 0

# ---- the token endpoint rejects the client secret ----
start_fake "$(scenario)"
start_authorize msconf --no-browser
expect_eq "wrong secret: browser gets the success page" "$(browse "$url")" 200
finish_authorize
expect_eq "wrong secret: exit status" "$auth_rc" 78
expect_contains "wrong secret: AADSTS code quoted" "$auth_err" "AADSTS7000215"
expect_contains "wrong secret: what to do" "$auth_err" "Value, not its Secret ID"
expect_lacks "wrong secret: no secret in the output" "$auth_err" "wrong-secret"

# ---- --manual: the pasted address ----
start_fake "$(scenario)"
mkfifo "$work/paste"
"$MAILTOKEN" authorize ms --manual < "$work/paste" > "$work/out" 2> "$work/err" &
auth_pid=$!
exec 7> "$work/paste"
for _ in $(seq 200); do
    [[ -s "$work/out" && -z "$(tail -c 1 "$work/out")" ]] && break
    sleep 0.05
done
url=$(head -n 1 "$work/out")
redirect=$(url_param "$url" redirect_uri)
refused=0
curl -sS -o /dev/null --max-time 5 "$redirect" 2> /dev/null || refused=$?
expect_eq "manual: nothing listens at the redirect URI" "$refused" 7
location=$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 5 "$url")
expect_contains "manual: the server redirects to the redirect URI" "$location" "$redirect?"
printf '  %s  \n' "$location" >&7
exec 7>&-
finish_authorize
expect_eq "manual: exit status" "$auth_rc" 0
expect_contains "manual: prompt names the redirect URI" "$auth_err" "goes to $redirect"
expect_eq "manual: one token request" "$(token_requests authorization_code)" 1

start_fake "$(scenario)"
rc=0
printf 'http://localhost:1/?code=abc&state=xyz\n' | "$MAILTOKEN" authorize ms --manual \
    > "$work/out" 2> "$work/err" || rc=$?
expect_eq "manual, other address: exit status" "$rc" 65
expect_contains "manual, other address: message" "$(cat "$work/err")" "does not start with the redirect URI"
expect_eq "manual, other address: no token request" "$(token_requests)" 0

# ---- grant = client_credentials needs no sign-in ----
# Live mode has no client credentials grant, so a recorded reply is used.
start_fake '{"routes": {"token": ["microsoft/token-success.json"]}}'
rc=0
"$MAILTOKEN" authorize cc > "$work/out" 2> "$work/err" || rc=$?
expect_eq "client credentials: exit status" "$rc" 0
expect_contains "client credentials: explanation" "$(cat "$work/err")" "needs no authorization"
expect_eq "client credentials: one token request as the check" "$(token_requests client_credentials)" 1
expect_eq "client credentials: nothing on stdout" "$(cat "$work/out")" ""

# ---- usage errors ----
rc=0
"$MAILTOKEN" authorize --device --manual ms > /dev/null 2>&1 || rc=$?
expect_eq "--device with --manual: usage error" "$rc" 64
rc=0
"$MAILTOKEN" authorize --timeout 0 ms > /dev/null 2>&1 || rc=$?
expect_eq "--timeout 0: usage error" "$rc" 64

finish
