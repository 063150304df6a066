"""Helpers for the integration tests of `mailtoken serve`.

Each test script builds a private folder, starts tests/tools/fake_as.py as
the token endpoint and one or more daemons on Unix sockets in that folder,
and drives them as clients would. Processes are stopped by the PIDs this
module started, never by name. Runs on Debian's /usr/bin/python3 with the
standard library only.

Environment:
  MAILTOKEN_BIN             the mailtoken program (default: build/helper/mailtoken)
  MAILTOKEN_TEST_PORT_BASE  first port of the test range (default 14300);
                            the daemon tests use base+70 to base+79
  MAILTOKEN_KEEP_TEST_FILES 1: keep the test folder after a failure; always: keep it
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FAKE_AS = os.path.join(ROOT, "tests", "tools", "fake_as.py")
PYTHON = "/usr/bin/python3"
MAILTOKEN = os.environ.get("MAILTOKEN_BIN", os.path.join(ROOT, "build", "helper", "mailtoken"))

# A client that runs as another user: connects, sends argv[2] (with "\\n"
# turned into a newline), prints the reply. Used through setpriv.
CLIENT_SOURCE = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].replace("\\n", "\n").encode())
data = b""
while not data.endswith(b"\n\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode())
"""


class TestFailure(Exception):
    pass


def port(offset):
    """Returns MAILTOKEN_TEST_PORT_BASE + offset."""
    base = int(os.environ.get("MAILTOKEN_TEST_PORT_BASE", "14300"))
    return base + offset


class Checks:
    """Counts passed checks; the first failed one raises TestFailure."""

    def __init__(self):
        self.count = 0

    def ok(self, condition, what, detail=""):
        if not condition:
            raise TestFailure(f"{what}{': ' + detail if detail else ''}")
        self.count += 1
        print(f"ok {self.count} - {what}", flush=True)

    def equal(self, got, expected, what):
        self.ok(got == expected, what, f"expected {expected!r}, got {got!r}")

    def contains(self, text, part, what):
        self.ok(part in text, what, f"{part!r} not found in:\n{text[-3000:]}")


def require_tools(*tools):
    """Fails (never skips) when a tool is missing, naming its Debian package."""
    for tool, package in tools:
        if shutil.which(tool) is None and not os.path.exists(tool):
            raise TestFailure(f"required tool {tool} is missing (Debian package {package})")


class Reply:
    """A parsed daemon reply: ok, code, kind and the fields in order."""

    def __init__(self, text):
        self.text = text
        lines = text.split("\n")
        first = lines[0].split(" ")
        self.ok = len(first) == 2 and first[:2] == ["MAILTOKEN/1", "OK"]
        self.code = int(first[2]) if len(first) == 4 and first[1] == "ERR" else 0
        self.kind = first[3] if len(first) == 4 else ""
        self.fields = []
        for line in lines[1:]:
            if line == "":
                break
            key, _, value = line.partition(" ")
            self.fields.append((key, value))

    def get(self, key):
        for k, v in self.fields:
            if k == key:
                return v
        return None

    def all(self, key):
        return [v for k, v in self.fields if k == key]

    def __repr__(self):
        return repr(self.text[:300])


def request(path, line, timeout=10.0):
    """Sends one request line to the socket at path and returns the Reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(line.encode() if isinstance(line, str) else line)
        return Reply(read_reply(s))


def read_reply(s):
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace")


def request_as(user, group, path, line, timeout=10.0):
    """Sends a request from a client running as user (needs root and setpriv)."""
    out = subprocess.run(
        ["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups",
         PYTHON, "-c", CLIENT_SOURCE, path, line.replace("\n", "\\n")],
        capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise TestFailure(f"the client as {user} failed: {out.stderr.strip()}")
    return Reply(out.stdout)


class FakeAS:
    """tests/tools/fake_as.py on 127.0.0.1:port with a scenario given as a dict."""

    def __init__(self, folder, port_number, scenario, name="fake_as"):
        self.port = port_number
        self.folder = folder
        self.log_path = os.path.join(folder, f"{name}.requests")
        self.pidfile = os.path.join(folder, f"{name}.pid")
        scenario_path = os.path.join(folder, f"{name}.json")
        with open(scenario_path, "w") as f:
            json.dump(scenario, f)
        self.output = open(os.path.join(folder, f"{name}.out"), "w")
        self.process = subprocess.Popen(
            [PYTHON, FAKE_AS, "--port", str(port_number), "--scenario", scenario_path,
             "--log", self.log_path, "--pidfile", self.pidfile],
            stdout=self.output, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while not os.path.exists(self.pidfile):
            if self.process.poll() is not None or time.time() > deadline:
                raise TestFailure(f"fake_as did not start on port {port_number}: "
                                  f"{open(self.output.name).read()}")
            time.sleep(0.05)

    def url(self, path="/common/oauth2/v2.0/token"):
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def refreshes(self, path=None):
        """Returns the token requests with grant_type refresh_token, optionally for one path."""
        return [r for r in self.requests()
                if r.get("route") is not None and (r.get("form") or {}).get("grant_type")
                == "refresh_token" and (path is None or r["path"] == path)]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output.close()


class Daemon:
    """One `mailtoken serve` with its configuration, log and systemd notify socket."""

    def __init__(self, folder, name, config_text):
        self.folder = folder
        self.name = name
        self.config = os.path.join(folder, f"{name}.conf")
        self.log_path = os.path.join(folder, f"{name}.log")
        self.notify_path = os.path.join(folder, f"{name}.notify")
        self.process = None
        self.notify = None
        self.messages = []
        self.write_config(config_text)

    def write_config(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def cli(self, *args, stdin=None):
        """Runs `mailtoken --config CONF ARGS` and returns the CompletedProcess."""
        return subprocess.run([MAILTOKEN, "--config", self.config, *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    def import_token(self, account, refresh_token):
        out = self.cli("import", account, stdin=refresh_token + "\n")
        if out.returncode != 0:
            raise TestFailure(f"mailtoken import {account} failed: {out.stderr}")

    def start(self, wait_ready=True, env_extra=None, pass_fds=(), argv_prefix=None):
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.messages = []
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = self.notify_path
        env.update(env_extra or {})
        log = open(self.log_path, "a")
        argv = [MAILTOKEN, "--config", self.config, "serve"]
        self.process = subprocess.Popen((argv_prefix or []) + argv, stdout=log,
                                        stderr=subprocess.STDOUT, env=env, pass_fds=pass_fds)
        log.close()
        if wait_ready:
            self.wait_notify("READY=1", 15)

    def wait_notify(self, text, timeout=10.0):
        """Waits for a datagram on the notify socket that contains text."""
        deadline = time.time() + timeout
        while True:
            for m in self.messages:
                if text in m:
                    self.messages.remove(m)
                    return m
            left = deadline - time.time()
            if left <= 0:
                raise TestFailure(f"{self.name}: no {text!r} from the daemon within "
                                  f"{timeout} s; log:\n{self.log()}")
            if self.process.poll() is not None:
                raise TestFailure(f"{self.name}: the daemon exited with status "
                                  f"{self.process.returncode}; log:\n{self.log()}")
            self.notify.settimeout(min(left, 0.2))
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except socket.timeout:
                pass

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, text, timeout=10.0, count=1):
        """Waits until text appears count times in the log; returns the log."""
        deadline = time.time() + timeout
        while True:
            log = self.log()
            if log.count(text) >= count:
                return log
            if time.time() > deadline:
                raise TestFailure(f"{self.name}: {text!r} not logged {count} times within "
                                  f"{timeout} s; log:\n{log[-4000:]}")
            time.sleep(0.1)

    def send_signal(self, number):
        self.process.send_signal(number)

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, number=signal.SIGTERM, timeout=20.0):
        """Sends number (SIGTERM) and returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(number)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise TestFailure(f"{self.name}: did not stop within {timeout} s")
        if self.notify is not None:
            self.notify.setblocking(False)
            try:
                while True:
                    self.messages.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                pass
            self.notify.close()
            self.notify = None
        return self.process.returncode

    def notified(self, text):
        """Returns True when a notification not yet waited for contains text."""
        return any(text in m for m in self.messages)

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def account_config(name, token_url, extra=""):
    return (f"[{name}]\nprovider = microsoft\ntenant = common\nclient_id = app-{name}\n"
            f"user = {name}@example.test\ntoken_endpoint = {token_url}\n{extra}")


class Run:
    """The test's folder and the processes to stop when it ends."""

    def __init__(self):
        # Short: socket paths must fit in 108 bytes.
        self.folder = tempfile.mkdtemp(prefix="mtd-", dir="/tmp")
        self.processes = []

    def fake_as(self, offset, scenario, name="fake_as"):
        server = FakeAS(self.folder, port(offset), scenario, name)
        self.processes.append(server)
        return server

    def daemon(self, name, config_text):
        d = Daemon(self.folder, name, config_text)
        self.processes.append(d)
        return d

    def path(self, leaf):
        return os.path.join(self.folder, leaf)

    def cleanup(self, keep):
        for p in reversed(self.processes):
            try:
                if isinstance(p, Daemon):
                    p.kill()
                else:
                    p.stop()
            except Exception:
                traceback.print_exc()
        if keep:
            print(f"files kept in {self.folder}", file=sys.stderr)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)


def main(test):
    """Runs test(checks, run); prints the result and exits 0 or 1."""
    name = os.path.basename(sys.argv[0])
    checks = Checks()
    run = Run()
    failed = True
    try:
        require_tools((MAILTOKEN, "the mailtoken build"), (PYTHON, "python3"))
        test(checks, run)
        if checks.count == 0:
            raise TestFailure("the test made no checks")
        failed = False
    except TestFailure as e:
        print(f"FAIL: {name}: {e}", file=sys.stderr)
        for p in run.processes:
            if isinstance(p, Daemon) and os.path.exists(p.log_path):
                print(f"--- log of {p.name} (last 60 lines):", file=sys.stderr)
                print("\n".join(p.log().splitlines()[-60:]), file=sys.stderr)
    except Exception:
        traceback.print_exc()
    finally:
        keep = os.environ.get("MAILTOKEN_KEEP_TEST_FILES", "")
        run.cleanup(keep=keep == "always" or (failed and keep == "1"))
    if failed:
        sys.exit(1)
    print(f"{name}: {checks.count} checks passed")


def in_threads(count, function):
    """Runs function(i) in count threads at once; returns the results in order."""
    results = [None] * count
    errors = []

    def run_one(i):
        try:
            results[i] = function(i)
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=run_one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise TestFailure(f"{len(errors)} of {count} threads failed, first: {errors[0]!r}")
    return results
