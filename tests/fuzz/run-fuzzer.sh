#!/bin/bash
# Fuzzes one libFuzzer target for a fixed time on a copy of its seed
# corpus. Usage: run-fuzzer.sh BINARY SEED_CORPUS SECONDS ARTIFACT_DIR
# Exits non-zero on any crash, leak, timeout or sanitizer report, and
# names the reproducer file to add under tests/fuzz/regressions/.
set -euo pipefail

binary=$1 seeds=$2 seconds=$3 artifacts=$4
name=$(basename "$binary")
work=$(mktemp -d "/tmp/mailtoken-$name-XXXXXX")
trap 'rm -rf "$work"' EXIT

cp -r "$seeds/." "$work/"
mkdir -p "$artifacts"
set +e
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" > "$work.log" 2>&1
status=$?
set -e
tail -n 20 "$work.log"
if [[ $status -ne 0 ]]; then
    echo "FAIL: $name found a problem (exit status $status). Reproducers:" >&2
    ls -1 "$artifacts" >&2 || true
    echo "Copy the reproducer into tests/fuzz/regressions/${name#fuzz_}/ once it is fixed." >&2
    rm -f "$work.log"
    exit 1
fi
rm -f "$work.log"
echo "$name: ${seconds}s without a finding"
