#!/usr/bin/python3
"""Check that the configuration examples in the documentation load.

Loads, with the mailtoken program under test, every example in
  - contrib/mailtoken.conf.example,
  - the .EX blocks of mailtoken.conf(5) that contain a [section],
  - the ```ini blocks of README.md and docs/*.md that name provider and
    client_id (whole accounts, not fragments of one).
Each example is written to a private file and read with
`mailtoken --config FILE status`, which contacts no server. It must exit
with 0 or 77 (accounts not signed in yet); 78 means the example is not a
valid configuration, and the test prints mailtoken's message.

Usage: check_config_examples.py MAILTOKEN SOURCE_DIR CONF_MAN_PAGE
"""

import glob
import os
import re
import subprocess
import sys
import tempfile


def man_examples(page):
    """Yield (where, text) for each .EX block of a man page with a section header."""
    with open(page, encoding="utf-8") as f:
        lines = f.read().split("\n")
    block, start = None, 0
    for number, line in enumerate(lines, 1):
        if line == ".EX":
            block, start = [], number
        elif line == ".EE" and block is not None:
            text = "\n".join(block) + "\n"
            if re.search(r"^\[[^\]]+\]", text, re.M):
                yield f"{page}:{start}", text
            block = None
        elif block is not None:
            block.append(line.replace("\\-", "-").replace("\\e", "\\"))


def markdown_examples(path):
    """Yield (where, text) for each ```ini block that holds whole accounts."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for m in re.finditer(r"^```ini\n(.*?)^```", text, re.M | re.S):
        body = m.group(1)
        if re.search(r"^provider\s*=", body, re.M) and re.search(r"^client_id\s*=", body, re.M):
            line = text.count("\n", 0, m.start()) + 1
            yield f"{path}:{line}", body


def load(mailtoken, where, text, home):
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(text)
        name = f.name
    try:
        os.chmod(name, 0o600)
        env = {"HOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        result = subprocess.run([mailtoken, "--config", name, "status"], env=env,
                                capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(name)
    if result.returncode in (0, 77):
        return True
    print(f"FAIL: {where}: mailtoken status exited with {result.returncode}:")
    print(result.stderr.replace(name, "EXAMPLE").rstrip())
    return False


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    mailtoken, source, man_page = argv[1:]
    examples = [(os.path.join(source, "contrib", "mailtoken.conf.example"), None)]
    with open(examples[0][0], encoding="utf-8") as f:
        examples[0] = (examples[0][0], f.read())
    examples += list(man_examples(man_page))
    for path in [os.path.join(source, "README.md")] + sorted(
            glob.glob(os.path.join(source, "docs", "*.md"))):
        examples += list(markdown_examples(path))
    # The man page alone has six; fewer means the extraction broke.
    if len(examples) < 7:
        print(f"FAIL: only {len(examples)} examples found; the extraction is broken")
        return 1
    failures = 0
    with tempfile.TemporaryDirectory() as home:
        for where, text in examples:
            if not load(mailtoken, where, text, home):
                failures += 1
    print(f"{len(examples) - failures} of {len(examples)} configuration examples load")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
