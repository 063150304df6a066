#!/bin/bash
# cmake --install and the uninstall target, in two builds of their own:
#
# 1. Prefix /usr (as a Debian package builds it), installed into a DESTDIR.
#    Checked: the exact list of files with their modes, and the build's
#    paths in the installed man pages, completion and systemd unit. A
#    second install must leave a real configuration alone, and the
#    uninstall must remove everything the install wrote and nothing else.
# 2. Prefix in a scratch folder, installed without DESTDIR: nothing lands
#    outside the prefix, the installed plugin loads in libsasl2 and names
#    the installed helper, and the installed mailtoken refreshes a token
#    against the scripted token endpoint with the installed network module
#    (LD_DEBUG shows the file the loader opened).
#
# Needs MAILTOKEN_SOURCE_DIR; listens on MAILTOKEN_TEST_PORT_BASE + 62.
set -euo pipefail

src=${MAILTOKEN_SOURCE_DIR:?set MAILTOKEN_SOURCE_DIR to the source tree}
# lib.sh wants the program under test; it is set once it is installed.
MAILTOKEN=/nonexistent
source "$src/tests/cli/lib.sh"
cli_setup install 62
require_tools cmake make gcc pkg-config saslpluginviewer find stat

triplet=$(gcc -print-multiarch)
if [[ -z $triplet ]]; then
    echo "FAIL: gcc -print-multiarch printed nothing; this test expects Debian's multiarch layout" >&2
    exit 1
fi

# build DIR CMAKE_ARGS...: configures and builds the installed targets only.
build() {
    local dir=$1
    shift
    if ! cmake -S "$src" -B "$dir" -DMAILTOKEN_TESTS=OFF -DCMAKE_BUILD_TYPE=Release "$@" \
        > "$dir.configure.log" 2>&1; then
        cat "$dir.configure.log" >&2
        echo "FAIL: configuring $dir failed" >&2
        exit 1
    fi
    if ! cmake --build "$dir" -j2 --target mailtoken mailtoken-net mailtoken_plugin \
        > "$dir.build.log" 2>&1; then
        tail -40 "$dir.build.log" >&2
        echo "FAIL: building $dir failed" >&2
        exit 1
    fi
}

# files_in ROOT: "MODE PATH" of every file and symlink under ROOT, sorted.
files_in() {
    (cd "$1" && find . \( -type f -o -type l \) -printf '%m %P\n' | sort -k2)
}

# ---- 1. prefix /usr into a DESTDIR ----
build "$work/build-usr" -DCMAKE_INSTALL_PREFIX=/usr
root=$work/root
DESTDIR=$root cmake --install "$work/build-usr" > "$work/install-usr.log" 2>&1 ||
    { cat "$work/install-usr.log" >&2; fail "install into DESTDIR"; }

if pkg-config --exists bash-completion; then
    completions=$(pkg-config --variable=completionsdir bash-completion)
else
    completions=/usr/share/bash-completion/completions
fi
if pkg-config --exists systemd; then
    unitdir=$(pkg-config --variable=systemdsystemunitdir systemd)
    sysusersdir=$(pkg-config --variable=sysusersdir systemd)
else
    unitdir=/usr/lib/systemd/system
    sysusersdir=/usr/lib/sysusers.d
fi
expected=$(sort -k2 <<EOF
755 usr/bin/mailtoken
644 usr/lib/$triplet/mailtoken/mailtoken-net.so
644 usr/lib/$triplet/sasl2/libmailtoken.so
644 usr/share/man/man1/mailtoken.1
644 usr/share/man/man5/mailtoken.conf.5
644 usr/share/man/man7/mailtoken-sasl.7
644 ${completions#/}/mailtoken
644 etc/mailtoken/mailtoken.conf.example
644 ${unitdir#/}/mailtoken.service
644 ${unitdir#/}/mailtoken.socket
644 ${sysusersdir#/}/mailtoken.conf
EOF
)
expect_eq "DESTDIR install: files and modes" "$(files_in "$root")" "$expected"

man1=$(cat "$root/usr/share/man/man1/mailtoken.1" 2>/dev/null || true)
expect_contains "mailtoken.1 names the installed module" "$man1" \
    "/usr/lib/$triplet/mailtoken/mailtoken\\-net.so"
if grep -q -E '@[A-Z_]+@' <<<"$man1"; then
    fail "mailtoken.1 has an unreplaced @VARIABLE@"
else
    pass
fi
expect_contains "mailtoken-sasl.7 names the installed helper" \
    "$(cat "$root/usr/share/man/man7/mailtoken-sasl.7" 2>/dev/null || true)" "/usr/bin/mailtoken"
expect_contains "the completion reads the system configuration" \
    "$(cat "$root/${completions#/}/mailtoken" 2>/dev/null || true)" "/etc/mailtoken/mailtoken.conf"

expect_contains "mailtoken.service runs the installed program" \
    "$(cat "$root/${unitdir#/}/mailtoken.service" 2>/dev/null || true)" \
    "ExecStart=/usr/bin/mailtoken --config /etc/mailtoken/mailtoken.conf serve"

# A second install must leave an administrator's configuration alone.
printf '[work]\nclient_id = mine\n' > "$root/etc/mailtoken/mailtoken.conf"
chmod 600 "$root/etc/mailtoken/mailtoken.conf"
DESTDIR=$root cmake --install "$work/build-usr" > "$work/install-usr2.log" 2>&1 ||
    { cat "$work/install-usr2.log" >&2; fail "second install into DESTDIR"; }
expect_eq "second install: the real configuration is unchanged" \
    "$(cat "$root/etc/mailtoken/mailtoken.conf")" $'[work]\nclient_id = mine'

DESTDIR=$root cmake --build "$work/build-usr" --target uninstall > "$work/uninstall.log" 2>&1 ||
    { cat "$work/uninstall.log" >&2; fail "uninstall"; }
expect_eq "uninstall: only the real configuration is left" "$(files_in "$root")" \
    "600 etc/mailtoken/mailtoken.conf"
if [[ -e $root/usr/lib/$triplet/mailtoken ]]; then
    fail "uninstall: the empty module folder is left"
else
    pass
fi

# ---- 2. a prefix of our own, without DESTDIR ----
prefix=$work/prefix
build "$work/build-prefix" -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DMAILTOKEN_SASL_PLUGINDIR="$prefix/lib/sasl2" \
    -DMAILTOKEN_SYSCONFDIR="$prefix/etc/mailtoken" \
    -DMAILTOKEN_BASH_COMPLETION_DIR="$prefix/share/bash-completion/completions" \
    -DMAILTOKEN_SYSTEMD_UNITDIR="$prefix/lib/systemd/system" \
    -DMAILTOKEN_SYSUSERSDIR="$prefix/lib/sysusers.d"
cmake --install "$work/build-prefix" > "$work/install-prefix.log" 2>&1 ||
    { cat "$work/install-prefix.log" >&2; fail "install into the prefix"; }
outside=$(grep -v "^$prefix/" "$work/build-prefix/install_manifest.txt" || true)
expect_eq "prefix install: nothing outside the prefix" "$outside" ""

plugin=$prefix/lib/sasl2/libmailtoken.so
if grep -q -a -F "$prefix/bin/mailtoken" "$plugin" 2>/dev/null; then
    pass
else
    fail "the installed plugin does not name the installed helper $prefix/bin/mailtoken"
fi
mechanisms=$(SASL_PATH=$prefix/lib/sasl2 saslpluginviewer -c 2>&1 || true)
expect_contains "libsasl2 loads the installed plugin: XOAUTH2" "$mechanisms" "XOAUTH2"
expect_contains "libsasl2 loads the installed plugin: OAUTHBEARER" "$mechanisms" "OAUTHBEARER"

# The installed program must take the module from the prefix: there is none beside it.
MAILTOKEN=$prefix/bin/mailtoken
module=$prefix/lib/mailtoken/mailtoken-net.so
if [[ -e $prefix/bin/mailtoken-net.so ]]; then
    fail "a network module sits beside the installed program"
fi
write_config
start_fake '{"live": {"style": "microsoft", "refresh_tokens": ["RT-install"]}}'
echo RT-install | "$MAILTOKEN" import ms 2> "$work/import.err" ||
    { cat "$work/import.err" >&2; fail "import with the installed mailtoken"; }
status=0
LD_DEBUG=files "$MAILTOKEN" token ms > "$work/token.out" 2> "$work/token.err" || status=$?
expect_eq "installed mailtoken token: exit code" "$status" 0
expect_eq "installed mailtoken token: one refresh request" "$(token_requests refresh_token)" 1
if [[ -s $work/token.out ]]; then pass; else fail "installed mailtoken token printed no token"; fi
loaded=$(grep -o 'file=[^ ]*mailtoken-net\.so' "$work/token.err" | sort -u || true)
expect_eq "the loader opened the installed module" "$loaded" "file=$module"

finish
