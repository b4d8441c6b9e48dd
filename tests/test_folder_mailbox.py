"""A mailbox's folders as Exchange 2016 makes them and keeps them: the default tree and its
language, folders without a class, permission sets, user configurations, properties Exchange
computes for a folder, and the answers for what a mailbox does not have."""
import sqlite3

import pytest
from exchangelib import ExtendedProperty, Folder, Message
from exchangelib.errors import (ErrorDeleteDistinguishedFolder, ErrorDuplicateUserIdsSpecified, ErrorFolderExists,
                                ErrorFolderNotFound,
                                ErrorInvalidUserInfo, ErrorItemNotFound, ErrorItemSave,
                                ErrorObjectTypeChanged)
from exchangelib.folders import CommonViews, GALContacts, Messages, RootOfHierarchy
from exchangelib.properties import Permission, PermissionSet, UserId

from conftest import ALICE, BOB
from ews_sandbox.model import db, folders

ERIN = "erin@contoso.example"


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def test_the_default_tree_has_the_system_folders_of_an_exchange_2016_mailbox(alice):
    root = alice.root
    assert root.name == "root" and alice.calendar.absolute == "/root/Top of Information Store/Calendar"
    names = {f.name for f in root.children}
    assert {"Common Views", "Finder", "Recoverable Items", "Top of Information Store", "Working Set"} <= names
    assert isinstance(root / "Common Views", CommonViews)
    contacts = {type(f) for f in alice.contacts.children}
    assert GALContacts in contacts and len(list(alice.root.walk())) > 40
    assert alice.root.tois.folder_class is None  # the IPM subtree itself has no class
    with pytest.raises(ErrorDeleteDistinguishedFolder):  # system folders stay, though not distinguished
        (root / "Common Views").delete()


def test_a_folder_sent_without_a_class_has_none(alice):
    plain = Folder(parent=alice.inbox, name="Plain").save()
    plain.refresh()  # exchangelib refuses to refresh it if it came back as IPF.Note (a Messages folder)
    assert type(plain) is Folder and plain.folder_class is None
    typed = Messages(parent=alice.inbox, name="Typed").save()
    assert type(alice.inbox / "Typed") is Messages and typed.folder_class == "IPF.Note"
    with pytest.raises(ErrorObjectTypeChanged):  # a folder's class is its type: it cannot change
        typed.folder_class = "IPF.Contact"
        typed.save(update_fields=["folder_class"])


def test_a_name_clash_names_the_refused_folder_and_a_deleted_folder_is_an_unknown_object(alice):
    Folder(parent=alice.inbox, name="REPORTS").save()
    with pytest.raises(ErrorFolderExists, match="Could not create folder 'reports'"):
        Folder(parent=alice.inbox, name="reports").save()
    gone = Folder(parent=alice.inbox, name="Gone").save()
    folder_id, change_key = gone.id, gone.changekey
    gone.delete()
    gone.id, gone.changekey = folder_id, change_key
    with pytest.raises(ErrorItemNotFound):  # Exchange: "The specified object was not found in the store."
        gone.save(update_fields=["name"])


def test_permission_sets_start_closed_and_are_set_appended_and_deleted(alice):
    shared = Folder(parent=alice.inbox, name="Shared").save()
    shared.refresh()
    assert {p.user_id.distinguished_user: p.permission_level for p in shared.permission_set.permissions} == {
        "Default": "None", "Anonymous": "None"}
    assert [p.calendar_permission_level for p in alice.calendar.permission_set.calendar_permissions] == [
        "FreeBusyTimeOnly", "None"]
    # a named level stands for its rights (Microsoft's PermissionLevel page): Editor edits and deletes all
    shared.permission_set = PermissionSet(permissions=[
        Permission(user_id=UserId(primary_smtp_address=BOB), permission_level="Editor")])
    shared.save(update_fields=["permission_set"])
    shared.refresh()
    default, anonymous, bob = shared.permission_set.permissions  # Default and Anonymous are always there
    assert (default.user_id.distinguished_user, anonymous.user_id.distinguished_user) == ("Default", "Anonymous")
    assert (bob.user_id.primary_smtp_address, bob.user_id.display_name) == (BOB, "Bob Martin")
    assert (bob.can_create_items, bob.can_create_subfolders, bob.edit_items, bob.read_items) == (
        True, False, "All", "FullDetails")
    twice = PermissionSet(permissions=[Permission(user_id=UserId(primary_smtp_address=BOB)),
                                       Permission(user_id=UserId(primary_smtp_address=BOB.upper()))])
    shared.permission_set = twice
    with pytest.raises(ErrorDuplicateUserIdsSpecified):
        shared.save(update_fields=["permission_set"])
    shared.permission_set = PermissionSet(permissions=[
        Permission(user_id=UserId(primary_smtp_address="nobody@contoso.example"))])
    with pytest.raises(ErrorInvalidUserInfo):
        shared.save(update_fields=["permission_set"])
    shared.permission_set = None  # DeleteFolderField: every right goes
    shared.save(update_fields=["permission_set"])
    shared.refresh()
    assert [(p.user_id.distinguished_user, p.can_create_items, p.read_items)
            for p in shared.permission_set.permissions] == [("Default", False, "None"), ("Anonymous", False, "None")]


def test_user_configurations_live_in_their_folder(alice):
    settings = Folder(parent=alice.inbox, name="App").save()
    with pytest.raises(ErrorItemNotFound):
        settings.get_user_configuration(name="Sandbox.Settings")
    settings.create_user_configuration(name="Sandbox.Settings", dictionary={"theme": "dark", 7: True},
                                       xml_data=b"<a>1</a>", binary_data=b"\x00\x01")
    with pytest.raises(ErrorItemSave):  # one object per name and folder
        settings.create_user_configuration(name="Sandbox.Settings")
    with pytest.raises(ErrorItemNotFound):
        alice.inbox.get_user_configuration(name="Sandbox.Settings")
    stored = settings.get_user_configuration(name="Sandbox.Settings")
    assert (stored.dictionary, stored.xml_data, stored.binary_data) == ({"theme": "dark", 7: True}, b"<a>1</a>",
                                                                        b"\x00\x01")
    settings.update_user_configuration(name="Sandbox.Settings", xml_data=b"<a>2</a>")
    only_xml = settings.get_user_configuration(name="Sandbox.Settings", properties="XmlData")
    assert (only_xml.dictionary, only_xml.xml_data, only_xml.binary_data) == (None, b"<a>2</a>", None)
    assert settings.get_user_configuration(name="Sandbox.Settings").binary_data == b"\x00\x01"  # kept
    settings.delete_user_configuration(name="Sandbox.Settings")
    with pytest.raises(ErrorItemNotFound):
        settings.get_user_configuration(name="Sandbox.Settings")


class FolderSize(ExtendedProperty):
    property_tag = 0x0E08  # PidTagMessageSizeExtended, which Exchange computes for every folder
    property_type = "Long"


class Hidden(ExtendedProperty):
    property_tag = 0x10F4  # PidTagAttributeHidden
    property_type = "Boolean"


def test_folders_carry_the_properties_exchange_computes(alice):
    Folder.register("size", FolderSize)
    Folder.register("hidden", Hidden)
    try:
        alice.inbox.refresh()
        assert alice.inbox.size == 0 and alice.inbox.hidden is False
        Message(account=alice, folder=alice.inbox, subject="Sized", body="x" * 500).save()
        alice.inbox.refresh()
        assert alice.inbox.size > 500
        assert (alice.contacts / "GAL Contacts").hidden is True
    finally:
        Folder.deregister("size")
        Folder.deregister("hidden")


def test_the_root_sizes_its_user_configurations(alice):
    # A folder's size counts its associated items; Exchange keeps user configurations as such
    # (the root of a used mailbox holds several, so exchangelib's own suite expects it above 0).
    RootOfHierarchy.register("size", FolderSize)
    try:
        alice.root.refresh()
        assert alice.root.size == 0  # a new sandbox mailbox holds none
        alice.root.create_user_configuration(name="Sandbox.RootSettings", xml_data=b"<a>" + b"x" * 300 + b"</a>")
        alice.root.refresh()
        assert alice.root.size > 300
    finally:
        RootOfHierarchy.deregister("size")


def test_a_mailbox_without_public_folders(alice):
    # exchangelib wraps Exchange's ErrorNoPublicFolderReplicaAvailable in a folder-not-found
    with pytest.raises(ErrorFolderNotFound, match="There are no public folder servers available"):
        alice.public_folders_root


def test_erins_mailbox_is_german(clean, connect, sandbox):
    erin = connect(ERIN)
    assert (erin.inbox.name, erin.sent.name, erin.trash.name, erin.junk.name) == (
        "Posteingang", "Gesendete Elemente", "Gelöschte Elemente", "Junk-E-Mail")
    assert (erin.calendar.name, erin.contacts.name, erin.tasks.name, erin.drafts.name) == (
        "Kalender", "Kontakte", "Aufgaben", "Entwürfe")
    assert erin.root.tois.name == "Oberste Ebene des Informationsspeichers"
    assert "Common Views" in {f.name for f in erin.root.children}  # system folders keep English names
    with sandbox.database.transaction() as conn:
        assert conn.execute("SELECT locale FROM users WHERE email = ?", (ERIN,)).fetchone()[0] == "de-DE"


def test_create_mailbox_takes_a_locale(tmp_path):
    database = db.Database(tmp_path / "locales.db")
    with database.transaction() as conn:
        user_id = conn.execute("INSERT INTO users(email, name) VALUES ('x@contoso.example', 'X')").lastrowid
        folders.create_mailbox(conn, user_id, "da_DK")
        names = {row["role"]: row["name"] for row in conn.execute("SELECT * FROM folders WHERE mailbox_id = ?",
                                                                   (user_id,))}
        assert (names["inbox"], names["sentitems"], names["calendar"]) == ("Indbakke", "Sendt post", "Kalender")
        assert conn.execute("SELECT locale FROM users WHERE id = ?", (user_id,)).fetchone()[0] == "da-DK"
        with pytest.raises(ValueError, match="no folder names"):
            folders.create_mailbox(conn, user_id, "xx-YY")


def test_a_database_made_before_locales_and_roles_gains_their_columns(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
                      " password TEXT, kind TEXT NOT NULL DEFAULT 'user', members TEXT);"
                      "INSERT INTO users(email, name) VALUES ('old@contoso.example', 'Old');"
                      "CREATE TABLE folders (id INTEGER PRIMARY KEY AUTOINCREMENT, mailbox_id INTEGER NOT NULL,"
                      " parent_id INTEGER, distinguished TEXT, element TEXT NOT NULL, name TEXT NOT NULL,"
                      " folder_class TEXT, change_key TEXT NOT NULL, xml BLOB);")
    old.close()
    conn = db.Database(path).connection()
    assert conn.execute("SELECT locale FROM users").fetchone()[0] == "en-US"
    assert "role" in {row[1] for row in conn.execute("PRAGMA table_info(folders)")}
    db.migrate(conn)  # a second process opening the file finds nothing left to add


def test_a_database_made_before_is_unmodified_was_kept_derives_it_once_from_the_times(tmp_path):
    path = tmp_path / "old.db"
    conn = db.Database(path).connection()
    conn.execute("DROP INDEX IF EXISTS items_folder_received")
    conn.execute("ALTER TABLE items DROP COLUMN unmodified")  # the items table as it was
    conn.execute("INSERT INTO users(email, name) VALUES ('old@contoso.example', 'Old')")
    conn.execute("INSERT INTO folders(mailbox_id, element, name, change_key) VALUES (1, 'Folder', 'f', 'k')")
    for created, modified in (("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
                              ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")):
        conn.execute("INSERT INTO items(mailbox_id, folder_id, element, change_key, created, modified, xml)"
                     " VALUES (1, 1, 'Message', 'k', ?, ?, '<x/>')", (created, modified))
    conn.close()
    conn = db.Database(path).connection()
    assert [row[0] for row in conn.execute("SELECT unmodified FROM items ORDER BY id")] == [1, 0]
