# shellcheck shell=bash
# Postfix 3.7 instances, each with its own config, queue and log folder.
# Sourced by stack.sh.
#
#   server instance ($STACK_POSTFIX_DIR): smtpd on <base+25> (relay target
#     without AUTH for 127.0.0.0/8, used by Dovecot submission; STARTTLS
#     offered) and on <base+26> (AUTH through Dovecot's SASL socket,
#     STARTTLS offered); delivers example.test mail to the Dovecot Maildir
#     with dovecot-lda.
#   client instances ($STACK_DIR/postfix-client-NAME): no listener; the smtp
#     client relays every message to one host:port, for testing a SASL plugin
#     inside Postfix.
#
# The postfix command prints its errors only to a terminal or to syslog, so
# every call runs under `script`, which gives it a pseudo-terminal whose
# output is captured.

# Runs `postfix -c CONFIG_DIR COMMAND` under a pseudo-terminal; prints its
# output and returns its exit status.
_stack_postfix_cmd() {
    local confdir=$1 command=$2
    script -qec "postfix -c '$confdir' $command" /dev/null </dev/null | tr -d '\r'
    return "${PIPESTATUS[0]}"
}

# Writes the main.cf settings every instance shares. $1 = instance folder.
_stack_postfix_common_main() {
    local dir=$1
    cat <<EOF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
mydomain = $STACK_MAIL_DOMAIN
myorigin = $STACK_MAIL_DOMAIN
mydestination =
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
maillog_file = $dir/maillog
# Postfix refuses a maillog_file outside these prefixes.
maillog_file_prefixes = /var, /dev/stdout, $dir
EOF
}

# Writes the master.cf services every instance needs, all without chroot.
_stack_postfix_common_master() {
    cat <<'EOF'
pickup     unix  n  -  n  60     1  pickup
cleanup    unix  n  -  n  -      0  cleanup
qmgr       unix  n  -  n  300    1  qmgr
tlsmgr     unix  -  -  n  1000?  1  tlsmgr
rewrite    unix  -  -  n  -      -  trivial-rewrite
bounce     unix  -  -  n  -      0  bounce
defer      unix  -  -  n  -      0  bounce
trace      unix  -  -  n  -      0  bounce
verify     unix  -  -  n  -      1  verify
flush      unix  n  -  n  1000?  0  flush
proxymap   unix  -  -  n  -      -  proxymap
proxywrite unix  -  -  n  -      1  proxymap
showq      unix  n  -  n  -      -  showq
error      unix  -  -  n  -      -  error
retry      unix  -  -  n  -      -  error
discard    unix  -  -  n  -      -  discard
anvil      unix  -  -  n  -      1  anvil
scache     unix  -  -  n  -      1  scache
postlog    unix-dgram n  -  n  -  1  postlogd
EOF
}

# Creates the folders of an instance. $1 = instance folder.
_stack_postfix_make_dirs() {
    local dir=$1
    mkdir -p "$dir/etc" "$dir/spool" "$dir/data" || return 1
    chown postfix:postfix "$dir/data" || return 1
    chmod 0755 "$dir" "$dir/spool"
    # Debian's Postfix finds the map types packaged as plugins (postfix-pcre,
    # postfix-ldap, ...) through dynamicmaps.cf in the config folder.
    if [ -f /etc/postfix/dynamicmaps.cf ]; then
        cp /etc/postfix/dynamicmaps.cf "$dir/etc/dynamicmaps.cf"
    fi
}

# Starts an instance whose etc/ folder is ready. $1 = instance folder,
# $2 = name for messages.
_stack_postfix_start_instance() {
    local dir=$1 name=$2 out
    if ! out=$(_stack_postfix_cmd "$dir/etc" start 2>&1); then
        _stack_err "postfix ($name) failed to start: $out"
        tail -n 20 "$dir/maillog" >&2 2>/dev/null
        return 1
    fi
    if ! _stack_postfix_cmd "$dir/etc" status >/dev/null 2>&1; then
        _stack_err "postfix ($name) is not running after start: $out"
        tail -n 20 "$dir/maillog" >&2 2>/dev/null
        return 1
    fi
}

# Stops the instance with config folder $1 when it runs.
_stack_postfix_stop_instance() {
    local confdir=$1 out
    [ -f "$confdir/main.cf" ] || return 0
    if ! _stack_postfix_cmd "$confdir" status >/dev/null 2>&1; then
        return 0
    fi
    if ! out=$(_stack_postfix_cmd "$confdir" stop 2>&1); then
        _stack_err "postfix -c $confdir stop failed: $out"
        return 1
    fi
}

# Starts the server instance (ports base+25 and base+26).
stack_postfix_start() {
    local dir=$STACK_POSTFIX_DIR
    _stack_postfix_make_dirs "$dir" || return 1
    {
        _stack_postfix_common_main "$dir"
        cat <<EOF
myhostname = mx.$STACK_MAIL_DOMAIN
inet_interfaces = 127.0.0.1
virtual_mailbox_domains = $STACK_MAIL_DOMAIN
virtual_transport = dovecotlda
dovecotlda_destination_recipient_limit = 1
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
EOF
    } >"$dir/etc/main.cf" || return 1
    {
        _stack_postfix_common_master
        cat <<EOF
127.0.0.1:$STACK_SMTP_RELAY_PORT inet n - n - - smtpd
  -o syslog_name=postfix/relaytarget
  -o smtpd_tls_security_level=may
  -o smtpd_tls_cert_file=$STACK_SERVER_CERT
  -o smtpd_tls_key_file=$STACK_SERVER_KEY
127.0.0.1:$STACK_SMTP_AUTH_PORT inet n - n - - smtpd
  -o syslog_name=postfix/authsmtp
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=$STACK_DOVECOT_BASE_DIR/auth-postfix
  -o smtpd_sasl_security_options=noanonymous
  -o smtpd_tls_security_level=may
  -o smtpd_tls_cert_file=$STACK_SERVER_CERT
  -o smtpd_tls_key_file=$STACK_SERVER_KEY
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
dovecotlda unix - n n - - pipe
  flags=DRhu user=nobody:nogroup argv=/usr/lib/dovecot/dovecot-lda -c $STACK_DOVECOT_CONF -e -f \${sender} -d \${user}
EOF
    } >"$dir/etc/master.cf" || return 1

    _stack_postfix_start_instance "$dir" server || return 1
    _stack_wait_port "$STACK_SMTP_RELAY_PORT" 10 "postfix smtpd" || return 1
    _stack_wait_port "$STACK_SMTP_AUTH_PORT" 10 "postfix smtpd" || return 1
}

stack_postfix_stop() {
    _stack_postfix_stop_instance "$STACK_POSTFIX_DIR/etc"
}

# Prints the folder of client instance $1.
stack_postfix_client_dir() {
    case $1 in
        '' | *[!A-Za-z0-9_-]*)
            _stack_err "invalid Postfix client instance name '$1' (letters, digits, '-' and '_' only)"
            return 1
            ;;
    esac
    printf '%s\n' "$STACK_DIR/postfix-client-$1"
}

# Creates and starts a Postfix client instance: no listener, every message
# relayed to one server. A running instance of the same name is stopped and
# its folder replaced.
#   $1  instance name (letters, digits, '-', '_')
#   $2  relay target HOST:PORT, e.g. 127.0.0.1:$STACK_SUBMISSION_PORT
# Options:
#   --chroot=y|n          chroot column of smtp and relay in master.cf
#                         (default y, as Debian ships it)
#   --import-env=NAME=VAL add to import_environment (repeatable), e.g.
#                         SASL_PATH=/path/to/plugins; Postfix passes only
#                         the listed variables to its daemons
#   --sasl-passwd=LINE    a line of etc/sasl_passwd, e.g.
#                         "[127.0.0.1]:14387 alice:secret" (repeatable);
#                         enables smtp_sasl_auth_enable and the texthash map
#   --main-cf=LINE        a main.cf line appended last (repeatable); a later
#                         line wins over the defaults above it
# Defaults: STARTTLS required and verified against the stack's CA
# (smtp_tls_security_level = secure; the certificate must name the relay
# host or "localhost"), SASL security options noanonymous.
# The instance folder (stack_postfix_client_dir NAME) contains etc/,
# spool/ (the chroot) and maillog.
stack_postfix_client_start() {
    local name=$1 relay=${2-} chroot=y dir arg host port
    local -a imports=() passwd=() extra=()
    dir=$(stack_postfix_client_dir "$name") || return 1
    shift 2 || {
        _stack_err "usage: stack_postfix_client_start NAME HOST:PORT [options]"
        return 1
    }
    for arg in "$@"; do
        case $arg in
            --chroot=y | --chroot=n) chroot=${arg#*=} ;;
            --import-env=*) imports+=("${arg#*=}") ;;
            --sasl-passwd=*) passwd+=("${arg#*=}") ;;
            --main-cf=*) extra+=("${arg#*=}") ;;
            *)
                _stack_err "stack_postfix_client_start: unknown option '$arg'"
                return 1
                ;;
        esac
    done
    host=${relay%:*}
    port=${relay##*:}
    if [ -z "$host" ] || [ "$host" = "$relay" ] || [[ ! $port =~ ^[0-9]+$ ]]; then
        _stack_err "stack_postfix_client_start: relay target must be HOST:PORT, got '$relay'"
        return 1
    fi

    _stack_postfix_stop_instance "$dir/etc" || return 1
    rm -rf "$dir"
    _stack_postfix_make_dirs "$dir" || return 1
    : >"$dir/etc/sasl_passwd"
    if [ "${#passwd[@]}" -gt 0 ]; then
        printf '%s\n' "${passwd[@]}" >"$dir/etc/sasl_passwd"
    fi
    chmod 0600 "$dir/etc/sasl_passwd"

    {
        _stack_postfix_common_main "$dir"
        cat <<EOF
myhostname = client.$STACK_MAIL_DOMAIN
inet_interfaces = loopback-only
relayhost = [$host]:$port
smtp_tls_security_level = secure
smtp_tls_CAfile = $STACK_CA_FILE
# Postfix 3.7 matches only DNS names, never IP address SANs, so a relay
# target given as 127.0.0.1 is verified against the name "localhost".
smtp_tls_secure_cert_match = nexthop, localhost
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C ${imports[*]}
EOF
        if [ "${#passwd[@]}" -gt 0 ]; then
            printf 'smtp_sasl_auth_enable = yes\n'
            printf 'smtp_sasl_password_maps = texthash:%s\n' "$dir/etc/sasl_passwd"
        fi
        if [ "${#extra[@]}" -gt 0 ]; then
            printf '%s\n' "${extra[@]}"
        fi
    } >"$dir/etc/main.cf" || return 1
    {
        _stack_postfix_common_master
        printf 'smtp       unix  -  -  %s  -  -  smtp\n' "$chroot"
        printf 'relay      unix  -  -  %s  -  -  smtp\n' "$chroot"
    } >"$dir/etc/master.cf" || return 1

    _stack_postfix_start_instance "$dir" "client $name"
}

stack_postfix_client_stop() {
    local dir
    dir=$(stack_postfix_client_dir "$1") || return 1
    _stack_postfix_stop_instance "$dir/etc"
}

# Injects a message read from stdin with the client instance's sendmail.
# $1 = instance name, $2 = envelope sender, $3... = recipients.
stack_postfix_client_sendmail() {
    local name=$1 from=$2 dir
    dir=$(stack_postfix_client_dir "$name") || return 1
    shift 2
    sendmail -C "$dir/etc" -f "$from" -- "$@"
}

# Asks the client instance to retry deferred mail now.
stack_postfix_client_flush() {
    local dir
    dir=$(stack_postfix_client_dir "$1") || return 1
    postqueue -c "$dir/etc" -f
}

# Waits until the client instance's maillog has a line matching the
# extended regular expression $2 (e.g. "status=sent"); $3 = seconds
# (default 20). Prints the matching lines. On timeout prints the log's
# last lines on stderr and fails.
stack_postfix_client_wait_log() {
    local dir pattern=$2 timeout=${3:-20} i
    dir=$(stack_postfix_client_dir "$1") || return 1
    for ((i = 0; i < timeout * 10; i++)); do
        if grep -E -- "$pattern" "$dir/maillog" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    _stack_err "no line matching '$pattern' in $dir/maillog within ${timeout}s; last lines:"
    tail -n 15 "$dir/maillog" >&2 2>/dev/null
    return 1
}
