"""The admin API that extends the directory (users, rooms, lists, contacts, grants), seen
through exchangelib as a program under test would see what a test set up."""
import json
import subprocess
import sys

import pytest
import requests
from exchangelib import NTLM, CalendarItem, EWSDateTime, EWSTimeZone, Message
from exchangelib.errors import ErrorAccessDenied, UnauthorizedError

from conftest import ALICE, BOB, CAROL, PASSWORD

ZOE = "zoe@contoso.example"
ROOT = __file__.rsplit("/tests/", 1)[0]


def refused(admin, method, path, body):
    answer = admin.session.request(method, f"{admin.base}/{path}", json=body, verify=admin.ca_bundle)
    return answer.status_code, answer.json().get("error", "")


def shared_calendar(account):
    """Someone else's calendar by its distinguished id: `account.calendar` would first read the
    mailbox's root, which a permission on the calendar alone does not open (as in Exchange)."""
    from exchangelib.folders import Calendar, Root
    return Calendar.get_distinguished(root=Root(account=account))


def directory_entry(admin, email):
    return next(entry for entry in admin.call("GET", "users") if entry["email"] == email)


def test_an_added_user_signs_in_and_receives_mail(clean, connect):
    added = clean.call("POST", "users", {"email": ZOE, "name": "Zoe Park", "password": "zoe-password"})
    assert added == {"email": ZOE, "name": "Zoe Park", "kind": "user", "password": "zoe-password"}
    assert directory_entry(clean, ZOE)["kind"] == "user"
    zoe = connect(ZOE, password="zoe-password")
    assert zoe.inbox.total_count == 0
    assert connect(ZOE, password="zoe-password", auth=NTLM).inbox.name == "Inbox"  # NTLM knows her too
    Message(account=connect(ALICE), subject="welcome", to_recipients=[ZOE]).send()
    assert [m.subject for m in zoe.inbox.all()] == ["welcome"]
    [found] = zoe.protocol.resolve_names(["zoe"])
    assert (found.email_address, found.name) == (ZOE, "Zoe Park")


def test_a_users_locale_names_the_mailboxs_default_folders(clean, connect):
    body = {"email": ZOE, "name": "Zoe Park", "password": "zoe-password", "locale": "de-DE"}
    assert clean.call("POST", "users", body)["locale"] == "de-DE"
    assert connect(ZOE, password="zoe-password").inbox.name == "Posteingang"


def test_a_locale_without_folder_names_is_refused_and_nothing_is_half_made(clean):
    body = {"email": ZOE, "name": "Zoe Park", "password": "zoe-password", "locale": "xx-YY"}
    status, message = refused(clean, "POST", "users", body)
    assert status == 400 and message.startswith("locale: no folder names for locale 'xx-YY'")
    assert ZOE not in {entry["email"] for entry in clean.call("GET", "users")}


@pytest.mark.parametrize("body, status, message", [
    ({"email": ALICE, "name": "Alice again", "password": "x"}, 409, "already in the directory"),
    ({"email": "team@contoso.example", "name": "Team", "password": "x"}, 409, "already in the directory"),
    ({"email": ZOE, "name": "Zoe"}, 400, "password is required"),
    ({"email": "zoe", "name": "Zoe", "password": "x"}, 400, "not an email address"),
    ({"email": ZOE, "name": "Zoe", "password": "x", "admin": True}, 400, "unknown field(s): admin"),
    ([ZOE], 400, "send a JSON object"),
])
def test_adding_a_user_is_refused_when_the_body_is_wrong(clean, body, status, message):
    assert refused(clean, "POST", "users", body)[0] == status
    assert message in refused(clean, "POST", "users", body)[1]


def test_nested_and_looping_lists_deliver_each_member_once(clean, connect):
    clean.call("POST", "users", {"email": ZOE, "name": "Zoe Park", "password": "zoe-password"})
    outer = clean.call("POST", "distribution-lists", {"email": "outer@contoso.example", "name": "Outer",
                                                      "members": ["inner@contoso.example", BOB]})
    assert outer["members"] == ["inner@contoso.example", BOB] and outer["room_list"] is False
    clean.call("POST", "distribution-lists", {"email": "inner@contoso.example", "name": "Inner",
                                              "members": [ZOE, "team@contoso.example"]})
    looped = clean.call("POST", "distribution-lists/members", {"list": "inner@contoso.example",
                                                               "members": ["outer@contoso.example", ZOE]})
    assert looped["members"] == [ZOE, "team@contoso.example", "outer@contoso.example"]  # zoe once
    alice = connect(ALICE)
    Message(account=alice, subject="all hands", to_recipients=["outer@contoso.example"]).send()
    for member, password in ((ZOE, "zoe-password"), (BOB, PASSWORD), (CAROL, PASSWORD)):
        assert [m.subject for m in connect(member, password=password).inbox.all()] == ["all hands"]
    assert [m.email_address for m in alice.protocol.expand_dl("inner@contoso.example")] == \
        [ZOE, "team@contoso.example", "outer@contoso.example"]
    assert refused(clean, "POST", "distribution-lists/members", {"list": ALICE, "members": [BOB]})[0] == 404


def test_rooms_are_mailboxes_and_room_lists_hold_rooms(clean, connect):
    room = clean.call("POST", "rooms", {"email": "board@contoso.example", "name": "Board Room"})
    assert room == {"email": "board@contoso.example", "name": "Board Room", "kind": "room", "password": None}
    building = clean.call("POST", "room-lists", {"email": "hq@contoso.example", "name": "Headquarters",
                                                 "members": ["board@contoso.example"]})
    assert building["room_list"] is True and directory_entry(clean, "hq@contoso.example")["room_list"] is True
    status, error = refused(clean, "POST", "room-lists", {"email": "x@contoso.example", "name": "X",
                                                          "members": [ALICE]})
    assert status == 404 and "no room or room list" in error
    # A room is a mailbox: it has folders, takes mail and may be opened by its delegates; with no
    # password (its account disabled, as Exchange makes rooms) nobody signs in as it.
    with pytest.raises(UnauthorizedError):
        connect("board@contoso.example", password="").inbox.total_count
    Message(account=connect(ALICE), subject="booking", to_recipients=["board@contoso.example"]).send()
    with pytest.raises(ErrorAccessDenied):
        connect(BOB, mailbox="board@contoso.example").inbox.total_count
    clean.grant(owner="board@contoso.example", delegate=BOB)
    assert [m.subject for m in connect(BOB, mailbox="board@contoso.example").inbox.all()] == ["booking"]
    alice = connect(ALICE)
    assert alice.protocol.version.build is not None  # exchangelib's protocol services need it known
    [found] = alice.protocol.resolve_names(["Board"])
    assert (found.email_address, found.mailbox_type) == ("board@contoso.example", "Mailbox")


def test_a_contact_lands_in_the_owners_contacts_folder(clean, connect):
    added = clean.call("POST", "contacts", {"owner": ALICE, "name": "Pat Lee", "email": "pat@fabrikam.example",
                                            "given_name": "Pat", "surname": "Lee", "company": "Fabrikam",
                                            "phone": "+1 425 555 0100"})
    alice = connect(ALICE)
    [contact] = alice.contacts.all()
    assert contact.id == added["item_id"]
    assert (contact.display_name, contact.given_name, contact.surname, contact.company_name) == \
        ("Pat Lee", "Pat", "Lee", "Fabrikam")
    assert [e.email for e in contact.email_addresses] == ["pat@fabrikam.example"]
    assert [(p.label, p.phone_number) for p in contact.phone_numbers] == [("BusinessPhone", "+1 425 555 0100")]
    [found] = alice.protocol.resolve_names(["Pat"])
    assert (found.email_address, found.mailbox_type) == ("pat@fabrikam.example", "Contact")
    assert connect(BOB).contacts.total_count == 0
    assert refused(clean, "POST", "contacts", {"owner": "nobody@contoso.example", "name": "X"})[0] == 404


def test_a_folder_permission_opens_that_folder_only(clean, connect):
    bob = connect(BOB)
    tz = EWSTimeZone("UTC")
    CalendarItem(account=bob, folder=bob.calendar, subject="Planning",
                 start=EWSDateTime(2026, 3, 2, 9, tzinfo=tz), end=EWSDateTime(2026, 3, 2, 10, tzinfo=tz)).save()
    alice_on_bob = connect(ALICE, mailbox=BOB)
    with pytest.raises(ErrorAccessDenied):
        shared_calendar(alice_on_bob)
    granted = clean.call("POST", "folder-permissions", {"owner": BOB, "folder": "calendar", "user": ALICE,
                                                        "level": "Reviewer"})
    assert granted["level"] == "Reviewer"
    assert shared_calendar(alice_on_bob).total_count == 1
    # exchangelib reads a folder's items through the mailbox's root (`account.root`): as on Exchange,
    # that needs the root visible too (Add-MailboxFolderPermission bob: -AccessRights FolderVisible).
    with pytest.raises(ErrorAccessDenied):
        alice_on_bob.calendar.all().count()
    clean.call("POST", "folder-permissions", {"owner": BOB, "folder": "root", "user": ALICE, "level": "Reviewer"})
    # Reviewer: read the calendar and its items, nothing else of bob's, and change nothing there.
    [item] = alice_on_bob.calendar.all()
    assert item.subject == "Planning"
    with pytest.raises(ErrorAccessDenied):
        alice_on_bob.inbox.total_count
    item.subject = "Planning (moved)"
    with pytest.raises(ErrorAccessDenied):
        item.save(update_fields=["subject"])
    # Editor: changes too.
    clean.call("POST", "folder-permissions", {"owner": BOB, "folder": "calendar", "user": ALICE, "level": "Editor"})
    [item] = alice_on_bob.calendar.all()
    item.subject = "Planning (moved)"
    item.save(update_fields=["subject"])
    assert [i.subject for i in bob.calendar.all()] == ["Planning (moved)"]
    # Revoked: refused again; a bad level or folder is refused by the admin API.
    clean.call("DELETE", "folder-permissions", {"owner": BOB, "folder": "calendar", "user": ALICE})
    with pytest.raises(ErrorAccessDenied):
        shared_calendar(alice_on_bob)
    assert refused(clean, "POST", "folder-permissions", {"owner": BOB, "folder": "inbox", "user": ALICE,
                                                         "level": "FreeBusyTimeOnly"})[0] == 400
    assert refused(clean, "POST", "folder-permissions", {"owner": BOB, "folder": "Calendar", "user": ALICE,
                                                         "level": "Reviewer"})[0] == 400


DOCUMENT = {
    "users": [{"email": ZOE, "name": "Zoe Park", "password": "zoe-password"}],
    "rooms": [{"email": "board@contoso.example", "name": "Board Room"}],
    "distribution_lists": [{"email": "crew@contoso.example", "name": "Crew", "members": [ZOE, ALICE]}],
    "room_lists": [{"email": "hq@contoso.example", "name": "Headquarters", "members": ["board@contoso.example"]}],
    "contacts": [{"owner": ZOE, "name": "Pat Lee", "email": "pat@fabrikam.example"}],
    "delegates": [{"owner": "board@contoso.example", "delegate": ZOE}],
    "folder_permissions": [{"owner": ALICE, "folder": "calendar", "user": ZOE, "level": "Reviewer"}],
}


def test_one_document_sets_up_a_directory(clean, connect):
    done = clean.call("POST", "directory", DOCUMENT)
    assert {section: len(entries) for section, entries in done.items()} == {section: 1 for section in DOCUMENT}
    zoe_on_room = connect(ZOE, password="zoe-password", mailbox="board@contoso.example")
    assert zoe_on_room.inbox.total_count == 0
    assert shared_calendar(connect(ZOE, password="zoe-password", mailbox=ALICE)).total_count == 0
    assert connect(ZOE, password="zoe-password").contacts.total_count == 1
    status, error = refused(clean, "POST", "directory", {"users": DOCUMENT["users"]})
    assert status == 409 and error.startswith("users: ")


def test_cli_directory_option_applies_to_a_new_database(tmp_path):
    document = tmp_path / "directory.json"
    document.write_text(json.dumps(DOCUMENT))
    process = subprocess.Popen([sys.executable, "-m", "ews_sandbox", "serve", "--db", str(tmp_path / "cli.db"),
                                "--seed", "empty", "--directory", str(document), "--json"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(process.stdout.readline())
        assert {"email": ZOE, "password": "zoe-password"} in ready["users"]
        entries = requests.get(ready["ews_url"].replace("/EWS/Exchange.asmx", "/_sandbox/users"),
                               headers={"X-Admin-Token": ready["admin_token"]}, verify=ready["ca_bundle"]).json()
        assert {entry["email"]: entry["kind"] for entry in entries}["board@contoso.example"] == "room"
    finally:
        process.terminate()
        process.wait(10)
    bad = tmp_path / "bad.json"
    bad.write_text('{"users": [{"email": "nobody"}]}')
    result = subprocess.run([sys.executable, "-m", "ews_sandbox", "serve", "--db", str(tmp_path / "other.db"),
                             "--directory", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--directory: users: " in result.stderr
