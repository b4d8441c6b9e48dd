"""references/troubleshooting.md documents every one-line message the scripts can print.

The messages are read from the scripts' source (ast), not listed by hand, so a new script's
messages must be documented too:
  - the text of each `ConfigError(...)` and `ServerError(...)` (exit 2 and exit 1),
  - each `print("ews: ...")` (warnings, progress, partial failures),
  - each string `explain()` and its `_explain_*` helpers in ews_config.py return (how a
    server or network failure is put in words).
A message is reduced to its fixed words (the literal parts of the f-string; a value filled
in at run time counts as a gap), and it is documented when one line of troubleshooting.md
holds those fixed words in the same order.

Then the real thing: read_inbox.py is run against the sandbox with faults injected through
its admin API, and the line it prints must be quoted word for word in the reference.
"""
import ast
import json
import os
import re
import sys
from pathlib import Path

import pytest

from conftest import ALICE, PASSWORD
import warm_start

BUNDLE = Path(__file__).resolve().parent.parent
SCRIPTS = BUNDLE / "scripts"
REFERENCE = BUNDLE / "references" / "troubleshooting.md"
MESSAGE_CLASSES = {"ConfigError", "ServerError"}


# ---- reading the messages out of the scripts ------------------------------------------------

def literal_parts(node):
    """The parts of a string expression: text for literal pieces, None for each value filled in
    at run time. None when the node is not a string literal or an f-string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [part.value if isinstance(part, ast.Constant) else None for part in node.values]
    return None


class MessageFinder(ast.NodeVisitor):
    def __init__(self, path):
        self.path, self.functions, self.found = path, [], []

    def visit_FunctionDef(self, node):
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    def visit_Call(self, node):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        parts = literal_parts(node.args[0]) if node.args else None
        if parts and name in MESSAGE_CLASSES:
            self.found.append((self.path.name, node.lineno, name, parts))
        elif parts and name == "print" and (parts[0] or "").startswith("ews: "):
            self.found.append((self.path.name, node.lineno, "print", parts))
        self.generic_visit(node)

    def visit_Return(self, node):
        parts = literal_parts(node.value) if node.value is not None else None
        if parts and self.functions and "explain" in self.functions[-1]:
            self.found.append((self.path.name, node.lineno, "explain", parts))
        self.generic_visit(node)


def script_messages(folder=SCRIPTS):
    """(file, line, kind, parts) of every message template in the scripts."""
    found = []
    for path in sorted(folder.glob("*.py")):
        finder = MessageFinder(path)
        finder.visit(ast.parse(path.read_text(encoding="utf-8")))
        found += finder.found
    return found


def fixed_words(parts):
    """The literal pieces that say something: at least three letters each (': ', ' of ' and the
    like are too common to show anything), the leading 'ews: ' every line has taken off."""
    pieces = []
    for part in parts:
        if part is None:
            continue
        text = " ".join(part.split())
        text = text[len("ews:"):].strip() if text.startswith("ews:") else text
        if sum(c.isalpha() for c in text) >= 3:
            pieces.append(text)
    return pieces


def shown(parts):
    """The template as a reader sees it: … for each value filled in at run time."""
    return "".join("…" if part is None else part for part in parts)


def documented(pieces, lines):
    """True when one line holds every piece, in order."""
    for line in lines:
        position = 0
        for piece in pieces:
            position = line.find(piece, position)
            if position < 0:
                break
            position += len(piece)
        else:
            return True
    return False


def reference_lines(text):
    return [" ".join(line.split()) for line in text.splitlines()]


def undocumented(messages, text):
    lines = reference_lines(text)
    return [(file, line, kind, parts) for file, line, kind, parts in messages
            if fixed_words(parts) and not documented(fixed_words(parts), lines)]


# ---- the checks ------------------------------------------------------------------------------

def test_every_message_the_scripts_print_is_in_the_reference():
    missing = undocumented(script_messages(), REFERENCE.read_text(encoding="utf-8"))
    assert not missing, (
        f"{len(missing)} message(s) the scripts can print are not in references/troubleshooting.md:\n"
        + "\n".join(f"  scripts/{file}:{line} ({kind}): {shown(parts)!r}\n"
                    f"      needs one line holding, in this order: {fixed_words(parts)}"
                    for file, line, kind, parts in missing)
        + "\nFix: add an entry under the right heading of references/troubleshooting.md: a bullet whose first "
          "line quotes the message (write a placeholder such as FLAG or VALUE for each …), followed by its "
          "cause and fix. Run the script against the sandbox to quote its real output where you can.")


def test_the_scripts_messages_are_all_found():
    """The extraction sees every kind of message (else the check above would pass on nothing)."""
    found = script_messages()
    kinds = {kind for _, _, kind, _ in found}
    assert kinds == {"ConfigError", "ServerError", "print", "explain"}, kinds
    assert len(found) > 80
    templates = {shown(parts) for _, _, _, parts in found}
    assert "EWS_TIMEZONE=… is not an IANA time zone such as Europe/Paris" in templates
    assert "ews: no message matches" in templates
    assert any(t.startswith("HTTP 403: EWS is blocked") for t in templates)


def test_a_missing_message_is_reported_with_its_fixed_words(tmp_path):
    (tmp_path / "new_script.py").write_text(
        "import ews_config\n"
        "def check(args):\n"
        "    raise ews_config.ConfigError(f'--colour {args.colour!r} is not a colour; choose red or blue')\n"
        "    print(f'ews: {args.n} of {args.m}')\n")  # nothing but gaps: nothing to document
    found = script_messages(tmp_path)
    assert [shown(parts) for *_, parts in found] == ["--colour … is not a colour; choose red or blue", "ews: … of …"]
    assert fixed_words(found[0][3]) == ["--colour", "is not a colour; choose red or blue"]
    missing = undocumented(found, "- `--colour VALUE is not a colour` (wrong)\n")
    assert [(file, line) for file, line, *_ in missing] == [("new_script.py", 3)]
    assert undocumented(found, "- `--colour VALUE is not a colour; choose red or blue`: ...\n") == []
    assert undocumented(found, "is not a colour; choose red or blue ... --colour\n") != []  # order matters


# ---- the real messages, from the scripts run against the sandbox -----------------------------

FAULTS = {  # name: (fault injected, settings changed, what the run prints last)
    "ews-disabled": ({"kind": "ews-disabled"}, {}, "HTTP 403: EWS is blocked"),
    "oauth-only": ({"kind": "oauth-only"}, {}, "the server accepts OAuth only"),
    "wrong-password": (None, {"EWS_PASSWORD": "not-the-password"}, "the server refused the credentials"),
    "no-access": (None, {"EWS_EMAIL": "bob@contoso.example"}, "ErrorAccessDenied"),
    "no-mailbox": (None, {"EWS_EMAIL": "nobody@contoso.example"}, "ErrorNonExistentMailbox"),
    "impersonation": (None, {"EWS_ACCESS_TYPE": "impersonation", "EWS_EMAIL": "bob@contoso.example"},
                      "impersonation refused (EWS_AUTH=basic)"),
    "server-busy": ({"kind": "server-busy", "backoff_ms": 2000}, {"EWS_RETRY_MAX_WAIT": "0"},
                    "the server is throttling"),
    "untrusted-tls": (None, {"EWS_CA_BUNDLE": ""}, "the server's TLS certificate is not trusted"),
}


@pytest.mark.parametrize("name", FAULTS)
def test_the_reference_quotes_the_real_message(name, sandbox, clean, tmp_path):
    fault, settings, start = FAULTS[name]
    if fault:
        clean.add_fault(fault)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "EWS_AUTH": "basic",
           "EWS_SERVICE_ENDPOINT": sandbox.ews_url, "EWS_CA_BUNDLE": sandbox.ca_bundle, "EWS_USERNAME": ALICE,
           "EWS_PASSWORD": PASSWORD, "EWS_EMAIL": ALICE, **settings}
    result = warm_start.run([sys.executable, str(SCRIPTS / "read_inbox.py"), "--limit", "1"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"ews: {start}"), line
    assert f"`{line}`" in REFERENCE.read_text(encoding="utf-8"), f"troubleshooting.md does not quote: {line}"


def test_the_reference_quotes_the_real_message_for_a_malformed_id(sandbox, clean, tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "EWS_SANDBOX_URL": sandbox.ews_url,
           "EWS_CA_BUNDLE": sandbox.ca_bundle, "EWS_EMAIL": ALICE}
    result = warm_start.run([sys.executable, str(SCRIPTS / "read_inbox.py"), "--id", "AAMkAGI2", "--json"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and json.loads(result.stdout) == []
    line = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"ews: --id AAMkAGI2: ErrorInvalidIdMalformed: .+", line), line
    assert f"`{line}`" in REFERENCE.read_text(encoding="utf-8"), f"troubleshooting.md does not quote: {line}"
