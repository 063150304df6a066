# shellcheck shell=bash
# The browser's part of OAuth2 flows against glewlwyd, played with curl
# through glewlwyd's login API, plus token requests for tests and a Maildir
# watcher. Sourced by stack.sh.
#
# glewlwyd's /auth endpoint redirects to its login page unless the request
# carries g_continue, the parameter its login page adds once the user has
# logged in and granted the scopes. So the "browser" here logs in with
# POST /api/auth/, grants with PUT /api/auth/grant/CLIENT/, and then
# requests the authorization URL with g_continue added.

# Prints the value of query parameter $2 of URL $1 (decoded), or "" when absent.
_stack_url_param() {
    /usr/bin/python3 -c '
import sys, urllib.parse
query = urllib.parse.urlsplit(sys.argv[1]).query
values = urllib.parse.parse_qs(query, keep_blank_values=True).get(sys.argv[2], [""])
print(values[0])' "$1" "$2"
}

# Prints a new cookie jar path under STACK_DIR/browser.
_stack_browser_jar() {
    mkdir -p "$STACK_DIR/browser" || return 1
    mktemp "$STACK_DIR/browser/jar.XXXXXX"
}

# Logs USER in through glewlwyd's API into cookie jar $1.
_stack_browser_login() {
    local jar=$1 user=$2 password=$3 body status
    body=$(jq -n --arg u "$user" --arg p "$password" '{username:$u,password:$p}')
    status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -c "$jar" -b "$jar" \
        -H 'Content-Type: application/json' --data-binary "$body" "$STACK_API_URL/auth/") || {
        _stack_err "login request to glewlwyd failed (curl error)"
        return 1
    }
    if [ "$status" != 200 ]; then
        _stack_err "glewlwyd rejected the login of user '$user' (HTTP $status)"
        return 1
    fi
}

# Grants scope string $3 (space-separated, as glewlwyd's API expects) to
# client $2 for the user logged in to cookie jar $1.
_stack_browser_grant() {
    local jar=$1 client=$2 scope=$3 body status
    body=$(jq -n --arg s "$scope" '{scope:$s}')
    status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -c "$jar" -b "$jar" \
        -X PUT -H 'Content-Type: application/json' --data-binary "$body" \
        "$STACK_API_URL/auth/grant/$client/") || {
        _stack_err "consent request to glewlwyd failed (curl error)"
        return 1
    }
    if [ "$status" != 200 ]; then
        _stack_err "glewlwyd rejected the consent of scope '$scope' for client '$client' (HTTP $status)"
        return 1
    fi
}

# Plays the browser for an authorization URL that the program under test
# printed: logs USER in, grants the URL's scope to its client_id, requests
# the URL with g_continue added and delivers the redirect (Location) to the
# redirect URI with curl, as a browser would.
#   $1 authorization URL (client_id, redirect_uri, scope, state, PKCE as the
#      program built them), $2 user name, $3 password
# Prints the HTTP status that the redirect target returned. Fails when
# glewlwyd does not redirect to the client (the Location it gave instead is
# printed on stderr) or when nothing listens at the redirect URI.
stack_browser_authorize() {
    local url=$1 user=$2 password=$3 jar client scope location status rc=1
    client=$(_stack_url_param "$url" client_id) || return 1
    scope=$(_stack_url_param "$url" scope) || return 1
    if [ -z "$client" ]; then
        _stack_err "stack_browser_authorize: no client_id in the authorization URL"
        return 1
    fi
    # glewlwyd's session cookie is bound to the host name 127.0.0.1.
    if [[ $url != "$STACK_GLEWLWYD_URL"/* ]]; then
        _stack_err "stack_browser_authorize: the URL must start with $STACK_GLEWLWYD_URL/, got ${url%%\?*}"
        return 1
    fi
    jar=$(_stack_browser_jar) || return 1

    if _stack_browser_login "$jar" "$user" "$password" &&
        { [ -z "$scope" ] || _stack_browser_grant "$jar" "$client" "$scope"; }; then
        case $url in
            *\?*) url="$url&g_continue=" ;;
            *) url="$url?g_continue=" ;;
        esac
        location=$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 10 \
            -c "$jar" -b "$jar" "$url") || location=''
        if [ -z "$location" ]; then
            _stack_err "glewlwyd gave no redirect for the authorization URL"
        elif [[ $location == "$STACK_GLEWLWYD_URL"/* ]]; then
            _stack_err "glewlwyd redirected to its own page instead of the client: $location"
        elif status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 15 "$location"); then
            printf '%s\n' "$status"
            rc=0
        else
            _stack_err "nothing answered at the redirect URI ${location%%\?*}"
        fi
    fi
    rm -f "$jar"
    return "$rc"
}

# Approves a device-flow user code (RFC 8628) as USER: logs in, grants the
# requested scope to the requesting client and confirms the code.
#   $1 user code, or the verification_uri_complete URL that carries it
#   $2 user name, $3 password,
#   $4 plugin instance (default $STACK_OIDC_NAME; $STACK_OIDC_RS_NAME for
#      codes from the RS256 instance; taken from the URL when $1 is one)
# Without an explicit grant glewlwyd would confirm the code anyway and issue
# a token with only the scopes granted before, so the client and scope are
# read first from the redirect to the login page (GET device?code=...
# without g_continue), then granted, then the code is confirmed. Fails
# unless glewlwyd reports the code complete.
stack_device_approve() {
    local code=$1 user=$2 password=$3 instance=${4:-$STACK_OIDC_NAME}
    local jar location client scope url rc=1
    if [[ $code == http*://* ]]; then
        instance=${code#"$STACK_API_URL"/}
        instance=${instance%%/*}
        code=$(_stack_url_param "$code" code)
    fi
    url=$STACK_API_URL/$instance/device
    jar=$(_stack_browser_jar) || return 1
    if _stack_browser_login "$jar" "$user" "$password"; then
        location=$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 10 \
            -c "$jar" -b "$jar" -G --data-urlencode "code=$code" "$url") || location=''
        client=$(_stack_url_param "$location" client_id)
        scope=$(_stack_url_param "$location" scope)
        if [ -z "$client" ] || [ -z "$scope" ]; then
            _stack_err "glewlwyd does not know device code '$code' at $url: redirect to $location"
        elif _stack_browser_grant "$jar" "$client" "$scope"; then
            location=$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 10 \
                -c "$jar" -b "$jar" -G --data-urlencode "code=$code" \
                --data-urlencode g_continue= "$url") || location=''
            if [ "$(_stack_url_param "$location" prompt)" = deviceComplete ]; then
                rc=0
            else
                _stack_err "glewlwyd did not complete device code '$code': redirect to $location"
            fi
        fi
    fi
    rm -f "$jar"
    return "$rc"
}

# Prints "VERIFIER CHALLENGE", a new PKCE pair (RFC 7636, S256).
stack_pkce_pair() {
    local verifier challenge
    verifier=$(head -c 48 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')
    printf '%s %s\n' "$verifier" "$challenge"
}

# Sets the curl arguments that authenticate client $1 at the token
# endpoint into the array named by $2: HTTP Basic for the confidential
# client, client_id in the form for any other (public) client.
_stack_client_auth_args() {
    local -n args_ref=$2
    if [ "$1" = "$STACK_CONF_CLIENT_ID" ]; then
        args_ref=(-u "$STACK_CONF_CLIENT_ID:$STACK_CONF_CLIENT_SECRET")
    else
        args_ref=(--data-urlencode "client_id=$1")
    fi
}

# POSTs form arguments $3... to endpoint URL $2 of glewlwyd; prints the body.
# Fails with the status and body on stderr unless the status is 200.
# $1 = what the request is, for the message.
_stack_post_form() {
    local what=$1 url=$2 out status
    shift 2
    out=$(mktemp "$STACK_DIR/browser/reply.XXXXXX") || return 1
    status=$(curl -sS -o "$out" -w '%{http_code}' --max-time 15 "$@" "$url") || {
        _stack_err "$what: request to $url failed (curl error)"
        rm -f "$out"
        return 1
    }
    if [ "$status" != 200 ]; then
        _stack_err "$what: $url returned HTTP $status: $(head -c 300 "$out")"
        rm -f "$out"
        return 1
    fi
    cat "$out"
    rm -f "$out"
}

# Runs the authorization code grant with PKCE for CLIENT and USER without a
# listener (the code is read from the redirect) and prints the token
# endpoint's JSON reply (access_token, refresh_token, expires_in, ...).
#   $1 client id, $2 user, $3 password, $4 scope (default "mail"),
#   $5 plugin instance (default $STACK_OIDC_NAME)
stack_token_code() {
    local client=$1 user=$2 password=$3 scope=${4:-$STACK_SCOPE} instance=${5:-$STACK_OIDC_NAME}
    local jar pair verifier challenge location code state rc=1
    local -a auth=()
    mkdir -p "$STACK_DIR/browser" || return 1
    jar=$(_stack_browser_jar) || return 1
    pair=$(stack_pkce_pair)
    verifier=${pair% *}
    challenge=${pair#* }
    state=$(openssl rand -hex 8)

    if _stack_browser_login "$jar" "$user" "$password" &&
        _stack_browser_grant "$jar" "$client" "$scope"; then
        location=$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 10 -c "$jar" -b "$jar" \
            -G --data-urlencode response_type=code --data-urlencode "client_id=$client" \
            --data-urlencode "redirect_uri=$STACK_REDIRECT_URI" --data-urlencode "scope=$scope" \
            --data-urlencode "state=$state" --data-urlencode "code_challenge=$challenge" \
            --data-urlencode code_challenge_method=S256 --data-urlencode g_continue= \
            "$STACK_API_URL/$instance/auth") || location=''
        code=$(_stack_url_param "$location" code)
        if [ -z "$code" ]; then
            _stack_err "no authorization code in glewlwyd's redirect: $location"
        elif [ "$(_stack_url_param "$location" state)" != "$state" ]; then
            _stack_err "glewlwyd's redirect carries a different state: $location"
        else
            _stack_client_auth_args "$client" auth
            _stack_post_form "authorization code grant" "$STACK_API_URL/$instance/token" \
                "${auth[@]}" -d grant_type=authorization_code \
                --data-urlencode "code=$code" --data-urlencode "redirect_uri=$STACK_REDIRECT_URI" \
                --data-urlencode "code_verifier=$verifier" && rc=0
        fi
    fi
    rm -f "$jar"
    return "$rc"
}

# Prints only the access token of a new code grant (same arguments as
# stack_token_code).
stack_access_token() {
    local reply
    reply=$(stack_token_code "$@") || return 1
    jq -er .access_token <<<"$reply"
}

# Refreshes: $1 client id, $2 refresh token, $3 plugin instance.
# Prints the token endpoint's JSON reply. glewlwyd's refresh tokens in this
# stack do not rotate: the reply has no new refresh_token.
stack_token_refresh() {
    local client=$1 refresh=$2 instance=${3:-$STACK_OIDC_NAME}
    local -a auth=()
    mkdir -p "$STACK_DIR/browser" || return 1
    _stack_client_auth_args "$client" auth
    _stack_post_form "refresh token grant" "$STACK_API_URL/$instance/token" \
        "${auth[@]}" -d grant_type=refresh_token --data-urlencode "refresh_token=$refresh"
}

# Client credentials grant for mailconf: $1 scope (default "mail"),
# $2 plugin instance. Prints the JSON reply.
stack_token_client_credentials() {
    local scope=${1:-$STACK_SCOPE} instance=${2:-$STACK_OIDC_NAME}
    mkdir -p "$STACK_DIR/browser" || return 1
    _stack_post_form "client credentials grant" "$STACK_API_URL/$instance/token" \
        -u "$STACK_CONF_CLIENT_ID:$STACK_CONF_CLIENT_SECRET" \
        -d grant_type=client_credentials --data-urlencode "scope=$scope"
}

# Runs the whole device grant (RFC 8628) for CLIENT and USER: requests a
# code, approves it with stack_device_approve, polls the token endpoint.
#   $1 client id, $2 user, $3 password, $4 scope, $5 plugin instance
# Prints the token endpoint's JSON reply.
stack_token_device() {
    local client=$1 user=$2 password=$3 scope=${4:-$STACK_SCOPE} instance=${5:-$STACK_OIDC_NAME}
    local reply device_code user_code i
    local -a auth=()
    mkdir -p "$STACK_DIR/browser" || return 1
    _stack_client_auth_args "$client" auth
    reply=$(_stack_post_form "device authorization request" \
        "$STACK_API_URL/$instance/device_authorization" \
        "${auth[@]}" --data-urlencode "scope=$scope") || return 1
    device_code=$(jq -er .device_code <<<"$reply") || return 1
    user_code=$(jq -er .user_code <<<"$reply") || return 1
    stack_device_approve "$user_code" "$user" "$password" "$instance" || return 1
    for ((i = 0; i < 20; i++)); do
        if reply=$(STACK_QUIET=1 _stack_post_form "device token request" \
            "$STACK_API_URL/$instance/token" "${auth[@]}" \
            -d grant_type=urn:ietf:params:oauth:grant-type:device_code \
            --data-urlencode "device_code=$device_code" 2>/dev/null); then
            printf '%s\n' "$reply"
            return 0
        fi
        sleep 0.5
    done
    _stack_err "device grant: no token for client '$client' after approval"
    return 1
}

# Prints an access token with scope token_admin (client credentials grant
# of mailconf at plugin instance $1). glewlwyd lets a client introspect and
# revoke only its own tokens, except with a Bearer token carrying the scope
# named in the instance's "introspection-revocation-auth-scope".
_stack_admin_bearer() {
    local reply
    reply=$(stack_token_client_credentials token_admin "$1") || return 1
    jq -er .access_token <<<"$reply"
}

# Revokes an access or refresh token (RFC 7009) of any client.
#   $1 token, $2 plugin instance (default $STACK_OIDC_NAME)
stack_token_revoke() {
    local token=$1 instance=${2:-$STACK_OIDC_NAME} bearer
    mkdir -p "$STACK_DIR/browser" || return 1
    bearer=$(_stack_admin_bearer "$instance") || return 1
    _stack_post_form "token revocation" "$STACK_API_URL/$instance/revoke" \
        -H "Authorization: Bearer $bearer" --data-urlencode "token=$token" >/dev/null
}

# Introspects a token of any client (RFC 7662) and prints the JSON reply
# ({"active":false} for an invalid or revoked token; for an active one
# "username", "client_id", "scope", "exp", ...).
#   $1 token, $2 plugin instance (default $STACK_OIDC_NAME)
stack_token_introspect() {
    local token=$1 instance=${2:-$STACK_OIDC_NAME} bearer
    mkdir -p "$STACK_DIR/browser" || return 1
    bearer=$(_stack_admin_bearer "$instance") || return 1
    _stack_post_form "token introspection" "$STACK_API_URL/$instance/introspect" \
        -H "Authorization: Bearer $bearer" --data-urlencode "token=$token"
}

# Waits until a message whose Subject header is exactly $2 is in the INBOX
# Maildir of user $1 (new/ or cur/), then prints the message file's path.
# $3 = seconds (default 20).
stack_wait_mail() {
    local user=$1 subject=$2 timeout=${3:-20} maildir i file
    maildir=$STACK_MAIL_ROOT/$user/Maildir
    for ((i = 0; i < timeout * 10; i++)); do
        if [ -d "$maildir" ]; then
            file=$(grep -rlFx -- "Subject: $subject" "$maildir/new" "$maildir/cur" 2>/dev/null | head -n 1)
            if [ -n "$file" ]; then
                printf '%s\n' "$file"
                return 0
            fi
        fi
        sleep 0.1
    done
    _stack_err "no message with subject '$subject' in $maildir within ${timeout}s"
    return 1
}

# Starts a one-shot HTTP listener on 127.0.0.1:$1 that replaces a
# program's redirect listener in tests. It replies to the first request
# with status 200 (or $3), writes the request target (path and query) to
# file $2, and exits. The function returns once the port listens. The
# process is tracked, so stack_stop_all ends it if no request came.
stack_catcher_start() {
    local port=$1 file=$2 status=${3:-200} pid
    rm -f "$file"
    /usr/bin/python3 -c '
import http.server, sys
port, path, status = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
class Catcher(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(path + ".tmp", "w") as out:
            out.write(self.path + "\n")
        body = b"caught\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Catcher)
server.timeout = 60
server.handle_request()
import os
if os.path.exists(path + ".tmp"):
    os.rename(path + ".tmp", path)
' "$port" "$file" "$status" >"$STACK_DIR/catcher-$port.out" 2>&1 &
    pid=$!
    stack_track_pid "catcher-$port" "$pid" "$file"
    _stack_wait_port "$port" 5 "loopback catcher"
}

# Waits up to $2 seconds (default 10) for the catcher's file $1 and prints
# the request target it holds.
stack_catcher_wait() {
    local file=$1 timeout=${2:-10} i
    for ((i = 0; i < timeout * 20; i++)); do
        if [ -f "$file" ]; then
            cat "$file"
            return 0
        fi
        sleep 0.05
    done
    _stack_err "the loopback catcher got no request within ${timeout}s"
    return 1
}
