# shellcheck shell=bash
# Most STACK_* variables are set here for the scripts that source this file.
# shellcheck disable=SC2034
# Test stack for mailtoken's integration tests: an OAuth2 authorization
# server (glewlwyd), Dovecot (IMAP, POP3, submission) and Postfix, all on
# 127.0.0.1, all state under one folder.
#
# Source this file from bash, then call stack_start_all. Every function
# returns non-zero and prints "stack: ..." on stderr when it fails; none of
# them exits the calling shell.
#
# Inputs (environment):
#   STACK_DIR                   state folder (default: $PWD/build/stack)
#   MAILTOKEN_TEST_PORT_BASE    first port of this stack's range (default 14300)
#
# Ports are fixed offsets from the base (see stack_env_init). After
# stack_start_all, $STACK_DIR/stack.env contains every port, URL, path and
# client credential, ready to be sourced by tests and demos.
#
# The file is split by server: stack-pki.sh, stack-glewlwyd.sh,
# stack-dovecot.sh, stack-postfix.sh and stack-browser.sh (browser steps and
# token requests). This file contains the shared parts and start/stop of the
# whole stack.

STACK_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Marker file that identifies a folder as a stack state folder; stack_start_all
# wipes an existing STACK_DIR only when it contains this file (or is empty).
STACK_MARKER=.mailtoken-stack

_stack_err() {
    printf 'stack: %s\n' "$*" >&2
}

_stack_log() {
    [ -n "${STACK_QUIET:-}" ] || printf 'stack: %s\n' "$*" >&2
}

# Prints the current time in milliseconds (for the timing lines).
_stack_now_ms() {
    local now
    now=$(date +%s%N)
    printf '%s\n' "$((now / 1000000))"
}

# Checks that every named command exists. Arguments are "command:package"
# pairs; a missing command fails with the Debian package that provides it.
stack_require_tools() {
    local pair cmd pkg missing=0
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then
            _stack_err "missing tool: $cmd (install the Debian package $pkg)"
            missing=1
        fi
    done
    return "$missing"
}

# The tools the stack itself needs.
_stack_require_stack_tools() {
    stack_require_tools \
        openssl:openssl curl:curl jq:jq sqlite3:sqlite3 script:bsdutils \
        ss:iproute2 /usr/bin/python3:python3 \
        glewlwyd:glewlwyd dovecot:dovecot-core \
        /usr/lib/dovecot/dovecot-lda:dovecot-core \
        /usr/lib/dovecot/imap-login:dovecot-imapd \
        /usr/lib/dovecot/pop3-login:dovecot-pop3d \
        /usr/lib/dovecot/submission-login:dovecot-submissiond \
        postfix:postfix
}

# Sets STACK_DIR (absolute) and every port and URL variable from
# MAILTOKEN_TEST_PORT_BASE. Safe to call more than once.
stack_env_init() {
    local base=${MAILTOKEN_TEST_PORT_BASE:-14300}
    case $base in
        '' | *[!0-9]*)
            _stack_err "MAILTOKEN_TEST_PORT_BASE is not a number: '$base'"
            return 1
            ;;
    esac
    if [ "$base" -lt 1024 ] || [ "$base" -gt 65435 ]; then
        _stack_err "MAILTOKEN_TEST_PORT_BASE must be between 1024 and 65435, got $base"
        return 1
    fi

    STACK_DIR=${STACK_DIR:-$PWD/build/stack}
    case $STACK_DIR in
        /*) ;;
        *) STACK_DIR=$PWD/$STACK_DIR ;;
    esac
    STACK_DIR=${STACK_DIR%/}
    if [ -z "$STACK_DIR" ] || [ "$STACK_DIR" = / ]; then
        _stack_err "STACK_DIR must name a folder other than /"
        return 1
    fi

    STACK_PORT_BASE=$base
    STACK_GLEWLWYD_PORT=$((base + 10))
    STACK_POP3_PORT=$((base + 11))
    STACK_SMTP_RELAY_PORT=$((base + 25))
    STACK_SMTP_AUTH_PORT=$((base + 26))
    STACK_IMAP_PORT=$((base + 43))
    STACK_REDIRECT_PORT=$((base + 50))
    STACK_SCRIPTED_PORT=$((base + 60))
    STACK_SCRIPTED_PORT_LAST=$((base + 69))
    STACK_SUBMISSIONS_PORT=$((base + 65))
    STACK_SUBMISSION_PORT=$((base + 87))
    STACK_IMAPS_PORT=$((base + 93))
    STACK_POP3S_PORT=$((base + 95))

    STACK_GLEWLWYD_URL=http://127.0.0.1:$STACK_GLEWLWYD_PORT
    STACK_API_URL=$STACK_GLEWLWYD_URL/api
    STACK_REDIRECT_URI=http://127.0.0.1:$STACK_REDIRECT_PORT/callback
    STACK_SCRIPTED_TOKENINFO_URL=${STACK_SCRIPTED_TOKENINFO_URL:-http://127.0.0.1:$STACK_SCRIPTED_PORT/tokeninfo?access_token=}

    # Two oidc plugin instances: HS256 tokens (about 485 characters with
    # scope "mail") for most tests, RS256 tokens (about 790) for long ones.
    STACK_OIDC_NAME=oidc
    STACK_OIDC_RS_NAME=oidcrs

    STACK_CONF_CLIENT_ID=mailconf
    STACK_CONF_CLIENT_SECRET=confsecret
    STACK_PUB_CLIENT_ID=mailpub
    STACK_SCOPE=mail
    STACK_MAIL_DOMAIN=example.test
    STACK_MAIL_HOST=localhost
    STACK_ALICE_USER=alice
    STACK_ALICE_EMAIL=alice@example.test
    STACK_ALICE_PASSWORD=alice-pw-1
    STACK_BOB_USER=bob
    STACK_BOB_EMAIL=bob@example.test
    STACK_BOB_PASSWORD=bob-pw-2

    STACK_PKI_DIR=$STACK_DIR/pki
    STACK_CA_FILE=$STACK_PKI_DIR/ca.crt
    STACK_SERVER_CERT=$STACK_PKI_DIR/server.crt
    STACK_SERVER_KEY=$STACK_PKI_DIR/server.key
    STACK_GLEWLWYD_DIR=$STACK_DIR/glewlwyd
    STACK_DOVECOT_DIR=$STACK_DIR/dovecot
    STACK_DOVECOT_CONF=$STACK_DOVECOT_DIR/dovecot.conf
    STACK_DOVECOT_BASE_DIR=$STACK_DOVECOT_DIR/run
    STACK_DOVECOT_LOG=$STACK_DOVECOT_DIR/dovecot.log
    STACK_LDA_LOG=$STACK_DOVECOT_DIR/lda.log
    STACK_MAIL_ROOT=$STACK_DIR/mail
    STACK_POSTFIX_DIR=$STACK_DIR/postfix
    STACK_POSTFIX_LOG=$STACK_POSTFIX_DIR/maillog
    STACK_ENV_FILE=$STACK_DIR/stack.env
}

# Prints "NAME=VALUE" for one endpoint set of an oidc plugin instance.
# $1 = variable prefix, $2 = plugin instance name.
_stack_env_endpoints() {
    local prefix=$1 url=$STACK_API_URL/$2
    printf '%s_ISSUER=%q\n' "$prefix" "$url"
    printf '%s_DISCOVERY_URL=%q\n' "$prefix" "$url/.well-known/openid-configuration"
    printf '%s_AUTHORIZATION_ENDPOINT=%q\n' "$prefix" "$url/auth"
    printf '%s_TOKEN_ENDPOINT=%q\n' "$prefix" "$url/token"
    printf '%s_DEVICE_AUTHORIZATION_ENDPOINT=%q\n' "$prefix" "$url/device_authorization"
    printf '%s_DEVICE_VERIFICATION_URL=%q\n' "$prefix" "$url/device"
    printf '%s_INTROSPECTION_ENDPOINT=%q\n' "$prefix" "$url/introspect"
    printf '%s_REVOCATION_ENDPOINT=%q\n' "$prefix" "$url/revoke"
    printf '%s_USERINFO_ENDPOINT=%q\n' "$prefix" "$url/userinfo"
    printf '%s_JWKS_URI=%q\n' "$prefix" "$url/jwks"
}

# Writes $STACK_DIR/stack.env, a file of shell assignments that tests source.
_stack_write_env() {
    local name tmp=$STACK_ENV_FILE.tmp
    {
        printf '# Written by tests/integration/lib/stack.sh; source it from bash.\n'
        for name in STACK_DIR STACK_PORT_BASE \
            STACK_GLEWLWYD_PORT STACK_IMAP_PORT STACK_IMAPS_PORT \
            STACK_POP3_PORT STACK_POP3S_PORT STACK_SUBMISSION_PORT \
            STACK_SUBMISSIONS_PORT STACK_SMTP_RELAY_PORT STACK_SMTP_AUTH_PORT \
            STACK_REDIRECT_PORT STACK_REDIRECT_URI \
            STACK_SCRIPTED_PORT STACK_SCRIPTED_PORT_LAST \
            STACK_SCRIPTED_TOKENINFO_URL STACK_SCRIPTED_TOKENINFO \
            STACK_GLEWLWYD_URL STACK_API_URL STACK_OIDC_NAME STACK_OIDC_RS_NAME \
            STACK_CONF_CLIENT_ID STACK_CONF_CLIENT_SECRET STACK_PUB_CLIENT_ID \
            STACK_CLIENT_CREDENTIALS STACK_SCOPE STACK_MAIL_DOMAIN STACK_MAIL_HOST \
            STACK_ALICE_USER STACK_ALICE_EMAIL STACK_ALICE_PASSWORD \
            STACK_BOB_USER STACK_BOB_EMAIL STACK_BOB_PASSWORD \
            STACK_CA_FILE STACK_SERVER_CERT STACK_SERVER_KEY \
            STACK_GLEWLWYD_DIR STACK_DOVECOT_DIR STACK_DOVECOT_CONF \
            STACK_DOVECOT_BASE_DIR STACK_DOVECOT_LOG STACK_LDA_LOG \
            STACK_MAIL_ROOT STACK_POSTFIX_DIR STACK_POSTFIX_LOG STACK_ENV_FILE; do
            printf '%s=%q\n' "$name" "${!name-}"
        done
        _stack_env_endpoints STACK "$STACK_OIDC_NAME"
        _stack_env_endpoints STACK_RS "$STACK_OIDC_RS_NAME"
        printf 'STACK_DOVECOT_SASL_SOCKET=%q\n' "$STACK_DOVECOT_BASE_DIR/auth-postfix"
        printf 'STACK_IMTEST=/usr/lib/cyrus/bin/imtest\n'
        printf 'STACK_SMTPTEST=/usr/lib/cyrus/bin/smtptest\n'
        printf 'STACK_POP3TEST=/usr/lib/cyrus/bin/pop3test\n'
    } >"$tmp" || return 1
    mv -f "$tmp" "$STACK_ENV_FILE"
}

# Fails when one of this stack's ports is already in use (by another
# program, or by a stack started from another state folder).
_stack_check_ports_free() {
    local port busy=0 listening owner
    listening=$(ss -Htln 2>/dev/null | awk '{print $4}') || return 1
    for port in "$STACK_GLEWLWYD_PORT" "$STACK_IMAP_PORT" "$STACK_IMAPS_PORT" \
        "$STACK_POP3_PORT" "$STACK_POP3S_PORT" "$STACK_SUBMISSION_PORT" \
        "$STACK_SUBMISSIONS_PORT" "$STACK_SMTP_RELAY_PORT" "$STACK_SMTP_AUTH_PORT"; do
        if grep -Eq "[:.]$port\$" <<<"$listening"; then
            owner=$(ss -Htlnp "sport = :$port" 2>/dev/null | grep -o 'users:.*' | head -n 1)
            _stack_err "port $port is already in use${owner:+ ($owner)}; stop the program that listens there or choose another MAILTOKEN_TEST_PORT_BASE"
            busy=1
        fi
    done
    return "$busy"
}

# Waits until something listens on ADDRESS:$1; $2 = seconds (default 10),
# $3 = name for the error message, $4 = ADDRESS (default 127.0.0.1).
_stack_wait_port() {
    local port=$1 timeout=${2:-10} name=${3:-port $1} address=${4:-127.0.0.1} i
    for ((i = 0; i < timeout * 20; i++)); do
        if ss -Htln "src $address:$port" 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.05
    done
    _stack_err "$name did not listen on $address:$port within ${timeout}s"
    return 1
}

# Succeeds when process $1 exists and is not a zombie (an ended process
# that its parent, often PID 1 here, has not reaped yet).
_stack_pid_alive() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# Stops the process named in pid file $1 if its command line contains $2
# (so a PID reused by an unrelated process is left alone), then removes the
# file. Waits up to 5 s for the process to end, then sends SIGKILL.
_stack_kill_pidfile() {
    local file=$1 expect=$2 pid i cmdline
    [ -f "$file" ] || return 0
    pid=$(tr -dc 0-9 <"$file")
    if [ -n "$pid" ] && _stack_pid_alive "$pid"; then
        cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
        if [[ $cmdline == *"$expect"* ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            for ((i = 0; i < 100; i++)); do
                _stack_pid_alive "$pid" || break
                sleep 0.05
            done
            if _stack_pid_alive "$pid"; then
                _stack_err "process $pid ($expect) did not stop after SIGTERM; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    rm -f "$file"
}

# Stops every server started from STACK_DIR: Postfix client instances, the
# Postfix server instance, Dovecot, glewlwyd and the processes recorded in
# $STACK_DIR/pids/. Does nothing for parts that are not running, so it is
# safe to call twice or on a half-started stack. Returns non-zero when a
# process is still running afterwards.
stack_stop_all() {
    stack_env_init || return 1
    [ -d "$STACK_DIR" ] || return 0

    # The servers stop in parallel, because Dovecot's master took 1 to 3 s to
    # exit here and glewlwyd about 2 s (Postfix instances well under 1 s).
    local dir file pid rc=0
    local -a pids=()
    for dir in "$STACK_DIR"/postfix-client-*/etc "$STACK_POSTFIX_DIR/etc"; do
        [ -f "$dir/main.cf" ] || continue
        _stack_postfix_stop_instance "$dir" &
        pids+=("$!")
    done
    stack_dovecot_stop &
    pids+=("$!")
    stack_glewlwyd_stop &
    pids+=("$!")
    for file in "$STACK_DIR"/pids/*.pid; do
        [ -f "$file" ] || continue
        _stack_kill_pidfile "$file" "$(cat "$file.cmd" 2>/dev/null || echo "$STACK_DIR")"
        rm -f "$file.cmd"
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || rc=1
    done

    # Children outlive a master killed with SIGKILL for a moment; give them
    # time, then report any that remain instead of guessing further.
    local leftover i
    for ((i = 0; i < 50; i++)); do
        leftover=$(_stack_leftover_pids)
        [ -n "$leftover" ] || return "$rc"
        sleep 0.1
    done
    _stack_err "processes of the stack in $STACK_DIR still run after stop: $(tr '\n' ' ' <<<"$leftover")"
    return 1
}

# Succeeds when one of the arguments (environment entries) is the
# MAIL_CONFIG of a Postfix instance of this stack.
_stack_is_postfix_environ() {
    local entry
    for entry in "$@"; do
        case $entry in
            "MAIL_CONFIG=$STACK_POSTFIX_DIR/etc") return 0 ;;
            "MAIL_CONFIG=$STACK_DIR/postfix-client-"*/etc)
                [[ ${entry#"MAIL_CONFIG=$STACK_DIR/postfix-client-"} != */*/* ]] && return 0
                ;;
        esac
    done
    return 1
}

# Prints "PID COMMAND" for every process of this stack that still runs:
# glewlwyd, its proxy and Dovecot's master by their command line, Dovecot's children by
# the instance name in their title, Postfix daemons by MAIL_CONFIG in their
# environment.
_stack_leftover_pids() {
    # Reads /proc with bash builtins only: a fork per process would make
    # this loop take about half a second.
    local proc pid argv cmdline instance
    local -a words environ
    instance=$(_stack_dovecot_instance_name)
    for proc in /proc/[0-9]*; do
        pid=${proc#/proc/}
        [ "$pid" != "$$" ] && [ "$pid" != "$BASHPID" ] || continue
        mapfile -d '' words 2>/dev/null <"$proc/cmdline" || continue
        # Kernel threads have an empty command line.
        [ "${#words[@]}" -gt 0 ] || continue
        _stack_pid_alive "$pid" || continue
        argv=${words[0]}
        cmdline=${words[*]}
        case $argv in
            glewlwyd | */glewlwyd)
                [[ $cmdline == *"$STACK_GLEWLWYD_DIR/glewlwyd.conf"* ]] || continue
                ;;
            */python3)
                [[ $cmdline == *"serial-proxy.py "*" $STACK_GLEWLWYD_DIR/proxy.log"* ]] || continue
                ;;
            dovecot | */dovecot)
                [[ $cmdline == *"$STACK_DOVECOT_CONF"* ]] || continue
                ;;
            "dovecot-$instance/"*) ;;
            *)
                mapfile -d '' environ 2>/dev/null <"$proc/environ" || continue
                _stack_is_postfix_environ "${environ[@]}" || continue
                ;;
        esac
        printf '%s %s\n' "$pid" "$argv"
    done
}

# Records a background process started by a test so that stack_stop_all
# stops it: $1 = name, $2 = PID, $3 = text its command line contains.
stack_track_pid() {
    mkdir -p "$STACK_DIR/pids" || return 1
    printf '%s\n' "$2" >"$STACK_DIR/pids/$1.pid"
    printf '%s\n' "$3" >"$STACK_DIR/pids/$1.pid.cmd"
}

# Empties STACK_DIR after stopping what runs there. Refuses to touch a
# non-empty folder that does not carry the stack marker file.
_stack_reset_dir() {
    if [ -d "$STACK_DIR" ]; then
        if [ ! -e "$STACK_DIR/$STACK_MARKER" ] && [ -n "$(ls -A "$STACK_DIR")" ]; then
            _stack_err "$STACK_DIR exists, is not empty and is not a stack folder (no $STACK_MARKER); refusing to delete it"
            return 1
        fi
        stack_stop_all || return 1
        rm -rf "${STACK_DIR:?}"/* "${STACK_DIR:?}"/.[!.]* || return 1
    fi
    mkdir -p "$STACK_DIR" || return 1
    chmod 0755 "$STACK_DIR"
    : >"$STACK_DIR/$STACK_MARKER"
}

# Starts the whole stack into a fresh STACK_DIR and writes stack.env.
# Options:
#   --scripted-tokeninfo[=URL]  add a fourth Dovecot passdb that accepts the
#       tokens of the scripted token endpoint: Dovecot sends GET URL<token>
#       (token percent-encoded, and also in "Authorization: Bearer") and
#       takes "email" from a 200 reply. Default URL:
#       http://127.0.0.1:<base+60>/tokeninfo?access_token=
#       Off by default: while nothing listens at URL, Dovecot 2.3 reports
#       every rejected token as a temporary failure ("NO [UNAVAILABLE]")
#       instead of an authentication failure.
stack_start_all() {
    local scripted='' arg t0 t1
    for arg in "$@"; do
        case $arg in
            --scripted-tokeninfo) scripted=default ;;
            --scripted-tokeninfo=*) scripted=${arg#*=} ;;
            *)
                _stack_err "stack_start_all: unknown option '$arg'"
                return 1
                ;;
        esac
    done

    t0=$(_stack_now_ms)
    stack_env_init || return 1
    if [ "$scripted" = default ]; then
        scripted=$STACK_SCRIPTED_TOKENINFO_URL
    fi
    _stack_require_stack_tools || return 1
    _stack_reset_dir || return 1
    _stack_check_ports_free || return 1

    STACK_SCRIPTED_TOKENINFO=$scripted
    STACK_CLIENT_CREDENTIALS=unknown
    _stack_write_env || return 1

    stack_pki_create || return 1

    # glewlwyd and the Postfix server start in the background while Dovecot
    # starts in the foreground: `postfix start` alone takes about 2 s.
    local glw_pid pfx_pid rc=0
    stack_glewlwyd_start >"$STACK_DIR/start-glewlwyd.out" 2>&1 &
    glw_pid=$!
    stack_dovecot_start ${scripted:+"--scripted-tokeninfo=$scripted"} || rc=1
    stack_postfix_start >"$STACK_DIR/start-postfix.out" 2>&1 &
    pfx_pid=$!

    if ! wait "$glw_pid"; then
        _stack_err "glewlwyd failed to start:"
        cat "$STACK_DIR/start-glewlwyd.out" >&2
        rc=1
    fi
    if ! wait "$pfx_pid"; then
        _stack_err "the Postfix server instance failed to start:"
        cat "$STACK_DIR/start-postfix.out" >&2
        rc=1
    fi
    if [ "$rc" -ne 0 ]; then
        stack_stop_all
        return 1
    fi

    # stack_glewlwyd_start ran in a subshell: it recorded its findings in a file.
    if [ -f "$STACK_GLEWLWYD_DIR/client-credentials" ]; then
        STACK_CLIENT_CREDENTIALS=$(cat "$STACK_GLEWLWYD_DIR/client-credentials")
    fi
    _stack_write_env || return 1
    : >"$STACK_DIR/ready"
    t1=$(_stack_now_ms)
    _stack_log "stack up in $((t1 - t0)) ms (ports $STACK_PORT_BASE+, state in $STACK_DIR)"
}

# Loads stack.env of a running stack into the current shell.
# $1 = state folder (default: STACK_DIR or $PWD/build/stack).
stack_load_env() {
    local dir=${1:-${STACK_DIR:-$PWD/build/stack}}
    if [ ! -f "$dir/stack.env" ] || [ ! -f "$dir/ready" ]; then
        _stack_err "no running stack in $dir (stack.env or the ready marker is missing); start it with stack_start_all"
        return 1
    fi
    # shellcheck disable=SC1091
    . "$dir/stack.env"
    MAILTOKEN_TEST_PORT_BASE=$STACK_PORT_BASE
    stack_env_init
}

# Prints the path of a log file. $1 = glewlwyd | dovecot | lda | postfix |
# postfix-client-NAME.
stack_log_path() {
    case $1 in
        glewlwyd) printf '%s\n' "$STACK_GLEWLWYD_DIR/glewlwyd.log" ;;
        dovecot) printf '%s\n' "$STACK_DOVECOT_LOG" ;;
        lda) printf '%s\n' "$STACK_LDA_LOG" ;;
        postfix) printf '%s\n' "$STACK_POSTFIX_LOG" ;;
        postfix-client-*) printf '%s\n' "$STACK_DIR/$1/maillog" ;;
        *)
            _stack_err "unknown log '$1' (expected glewlwyd, dovecot, lda, postfix or postfix-client-NAME)"
            return 1
            ;;
    esac
}

# Prints a log file, or its last $2 lines.
stack_log() {
    local path
    path=$(stack_log_path "$1") || return 1
    if [ ! -f "$path" ]; then
        _stack_err "log $path does not exist yet"
        return 1
    fi
    if [ -n "${2:-}" ]; then
        tail -n "$2" "$path"
    else
        cat "$path"
    fi
}

# Prints the number of lines log $1 has now; pass it to stack_log_since.
stack_log_mark() {
    local path
    path=$(stack_log_path "$1") || return 1
    if [ -f "$path" ]; then
        wc -l <"$path"
    else
        echo 0
    fi
}

# Prints the lines log $1 got after mark $2 (from stack_log_mark).
stack_log_since() {
    local path
    path=$(stack_log_path "$1") || return 1
    [ -f "$path" ] || return 0
    tail -n "+$(($2 + 1))" "$path"
}

# shellcheck source=stack-pki.sh
. "$STACK_LIB_DIR/stack-pki.sh"
# shellcheck source=stack-glewlwyd.sh
. "$STACK_LIB_DIR/stack-glewlwyd.sh"
# shellcheck source=stack-dovecot.sh
. "$STACK_LIB_DIR/stack-dovecot.sh"
# shellcheck source=stack-postfix.sh
. "$STACK_LIB_DIR/stack-postfix.sh"
# shellcheck source=stack-browser.sh
. "$STACK_LIB_DIR/stack-browser.sh"
