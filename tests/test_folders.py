"""Folders through exchangelib: the distinguished tree, create, rename, move, delete,
empty, counts and FindFolder, with the errors Exchange gives."""
import pytest
from exchangelib import Folder, Message
from exchangelib.errors import ErrorDeleteDistinguishedFolder, ErrorFolderExists, ErrorFolderNotFound
from exchangelib.folders import Calendar, Contacts, Tasks

from conftest import ALICE


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def test_the_distinguished_tree_and_its_classes(alice):
    assert isinstance(alice.calendar, Calendar) and isinstance(alice.contacts, Contacts)
    assert isinstance(alice.tasks, Tasks)
    names = {f.name for f in alice.msg_folder_root.children}
    assert {"Inbox", "Drafts", "Sent Items", "Deleted Items", "Junk Email", "Outbox", "Calendar"} <= names
    assert alice.archive_inbox.name == "Inbox"
    walked = {f.name for f in alice.root.walk()}
    assert "Archive Root" not in walked and "Top of Information Store" in walked  # the archive is its own tree


def test_create_rename_move_and_delete(alice):
    projects = Folder(parent=alice.inbox, name="Projects")
    projects.save()
    with pytest.raises(ErrorFolderExists):
        Folder(parent=alice.inbox, name="projects").save()  # names clash case-insensitively
    projects.name = "Projects 2026"
    projects.save(update_fields=["name"])
    assert (alice.inbox / "Projects 2026").id == projects.id
    projects.move(alice.msg_folder_root)
    alice.root.clear_cache()
    assert (alice.msg_folder_root / "Projects 2026").parent_folder_id.id == alice.msg_folder_root.id
    projects.delete()
    alice.root.clear_cache()
    with pytest.raises(ErrorFolderNotFound):
        alice.msg_folder_root / "Projects 2026"


def test_distinguished_folders_cannot_be_deleted(alice):
    with pytest.raises(ErrorDeleteDistinguishedFolder):
        alice.inbox.delete()


def test_counts_follow_items_and_empty_clears_them(alice):
    alice.bulk_create(folder=alice.inbox, items=[Message(account=alice, subject=f"M{i}", is_read=i % 2 == 0)
                                                 for i in range(6)])
    Folder(parent=alice.inbox, name="Sub").save()
    alice.inbox.refresh()
    assert (alice.inbox.total_count, alice.inbox.unread_count, alice.inbox.child_folder_count) == (6, 3, 1)
    alice.inbox.empty(delete_sub_folders=True)
    alice.inbox.refresh()
    assert (alice.inbox.total_count, alice.inbox.child_folder_count) == (0, 0)


def test_find_folder_deep_with_paging_and_restriction(alice):
    for name in ("A", "B", "C"):
        parent = Folder(parent=alice.inbox, name=name)
        parent.save()
        Folder(parent=parent, name=f"{name}-child").save()
    deep = list(alice.inbox.walk())
    assert sorted(f.name for f in deep) == ["A", "A-child", "B", "B-child", "C", "C-child"]
    assert [f.name for f in alice.inbox.glob("B*")] == ["B"]
    found = alice.inbox.children
    assert sorted(f.name for f in found) == ["A", "B", "C"]
