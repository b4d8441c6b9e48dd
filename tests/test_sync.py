"""SyncFolderItems and SyncFolderHierarchy through exchangelib: first and later syncs,
paging, read-flag changes, ignored ids, states that outlive the server, bad states.

Exchange's SyncFolderItems answers the changes since the given state, at most
MaxChangesReturned per call, IncludesLastItemInRange false while more remain; a
state it cannot use is ErrorInvalidSyncStateData (Microsoft's "SyncFolderItems
operation" and "How to: Synchronize items by using EWS in Exchange" pages).
"""
import random

from exchangelib import Folder, Message

from ews_sandbox.sandbox import Sandbox
from tests.conftest import ALICE, PASSWORD
from tests.test_hostile_input import response_code, soap


def _message(account, folder, subject):
    return Message(account=account, folder=folder, subject=subject, body="b").save()


def _apply(mirror, changes):
    """Replay sync changes on a dict id -> subject; returns the (kind, id) pairs seen."""
    seen = []
    for kind, item in changes:
        if kind == "delete":
            mirror.pop(item.id, None)
            seen.append((kind, item.id))
        elif kind == "read_flag_change":
            item_id, _ = item
            assert item_id.id in mirror
            seen.append((kind, item_id.id))
        else:
            mirror[item.id] = item.subject
            seen.append((kind, item.id))
    return seen


def test_first_and_later_sync_items(clean, connect):
    account = connect()
    folder = Folder(parent=account.inbox, name="sync-basic").save()
    first = _message(account, folder, "first")
    changes = list(folder.sync_items())
    assert [(kind, item.id) for kind, item in changes] == [("create", first.id)]
    assert list(folder.sync_items()) == []

    second = _message(account, folder, "second")
    first.subject = "first, renamed"
    first.save(update_fields=["subject"])
    changes = {item.id: (kind, item.subject) for kind, item in folder.sync_items()}
    assert changes == {second.id: ("create", "second"), first.id: ("update", "first, renamed")}

    second.is_read = True
    second.save(update_fields=["is_read"])
    [(kind, (item_id, is_read))] = list(folder.sync_items())
    assert (kind, item_id.id, is_read) == ("read_flag_change", second.id, True)

    # made and removed between two syncs: nothing to report
    _message(account, folder, "fleeting").delete()
    first_id = first.id
    first.delete()
    assert [(kind, item.id) for kind, item in folder.sync_items()] == [("delete", first_id)]


def test_ignored_items_are_left_out(clean, connect):
    account = connect()
    folder = Folder(parent=account.inbox, name="sync-ignore").save()
    list(folder.sync_items())
    mine, theirs = _message(account, folder, "mine"), _message(account, folder, "theirs")
    changes = list(folder.sync_items(ignore=[mine]))
    assert [item.id for _, item in changes] == [theirs.id]


def _raw_sync(sandbox, folder, state):
    body = ('<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
            f'<m:SyncFolderId><t:FolderId Id="{folder.id}"/></m:SyncFolderId>'
            f'<m:SyncState>{state}</m:SyncState><m:MaxChangesReturned>10</m:MaxChangesReturned>'
            '</m:SyncFolderItems>')
    return response_code(soap(sandbox, body))


def test_a_state_of_another_folder_or_altered_is_refused(clean, connect, sandbox):
    """exchangelib reads SyncState before the response code, so the error is checked raw."""
    account = connect()
    one = Folder(parent=account.inbox, name="sync-one").save()
    other = Folder(parent=account.inbox, name="sync-other").save()
    list(one.sync_items())
    state = one.item_sync_state
    assert _raw_sync(sandbox, one, state) == ["NoError"]
    assert _raw_sync(sandbox, other, state) == ["ErrorInvalidSyncStateData"]
    altered = state[:-6] + ("AAAAAA" if not state.endswith("AAAAAA") else "BBBBBB")
    assert _raw_sync(sandbox, one, altered) == ["ErrorInvalidSyncStateData"]
    assert _raw_sync(sandbox, one, "not a state") == ["ErrorInvalidSyncStateData"]


def test_hierarchy_creates_updates_deletes(clean, connect):
    account = connect()
    top = Folder(parent=account.inbox, name="sync-tree").save()
    child = Folder(parent=top, name="child").save()
    assert [(kind, f.id) for kind, f in top.sync_hierarchy()] == [("create", child.id)]
    grandchild = Folder(parent=child, name="grandchild").save()
    child.name = "child, renamed"
    child.save(update_fields=["name"])
    assert {f.id: kind for kind, f in top.sync_hierarchy()} == {grandchild.id: "create", child.id: "update"}
    child_id, grandchild_id = child.id, grandchild.id
    child.delete()
    assert {f.id: kind for kind, f in top.sync_hierarchy()} == {grandchild_id: "delete", child_id: "delete"}


def test_states_survive_a_restart(tmp_path, schema_check):
    """A sync state is all a client keeps: a new server process on the same file takes it."""
    from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, FailFast
    from exchangelib.protocol import close_connections

    def account_of(running):
        close_connections()
        config = Configuration(credentials=Credentials(ALICE, PASSWORD), service_endpoint=running.ews_url,
                               auth_type=BASIC, retry_policy=FailFast())
        return Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE)

    path = tmp_path / "state.db"
    with Sandbox(db_path=path, seed="empty", tls=False) as running:
        running.response_hook = schema_check
        account = account_of(running)
        folder = Folder(parent=account.inbox, name="kept").save()
        _message(account, folder, "before")
        list(folder.sync_items())
        list(account.inbox.sync_hierarchy())
        item_state, folder_state = folder.item_sync_state, account.inbox.folder_sync_state
    with Sandbox(db_path=path, seed="empty", tls=False) as running:
        running.response_hook = schema_check
        account = account_of(running)
        folder = account.inbox / "kept"
        new = _message(account, folder, "after")
        folder.item_sync_state = item_state
        assert [(kind, item.id) for kind, item in folder.sync_items()] == [("create", new.id)]
        made = Folder(parent=account.inbox, name="made after").save()
        account.inbox.folder_sync_state = folder_state
        assert [(kind, f.id) for kind, f in account.inbox.sync_hierarchy()] == [("create", made.id)]
    close_connections()


def test_a_thousand_changes_synced_in_pages(clean, connect, admin):
    """400 creates, then 600 random updates, read flags, deletes and creates made between
    syncs in pages of 37: no change repeated within a sync, none missed (the replayed
    mirror ends equal to the folder), and exchangelib follows IncludesLastItemInRange."""
    account = connect()
    folder = Folder(parent=account.inbox, name="sync-many").save()
    rng = random.Random(12)
    mirror = {}
    account.bulk_create(folder=folder, items=[
        Message(account=account, folder=folder, subject=f"m {n}", body="x") for n in range(400)])
    changes = 400
    live = list(folder.all().only("id", "changekey", "subject", "is_read"))
    admin.clear_requests()
    while True:
        seen = _apply(mirror, folder.sync_items(max_changes_returned=37, only_fields=["subject"]))
        assert len(set(seen)) == len(seen)
        if changes >= 1000:
            break
        renamed, flagged, deleted = [], [], []
        for item in rng.sample(live, 60):
            action = rng.random()
            if action < 0.4:
                item.subject = f"u {rng.random()}"
                renamed.append(item)
            elif action < 0.7:
                item.is_read = not item.is_read
                flagged.append(item)
            else:
                deleted.append(item)
        account.bulk_update([(item, ["subject"]) for item in renamed])
        account.bulk_update([(item, ["is_read"]) for item in flagged])
        account.bulk_delete(deleted)
        account.bulk_create(folder=folder, items=[
            Message(account=account, folder=folder, subject=f"n {rng.random()}") for _ in range(15)])
        changes += 75
        live = list(folder.all().only("id", "changekey", "subject", "is_read"))
    on_server = {item.id: item.subject for item in folder.all().only("id", "subject")}
    assert mirror == on_server
    pages = [entry for entry in admin.requests() if entry.get("operation") == "SyncFolderItems"]
    assert len(pages) > 1000 // 37
