"""A naive SMTP client for the plugin's integration tests.

Cyrus SASL's sasl-sample-client does the SASL side: it loads the plugin
through libsasl2, prints what sasl_client_start and sasl_client_step return
("C: <base64>") and reads the server's challenges ("S: <base64>"). This
script carries those messages to an SMTP server over STARTTLS and, unlike
Postfix and smtptest, applies no line limit of its own: whatever initial
response the plugin returns from sasl_client_start goes on the AUTH line.
So the plugin alone decides whether a long token fits there (RFC 4954).

Usage: plugin_naive_smtp.py HOST PORT CAFILE MECH -- SAMPLE_CLIENT_COMMAND...

The sample client writes to a pipe here, so its output must be line
buffered: run it through "stdbuf -oL".

Prints "initial-response yes|no", "auth-line-length N" and
"reply CODE TEXT" (the server's last reply), and exits 0 when the
exchange ran to a final reply, whatever it was.
"""

import base64
import smtplib
import ssl
import subprocess
import sys


def read_client_message(client):
    """Returns the bytes of the sample client's next "C: <base64>" line."""
    while True:
        line = client.stdout.readline()
        if not line:
            raise RuntimeError("sasl-sample-client ended before sending a message")
        if line.startswith("C: "):
            return base64.b64decode(line[3:].strip(), validate=True)


def send_challenge(client, challenge):
    client.stdin.write("S: %s\n" % base64.b64encode(challenge).decode())
    client.stdin.flush()


def main():
    host, port, cafile, mech = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    command = sys.argv[sys.argv.index("--") + 1:]
    client = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    smtp = None
    try:
        # The sample client waits for the server's mechanism list first.
        send_challenge(client, mech.encode())
        first = read_client_message(client)
        chosen, _, initial = first.partition(b"\0")
        if chosen.decode() != mech:
            raise RuntimeError("sasl-sample-client chose %r" % chosen)

        smtp = smtplib.SMTP(host, port, timeout=20)
        smtp.starttls(context=ssl.create_default_context(cafile=cafile))
        smtp.ehlo()
        line = "AUTH " + mech
        if initial:
            line += " " + base64.b64encode(initial).decode()
        print("initial-response", "yes" if initial else "no")
        print("auth-line-length", len(line) + 2)
        smtp.putcmd(line)
        code, text = smtp.getreply()
        while code == 334:
            send_challenge(client, base64.b64decode(text, validate=True))
            smtp.putcmd(base64.b64encode(read_client_message(client)).decode())
            code, text = smtp.getreply()
        print("reply", code, text.decode("utf-8", "replace"))
    finally:
        if smtp is not None:
            smtp.close()
        client.kill()
        client.wait()


if __name__ == "__main__":
    main()
