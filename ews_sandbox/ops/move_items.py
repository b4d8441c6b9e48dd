"""DeleteItem, MoveItem, CopyItem, ArchiveItem and MarkAsJunk: items changing folders."""
from ..model import folders, items
from ..wire.errors import EWSError
from ..wire.ns import m, sub, t
from ..wire.soap import respond_each, schema_fault
from . import calendar_view, meetings
from .context import item_ids


def _item_id_element(parent, row):
    out = sub(parent, t(row["element"]))
    sub(out, t("ItemId"), Id=items.item_id_text(row), ChangeKey=row["change_key"])


DELETE_TYPES = ("HardDelete", "SoftDelete", "MoveToDeletedItems")


def delete_type(body):
    """The required DeleteType attribute; a request without it fails schema validation."""
    value = body.get("DeleteType")
    if value not in DELETE_TYPES:
        raise schema_fault(f"The request failed schema validation: DeleteType must be one of {', '.join(DELETE_TYPES)}.")
    return value


def delete_item(ctx, body):
    mode = delete_type(body)

    def handle(item_id, message):
        row = ctx.item(item_id)
        if row["element"] == "CalendarItem" and body.get("SendMeetingCancellations") is None:
            raise EWSError("ErrorSendMeetingCancellationsRequired")
        if meetings.before_delete(ctx, row, body.get("SendMeetingCancellations")):
            return
        if calendar_view.is_occurrence(row):
            calendar_view.delete(ctx.conn, row)
            return
        items.discard(ctx.conn, row, mode)

    return respond_each("DeleteItem", item_ids(body.find(m("ItemIds"))), handle)


def _relocating(operation, relocate):
    """MoveItem and CopyItem share their shape: ToFolderId, ItemIds, new ids back."""
    def handler(ctx, body):
        target = ctx.target_folder(body.find(m("ToFolderId")))
        ctx.check_access(target["mailbox_id"])
        # an element, not an attribute; across mailboxes Exchange returns no new ids
        return_ids = (body.findtext(m("ReturnNewItemIds")) or "true").strip().lower() == "true"

        def handle(item_id, message):
            source = ctx.item(item_id)
            row = relocate(ctx.conn, source, target)
            if return_ids and row["mailbox_id"] == source["mailbox_id"]:
                _item_id_element(message.find(m("Items")), row)

        return respond_each(operation, item_ids(body.find(m("ItemIds"))), handle, container="Items")
    return handler


def archive_item(ctx, body):
    """Items go to the mailbox's online archive, into the folder at the path of the
    ArchiveSourceFolderId folder ("the destination folder for those items", as the reference
    puts it; its example archives with Inbox into the archive's Inbox)."""
    source = ctx.target_folder(body.find(m("ArchiveSourceFolderId")))
    destination = folders.archive_counterpart(ctx.conn, source)

    def handle(item_id, message):
        row = ctx.item(item_id)
        if folders.in_archive(ctx.conn, folders.get(ctx.conn, row["folder_id"])):
            raise EWSError("ErrorCannotArchiveItemsInArchiveMailbox",
                           "Items that are already in the archive mailbox cannot be archived.")
        _item_id_element(message.find(m("Items")), items.move(ctx.conn, row, destination))

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
