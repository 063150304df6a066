#!/bin/bash
# mailtoken check and tunnel never send a token without TLS: a server
# that offers no STARTTLS, one that accepts STARTTLS but then speaks in
# plain text, and an IMAPS server whose certificate comes from an unknown
# CA. Each ends with its exit code and message, the tunnel gives its mail
# program nothing, and the server never receives an AUTHENTICATE command.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cli_setup mailtls "${MAILTOKEN_TEST_PORT_OFFSET:-85}"
require_tools openssl
server_pid=""
token=ya29.MailTlsCanary-$(openssl rand -hex 8)

mail_tls_cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    cli_cleanup
}
trap mail_tls_cleanup EXIT

# start_plain_imap MODE: a plain IMAP server on $port that logs every line
# it receives. MODE no-starttls offers no STARTTLS; fake-starttls accepts
# STARTTLS and goes on without TLS.
start_plain_imap() {
    stop_server
    : > "$work/server.log"
    "$python" - "$port" "$1" "$work/server.log" > /dev/null 2> "$work/server.err" <<'PY' &
import socket, sys
port, mode, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
caps = "IMAP4rev1 AUTH=XOAUTH2 SASL-IR" + (" STARTTLS" if mode == "fake-starttls" else "")
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(8)
while True:
    conn, _ = listener.accept()
    conn.settimeout(5)
    f = conn.makefile("rwb")
    f.write(f"* OK [CAPABILITY {caps}] plain server\r\n".encode()); f.flush()
    try:
        for raw in f:
            line = raw.decode("latin-1").rstrip("\r\n")
            with open(log, "a") as out:
                out.write(line + "\n")
            words = line.split(" ")
            tag, command = words[0], (words[1].upper() if len(words) > 1 else "")
            if command == "CAPABILITY":
                f.write(f"* CAPABILITY {caps}\r\n{tag} OK done\r\n".encode())
            elif command == "STARTTLS":
                f.write(f"{tag} OK Begin TLS negotiation now\r\n".encode())
                f.flush()
                f.write(b"* OK this is not TLS\r\n")
            elif command == "LOGOUT":
                f.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
            else:
                f.write(f"{tag} OK done\r\n".encode())
            f.flush()
    except (OSError, ValueError):
        pass
    conn.close()
PY
    server_pid=$!
    for _ in $(seq 100); do
        (: < "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break
        sleep 0.05
    done
    : > "$work/server.log"
}

stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}

# run NAME ARGS...: runs mailtoken ARGS with nothing on stdin; sets rc, out and err.
run() {
    shift
    rc=0
    "$MAILTOKEN" "$@" > "$work/out" 2> "$work/err" < /dev/null || rc=$?
    out=$(cat "$work/out")
    err=$(cat "$work/err")
}

# expect_refused NAME EXIT_CODE PIECE: the last run failed without sending the token.
expect_refused() {
    expect_eq "$1: exit code" "$rc" "$2"
    expect_contains "$1: message" "$err" "$3"
    expect_eq "$1: no AUTHENTICATE reached the server" \
        "$(grep -ci authenticate "$work/server.log" || true)" 0
    expect_lacks "$1: no token in the output" "$out$err" "$token"
}

# A certificate for the IMAPS server, and a CA that did not sign it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName = IP:127.0.0.1" \
    -keyout "$work/server.key" -out "$work/server.crt" 2> "$work/openssl.err"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=another CA" -keyout "$work/ca.key" -out "$work/ca.crt" 2>> "$work/openssl.err"

write_config "ca_file = $work/ca.crt"
mkdir -p "$work/store"
chmod 700 "$work/store"
printf '{"version": 1, "refresh_token": "RT", "access_token": "%s", "token_type": "Bearer", "obtained_at": %s, "expires_in": 3600}\n' \
    "$token" "$(date +%s)" > "$work/store/ms.json"
chmod 600 "$work/store/ms.json"

# ---- no STARTTLS offered ----
start_plain_imap no-starttls
run check check ms imap "imap://127.0.0.1:$port"
expect_refused "no STARTTLS, check" 76 "never logs in without TLS"
run tunnel tunnel ms imap "imap://127.0.0.1:$port"
expect_refused "no STARTTLS, tunnel" 76 "never logs in without TLS"
expect_eq "no STARTTLS, tunnel: nothing for the mail program" "$out" ""

# ---- STARTTLS accepted, then plain text ----
start_plain_imap fake-starttls
run check check ms imap "imap://127.0.0.1:$port"
expect_refused "STARTTLS without TLS" 75 "TLS"
stop_server

# ---- IMAPS with a certificate of an unknown CA ----
: > "$work/server.log"
"$python" "$cli_root/tests/security/fake_mail.py" --imaps "$port" \
    --tls-cert "$work/server.crt" --tls-key "$work/server.key" \
    --accept-prefix ya29. --log "$work/server.log" --pidfile "$work/mail.pid" \
    > /dev/null 2> "$work/server.err" &
server_pid=$!
for _ in $(seq 100); do
    [[ -s "$work/mail.pid" ]] && break
    sleep 0.05
done
run check check ms imap "imaps://127.0.0.1:$port"
expect_refused "IMAPS, unknown CA" 75 "TLS"
expect_eq "IMAPS, unknown CA: no login at the server" "$(wc -l < "$work/server.log")" 0
stop_server

finish
