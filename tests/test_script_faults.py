"""The fault matrix: each script that changes a mailbox, under each fault the sandbox injects,
with and without a retry policy (EWS_RETRY_MAX_WAIT).

With a retry policy the run finishes and the mailbox ends exactly as without faults: nothing
missing, nothing duplicated, sends and copies included. Without one the run fails with one
line (exit 1) that says what was done and what was not, and still nothing is duplicated.

CI runs a smaller matrix (each case and each fault at least once, both ways); the full one:
    EWS_FAULT_MATRIX=full .venv/bin/python -m pytest tests/test_script_faults.py -v
"""
import json
import os
import re
import sys
from pathlib import Path

import pytest
from exchangelib import Message
from exchangelib.extended_properties import ExtendedProperty

from conftest import ALICE, BOB, PASSWORD
import warm_start

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
FULL = os.environ.get("EWS_FAULT_MATRIX") == "full"
COUNT, CHUNK = (30, 5) if FULL else (6, 2)  # messages per bulk case, messages per request

# Each strikes every third matching request (reads included: they are resent too).
FAULTS = {
    "server-busy": [{"kind": "server-busy", "every": 3, "backoff_ms": 100}],
    "http-503": [{"kind": "http-503", "every": 3, "retry_after": 1}],
    "drop-before": [{"kind": "drop-connection", "every": 3}],
    "drop-after": [{"kind": "drop-connection", "every": 3, "phase": "after"}],
    "timeout-after": [{"kind": "latency", "every": 3, "ms": 2500, "phase": "after"}],  # the client waits 1 s
    # tokens that live a second, on a run slowed down to last several: renewed mid-run
    "token-expiry": [{"kind": "token-expiry", "lifetime": 1}, {"kind": "latency", "ms": 250}],
}


class Tag(ExtendedProperty):  # tag_messages.py's property, as it registers it
    property_set_id = "8d3f1c52-6f0e-4b7a-9c1d-2e4a5b6c7d80"
    property_name = "Matrix"
    property_type = "String"


def subjects(folder, prefix):
    return sorted(m.subject for m in folder.filter(subject__startswith=prefix).only("subject"))


def inbox_messages(account, count):
    account.bulk_create(account.inbox, [Message(account=account, folder=account.inbox, subject=f"Matrix {i:02d}")
                                        for i in range(count)])
    return [f"Matrix {i:02d}" for i in range(count)]


# ---- the cases: (prepare(accounts) -> script arguments, final state checked after) ----------

def case_send(a):
    return ["send_email", "--to", BOB, "--subject", "Matrix send", "--body", "hello"]


def check_send(a, done):
    sent, received = subjects(a.alice.sent, "Matrix send"), subjects(a.bob.inbox, "Matrix send")
    assert (sent, received) == ((["Matrix send"], ["Matrix send"]) if done else (sent, received))
    assert len(sent) <= 1 and len(received) <= 1  # never twice


def case_reply(a):
    Message(account=a.bob, subject="Matrix question", body="?", to_recipients=[ALICE]).send()
    return ["reply_forward", "reply", "--subject", "Matrix question", "--body", "answer"]


def check_reply(a, done):
    answers = subjects(a.bob.inbox, "RE: Matrix question")
    assert answers == ["RE: Matrix question"] if done else len(answers) <= 1
    assert len(subjects(a.alice.sent, "RE: Matrix question")) == len(answers)


def case_move(a):
    a.expected = inbox_messages(a.alice, COUNT)
    return ["manage_messages", "move", "--subject", "Matrix", "--to-folder", "Inbox/Target", "--create-folder",
            "--chunk-size", CHUNK, "--json"]


def check_move(a, done):
    targets = [f for f in a.alice.inbox.children if f.name == "Target"]
    assert len(targets) <= 1  # the folder made once
    moved = subjects(targets[0], "Matrix") if targets else []
    left = subjects(a.alice.inbox, "Matrix")
    assert sorted(moved + left) == a.expected  # nothing lost, nothing twice
    assert not done or left == []


def case_copy(a):
    a.expected = inbox_messages(a.alice, COUNT)
    return ["manage_messages", "copy", "--subject", "Matrix", "--to-folder", "Inbox/Copies", "--create-folder",
            "--chunk-size", CHUNK, "--json"]


def check_copy(a, done):
    targets = [f for f in a.alice.inbox.children if f.name == "Copies"]
    assert len(targets) <= 1
    copies = subjects(targets[0], "Matrix") if targets else []
    assert subjects(a.alice.inbox, "Matrix") == a.expected
    assert len(copies) == len(set(copies)) and set(copies) <= set(a.expected)  # never copied twice
    assert not done or copies == a.expected


def case_mark_read(a):
    a.expected = inbox_messages(a.alice, COUNT)
    return ["manage_messages", "mark-read", "--subject", "Matrix", "--chunk-size", CHUNK, "--json"]


def check_mark_read(a, done):
    states = [m.is_read for m in a.alice.inbox.filter(subject__startswith="Matrix").only("is_read")]
    assert len(states) == COUNT and (not done or all(states))


def case_tag(a):
    a.expected = inbox_messages(a.alice, COUNT)
    return ["tag_messages", "tag", "--name", "Matrix", "--value", "seen", "--subject", "Matrix", "--chunk-size",
            CHUNK, "--json"]


def check_tag(a, done):
    Message.register("matrix_tag", Tag)
    try:
        tags = [m.matrix_tag for m in a.alice.inbox.filter(subject__startswith="Matrix").only("matrix_tag")]
    finally:
        Message.deregister("matrix_tag")
    assert len(tags) == COUNT and (not done or tags == ["seen"] * COUNT)


def case_attach(a):
    draft = Message(account=a.alice, folder=a.alice.drafts, subject="Matrix draft", body="x")
    draft.save()
    a.draft_id = draft.id
    for name in ("one.txt", "two.txt"):
        (a.cwd / name).write_text(name)
    return ["attachments", "attach", "--id", draft.id, "--file", "one.txt", "--file", "two.txt"]


def check_attach(a, done):
    names = sorted(att.name for att in a.alice.drafts.get(id=a.draft_id).attachments)
    assert names == ["one.txt", "two.txt"] if done else len(names) == len(set(names))


CASES = {name[5:]: (case, globals()["check_" + name[5:]]) for name, case in list(globals().items())
         if name.startswith("case_")}


def matrix():
    """(case, fault, retry) cells: all of them in the full run; in CI, each case under each fault
    at least once with a retry policy and once without, in rotation."""
    cells = []
    for retry in (True, False):
        for index, case in enumerate(CASES):
            kinds = list(FAULTS) if FULL else [list(FAULTS)[(index + (0 if retry else 3)) % len(FAULTS)]]
            cells += [(case, kind, retry) for kind in kinds]
    if not FULL:  # the faults after the server acted are the ones that duplicate: every case meets one
        cells += [(case, "drop-after", True) for case in CASES if (case, "drop-after", True) not in cells]
    return cells


class Accounts:
    pass


@pytest.fixture
def accounts(clean, connect, tmp_path):
    made = Accounts()
    made.cwd = tmp_path
    made.refresh = lambda: (setattr(made, "alice", connect(ALICE)), setattr(made, "bob", connect(BOB)))
    made.refresh()
    return made


def run_script(sandbox, apps, arguments, retry, fault, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_") and k != "REQUESTS_CA_BUNDLE"}
    env.update(EWS_SERVICE_ENDPOINT=sandbox.ews_url, EWS_CA_BUNDLE=sandbox.ca_bundle, EWS_EMAIL=ALICE,
               EWS_RETRY_MAX_WAIT="30" if retry else "0", EWS_TIMEOUT="1", HOME=str(cwd))
    if fault == "token-expiry":  # an OAuth mode: the app's own grant renews the token
        app = apps["confidential"]
        env.update(EWS_AUTH="oauth-app", EWS_AUTHORITY_HOST=sandbox.authority_url, EWS_TENANT_ID=sandbox.tenant_id,
                   EWS_CLIENT_ID=app["client_id"], EWS_CLIENT_SECRET=app["client_secret"],
                   EWS_TOKEN_RESOURCE="https://outlook.office365.com")
    else:
        env.update(EWS_AUTH="basic", EWS_USERNAME=ALICE, EWS_PASSWORD=PASSWORD)
    script, *args = map(str, arguments)
    return warm_start.run([sys.executable, str(SCRIPTS / f"{script}.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("case, fault, retry", matrix(), ids=[f"{c}-{f}-{'retry' if r else 'failfast'}"
                                                             for c, f, r in matrix()])
def test_fault_matrix(case, fault, retry, accounts, clean, sandbox, request):
    apps = {app["kind"]: app for app in sandbox.apps}
    prepare, check = CASES[case]
    arguments = prepare(accounts)
    for spec in FAULTS[fault]:
        clean.add_fault(spec)
    try:
        result = run_script(sandbox, apps, arguments, retry, fault, accounts.cwd)
    finally:
        clean.clear_faults()
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if not _progress(line)]
    finished = retry or fault == "token-expiry"  # renewing a token is no retry: it always goes on
    if finished:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode in (0, 1), result.stderr  # a fault may miss a short run
        if result.returncode == 1:
            assert len(lines) == 1 and lines[0].startswith("ews: "), result.stderr
            _says_what_was_done(case, result)
    accounts.refresh()
    check(accounts, done=result.returncode == 0)
    request.node.user_properties.append(("matrix", (case, fault, retry, result.returncode)))


def _progress(line):  # "ews: moved 2 of 6"
    return re.fullmatch(r"ews: [a-z ]+ \d+ of \d+", line) is not None


def _says_what_was_done(case, result):
    """Bulk scripts: the JSON and the line count done, failed, outcome unknown, not attempted;
    single sends: the line says whether the outcome is unknown."""
    if result.stdout.strip().startswith("{"):
        summary = json.loads(result.stdout)
        accounted = summary["done"] + len(summary["failed"]) + len(summary["outcome_unknown"]) + \
            len(summary["not_attempted"])
        assert accounted == summary["matched"], summary
        assert " of " in result.stderr.splitlines()[-1]  # "...; moved 2 of 6 messages, 2 not attempted"
