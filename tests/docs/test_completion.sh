#!/bin/bash
# Drives the bash completion of mailtoken without bash-completion
# installed: _init_completion and _filedir are replaced by small stand-ins
# that fill the same variables, then each case sets the command line and
# compares COMPREPLY with the expected words.
# Usage: test_completion.sh COMPLETION_FILE
set -euo pipefail

completion=${1:?usage: test_completion.sh COMPLETION_FILE}
work=$(mktemp -d /tmp/mailtoken-completion-XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0

# The parts of bash-completion's API that the completion uses.
_init_completion()
{
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]:-}
}
_filedir()
{
    COMPREPLY=(FILES)
}
complete() { :; }

# shellcheck source=/dev/null
. "$completion"

cat > "$work/config" <<'CONF'
[defaults]
store = /tmp/unused
[work]
client_id = x
  [gmail]  ; indented, with a comment
client_id = y
CONF
cat > "$work/other" <<'CONF'
[only-here]
client_id = z
CONF

# expect "EXPECTED WORDS" word... : completes the command line whose last word is the cursor.
expect()
{
    local expected=$1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    # Completion functions run without set -e in a shell; compgen without a match returns 1.
    set +e
    _mailtoken
    set -e
    local got="${COMPREPLY[*]}"
    if [[ $got != "$expected" ]]; then
        echo "FAIL: '$*': expected '$expected', got '$got'" >&2
        failures=$((failures + 1))
    fi
}

export MAILTOKEN_CONFIG=$work/config
expect "authorize" mailtoken au
expect "serve" mailtoken se
expect "token tunnel" mailtoken t
expect "--config" mailtoken --con
expect "FILES" mailtoken --config ""
expect "work gmail" mailtoken token ""
expect "gmail" mailtoken status g
expect "only-here" mailtoken --config "$work/other" forget ""
expect "only-here" mailtoken -c "$work/other" token o
expect "--device --manual --no-browser --timeout" mailtoken authorize --
expect "--refresh" mailtoken token --
expect "--mech" mailtoken tunnel --m
expect "" mailtoken status --
expect "" mailtoken authorize --timeout ""
expect "work" mailtoken authorize --timeout 30 w
expect "xoauth2 oauthbearer" mailtoken check --mech ""
expect "work" mailtoken check --mech xoauth2 w
expect "imap pop3 smtp" mailtoken check work ""
expect "smtp" mailtoken -v check work s
expect "imap" mailtoken tunnel work ""
expect "" mailtoken token work ""
unset MAILTOKEN_CONFIG
expect "" mailtoken token ""

if ((failures > 0)); then
    echo "$failures completion cases failed" >&2
    exit 1
fi
echo "all completion cases passed"
