#!/bin/bash
# Self-test of tests/tools/fake_as.py: starts it on 127.0.0.1 at
# MAILTOKEN_TEST_PORT_BASE+60 (base 14300 by default), drives every mode
# with curl, and checks the replies and the request log. Exits 1 on the
# first broken precondition and after all checks if any check failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fake_as="$here/fake_as.py"
fixtures=$(cd "$here/../fixtures/provider" && pwd)
python=/usr/bin/python3
port=$(( ${MAILTOKEN_TEST_PORT_BASE:-14300} + 60 ))
base="http://127.0.0.1:$port"

for tool in "$python" curl jq openssl base64 cmp; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "FAIL: required tool '$tool' is missing (Debian packages: python3 curl jq openssl coreutils diffutils)" >&2
        exit 1
    fi
done

work=$(mktemp -d)
server_pid=""
passes=0
failures=0

cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect_eq NAME ACTUAL EXPECTED
expect_eq() {
    if [[ "$2" == "$3" ]]; then
        passes=$((passes + 1))
    else
        fail "$1: expected '$3', got '$2'"
    fi
}

# expect_match NAME ACTUAL EXTENDED-REGEX
expect_match() {
    if [[ "$2" =~ $3 ]]; then
        passes=$((passes + 1))
    else
        fail "$1: '$2' does not match /$3/"
    fi
}

# start_server SCENARIO [EXTRA ARGS...]: starts fake_as, waits for its PID file.
start_server() {
    local scenario=$1
    shift
    rm -f "$work/pid" "$work/log"
    "$python" "$fake_as" --port "$port" --scenario "$scenario" --log "$work/log" \
        --pidfile "$work/pid" "$@" 2>"$work/server.err" &
    server_pid=$!
    local i
    for i in $(seq 1 100); do
        if [[ -s "$work/pid" ]]; then
            break
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "FAIL: fake_as exited at start-up with $scenario:" >&2
            cat "$work/server.err" >&2
            exit 1
        fi
        sleep 0.05
    done
    if [[ ! -s "$work/pid" ]]; then
        echo "FAIL: fake_as wrote no PID file within 5 s" >&2
        exit 1
    fi
    expect_eq "PID file content" "$(cat "$work/pid")" "$server_pid"
}

# stop_server: stops fake_as by the PID from its PID file.
stop_server() {
    local pid
    pid=$(cat "$work/pid")
    kill "$pid"
    wait "$server_pid" || fail "fake_as exited with status $? after SIGTERM"
    server_pid=""
    expect_eq "PID file removed at stop" "$([[ -e "$work/pid" ]] && echo present || echo absent)" absent
}

# request URL [CURL ARGS...]: sets status, curl_rc; body in $work/body, headers in $work/headers.
request() {
    local url=$1
    shift
    curl_rc=0
    rm -f "$work/body" "$work/headers"
    status=$(curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' --max-time 20 \
        "$@" "$url" 2>"$work/curl.err") || curl_rc=$?
}

body_field() {
    jq -r "$1" "$work/body" 2>/dev/null || echo "(not JSON)"
}

header_value() {
    { grep -i "^$1:" "$work/headers" 2>/dev/null || true; } | head -n 1 | cut -d' ' -f2- | tr -d '\r'
}

# log_query JQ-FILTER: runs a filter over the request log slurped as an array.
log_query() {
    jq -r -s "$1" "$work/log"
}

# pkce_challenge VERIFIER: prints the S256 code challenge.
pkce_challenge() {
    printf '%s' "$1" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n'
}

# location_param NAME: a query parameter from the Location header of the last reply.
location_param() {
    header_value Location | sed -n "s/.*[?&]$1=\([^&]*\).*/\1/p"
}

# -------------------------------------------------------------------------
echo "== fixture contents"

required_codes="700082 70008 50173 70043 50076 65001 90094 70000 7000222 7000215 700025 7000218 700016 90002 50011 70011 9002313"
for code in $required_codes; do
    matches=("$fixtures"/microsoft/*-"$code".json)
    if [[ ! -f "${matches[0]}" ]]; then
        fail "no Microsoft fixture for AADSTS$code"
        continue
    fi
    f=${matches[0]}
    expected_status=400
    [[ "$f" == */invalid_client-* ]] && expected_status=401
    expect_eq "$f status" "$(jq -r .status "$f")" "$expected_status"
done

for f in "$fixtures"/microsoft/*.json; do
    name=$(basename "$f" .json)
    if [[ "$(jq -r '.body | has("error")' "$f")" != true ]]; then
        continue
    fi
    verdict=$(jq -r '
        .body as $b
        | ($b.error_codes[0] // null) as $code
        | (if $code then "AADSTS\($code): " else "" end) as $prefix
        | if ($b.trace_id | type) != "string" then "no trace_id"
          elif ($b.correlation_id | type) != "string" then "no correlation_id"
          elif ($b.timestamp | type) != "string" then "no timestamp"
          elif ($b.error_description | startswith($prefix) | not) then "description does not start with \($prefix)"
          elif ($b.error_description | endswith("\r\nTrace ID: \($b.trace_id)\r\nCorrelation ID: \($b.correlation_id)\r\nTimestamp: \($b.timestamp)") | not)
            then "description lacks the trace lines"
          elif $code and $b.error_uri != "https://login.microsoftonline.com/error?code=\($code)" then "wrong error_uri"
          else "ok" end' "$f")
    expect_eq "$name body shape" "$verdict" ok
    if [[ "$name" =~ -([0-9]+)$ ]]; then
        expect_eq "$name error_codes" "$(jq -r '.body.error_codes | tostring' "$f")" "[${BASH_REMATCH[1]}]"
    fi
done
expect_eq "Google invalid_grant text" \
    "$(jq -r .body.error_description "$fixtures/google/invalid_grant-expired-or-revoked.json")" \
    "Token has been expired or revoked."
expect_eq "Google device reply has no interval" \
    "$(jq -r '.body | [has("interval"), has("verification_url"), has("verification_uri")] | tostring' \
        "$fixtures/google/device-code-no-interval.json")" "[false,true,false]"
expect_eq "Google refresh reply has no refresh_token" \
    "$(jq -r '.body | has("refresh_token")' "$fixtures/google/refresh-no-refresh-token.json")" false

# -------------------------------------------------------------------------
echo "== every example scenario and device sequence loads"

for f in "$fixtures"/scenarios/*.json; do
    rc=0
    "$python" "$fake_as" --port "$port" --scenario "$f" --log /dev/null --check \
        2>"$work/check.err" || rc=$?
    expect_eq "--check $(basename "$f")" "$rc" 0
done

# -------------------------------------------------------------------------
echo "== fixture replay"

# Fixtures that only send plain replies; the hostile ones get their own checks.
replayable=()
while IFS= read -r f; do
    rel=${f#"$fixtures"/}
    if [[ "$(jq -r 'has("close") or has("huge") or has("dribble") or has("content_length")' "$f")" == false ]]; then
        replayable+=("$rel")
    fi
done < <(find "$fixtures/microsoft" "$fixtures/google" "$fixtures/quirks" -name '*.json' | sort)
jq -n '{routes: ($ARGS.positional | map({key: ("/f/" + .), value: {replies: [{fixture: .}]}}) | from_entries)}' \
    --args "${replayable[@]}" >"$work/replay.json"
start_server "$work/replay.json"
for rel in "${replayable[@]}"; do
    f="$fixtures/$rel"
    request "$base/f/$rel" -X POST -d grant_type=refresh_token
    expect_eq "$rel status" "$status" "$(jq -r '.status // 200' "$f")"
    expect_eq "$rel Content-Type" "$(header_value Content-Type)" "$(jq -r '.headers["Content-Type"]' "$f")"
    case "$(jq -r 'if has("body_base64") then "base64" else (.body | type) end' "$f")" in
        base64)
            jq -r .body_base64 "$f" | base64 -d >"$work/expected"
            cmp -s "$work/expected" "$work/body" && passes=$((passes + 1)) || fail "$rel body bytes differ"
            ;;
        string)
            jq -j .body "$f" >"$work/expected"
            cmp -s "$work/expected" "$work/body" && passes=$((passes + 1)) || fail "$rel body bytes differ"
            ;;
        *)
            expect_eq "$rel body" "$(jq -S -c . "$work/body" 2>&1)" "$(jq -S -c .body "$f")"
            ;;
    esac
done
request "$base/f/quirks/http429-retry-after.json"
expect_eq "429 Retry-After" "$(header_value Retry-After)" 30
request "$base/f/google/token-success.json" -X POST -d x=1
expect_match "Google body is indented" "$(head -c 40 "$work/body")" $'^\\{\n  "access_token"'
request "$base/f/microsoft/token-success.json" -X POST -d x=1
expect_match "Microsoft body is compact" "$(head -c 40 "$work/body")" '^\{"token_type":"Bearer","scope":'
expect_eq "one log line per replayed request" "$(wc -l <"$work/log")" "$(( ${#replayable[@]} + 3 ))"
stop_server

# -------------------------------------------------------------------------
echo "== device polling sequences"

# poll_sequence FIXTURE POLLS: sets polled to the status and error (or
# "tokens") of each poll.
poll_sequence() {
    printf '{"routes": {"device": ["microsoft/devicecode.json"], "token": {"fixture": "%s"}}}\n' "$1" \
        >"$work/device.json"
    start_server "$work/device.json"
    local i results=()
    for i in $(seq 1 "$2"); do
        request "$base/organizations/oauth2/v2.0/token" \
            -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d device_code=D -d client_id=c
        results+=("$status:$(body_field 'if .access_token then "tokens" else .error end')")
    done
    stop_server
    polled="${results[*]}"
}
poll_sequence device/microsoft-pending-slowdown-pending-success.json 5
expect_eq "Microsoft pending/slow_down/pending/success" "$polled" \
    "400:authorization_pending 400:slow_down 400:authorization_pending 200:tokens 200:tokens"
poll_sequence device/google-pending-slowdown-pending-success.json 4
expect_eq "Google pending/slow_down/pending/success" "$polled" \
    "428:authorization_pending 403:slow_down 428:authorization_pending 200:tokens"
poll_sequence device/google-access_denied.json 3
expect_eq "Google access_denied" "$polled" \
    "428:authorization_pending 403:access_denied 403:access_denied"
poll_sequence device/microsoft-authorization_declined.json 2
expect_eq "Microsoft authorization_declined" "$polled" \
    "400:authorization_pending 400:authorization_declined"
poll_sequence device/microsoft-bad_verification_code.json 1
expect_eq "Microsoft bad_verification_code" "$polled" \
    "400:bad_verification_code"
poll_sequence device/microsoft-expired_token.json 2
expect_eq "Microsoft expired_token" "$polled" \
    "400:authorization_pending 400:expired_token"
poll_sequence device/google-expired_token.json 2
expect_eq "Google expired_token" "$polled" \
    "428:authorization_pending 400:expired_token"

# -------------------------------------------------------------------------
echo "== scripted sequences and hostile replies"

cat >"$work/scripted.json" <<'EOF'
{
  "live": {"style": "microsoft", "refresh_tokens": ["RT-seed"]},
  "routes": {
    "/seq/repeat": [{"status": 201, "body": "a"}, {"status": 202, "body": "b"}],
    "/seq/default": {"replies": [{"status": 201, "body": "a"}], "then": "default",
                     "default": {"status": 418, "body": "d"}},
    "/seq/cycle": {"replies": [{"status": 201, "body": "a"}, {"status": 202, "body": "b"}], "then": "cycle"},
    "/parallel": [{"body": "0"}, {"body": "1"}, {"body": "2"}, {"body": "3"}, {"body": "4"}],
    "token": {"replies": ["quirks/http503.json", {"live": true}], "then": "live"},
    "/hostile/delay": [{"body": "late", "delay": 2}],
    "/hostile/short-delay": [{"body": "ok", "delay": 0.5}],
    "/hostile/dribble": [{"body": "12345", "dribble": 0.2}],
    "/hostile/huge": [{"body": {"access_token": "AT"}, "huge": 5242880}],
    "/hostile/huge-fixture": ["quirks/huge-body.json"],
    "/hostile/no-length": [{"body": "until-close", "content_length": null}],
    "/hostile/truncated": ["quirks/truncated-transfer.json"],
    "/hostile/close": ["quirks/close-without-reply.json"],
    "/hostile/reset": ["quirks/reset-connection.json"],
    "/hostile/slow": ["quirks/slow-dribble.json"]
  }
}
EOF
start_server "$work/scripted.json"
statuses=()
for i in 1 2 3; do request "$base/seq/repeat"; statuses+=("$status"); done
expect_eq "then repeat_last" "${statuses[*]}" "201 202 202"
statuses=()
for i in 1 2 3; do request "$base/seq/default"; statuses+=("$status"); done
expect_eq "then default" "${statuses[*]}" "201 418 418"
statuses=()
for i in 1 2 3 4 5; do request "$base/seq/cycle"; statuses+=("$status"); done
expect_eq "then cycle" "${statuses[*]}" "201 202 201 202 201"

for i in 1 2 3 4 5; do
    curl -sS -o "$work/parallel.$i" "$base/parallel" &
done
wait_failed=0
for job in $(jobs -p); do
    [[ "$job" == "$server_pid" ]] && continue
    wait "$job" || wait_failed=1
done
expect_eq "parallel requests succeeded" "$wait_failed" 0
expect_eq "parallel requests took distinct positions" \
    "$(cat "$work"/parallel.* | fold -w1 | sort | tr -d '\n')" "01234"
expect_eq "positions in the log" \
    "$(log_query '[.[] | select(.route == "/parallel") | .position] | sort | tostring')" "[0,1,2,3,4]"

request "$base/contoso.onmicrosoft.com/oauth2/v2.0/token" -d grant_type=refresh_token -d refresh_token=RT-seed -d client_id=app
expect_eq "token step 0 is the 503 fixture" "$status" 503
request "$base/token" -d grant_type=refresh_token -d refresh_token=RT-seed -d client_id=app
expect_eq "token step 1 hands over to live (Google path)" "$status" 200
expect_eq "live refresh rotates" "$(body_field '.refresh_token | length > 0')" true
request "$base/common/oauth2/v2.0/token" -d grant_type=refresh_token -d refresh_token=RT-seed -d client_id=app
expect_eq "then live: non-strict rotation keeps the old token valid" "$status" 200
expect_eq "log labels of the token route" \
    "$(log_query '[.[] | select(.route == "token") | "\(.position):\(.reply)"] | join(" ")')" \
    "0:fixture:quirks/http503.json 1:live:refresh_grant 2:live:refresh_grant"

request "$base/hostile/delay" --max-time 1
expect_eq "delay beyond the client timeout" "$curl_rc" 28
request "$base/hostile/short-delay" -w '%{http_code} %{time_total}'
expect_match "short delay took at least 0.5 s" "$status" '^200 (0\.[5-9]|[1-9])'
request "$base/hostile/dribble" -w '%{http_code} %{time_total}'
expect_match "dribble took at least 0.8 s" "$status" '^200 (0\.[89]|[1-9])'
expect_eq "dribbled body intact" "$(cat "$work/body")" 12345
request "$base/hostile/huge"
expect_eq "huge body size" "$(wc -c <"$work/body")" 5242880
expect_eq "huge body is still JSON" "$(body_field .access_token)" AT
request "$base/hostile/huge-fixture"
expect_eq "huge-body fixture size" "$(wc -c <"$work/body")" 16777216
request "$base/hostile/no-length"
expect_eq "reply without Content-Length" "$status:$(cat "$work/body"):$(header_value Content-Length)" "200:until-close:"
request "$base/hostile/truncated"
expect_eq "truncated transfer (curl: partial file)" "$curl_rc" 18
request "$base/hostile/close"
expect_eq "close without reply (curl: empty reply)" "$curl_rc" 52
request "$base/hostile/reset"
expect_eq "connection reset (curl: receive error)" "$curl_rc" 56
request "$base/hostile/slow" --max-time 2
expect_eq "slow dribble hits the client timeout" "$curl_rc" 28
expect_eq "log status of a closed connection" \
    "$(log_query '[.[] | select(.path == "/hostile/close")][0].status')" null
request "$base/no/such/thing"
expect_eq "unknown route" "$status" 404

# A second instance on the same port must fail to start, not steal the port.
rc=0
"$python" "$fake_as" --port "$port" --scenario "$work/scripted.json" --log "$work/log2" \
    2>"$work/second.err" || rc=$?
expect_eq "second instance on a busy port exits 1" "$rc" 1
expect_match "busy port message" "$(cat "$work/second.err")" "failed to listen on 127\.0\.0\.1:$port"
stop_server
request "$base/seq/repeat"
expect_eq "port closed after stop (curl: connection refused)" "$curl_rc" 7

# -------------------------------------------------------------------------
echo "== live Microsoft: code + PKCE, client checks, strict rotation, tokeninfo"

cat >"$work/ms.json" <<'EOF'
{
  "live": {
    "style": "microsoft",
    "access_token_length": 3000,
    "strict_rotation": true,
    "require_pkce": true,
    "clients": {
      "pubapp": {"secret": null, "redirect_uris": ["http://localhost/"]},
      "confapp": {"secret": "s3cret", "redirect_uris": ["http://localhost/cb"]},
      "oldapp": {"secret": "old", "secret_expired": true}
    }
  }
}
EOF
start_server "$work/ms.json"
ms="$base/common/oauth2/v2.0"
scope="offline_access https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send"
verifier=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
challenge=$(pkce_challenge "$verifier")
token_requests=0

request "$ms/authorize" -G --data-urlencode response_type=code --data-urlencode client_id=pubapp \
    --data-urlencode redirect_uri=http://localhost:53682/ --data-urlencode "scope=$scope" \
    --data-urlencode state=st-123 --data-urlencode code_challenge="$challenge" \
    --data-urlencode code_challenge_method=S256
expect_eq "authorize redirects" "$status" 302
expect_match "redirect target (loopback, any port)" "$(header_value Location)" '^http://localhost:53682/\?code='
expect_eq "state returned" "$(location_param state)" st-123
code=$(location_param code)

request "$ms/authorize" -G --data-urlencode response_type=code --data-urlencode client_id=pubapp \
    --data-urlencode redirect_uri=http://evil.example/ --data-urlencode state=s
expect_eq "unregistered redirect_uri: no redirect" "$status:$(header_value Location)" "400:"
request "$ms/authorize" -G --data-urlencode response_type=code --data-urlencode client_id=pubapp \
    --data-urlencode redirect_uri=http://localhost:1234/ --data-urlencode state=s2
expect_eq "PKCE required: error redirect" "$(location_param error):$(location_param state)" "invalid_request:s2"

request "$ms/token" -d client_id=pubapp -d grant_type=authorization_code --data-urlencode "code=$code" \
    --data-urlencode redirect_uri=http://localhost:53682/ -d code_verifier=wrong-verifier-wrong-verifier-wrong-verifier
token_requests=$((token_requests + 1))
expect_eq "wrong code_verifier" "$status $(body_field '.error_codes[0]')" "400 501481"
request "$ms/token" -d client_id=pubapp -d grant_type=authorization_code --data-urlencode "code=$code" \
    --data-urlencode redirect_uri=http://localhost:9999/ --data-urlencode "code_verifier=$verifier"
token_requests=$((token_requests + 1))
expect_eq "redirect_uri differs from the authorize request" "$status $(body_field .error)" "400 invalid_grant"
request "$ms/token" -d client_id=pubapp -d grant_type=authorization_code --data-urlencode "code=$code" \
    --data-urlencode redirect_uri=http://localhost:53682/ --data-urlencode "code_verifier=$verifier"
token_requests=$((token_requests + 1))
expect_eq "code redeemed" "$status" 200
expect_eq "3000-character access token" "$(body_field '.access_token | length')" 3000
expect_eq "expires_in is a number" "$(body_field '.expires_in | type'):$(body_field .ext_expires_in)" "number:3599"
expect_eq "scope without offline_access" "$(body_field .scope)" \
    "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send"
rt1=$(body_field .refresh_token)
expect_match "refresh token issued" "$rt1" '^[A-Za-z0-9_-]{120}$'
request "$ms/token" -d client_id=pubapp -d grant_type=authorization_code --data-urlencode "code=$code" \
    --data-urlencode redirect_uri=http://localhost:53682/ --data-urlencode "code_verifier=$verifier"
token_requests=$((token_requests + 1))
expect_eq "code reuse" "$status $(body_field '.error_codes[0]')" "400 54005"

request "$ms/token" -d client_id=pubapp -d client_secret=x -d grant_type=refresh_token --data-urlencode "refresh_token=$rt1"
token_requests=$((token_requests + 1))
expect_eq "public client sent a secret" "$status $(body_field .error) $(body_field '.error_codes[0]')" "401 invalid_client 700025"
request "$ms/token" -d client_id=confapp -d grant_type=refresh_token -d refresh_token=x
token_requests=$((token_requests + 1))
expect_eq "confidential client without secret" "$status $(body_field '.error_codes[0]')" "401 7000218"
request "$ms/token" -u confapp:wrong -d grant_type=refresh_token -d refresh_token=x
token_requests=$((token_requests + 1))
expect_eq "wrong secret in HTTP Basic" "$status $(body_field '.error_codes[0]')" "401 7000215"
request "$ms/token" -u oldapp:old -d grant_type=refresh_token -d refresh_token=x
token_requests=$((token_requests + 1))
expect_eq "expired secret" "$status $(body_field '.error_codes[0]')" "401 7000222"
request "$ms/token" -d client_id=nosuchapp -d grant_type=refresh_token -d refresh_token=x
token_requests=$((token_requests + 1))
expect_eq "unknown client" "$status $(body_field .error) $(body_field '.error_codes[0]')" "400 unauthorized_client 700016"

request "$ms/authorize" -G --data-urlencode response_type=code --data-urlencode client_id=confapp \
    --data-urlencode redirect_uri=http://localhost/cb --data-urlencode scope=offline_access \
    --data-urlencode state=c --data-urlencode code_challenge="$challenge" --data-urlencode code_challenge_method=S256
request "$ms/token" -u confapp:s3cret -d grant_type=authorization_code --data-urlencode "code=$(location_param code)" \
    --data-urlencode redirect_uri=http://localhost/cb --data-urlencode "code_verifier=$verifier"
token_requests=$((token_requests + 1))
expect_eq "confidential client with HTTP Basic" "$status" 200

request "$ms/token" -d client_id=pubapp -d grant_type=refresh_token --data-urlencode "refresh_token=$rt1"
token_requests=$((token_requests + 1))
expect_eq "refresh" "$status" 200
rt2=$(body_field .refresh_token)
at2=$(body_field .access_token)
expect_eq "refresh token rotated" "$([[ -n "$rt2" && "$rt2" != "$rt1" ]] && echo rotated || echo same)" rotated
request "$ms/token" -d client_id=pubapp -d grant_type=refresh_token --data-urlencode "refresh_token=$rt1"
token_requests=$((token_requests + 1))
expect_eq "strict rotation: reuse is rejected" "$status $(body_field .error) $(body_field '.error_codes[0]')" \
    "400 invalid_grant 70008"
expect_match "reuse error carries trace ids" "$(body_field '.trace_id + " " + .correlation_id')" \
    '^[0-9a-f-]{36} [0-9a-f-]{36}$'
request "$ms/token" -d client_id=pubapp -d grant_type=refresh_token --data-urlencode "refresh_token=$rt2"
token_requests=$((token_requests + 1))
expect_eq "the new refresh token works" "$status" 200
rt3=$(body_field .refresh_token)
request "$ms/token" -d client_id=pubapp -d grant_type=password -d username=a
token_requests=$((token_requests + 1))
expect_eq "unsupported grant type" "$status $(body_field .error)" "400 unsupported_grant_type"
request "$ms/token" -d client_id=pubapp -d grant_type=refresh_token -d refresh_token=a -d refresh_token=b
token_requests=$((token_requests + 1))
expect_eq "repeated parameter" "$status $(body_field .error)" "400 invalid_request"
request "$ms/token"
token_requests=$((token_requests + 1))
expect_eq "GET on the token endpoint" "$status" 405

request "$base/tokeninfo?access_token=$at2"
expect_eq "tokeninfo by query" "$status $(body_field .email) $(body_field .active)" "200 alice@example.test true"
request "$base/tokeninfo" -H "Authorization: Bearer $at2"
expect_eq "tokeninfo by Bearer header" "$status $(body_field .email)" "200 alice@example.test"
request "$base/tokeninfo?access_token=not-a-token"
expect_eq "tokeninfo unknown token" "$status" 401
request "$base/_fake/revoke" -d "token=$at2"
expect_eq "control revoke" "$status $(body_field .revoked)" "200 1"
request "$base/tokeninfo?access_token=$at2"
expect_eq "tokeninfo revoked token" "$status" 401
request "$base/_fake/revoke" -d all=1 -d kind=refresh
request "$ms/token" -d client_id=pubapp -d grant_type=refresh_token --data-urlencode "refresh_token=$rt3"
token_requests=$((token_requests + 1))
expect_eq "refresh after revoking all refresh tokens" "$status $(body_field .error)" "400 invalid_grant"

request "$base/_fake/state"
expect_eq "issued access tokens counter" "$(body_field .access_tokens_issued)" 4
# The request with a repeated parameter is rejected before grant handling.
expect_eq "refresh grants counter" "$(body_field '.grants.refresh_token')" 9
expect_eq "token requests counted by the server" "$(body_field .requests.token)" "$token_requests"

expect_eq "token requests in the log" "$(log_query '[.[] | select(.route == "token")] | length')" "$token_requests"
expect_eq "public client sent no client_secret in the code grant" \
    "$(log_query '[.[] | select(.route == "token" and .status == 200 and .form.grant_type == "authorization_code" and .form.client_id == "pubapp")][0].form | has("client_secret")')" false
expect_eq "token redirect_uri equals the authorize one" \
    "$(log_query '([.[] | select(.route == "authorize")][0].query.redirect_uri) == ([.[] | select(.route == "token" and .status == 200)][0].form.redirect_uri)')" true
expect_eq "refresh_token grants in the log" \
    "$(log_query '[.[] | select(.route == "token" and .form.grant_type == "refresh_token")] | length')" 10
expect_eq "HTTP Basic user logged" \
    "$(log_query '[.[] | select(.route == "token" and .status == 200 and .basic_user != null)][0].basic_user')" confapp
expect_eq "repeated form parameter logged as a list" \
    "$(log_query '[.[] | select(.form.refresh_token | type == "array")][0].form.refresh_token | tostring')" '["a","b"]'
expect_eq "every log line has the documented fields" \
    "$(log_query 'map(has("seq") and has("time") and has("epoch") and has("method") and has("path") and has("query") and has("headers") and has("basic_user") and has("route") and has("status") and has("reply")) | all')" true
stop_server

# -------------------------------------------------------------------------
echo "== live Google: offline access, no rotation, device flow"

cat >"$work/google.json" <<'EOF'
{
  "live": {
    "style": "google",
    "access_token_length": 800,
    "clients": {"gclient": {"secret": "gsecret", "redirect_uris": ["http://127.0.0.1/"]}},
    "authorize": {"iss": "https://accounts.google.com",
                  "extra_params": {"authuser": "0", "prompt": "consent"}},
    "device": {"polls": ["authorization_pending", "slow_down", "approve"]}
  }
}
EOF
start_server "$work/google.json"
request "$base/o/oauth2/v2/auth" -G --data-urlencode response_type=code --data-urlencode client_id=gclient \
    --data-urlencode redirect_uri=http://127.0.0.1:40123/ --data-urlencode scope=https://mail.google.com/ \
    --data-urlencode state=g1
expect_eq "Google redirect carries iss" "$(location_param iss)" "https%3A%2F%2Faccounts.google.com"
expect_eq "Google redirect carries extras" "$(location_param authuser):$(location_param prompt)" "0:consent"
request "$base/token" -d client_id=gclient -d client_secret=gsecret -d grant_type=authorization_code \
    --data-urlencode "code=$(location_param code)" --data-urlencode redirect_uri=http://127.0.0.1:40123/
expect_eq "code grant without access_type=offline" "$status $(body_field 'has("refresh_token")')" "200 false"
expect_match "800-character ya29. token" "$(body_field '.access_token | "\(length) \(.[0:5])"')" '^800 ya29\.$'

request "$base/o/oauth2/v2/auth" -G --data-urlencode response_type=code --data-urlencode client_id=gclient \
    --data-urlencode redirect_uri=http://127.0.0.1:40123/ --data-urlencode scope=https://mail.google.com/ \
    --data-urlencode access_type=offline --data-urlencode state=g2
request "$base/token" -d client_id=gclient -d client_secret=gsecret -d grant_type=authorization_code \
    --data-urlencode "code=$(location_param code)" --data-urlencode redirect_uri=http://127.0.0.1:40123/
expect_eq "code grant with access_type=offline" "$status $(body_field 'has("refresh_token")')" "200 true"
grt=$(body_field .refresh_token)
for i in 1 2; do
    request "$base/token" -d client_id=gclient -d client_secret=gsecret -d grant_type=refresh_token \
        --data-urlencode "refresh_token=$grt"
    expect_eq "Google refresh $i: no refresh_token, old one still valid" \
        "$status $(body_field 'has("refresh_token")') $(body_field .expires_in)" "200 false 3599"
done
request "$base/token" -d client_id=gclient -d client_secret=gsecret -d grant_type=refresh_token -d refresh_token=bogus
expect_eq "Google invalid_grant" "$status $(body_field .error_description)" "400 Token has been expired or revoked."
request "$base/token" -d client_id=gclient -d client_secret=nope -d grant_type=refresh_token -d refresh_token=bogus
expect_eq "Google wrong secret" "$status $(body_field .error)" "401 invalid_client"

request "$base/device/code" -d client_id=gclient -d client_secret=gsecret --data-urlencode scope=https://mail.google.com/
expect_eq "Gmail scope rejected in the device flow" "$status $(body_field .error_description)" \
    "400 Invalid device flow scope: https://mail.google.com/"
request "$base/device/code" -d client_id=gclient -d client_secret=gsecret -d scope=email
expect_eq "Google device reply" "$status $(body_field .verification_url) $(body_field .interval)" \
    "200 https://www.google.com/device 5"
expect_match "Google user code" "$(body_field .user_code)" '^[A-Z]{4}-[A-Z]{4}$'
device_code=$(body_field .device_code)
polls=()
for i in 1 2 3 4; do
    request "$base/token" -d client_id=gclient -d client_secret=gsecret \
        -d grant_type=urn:ietf:params:oauth:grant-type:device_code --data-urlencode "device_code=$device_code"
    polls+=("$status:$(body_field 'if .access_token then "tokens" else .error end')")
done
expect_eq "Google live device polling" "${polls[*]}" \
    "428:authorization_pending 403:slow_down 200:tokens 400:invalid_grant"
stop_server

# -------------------------------------------------------------------------
echo "== live Microsoft device flow, string expires_in, token expiry"

cat >"$work/msdevice.json" <<'EOF'
{
  "live": {
    "expires_in": 1,
    "expires_in_string": true,
    "refresh_tokens": ["RT-seed"],
    "device": {"interval": null, "enforce_interval": true,
               "polls": ["authorization_pending", "approve"]}
  }
}
EOF
start_server "$work/msdevice.json"
request "$base/common/oauth2/v2.0/devicecode" -d client_id=app --data-urlencode "scope=$scope"
expect_eq "Microsoft device reply" \
    "$status $(body_field .verification_uri) $(body_field 'has("interval")') $(body_field 'has("message")')" \
    "200 https://microsoft.com/devicelogin false true"
device_code=$(body_field .device_code)
request "$base/common/oauth2/v2.0/token" -d client_id=app \
    -d grant_type=urn:ietf:params:oauth:grant-type:device_code --data-urlencode "device_code=$device_code"
expect_eq "first poll" "$status $(body_field '.error_codes[0]')" "400 70016"
request "$base/common/oauth2/v2.0/token" -d client_id=app \
    -d grant_type=urn:ietf:params:oauth:grant-type:device_code --data-urlencode "device_code=$device_code"
expect_eq "poll faster than the interval" "$status $(body_field .error)" "400 slow_down"

request "$base/common/oauth2/v2.0/token" -d client_id=app -d grant_type=refresh_token -d refresh_token=RT-seed
expect_eq "expires_in as a string" "$(body_field '.expires_in | type'):$(body_field .expires_in)" "string:1"
expect_eq "default access token length" "$(body_field '.access_token | length')" 485
short_at=$(body_field .access_token)
request "$base/tokeninfo?access_token=$short_at"
expect_eq "tokeninfo before expiry" "$status" 200
sleep 1.2
request "$base/tokeninfo?access_token=$short_at"
expect_eq "tokeninfo after expiry" "$status" 401
stop_server

# -------------------------------------------------------------------------
echo "== TLS"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$work/tls.key" -out "$work/tls.crt" 2>"$work/openssl.err" \
    || { cat "$work/openssl.err" >&2; fail "openssl could not make a test certificate"; }
start_server "$work/msdevice.json" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key"
request "https://127.0.0.1:$port/tokeninfo?access_token=x" --cacert "$work/tls.crt"
expect_eq "HTTPS with a verified certificate" "$status" 401
request "https://127.0.0.1:$port/tokeninfo?access_token=x"
expect_eq "HTTPS without the CA fails verification" "$curl_rc" 60
expect_eq "log marks TLS" "$(log_query '.[0].tls')" true
stop_server

# -------------------------------------------------------------------------
echo "== invalid scenarios are rejected"

# expect_invalid NAME JSON MESSAGE-REGEX
expect_invalid() {
    printf '%s\n' "$2" >"$work/bad.json"
    local rc=0
    "$python" "$fake_as" --port "$port" --scenario "$work/bad.json" --log "$work/bad.log" \
        2>"$work/bad.err" || rc=$?
    expect_eq "$1: exit status" "$rc" 2
    expect_match "$1: message" "$(cat "$work/bad.err")" "$3"
}
expect_invalid "unknown reply key" '{"routes": {"token": [{"stauts": 200}]}}' "unknown key\(s\) stauts"
expect_invalid "missing fixture" '{"routes": {"token": ["nope/missing.json"]}}' "fixture 'nope/missing.json' not found"
expect_invalid "then default without default" '{"routes": {"token": {"replies": [{}], "then": "default"}}}' \
    "no 'default' reply"
expect_invalid "live step without live section" '{"routes": {"token": [{"live": true}]}}' "needs a 'live' section"
expect_invalid "Google style with rotation left on omit" '{"live": {"style": "google", "rotate_refresh_token": true}}' \
    "both true"
expect_invalid "unknown device step" '{"live": {"device": {"polls": ["approved"]}}}' "'polls' must be"
expect_invalid "not JSON" '{"routes": ' "not valid JSON"

echo "fake_as self-test: $passes checks passed, $failures failed"
if (( failures > 0 )); then
    exit 1
fi
