#!/usr/bin/python3
"""A small IMAP, POP3 and SMTP server over implicit TLS, for the canary test.

It speaks just enough of each protocol for mailtoken check and mailtoken
tunnel: the greeting, CAPABILITY / CAPA / EHLO, AUTHENTICATE / AUTH with
XOAUTH2 and OAUTHBEARER (with or without an initial response), NOOP,
EXAMINE, STAT and LOGOUT / QUIT. A token that starts with --accept-prefix logs
in; any other gets the mechanism's error challenge, then a failure.

Each login adds one JSON line to --log: protocol, mechanism, user, and
whether the token was accepted (never the token itself). Debian's
/usr/bin/python3 with the standard library only; listens on 127.0.0.1.
"""
import argparse
import base64
import json
import os
import signal
import socketserver
import ssl
import sys
import threading

LOG_LOCK = threading.Lock()
ERROR_JSON = base64.b64encode(
    b'{"status":"401","schemes":"bearer","scope":"https://mail.example.test/"}').decode()


def parse_client_message(raw):
    """Returns (user, token) from an XOAUTH2 or OAUTHBEARER client message."""
    user = token = ""
    text = raw.decode("utf-8", "replace")
    parts = text.split("\x01")
    if parts and parts[0].startswith("n,"):
        for field in parts[0].split(","):
            if field.startswith("a="):
                user = field[2:].replace("=2C", ",").replace("=3D", "=")
        parts = parts[1:]
    for part in parts:
        if part.startswith("user="):
            user = part[5:]
        elif part.startswith("auth="):
            value = part[5:]
            token = value.split(" ", 1)[1] if " " in value else ""
    return user, token


class Session(socketserver.StreamRequestHandler):
    """One TLS connection; self.server carries the settings."""

    def setup(self):
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        self.request.settimeout(10)
        super().setup()

    def send(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(65536)
        if not line:
            raise EOFError
        return line.rstrip(b"\r\n").decode("utf-8", "replace")

    def check_login(self, protocol, mech, response):
        try:
            raw = base64.b64decode(response, validate=True)
        except ValueError:
            raw = b""
        user, token = parse_client_message(raw)
        accepted = token.startswith(self.server.accept_prefix)
        with LOG_LOCK, open(self.server.log, "a") as log:
            log.write(json.dumps({"protocol": protocol, "mech": mech, "user": user,
                                  "accepted": accepted}) + "\n")
        return accepted

    def handle(self):
        try:
            {"imap": self.imap, "pop3": self.pop3, "smtp": self.smtp}[self.server.protocol]()
            # A TLS close_notify, as real servers send: without it clients see a broken connection.
            self.wfile.flush()
            self.request.unwrap()
        except (EOFError, ConnectionError, ssl.SSLError, OSError):
            pass

    # ---- IMAP ----
    def imap(self):
        caps = "IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER"
        self.send(f"* OK [CAPABILITY {caps}] fake ready")
        while True:
            words = self.readline().split(" ")
            tag, command = words[0], (words[1].upper() if len(words) > 1 else "")
            if command == "CAPABILITY":
                self.send(f"* CAPABILITY {caps}")
                self.send(f"{tag} OK CAPABILITY completed")
            elif command == "AUTHENTICATE" and len(words) >= 3:
                mech = words[2].upper()
                if len(words) > 3:
                    response = words[3]
                else:
                    self.send("+ ")
                    response = self.readline()
                if self.check_login("imap", mech, response):
                    self.send(f"{tag} OK [CAPABILITY IMAP4rev1] Logged in")
                else:
                    self.send(f"+ {ERROR_JSON}")
                    self.readline()
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed")
            elif command in ("NOOP", "EXAMINE", "SELECT"):
                self.send(f"{tag} OK {command} completed")
            elif command == "LOGOUT":
                self.send("* BYE fake logging out")
                self.send(f"{tag} OK LOGOUT completed")
                return
            else:
                self.send(f"{tag} BAD unknown command")

    # ---- POP3 ----
    def pop3(self):
        self.send("+OK fake ready")
        while True:
            words = self.readline().split(" ")
            command = words[0].upper()
            if command == "CAPA":
                self.send("+OK capabilities follow")
                self.send("SASL XOAUTH2 OAUTHBEARER")
                self.send(".")
            elif command == "AUTH" and len(words) >= 2:
                mech = words[1].upper()
                if len(words) > 2:
                    response = words[2]
                else:
                    self.send("+ ")
                    response = self.readline()
                if self.check_login("pop3", mech, response):
                    self.send("+OK logged in")
                else:
                    self.send(f"+ {ERROR_JSON}")
                    self.readline()
                    self.send("-ERR [AUTH] Authentication failed")
            elif command == "NOOP":
                self.send("+OK")
            elif command == "STAT":
                self.send("+OK 0 0")
            elif command == "QUIT":
                self.send("+OK bye")
                return
            else:
                self.send("-ERR unknown command")

    # ---- SMTP ----
    def smtp(self):
        self.send("220 fake ESMTP ready")
        while True:
            words = self.readline().split(" ")
            command = words[0].upper()
            if command in ("EHLO", "HELO"):
                self.send("250-fake")
                self.send("250-AUTH XOAUTH2 OAUTHBEARER")
                self.send("250 8BITMIME")
            elif command == "AUTH" and len(words) >= 2:
                mech = words[1].upper()
                if len(words) > 2:
                    response = words[2]
                else:
                    self.send("334 ")
                    response = self.readline()
                if self.check_login("smtp", mech, response):
                    self.send("235 2.7.0 Authentication successful")
                else:
                    self.send(f"334 {ERROR_JSON}")
                    self.readline()
                    self.send("535 5.7.8 Authentication failed")
            elif command == "NOOP":
                self.send("250 2.0.0 OK")
            elif command == "QUIT":
                self.send("221 2.0.0 bye")
                return
            else:
                self.send("502 5.5.2 unknown command")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imaps", type=int, default=0, help="IMAPS port (0: none)")
    parser.add_argument("--pop3s", type=int, default=0, help="POP3S port (0: none)")
    parser.add_argument("--smtps", type=int, default=0, help="SMTPS port (0: none)")
    parser.add_argument("--tls-cert", required=True)
    parser.add_argument("--tls-key", required=True)
    parser.add_argument("--accept-prefix", required=True,
                        help="tokens that start with this log in")
    parser.add_argument("--log", required=True, help="one JSON line per login")
    parser.add_argument("--pidfile", required=True,
                        help="written once every port listens")
    args = parser.parse_args()

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(args.tls_cert, args.tls_key)
    servers = []
    for protocol, port in (("imap", args.imaps), ("pop3", args.pop3s), ("smtp", args.smtps)):
        if port == 0:
            continue
        try:
            server = Server(("127.0.0.1", port), Session)
        except OSError as e:
            sys.stderr.write(f"fake_mail: failed to listen on port {port}: {e}\n")
            return 1
        server.tls = tls
        server.protocol = protocol
        server.accept_prefix = args.accept_prefix
        server.log = args.log
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with open(args.pidfile + ".tmp", "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(args.pidfile + ".tmp", args.pidfile)
    stop.wait()
    for server in servers:
        server.shutdown()
    os.unlink(args.pidfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
