# Shared by the command-line tests: assertions, a scratch folder, the
# scripted token endpoint, and a mailtoken configuration pointing at it.
# Each test sources this file, then calls cli_setup NAME PORT_OFFSET.

set -euo pipefail

cli_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cli_root=$(cd "$cli_here/../.." && pwd)
python=/usr/bin/python3
passes=0
failures=0
fake_pid=""

: "${MAILTOKEN:?set MAILTOKEN to the mailtoken program under test}"

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

pass() {
    passes=$((passes + 1))
}

# expect_eq NAME ACTUAL EXPECTED
expect_eq() {
    if [[ "$2" == "$3" ]]; then pass; else fail "$1: expected '$3', got '$2'"; fi
}

# expect_contains NAME TEXT PIECE
expect_contains() {
    if [[ "$2" == *"$3"* ]]; then pass; else fail "$1: '$2' does not contain '$3'"; fi
}

# expect_lacks NAME TEXT PIECE
expect_lacks() {
    if [[ "$2" != *"$3"* ]]; then pass; else fail "$1: output contains '$3'"; fi
}

require_tools() {
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "FAIL: required tool '$tool' is missing: run contrib/install-deps" >&2
            exit 1
        fi
    done
}

cli_cleanup() {
    if [[ -n "$fake_pid" ]] && kill -0 "$fake_pid" 2>/dev/null; then
        kill "$fake_pid" 2>/dev/null || true
        wait "$fake_pid" 2>/dev/null || true
    fi
    fake_pid=""
    if [[ -n "${work:-}" && -d "$work" ]]; then
        chmod -R u+w "$work" 2>/dev/null || true
        rm -rf "$work"
    fi
}

# cli_setup NAME PORT_OFFSET: a scratch folder and the endpoint's port.
cli_setup() {
    require_tools "$python" jq curl
    work=$(mktemp -d "/tmp/mailtoken-$1-XXXXXX")
    chmod 755 "$work"
    port=$(( ${MAILTOKEN_TEST_PORT_BASE:-14300} + $2 ))
    endpoint="http://127.0.0.1:$port"
    fake_log="$work/fake.log"
    trap cli_cleanup EXIT
}

# start_fake SCENARIO_JSON: (re)starts the scripted endpoint with a scenario text.
start_fake() {
    stop_fake
    printf '%s\n' "$1" > "$work/scenario.json"
    : > "$fake_log"
    "$python" "$cli_root/tests/tools/fake_as.py" --port "$port" --scenario "$work/scenario.json" \
        --log "$fake_log" --pidfile "$work/fake.pid" \
        --fixtures "$cli_root/tests/fixtures/provider" > /dev/null 2> "$work/fake.err" &
    fake_pid=$!
    for _ in $(seq 100); do
        [[ -s "$work/fake.pid" ]] && return 0
        kill -0 "$fake_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "FAIL: the scripted endpoint did not start:" >&2
    cat "$work/fake.err" >&2
    exit 1
}

stop_fake() {
    if [[ -n "$fake_pid" ]]; then
        kill "$fake_pid" 2>/dev/null || true
        wait "$fake_pid" 2>/dev/null || true
        fake_pid=""
    fi
    rm -f "$work/fake.pid"
}

# token_requests [GRANT]: how many requests reached the token endpoint.
token_requests() {
    if [[ -n "${1:-}" ]]; then
        jq -s --arg g "$1" '[.[] | select(.route == "token" and .form.grant_type == $g)] | length' "$fake_log"
    else
        jq -s '[.[] | select(.route == "token")] | length' "$fake_log"
    fi
}

# write_config [EXTRA ACCOUNT LINES...]: account "ms" against the endpoint.
write_config() {
    {
        echo "[defaults]"
        echo "store = $work/store"
        echo ""
        echo "[ms]"
        echo "provider = microsoft"
        echo "tenant = contoso.onmicrosoft.com"
        echo "client_id = 11111111-2222-3333-4444-555555555555"
        echo "user = alice@example.test"
        echo "token_endpoint = $endpoint/contoso.onmicrosoft.com/oauth2/v2.0/token"
        echo "timeout = 5"
        for line in "$@"; do echo "$line"; done
    } > "$work/config"
    chmod 600 "$work/config"
    export MAILTOKEN_CONFIG="$work/config"
}

finish() {
    echo "$passes passed, $failures failed"
    [[ $failures -eq 0 ]]
}
