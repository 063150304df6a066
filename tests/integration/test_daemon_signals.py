#!/usr/bin/python3
"""Signals, sockets and systemd for `mailtoken serve`.

SIGHUP reloads the configuration. A broken file keeps the old one, a
request in progress finishes with the old one, and the sockets follow the
new list. SIGTERM stops cleanly, waits for a refresh in progress and
removes the sockets. Stale sockets are replaced, while files, symbolic
links and live sockets in the way are left alone. Readiness reaches
$NOTIFY_SOCKET, and sockets passed by systemd (LISTEN_FDS) are used and
never removed.
"""

import grp
import os
import signal
import socket
import stat
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_harness as h  # noqa: E402

PORT_OFFSET = 72
SLOW_SECONDS = 3


def defaults(run, sockets, extra=""):
    return (f"[defaults]\nstore = {run.path('store')}\nsocket = {sockets}\n"
            f"keepalive = 0\n{extra}")


def test_reload(checks, run, server):
    sock = run.path("sock")
    work = h.account_config("work", server.url())
    slow = h.account_config("slow", server.url("/slow/token"))
    d = run.daemon("reload", defaults(run, sock) + work + slow)
    d.import_token("work", "RT-work")
    d.import_token("slow", "RT-slow")
    d.start()
    checks.ok(stat.S_ISSOCK(os.lstat(sock).st_mode), "the socket exists once READY=1 is sent")
    checks.equal(stat.S_IMODE(os.lstat(sock).st_mode), 0o660,
                 "the socket has the default mode 0660")

    reply = h.request(sock, "MAILTOKEN/1 STATUS\n")
    names = [line.split(" ")[0] for line in reply.all("status")]
    checks.equal(names, ["work", "slow"], "STATUS lists the configured accounts")

    # A request in progress keeps the configuration it started with.
    slow_reply = {}
    thread = threading.Thread(target=lambda: slow_reply.update(
        reply=h.request(sock, "MAILTOKEN/1 TOKEN slow\n", timeout=30)))
    thread.start()
    time.sleep(0.5)

    # A second account appears, "slow" goes away, the mode and group change.
    group = grp.getgrnam("nogroup")
    d.write_config(defaults(run, sock, "socket_mode = 0640\nsocket_group = nogroup\n") + work
                   + h.account_config("extra", server.url()))
    d.send_signal(signal.SIGHUP)
    d.wait_notify("RELOADING=1")
    d.wait_notify("READY=1")
    reply = h.request(sock, "MAILTOKEN/1 STATUS\n")
    names = [line.split(" ")[0] for line in reply.all("status")]
    checks.equal(names, ["work", "extra"], "after SIGHUP STATUS lists the new accounts")
    info = os.lstat(sock)
    checks.equal(stat.S_IMODE(info.st_mode), 0o640, "SIGHUP applies the new socket_mode")
    checks.equal(info.st_gid, group.gr_gid, "SIGHUP applies the new socket_group")
    thread.join()
    checks.ok(slow_reply["reply"].ok, "the request in progress finished with the old "
              "configuration", repr(slow_reply["reply"]))
    reply = h.request(sock, "MAILTOKEN/1 TOKEN slow\n")
    checks.equal(reply.kind, "unknown-account", "the removed account is unknown afterwards")

    # A broken file keeps the previous configuration.
    d.write_config(defaults(run, sock) + work + "[broken\n")
    d.send_signal(signal.SIGHUP)
    d.wait_notify("RELOADING=1")
    d.wait_notify("READY=1")
    log = d.wait_log("keeping the previous one")
    checks.contains(log, "reload.conf:", "the reload error names the file and line")
    reply = h.request(sock, "MAILTOKEN/1 STATUS\n")
    names = [line.split(" ")[0] for line in reply.all("status")]
    checks.equal(names, ["work", "extra"], "a broken file leaves the accounts as they were")

    # A new socket list: the new path opens and the old file goes.
    sock2 = run.path("sock2")
    d.write_config(defaults(run, sock2) + work)
    d.send_signal(signal.SIGHUP)
    d.wait_notify("RELOADING=1")
    d.wait_notify("READY=1")
    d.wait_log("closing " + sock)
    d.wait_log("listening on " + sock2)
    checks.ok(not os.path.lexists(sock), "the socket no longer listed was removed")
    reply = h.request(sock2, "MAILTOKEN/1 TOKEN work\n")
    checks.ok(reply.ok, "the newly listed socket answers", repr(reply))

    checks.equal(d.stop(), 0, "SIGTERM stops the daemon with status 0")
    checks.ok(d.notified("STOPPING=1"), "the daemon tells systemd STOPPING=1")
    checks.ok(not os.path.lexists(sock2), "SIGTERM removes the socket file")
    log = d.log()
    checks.contains(log, "stopping on SIGTERM", "the stop is logged with its signal")
    checks.contains(log, "stopped", "the end of the stop is logged")


def test_stop_waits(checks, run, server):
    """SIGTERM during a refresh waits for it, so a rotated refresh token is not lost."""
    sock = run.path("wsock")
    d = run.daemon("stopwait", defaults(run, sock).replace(
        run.path("store"), run.path("store-wait")) + h.account_config(
        "slow", server.url("/slow/token")))
    d.import_token("slow", "RT-slow")
    d.start()
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        reply=h.request(sock, "MAILTOKEN/1 TOKEN slow\n", timeout=30)))
    thread.start()
    time.sleep(0.5)
    start = time.monotonic()
    status = d.stop()
    took = time.monotonic() - start
    thread.join()
    checks.equal(status, 0, "SIGTERM during a refresh still ends with status 0")
    checks.ok(took >= SLOW_SECONDS - 1, "SIGTERM waited for the refresh in progress",
              f"{took:.2f} s")
    checks.ok(result["reply"].ok, "the client of the refresh got its token",
              repr(result["reply"]))
    checks.contains(d.log(), "waiting for the requests and refreshes in progress: 1", "the wait is logged")
    checks.ok(not os.path.lexists(sock), "the socket is removed after the wait")


def start_fails(checks, run, name, config_text, expected):
    d = run.daemon(name, config_text)
    d.start(wait_ready=False)
    try:
        status = d.process.wait(10)
    except Exception:
        d.kill()
        raise h.TestFailure(f"{name}: the daemon started although it should not")
    checks.equal(status, 73, f"{name}: the daemon exits with status 73")
    checks.contains(d.log(), expected, f"{name}: the message says why")


def test_socket_files(checks, run, server):
    work = h.account_config("work", server.url())
    path = run.path("fsock")

    # A stale socket file (its daemon was killed) is replaced.
    d = run.daemon("stale1", defaults(run, path) + work)
    d.import_token("work", "RT-work")
    d.start()
    d.kill()
    checks.ok(stat.S_ISSOCK(os.lstat(path).st_mode), "a killed daemon leaves its socket behind")
    d2 = run.daemon("stale2", defaults(run, path) + work)
    d2.start()
    checks.ok(h.request(path, "MAILTOKEN/1 STATUS\n").ok, "a stale socket is replaced")

    # A live socket is not taken over.
    start_fails(checks, run, "live", defaults(run, path) + work, "another process listens")
    checks.ok(h.request(path, "MAILTOKEN/1 STATUS\n").ok,
              "the first daemon still answers on its socket")
    checks.equal(d2.stop(), 0, "the first daemon stops with status 0")

    # A regular file, a symbolic link and a missing folder are left alone.
    regular = run.path("regular")
    with open(regular, "w") as f:
        f.write("keep me\n")
    start_fails(checks, run, "regular", defaults(run, regular) + work, "not a socket")
    checks.equal(open(regular).read(), "keep me\n", "the regular file is untouched")

    target = run.path("target")
    with open(target, "w") as f:
        f.write("target\n")
    link = run.path("link")
    os.symlink(target, link)
    start_fails(checks, run, "symlink", defaults(run, link) + work, "symbolic link")
    checks.ok(os.path.islink(link), "the symbolic link is untouched")
    checks.equal(open(target).read(), "target\n", "the link's target is untouched")

    start_fails(checks, run, "nofolder", defaults(run, run.path("missing/sock")) + work,
                "does not exist")
    checks.ok(not os.path.exists(run.path("missing")), "the missing folder is not created")


def test_socket_activation(checks, run, server):
    """A socket passed the way systemd passes it: LISTEN_FDS=1 at fd 3, LISTEN_PID=$$."""
    path = run.path("asock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    store = run.path("store-act")
    d = run.daemon("activated", f"[defaults]\nstore = {store}\nkeepalive = 0\n"
                   + h.account_config("work", server.url()))
    d.import_token("work", "RT-work")
    # bash puts the socket on fd 3 and keeps its PID through exec, as systemd does.
    fd = listener.fileno()
    wrapper = ["/bin/bash", "-c", f'exec 3<&{fd} {fd}<&-; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"',
               "bash"]
    # Standard error is the journal when $JOURNAL_STREAM names it.
    open(d.log_path, "a").close()
    info = os.stat(d.log_path)
    d.start(pass_fds=(fd,), argv_prefix=wrapper,
            env_extra={"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"})
    listener.close()
    checks.contains(d.log(), f"<6>listening on {path} (socket from systemd",
                    "the daemon uses the socket from systemd")
    checks.ok(d.log().startswith("<6>started: mailtoken"),
              "log lines to the journal carry a priority prefix", d.log()[:80])
    reply = h.request(path, "MAILTOKEN/1 TOKEN work\n")
    checks.ok(reply.ok, "the socket from systemd answers", repr(reply))
    checks.equal(d.stop(signal.SIGINT), 0, "SIGINT stops the activated daemon with status 0")
    checks.contains(d.log(), "<6>stopping on SIGINT", "the stop on SIGINT is logged")
    checks.ok(os.path.lexists(path), "a socket from systemd is not removed at stop")


def test(checks, run):
    server = run.fake_as(PORT_OFFSET, {
        "live": {"style": "microsoft", "refresh_tokens": ["RT-work"]},
        "routes": {"/slow/token": [{"fixture": "microsoft/token-success.json",
                                    "delay": SLOW_SECONDS}]},
    })
    test_reload(checks, run, server)
    test_stop_waits(checks, run, server)
    test_socket_files(checks, run, server)
    test_socket_activation(checks, run, server)


if __name__ == "__main__":
    h.main(test)
