#!/bin/bash
# Starts or stops the test stack from the command line (and for ctest's
# stack fixture).
#   stack-ctl.sh start [--scripted-tokeninfo[=URL]]
#   stack-ctl.sh stop
#   stack-ctl.sh env        print stack.env of the running stack
# STACK_DIR and MAILTOKEN_TEST_PORT_BASE select the stack (see stack.sh).
set -euo pipefail

# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"

command=${1:-}
shift || true
case $command in
    start) stack_start_all "$@" ;;
    stop) stack_stop_all ;;
    env)
        stack_env_init
        cat "$STACK_ENV_FILE"
        ;;
    *)
        echo "usage: $0 start [--scripted-tokeninfo[=URL]] | stop | env" >&2
        exit 64
        ;;
esac
