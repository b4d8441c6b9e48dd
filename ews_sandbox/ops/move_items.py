"""DeleteItem, MoveItem, CopyItem, ArchiveItem and MarkAsJunk: items changing folders."""
from ..model import folders, items
from ..wire.errors import EWSError
from ..wire.ns import m, sub, t
from ..wire.soap import respond_each
from .context import item_ids


def _item_id_element(parent, row):
    out = sub(parent, t(row["element"]))
    sub(out, t("ItemId"), Id=items.item_id_text(row), ChangeKey=row["change_key"])


def delete_item(ctx, body):
    mode = body.get("DeleteType")
    if mode not in ("HardDelete", "SoftDelete", "MoveToDeletedItems"):
        raise EWSError("ErrorInvalidRequest", "DeleteType must be HardDelete, SoftDelete or MoveToDeletedItems.")

    def handle(item_id, message):
        row = ctx.item(item_id)
        deleted_items = folders.distinguished(ctx.conn, row["mailbox_id"], "deleteditems")
        if mode == "MoveToDeletedItems" and row["folder_id"] != deleted_items["id"]:
            items.move(ctx.conn, row, deleted_items)
        elif mode == "HardDelete":
            items.delete(ctx.conn, row)
        else:  # a soft delete keeps the item in the dumpster, out of every folder a client lists
            items.move(ctx.conn, row, folders.distinguished(ctx.conn, row["mailbox_id"], "recoverableitemsdeletions"))

    return respond_each("DeleteItem", item_ids(body.find(m("ItemIds"))), handle)


def _relocating(operation, relocate):
    """MoveItem and CopyItem share their shape: ToFolderId, ItemIds, new ids back."""
    def handler(ctx, body):
        target = ctx.target_folder(body.find(m("ToFolderId")))
        ctx.check_access(target["mailbox_id"])
        return_ids = body.get("ReturnNewItemIds", "true").lower() == "true"

        def handle(item_id, message):
            row = relocate(ctx.conn, ctx.item(item_id), target)
            if return_ids:
                _item_id_element(message.find(m("Items")), row)

        return respond_each(operation, item_ids(body.find(m("ItemIds"))), handle, container="Items")
    return handler


def archive_item(ctx, body):
    """Items go to the mailbox's online archive, into the folder matching their own."""
    source = body.find(m("ArchiveSourceFolderId"))
    if source is not None and len(source):
        ctx.target_folder(source)  # must exist and be reachable

    def handle(item_id, message):
        row = ctx.item(item_id)
        archive = folders.archive_counterpart(ctx.conn, folders.get(ctx.conn, row["folder_id"]))
        _item_id_element(message.find(m("Items")), items.move(ctx.conn, row, archive))

    return respond_each("ArchiveItem", item_ids(body.find(m("ItemIds"))), handle, container="Items")


def mark_as_junk(ctx, body):
    is_junk = body.get("IsJunk", "true").lower() == "true"
    move = body.get("MoveItem", "true").lower() == "true"

    def handle(item_id, message):
        row = ctx.item(item_id)
        if not move:
            return
        target = folders.distinguished(ctx.conn, row["mailbox_id"], "junkemail" if is_junk else "inbox")
        moved = row if row["folder_id"] == target["id"] else items.move(ctx.conn, row, target)
        sub(message, m("MovedItemId"), Id=items.item_id_text(moved), ChangeKey=moved["change_key"])

    return respond_each("MarkAsJunk", item_ids(body.find(m("ItemIds"))), handle)


OPERATIONS = {
    "DeleteItem": delete_item,
    "MoveItem": _relocating("MoveItem", items.move),
    "CopyItem": _relocating("CopyItem", items.copy),
    "ArchiveItem": archive_item,
    "MarkAsJunk": mark_as_junk,
}
