# shellcheck shell=bash
# Dovecot 2.3 as the IMAP, POP3 and submission server. Its oauth2 passdbs
# check tokens with glewlwyd; mail is stored in Maildir folders under
# STACK_MAIL_ROOT/<user>/Maildir. Sourced by stack.sh.
#
# Passdbs, tried in order until one accepts the token:
#   1. RFC 7662 introspection at the HS256 instance, as client mailconf.
#      glewlwyd lets a client introspect only the tokens issued to it, so this
#      one accepts mailconf tokens only.
#   2. userinfo of the HS256 instance, called as "tokeninfo": any client.
#   3. userinfo of the RS256 instance: any client.
#   4. (only with --scripted-tokeninfo) the scripted token endpoint.
# A token that every passdb rejects gets Dovecot's error challenge.

# Prints a Dovecot instance name unique to the state folder, so that stacks
# started from different folders never share one.
_stack_dovecot_instance_name() {
    local hash
    hash=$(printf '%s' "$STACK_DIR" | sha256sum | cut -c1-12)
    printf 'mailtoken-%s\n' "$hash"
}

# Prints "yes" when STACK_DOVECOT_DEBUG is set, else "no". Debug logging
# puts every token into dovecot.log (in the userinfo URLs and the passdb
# replies), so it is off unless asked for.
_stack_dovecot_debug() {
    if [ -n "${STACK_DOVECOT_DEBUG:-}" ]; then
        echo yes
    else
        echo no
    fi
}

# Writes one oauth2 passdb settings file: $1 = file, then the settings lines.
_stack_dovecot_write_oauth2() {
    local file=$1
    shift
    printf '%s\n' "$@" "username_format = %Ln" "timeout_msecs = 5000" \
        "debug = $(_stack_dovecot_debug)" >"$file"
}

# Writes the passdb block for settings file $1.
_stack_dovecot_passdb() {
    cat <<EOF
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $1
}
EOF
}

# Writes dovecot.conf and the oauth2 settings files.
# $1 = URL prefix of the scripted token endpoint's tokeninfo, or "" for none.
_stack_dovecot_write_config() {
    local scripted=$1 dir=$STACK_DOVECOT_DIR passdbs
    local hs=$STACK_API_URL/$STACK_OIDC_NAME rs=$STACK_API_URL/$STACK_OIDC_RS_NAME

    # Credentials in introspection_url become HTTP Basic authentication;
    # introspection_mode = post sends the token as form data (RFC 7662).
    # active_attribute/active_value turn glewlwyd's {"active":false} into a
    # rejected password instead of an internal failure.
    _stack_dovecot_write_oauth2 "$dir/oauth2-introspect.conf.ext" \
        "introspection_mode = post" \
        "introspection_url = http://$STACK_CONF_CLIENT_ID:$STACK_CONF_CLIENT_SECRET@127.0.0.1:$STACK_GLEWLWYD_PORT/api/$STACK_OIDC_NAME/introspect" \
        "username_attribute = username" \
        "active_attribute = active" \
        "active_value = true" \
        "scope = $STACK_SCOPE"
    # tokeninfo (not introspection) is the mode that treats HTTP 401 as an
    # invalid token; Dovecot sends the token as a Bearer header, which is
    # what glewlwyd's userinfo reads.
    _stack_dovecot_write_oauth2 "$dir/oauth2-userinfo.conf.ext" \
        "tokeninfo_url = $hs/userinfo?access_token=" \
        "username_attribute = email"
    _stack_dovecot_write_oauth2 "$dir/oauth2-userinfo-rs.conf.ext" \
        "tokeninfo_url = $rs/userinfo?access_token=" \
        "username_attribute = email"

    passdbs=$(_stack_dovecot_passdb "$dir/oauth2-introspect.conf.ext")
    passdbs+=$'\n'$(_stack_dovecot_passdb "$dir/oauth2-userinfo.conf.ext")
    passdbs+=$'\n'$(_stack_dovecot_passdb "$dir/oauth2-userinfo-rs.conf.ext")
    if [ -n "$scripted" ]; then
        _stack_dovecot_write_oauth2 "$dir/oauth2-scripted.conf.ext" \
            "tokeninfo_url = $scripted" \
            "username_attribute = email"
        passdbs+=$'\n'$(_stack_dovecot_passdb "$dir/oauth2-scripted.conf.ext")
    fi

    # Dovecot 2.3 wants one setting per line inside sections.
    cat >"$STACK_DOVECOT_CONF" <<EOF
# Written by tests/integration/lib/stack-dovecot.sh
base_dir = $STACK_DOVECOT_BASE_DIR
state_dir = $dir/state
instance_name = $(_stack_dovecot_instance_name)
protocols = imap pop3 submission
listen = 127.0.0.1
hostname = localhost
log_path = $STACK_DOVECOT_LOG
auth_verbose = yes
auth_debug = $(_stack_dovecot_debug)
auth_mechanisms = xoauth2 oauthbearer
# Dovecot fails a rejected login at once instead of after its default 2 s.
auth_failure_delay = 0
disable_plaintext_auth = no
ssl = yes
ssl_cert = <$STACK_SERVER_CERT
ssl_key = <$STACK_SERVER_KEY
$passdbs
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$STACK_MAIL_ROOT/%n allow_all_users=yes
}
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {
  inet_listener imap {
    port = $STACK_IMAP_PORT
  }
  inet_listener imaps {
    port = $STACK_IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $STACK_POP3_PORT
  }
  inet_listener pop3s {
    port = $STACK_POP3S_PORT
    ssl = yes
  }
}
service submission-login {
  inet_listener submission {
    port = $STACK_SUBMISSION_PORT
  }
  inet_listener submissions {
    port = $STACK_SUBMISSIONS_PORT
    ssl = yes
  }
}
submission_relay_host = 127.0.0.1
submission_relay_port = $STACK_SMTP_RELAY_PORT
submission_relay_trusted = yes
# Anvil delays every login from an IP address after a failed one (up to
# 15 s in Dovecot 2.3.19), and no setting turns that off. Moving the listener to another name
# disables the penalty, because the auth process then cannot reach anvil.
service anvil {
  unix_listener anvil-auth-penalty {
    path = anvil-auth-penalty-disabled
  }
}
service auth {
  # Postfix smtpd (smtpd_sasl_type = dovecot) runs as user postfix.
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
  # dovecot-lda runs as nobody from Postfix's pipe transport.
  unix_listener auth-userdb {
    mode = 0666
  }
}
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
protocol lda {
  log_path = $STACK_LDA_LOG
  info_log_path = $STACK_LDA_LOG
}
EOF
}

# Starts Dovecot. Option --scripted-tokeninfo=URL adds passdb 4.
stack_dovecot_start() {
    local scripted='' arg
    for arg in "$@"; do
        case $arg in
            --scripted-tokeninfo=*) scripted=${arg#*=} ;;
            *)
                _stack_err "stack_dovecot_start: unknown option '$arg'"
                return 1
                ;;
        esac
    done

    mkdir -p "$STACK_DOVECOT_DIR/state" "$STACK_MAIL_ROOT" || return 1
    # A stale socket in base_dir (anvil-auth-penalty in particular) confuses
    # a new instance, so base_dir always starts empty.
    rm -rf "$STACK_DOVECOT_BASE_DIR"
    chown 65534:65534 "$STACK_MAIL_ROOT" || return 1
    : >>"$STACK_LDA_LOG"
    chown 65534:65534 "$STACK_LDA_LOG" || return 1
    _stack_dovecot_write_config "$scripted" || return 1

    if ! dovecot -c "$STACK_DOVECOT_CONF" >"$STACK_DOVECOT_DIR/start.out" 2>&1; then
        _stack_err "dovecot failed to start:"
        cat "$STACK_DOVECOT_DIR/start.out" >&2
        tail -n 20 "$STACK_DOVECOT_LOG" >&2 2>/dev/null
        return 1
    fi
    local port
    for port in "$STACK_IMAP_PORT" "$STACK_IMAPS_PORT" "$STACK_POP3_PORT" \
        "$STACK_POP3S_PORT" "$STACK_SUBMISSION_PORT" "$STACK_SUBMISSIONS_PORT"; do
        if ! _stack_wait_port "$port" 10 dovecot; then
            tail -n 20 "$STACK_DOVECOT_LOG" >&2 2>/dev/null
            return 1
        fi
    done
    # The SASL socket for Postfix appears when the auth service starts.
    local i
    for ((i = 0; i < 100; i++)); do
        [ -S "$STACK_DOVECOT_BASE_DIR/auth-postfix" ] && break
        sleep 0.05
    done
}

stack_dovecot_stop() {
    local pidfile=$STACK_DOVECOT_BASE_DIR/master.pid pid i
    [ -f "$pidfile" ] || return 0
    pid=$(tr -dc 0-9 <"$pidfile")
    _stack_kill_pidfile "$pidfile" "$STACK_DOVECOT_CONF"
    # The master stops its children before it exits; wait for the login and
    # auth processes to release the ports as well.
    for ((i = 0; i < 100; i++)); do
        ss -Htln "sport = :$STACK_IMAP_PORT" 2>/dev/null | grep -q . || return 0
        sleep 0.05
    done
    _stack_err "dovecot (master PID $pid) still listens on port $STACK_IMAP_PORT after stop"
    return 1
}

# Restarts Dovecot with new options (same as stack_dovecot_start) and
# updates STACK_SCRIPTED_TOKENINFO in stack.env. Tests sharing the stack see
# a short outage, so register such tests with mailtoken_stack_test(...
# EXCLUSIVE), which runs them alone.
stack_dovecot_restart() {
    local arg scripted=''
    for arg in "$@"; do
        case $arg in
            --scripted-tokeninfo) scripted=$STACK_SCRIPTED_TOKENINFO_URL ;;
            --scripted-tokeninfo=*) scripted=${arg#*=} ;;
            *)
                _stack_err "stack_dovecot_restart: unknown option '$arg'"
                return 1
                ;;
        esac
    done
    stack_dovecot_stop || return 1
    stack_dovecot_start ${scripted:+"--scripted-tokeninfo=$scripted"} || return 1
    STACK_SCRIPTED_TOKENINFO=$scripted
    _stack_write_env
}
