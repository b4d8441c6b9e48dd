"""contacts.py, inbox_rules.py and oof.py, each run as a subprocess against the session's
sandbox, their effects checked through exchangelib and by delivering mail: the directory's
Smiths, nested lists flattened (the loop sales -> sales-emea -> sales-nordics -> sales
included), a rule that files newsletters, a weekend's automatic replies."""
import csv
import io
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from exchangelib import Contact, DistributionList, Mailbox, Message, OofSettings
from exchangelib.folders import Folder
from exchangelib.indexed_properties import EmailAddress
from exchangelib.properties import Member

from conftest import ALICE, BOB, CAROL, PASSWORD
import warm_start
from test_mail_scripts import SCRIPTS, as_json, base_env, ok, operations

DOMAIN = "contoso.example"
OUTSIDE_KNOWN, OUTSIDE_UNKNOWN = "frank@fabrikam.example", "gina@fabrikam.example"  # another organization
WRITES = {"CreateItem", "UpdateItem", "DeleteItem", "MoveItem", "CopyItem", "SendItem", "CreateFolder",
          "UpdateInboxRules", "SetUserOofSettingsRequest"}


@pytest.fixture
def run(sandbox, tmp_path):
    def go(script, *args, email=ALICE, env=None):
        env = base_env(EWS_SANDBOX_URL=sandbox.ews_url, EWS_CA_BUNDLE=sandbox.ca_bundle, EWS_PASSWORD=PASSWORD,
                       EWS_EMAIL=email, EWS_TIMEZONE="UTC", **(env or {}))
        return warm_start.run([sys.executable, str(SCRIPTS / f"{script}.py"), *map(str, args)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
    return go


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def ops(admin, action):
    admin.clear_requests()
    result = action()
    return result, Counter(entry["operation"] for entry in admin.requests())


# ---- contacts.py -----------------------------------------------------------------------

def test_create_update_search_and_list_contacts(run, alice, clean):
    made, sent = ops(clean, lambda: as_json(run(
        "contacts", "create", "--set", "name=Ada Lovelace", "--set", "given_name=Ada", "--set", "surname=Lovelace",
        "--set", "email1=ada@example.org", "--set", "email3=countess@example.org", "--set", "phone.MobilePhone=+44 1",
        "--set", "address.Home.city=London", "--set", "address.Home.street=12 St James's Square", "--set",
        "im2=ada@im.example", "--set", "company=Analytical Engines", "--set", "birthday=1815-12-10", "--json")))
    assert sent["CreateItem"] == 1 and not set(sent) & (WRITES - {"CreateItem"})
    ada = alice.contacts.get(id=made["id"])
    assert (ada.display_name, ada.given_name, ada.surname, ada.company_name, str(ada.birthday)) == \
        ("Ada Lovelace", "Ada", "Lovelace", "Analytical Engines", "1815-12-10")
    assert sorted((e.label, e.email) for e in ada.email_addresses) == \
        [("EmailAddress1", "ada@example.org"), ("EmailAddress3", "countess@example.org")]
    assert [(p.label, p.phone_number) for p in ada.phone_numbers] == [("MobilePhone", "+44 1")]
    assert [(a.label, a.street, a.city) for a in ada.physical_addresses] == \
        [("Home", "12 St James's Square", "London")]
    assert [(i.label, i.im_address) for i in ada.im_addresses] == [("ImAddress2", "ada@im.example")]

    # one part of an address and one email change; the others stay; FIELD= deletes
    _, sent = ops(clean, lambda: ok(run("contacts", "update", "--email", "countess@example.org", "--set",
                                        "address.Home.city=Marylebone", "--set", "email2=ada2@example.org",
                                        "--set", "company=")))
    assert sent["UpdateItem"] == 1 and sent["FindItem"] == 1 and "CreateItem" not in sent
    ada = alice.contacts.get(id=made["id"])
    assert sorted(e.email for e in ada.email_addresses) == ["ada2@example.org", "ada@example.org",
                                                            "countess@example.org"]
    assert [(a.street, a.city) for a in ada.physical_addresses] == [("12 St James's Square", "Marylebone")]
    assert ada.company_name is None

    Contact(account=alice, folder=alice.contacts, display_name="Charles Babbage",
            email_addresses=[EmailAddress(email="charles@example.org", label="EmailAddress1")]).save()
    DistributionList(account=alice, folder=alice.contacts, display_name="Engine club", members=[
        Member(mailbox=Mailbox(name="Ada", email_address="ada@example.org", mailbox_type="OneOff"))]).save()
    listed = as_json(run("contacts", "list", "--json"))
    assert [(c["display_name"], c["kind"]) for c in listed] == \
        [("Ada Lovelace", "contact"), ("Charles Babbage", "contact"), ("Engine club", "list")]
    assert listed[2]["members"] == ["ada@example.org"]
    found = as_json(run("contacts", "search", "ADA2", "--json"))  # an address, any case
    assert [c["display_name"] for c in found] == ["Ada Lovelace"]
    assert [c["display_name"] for c in as_json(run("contacts", "search", "engines", "--json"))] == []  # deleted
    table = ok(run("contacts", "search", "babbage")).stdout.splitlines()
    assert table[0].split() == ["name", "email", "phone", "company_name", "kind"]
    assert table[1].split() == ["Charles", "Babbage", "charles@example.org", "contact"]


def test_update_dry_run_and_an_ambiguous_address_change_nothing(run, alice, clean):
    for name in ("Twin One", "Twin Two"):
        Contact(account=alice, folder=alice.contacts, display_name=name,
                email_addresses=[EmailAddress(email="twins@example.org", label="EmailAddress1")]).save()
    result, sent = ops(clean, lambda: run("contacts", "update", "--email", "twins@example.org", "--set", "nickname=T"))
    assert result.returncode == 2 and "2 contacts in Contacts have that address; choose with --id" in result.stderr
    assert not set(sent) & WRITES
    [one] = alice.contacts.filter(display_name="Twin One")
    dry, sent = ops(clean, lambda: as_json(run("contacts", "update", "--id", one.id, "--set", "nickname=T",
                                               "--dry-run", "--json")))
    assert dry == {"action": "update", "dry_run": True, "set": {"nickname": "T"}} and not set(sent) & WRITES
    assert {c.nickname for c in alice.contacts.all()} == {None}


def test_everyone_named_smith_in_the_directory(run, alice, clean):
    smiths, sent = ops(clean, lambda: as_json(run("contacts", "resolve", "smith", "--scope", "directory", "--json")))
    assert [(s["name"], s["email"]) for s in smiths] == [
        ("Erin Smith", f"erin@{DOMAIN}"), ("Jane Smith", f"jane.smith@{DOMAIN}"),
        ("John Smith", f"john.smith@{DOMAIN}"),
        ("Kim Smith", f"kim.smith@{DOMAIN}"), ("Michael Smithson", f"michael.smithson@{DOMAIN}")]
    assert sent["ResolveNames"] == 1
    # your own contacts too (scope both, the directory first), one request per name, a name that finds no one said
    Contact(account=alice, folder=alice.contacts, display_name="Zoe Smith", given_name="Zoe", surname="Smith",
            email_addresses=[EmailAddress(email="zoe@home.example", label="EmailAddress1")]).save()
    result, sent = ops(clean, lambda: ok(run("contacts", "resolve", "smith", "nobody-at-all", "--json")))
    found = [(s["email"], s["type"]) for s in as_json(result)]
    assert found[-1] == ("zoe@home.example", "Contact") and len(found) == 6
    assert sent["ResolveNames"] == 2 and "no one found for 'nobody-at-all'" in result.stderr
    [priya] = as_json(run("contacts", "resolve", "priya", "--full", "--json"))
    assert (priya["given_name"], priya["surname"]) == ("Priya", "Natarajan")


def test_a_nested_list_is_flattened_once_loop_included(run, alice, clean):
    result, sent = ops(clean, lambda: as_json(run("contacts", "expand", f"sales@{DOMAIN}", "--json")))
    assert result["lists_expanded"] == [f"sales@{DOMAIN}", f"sales-emea@{DOMAIN}", f"sales-nordics@{DOMAIN}"]
    assert sent["ExpandDL"] == 3  # sales-nordics names sales again: not expanded twice
    assert sorted(m["email"] for m in result["members"]) == sorted(f"{login}@{DOMAIN}" for login in (
        "maria.garcia", "john.smith", "sofia.rossi", "ivan.petrov", "lars.nilsson", "nora.kowalski"))
    assert {m["email"]: m["via"] for m in result["members"]}[f"lars.nilsson@{DOMAIN}"] == f"sales-nordics@{DOMAIN}"
    everyone = as_json(run("contacts", "expand", "all staff", "--json"))  # a name, resolved first
    assert len(everyone["members"]) == len({m["email"] for m in everyone["members"]}) == 20
    assert len(everyone["lists_expanded"]) == 6
    one_level = as_json(run("contacts", "expand", f"sales@{DOMAIN}", "--one-level", "--json"))
    assert [(m["email"], m["type"]) for m in one_level["members"]][-1] == (f"sales-emea@{DOMAIN}", "PublicDL")
    # a personal list holding a directory list and a person twice over
    DistributionList(account=alice, folder=alice.contacts, display_name="Nordic friends", members=[
        Member(mailbox=Mailbox(name="Lars", email_address=f"lars.nilsson@{DOMAIN}", mailbox_type="Mailbox")),
        Member(mailbox=Mailbox(name="Nordics", email_address=f"sales-nordics@{DOMAIN}", mailbox_type="PublicDL"))]
    ).save()
    table = ok(run("contacts", "expand", "nordic friends")).stdout
    assert "6 members of Nordic friends (4 lists expanded, each once)" in table
    assert table.count("lars.nilsson@") == 1


def test_export_csv_and_vcard(run, alice, tmp_path):
    Contact(account=alice, folder=alice.contacts, display_name="Hopper, Grace; RADM", given_name="Grace",
            surname="Hopper", company_name="US Navy", job_title="Rear admiral " + "x" * 80,
            email_addresses=[EmailAddress(email="grace@navy.example", label="EmailAddress1")]).save()
    Contact(account=alice, folder=alice.contacts, display_name="Alan Turing").save()
    rows = list(csv.DictReader(io.StringIO(ok(run("contacts", "export", "--format", "csv")).stdout)))
    assert [(r["display_name"], r["email1"], r["company_name"]) for r in rows] == [
        ("Alan Turing", "", ""), ("Hopper, Grace; RADM", "grace@navy.example", "US Navy")]
    result = ok(run("contacts", "export", "--format", "vcard", "--out", "all.vcf"))
    assert "exported 2 contacts as vcard to all.vcf" in result.stderr
    text = (tmp_path / "all.vcf").read_bytes().decode()
    assert text.count("BEGIN:VCARD\r\n") == 2 and text.endswith("END:VCARD\r\n")
    assert "FN:Hopper\\, Grace\\; RADM\r\n" in text and "N:Hopper;Grace;;;\r\n" in text
    assert "EMAIL;TYPE=INTERNET:grace@navy.example\r\n" in text and "ORG:US Navy;\r\n" in text
    assert all(len(line) <= 75 for line in text.split("\r\n"))
    assert "TITLE:Rear admiral " + "x" * 80 in text.replace("\r\n ", "")  # folded, unfolds whole


# ---- inbox_rules.py --------------------------------------------------------------------

def deliver(sender, subject, to=ALICE, **fields):
    Message(account=sender, subject=subject, body="text", to_recipients=[to], **fields).send()


def test_a_rule_files_digests_into_a_folder_marked_read(run, alice, clean, connect):
    Folder(parent=alice.inbox, name="Newsletters").save()
    result, sent = ops(clean, lambda: ok(run("inbox_rules", "create", "--name", "Digests", "--subject-contains",
                                             "digest", "--move-to", "Inbox/Newsletters", "--mark-read")))
    assert "created rule 'Digests' (priority 1, enabled)" in result.stdout
    assert "RemoveOutlookRuleBlob=true" in result.stderr and "client-side rules" in result.stderr
    assert sent["UpdateInboxRules"] == 1 and sent["GetInboxRules"] == 2  # the rules, then the new one's id
    bob = connect(BOB)
    deliver(bob, "Weekly Digest #12")
    deliver(bob, "Lunch?")
    filed = connect(ALICE).inbox / "Newsletters"
    assert [(m.subject, m.is_read) for m in filed.all()] == [("Weekly Digest #12", True)]
    assert [(m.subject, m.is_read) for m in connect(ALICE).inbox.all()] == [("Lunch?", False)]
    [listed] = as_json(run("inbox_rules", "list", "--json"))
    assert (listed["name"], listed["priority"], listed["enabled"], listed["conditions"]) == \
        ("Digests", 1, True, {"contains_subject_strings": ["digest"]})
    assert listed["actions"]["mark_as_read"] is True and listed["actions"]["move_to_folder"] == filed.id
    assert "move_to_folder=Newsletters" in ok(run("inbox_rules", "list")).stdout  # the table names the folder


def test_rules_in_priority_order_update_disable_enable_delete(run, alice, clean, connect):
    ok(run("inbox_rules", "create", "--name", "Boss", "--from", BOB, "--set-importance", "high", "--category", "VIP",
           "--stop", "--except-subject-contains", "lunch"))
    ok(run("inbox_rules", "create", "--name", "Tag all", "--category", "Seen"))  # no condition: every message
    bob, carol = connect(BOB), connect(CAROL)
    deliver(bob, "Budget")
    deliver(bob, "lunch today")
    deliver(carol, "Hello")
    got = {m.subject: (m.importance, m.categories) for m in connect(ALICE).inbox.all()}
    assert got == {"Budget": ("High", ["VIP"]), "lunch today": ("Normal", ["Seen"]), "Hello": ("Normal", ["Seen"])}

    ok(run("inbox_rules", "update", "--name", "tag all", "--rename", "Tag first"))
    ok(run("inbox_rules", "update", "--name", "Boss", "--priority", "3"))
    ok(run("inbox_rules", "disable", "--name", "Boss"))
    assert [(r["name"], r["priority"], r["enabled"]) for r in as_json(run("inbox_rules", "list", "--json"))] == \
        [("Tag first", 2, True), ("Boss", 3, False)]
    deliver(bob, "Plan")
    assert connect(ALICE).inbox.get(subject="Plan").categories == ["Seen"]
    ok(run("inbox_rules", "enable", "--name", "Boss"))
    deliver(bob, "Plan B")
    assert connect(ALICE).inbox.get(subject="Plan B").categories == ["Seen", "VIP"]  # both rules ran
    _, sent = ops(clean, lambda: ok(run("inbox_rules", "delete", "--name", "Tag first")))
    assert sent["UpdateInboxRules"] == 1
    ok(run("inbox_rules", "disable", "--name", "Boss"))
    _, sent = ops(clean, lambda: ok(run("inbox_rules", "delete", "--name", "Boss")))
    assert sent["UpdateInboxRules"] == 2  # a disabled rule is saved enabled first (exchangelib)
    assert ok(run("inbox_rules", "list")).stdout.strip() == "no inbox rules"
    dry = as_json(run("inbox_rules", "create", "--name", "Dry", "--mark-read", "--dry-run", "--json"))
    assert dry["dry_run"] is True and alice.rules == []


# ---- oof.py ----------------------------------------------------------------------------

def next_weekend():
    today = datetime.now(timezone.utc).date()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    return saturday, saturday + timedelta(days=1)


@pytest.fixture
def outsiders(clean, connect):
    for address, name in ((OUTSIDE_KNOWN, "Frank Outside"), (OUTSIDE_UNKNOWN, "Gina Outside")):
        clean.call("POST", "users", {"email": address, "name": name, "password": PASSWORD})
    return connect(OUTSIDE_KNOWN), connect(OUTSIDE_UNKNOWN)


def replies(account):
    return [(m.subject, m.text_body.replace("\r\n", "\n").strip()) for m in
            account.inbox.filter(subject__startswith="Automatic reply").order_by("datetime_received")]


def test_a_weekend_away_answers_inside_the_window_each_sender_once(run, alice, outsiders, connect, monkeypatch):
    from ews_sandbox.model import oof as sandbox_oof
    saturday, sunday = next_weekend()
    Contact(account=alice, folder=alice.contacts, display_name="Frank Outside",  # known; Gina is not
            email_addresses=[EmailAddress(email=OUTSIDE_KNOWN, label="EmailAddress1")]).save()
    result = ok(run("oof", "schedule", "--start", saturday, "--end", sunday, "--internal",
                    "Away this weekend.\nAsk Carol <carol@contoso.example>.", "--external",
                    "Away until Monday.", "--audience", "known"))
    assert f"scheduled from {saturday}T00:00 to {sunday + timedelta(days=1)}T00:00" in result.stdout
    saved = alice.oof_settings
    assert (saved.state, saved.external_audience) == ("Scheduled", "Known")
    assert (saved.start, saved.end) == (datetime(saturday.year, saturday.month, saturday.day, tzinfo=timezone.utc),
                                        datetime(sunday.year, sunday.month, sunday.day, tzinfo=timezone.utc)
                                        + timedelta(days=1))
    assert saved.internal_reply == \
        "<html><body>Away this weekend.<br>\nAsk Carol &lt;carol@contoso.example&gt;.</body></html>"

    bob, (frank, gina) = connect(BOB), outsiders
    deliver(bob, "Friday question")  # now: before the window
    assert replies(bob) == []
    # the sandbox's out-of-office clock only: Saturday noon
    monkeypatch.setattr(sandbox_oof, "now_text", lambda: f"{saturday}T12:00:00Z")
    for sender, subject in ((bob, "one"), (bob, "two"), (frank, "hi"), (gina, "hello")):
        deliver(sender, subject)
    assert replies(bob) == [("Automatic reply: one", "Away this weekend.\nAsk Carol <carol@contoso.example>.")]
    assert replies(frank) == [("Automatic reply: hi", "Away until Monday.")]
    assert replies(gina) == []  # unknown outside senders are not answered
    monkeypatch.setattr(sandbox_oof, "now_text", lambda: f"{sunday + timedelta(days=1)}T00:00:00Z")
    deliver(frank, "Monday")  # the window has ended
    assert len(replies(frank)) == 1


def test_enable_show_and_disable_keep_the_texts(run, alice, clean, connect, tmp_path):
    (tmp_path / "away.html").write_text("<p>Out <b>today</b></p>", encoding="utf-8")
    _, sent = ops(clean, lambda: ok(run("oof", "enable", "--internal-file", "away.html", "--audience", "none")))
    assert sent["SetUserOofSettingsRequest"] == 1 and "GetUserOofSettingsRequest" not in sent
    shown = as_json(run("oof", "show", "--json"))
    assert shown == {"state": "Enabled", "external_audience": "None", "internal_reply": "<p>Out <b>today</b></p>",
                     "external_reply": "<p>Out <b>today</b></p>"}  # without --external, the internal text
    deliver(connect(BOB), "status?")
    assert replies(connect(BOB)) == [("Automatic reply: status?", "Out today")]
    _, sent = ops(clean, lambda: ok(run("oof", "disable")))
    assert sent["GetUserOofSettingsRequest"] == 1 and sent["SetUserOofSettingsRequest"] == 1
    saved = alice.oof_settings
    assert (saved.state, saved.internal_reply) == ("Disabled", "<p>Out <b>today</b></p>")  # kept for next time
    deliver(connect(CAROL), "still away?")
    assert replies(connect(CAROL)) == []


# ---- bad input -------------------------------------------------------------------------

BAD_INPUT = [
    ("contacts", ["create", "--set", "name=Zed", "--set", "colour=blue"], "--set colour: not a contact field"),
    ("contacts", ["create", "--set", "name=Zed", "--set", "email1=zed at example"], "--set email1 'zed at example' is "
                                                                                    "not an email address"),
    ("contacts", ["update", "--email", "nobody", "--set", "nickname=x"], "--email 'nobody' is not an email address"),
    ("contacts", ["create", "--set", "given_name=Zed"], "create needs --set name="),
    ("contacts", ["create", "Zed", "--set", "name=Zed"], "create takes no name ('Zed'); see --help"),
    ("contacts", ["export", "--out", "/no/such/folder/x.csv"], "--out /no/such/folder/x.csv: give a file in an"),
    ("contacts", ["update", "--email", "ghost@example.org", "--set", "nickname=x"], "no contacts in Contacts have"),
    ("contacts", ["create", "--set", "name=Zed", "--set", "birthday=someday"],
     "--set birthday 'someday' is not a date"),
    ("inbox_rules", ["create", "--name", "Lost", "--subject-contains", "x", "--move-to", "Inbox/No such folder"],
     "--move-to Inbox/No such folder: there is no folder 'No such folder' in 'Inbox'"),
    ("inbox_rules", ["create", "--name", "Bad", "--from", "bob", "--mark-read"],
     "--from 'bob' is not an email address"),
    ("inbox_rules", ["create", "--name", "Bad", "--mark-read", "--forward-to", "x@"], "--forward-to 'x@' is not an"),
    ("inbox_rules", ["create", "--name", "Nothing", "--from", BOB], "create needs at least one action"),
    ("inbox_rules", ["create", "--name", "Kept", "--mark-read"], "--name 'Kept': a rule of that name exists"),
    ("inbox_rules", ["disable", "--name", "Missing"], "no rule 'Missing'"),
    ("inbox_rules", ["create", "--name", "X", "--mark-read", "--colour", "red"], "unrecognized arguments: --colour"),
    ("inbox_rules", ["enable", "--name", "Kept", "--mark-read"], "enable takes only --name or --id"),
    ("oof", ["schedule", "--start", "2100-01-03", "--end", "2100-01-02", "--internal", "x"],
     "--end 2100-01-02 is not after --start 2100-01-03: the window would end before it starts"),
    ("oof", ["schedule", "--start", "2020-01-01", "--end", "2020-01-02", "--internal", "x"], "--end is in the past"),
    ("oof", ["schedule", "--start", "2100-01-01", "--internal", "x"], "schedule needs --start and --end"),
    ("oof", ["enable", "--internal", "x", "--audience", "friends"], "argument --audience: invalid choice: 'friends'"),
    ("oof", ["enable"], "enable needs the reply"),
    ("oof", ["enable", "--internal-file", "missing.txt"], "--internal-file missing.txt: no such file"),
    ("oof", ["disable", "--internal", "x"], "--internal is for enable and schedule, not disable"),
]


@pytest.mark.parametrize("script, args, message", BAD_INPUT, ids=[f"{s}:{m[:30]}" for s, _, m in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(run, alice, clean, script, args, message):
    alice.oof_settings = OofSettings(state=OofSettings.ENABLED, internal_reply="Before", external_reply="Before")
    Contact(account=alice, folder=alice.contacts, display_name="Kept").save()
    from exchangelib.properties import Actions, Rule
    Rule(account=alice, display_name="Kept", priority=1, is_enabled=True, actions=Actions(mark_as_read=True)).save()
    clean.clear_requests()
    result = run(script, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ews: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert not set(operations(clean)) & WRITES  # read-only look-ups at most (a folder, the rules, a contact)
    assert [(r.display_name, r.is_enabled) for r in alice.rules] == [("Kept", True)]
    assert [(c.display_name, c.nickname) for c in alice.contacts.all()] == [("Kept", None)]
    assert (alice.oof_settings.state, alice.oof_settings.internal_reply) == ("Enabled", "Before")


def test_create_folder_makes_the_rule_target_and_a_dry_run_only_says_so(run, alice, clean, connect):
    planned = as_json(run("inbox_rules", "create", "--name", "CI", "--subject-contains", "[CI]", "--move-to",
                          "Inbox/Builds/CI", "--create-folder", "--dry-run", "--json"))
    assert planned["folders_to_create"] == ["Inbox/Builds/CI"]
    assert not list(connect(ALICE).inbox.children) and not connect(ALICE).rules
    ok(run("inbox_rules", "create", "--name", "CI", "--subject-contains", "[CI]", "--move-to", "Inbox/Builds/CI",
           "--create-folder"))
    deliver(connect(BOB), "[CI] build 7 green")
    assert [m.subject for m in (connect(ALICE).inbox / "Builds" / "CI").all()] == ["[CI] build 7 green"]
