#!/usr/bin/python3
"""A small HTTP proxy for tests: forwards plain HTTP requests sent in
absolute form and tunnels CONNECT requests, to 127.0.0.1 only, and logs
one line per request ("POST http://..." or "CONNECT host:port").

Usage: http_proxy.py --port P --log FILE --pidfile FILE
"""

import argparse
import os
import select
import socket
import socketserver
import sys
import threading
import urllib.parse

ALLOWED_HOSTS = {"127.0.0.1", "localhost"}


class ProxyHandler(socketserver.StreamRequestHandler):
    def log(self, line):
        with self.server.log_lock, open(self.server.log_path, "a") as log:
            log.write(line + "\n")

    def read_head(self):
        lines = []
        while True:
            line = self.rfile.readline(65536)
            if not line or line in (b"\r\n", b"\n"):
                return lines
            lines.append(line.decode("latin-1").rstrip("\r\n"))

    def reply(self, status, text):
        self.wfile.write(f"HTTP/1.1 {status} {text}\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n".encode())

    def handle(self):
        head = self.read_head()
        if not head:
            return
        method, target, version = (head[0].split(" ") + ["", "", ""])[:3]
        self.log(f"{method} {target}")

        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if host not in ALLOWED_HOSTS:
                self.reply(403, "Forbidden")
                return
            upstream = socket.create_connection((host, int(port)), timeout=10)
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            self.tunnel(upstream)
            return

        # A plain HTTP request in absolute form: forward it without the proxy headers.
        url = urllib.parse.urlsplit(target)
        if url.scheme != "http" or url.hostname not in ALLOWED_HOSTS:
            self.reply(403, "Forbidden")
            return
        headers = [h for h in head[1:] if not h.lower().startswith(("proxy-", "connection:"))]
        length = 0
        for h in headers:
            if h.lower().startswith("content-length:"):
                length = int(h.split(":", 1)[1])
        body = self.rfile.read(length) if length else b""

        path = url.path + ("?" + url.query if url.query else "")
        upstream = socket.create_connection((url.hostname, url.port or 80), timeout=10)
        request = f"{method} {path} {version}\r\n" + "".join(h + "\r\n" for h in headers)
        upstream.sendall(request.encode("latin-1") + b"Connection: close\r\n\r\n" + body)
        while True:
            data = upstream.recv(65536)
            if not data:
                break
            self.wfile.write(data)
        upstream.close()

    def tunnel(self, upstream):
        client = self.connection
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                break
            for s in readable:
                data = s.recv(65536)
                if not data:
                    upstream.close()
                    return
                (upstream if s is client else client).sendall(data)
        upstream.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--pidfile", required=True)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), ProxyHandler)
    server.log_path = args.log
    server.log_lock = threading.Lock()
    tmp = args.pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(tmp, args.pidfile)
    try:
        server.serve_forever()
    finally:
        os.unlink(args.pidfile)


if __name__ == "__main__":
    sys.exit(main())
