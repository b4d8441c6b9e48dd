"""SyncFolderItems and SyncFolderHierarchy: the changes since a sync state.

A first sync (no state) lists what is there as creates, paged by item id up to the
highest id of its snapshot; later syncs read the change journal after the state's
position and answer the net change of each object: an item created and deleted since
the state is not reported, one only marked read or unread is a ReadFlagChange. A page
stops before the change that would pass MaxChangesReturned; its state is the journal
position of the last change it covered, so no change is skipped or repeated.
"""
from ..model import folders, ids, items, journal, sync_state
from ..wire.errors import EWSError
from ..wire.item_shape import ItemRenderer, ItemShape
from ..wire.ns import m, sub, t
from ..wire.soap import respond_each, schema_fault
from .folders import FolderShape, render_folder

CHANGE_ACTIONS = ("create", "update", "read", "delete", "move")


def _state(ctx, body, kind, scope_id):
    text = body.findtext(m("SyncState"))
    if not text or not text.strip():
        return None
    state = sync_state.decode(ctx.conn, text)
    if state.get("k") != kind or state.get("f") != scope_id:  # another folder's, or the other operation's
        raise EWSError("ErrorInvalidSyncStateData", sync_state.INVALID_TEXT)
    return state


def net_changes(rows, start_seq):
    """{object id: (change, last row)} over `rows` (journal rows after `start_seq`, in
    order): 'create', 'update', 'read' or 'delete', or nothing when the object was
    created and deleted in between."""
    first, last, only_reads = {}, {}, {}
    for row in rows:
        first.setdefault(row["object_id"], row)
        last[row["object_id"]] = row
        only_reads[row["object_id"]] = only_reads.get(row["object_id"], True) and row["action"] == "read"
    changes = {}
    for object_id, row in last.items():
        existed = first[object_id]["action"] != "create"
        exists = row["action"] != "delete"
        if existed and exists:
            changes[object_id] = ("read" if only_reads[object_id] else "update", row)
        elif existed:
            changes[object_id] = ("delete", row)
        elif exists:
            changes[object_id] = ("create", row)
    return changes


def _page(rows, limit):
    """The rows of the first `limit` objects to change, up to the first row of the next."""
    seen, taken = set(), []
    for row in rows:
        if row["object_id"] not in seen and len(seen) == limit:
            return taken, False
        seen.add(row["object_id"])
        taken.append(row)
    return taken, True


# ---- items ----
def sync_folder_items(ctx, body):
    shape_element = body.find(m("ItemShape"))
    if shape_element is None:
        raise schema_fault("The element 'SyncFolderItems' has incomplete content: ItemShape is expected.")
    renderer = ItemRenderer(ctx.conn, ItemShape.parse(shape_element))
    limit = _max_changes(body)
    with_associated = (body.findtext(m("SyncScope")) or "NormalItems").strip() == "NormalAndAssociatedItems"
    ignored = _ignored_ids(body.find(m("Ignore")))

    def handle(folder_element, message):
        folder = ctx.folder(folder_element)
        state = _state(ctx, body, "items", folder["id"])
        if state is None:
            top = ctx.conn.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]
            state = {"k": "items", "f": folder["id"], "s": journal.last_seq(ctx.conn), "x": top, "l": 0}
        changes = sub(message, t("scratch"))
        if state.get("x") is not None:
            done = _list_items(ctx, folder, state, limit, with_associated, ignored, renderer, changes)
        else:
            done = _item_changes(ctx, folder, state, limit, with_associated, ignored, renderer, changes)
        message.remove(changes)
        sub(message, m("SyncState"), sync_state.encode(ctx.conn, state))
        sub(message, m("IncludesLastItemInRange"), "true" if done else "false")
        out = sub(message, m("Changes"))
        out.extend(list(changes))

    folder_id = body.find(m("SyncFolderId"))
    if folder_id is None or len(folder_id) == 0:
        raise schema_fault("The element 'SyncFolderItems' has incomplete content: SyncFolderId is expected.")
    return respond_each("SyncFolderItems", [folder_id[0]], handle)


def _list_items(ctx, folder, state, limit, with_associated, ignored, renderer, changes):
    """A first sync's page: the folder's items as creates, by id, up to the snapshot's top id."""
    associated = "" if with_associated else " AND is_associated = 0"
    rows = ctx.conn.execute(f"SELECT * FROM items WHERE folder_id = ? AND id > ? AND id <= ?{associated}"
                            " ORDER BY id LIMIT ?", (folder["id"], state["l"], state["x"], limit + 1)).fetchall()
    for row in rows[:limit]:
        if row["id"] not in ignored:
            renderer.render(row, sub(changes, t("Create")))
        state["l"] = row["id"]
    if len(rows) > limit:
        return False
    del state["x"], state["l"]  # listed: later syncs read the journal from the snapshot on
    return True


def _item_changes(ctx, folder, state, limit, with_associated, ignored, renderer, changes):
    upto = journal.last_seq(ctx.conn)
    rows = [row for row in journal.rows_after(ctx.conn, state["s"], folder_id=folder["id"], kind="item", upto=upto)
            if row["action"] in CHANGE_ACTIONS and (with_associated or not row["flags"] & journal.ITEM_ASSOCIATED)]
    taken, done = _page(rows, limit)
    for item_id, (change, row) in net_changes(taken, state["s"]).items():
        if item_id in ignored:
            continue
        if change == "delete":
            node = sub(changes, t("Delete"))
            sub(node, t("ItemId"), Id=ids.encode(ids.ITEM, row["mailbox_id"], item_id), ChangeKey=row["change_key"])
            continue
        current = ctx.conn.execute("SELECT * FROM items WHERE id = ? AND folder_id = ?",
                                   (item_id, folder["id"])).fetchone()
        if current is None:  # gone since: its delete comes with the page that covers it
            continue
        if change == "read":
            node = sub(changes, t("ReadFlagChange"))
            sub(node, t("ItemId"), Id=items.item_id_text(current), ChangeKey=current["change_key"])
            sub(node, t("IsRead"), "true" if current["is_read"] else "false")
        else:
            renderer.render(current, sub(changes, t("Create" if change == "create" else "Update")))
    state["s"] = upto if done else taken[-1]["seq"]
    return done


def _max_changes(body):
    text = (body.findtext(m("MaxChangesReturned")) or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= 512:  # MaxSyncChangesReturnedType: 1..512
        raise schema_fault("The request failed schema validation: MaxChangesReturned must be from 1 to 512.")
    return int(text)


def _ignored_ids(container):
    """Ids to leave out; one that is not an item id of this sandbox matches nothing."""
    found = set()
    for element in (container if container is not None else []):
        try:
            found.add(ids.decode(element.get("Id"), ids.ITEM)[1])
        except EWSError:
            continue
    return found


# ---- folders ----
def sync_folder_hierarchy(ctx, body):
    shape = FolderShape(body.find(m("FolderShape")))

    def handle(root, message):
        state = _state(ctx, body, "folders", root["id"])
        changes = sub(message, t("scratch"))
        upto = journal.last_seq(ctx.conn)
        if state is None:
            for row in folders.descendants(ctx.conn, root["id"]):
                render_folder(ctx.conn, row, shape, sub(changes, t("Create")))
        else:
            _folder_changes(ctx, root, state["s"], upto, shape, changes)
        message.remove(changes)
        sub(message, m("SyncState"), sync_state.encode(ctx.conn, {"k": "folders", "f": root["id"], "s": upto}))
        sub(message, m("IncludesLastFolderInRange"), "true")
        out = sub(message, m("Changes"))
        out.extend(list(changes))

    sync_folder = body.find(m("SyncFolderId"))
    if sync_folder is not None and len(sync_folder):
        root = ctx.folder(sync_folder[0])
    else:  # without SyncFolderId, the whole mailbox
        root = folders.distinguished(ctx.conn, ctx.mailbox_id, "root")
        ctx.check_access(root["mailbox_id"], root)
    return respond_each("SyncFolderHierarchy", [root], handle)


def _folder_changes(ctx, root, start, upto, shape, changes):
    rows = journal.rows_after(ctx.conn, start, mailbox_id=root["mailbox_id"], kind="folder", upto=upto)
    within = {root["id"]} | {row["id"] for row in folders.descendants(ctx.conn, root["id"])}
    grown = True
    while grown:  # folders made and removed since the state: under the root if their parent was
        before = len(within)
        within |= {row["object_id"] for row in rows if row["folder_id"] in within}
        grown = len(within) != before
    within.discard(root["id"])
    relevant = [row for row in rows if row["object_id"] in within]
    for folder_id, (change, row) in net_changes(relevant, start).items():
        if change == "delete":
            node = sub(changes, t("Delete"))
            sub(node, t("FolderId"), Id=ids.encode(ids.FOLDER, row["mailbox_id"], folder_id),
                ChangeKey=row["change_key"])
            continue
        current = ctx.conn.execute("SELECT * FROM folders WHERE id = ?", (folder_id,)).fetchone()
        if current is not None:
            render_folder(ctx.conn, current, shape, sub(changes, t("Create" if change == "create" else "Update")))


OPERATIONS = {
    "SyncFolderItems": sync_folder_items,
    "SyncFolderHierarchy": sync_folder_hierarchy,
}
