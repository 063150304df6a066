#!/bin/bash
# Checks manual pages with mandoc -Tlint at every level (style included):
# any message fails the test, so each page stays free of warnings.
# Usage: lint_man.sh PAGE...
set -euo pipefail

if ! command -v mandoc >/dev/null 2>&1; then
    echo "FAIL: mandoc is not installed: install the Debian package mandoc (contrib/install-deps)" >&2
    exit 1
fi
if (($# == 0)); then
    echo "FAIL: no manual pages given" >&2
    exit 1
fi

failures=0
for page in "$@"; do
    if [[ ! -s $page ]]; then
        echo "FAIL: $page is missing or empty" >&2
        failures=$((failures + 1))
        continue
    fi
    # mandoc exits non-zero for messages at or above -W; -W all includes style.
    if ! messages=$(mandoc -Tlint -W all "$page" 2>&1) || [[ -n $messages ]]; then
        echo "FAIL: $page:" >&2
        echo "$messages" >&2
        failures=$((failures + 1))
    fi
done
if ((failures > 0)); then
    echo "$failures of $# pages have mandoc messages; fix the lines they name in man/*.in" >&2
    exit 1
fi
echo "$# pages passed mandoc -Tlint -W all"
