"""A minimal SMTP server for the plugin's mechanism-choice test.

It offers STARTTLS and, after it, "AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER",
and accepts any credentials and any message. For each connection it
appends a JSON line to LOG_FILE: the AUTH line's mechanism, its initial
response or the response after the empty 334 challenge (base64, as sent),
and the message's Subject. It listens on 127.0.0.1 on a port the system
chooses, writes that port to PORT_FILE once it listens, and serves one
connection at a time until it is terminated.

Usage: plugin_fake_smtp.py CERT KEY LOG_FILE PORT_FILE
"""

import json
import os
import socket
import ssl
import sys

MECHANISMS = "PLAIN LOGIN XOAUTH2 OAUTHBEARER"


class Session:
    def __init__(self, sock, context, log_file):
        self.sock = sock
        self.context = context
        self.log_file = log_file
        self.stream = sock.makefile("rwb")
        self.tls = False
        self.record = {}

    def send(self, line):
        self.stream.write(line.encode() + b"\r\n")
        self.stream.flush()

    def read_line(self):
        line = self.stream.readline(65536)
        if not line:
            raise EOFError
        return line.rstrip(b"\r\n").decode("utf-8", "replace")

    def ehlo(self):
        self.send("250-localhost")
        if self.tls:
            self.send("250-AUTH " + MECHANISMS)
        else:
            self.send("250-STARTTLS")
        self.send("250 8BITMIME")

    def starttls(self):
        self.send("220 2.0.0 Ready to start TLS")
        self.stream.close()
        self.sock = self.context.wrap_socket(self.sock, server_side=True)
        self.stream = self.sock.makefile("rwb")
        self.tls = True

    def auth(self, argument):
        words = argument.split()
        self.record["mechanism"] = words[0].upper() if words else ""
        if len(words) > 1:
            self.record["initial_response"] = words[1]
        else:
            self.send("334 ")
            self.record["response"] = self.read_line()
        self.send("235 2.7.0 Authentication successful")

    def data(self):
        self.send("354 End data with <CR><LF>.<CR><LF>")
        while True:
            line = self.read_line()
            if line == ".":
                break
            if line.lower().startswith("subject: ") and "subject" not in self.record:
                self.record["subject"] = line[9:]
        self.send("250 2.0.0 Ok: queued")

    def run(self):
        self.send("220 localhost ESMTP fake")
        while True:
            line = self.read_line()
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                self.ehlo()
            elif verb == "STARTTLS" and not self.tls:
                self.starttls()
            elif verb == "AUTH" and self.tls:
                self.auth(argument)
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.send("250 2.0.0 Ok")
            elif verb == "DATA":
                self.data()
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            else:
                self.send("502 5.5.2 Command not recognized")

    def close(self):
        if self.record:
            with open(self.log_file, "a", encoding="utf-8") as log:
                log.write(json.dumps(self.record) + "\n")
        try:
            self.stream.close()
            self.sock.close()
        except OSError:
            pass


def main():
    cert, key, log_file, port_file = sys.argv[1:5]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    with open(port_file + ".tmp", "w", encoding="utf-8") as out:
        out.write("%d\n" % listener.getsockname()[1])
    os.rename(port_file + ".tmp", port_file)
    while True:
        sock, _ = listener.accept()
        sock.settimeout(30)
        session = Session(sock, context, log_file)
        try:
            session.run()
        except (EOFError, OSError, ssl.SSLError):
            pass
        finally:
            session.close()


if __name__ == "__main__":
    main()
