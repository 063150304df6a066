# shellcheck shell=bash
# Small helpers for integration test scripts that run against a started
# stack (ctest fixture "stack"). Source after setting `set -euo pipefail`:
#
#   . "$(dirname "$0")/lib/testlib.sh"
#   test_require_tools curl:curl
#   ...checks...
#   test_done
#
# A check that fails prints "FAIL: ..." and exits 1 at once; test_done
# prints how many checks passed.

# shellcheck source=stack.sh
. "$(dirname "${BASH_SOURCE[0]}")/stack.sh"

TEST_NAME=$(basename "$0" .sh)
TEST_CHECKS=0
TEST_TMP=''

test_fail() {
    printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}

test_pass() {
    TEST_CHECKS=$((TEST_CHECKS + 1))
    printf 'ok %d - %s\n' "$TEST_CHECKS" "$*"
}

# Fails the test (it does not skip it) when a tool is missing.
# Arguments: "command:package" pairs, as for stack_require_tools.
test_require_tools() {
    stack_require_tools "$@" || test_fail "a required tool is missing (see above)"
}

# Fails unless $2 equals $3; $1 describes the check.
test_equal() {
    if [ "$2" != "$3" ]; then
        test_fail "$1: expected '$3', got '$2'"
    fi
    test_pass "$1"
}

# Fails unless the extended regular expression $3 matches $2.
test_match() {
    if ! grep -Eq -- "$3" <<<"$2"; then
        test_fail "$1: '$(head -c 300 <<<"$2")' does not match /$3/"
    fi
    test_pass "$1"
}

# Prints a subject line no other test uses.
test_unique_subject() {
    printf '%s %s-%s\n' "$TEST_NAME" "$$" "$(openssl rand -hex 4)"
}

test_done() {
    if [ "$TEST_CHECKS" -eq 0 ]; then
        test_fail "the test made no checks"
    fi
    printf '%s: %d checks passed\n' "$TEST_NAME" "$TEST_CHECKS"
}

_test_cleanup() {
    if [ -n "$TEST_TMP" ]; then
        rm -rf "$TEST_TMP"
    fi
}
trap _test_cleanup EXIT

stack_load_env || test_fail "the stack is not running (ctest fixture 'stack', or tests/integration/lib/stack-ctl.sh start)"
TEST_TMP=$(mktemp -d "$STACK_DIR/test.XXXXXX")
