#!/bin/bash
# Crash safety beyond test_token_cli.sh. mailtoken authorize is killed
# with SIGKILL at each step after the sign-in: before the code exchange,
# as its reply arrives, before the store's temporary file, and before and
# after the rename. A refresh is killed as its reply arrives, and before
# token_file is renamed. Afterwards the store contains the old tokens or
# the new ones, never a broken file, mailtoken token works, and no
# temporary file is left once the next write has run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cli_setup crash "${MAILTOKEN_TEST_PORT_OFFSET:-83}"
: "${KILLSHIM:?set KILLSHIM to the killshim.so of this build}"
# mailtoken starts xdg-open only where one of these variables names a desktop.
unset DISPLAY WAYLAND_DISPLAY
if [[ "${SANITIZED:-0}" == 1 ]]; then
    # The shim comes before the sanitizer runtime in the list of libraries.
    export ASAN_OPTIONS=verify_asan_link_order=0
fi

client=11111111-2222-3333-4444-555555555555
auth_pid=""

crash_cleanup() {
    if [[ -n "$auth_pid" ]] && kill -0 "$auth_pid" 2>/dev/null; then
        if [[ -s "$work/auth.pid" ]]; then
            kill "$(cat "$work/auth.pid")" 2>/dev/null || true
        fi
        wait "$auth_pid" 2>/dev/null || true
    fi
    cli_cleanup
}
trap crash_cleanup EXIT

scenario() {
    printf '{"live": {"style": "microsoft", "refresh_tokens": ["RT-old"], "clients": {
        "%s": {"secret": null, "redirect_uris": ["http://localhost/"]}}}}' "$client"
}

write_crash_config() {
    write_config "authorization_endpoint = $endpoint/common/oauth2/v2.0/authorize" \
        "token_file = $work/tokenfile/ms.token"
    # write_config names a token endpoint of the tenant; the scripted server accepts any.
    mkdir -p "$work/tokenfile"
    chmod 700 "$work/tokenfile"
}

# The store as a known pair of tokens: RT-old imported, then one refresh.
reset_store() {
    rm -rf "$work/store" "$work/tokenfile"/*
    echo RT-old | "$MAILTOKEN" import ms 2> "$work/import.err"
    "$MAILTOKEN" token --refresh ms > /dev/null 2> "$work/reset.err"
    cp "$work/store/ms.json" "$work/before.json"
}

# url_param URL NAME: the decoded value of query parameter NAME.
url_param() {
    "$python" -c '
import sys, urllib.parse
query = urllib.parse.urlsplit(sys.argv[1]).query
print(urllib.parse.parse_qs(query, keep_blank_values=True).get(sys.argv[2], [""])[0])' "$1" "$2"
}

# authorize_killed_at STEP: runs authorize with the shim, plays the
# browser, and waits; sets auth_rc and page_status.
authorize_killed_at() {
    local url=""
    : > "$work/auth.out"
    # The subshell reaps mailtoken, so bash's "Killed" notice goes to /dev/null.
    rm -f "$work/auth.pid"
    ( LD_PRELOAD="$KILLSHIM" MAILTOKEN_TEST_KILL_AT=$1 "$MAILTOKEN" authorize ms --no-browser \
        --timeout 30 > "$work/auth.out" 2> "$work/auth.err" &
      echo $! > "$work/auth.pid"
      wait $! ) 2> /dev/null &
    auth_pid=$!
    for _ in $(seq 200); do
        if [[ -s "$work/auth.out" && -z "$(tail -c 1 "$work/auth.out")" ]]; then
            url=$(head -n 1 "$work/auth.out")
            break
        fi
        kill -0 "$auth_pid" 2>/dev/null || break
        sleep 0.05
    done
    page_status=none
    if [[ -n "$url" ]]; then
        page_status=$(curl -sS -L --max-redirs 2 --max-time 10 -o /dev/null -w '%{http_code}' \
            "$url" 2> /dev/null || true)
    else
        fail "authorize killed at $1: no URL was printed: $(cat "$work/auth.err")"
    fi
    auth_rc=0
    wait "$auth_pid" || auth_rc=$?
    auth_pid=""
}

# killed STEP ARGS...: runs mailtoken ARGS with the shim killing it at
# STEP; sets rc. The subshell keeps bash's "Killed" notice out of the log.
killed() {
    local step=$1
    shift
    rc=0
    ( LD_PRELOAD="$KILLSHIM" MAILTOKEN_TEST_KILL_AT=$step "$MAILTOKEN" "$@" \
        > "$work/killed.out" 2> "$work/killed.err" ) 2> /dev/null || rc=$?
}

# stray_temporaries: temporary files of the store and of token_file.
stray_temporaries() {
    find "$work/store" "$work/tokenfile" -name '*.tmp' -o -name 'ms.token.tmp-*' | wc -l
}

# refresh_token_of FILE: the refresh token in a store file.
refresh_token_of() {
    jq -r .refresh_token "$1"
}

write_crash_config
start_fake "$(scenario)"

# ---- authorize, SIGKILL at each step after the browser came back ----
for step in connect reply tmp-open rename after-rename; do
    reset_store
    authorize_killed_at "$step"
    expect_eq "authorize killed at $step: died by SIGKILL" "$auth_rc" 137
    expect_eq "authorize killed at $step: the browser got its page first" "$page_status" 200
    if jq -e '.version == 1 and (.refresh_token | type == "string")' "$work/store/ms.json" \
        > /dev/null 2>&1; then
        pass
    else
        fail "authorize killed at $step: the store file is not a valid store file"
    fi
    before_rt=$(refresh_token_of "$work/before.json")
    after_rt=$(refresh_token_of "$work/store/ms.json")
    if [[ $step == after-rename ]]; then
        if [[ "$after_rt" != "$before_rt" ]]; then pass; else
            fail "authorize killed after the rename: the store still has the old tokens"
        fi
    elif cmp -s "$work/before.json" "$work/store/ms.json"; then
        pass
    else
        fail "authorize killed at $step: the store file changed before the rename"
    fi
    expect_eq "authorize killed at $step: exchanges of the code" \
        "$(token_requests authorization_code)" \
        "$([[ $step == connect ]] && echo 0 || echo 1)"
    : > "$fake_log"
    set +e
    token=$("$MAILTOKEN" token --refresh ms 2> "$work/after.err")
    rc=$?
    set -e
    expect_eq "authorize killed at $step: a refresh works afterwards" "$rc" 0
    expect_eq "authorize killed at $step: with the refresh token the store had" \
        "$(jq -rs '[.[] | select(.form.grant_type == "refresh_token")][0].form.refresh_token' \
            "$fake_log")" "$after_rt"
    expect_eq "authorize killed at $step: the token is printed" "${#token}" 485
    expect_eq "authorize killed at $step: temporary files left after the next write" \
        "$(stray_temporaries)" 0
done

# Repeated crashes before the rename leave one temporary file, not one each.
reset_store
for _ in 1 2 3; do
    authorize_killed_at rename
done
expect_eq "authorize killed three times before the rename: temporary files" \
    "$(find "$work/store" -name '*.tmp' | wc -l)" 1

# ---- a refresh killed as the reply arrives ----
reset_store
killed reply token --refresh ms
expect_eq "refresh killed at reply: died by SIGKILL" "$rc" 137
expect_eq "refresh killed at reply: nothing on stdout" "$(cat "$work/killed.out")" ""
if cmp -s "$work/before.json" "$work/store/ms.json"; then pass; else
    fail "refresh killed at reply: the store file changed"
fi
set +e
"$MAILTOKEN" token --refresh ms > /dev/null 2> "$work/after.err"
rc=$?
set -e
expect_eq "refresh killed at reply: the next refresh works" "$rc" 0

# ---- a refresh killed before token_file is renamed ----
# Each crash leaves token_file's temporary file behind. The next write
# removes those older than a minute, and keeps younger ones, which may
# belong to a mailtoken writing at that moment.
reset_store
for _ in 1 2 3; do
    killed token-file-rename token --refresh ms
    expect_eq "refresh killed before token_file's rename: died by SIGKILL" "$rc" 137
done
if jq -e '.version == 1' "$work/store/ms.json" > /dev/null 2>&1; then pass; else
    fail "refresh killed before token_file's rename: the store file is broken"
fi
expect_eq "refresh killed three times before token_file's rename: temporary files" \
    "$(find "$work/tokenfile" -name 'ms.token.tmp-*' | wc -l)" 3
find "$work/tokenfile" -name 'ms.token.tmp-*' -exec touch -d '2 minutes ago' {} +
killed token-file-rename token --refresh ms
set +e
token=$("$MAILTOKEN" token --refresh ms 2> "$work/after.err")
rc=$?
set -e
expect_eq "refresh killed before token_file's rename: the next refresh works" "$rc" 0
expect_eq "refresh killed before token_file's rename: token_file has the new token" \
    "$(cat "$work/tokenfile/ms.token" 2> /dev/null)" "$token"
expect_eq "token_file: temporary files older than a minute were removed, the new one kept" \
    "$(find "$work/tokenfile" -name 'ms.token.tmp-*' | wc -l)" 1
find "$work/tokenfile" -name 'ms.token.tmp-*' -exec touch -d '2 minutes ago' {} +
"$MAILTOKEN" token --refresh ms > /dev/null 2> "$work/after.err"
expect_eq "token_file: no temporary file left after the next write" "$(stray_temporaries)" 0

finish
