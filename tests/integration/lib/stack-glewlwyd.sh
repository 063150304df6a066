# shellcheck shell=bash
# glewlwyd 2.7 (Debian package) as the test authorization server: sqlite
# database, configured through its admin API. Sourced by stack.sh.
#
# What it sets up:
#   - users alice and bob with scopes openid, mail and g_profile.
#   - scope "token_admin". A mailconf token with this scope (client
#     credentials grant) may introspect and revoke the tokens of every client.
#   - plugin instance "oidc" with HS256 access tokens (about 485 characters
#     with scope "mail"), the default for tests.
#   - plugin instance "oidcrs" with RS256 access tokens (about 790
#     characters) for long-token tests.
#   - clients mailconf (confidential, secret confsecret) and mailpub
#     (public) with redirect URI http://127.0.0.1:<base+50>/callback and
#     grant types code, refresh_token and device_authorization. mailconf
#     also has client_credentials, limited to scopes mail and token_admin.
#     Every plugin instance serves both clients.
# Refresh tokens do not rotate ("refresh-token-one-use": "never") and their
# lifetime restarts at each use ("refresh-token-rolling").
#
# glewlwyd itself listens on 127.0.0.2:<base+10>. Clients reach it through
# serial-proxy.py on 127.0.0.1:<base+10>, which passes on one request at a
# time, because glewlwyd's sqlite backend loses writes under concurrent
# requests (see serial-proxy.py).

# Address that glewlwyd binds; the proxy takes 127.0.0.1 with the same port.
STACK_GLEWLWYD_UPSTREAM_ADDRESS=127.0.0.2

_stack_glw_pidfile() {
    printf '%s\n' "$STACK_GLEWLWYD_DIR/glewlwyd.pid"
}

_stack_glw_write_config() {
    cat >"$STACK_GLEWLWYD_DIR/glewlwyd.conf" <<EOF
port=$STACK_GLEWLWYD_PORT
bind_address="$STACK_GLEWLWYD_UPSTREAM_ADDRESS"
external_url="$STACK_GLEWLWYD_URL"
login_url="login.html"
api_prefix="api"
static_files_path="/usr/share/glewlwyd/webapp/"
log_mode="file"
log_level="DEBUG"
log_file="$STACK_GLEWLWYD_DIR/glewlwyd.log"
cookie_domain="127.0.0.1"
cookie_secure=0
session_key="GLEWLWYD2_SESSION_ID"
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="/usr/lib/glewlwyd/user"
client_module_path="/usr/lib/glewlwyd/client"
user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"
plugin_module_path="/usr/lib/glewlwyd/plugin"
hash_algorithm="SHA512"
database = { type = "sqlite3"  path = "$STACK_GLEWLWYD_DIR/glewlwyd.db" };
EOF
}

# Sends one admin API request with the admin session cookie.
# $1 = method, $2 = path under /api, $3 = JSON body (optional).
# Prints the reply body; fails unless the status is 200.
_stack_glw_api() {
    local method=$1 path=$2 body=${3-} out status
    out=$STACK_GLEWLWYD_DIR/api.out
    status=$(curl -sS -o "$out" -w '%{http_code}' --max-time 10 \
        -c "$STACK_GLEWLWYD_DIR/admin.jar" -b "$STACK_GLEWLWYD_DIR/admin.jar" \
        -X "$method" -H 'Content-Type: application/json' \
        ${body:+--data-binary "$body"} "$STACK_API_URL$path") || {
        _stack_err "glewlwyd API $method $path failed (curl error)"
        return 1
    }
    if [ "$status" != 200 ]; then
        _stack_err "glewlwyd API $method $path returned HTTP $status: $(head -c 500 "$out")"
        return 1
    fi
    cat "$out"
}

# Prints the JSON parameters of an oidc plugin instance.
# $1 = instance name, $2 = "sha" or "rsa", $3 = signing key (shared secret or
# PEM private key), $4 = PEM public key ("" for sha).
_stack_glw_oidc_parameters() {
    jq -n --arg name "$1" --arg type "$2" --arg key "$3" --arg cert "$4" \
        --arg iss "$STACK_API_URL/$1" '{
        "jwt-type": $type, "jwt-key-size": "256", "key": $key, "cert": $cert,
        "iss": $iss, "subject-type": "public",
        "access-token-duration": 3600, "refresh-token-duration": 1209600,
        "code-duration": 600,
        "refresh-token-rolling": true, "refresh-token-one-use": "never",
        "allow-non-oidc": true,
        "auth-type-code-enabled": true, "auth-type-token-enabled": false,
        "auth-type-id-token-enabled": true, "auth-type-none-enabled": true,
        "auth-type-password-enabled": false, "auth-type-client-enabled": true,
        "auth-type-device-enabled": true, "auth-type-refresh-enabled": true,
        "scope": [], "additional-parameters": [], "claims": [],
        "jwks-show": true,
        "pkce-allowed": true, "pkce-method-plain-allowed": false,
        "pkce-required": false, "pkce-required-public-client": true,
        "introspection-revocation-allowed": true,
        "introspection-revocation-auth-scope": ["token_admin"],
        "introspection-revocation-allow-target-client": true,
        "device-authorization-expiration": 600,
        "device-authorization-interval": 1,
        "email-claim": "mandatory", "name-claim": "no", "scope-claim": "no"
    }'
}

# Creates users, scope, both plugin instances and both clients.
_stack_glw_configure() {
    local dir=$STACK_GLEWLWYD_DIR hs_key rs_key rs_pub body redirect=$STACK_REDIRECT_URI

    _stack_glw_api POST /auth/ '{"username":"admin","password":"password"}' >/dev/null || return 1
    _stack_glw_api POST /scope/ '{"name":"mail","display_name":"Mail","description":"IMAP, POP3 and SMTP access","password_required":false,"scheme":{}}' >/dev/null || return 1
    _stack_glw_api POST /scope/ '{"name":"token_admin","display_name":"Token administration","description":"Introspect and revoke the tokens of every client","password_required":false,"scheme":{}}' >/dev/null || return 1

    body=$(jq -n --arg u "$STACK_ALICE_USER" --arg e "$STACK_ALICE_EMAIL" --arg p "$STACK_ALICE_PASSWORD" \
        '{username:$u,name:"Alice",email:$e,password:$p,scope:["openid","mail","g_profile"],enabled:true}')
    _stack_glw_api POST /user/ "$body" >/dev/null || return 1
    body=$(jq -n --arg u "$STACK_BOB_USER" --arg e "$STACK_BOB_EMAIL" --arg p "$STACK_BOB_PASSWORD" \
        '{username:$u,name:"Bob",email:$e,password:$p,scope:["openid","mail","g_profile"],enabled:true}')
    _stack_glw_api POST /user/ "$body" >/dev/null || return 1

    hs_key=$(openssl rand -hex 32) || return 1
    body=$(jq -n --argjson p "$(_stack_glw_oidc_parameters "$STACK_OIDC_NAME" sha "$hs_key" "")" \
        --arg name "$STACK_OIDC_NAME" \
        '{module:"oidc",name:$name,display_name:"OIDC HS256",parameters:$p}')
    _stack_glw_api POST /mod/plugin/ "$body" >/dev/null || return 1

    if ! openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$dir/rs256.key" 2>"$dir/openssl.out" ||
        ! openssl pkey -in "$dir/rs256.key" -pubout -out "$dir/rs256.pub" 2>>"$dir/openssl.out"; then
        _stack_err "openssl failed to create the RS256 signing key: $(cat "$dir/openssl.out")"
        return 1
    fi
    rs_key=$(cat "$dir/rs256.key")
    rs_pub=$(cat "$dir/rs256.pub")
    body=$(jq -n --argjson p "$(_stack_glw_oidc_parameters "$STACK_OIDC_RS_NAME" rsa "$rs_key" "$rs_pub")" \
        --arg name "$STACK_OIDC_RS_NAME" \
        '{module:"oidc",name:$name,display_name:"OIDC RS256",parameters:$p}')
    _stack_glw_api POST /mod/plugin/ "$body" >/dev/null || return 1

    body=$(jq -n --arg id "$STACK_CONF_CLIENT_ID" --arg secret "$STACK_CONF_CLIENT_SECRET" \
        --arg redirect "$redirect" '{
        client_id:$id, name:"Mail (confidential)", confidential:true,
        client_secret:$secret,
        token_endpoint_auth_method:["client_secret_basic","client_secret_post"],
        redirect_uri:[$redirect],
        authorization_type:["code","refresh_token","device_authorization","client_credentials"],
        scope:["mail","token_admin"], enabled:true}')
    _stack_glw_api POST /client/ "$body" >/dev/null || return 1
    body=$(jq -n --arg id "$STACK_PUB_CLIENT_ID" --arg redirect "$redirect" '{
        client_id:$id, name:"Mail (public)", confidential:false,
        token_endpoint_auth_method:["none"],
        redirect_uri:[$redirect],
        authorization_type:["code","refresh_token","device_authorization"],
        scope:[], enabled:true}')
    _stack_glw_api POST /client/ "$body" >/dev/null || return 1

    # Record whether the client credentials grant works, for stack.env.
    if curl -sSf --max-time 10 -u "$STACK_CONF_CLIENT_ID:$STACK_CONF_CLIENT_SECRET" \
        -d grant_type=client_credentials -d scope=mail \
        "$STACK_API_URL/$STACK_OIDC_NAME/token" 2>/dev/null | jq -e '.access_token' >/dev/null; then
        echo yes >"$dir/client-credentials"
    else
        echo no >"$dir/client-credentials"
    fi
}

# Starts glewlwyd with a new database and configures it. Runs as a
# background job of stack_start_all, so it reports through stderr only.
stack_glewlwyd_start() {
    local dir=$STACK_GLEWLWYD_DIR pid
    mkdir -p "$dir" || return 1
    _stack_glw_write_config || return 1
    rm -f "$dir/glewlwyd.db"
    if ! zcat /usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz | sqlite3 "$dir/glewlwyd.db"; then
        _stack_err "could not create glewlwyd's database from /usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz"
        return 1
    fi

    glewlwyd --config-file="$dir/glewlwyd.conf" >"$dir/glewlwyd.out" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$(_stack_glw_pidfile)"
    /usr/bin/python3 "$STACK_LIB_DIR/serial-proxy.py" 127.0.0.1 "$STACK_GLEWLWYD_PORT" \
        "$STACK_GLEWLWYD_UPSTREAM_ADDRESS" "$STACK_GLEWLWYD_PORT" "$dir/proxy.log" \
        >"$dir/proxy.out" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$dir/proxy.pid"

    if ! _stack_wait_port "$STACK_GLEWLWYD_PORT" 10 glewlwyd "$STACK_GLEWLWYD_UPSTREAM_ADDRESS"; then
        tail -n 20 "$dir/glewlwyd.out" "$dir/glewlwyd.log" >&2 2>/dev/null
        return 1
    fi
    if ! _stack_wait_port "$STACK_GLEWLWYD_PORT" 10 "glewlwyd's proxy"; then
        cat "$dir/proxy.out" >&2
        return 1
    fi
    _stack_glw_configure
}

stack_glewlwyd_stop() {
    _stack_kill_pidfile "$STACK_GLEWLWYD_DIR/proxy.pid" "$STACK_GLEWLWYD_DIR/proxy.log"
    _stack_kill_pidfile "$(_stack_glw_pidfile)" "$STACK_GLEWLWYD_DIR/glewlwyd.conf"
}
