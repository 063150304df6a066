# shellcheck shell=bash
# Shared parts of the test_apponly_*.sh scripts: a stand-in for Exchange's
# mailbox permissions behind Dovecot, logins through the SASL plugin with
# imtest, and glewlwyd's admin API. Source after lib/testlib.sh.
#
# glewlwyd's tokens from the client credentials grant name no user, so
# none of Dovecot's usual passdbs accepts them. Exchange Online accepts
# such a token for the mailboxes that the app's service principal was
# given access to (Add-MailboxPermission). The stand-in plays that part as
# the scripted tokeninfo endpoint (passdb 4, stack_dovecot_restart
# --scripted-tokeninfo). It requests glewlwyd's introspection of the
# token, then replies with
#   - a user's token of an allowed client: that user's address;
#   - an app's token (no username) of an allowed client: the one mailbox
#     the app may open;
#   - anything else: 401.

APPONLY_STANDIN_PID=''

# Prints a token_admin access token of mailconf at plugin instance $1.
apponly_admin_bearer() {
    local reply
    reply=$(stack_token_client_credentials token_admin "$1") || return 1
    jq -er .access_token <<<"$reply"
}

# Starts the stand-in on the scripted port and switches Dovecot to it.
#   $1 mailbox that app tokens may open, $2 allowed client IDs (comma-separated),
#   $3... plugin instances whose introspection endpoints are asked
apponly_standin_start() {
    local mailbox=$1 clients=$2 instance pairs=()
    shift 2
    for instance in "$@"; do
        pairs+=("$STACK_API_URL/$instance/introspect" "$(apponly_admin_bearer "$instance")") ||
            return 1
    done
    /usr/bin/python3 - "$STACK_SCRIPTED_PORT" "$mailbox" "$clients" "$STACK_MAIL_DOMAIN" \
        "${pairs[@]}" >"$TEST_TMP/standin.log" 2>&1 <<'PY' &
import base64, http.server, json, sys, urllib.parse, urllib.request
port, mailbox, clients, domain = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(","), sys.argv[4]
endpoints = list(zip(sys.argv[5::2], sys.argv[6::2]))

def claims(token):
    # glewlwyd's introspection leaves client_id out unless the client used
    # HTTP Basic; its access tokens are JWTs that carry it, and
    # introspection has vouched for them.
    try:
        part = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}

def introspect(token):
    for url, bearer in endpoints:
        request = urllib.request.Request(
            url, data=urllib.parse.urlencode({"token": token}).encode(),
            headers={"Authorization": "Bearer " + bearer})
        with urllib.request.urlopen(request, timeout=10) as reply:
            info = json.load(reply)
        if info.get("active") is True:
            return info
    return {}

class Endpoint(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        token = query.get("access_token", [""])[0]
        info = introspect(token)
        if info:
            info.setdefault("client_id", claims(token).get("client_id"))
        email = None
        if info.get("client_id") in clients:
            email = info["username"] + "@" + domain if "username" in info else mailbox
        body = json.dumps({"email": email} if email else {"error": "invalid_token"}).encode()
        self.send_response(200 if email else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("stand-in: client %s user %s -> %s" % (info.get("client_id"), info.get("username"),
                                                     email), flush=True)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Endpoint).serve_forever()
PY
    APPONLY_STANDIN_PID=$!
    _stack_wait_port "$STACK_SCRIPTED_PORT" 5 "mailbox permission stand-in" || return 1
    stack_dovecot_restart --scripted-tokeninfo
}

# Stops the stand-in and restarts Dovecot without it. For the EXIT trap.
apponly_standin_stop() {
    if [ -n "$APPONLY_STANDIN_PID" ]; then
        kill "$APPONLY_STANDIN_PID" 2>/dev/null || true
        wait "$APPONLY_STANDIN_PID" 2>/dev/null || true
        APPONLY_STANDIN_PID=''
    fi
    if ! stack_dovecot_restart; then
        echo "FAIL: $TEST_NAME: could not restart Dovecot without the scripted passdb" >&2
        return 1
    fi
}

# Logs in to Dovecot's IMAPS with imtest through our SASL plugin, which
# runs $MAILTOKEN for the token of account $1 with configuration $2.
# Prints "OK" when the login worked, else "NO". imtest's output goes to
# $TEST_TMP/imtest-$1.out.
apponly_plugin_login() {
    local account=$1 config=$2 out=$TEST_TMP/imtest-$1.out preload=''
    # An uninstrumented imtest can load the sanitized plugin only with the runtimes preloaded.
    if [ "${MAILTOKEN_SANITIZED:-0}" = 1 ]; then
        preload=$MAILTOKEN_SANITIZER_PRELOAD
    fi
    printf '. LOGOUT\n' |
        LD_PRELOAD=$preload ASAN_OPTIONS=detect_leaks=0 SASL_PATH=$MAILTOKEN_PLUGIN_DIR \
            MAILTOKEN_HELPER=$MAILTOKEN MAILTOKEN_CONFIG=$config \
            timeout 30 "$STACK_IMTEST" -s -m XOAUTH2 -a "$account" -p "$STACK_IMAPS_PORT" \
            "$STACK_MAIL_HOST" >"$out" 2>&1 || true
    if grep -q '^Authenticated\.' "$out"; then
        echo OK
    else
        echo NO
    fi
}

# Prints the user= address of the XOAUTH2 message that imtest sent for account $1.
apponly_sent_user() {
    local line
    line=$(grep -m1 'AUTHENTICATE XOAUTH2 ' "$TEST_TMP/imtest-$1.out" | tr -d '\r') || return 1
    printf '%s' "${line##* }" | base64 -d | tr '\001' '\n' | sed -n 's/^user=//p'
}

# Sends an admin API request to glewlwyd with a session of its own.
#   $1 method, $2 path under /api, $3 JSON body (optional). Prints the body;
#   fails unless the status is 200 (404 too when $4 is "allow-404").
apponly_glewlwyd_api() {
    local method=$1 path=$2 body=${3-} allow=${4-} jar=$TEST_TMP/admin.jar out=$TEST_TMP/admin.out status
    if [ ! -s "$jar" ]; then
        curl -sSf -o /dev/null --max-time 10 -c "$jar" -H 'Content-Type: application/json' \
            --data-binary '{"username":"admin","password":"password"}' "$STACK_API_URL/auth/" ||
            return 1
    fi
    status=$(curl -sS -o "$out" -w '%{http_code}' --max-time 10 -b "$jar" -c "$jar" \
        -X "$method" -H 'Content-Type: application/json' ${body:+--data-binary "$body"} \
        "$STACK_API_URL$path") || return 1
    if [ "$status" != 200 ] && ! { [ "$status" = 404 ] && [ "$allow" = allow-404 ]; }; then
        echo "glewlwyd API $method $path returned HTTP $status: $(head -c 300 "$out")" >&2
        return 1
    fi
    cat "$out"
}

# Counts the token requests that reached glewlwyd for plugin instance $1.
apponly_token_requests() {
    grep -c "POST /api/$1/token " "$STACK_GLEWLWYD_DIR/proxy.log" || true
}

# Writes a self-signed certificate $1.crt valid for $2 days (default 60) and
# its key $1.key (mode 0600) in TEST_TMP.
apponly_make_certificate() {
    (cd "$TEST_TMP" && umask 077 &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" \
            -days "${2:-60}" -subj "/CN=mailtoken $1" 2>/dev/null)
}

# Prints part $2 (1 header, 2 claims) of JWT $1, decoded.
apponly_jwt_part() {
    local part
    part=$(cut -d. -f"$2" <<<"$1" | tr '_-' '/+')
    while [ $((${#part} % 4)) != 0 ]; do
        part+='='
    done
    base64 -d <<<"$part"
}

# Prints base64url of stdin.
apponly_base64url() {
    openssl base64 -A | tr '+/' '-_' | tr -d '='
}

# Prints the base64url SHA-1 ("sha1") or SHA-256 ("sha256") thumbprint of certificate $1.
apponly_thumbprint() {
    openssl x509 -in "$1" -outform DER | openssl dgst "-$2" -binary | apponly_base64url
}
