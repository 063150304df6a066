#!/usr/bin/python3
"""How `mailtoken serve` keeps tokens fresh, with durations of seconds.

keepalive: an idle account is refreshed once per period, so that an idle
relay never loses its refresh token. Refresh ahead: a token a client uses
is replaced before it expires, and only once after the last use. A token
a client reports as rejected is replaced. notify_command runs once per
change: a refresh token the server rejects, a client secret near its
expiry. A token endpoint that is down gets a delayed retry.
"""

import datetime
import hashlib
import os
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_harness as h  # noqa: E402

PORT_OFFSET = 73
CLOSED_PORT_OFFSET = 79
EXPIRES_IN = 12
KEEPALIVE = 5


def notify_script(run):
    path = run.path("notify.sh")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nprintf "%s %s [%s]\\n" "$1" "$2" "$MAILTOKEN_MESSAGE" >> '
                f'{run.path("notified")}\n')
    os.chmod(path, 0o755)
    return path


def notified(run):
    try:
        with open(run.path("notified")) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def test_keepalive_and_notify(checks, run, server):
    script = notify_script(run)
    soon = (datetime.date.today() + datetime.timedelta(days=10)).isoformat()
    closed = f"http://127.0.0.1:{h.port(CLOSED_PORT_OFFSET)}/common/oauth2/v2.0/token"
    accounts = (h.account_config("keep", server.url())
                + h.account_config("dead", server.url())
                + h.account_config("secret", server.url(), f"client_secret_expires = {soon}\n")
                + h.account_config("down", closed, "timeout = 2\n"))
    text = (f"[defaults]\nstore = {run.path('store')}\nsocket = {run.path('sock')}\n"
            f"keepalive = {KEEPALIVE}s\nnotify_command = {script}\n")
    d = run.daemon("keepalive", text + accounts)
    d.import_token("keep", "RT-keep")
    d.import_token("dead", "RT-unknown-to-the-server")
    d.import_token("secret", "RT-secret")
    d.import_token("down", "RT-down")
    started = time.time()
    d.start()

    d.wait_log("keep: refreshed the access token (keepalive)", 3 * KEEPALIVE, count=2)
    times = [r["epoch"] for r in server.refreshes() if r["form"].get("client_id") == "app-keep"]
    checks.ok(len(times) >= 2, "an idle account is refreshed by keepalive", repr(times))
    gap = times[1] - times[0]
    checks.ok(KEEPALIVE - 1 <= gap <= KEEPALIVE + 2,
              f"keepalive refreshes are about {KEEPALIVE} s apart", f"{gap:.2f} s")
    checks.ok(times[0] - started <= KEEPALIVE + 2,
              "the first keepalive comes one period after the import", f"{times[0] - started:.2f}")

    log = d.wait_log("dead: the account needs reauthorization")
    checks.contains(log, "dead: automatic refresh (keepalive) failed",
                    "the rejected refresh token is logged")
    lines = notified(run)
    checks.ok(any(line.startswith("dead needs-reauthorization [") for line in lines),
              "notify_command runs with account and state", repr(lines))
    checks.ok(any(line.startswith("secret client-secret-expiring [the client secret expires")
                  for line in lines), "notify_command warns of the client secret", repr(lines))

    log = d.wait_log("down: automatic refresh (keepalive) failed")
    checks.contains(log, "next attempt in 60 s", "a temporary failure is retried later")

    # Three more keepalive periods: nothing is reported twice, nothing retried early.
    time.sleep(2 * KEEPALIVE)
    lines = notified(run)
    checks.equal(sum(line.startswith("dead ") for line in lines), 1,
                 "needs-reauthorization is notified once")
    checks.equal(sum(line.startswith("secret ") for line in lines), 1,
                 "the client secret warning is notified once")
    log = d.log()
    checks.equal(log.count("down: automatic refresh (keepalive) failed"), 1,
                 "the failed account is not retried before its delay")
    checks.equal(log.count("dead: automatic refresh"), 1,
                 "an account that needs reauthorization is not refreshed again")

    # A reload keeps what was notified; a new account with the script now
    # writable by others is reported in the log, and the script is not run.
    os.chmod(script, 0o777)
    d.write_config(text + accounts
                   + h.account_config("other", server.url(), f"client_secret_expires = {soon}\n"))
    d.send_signal(signal.SIGHUP)
    log = d.wait_log("others can change it")
    time.sleep(1)
    lines = notified(run)
    checks.equal(len(lines), 2, "SIGHUP does not repeat earlier notifications")
    checks.contains(log, "other: the client secret expires", "the new warning is still logged")
    os.chmod(script, 0o755)

    reply = h.request(run.path("sock"), "MAILTOKEN/1 STATUS dead\n")
    checks.ok(reply.ok and "needs-reauthorization" in reply.get("status"),
              "STATUS reports the state that was notified", repr(reply))
    checks.equal(d.stop(), 0, "the daemon stops with status 0")


def test_ahead_and_rejected(checks, run, server):
    sock = run.path("asock")
    d = run.daemon("ahead", (
        f"[defaults]\nstore = {run.path('store-ahead')}\nsocket = {sock}\nkeepalive = 0\n"
        + h.account_config("busy", server.url(), "refresh_margin = 2\n")
        + h.account_config("gone", server.url())))
    d.import_token("busy", "RT-busy")
    d.import_token("gone", "RT-revoked-at-the-server")
    d.start()

    # A request whose refresh finds the refresh token dead changes the
    # account's state at once, not at the next periodic scan.
    reply = h.request(sock, "MAILTOKEN/1 TOKEN gone\n")
    checks.equal(reply.kind, "unauthorized", "a dead refresh token gives ERR unauthorized")
    log = d.wait_log("gone: the account needs reauthorization", 3)
    checks.contains(log, f"gone: TOKEN from uid {os.getuid()} (",
                    "the failed request is logged, and the new state within 3 s")

    before = len(server.refreshes())
    reply = h.request(sock, "MAILTOKEN/1 TOKEN busy\n")
    handed = time.time()
    checks.ok(reply.ok, "the first request gets a token", repr(reply))
    first = reply.get("token")
    checks.equal(len(server.refreshes()) - before, 1, "the first request refreshed once")

    # usable 12 - 2 = 10 s, refreshed a quarter (2.5 s) before: about 8 s after.
    d.wait_log("busy: refreshed the access token (expiry)", 12)
    ahead_at = server.refreshes()[-1]["epoch"]
    checks.ok(6 <= ahead_at - handed <= 10,
              "a token in use is refreshed ahead of its expiry", f"{ahead_at - handed:.2f} s")
    reply = h.request(sock, "MAILTOKEN/1 TOKEN busy\n")
    second = reply.get("token")
    checks.ok(reply.ok and second != first, "the next request gets the new token")
    checks.equal(len(server.refreshes()) - before, 2, "the next request needed no refresh")
    checks.ok(int(reply.get("expires")) - time.time() > EXPIRES_IN - 6,
              "the new token has most of its lifetime left")

    # A client reports the token as rejected: it is replaced without a request waiting.
    fp = "sha256:" + hashlib.sha256(second.encode()).hexdigest()[:12]
    reply = h.request(sock, f"MAILTOKEN/1 REJECTED busy {fp}\n")
    checks.ok(reply.ok, "REJECTED is acknowledged", repr(reply))
    d.wait_log("busy: refreshed the access token (rejected)", 8)
    reply = h.request(sock, "MAILTOKEN/1 TOKEN busy\n")
    checks.ok(reply.ok and reply.get("token") not in (first, second),
              "after REJECTED a client gets a new token")
    checks.equal(len(server.refreshes()) - before, 3, "REJECTED cost exactly one refresh")
    status = d.cli("status", "busy")
    checks.ok(status.returncode == 0 and "busy" in status.stdout,
              "mailtoken status reads the store beside the daemon", status.stderr)

    # Unused after its last refresh, the token is left to expire: one more
    # ahead refresh for the token just handed out, then none.
    d.wait_log("busy: refreshed the access token (expiry)", 12, count=2)
    count = len(server.refreshes())
    time.sleep(EXPIRES_IN)
    checks.equal(len(server.refreshes()), count,
                 "an access token nobody asked for is not refreshed again")
    checks.ok(second not in d.log() and first not in d.log(), "no token appears in the log")
    checks.equal(d.stop(), 0, "the daemon stops with status 0")


def test(checks, run):
    server = run.fake_as(PORT_OFFSET, {
        "live": {"style": "microsoft", "expires_in": EXPIRES_IN, "rotate_refresh_token": True,
                 "refresh_tokens": ["RT-keep", "RT-secret", "RT-busy"]}})
    test_keepalive_and_notify(checks, run, server)
    test_ahead_and_rejected(checks, run, server)
    checks.ok(stat.S_IMODE(os.stat(run.path("store")).st_mode) == 0o700,
              "the daemon's store folder has mode 0700")


if __name__ == "__main__":
    h.main(test)
