#!/bin/bash
# Microsoft's replies to a bad client assertion, played by the scripted
# endpoint (tests/tools/fake_as.py) for an app-only account with a
# certificate in the US Government cloud. AADSTS700027 (signature not
# verified) and AADSTS700024 (outside its time range) give exit code 78
# and a message that names the fix. status shows the error, and the next
# success clears it. The assertions the endpoint received are checked here
# with openssl and jq, independently of mailtoken: header, thumbprints,
# claims and the PS256 signature.
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
. "$(dirname "$0")/apponly-lib.sh"
test_require_tools curl:curl jq:jq openssl:openssl /usr/bin/python3:python3

client_id=11111111-2222-3333-4444-555555555555
port=$STACK_SCRIPTED_PORT
token_endpoint=http://127.0.0.1:$port/contoso.onmicrosoft.com/oauth2/v2.0/token
log=$TEST_TMP/fake_as.log
fake_pid=''

stop_fake_as() {
    if [ -n "$fake_pid" ]; then
        kill "$fake_pid" 2>/dev/null || true
        wait "$fake_pid" 2>/dev/null || true
    fi
}
trap 'status=$?; stop_fake_as; _test_cleanup; exit "$status"' EXIT

apponly_make_certificate app 400 || test_fail "openssl could not make the app's certificate"
cat >"$TEST_TMP/scenario.json" <<'EOF'
{
  "routes": {
    "token": {"replies": ["microsoft/invalid_client-700027.json",
                          "microsoft/invalid_client-700024.json",
                          "microsoft/token-success.json"]}
  }
}
EOF
/usr/bin/python3 "$MAILTOKEN_SOURCE_DIR/tests/tools/fake_as.py" --port "$port" \
    --scenario "$TEST_TMP/scenario.json" --log "$log" --pidfile "$TEST_TMP/fake_as.pid" \
    --fixtures "$MAILTOKEN_SOURCE_DIR/tests/fixtures/provider" 2>"$TEST_TMP/fake_as.err" &
fake_pid=$!
for _ in $(seq 50); do
    [ -s "$TEST_TMP/fake_as.pid" ] && break
    sleep 0.1
done
[ -s "$TEST_TMP/fake_as.pid" ] || test_fail "the scripted endpoint did not start: $(cat "$TEST_TMP/fake_as.err")"

config=$TEST_TMP/mailtoken.conf
cat >"$config" <<EOF
[defaults]
store = $TEST_TMP/store

[gov-relay]
provider = microsoft
cloud = usgov
tenant = contoso.onmicrosoft.com
client_id = $client_id
grant = client_credentials
client_certificate = $TEST_TMP/app.crt
client_key = $TEST_TMP/app.key
token_endpoint = $token_endpoint
mailbox = relay@contoso.example
EOF
mt() { "$MAILTOKEN" --config "$config" "$@"; }

# ---- AADSTS700027 ----
rc=0
mt token gov-relay >/dev/null 2>"$TEST_TMP/err" || rc=$?
err=$(cat "$TEST_TMP/err")
test_equal "AADSTS700027: exit code 78 (configuration)" "$rc" 78
test_match "AADSTS700027: the code and its meaning" "$err" \
    "gov-relay: refreshing the access token failed: AADSTS700027 \(invalid_client\): the client assertion's signature could not be verified"
test_match "AADSTS700027: the fix names the certificate to upload" "$err" \
    "To fix: upload the certificate in client_certificate of gov-relay to the app registration"
test_match "AADSTS700027: trace and correlation IDs" "$err" \
    'trace ID 5e1f0020-1c2d-4e5f-8a9b-0c1d2e3f4a00, correlation ID c0aa0020-'
rc=0
status_out=$(mt status gov-relay) || rc=$?
test_match "status after AADSTS700027 shows the error" "$status_out" "^gov-relay +relay@contoso.example +microsoft +error "
test_match "status repeats the last error" "$status_out" "gov-relay: error: .*AADSTS700027"

# ---- AADSTS700024 ----
rc=0
mt token gov-relay >/dev/null 2>"$TEST_TMP/err" || rc=$?
err=$(cat "$TEST_TMP/err")
test_equal "AADSTS700024: exit code 78 (configuration)" "$rc" 78
test_match "AADSTS700024: the code and its meaning" "$err" \
    "AADSTS700024 \(invalid_client\): the client assertion is not within its valid time range, so this computer's clock is probably wrong"
test_match "AADSTS700024: the fix names the clock" "$err" "To fix: set the system clock .*timedatectl set-ntp true"

# ---- then a success clears the error ----
token=$(mt token gov-relay 2>"$TEST_TMP/err") || test_fail "the third request failed: $(cat "$TEST_TMP/err")"
test_equal "the scripted token arrives" "$token" EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA
rc=0
status_out=$(mt status gov-relay) || rc=$?
test_equal "status exits 0 again" "$rc" 0
test_match "status shows the account as authorized again" "$status_out" "^gov-relay .* authorized "

# ---- what the endpoint received ----
test_equal "three token requests" "$(jq -s '[.[] | select(.route == "token")] | length' "$log")" 3
for i in 0 1 2; do
    request=$(jq -sc "[.[] | select(.route == \"token\")][$i]" "$log")
    test_equal "request $i: client credentials grant" "$(jq -r .form.grant_type <<<"$request")" client_credentials
    test_equal "request $i: the cloud's app-only scope" "$(jq -r .form.scope <<<"$request")" \
        https://outlook.office365.us/.default
    test_equal "request $i: client_id" "$(jq -r .form.client_id <<<"$request")" "$client_id"
    test_equal "request $i: client_assertion_type" "$(jq -r .form.client_assertion_type <<<"$request")" \
        urn:ietf:params:oauth:client-assertion-type:jwt-bearer
    test_equal "request $i: no client secret, no HTTP Basic" \
        "$(jq -r '[(.form | has("client_secret")), .basic_user] | tostring' <<<"$request")" '[false,null]'
done

assertion=$(jq -sr '[.[] | select(.route == "token")][0].form.client_assertion' "$log")
epoch=$(jq -sr '[.[] | select(.route == "token")][0].epoch | floor' "$log")
header=$(apponly_jwt_part "$assertion" 1)
claims=$(apponly_jwt_part "$assertion" 2)
test_equal "assertion header: alg and typ (PS256 is Microsoft's default)" \
    "$(jq -c '[.alg, .typ]' <<<"$header")" '["PS256","JWT"]'
# "sha1 Fingerprint=AB:CD:..." to bytes, then base64url.
sha1=$(openssl x509 -in "$TEST_TMP/app.crt" -noout -fingerprint -sha1 | cut -d= -f2 | tr -d : |
    sed 's/../\\x&/g' | { read -r escaped; printf "$escaped"; } | apponly_base64url)
test_equal "assertion header: x5t is the certificate's SHA-1 thumbprint" "$(jq -r .x5t <<<"$header")" "$sha1"
test_equal "assertion header: x5t#S256 is its SHA-256 thumbprint" "$(jq -r '."x5t#S256"' <<<"$header")" \
    "$(apponly_thumbprint "$TEST_TMP/app.crt" sha256)"
test_equal "assertion claims: aud is the token endpoint" "$(jq -r .aud <<<"$claims")" "$token_endpoint"
test_equal "assertion claims: iss and sub are the client ID" "$(jq -c '[.iss, .sub]' <<<"$claims")" \
    "[\"$client_id\",\"$client_id\"]"
test_equal "assertion claims: 5 minutes from nbf to exp, iat = nbf" \
    "$(jq -c '[.exp - .nbf, .iat - .nbf]' <<<"$claims")" '[300,0]'
test_match "assertion claims: nbf is the time of the request" \
    "$(jq -r ".nbf - $epoch | fabs < 60" <<<"$claims")" '^true$'
jtis=$(for i in 0 1 2; do
    apponly_jwt_part "$(jq -sr "[.[] | select(.route == \"token\")][$i].form.client_assertion" "$log")" 2 |
        jq -r .jti
done | sort -u | wc -l)
test_equal "three requests, three jti values" "$jtis" 3

openssl x509 -in "$TEST_TMP/app.crt" -noout -pubkey >"$TEST_TMP/app.pub"
printf '%s' "${assertion%.*}" >"$TEST_TMP/signed"
cut -d. -f3 <<<"$assertion" | tr '_-' '/+' | { read -r s; while [ $((${#s} % 4)) != 0 ]; do s+='='; done; printf '%s' "$s"; } |
    base64 -d >"$TEST_TMP/signature"
if ! openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
    -verify "$TEST_TMP/app.pub" -signature "$TEST_TMP/signature" "$TEST_TMP/signed" >/dev/null; then
    test_fail "the PS256 signature does not verify with the certificate's public key"
fi
test_pass "the PS256 signature verifies with the certificate's public key"
printf 'x' >>"$TEST_TMP/signed"
if openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
    -verify "$TEST_TMP/app.pub" -signature "$TEST_TMP/signature" "$TEST_TMP/signed" >/dev/null 2>&1; then
    test_fail "openssl accepted the signature over changed input"
fi
test_pass "the same check rejects changed input"

test_done
