#!/usr/bin/python3
"""Hostile and broken clients against a running `mailtoken serve`.

Oversized, partial, slow, garbage and vanishing clients, and crowds of
stalled ones, must neither crash the daemon nor delay the requests of
well-behaved clients. A refresh that waits on a slow token endpoint must
not delay another account either. Prints the latencies it measures.
"""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_harness as h  # noqa: E402

PORT_OFFSET = 70
SLOW_SECONDS = 4
# A well-behaved request must be answered within this, stalled clients or not.
PROMPT = 0.5


def timed_request(path, line):
    start = time.monotonic()
    reply = h.request(path, line)
    return reply, time.monotonic() - start


def stall(path, count, payload=b"MAILTOKEN/1 TOK"):
    """Opens count connections that send payload and then nothing."""
    held = []
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        if payload:
            s.sendall(payload)
        held.append(s)
    return held


def close_all(sockets):
    for s in sockets:
        s.close()


def test(checks, run):
    server = run.fake_as(PORT_OFFSET, {
        "live": {"style": "microsoft", "refresh_tokens": ["RT-work"], "expires_in": 3600},
        "routes": {"/slow/token": [{"fixture": "microsoft/token-success.json",
                                    "delay": SLOW_SECONDS}]},
    })
    sock = run.path("sock")
    d = run.daemon("hostile", (
        f"[defaults]\nstore = {run.path('store')}\nsocket = {sock}\nsocket_mode = 0600\n"
        "keepalive = 0\n"
        + h.account_config("work", server.url())
        + h.account_config("slow", server.url("/slow/token"), "timeout = 20\n")))
    d.import_token("work", "RT-work")
    d.import_token("slow", "RT-slow")
    d.start()

    reply, first = timed_request(sock, "MAILTOKEN/1 TOKEN work\n")
    checks.ok(reply.ok and reply.get("token"), "first TOKEN request is answered", repr(reply))
    token = reply.get("token")
    print(f"  first request (with a refresh): {first * 1000:.1f} ms")

    # Garbage of several kinds gets an ERR bad-request reply and a closed connection.
    for what, payload in [
        ("an HTTP request", b"GET / HTTP/1.0\r\n\r\n"),
        ("binary bytes", bytes(range(1, 256)).replace(b"\n", b"") + b"\n"),
        ("a NUL byte", b"MAILTOKEN/1 TOKEN wo\0rk\n"),
        ("an unknown verb", b"MAILTOKEN/1 DELETE work\n"),
        ("a wrong version", b"MAILTOKEN/2 TOKEN work\n"),
        ("an empty line", b"\n"),
        ("REJECTED without fingerprint", b"MAILTOKEN/1 REJECTED work\n"),
    ]:
        reply = h.request(sock, payload)
        checks.ok(not reply.ok and reply.kind == "bad-request" and reply.code == 64,
                  f"{what} gets ERR 64 bad-request", repr(reply))

    # A request line over the cap is cut off at once, not after the deadline.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock)
        start = time.monotonic()
        try:
            s.sendall(b"MAILTOKEN/1 TOKEN " + b"x" * 100000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = h.Reply(h.read_reply(s))
        took = time.monotonic() - start
    checks.ok(not reply.ok and "too long" in reply.get("message"),
              "an oversized request line is rejected as too long", repr(reply))
    checks.ok(took < 2, "the oversized request is rejected without waiting", f"{took:.2f} s")

    # Clients that vanish mid-request, or connect and send nothing.
    for payload in (b"", b"MAILTOKEN/1 TO", b"MAILTOKEN/1 TOKEN work"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        if payload:
            s.sendall(payload)
        s.close()
    reply = h.request(sock, "MAILTOKEN/1 TOKEN work\n")
    checks.ok(reply.ok and reply.get("token") == token,
              "the daemon answers after clients disconnected mid-request", repr(reply))

    # A slow but honest client, one byte every 50 ms, is served.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock)
        for byte in b"MAILTOKEN/1 TOKEN work\n":
            s.sendall(bytes([byte]))
            time.sleep(0.05)
        reply = h.Reply(h.read_reply(s))
    checks.ok(reply.ok and reply.get("token") == token, "a slow client is served", repr(reply))

    # A client that stalls is disconnected after the request deadline (5 s).
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(15)
        s.connect(sock)
        s.sendall(b"MAILTOKEN/1 TOKEN")
        start = time.monotonic()
        reply = h.Reply(h.read_reply(s))
        took = time.monotonic() - start
    checks.ok(not reply.ok and reply.kind == "bad-request",
              "a stalled client gets ERR bad-request", repr(reply))
    checks.ok(4.5 <= took <= 7, "a stalled client is disconnected after about 5 s",
              f"{took:.2f} s")
    print(f"  stalled client disconnected after {took:.2f} s")

    # 50 stalled clients hold connections; a normal request is still prompt.
    held = stall(sock, 50)
    latencies = []
    answered = 0
    for _ in range(20):
        reply, took = timed_request(sock, "MAILTOKEN/1 TOKEN work\n")
        answered += reply.ok and reply.get("token") == token
        latencies.append(took)
    checks.equal(answered, 20, "20 requests are answered while 50 clients stall")
    worst = max(latencies)
    latencies.sort()
    print(f"  with 50 stalled clients: median {latencies[10] * 1000:.2f} ms, "
          f"max {worst * 1000:.2f} ms over 20 requests")
    checks.ok(worst < PROMPT, f"all 20 requests beside 50 stalled clients took < {PROMPT} s",
              f"{worst:.3f} s")
    close_all(held)

    # More stalled clients than the daemon keeps (256): the oldest are dropped.
    held = stall(sock, 300, b"")
    reply, took = timed_request(sock, "MAILTOKEN/1 TOKEN work\n")
    print(f"  with 300 stalled clients: {took * 1000:.2f} ms")
    checks.ok(reply.ok and took < PROMPT,
              "a request is answered promptly while 300 clients stall", f"{took:.3f} s")
    dropped = 0
    for s in held:
        s.settimeout(0.01)
        try:
            if s.recv(1) == b"":
                dropped += 1
        except socket.timeout:
            pass
        except ConnectionResetError:
            dropped += 1
    checks.ok(dropped >= 44, "the oldest stalled clients beyond 256 were dropped",
              f"{dropped} dropped")
    close_all(held)

    # Many clients at once.
    start = time.monotonic()
    replies = h.in_threads(100, lambda i: h.request(sock, "MAILTOKEN/1 TOKEN work\n"))
    took = time.monotonic() - start
    checks.ok(all(r.ok and r.get("token") == token for r in replies),
              "100 simultaneous clients all get the token")
    print(f"  100 simultaneous clients: {took * 1000:.1f} ms in all")

    # A refresh stuck on a slow token endpoint does not delay another account.
    slow_reply = {}

    def ask_slow():
        slow_reply["reply"] = h.request(sock, "MAILTOKEN/1 TOKEN slow\n", timeout=30)
        slow_reply["at"] = time.monotonic()

    started = time.monotonic()
    threads = [threading.Thread(target=ask_slow) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    reply, took = timed_request(sock, "MAILTOKEN/1 TOKEN work\n")
    checks.ok(reply.ok and took < PROMPT,
              "another account is served while six requests wait for a slow refresh",
              f"{took:.3f} s, {reply!r}")
    print(f"  beside six requests waiting on a {SLOW_SECONDS} s refresh: {took * 1000:.2f} ms")
    for t in threads:
        t.join()
    checks.ok(slow_reply["reply"].ok, "the slow account's requests succeed in the end",
              repr(slow_reply["reply"]))
    checks.ok(slow_reply["at"] - started >= SLOW_SECONDS - 0.5,
              "the slow account really waited for its token endpoint")
    checks.equal(len(server.refreshes("/slow/token")), 1,
                 "six waiting requests made one refresh at the slow endpoint")

    checks.ok(d.alive(), "the daemon is still running")
    log = d.log()
    checks.contains(log, "invalid request", "invalid requests are logged")
    checks.contains(log, "no whole request line within", "stalled clients are logged")
    checks.contains(log, "closed the oldest",
                    "dropping the oldest stalled client is logged")
    checks.ok(token not in log, "no access token appears in the log")
    checks.equal(d.stop(), 0, "the daemon stops cleanly with status 0")


if __name__ == "__main__":
    h.main(test)
