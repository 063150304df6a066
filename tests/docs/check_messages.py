#!/usr/bin/python3
"""Check that docs/troubleshooting.md has an entry for every message mailtoken prints.

A message is any C string literal in helper/, plugin/ and common/ (outside
comments) that contains at least two English words, with adjacent literals
joined the way the compiler joins them. That covers err_set, err_set_kind,
cli_note, fprintf(stderr, ...), the plugin's log and error calls, and texts
that are kept in tables or variables and printed later. The exceptions are
listed in NOT_MESSAGE_CALLS, NOT_MESSAGE_NAMES and NOT_MESSAGE_PREFIXES
below, each with its reason.

The key of a message is its longest piece of fixed text. A leading
"mailtoken: ", which every line has, is dropped first. The format string
is cut at every printf conversion (%s, %ld, ...) and at every macro between
literals, and spaces and punctuation are trimmed from the ends of each
piece. The longest piece must appear verbatim in docs/troubleshooting.md.
When it has fewer than four words, every piece with a letter must appear,
in order, with at most 100 characters between two of them and no backtick
or "|" in between, so that a short key such as "is longer than" cannot be
satisfied by another message's entry. Whitespace in the document is
normalised and "\\|" (a pipe inside a Markdown table) reads as "|", so an
entry may wrap and sit in a table cell.

To fix a failure, add the message to docs/troubleshooting.md: quote it as
mailtoken prints it, with a word in capitals such as ACCOUNT or FILE for
each variable part, then say what causes it and what fixes it. Only a text
that is not a message (debug output, a protocol line) belongs in the lists
below instead.

Usage: check_messages.py SOURCE_DIR [DOC_FILE]
       check_messages.py --self-test
"""

import os
import re
import sys
import tempfile

SOURCE_FOLDERS = ("helper", "plugin", "common")
DOC_FILE = os.path.join("docs", "troubleshooting.md")

# Calls whose literal arguments are not messages.
NOT_MESSAGE_CALLS = {
    # mailtoken -v debug lines and the step-by-step transcript of check and
    # tunnel: they describe normal progress, not errors.
    "trace": "debug output of -v",
    "mail_session_step": "transcript of mailtoken check and tunnel -v",
    "mail_session_send_line": "protocol line sent to the mail server",
    # The browser page of the loopback listener. It sends the user back to
    # the terminal, where the message is.
    "send_page": "page shown in the browser",
    "mt_buf_printf": "builds debug lines and protocol lines",
    "mt_buf_append_str": "builds debug lines and protocol lines",
    "mail_session_command": "IMAP, POP3 or SMTP command sent to the server",
    "curl_slist_append": "HTTP request header",
    "strstr": "text searched for in a reply",
    "strcasestr": "text searched for in a reply",
}

# Variables and struct fields whose literals are not messages.
NOT_MESSAGE_NAMES = {
    "usage_text": "usage lines, documented in mailtoken(1)",
    "summary": "command summaries of mailtoken --help",
    "prompt_texts": "prompts that the mail program shows for SASL_INTERACT",
    "headings": "column headings of mailtoken status, described in mailtoken(1)",
    "tls_prefix": "text searched for in libcurl's debug output",
    "PEM_BEGIN": "PEM marker that the certificate is searched for by",
    "PEM_END": "PEM marker that the certificate is searched for by",
    "logout": "IMAP command that tunnel sends for a mail program that closed",
}

# Texts that start like these are not messages.
NOT_MESSAGE_PREFIXES = {
    "READY=1": "state sent to systemd with sd_notify",
}

# fprintf streams whose text is a message. Text for other streams (the
# FILE * of the usage text) is not.
MESSAGE_STREAMS = {"stderr"}

MIN_WORDS = 2
# Keys shorter than this are matched together with the message's other pieces.
LONG_KEY_WORDS = 4
# What may stand between two pieces: a placeholder such as PATH or "VALUE".
GAP = r"[^`|]{0,100}?"
# Every line that mailtoken prints starts with this, and the document
# leaves it out.
LINE_PREFIX = "mailtoken: "
CONVERSION = re.compile(
    r"%(?:%|[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|j|z|t|L)?[diouxXeEfgGcspn])")
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
# A run of literals that the compiler joins: literals separated by white
# space, possibly with macro names between them ("%" PRId64, "..." MACRO "...").
LITERAL_RUN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"(?:\s*(?:"(?:[^"\\\n]|\\.)*"|[A-Z_][A-Z0-9_]*(?=\s*")))*')
MACRO_MARK = "\x00"
PIECE_STRIP = " \t\n.,:;()\"'"


def strip_comments(source):
    """Replace comments and directives other than #define with spaces, keeping line numbers."""
    out = []
    i, n = 0, len(source)
    at_line_start = True
    while i < n:
        c = source[i]
        if at_line_start and c == "#":
            end = source.find("\n", i)
            end = n if end < 0 else end
            directive = source[i:end]
            if not re.match(r"#\s*define\b", directive):
                out.append(" " * (end - i))
                i = end
                continue
        if c == "\n":
            at_line_start = True
        elif not c.isspace():
            at_line_start = False
        if source.startswith("/*", i):
            end = source.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", source[i:end]))
            i = end
        elif source.startswith("//", i):
            end = source.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and source[j] != c and source[j] != "\n":
                j += 2 if source[j] == "\\" else 1
            out.append(source[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def unescape(text):
    """Decode the C escapes that messages use; drop terminal control sequences."""
    table = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "?": "?"}

    def one(m):
        e = m.group(1)
        if e[0] == "x":
            return chr(int(e[1:], 16))
        if e[0] in "01234567":
            return chr(int(e, 8))
        return table.get(e, " ")

    text = re.sub(r"\\(x[0-9a-fA-F]+|[0-7]{1,3}|.)", one, text)
    # "\033[K" (erase the line) and the like are not part of the message.
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def joined_text(run):
    """Join a run of literals; a macro between them becomes MACRO_MARK."""
    parts = []
    pos = 0
    for m in LITERAL.finditer(run):
        if run[pos:m.start()].strip():
            parts.append(MACRO_MARK)
        parts.append(unescape(m.group(1)))
        pos = m.end()
    return "".join(parts)


def context_of(code, start):
    """Return (callee, argument index, first argument, assigned name) for a literal at start."""
    depth = 0
    commas = 0
    k = start - 1
    assigned = None
    seen_other = False

    # Walk back to the bracket that encloses the literal, counting the
    # commas of the argument list and noting an assignment on the way.
    while k >= 0:
        c = code[k]
        if c in ")]}":
            depth += 1
        elif c in "([{":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and c == ",":
            commas += 1
            seen_other = True
        elif depth == 0 and c == ";":
            return None, 0, None, assigned
        elif depth == 0 and c == "=" and not seen_other and assigned is None:
            if code[k - 1] not in "=!<>" and code[k + 1] != "=":
                m = re.search(r"\.?\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[[^\]]*\]\s*)*$", code[:k])
                if m:
                    assigned = m.group(1)
        elif depth == 0 and not c.isspace() and c not in "?:":
            seen_other = True
        k -= 1

    if k >= 0 and code[k] == "{" and assigned is None:
        # An initializer list: the name is that of the variable it initialises,
        # found outward through nested lists ("name[] = {{...}, ...}").
        while k >= 0 and code[k] == "{":
            before = code[:k].rstrip()
            m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[[^\]]*\]\s*)*=$", before)
            if m:
                return None, 0, None, m.group(1)
            if not before.endswith((",", "{")):
                break
            k = before.rfind("{", 0, len(before)) if before.endswith("{") else k - 1
            depth = 0
            while k >= 0:
                if code[k] in ")]}":
                    depth += 1
                elif code[k] in "([{":
                    if depth == 0:
                        break
                    depth -= 1
                k -= 1
        return None, 0, None, None

    # A call: its name is the identifier before the parenthesis.
    if k < 0 or code[k] != "(":
        return None, 0, None, assigned
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", code[:k])
    callee = m.group(1) if m else None
    first = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", code[k + 1:])
    return callee, commas, first.group(1) if first else None, assigned


def words_of(text):
    """The space-separated tokens of text that contain a word of two letters or more."""
    plain = CONVERSION.sub(" ", text.replace(MACRO_MARK, " "))
    return [t for t in plain.split() if re.search(r"[A-Za-z]{2}", t)]


def pieces_of(text):
    """The pieces of fixed text between conversions, trimmed, without the line prefix."""
    text = text.lstrip("\r\n")
    if text.startswith(LINE_PREFIX):
        text = text[len(LINE_PREFIX):]
    marked = CONVERSION.sub(lambda m: "%" if m.group(0) == "%%" else MACRO_MARK, text)
    return [p.strip(PIECE_STRIP) for p in marked.split(MACRO_MARK)]


def key_of(text):
    """The longest piece of fixed text."""
    return max(pieces_of(text), key=len)


def pattern_of(text):
    """A regular expression for the whole message, or None when its key suffices.

    A key of few words ("is longer than") also occurs in other entries, so a
    message whose key is that short must appear with all its pieces, in
    order, each gap short and inside one code span.
    """
    if len(words_of(key_of(text))) >= LONG_KEY_WORDS:
        return None
    pieces = [normalise_doc(p) for p in pieces_of(text) if re.search(r"[A-Za-z]", p)]
    return re.compile(GAP.join(re.escape(p) for p in pieces))


def messages_in(path, source):
    """Yield (line, text, key) for every message literal in one C file."""
    # A #define continued over several lines reads as one line of code. The
    # replacement keeps every offset, so the spans of the macros stay valid.
    code = strip_comments(source.replace("\\\n", " \n"))
    macros = [(m.start(), m.end(), m.group(1)) for m in
              re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(?:.*\\\n)*.*$", source, re.M)]
    for m in LITERAL_RUN.finditer(code):
        text = joined_text(m.group(0))
        if len(words_of(text)) < MIN_WORDS:
            continue
        callee, index, first, assigned = context_of(code, m.start())
        for start, end, name in macros:
            if start <= m.start() < end:
                assigned = name
        if callee in NOT_MESSAGE_CALLS:
            continue
        if callee in ("fprintf", "vfprintf") and first not in MESSAGE_STREAMS:
            continue
        if assigned in NOT_MESSAGE_NAMES:
            continue
        if text.startswith(tuple(NOT_MESSAGE_PREFIXES)):
            continue
        key = key_of(text)
        if len(words_of(key)) < MIN_WORDS:
            continue
        line = code.count("\n", 0, m.start()) + 1
        yield line, text, key


def source_files(root):
    for folder in SOURCE_FOLDERS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith((".c", ".h")):
                    yield os.path.join(dirpath, name)


def normalise_doc(text):
    return re.sub(r"\s+", " ", text.replace("\\|", "|"))


def check(root, doc_path):
    """Return the list of (file, line, text, key) that the document lacks."""
    with open(doc_path, encoding="utf-8") as f:
        doc = normalise_doc(f.read())
    missing = []
    total = 0
    for path in source_files(root):
        with open(path, encoding="utf-8") as f:
            source = f.read()
        for line, text, key in messages_in(path, source):
            total += 1
            pattern = pattern_of(text)
            if pattern is None:
                found = normalise_doc(key) in doc
                shown_key = key
            else:
                found = pattern.search(doc) is not None
                shown_key = pattern.pattern.replace(GAP, " ... ").replace("\\", "")
            if not found:
                missing.append((os.path.relpath(path, root), line, text, shown_key))
    return total, missing


def report(total, missing, doc_path):
    if not missing:
        print(f"all {total} messages have an entry in {doc_path}")
        return 0
    print(f"{len(missing)} of {total} messages have no entry in {doc_path}.")
    print("Add each one there: the message as mailtoken prints it (a word such as ACCOUNT or")
    print("FILE for each variable part), its cause and its fix. The check looks for the text")
    print("after 'key:' verbatim. A text that is not a message goes into NOT_MESSAGE_CALLS,")
    print(f"NOT_MESSAGE_NAMES or NOT_MESSAGE_PREFIXES in {os.path.basename(__file__)}, with")
    print("the reason.")
    for path, line, text, key in missing:
        shown = text.replace(MACRO_MARK, "MACRO").replace("\n", "\\n")
        print(f"{path}:{line}: {shown}\n    key: {key}")
    return 1


def self_test():
    """Run the check on a made-up tree: it must pass, then fail on a new message."""
    failures = 0
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "helper"))
        os.makedirs(os.path.join(root, "docs"))
        doc = os.path.join(root, "docs", "troubleshooting.md")
        c_file = os.path.join(root, "helper", "a.c")
        with open(doc, "w") as f:
            f.write("| `mailtoken: ACCOUNT: the store folder FILE cannot\n be created: REASON` |\n"
                    "`select xoauth2\\|oauthbearer here`\n")
        with open(c_file, "w") as f:
            f.write('/* "a comment with many words in it" */\n'
                    'int f(struct mt_err *err) {\n'
                    '    trace("%s: debug text with words", name);\n'
                    '    fprintf(out, "usage text with words\\n");\n'
                    '    static const char usage_text[] = "usage: with some words";\n'
                    '    cli_note("select xoauth2|oauthbearer here");\n'
                    '    return err_set(err, 73, "%s: the store folder %s cannot "\n'
                    '                   "be created: %s", a, b, c);\n'
                    '}\n')
        total, missing = check(root, doc)
        if total != 2 or missing:
            print(f"self-test: expected 2 documented messages, got {total} with {missing}")
            failures += 1
        with open(c_file, "a") as f:
            f.write('void g(void) { cli_note("%s: a brand new message: %s", x, y); }\n')
        total, missing = check(root, doc)
        if len(missing) != 1 or missing[0][3] != "a brand new message":
            print(f"self-test: the new message was not reported: {missing}")
            failures += 1
        # A short key that another entry contains is not enough.
        with open(doc, "a") as f:
            f.write("`a brand new message`\n`ACCOUNT: the refresh token is longer than N bytes`\n")
        with open(c_file, "a") as f:
            f.write('void h(void) { cli_note("socket path %s is longer than %zu bytes", p, n); }\n')
        total, missing = check(root, doc)
        if len(missing) != 1 or not missing[0][2].startswith("socket path"):
            print(f"self-test: the message with a short key was not reported: {missing}")
            failures += 1
    expected_keys = {
        "%s: %s failed: HTTP %ld redirect, which mailtoken does not follow: check":
            "redirect, which mailtoken does not follow: check",
        "cannot run the helper %s: %s%s": "cannot run the helper",
        "%s is valid only in [defaults], not in [%s]": "is valid only in [defaults], not in [",
        "a 100%% sure %d": "a 100% sure",
    }
    for text in expected_keys:
        got = key_of(text)
        if got != expected_keys[text]:
            print(f"self-test: key_of({text!r}) = {got!r}, expected {expected_keys[text]!r}")
            failures += 1
    if failures == 0:
        print("self-test passed")
    return 1 if failures else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1]
    doc_path = argv[2] if len(argv) == 3 else os.path.join(root, DOC_FILE)
    total, missing = check(root, doc_path)
    # A broken scanner would find nothing and pass; the source has hundreds.
    if total < 100:
        print(f"only {total} messages found under {root}: the scanner is broken")
        return 1
    return report(total, missing, doc_path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
