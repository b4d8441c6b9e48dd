"""import_messages.py, run as a subprocess against the session's sandbox: .eml files and
generated messages land as received mail (not drafts), read or unread, once however often
the command runs; chunks counted in the request log; a failed element reported while the
others are created; bad input refused with one line before connecting."""
import json
import os
from pathlib import Path

import pytest
from exchangelib import ExtendedProperty, Message
from lxml import etree

from conftest import ALICE
from ews_sandbox.query import restrictions
from ews_sandbox.wire.ns import T
from test_mail_scripts import as_json, operations, run  # noqa: F401 - run: the fixture
from test_reference_claims import cite

MF_READ = 0x1  # PidTagMessageFlags: read (mfUnsent 0x8, a draft, clear)
FIELDS = ("subject", "is_draft", "is_read", "author", "message_id", "datetime_received", "datetime_sent")


def eml(message_id, subject, date="Tue, 01 Sep 2026 10:00:00 +0000", sender="news@shop.example", body="Hello."):
    headers = [f"From: {sender}", f"To: {ALICE}", f"Subject: {subject}", f"Date: {date}"]
    headers += [f"Message-ID: {message_id}"] if message_id else []
    return ("\r\n".join(headers) + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n").encode()


def write_emls(folder, count, start=1, **fields):
    folder.mkdir(exist_ok=True)
    for n in range(start, start + count):
        (folder / f"{n:03d}.eml").write_bytes(eml(f"<msg-{n}@shop.example>", f"Archived {n:03d}", **fields))
    return folder


def messages(folder):
    return sorted(folder.all().only(*FIELDS), key=lambda m: m.subject)


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def test_generated_messages_land_unread_in_the_inbox_as_received_mail(run, alice, clean):
    clean.clear_requests()
    summary = as_json(run("import_messages", "--count", 50, "--from", "noreply@shop.example",
                          "--subject", "Promo {n:02d}", "--unread", "--chunk-size", 20, "--json"))
    assert (len(summary["created"]), summary["skipped"], summary["failed"]) == (50, [], [])
    ops = operations(clean)
    assert (ops["CreateItem"], ops["FindItem"]) == (3, 3)  # 20 + 20 + 10, each chunk looked up first
    assert "GetItem" not in ops  # no Message-ID was there: nothing to fetch
    found = messages(alice.inbox)
    assert [m.subject for m in found] == [f"Promo {n:02d}" for n in range(1, 51)]
    # read back through exchangelib: received mail, not drafts (PidTagMessageFlags set at creation)
    assert {(m.is_draft, m.is_read, m.author.email_address) for m in found} == {(False, False, "noreply@shop.example")}
    assert {m.id for m in found} == {c["id"] for c in summary["created"]}
    assert alice.drafts.total_count == 0


def test_a_large_chunk_is_looked_up_100_message_ids_a_find_item(run, alice, clean):
    clean.clear_requests()  # a longer Or of IsEqualTo risks ErrorRestrictionTooComplex
    summary = as_json(run("import_messages", "--count", 250, "--from", "noreply@shop.example", "--chunk-size", 250,
                          "--json"))
    assert len(summary["created"]) == 250
    assert {op: n for op, n in operations(clean).items() if op in ("FindItem", "CreateItem")} == {
        "FindItem": 3, "CreateItem": 1}


def test_the_same_command_twice_creates_the_messages_once(run, alice, clean):
    command = ("import_messages", "--count", 5, "--from", "noreply@shop.example", "--subject", "Again {n}")
    assert ok_line(run(*command)) == "imported 5 of 5 messages into Inbox"
    clean.clear_requests()
    assert ok_line(run(*command)) == "imported 0 of 5 messages into Inbox, 5 skipped (already there)"
    ops = operations(clean)
    assert "CreateItem" not in ops and (ops["FindItem"], ops["GetItem"]) == (1, 1)  # one look-up for the five
    assert [(m.is_read, m.is_draft) for m in messages(alice.inbox)] == [(False, False)] * 5  # unread by default


def test_eml_files_are_imported_read_with_their_date_and_a_rerun_skips_them(run, alice, tmp_path):
    source = write_emls(tmp_path / "export", 3)
    summary = as_json(run("import_messages", source, "--folder", "Inbox/Imported", "--create-folder", "--read",
                          "--json"))
    assert [(c["source"], c["message_id"]) for c in summary["created"]] == [
        (str(source / f"{n:03d}.eml"), f"<msg-{n}@shop.example>") for n in (1, 2, 3)]
    imported = alice.inbox // "Imported"
    found = messages(imported)
    assert [(m.subject, m.is_draft, m.is_read, m.message_id) for m in found] == [
        (f"Archived {n:03d}", False, True, f"<msg-{n}@shop.example>") for n in (1, 2, 3)]
    assert {(m.datetime_received.isoformat(), m.datetime_sent.isoformat()) for m in found} == {
        ("2026-09-01T10:00:00+00:00", "2026-09-01T10:00:00+00:00")}  # the Date header: when it was received
    assert found[0].author.email_address == "news@shop.example"

    write_emls(source, 2, start=4)  # the export grew: only the new files are imported
    again = as_json(run("import_messages", source, "--folder", "Inbox/Imported", "--json"))
    assert [c["message_id"] for c in again["created"]] == ["<msg-4@shop.example>", "<msg-5@shop.example>"]
    assert [s["message_id"] for s in again["skipped"]] == [f"<msg-{n}@shop.example>" for n in (1, 2, 3)]
    assert imported.all().count() == 5


def test_a_file_without_message_id_and_a_repeated_one_are_imported_once(run, alice, tmp_path):
    (tmp_path / "a.eml").write_bytes(eml(None, "No id"))
    (tmp_path / "b.eml").write_bytes(eml("<same@shop.example>", "First copy"))
    (tmp_path / "c.eml").write_bytes(eml("<same@shop.example>", "Second copy"))
    summary = as_json(run("import_messages", "a.eml", "b.eml", "c.eml", "--json"))
    assert [c["source"] for c in summary["created"]] == ["a.eml", "b.eml"]
    assert [s["source"] for s in summary["skipped"]] == ["c.eml"]
    made_up = summary["created"][0]["message_id"]
    assert made_up.endswith("@import.invalid>")  # made from the file's bytes: the same each run
    again = as_json(run("import_messages", "a.eml", "b.eml", "c.eml", "--json"))
    assert again["created"] == [] and sorted(s["source"] for s in again["skipped"]) == ["a.eml", "b.eml", "c.eml"]
    assert sorted(m.subject for m in alice.inbox.all().only("subject")) == ["First copy", "No id"]


def test_an_oversized_message_fails_alone_and_the_others_are_created(run, alice, tmp_path):
    write_emls(tmp_path / "in", 2)
    big = "x" * 76 + "\r\n"
    (tmp_path / "in" / "002b.eml").write_bytes(eml("<big@shop.example>", "Huge", body=big * (11 * 1024 * 1024 // 78)))
    result = run("import_messages", tmp_path / "in", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    assert [c["message_id"] for c in summary["created"]] == ["<msg-1@shop.example>", "<msg-2@shop.example>"]
    assert [(f["message_id"], f["error"]) for f in summary["failed"]] == [("<big@shop.example>",
                                                                          "ErrorMessageSizeExceeded")]
    assert f"ews: failed: {tmp_path / 'in' / '002b.eml'}: ErrorMessageSizeExceeded: " in result.stderr
    assert sorted(m.subject for m in alice.inbox.all().only("subject")) == ["Archived 001", "Archived 002"]


def test_a_dry_run_looks_up_and_creates_nothing(run, alice, tmp_path, clean):
    write_emls(tmp_path / "in", 3)
    ok_line(run("import_messages", tmp_path / "in" / "001.eml"))
    clean.clear_requests()
    summary = as_json(run("import_messages", tmp_path / "in", "--dry-run", "--json"))
    assert [w["message_id"] for w in summary["would_create"]] == ["<msg-2@shop.example>", "<msg-3@shop.example>"]
    assert [s["message_id"] for s in summary["skipped"]] == ["<msg-1@shop.example>"]
    assert "CreateItem" not in operations(clean) and alice.inbox.all().count() == 1
    text = run("import_messages", tmp_path / "in", "--folder", "Inbox/New", "--create-folder", "--dry-run")
    assert ok_line(text) == "would import 3 of 3 messages into Inbox/New, 0 skipped (already there) " \
                            "(dry run, nothing changed)"
    assert [f.name for f in alice.inbox.children] == []


@pytest.mark.parametrize("retry", [True, False], ids=["retry", "failfast"])
def test_a_lost_answer_never_duplicates(retry, run, alice, clean):
    """The second CreateItem is applied, then its connection drops. With a retry budget the script
    looks up the chunk's Message-IDs, finds them and goes on; without one it stops (outcome
    unknown, exit 1) and a re-run creates only what is missing."""
    command = ("import_messages", "--count", 6, "--from", "noreply@shop.example", "--subject", "Lost {n}",
               "--chunk-size", 2, "--json")
    clean.add_fault({"kind": "drop-connection", "every": 2, "phase": "after", "operations": ["CreateItem"]})
    try:
        result = run(*command, env={"EWS_RETRY_MAX_WAIT": "30" if retry else "0"})
    finally:
        clean.clear_faults()
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    if retry:
        assert (result.returncode, len(summary["created"]), summary["outcome_unknown"]) == (0, 6, []), result.stderr
    else:
        assert result.returncode == 1
        assert ([len(summary[k]) for k in ("created", "outcome_unknown", "not_attempted")]) == [2, 2, 2]
        last = result.stderr.splitlines()[-1]
        assert last.startswith("ews: stopped: could not reach the server") and last.endswith(
            "imported 2 of 6 messages into Inbox, 2 outcome unknown (run again: what is there is skipped), "
            "2 not attempted")
        again = as_json(run(*command))
        assert (len(again["created"]), len(again["skipped"])) == (2, 4)
    assert [m.subject for m in messages(alice.inbox)] == [f"Lost {n}" for n in range(1, 7)]


def test_a_refused_look_up_stops_before_anything_is_created(run, alice, clean):
    clean.add_fault({"kind": "server-busy", "every": 2, "backoff_ms": 100, "operations": ["FindItem"]})
    try:
        result = run("import_messages", "--count", 4, "--from", "noreply@shop.example", "--chunk-size", 2,
                     env={"EWS_RETRY_MAX_WAIT": "0"})
    finally:
        clean.clear_faults()
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith("ews: stopped: the server is throttling")
    assert result.stderr.splitlines()[-1].endswith("; imported 2 of 4 messages into Inbox, 2 not attempted")
    assert alice.inbox.all().count() == 2


BAD_INPUT = [
    ([], "give .eml files or a directory, or --count N"),
    (["--count", "3"], "--count needs --from ADDRESS"),
    (["--count", "3", "--from", "shop"], "--from 'shop' is not an email address"),
    (["--count", "3", "--from", "a@shop.example", "--subject", "Promo {m}"], "--subject 'Promo {m}' is not a format"),
    (["--count", "3", "--from", "a@shop.example", "--subject", "Promo {n"], "--subject 'Promo {n' is not a format"),
    (["--count", "0", "--from", "a@shop.example"], "--count must be 1 or more"),
    (["--count", "3", "--from", "a@shop.example", "--chunk-size", "0"], "--chunk-size must be 1 or more"),
    (["missing.eml"], "missing.eml: no such file or directory"),
    (["empty"], "empty: no .eml files in this directory"),
    (["photo.eml"], "photo.eml: not a MIME message"),
    (["ok.eml", "--from", "a@shop.example"], "--from, --to, --subject and --body are for --count"),
    (["ok.eml", "--count", "2"], "give .eml files or a directory, or --count N"),
    (["--count", "2", "--from", "a@shop.example", "--read", "--unread"], "not allowed with argument"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT, ids=[m for _, m in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2_before_connecting(args, message, run, tmp_path, clean):
    (tmp_path / "empty").mkdir()
    (tmp_path / "photo.eml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "ok.eml").write_bytes(eml("<ok@shop.example>", "Fine"))
    clean.clear_requests()
    result = run("import_messages", *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ews: ") and message in lines[0], result.stderr
    assert clean.requests() == []


def test_an_unreadable_file_is_one_line(run, tmp_path):
    locked = tmp_path / "locked.eml"
    locked.write_bytes(eml("<l@shop.example>", "Locked"))
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):  # root reads any file: a file the kernel refuses to read instead
            locked, reason = Path("/proc/self/mem"), "Input/output error"
        else:
            reason = "Permission denied"
        result = run("import_messages", locked)
    finally:
        (tmp_path / "locked.eml").chmod(0o600)
    assert (result.returncode, result.stderr.strip()) == (2, f"ews: {locked}: cannot be read ({reason})")


def ok_line(result):
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# ---- what references/mail.md says ------------------------------------------------------------

def test_mail_a_saved_message_is_a_draft_unless_flags_are_given_at_creation(alice):
    cite("references/mail.md", "A message saved with CreateItem is a draft (`is_draft` true) wherever it is saved, "
         "the Inbox included and from MIME too, unless its PidTagMessageFlags (0x0E07) is given when it is created")
    cite("references/mail.md", "written to a saved draft they change nothing, so a message imported as a draft "
         "stays one")

    class MessageFlags(ExtendedProperty):
        property_tag = 0x0E07
        property_type = "Integer"

    Message.register("message_flags", MessageFlags)
    try:
        made = alice.bulk_create(alice.inbox, [
            Message(account=alice, folder=alice.inbox, subject="Plain", is_read=False),
            Message(account=alice, folder=alice.inbox, mime_content=eml("<m@x.example>", "From MIME"), is_read=False),
            Message(account=alice, folder=alice.inbox, subject="Flagged", is_read=True, message_flags=MF_READ),
            Message(account=alice, folder=alice.inbox, mime_content=eml("<n@x.example>", "MIME, flags"), is_read=False,
                    message_flags=0)])
        states = [(m.subject, m.is_draft, m.is_read) for m in alice.fetch(made, only_fields=["subject", "is_draft",
                                                                                          "is_read"])]
        assert states == [("Plain", True, False), ("From MIME", True, False), ("Flagged", False, True),
                          ("MIME, flags", False, False)]
        draft = alice.inbox.get(subject="Plain")
        draft.message_flags = 0  # too late: [MS-OXCMSG] 2.2.1.6 makes them read-only after the first save
        draft.save(update_fields=["message_flags"])
        assert alice.inbox.get(subject="Plain").is_draft is True
    finally:
        Message.deregister("message_flags")


def test_mail_the_message_id_look_up_costs(alice, clean):
    cite("references/mail.md", "the look-up costs one FindItem (one more per 100 found: a page), then a GetItem per "
         "100 found; on a first import, the FindItem alone.")
    ids = [f"<id-{n}@shop.example>" for n in range(120)]
    alice.inbox.refresh()

    def look_up():
        clean.clear_requests()
        found = set(alice.inbox.filter(message_id__in=ids).values_list("message_id", flat=True))
        return found, operations(clean)

    assert look_up() == (set(), {"FindItem": 1})
    alice.bulk_create(alice.inbox, [Message(account=alice, folder=alice.inbox, mime_content=eml(i, "x"))
                                    for i in ids])
    found, ops = look_up()
    assert (len(found), ops) == (120, {"FindItem": 2, "GetItem": 2})


def test_message_id_look_up_finds_every_case_and_escaping(clean, connect):
    """IsEqualTo on InternetMessageId goes through a substring pre-filter in SQL before Python
    compares: it must keep what Python's case-insensitive comparison matches, escaped '<', '&'
    and letters whose case folding is ASCII (ſ folds to s, K the Kelvin sign to k) included."""
    ids = ["<Abc.K&1@Host.example>", "<ſtrange@host.example>", "<\u212aelvin@host.example>", "<other@host.example>"]
    made = clean.call("POST", "messages", [{"mailbox": ALICE, "subject": f"id {n}", "message_id": value}
                                           for n, value in enumerate(ids)])
    inbox = connect(ALICE).inbox

    def found(*values):
        return sorted(inbox.filter(message_id__in=list(values)).values_list("subject", flat=True)) \
            if len(values) > 1 else sorted(inbox.filter(message_id=values[0]).values_list("subject", flat=True))
    assert found("<abc.k&1@host.EXAMPLE>") == ["id 0"]
    assert found("<strange@host.example>") == ["id 1"]
    assert found("<kelvin@host.example>") == ["id 2"]
    assert found("<abc.k&1@host.example>", "<OTHER@host.example>", "<none@host.example>") == ["id 0", "id 3"]
    assert found("<abc.k@host.example>") == [] and len(made) == 4
    # the pre-filter is in the SQL: a folder of ASCII-only rows never reaches Python for a non-match
    node = restrictions.parse(etree.fromstring(
        f'<t:IsEqualTo xmlns:t="{T}"><t:FieldURI FieldURI="message:InternetMessageId"/>'
        '<t:FieldURIOrConstant><t:Constant Value="&lt;A&amp;b@x&gt;"/></t:FieldURIOrConstant></t:IsEqualTo>'))
    sql, params = restrictions.to_sql(node)
    assert sql.startswith("((instr(lower(xml), ?) > 0) OR instr(xml, '&#') > 0 OR xml GLOB ?) AND ") and \
        params[0] == "&lt;a&amp;b@x&gt;"
