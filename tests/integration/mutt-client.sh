# shellcheck shell=bash
# Sourced by test_client_mutt.sh and test_client_neomutt.sh after
# lib/testlib.sh and mailtoken-account.sh, with MUTT set to "mutt" or
# "neomutt". Runs the program with test variants of the configurations in
# contrib/: SMTP in batch mode, IMAP in a detached tmux session (IMAP
# mailboxes open only with a terminal), whose screen the test reads.

: "${MUTT:?set MUTT to mutt or neomutt}"
test_require_tools "$MUTT:$MUTT" tmux:tmux jq:jq

MUTT_SOURCE_DIR=${MAILTOKEN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# A tmux server of this test only, so that parallel tests never share one.
# The session "keeper" keeps it running between the program's sessions: a
# server exits with its last session, and a new-session racing with that
# exit fails with "server exited unexpectedly".
MUTT_TMUX=(tmux -L "mailtoken-$TEST_NAME-$$")
MUTT_SESSION=''
MUTT_RUNS=0
mkdir -p "$TEST_TMP/home"

_mutt_cleanup() {
    mutt_stop_tunnels
    if [ -n "$MUTT_SESSION" ]; then
        "${MUTT_TMUX[@]}" kill-session -t "$MUTT_SESSION" 2>/dev/null || true
    fi
    "${MUTT_TMUX[@]}" kill-session -t keeper 2>/dev/null || true
    _test_cleanup
}
trap _mutt_cleanup EXIT
"${MUTT_TMUX[@]}" new-session -d -s keeper "sleep 3600" || test_fail "tmux could not start a server"

# Prints the path of contrib file $1 (relative to contrib/) after checking it exists.
mutt_contrib() {
    local path=$MUTT_SOURCE_DIR/contrib/$1
    [ -f "$path" ] || test_fail "$path is missing"
    printf '%s\n' "$path"
}

# mutt_variant NAME CONTRIB CONF ACCOUNT SMTP_URL [LINE...]: writes
# $TEST_TMP/NAME.rc, which sources CONTRIB and then points it at the
# stack: IMAPS, the SMTP server SMTP_URL, alice, the stack's CA, and
# `mailtoken --config CONF token ACCOUNT`. Each LINE is appended. Prints
# the file's path.
mutt_variant() {
    local name=$1 contrib=$2 conf=$3 account=$4 smtp_url=$5 rc line command
    shift 5
    rc=$TEST_TMP/$name.rc
    command="$MAILTOKEN --config $conf token $account"
    {
        printf 'source "%s"\n' "$contrib"
        printf 'set folder = "imaps://%s:%s/"\n' "$STACK_MAIL_HOST" "$STACK_IMAPS_PORT"
        # "+" names expand when set, so they are set again after folder.
        printf 'set spoolfile = "+INBOX"\n'
        printf 'set record = ""\nset postponed = ""\nset trash = ""\nset copy = no\n'
        printf 'set imap_user = "%s"\n' "$STACK_ALICE_USER"
        printf 'set smtp_url = "%s"\n' "$smtp_url"
        printf 'set from = "%s"\n' "$STACK_ALICE_EMAIL"
        printf 'set imap_oauth_refresh_command = "%s"\n' "$command"
        printf 'set smtp_oauth_refresh_command = "%s"\n' "$command"
        printf 'set ssl_ca_certificates_file = "%s"\n' "$STACK_CA_FILE"
        printf 'set certificate_file = "%s"\n' "$TEST_TMP/certificates"
        # Every message comes from the server, none from a local cache.
        printf 'set header_cache = ""\nset message_cachedir = ""\n'
        for line in "$@"; do
            printf '%s\n' "$line"
        done
    } >"$rc"
    printf '%s\n' "$rc"
}

# mutt_tunnel_line CONF ACCOUNT: prints a "set tunnel" line that runs
# `mailtoken --config CONF tunnel ACCOUNT imap` to the stack's IMAPS port and
# records the tunnel's PID in $TEST_TMP/tunnel-*.pid.
mutt_tunnel_line() {
    local pid_file
    MUTT_RUNS=$((MUTT_RUNS + 1))
    pid_file=$TEST_TMP/tunnel-$MUTT_RUNS.pid
    # Single quotes: the program passes $$ on to the shell that runs the tunnel.
    printf "set tunnel = 'echo \$\$ >%s; exec %s --config %s tunnel %s imap imaps://%s:%s'\n" \
        "$pid_file" "$MAILTOKEN" "$1" "$2" "$STACK_MAIL_HOST" "$STACK_IMAPS_PORT"
}

# Stops the tunnels that mutt_tunnel_line started and that still run.
# NeoMutt 20220429 closes the connection without LOGOUT, and the tunnel
# then waits up to 30 seconds for the server's last replies.
mutt_stop_tunnels() {
    local pid_file pid
    for pid_file in "$TEST_TMP"/tunnel-*.pid; do
        [ -s "$pid_file" ] || continue
        pid=$(cat "$pid_file")
        if kill -0 "$pid" 2>/dev/null && grep -q tunnel "/proc/$pid/cmdline" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
        fi
        rm -f "$pid_file"
    done
}

# Prints the stack's SMTP URL for alice: mutt_smtp_url smtp|smtps PORT.
mutt_smtp_url() {
    printf '%s://%s@%s:%s/\n' "$1" "$STACK_ALICE_USER" "$STACK_MAIL_HOST" "$2"
}

# mutt_send RC SUBJECT BODY: sends alice a message in batch mode; sets
# $status and $out (the program's combined output).
mutt_send() {
    status=0
    out=$(printf '%s\n' "$3" | HOME=$TEST_TMP/home timeout 60 "$MUTT" -n -F "$1" -s "$2" \
        "$STACK_ALICE_EMAIL" 2>&1) || status=$?
}

# mutt_screen RC KEYS DONE_REGEX [FAIL_REGEX]: starts the program on RC in
# a tmux session with KEYS pushed as input. Polls its screen until it
# matches DONE_REGEX or FAIL_REGEX, or for at most 20 seconds. Then quits
# the program with its own keys, so that it logs out, and ends the
# session. Sets $screen to the last screen. Returns 0 when DONE_REGEX
# matched.
mutt_screen() {
    local rc=$1 keys=$2 done_regex=$3 fail_regex=${4:-} script status_file deadline waited result=1
    MUTT_RUNS=$((MUTT_RUNS + 1))
    MUTT_SESSION=run$MUTT_RUNS
    script=$TEST_TMP/$MUTT_SESSION.sh
    status_file=$TEST_TMP/$MUTT_SESSION.status
    # The trailing sleep keeps the last screen readable after the program exits.
    {
        printf 'HOME=%q %q -n -F %q -e %q\n' "$TEST_TMP/home" "$MUTT" "$rc" "push \"$keys\""
        printf 'echo $? >%q\nsleep 60\n' "$status_file"
    } >"$script"
    "${MUTT_TMUX[@]}" new-session -d -s "$MUTT_SESSION" -x 160 -y 45 "bash $script" ||
        test_fail "tmux could not start a session"
    deadline=$((SECONDS + 20))
    screen=''
    while [ "$SECONDS" -lt "$deadline" ]; do
        screen=$("${MUTT_TMUX[@]}" capture-pane -t "$MUTT_SESSION" -p 2>/dev/null) || screen=''
        if grep -Eq -- "$done_regex" <<<"$screen"; then
            result=0
            break
        fi
        if [ -n "$fail_regex" ] && grep -Eq -- "$fail_regex" <<<"$screen"; then
            break
        fi
        sleep 0.1
    done

    # "q" leaves the pager, the next "q" quits. A program killed instead
    # would leave `mailtoken tunnel` waiting for the server to close. A
    # program that waits for its tunnel to exit gets 2 seconds.
    "${MUTT_TMUX[@]}" send-keys -t "$MUTT_SESSION" q q 2>/dev/null || true
    for ((waited = 0; waited < 100; waited++)); do
        [ -s "$status_file" ] && break
        if [ "$waited" -eq 20 ]; then
            mutt_stop_tunnels
        fi
        sleep 0.1
    done
    "${MUTT_TMUX[@]}" kill-session -t "$MUTT_SESSION" 2>/dev/null || true
    MUTT_SESSION=''
    return "$result"
}

# mutt_read WHAT RC WORD MARKER: opens INBOX over IMAP, limits the index to
# the message whose subject contains WORD and displays it. Passes when the
# screen shows MARKER from its body, else fails with the program's
# message history.
mutt_read() {
    local what=$1 rc=$2
    if ! mutt_screen "$rc" "<limit>~s $3<enter><display-message>" "$4" \
        'Unable to open mailbox|No mailbox is open|No authenticators available'; then
        # The pager's help line appears once the history is on the screen.
        mutt_errors "$rc" 'i:Exit' || true
        test_fail "$what: the message body did not appear; messages: $(grep -v -e '^ *$' -e 'i:Exit' <<<"$screen" | tail -n 8)"
    fi
    test_pass "$what: read the message over IMAP"
}

# mutt_errors RC DONE_REGEX: opens INBOX and shows the program's message
# history; sets $screen. Returns 0 when DONE_REGEX appears there.
mutt_errors() {
    mutt_screen "$1" "<error-history>" "$2"
}

# Sets $word to a unique word and $subject to a unique subject containing it.
mutt_subject() {
    word=$MUTT-$(openssl rand -hex 6)
    subject="$(test_unique_subject) $word"
}
