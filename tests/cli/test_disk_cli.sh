#!/bin/bash
# Disk trouble at the command line. The store folder is on a read-only
# file system, or on a full one (a 64 KiB tmpfs). The store file, its
# temporary file, the lock file or token_file is replaced by a symbolic
# link or a FIFO. The store, the secret file or the configuration is
# readable by other users. Each case must give a clear one-line error and
# the documented exit code, keep the old tokens, follow no link and never
# hang. The test mounts file systems, so it runs in a mount namespace of
# its own (unshare), where the mounts vanish when it ends; it needs root.
set -euo pipefail
if [[ -z "${MAILTOKEN_DISK_TEST_NAMESPACE:-}" ]]; then
    if ! command -v unshare > /dev/null 2>&1; then
        echo "FAIL: unshare is missing: install the Debian package util-linux" >&2
        exit 1
    fi
    export MAILTOKEN_DISK_TEST_NAMESPACE=1
    exec unshare --mount --propagation private bash "$0" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cli_setup disk "${MAILTOKEN_TEST_PORT_OFFSET:-84}"
require_tools mkfifo dd
secret=disk-client-secret-93b1e7

# Mounts are undone before the scratch folder is removed.
disk_cleanup() {
    for m in "$work"/ro "$work"/full; do
        mountpoint -q "$m" 2> /dev/null && umount "$m"
    done
    cli_cleanup
}
trap disk_cleanup EXIT

# disk_config STORE [EXTRA LINES...]
disk_config() {
    local store=$1
    shift
    {
        echo "[defaults]"
        echo "store = $store"
        echo ""
        echo "[ms]"
        echo "provider = microsoft"
        echo "tenant = contoso.onmicrosoft.com"
        echo "client_id = 11111111-2222-3333-4444-555555555555"
        echo "client_secret = $secret"
        echo "user = alice@example.test"
        echo "token_endpoint = $endpoint/contoso.onmicrosoft.com/oauth2/v2.0/token"
        echo "timeout = 5"
        for line in "$@"; do echo "$line"; done
    } > "$work/config"
    chmod 600 "$work/config"
    export MAILTOKEN_CONFIG="$work/config"
}

# seed STORE: the old tokens (an import, then one refresh), and a copy in before.json.
seed() {
    echo RT-disk | "$MAILTOKEN" import ms 2> "$work/seed.err"
    "$MAILTOKEN" token --refresh ms > "$work/old-access" 2>> "$work/seed.err"
    cp "$1/ms.json" "$work/before.json"
}

# run NAME ARGS...: runs mailtoken ARGS; sets rc, out, err and elapsed (ms).
run() {
    local started
    shift
    started=$(date +%s%3N)
    rc=0
    "$MAILTOKEN" "$@" > "$work/out" 2> "$work/err" < /dev/null || rc=$?
    elapsed=$(( $(date +%s%3N) - started ))
    out=$(cat "$work/out")
    err=$(cat "$work/err")
}

# run_import REFRESH_TOKEN: runs mailtoken import ms with that input; sets what run sets.
run_import() {
    local started
    started=$(date +%s%3N)
    rc=0
    printf '%s\n' "$1" | "$MAILTOKEN" import ms > "$work/out" 2> "$work/err" || rc=$?
    elapsed=$(( $(date +%s%3N) - started ))
    out=$(cat "$work/out")
    err=$(cat "$work/err")
}

# expect_error NAME EXIT_CODE PIECE: a clean failure of the last run.
expect_error() {
    expect_eq "$1: exit code" "$rc" "$2"
    expect_eq "$1: nothing on stdout" "$out" ""
    expect_contains "$1: message" "$err" "$3"
    expect_eq "$1: one line on stderr" "$(wc -l < "$work/err")" 1
    expect_lacks "$1: no secret in the message" "$err" "$secret"
    if (( elapsed <= 5000 )); then pass; else fail "$1: took $elapsed ms"; fi
}

# expect_same NAME FILE COPY: FILE is unchanged.
expect_same() {
    if cmp -s "$2" "$3"; then pass; else fail "$1: $2 changed"; fi
}

mount_tmpfs() {
    mkdir -p "$1"
    if ! mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" 2> "$work/mount.err"; then
        echo "FAIL: cannot mount a tmpfs on $1 ($(cat "$work/mount.err")); the test needs" \
            "root and permission to mount in a new mount namespace" >&2
        exit 1
    fi
}

start_fake '{"live": {"style": "microsoft", "refresh_tokens": ["RT-disk"]}}'

# ---- the store on a read-only file system ----
mount_tmpfs "$work/ro" 1m
disk_config "$work/ro"
seed "$work/ro"
mount -o remount,ro "$work/ro"
: > "$fake_log"
run "read-only" token --refresh ms
expect_error "read-only store, refresh" 73 "Read-only file system"
expect_contains "read-only store, refresh: the message names the store" "$err" "$work/ro"
expect_eq "read-only store, refresh: no request, so no refresh token was spent" \
    "$(token_requests)" 0
expect_same "read-only store, refresh" "$work/ro/ms.json" "$work/before.json"
run "read-only" token ms
expect_eq "read-only store: a valid token is still handed out" "$rc" 0
expect_eq "read-only store: the stored token" "$out" "$(cat "$work/old-access")"
run_import RT-new
expect_error "read-only store, import" 73 "Read-only file system"
expect_same "read-only store, import" "$work/ro/ms.json" "$work/before.json"
umount "$work/ro"

# ---- a full file system ----
mount_tmpfs "$work/full" 64k
disk_config "$work/full"
seed "$work/full"
dd if=/dev/zero of="$work/full/filler" bs=4k 2> /dev/null || true
: > "$fake_log"
run "full" token --refresh ms
expect_error "full store, refresh" 73 "No space left on device"
expect_contains "full store, refresh: says the new tokens are lost" "$err" \
    "the new tokens could not be saved"
expect_same "full store, refresh" "$work/full/ms.json" "$work/before.json"
expect_eq "full store, refresh: no temporary file left" \
    "$(find "$work/full" -name '*.tmp' | wc -l)" 0
rm "$work/full/filler"
run "full, freed" token --refresh ms
expect_eq "full store: once there is room, the old refresh token works again" "$rc" 0
expect_eq "full store: the refresh used the kept refresh token" \
    "$(jq -rs '[.[] | select(.form.grant_type == "refresh_token")] | last | .form.refresh_token' \
        "$fake_log")" "$(jq -r .refresh_token "$work/before.json")"
umount "$work/full"

# ---- symbolic links: none is followed ----
store=$work/store
disk_config "$store" "token_file = $work/tokens/ms.token"
mkdir -p "$work/tokens" "$work/elsewhere"
chmod 700 "$work/tokens" "$work/elsewhere"
seed "$store"
# A file of valid tokens elsewhere, which mailtoken must not read through a link.
jq '.access_token = "ELSEWHERE-ACCESS-TOKEN" | .refresh_token = "ELSEWHERE-RT"' \
    "$work/before.json" > "$work/elsewhere/ms.json"
chmod 600 "$work/elsewhere/ms.json"
cp "$work/elsewhere/ms.json" "$work/elsewhere.copy"
mv "$store/ms.json" "$work/ms.json.kept"
ln -s "$work/elsewhere/ms.json" "$store/ms.json"
run "symlink" token ms
expect_error "store file is a symbolic link, token" 74 "is a symbolic link"
expect_lacks "store file is a symbolic link: the linked token is not handed out" "$out" "ELSEWHERE"
run_import RT-new
expect_error "store file is a symbolic link, import" 74 "is a symbolic link"
expect_same "store file is a symbolic link: the linked file" "$work/elsewhere/ms.json" \
    "$work/elsewhere.copy"
if [[ -L "$store/ms.json" ]]; then pass; else fail "the symbolic link was replaced"; fi
rm "$store/ms.json"
mv "$work/ms.json.kept" "$store/ms.json"

# The temporary file as a link: removed, not written through.
ln -s "$work/elsewhere/ms.json" "$store/.ms.json.tmp"
run "tmp symlink" token --refresh ms
expect_eq "temporary file is a symbolic link: the refresh works" "$rc" 0
expect_same "temporary file is a symbolic link: the linked file" "$work/elsewhere/ms.json" \
    "$work/elsewhere.copy"
expect_eq "temporary file is a symbolic link: it is gone" \
    "$(find "$store" -name '.ms.json.tmp' | wc -l)" 0

# The lock file as a link to a path that does not exist: not created.
cp "$store/ms.json" "$work/before.json"
rm -f "$store/ms.lock"
ln -s "$work/created-through-the-lock" "$store/ms.lock"
: > "$fake_log"
run "lock symlink" token --refresh ms
expect_error "lock file is a symbolic link" 74 "cannot open the lock file"
if [[ -e "$work/created-through-the-lock" ]]; then
    fail "lock file is a symbolic link: its target was created"
else
    pass
fi
expect_eq "lock file is a symbolic link: no request" "$(token_requests)" 0
expect_same "lock file is a symbolic link" "$store/ms.json" "$work/before.json"
rm "$store/ms.lock"

# token_file as a link: replaced by a regular file, the target untouched.
echo "not a token" > "$work/elsewhere/token"
ln -sf "$work/elsewhere/token" "$work/tokens/ms.token"
run "token_file symlink" token --refresh ms
expect_eq "token_file is a symbolic link: the refresh works" "$rc" 0
expect_eq "token_file is a symbolic link: the target is untouched" \
    "$(cat "$work/elsewhere/token")" "not a token"
if [[ -f "$work/tokens/ms.token" && ! -L "$work/tokens/ms.token" ]]; then pass; else
    fail "token_file is a symbolic link: it is not a regular file now"
fi
expect_eq "token_file is a symbolic link: it contains the new token" \
    "$(cat "$work/tokens/ms.token")" "$out"

# ---- files that other users could read are refused ----
cp "$store/ms.json" "$work/before.json"
chmod 644 "$store/ms.json"
run "store file mode" token ms
expect_error "store file readable by others" 74 "can be read by other users"
chmod 600 "$store/ms.json"
chmod 755 "$store"
run "store folder mode" token ms
expect_error "store folder open to others" 74 "is open to other users"
chmod 700 "$store"
printf '%s\n' "$secret" > "$work/client.secret"
chmod 640 "$work/client.secret"
disk_config "$store" "client_secret_file = $work/client.secret"
sed -i '/^client_secret = /d' "$work/config"
: > "$fake_log"
run "secret file mode" token --refresh ms
expect_error "client_secret_file readable by others" 78 "can be read by other users"
expect_eq "client_secret_file readable by others: no request" "$(token_requests)" 0
disk_config "$store"
chmod 644 "$work/config"
run "config mode" token --refresh ms
expect_error "configuration with a client_secret, readable by others" 78 "others can read it"
expect_eq "configuration readable by others: no request" "$(token_requests)" 0
chmod 600 "$work/config"
# The failed refresh records its error in the store; the tokens stay.
expect_eq "files readable by others: the tokens are kept" \
    "$(jq -c '[.refresh_token, .access_token]' "$store/ms.json")" \
    "$(jq -c '[.refresh_token, .access_token]' "$work/before.json")"

# ---- a FIFO in place of the store file: no hang ----
cp "$store/ms.json" "$work/before.json"
mv "$store/ms.json" "$work/ms.json.kept"
mkfifo -m 600 "$store/ms.json"
run "fifo" token ms
expect_error "store file is a FIFO, token" 74 "is not a regular file"
run_import RT-new
expect_error "store file is a FIFO, import" 74 "is not a regular file"
if [[ -p "$store/ms.json" ]]; then pass; else fail "the FIFO was replaced"; fi
rm "$store/ms.json"
mv "$work/ms.json.kept" "$store/ms.json"
mkfifo -m 600 "$store/.ms.json.tmp"
run "fifo tmp" token --refresh ms
expect_eq "temporary file is a FIFO: the refresh works" "$rc" 0
if (( elapsed <= 5000 )); then pass; else fail "temporary file is a FIFO: took $elapsed ms"; fi

finish
