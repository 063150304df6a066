# shellcheck shell=bash
# Shared by the SASL plugin's integration tests (test_plugin_*.sh): a
# mailtoken account whose refresh token comes from glewlwyd, the
# environment that makes a program load the plugin under test, and readers
# for what the plugin sent and logged. Source it after lib/testlib.sh.
#
# Environment, set by ctest (mailtoken_plugin_test in CMakeLists.txt):
#   MAILTOKEN, MAILTOKEN_PLUGIN_DIR, MAILTOKEN_SANITIZED,
#   MAILTOKEN_SANITIZER_PRELOAD, and MAILTOKEN_SYSLOG_CAPTURE (the preload
#   library that writes syslog messages to $MAILTOKEN_TEST_SYSLOG).

for _plugin_var in MAILTOKEN MAILTOKEN_PLUGIN_DIR MAILTOKEN_SYSLOG_CAPTURE; do
    if [ -z "${!_plugin_var:-}" ]; then
        test_fail "$_plugin_var is not set: run the test through ctest (ctest -L integration)"
    fi
done
[ -x "$MAILTOKEN" ] || test_fail "the helper $MAILTOKEN is missing: build the project first"
[ -f "$MAILTOKEN_PLUGIN_DIR/libmailtoken.so" ] ||
    test_fail "the plugin $MAILTOKEN_PLUGIN_DIR/libmailtoken.so is missing: build the project first"
[ -f "$MAILTOKEN_SYSLOG_CAPTURE" ] ||
    test_fail "the syslog capture library $MAILTOKEN_SYSLOG_CAPTURE is missing: build the project first"
MAILTOKEN_SANITIZED=${MAILTOKEN_SANITIZED:-0}

# Every program that loads the plugin writes its syslog messages here.
PLUGIN_SYSLOG=$TEST_TMP/syslog
# The SASL_PATH that programs get: by default the folder whose only
# plugin is ours.
PLUGIN_SASL_PATH=$MAILTOKEN_PLUGIN_DIR
# ASAN_OPTIONS for programs we did not build. They may leak on their own,
# so leak checks stay off except where a test turns them on.
PLUGIN_ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0

# Prints "sha256:" and the first 12 hex digits of the SHA-256 of $1, the
# form in which the plugin and the helper name a token.
plugin_fingerprint() {
    printf 'sha256:%s\n' "$(printf '%s' "$1" | sha256sum | cut -c1-12)"
}

# Writes a mailtoken configuration with one account and an empty store.
#   $1  folder for config, secret and store (created)
#   $2  account (section) name
#   $3  token endpoint URL
#   $4  client id
#   $5  client secret, or "" for a public client
#   $6... extra lines for the account section, e.g. "mailbox = x@y"
# The user is alice and the scope "mail". Sets PLUGIN_CONFIG.
plugin_write_config() {
    local dir=$1 account=$2 endpoint=$3 client=$4 secret=$5
    shift 5
    mkdir -p "$dir" || test_fail "cannot create $dir"
    chmod 0700 "$dir"
    {
        printf '[defaults]\n'
        printf 'store = %s\n' "$dir/store"
        printf 'helper = %s\n\n' "$MAILTOKEN"
        printf '[%s]\n' "$account"
        printf 'provider = generic\n'
        printf 'token_endpoint = %s\n' "$endpoint"
        printf 'client_id = %s\n' "$client"
        if [ -n "$secret" ]; then
            printf '%s\n' "$secret" >"$dir/secret"
            chmod 0600 "$dir/secret"
            printf 'client_secret_file = %s\n' "$dir/secret"
        fi
        printf 'user = %s\n' "$STACK_ALICE_EMAIL"
        printf 'scope = %s\n' "$STACK_SCOPE"
        if [ "$#" -gt 0 ]; then
            printf '%s\n' "$@"
        fi
    } >"$dir/config"
    chmod 0600 "$dir/config"
    PLUGIN_CONFIG=$dir/config
}

# Stores refresh token $3 for account $2 of the configuration in folder $1
# with `mailtoken import`, as user $4 (default: the caller). The folder is
# handed to that user first, because the helper insists on owning its store.
plugin_import() {
    local dir=$1 account=$2 refresh=$3 owner=${4:-} out
    local -a run_as=()
    if [ -n "$owner" ]; then
        chown -R "$owner:" "$dir" || test_fail "cannot hand $dir to $owner"
        run_as=(setpriv --reuid="$owner" --regid="$owner" --init-groups --)
    fi
    if ! out=$(printf '%s\n' "$refresh" |
        "${run_as[@]}" env MAILTOKEN_CONFIG="$dir/config" "$MAILTOKEN" import "$account" 2>&1); then
        test_fail "mailtoken import $account failed: $out"
    fi
}

# Creates account $2 in folder $1 against glewlwyd: client $3 (default
# mailconf, with its secret), plugin instance $4 (default the HS256 one),
# owned by user $5 (default the caller). The refresh token comes from a
# code grant for alice; the helper gets the first access token at the
# plugin's first request.
plugin_account_glewlwyd() {
    local dir=$1 account=$2 client=${3:-$STACK_CONF_CLIENT_ID} instance=${4:-$STACK_OIDC_NAME}
    local owner=${5:-} endpoint secret='' reply refresh
    endpoint=$STACK_API_URL/$instance/token
    if [ "$client" = "$STACK_CONF_CLIENT_ID" ]; then
        secret=$STACK_CONF_CLIENT_SECRET
    fi
    plugin_write_config "$dir" "$account" "$endpoint" "$client" "$secret"
    reply=$(stack_token_code "$client" "$STACK_ALICE_USER" "$STACK_ALICE_PASSWORD" \
        "$STACK_SCOPE" "$instance") || test_fail "no refresh token from glewlwyd ($client, $instance)"
    refresh=$(jq -er .refresh_token <<<"$reply") || test_fail "glewlwyd's reply has no refresh token"
    plugin_import "$dir" "$account" "$refresh" "$owner"
}

# Prints field $3 of the stored tokens of account $2 in folder $1.
plugin_store_field() {
    jq -r ".$3" "$1/store/$2.json"
}

# Exports what a program needs to load the plugin and reach the helper:
# SASL_PATH (PLUGIN_SASL_PATH), MAILTOKEN_HELPER, MAILTOKEN_CONFIG (= $1,
# default PLUGIN_CONFIG) and MAILTOKEN_TEST_SYSLOG.
plugin_use_config() {
    export SASL_PATH=$PLUGIN_SASL_PATH
    export MAILTOKEN_HELPER=$MAILTOKEN
    export MAILTOKEN_CONFIG=${1:-$PLUGIN_CONFIG}
    export MAILTOKEN_TEST_SYSLOG=$PLUGIN_SYSLOG
}

# Runs a program that loads the plugin: $1 = seconds before it is killed,
# then the command. Preloads the syslog capture library and, in the
# sanitizer build, the sanitizer runtimes that our plugin needs in a
# program built without them (ASAN_OPTIONS from PLUGIN_ASAN_OPTIONS).
plugin_run() {
    local seconds=$1 preload=$MAILTOKEN_SYSLOG_CAPTURE
    shift
    if [ "$MAILTOKEN_SANITIZED" = 1 ]; then
        preload=$MAILTOKEN_SANITIZER_PRELOAD:$preload
    fi
    timeout "$seconds" env LD_PRELOAD="$preload" ASAN_OPTIONS="$PLUGIN_ASAN_OPTIONS" "$@"
}

# Runs a Cyrus test client through the plugin and writes what it printed
# (the whole exchange) to file $1. Arguments:
#   $1  output file
#   $2  imtest | pop3test | smtptest
#   $3  implicit (TLS from the start) | starttls
#   $4  port
#   $5  mechanism
#   $6  authentication name (the mailtoken account)
#   $7... more options, e.g. -u ADDRESS
# log_level=5 lets libsasl2 pass the plugin's messages up to debug level to
# syslog; by default it passes only errors of a client connection.
# Returns the client's exit status, which is 0 also when the login failed.
plugin_cyrus_client() {
    local out=$1 client=$2 tls=$3 port=$4 mech=$5 authname=$6 program
    shift 6
    local -a tls_option=(-s)
    if [ "$tls" = starttls ]; then
        tls_option=(-t '')
    fi
    case $client in
        imtest) program=$STACK_IMTEST ;;
        pop3test) program=$STACK_POP3TEST ;;
        smtptest) program=$STACK_SMTPTEST ;;
        *) test_fail "plugin_cyrus_client: unknown client $client" ;;
    esac
    plugin_run 30 "$program" -o log_level=5 "${tls_option[@]}" -m "$mech" -a "$authname" \
        "$@" -p "$port" "$STACK_MAIL_HOST" </dev/null >"$out" 2>&1
}

# Prints the client's SASL message from the output of a Cyrus test client
# ($1), decoded, with 0x01 shown as ^A and the bearer token replaced by its
# fingerprint (see plugin_fingerprint), e.g.
#   user=alice@example.test^Aauth=Bearer sha256:0123456789ab^A^A
# Prints nothing when no client line carries a bearer token.
plugin_wire_message() {
    /usr/bin/python3 - "$1" <<'PY'
import base64, binascii, hashlib, re, sys

for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if not line.startswith("C: "):
        continue
    words = line.split()
    try:
        raw = base64.b64decode(words[-1], validate=True)
    except (binascii.Error, ValueError):
        continue
    if b"auth=Bearer " not in raw:
        continue
    def fingerprint(match):
        digest = hashlib.sha256(match.group(1)).hexdigest()[:12]
        return b"auth=Bearer sha256:" + digest.encode()
    shown = re.sub(rb"auth=Bearer ([^\x01]*)", fingerprint, raw)
    print(shown.decode("utf-8", "replace").replace("\x01", "^A"))
    break
PY
}

# Prints the server's challenges ("S: + <base64>" or "S: 334 <base64>")
# from the output of a Cyrus test client ($1), decoded, one per line.
plugin_wire_challenges() {
    /usr/bin/python3 - "$1" <<'PY'
import base64, binascii, re, sys

for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    match = re.match(r"S: (?:\+|334) (\S+)\s*$", line)
    if not match:
        continue
    try:
        print(base64.b64decode(match.group(1), validate=True).decode("utf-8", "replace"))
    except (binascii.Error, ValueError):
        continue
PY
}

# Fails when file $1 contains one of the secrets $2... (tokens).
plugin_check_no_secret() {
    local file=$1 secret
    shift
    [ -f "$file" ] || return 0
    for secret in "$@"; do
        if [ -n "$secret" ] && grep -qF -- "$secret" "$file"; then
            test_fail "$file contains a token ($(plugin_fingerprint "$secret"))"
        fi
    done
}

# Prints the main.cf lines of the Postfix example in
# contrib/sasl/README.md (the code block that starts with "# main.cf"),
# without comments, so that the tests run Postfix with exactly the
# documented settings.
plugin_documented_postfix_settings() {
    awk '/^## Postfix/ { section = 1 }
         section && /^# main\.cf$/ { block = 1; next }
         block && /^```/ { exit }
         block && !/^#/ && NF { print }' "$MAILTOKEN_SOURCE_DIR/contrib/sasl/README.md"
}

# Prints the example line of /etc/postfix/sasl_passwd from the same README.
plugin_documented_sasl_passwd() {
    awk '/^## Postfix/ { section = 1 }
         section && /^# \/etc\/postfix\/sasl_passwd/ { getline; print; exit }' \
        "$MAILTOKEN_SOURCE_DIR/contrib/sasl/README.md"
}

# Starts Postfix client instance $1 (smtp chroot off) that relays through
# 127.0.0.1:$3 with the plugin and the mailtoken configuration in folder
# $2, whose account is $4. main.cf gets the documented settings, with the
# relay host and the sasl_passwd path of this instance; $5... are more
# main.cf lines. Postfix passes SASL_PATH (PLUGIN_SASL_PATH) and
# MAILTOKEN_CONFIG, and in the sanitizer build LD_PRELOAD and
# ASAN_OPTIONS, to its daemons through import_environment. Sets
# PLUGIN_POSTFIX_SETTINGS to the main.cf lines used.
plugin_postfix_start() {
    local name=$1 config_dir=$2 port=$3 account=$4 line key value passwd dir
    shift 4
    local -a settings=() imports=()
    dir=$(stack_postfix_client_dir "$name")

    passwd=$(plugin_documented_sasl_passwd)
    [[ $passwd =~ ^\[[^]]+\]:[0-9]+\ [^[:space:]:]+$ ]] ||
        test_fail "the README's sasl_passwd example is not \"[HOST]:PORT ACCOUNT\": '$passwd'"
    while IFS= read -r line; do
        key=${line%% =*}
        value=${line#*= }
        case $key in
            relayhost) value="[127.0.0.1]:$port" ;;
            smtp_sasl_password_maps) value="texthash:$dir/etc/sasl_passwd" ;;
        esac
        settings+=("$key = $value")
    done < <(plugin_documented_postfix_settings)
    [ "${#settings[@]}" -ge 5 ] ||
        test_fail "found only ${#settings[@]} main.cf settings in contrib/sasl/README.md"
    settings+=("$@")
    PLUGIN_POSTFIX_SETTINGS=("${settings[@]}")

    imports=(--import-env="SASL_PATH=$PLUGIN_SASL_PATH" --import-env="MAILTOKEN_CONFIG=$config_dir/config")
    if [ "$MAILTOKEN_SANITIZED" = 1 ]; then
        # Postfix's master starts every daemon with exactly the
        # import_environment variables, so the sanitizer runtimes reach the
        # smtp process (and the other daemons) this way. Reports go to
        # files, because the daemons' standard error is /dev/null.
        mkdir -p "$TEST_TMP/asan"
        chmod 1777 "$TEST_TMP/asan"
        imports+=(--import-env="LD_PRELOAD=$MAILTOKEN_SANITIZER_PRELOAD"
            --import-env="ASAN_OPTIONS=$PLUGIN_ASAN_OPTIONS:log_path=$TEST_TMP/asan/asan"
            --import-env="UBSAN_OPTIONS=log_path=$TEST_TMP/asan/ubsan")
    fi
    local -a main_cf=()
    for line in "${settings[@]}"; do
        main_cf+=(--main-cf="$line")
    done
    stack_postfix_client_start "$name" "127.0.0.1:$port" --chroot=n "${imports[@]}" \
        --sasl-passwd="[127.0.0.1]:$port $account" "${main_cf[@]}" ||
        test_fail "Postfix client instance $name did not start"
}

# Injects a message from alice to bob with subject $2 into instance $1.
plugin_postfix_send() {
    printf 'From: %s\nTo: %s\nSubject: %s\n\nRelayed by Postfix with the plugin.\n' \
        "$STACK_ALICE_EMAIL" "$STACK_BOB_EMAIL" "$2" |
        stack_postfix_client_sendmail "$1" "$STACK_ALICE_EMAIL" "$STACK_BOB_EMAIL" ||
        test_fail "sendmail of instance $1 failed"
}

# Fails when a daemon of Postfix instance $1 crashed or, in the sanitizer
# build, a sanitizer wrote a report; prints the evidence on stderr.
_plugin_postfix_fail_on_crash() {
    if grep -E 'warning: process .* (killed by signal|exit status)' \
        "$(stack_log_path "postfix-client-$1")" >&2; then
        test_fail "a daemon of Postfix instance $1 failed (see above)"
    fi
    if [ -d "$TEST_TMP/asan" ] && [ -n "$(ls -A "$TEST_TMP/asan")" ]; then
        cat "$TEST_TMP/asan"/* >&2
        test_fail "the sanitizers reported errors in Postfix instance $1 (see above)"
    fi
}

# Waits until instance $1 logs, after mark $2 (stack_log_mark), a line
# matching the extended regular expression $3; $4 = seconds (default 20).
# Prints the lines logged since the mark. Fails at once when a daemon
# crashes.
plugin_postfix_wait() {
    local log=postfix-client-$1 mark=$2 pattern=$3 timeout=${4:-20} i
    for ((i = 0; i < timeout * 10; i++)); do
        if stack_log_since "$log" "$mark" | grep -Eq -- "$pattern"; then
            stack_log_since "$log" "$mark"
            return 0
        fi
        _plugin_postfix_fail_on_crash "$1"
        sleep 0.1
    done
    test_fail "instance $1 logged no line matching /$pattern/ within ${timeout}s; since the mark: $(stack_log_since "$log" "$mark" | tail -n 8)"
}

# Passes when no daemon of instance $1 crashed and, in the sanitizer
# build, no sanitizer wrote a report.
plugin_postfix_check_health() {
    _plugin_postfix_fail_on_crash "$1"
    test_pass "no daemon of Postfix instance $1 failed"
}

# Logs in to Dovecot submission (STARTTLS) with a naive SMTP client that
# puts whatever initial response the plugin returns on the AUTH line
# (plugin_naive_smtp.py driving sasl-sample-client). Prints that script's
# report: "initial-response yes|no", "auth-line-length N", "reply CODE TEXT".
#   $1  mechanism
#   $2  SASL service name: smtp, or another name to see what a client that
#       is not known to speak SMTP would get
#   $3  authentication name (the mailtoken account)
#   $4  file for the sample client's standard error (its SASL log)
plugin_naive_smtp() {
    local mech=$1 service=$2 authname=$3 errors=$4
    local -a sanitizer=()
    # stdbuf adds its library after those already in LD_PRELOAD, so the
    # sanitizer runtimes stay first.
    if [ "$MAILTOKEN_SANITIZED" = 1 ]; then
        sanitizer=(env LD_PRELOAD="$MAILTOKEN_SANITIZER_PRELOAD" ASAN_OPTIONS="$PLUGIN_ASAN_OPTIONS")
    fi
    timeout 30 /usr/bin/python3 "$MAILTOKEN_SOURCE_DIR/tests/integration/plugin_naive_smtp.py" \
        "$STACK_MAIL_HOST" "$STACK_SUBMISSION_PORT" "$STACK_CA_FILE" "$mech" -- \
        "${sanitizer[@]}" stdbuf -oL sasl-sample-client -s "$service" -m "$mech" -a "$authname" \
        -n "$STACK_MAIL_HOST" -i "local=127.0.0.1;1,remote=127.0.0.1;$STACK_SUBMISSION_PORT" 2>"$errors"
}
