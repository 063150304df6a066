#!/bin/bash
# Dovecot's optional fourth passdb (stack_dovecot_restart
# --scripted-tokeninfo): tokens that a scripted endpoint on <base+60>
# vouches for log in, tokens it rejects with 401 do not, and glewlwyd's
# tokens keep working. A small Python stand-in plays the endpoint.
# Restarts Dovecot twice, so it runs alone (ctest RUN_SERIAL).
set -euo pipefail
. "$(dirname "$0")/lib/testlib.sh"
test_require_tools curl:curl jq:jq /usr/bin/python3:python3

good_token="scripted-$(openssl rand -hex 16)"
endpoint_pid=''

restore() {
    if [ -n "$endpoint_pid" ]; then
        kill "$endpoint_pid" 2>/dev/null || true
        wait "$endpoint_pid" 2>/dev/null || true
    fi
    if ! stack_dovecot_restart; then
        echo "FAIL: $TEST_NAME: could not restart Dovecot without the scripted passdb" >&2
        return 1
    fi
}
trap 'status=$?; restore || status=1; _test_cleanup; exit "$status"' EXIT

/usr/bin/python3 - "$STACK_SCRIPTED_PORT" "$good_token" "$STACK_ALICE_EMAIL" <<'PY' &
import http.server, json, sys, urllib.parse
port, good, email = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class Endpoint(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        ok = query.get("access_token", [""])[0] == good
        body = json.dumps({"email": email} if ok else {"error": "invalid_token"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Endpoint).serve_forever()
PY
endpoint_pid=$!
_stack_wait_port "$STACK_SCRIPTED_PORT" 5 "scripted endpoint stand-in" || test_fail "the stand-in endpoint did not start"

stack_dovecot_restart --scripted-tokeninfo || test_fail "Dovecot did not restart with the scripted passdb"
test_equal "stack.env records the scripted passdb URL" \
    "$(. "$STACK_ENV_FILE" && echo "$STACK_SCRIPTED_TOKENINFO")" "$STACK_SCRIPTED_TOKENINFO_URL"

imaps_login() {
    curl -sS -v --max-time 20 --cacert "$STACK_CA_FILE" "imaps://$STACK_MAIL_HOST:$STACK_IMAPS_PORT/" \
        -u "$1:" --oauth2-bearer "$2" -X 'EXAMINE INBOX' 2>&1
}

imaps_login "$STACK_ALICE_USER" "$good_token" >/dev/null || test_fail "Dovecot rejected the scripted endpoint's token"
test_pass "token accepted by the scripted endpoint logs in"

if out=$(imaps_login "$STACK_ALICE_USER" "scripted-bad-token"); then
    test_fail "Dovecot accepted a token the scripted endpoint rejects"
fi
test_match "token rejected by the scripted endpoint fails authentication" "$out" 'NO \[AUTHENTICATIONFAILED\]'

if imaps_login "$STACK_BOB_USER" "$good_token" >/dev/null; then
    test_fail "Dovecot accepted alice's scripted token for bob"
fi
test_pass "scripted token is bound to its user"

token=$(stack_access_token "$STACK_PUB_CLIENT_ID" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD") ||
    test_fail "could not get a token from glewlwyd"
imaps_login "$STACK_ALICE_USER" "$token" >/dev/null || test_fail "glewlwyd token rejected with the scripted passdb on"
test_pass "glewlwyd tokens still log in"

test_done
