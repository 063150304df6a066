#!/usr/bin/python3
"""The daemon's allow lists: a uid not in an account's `allow` gets no token.

Clients run as the users nobody and daemon through setpriv, so this test
needs root. The refusal must be an ERR reply, logged with the uid, user
name and account; STATUS must not list the accounts the client may not
see; and changing `allow` takes effect on SIGHUP.
"""

import os
import pwd
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_harness as h  # noqa: E402

PORT_OFFSET = 71


def config(run, server, allow_open):
    sock = run.path("sock")
    return (f"[defaults]\nstore = {run.path('store')}\nsocket = {sock}\n"
            "socket_mode = 0666\nkeepalive = 0\n"
            + h.account_config("relay", server.url(), "allow = daemon 4242\n")
            + h.account_config("open", server.url(), f"allow = {allow_open}\n"))


def test(checks, run):
    if os.geteuid() != 0:
        raise h.TestFailure("this test runs clients as other users: run it as root")
    h.require_tools(("setpriv", "util-linux"))
    nobody = pwd.getpwnam("nobody").pw_uid
    daemon_uid = pwd.getpwnam("daemon").pw_uid
    # The clients must reach the socket inside the test folder.
    os.chmod(run.folder, 0o711)

    server = run.fake_as(PORT_OFFSET, {
        "live": {"style": "microsoft", "refresh_tokens": ["RT-relay", "RT-open"]}})
    sock = run.path("sock")
    d = run.daemon("access", config(run, server, "4242"))
    d.import_token("relay", "RT-relay")
    d.import_token("open", "RT-open")
    d.start()

    reply = h.request_as("daemon", "daemon", sock, "MAILTOKEN/1 TOKEN relay\n")
    checks.ok(reply.ok and reply.get("token"), "a user in the allow list gets the token",
              repr(reply))

    reply = h.request_as("nobody", "nogroup", sock, "MAILTOKEN/1 TOKEN relay\n")
    checks.ok(not reply.ok, "a user not in the allow list gets no token", repr(reply))
    checks.equal(reply.kind, "denied", "the refusal is an ERR of kind denied")
    checks.equal(reply.code, 77, "the refusal carries exit code 77")
    checks.ok(reply.get("token") is None, "the refusal carries no token field")
    log = d.wait_log(f"relay: refused TOKEN from uid {nobody} (nobody)")
    checks.contains(log, "not in the account's allow list", "the refusal is logged with why")

    # The mailbox address also names the account; the check still applies.
    reply = h.request_as("nobody", "nogroup", sock, "MAILTOKEN/1 TOKEN relay@example.test\n")
    checks.equal(reply.kind, "denied", "asking by address is refused the same way")

    reply = h.request_as("nobody", "nogroup", sock,
                         "MAILTOKEN/1 REJECTED relay sha256:0123456789ab\n")
    checks.equal(reply.kind, "denied", "REJECTED for a foreign account is refused")

    reply = h.request_as("nobody", "nogroup", sock, "MAILTOKEN/1 STATUS\n")
    listed = [line.split(" ")[0] for line in reply.all("status")]
    checks.ok(reply.ok, "STATUS without an account is answered", repr(reply))
    checks.ok("relay" not in listed, "STATUS hides accounts the client may not use",
              repr(listed))
    checks.ok("open" not in listed, "STATUS hides the second account too", repr(listed))

    reply = h.request_as("daemon", "daemon", sock, "MAILTOKEN/1 STATUS\n")
    listed = [line.split(" ")[0] for line in reply.all("status")]
    checks.equal(listed, ["relay"], "STATUS lists the accounts the client may use")

    # A numeric uid in allow works as well as a name.
    reply = h.request_as("4242", "4242", sock, "MAILTOKEN/1 TOKEN open\n")
    checks.ok(reply.ok, "a uid listed by number gets the token", repr(reply))

    # Open the second account to nobody and reload.
    d.write_config(config(run, server, f"nobody {daemon_uid}"))
    d.send_signal(signal.SIGHUP)
    d.wait_log("reloaded the configuration")
    reply = h.request_as("nobody", "nogroup", sock, "MAILTOKEN/1 TOKEN open\n")
    checks.ok(reply.ok and reply.get("token"), "after SIGHUP the new allow list applies",
              repr(reply))
    reply = h.request_as("nobody", "nogroup", sock, "MAILTOKEN/1 TOKEN relay\n")
    checks.equal(reply.kind, "denied", "the other account stays closed after SIGHUP")

    # The daemon's own user may always ask.
    reply = h.request(sock, "MAILTOKEN/1 TOKEN relay\n")
    checks.ok(reply.ok, "the daemon's own user gets the token", repr(reply))
    checks.equal(d.stop(), 0, "the daemon stops with status 0")


if __name__ == "__main__":
    h.main(test)
