#!/usr/bin/python3
"""Forward HTTP requests to one upstream server, one request at a time.

glewlwyd 2.7 with its sqlite backend fails under concurrent requests. Seen
here with parallel tests: a token request failed with HTTP 500 after a
failed sqlite insert into gpo_refresh_token_scope, and an authorization
request went to the login page while another session updated the consent
of the same user and client. So the stack puts this proxy in front of
glewlwyd. Clients keep their connections, but only one request reaches
glewlwyd at a time.

Usage: serial-proxy.py LISTEN_HOST LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT LOG_FILE

The log gets one line per request: method, path without the query (the
query of a userinfo request can carry a token), status and milliseconds.
"""

import http.client
import http.server
import sys
import threading
import time

# Headers that belong to one connection, not to the message (RFC 9110 7.6.1).
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "te", "trailer", "upgrade",
}
UPSTREAM_TIMEOUT_SECONDS = 30
MAX_BODY_BYTES = 16 * 1024 * 1024

upstream_lock = threading.Lock()
log_lock = threading.Lock()


class ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # Parallel tests open many connections at once; the default backlog of 5
    # would make the kernel drop SYNs and clients retry after a second.
    request_queue_size = 128


class SerialProxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ("127.0.0.1", 80)
    log_file = None

    def forward(self):
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding") or length > MAX_BODY_BYTES:
            self.send_error(411 if self.headers.get("Transfer-Encoding") else 413)
            return
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items()
                   if name.lower() not in HOP_BY_HOP}

        with upstream_lock:
            connection = http.client.HTTPConnection(*self.upstream, timeout=UPSTREAM_TIMEOUT_SECONDS)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                reply = response.read()
                status, reason = response.status, response.reason
                reply_headers = response.getheaders()
            except OSError as error:
                status, reason, reply_headers = 502, "Bad Gateway", []
                reply = ("upstream request failed: %s\n" % error).encode()
            finally:
                connection.close()

        self.send_response(status, reason)
        for name, value in reply_headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)
        self.write_log(status, started)

    def write_log(self, status, started):
        path = self.path.split("?", 1)[0]
        elapsed_ms = int((time.monotonic() - started) * 1000)
        with log_lock:
            self.log_file.write("%s %s %s %d %dms\n" % (
                time.strftime("%H:%M:%S"), self.command, path, status, elapsed_ms))
            self.log_file.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = forward

    def log_message(self, format, *args):
        pass


def main():
    if len(sys.argv) != 6:
        sys.stderr.write(__doc__)
        return 64
    listen_host, listen_port, upstream_host, upstream_port, log_path = sys.argv[1:]
    SerialProxy.upstream = (upstream_host, int(upstream_port))
    SerialProxy.log_file = open(log_path, "a", encoding="utf-8")
    server = ProxyServer((listen_host, int(listen_port)), SerialProxy)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
