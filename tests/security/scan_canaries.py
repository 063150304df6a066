#!/usr/bin/python3
"""Finds canary secrets in files, as they are or in base64.

Usage: scan_canaries.py CANARY_FILE FILE...

CANARY_FILE has one canary per line (a secret, or the prefix that every
issued token starts with). Each canary is searched for as it is, and in
base64 and base64url at each of the three byte offsets that it can have
inside a longer encoded text, such as a SASL message. Prints one line per
hit (file, canary number, form; never the canary itself) and exits 1 when
there is any, 0 when there is none. Debian's /usr/bin/python3 only.
"""
import base64
import sys


def encoded_forms(canary):
    """Yields (name, bytes) for the canary and the parts of its base64 forms
    that do not depend on the bytes around it."""
    raw = canary.encode()
    yield "plain", raw
    for shift in range(3):
        data = b"\0" * shift + raw
        first = (shift * 8 + 5) // 6
        last = (len(data) * 8) // 6
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(data)[first:last]
            if len(text) >= 8:
                yield f"{name}, offset {shift}", text


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: scan_canaries.py CANARY_FILE FILE...\n")
        return 2
    with open(sys.argv[1]) as f:
        canaries = [line.strip() for line in f if line.strip()]
    if not canaries:
        sys.stderr.write(f"scan_canaries: {sys.argv[1]} contains no canary\n")
        return 2
    forms = [(i, name, text) for i, c in enumerate(canaries, 1) for name, text in encoded_forms(c)]
    hits = 0
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            content = f.read()
        for number, name, text in forms:
            if text in content:
                print(f"{path}: canary {number} ({name})")
                hits += 1
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
