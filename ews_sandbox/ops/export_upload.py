"""ExportItems and UploadItems: items out of a mailbox as opaque streams, and back in.

UploadItems' CreateAction (Microsoft's "Item (UploadItemType)" page): CreateNew makes a
new item in ParentFolderId and must come without an ItemId; Update overwrites the item
ItemId names, which must be in ParentFolderId; UpdateOrCreate updates that item when it
is there and otherwise creates a new one.
"""
import base64
import binascii

from lxml import etree

from ..model import item_stream, items
from ..model.properties import parse_bool
from ..wire.errors import EWSError
from ..wire.ns import m, sub, t
from ..wire.soap import respond_each, schema_fault
from .context import item_ids

CREATE_ACTIONS = ("CreateNew", "Update", "UpdateOrCreate")


def export_items(ctx, body):
    def handle(item_id, message):
        row = ctx.item(item_id)
        sub(message, m("ItemId"), Id=items.item_id_text(row), ChangeKey=row["change_key"])
        sub(message, m("Data"), base64.b64encode(item_stream.pack(ctx.conn, row)).decode())

    return respond_each("ExportItems", item_ids(body.find(m("ItemIds"))), handle)


def upload_items(ctx, body):
    container = body.find(m("Items"))
    uploads = list(container) if container is not None else []
    for upload in uploads:  # a wrong action is the schema's to refuse, before anything is written
        if upload.get("CreateAction") not in CREATE_ACTIONS:
            raise schema_fault(f"The 'CreateAction' attribute is invalid: the value '{upload.get('CreateAction')}' "
                               f"is not one of {', '.join(CREATE_ACTIONS)}.")

    def handle(upload, message):
        row = _upload(ctx, upload)
        sub(message, m("ItemId"), Id=items.item_id_text(row), ChangeKey=row["change_key"])

    return respond_each("UploadItems", uploads, handle)


def _upload(ctx, upload):
    action = upload.get("CreateAction")
    folder = _parent_folder(ctx, upload.find(t("ParentFolderId")))
    item_id = upload.find(t("ItemId"))
    associated = upload.get("IsAssociated")
    state, item = item_stream.unpack(_data(upload))
    if action == "CreateNew":
        if item_id is not None:
            raise EWSError("ErrorInvalidRequest", "CreateNew makes a new item: it takes no ItemId.")
    else:
        existing = _existing(ctx, item_id, folder, required=(action == "Update"))
        if existing is not None:
            return item_stream.restore_over(ctx.conn, existing, state, item)
    return item_stream.restore_new(ctx.conn, folder, state, item,
                                   associated=parse_bool(associated) if associated is not None else None)


def _parent_folder(ctx, parent):
    """ParentFolderId of an upload is a folder id itself (FolderIdType), not a container."""
    if parent is None:
        raise schema_fault("The element 'Item' has incomplete content: ParentFolderId is expected.")
    folder = ctx.folder(etree.Element(t("FolderId"), Id=parent.get("Id") or ""))
    ctx.check_access(folder["mailbox_id"])
    return folder


def _existing(ctx, item_id, folder, required):
    """The item an Update names, in the folder the upload names; None where
    UpdateOrCreate may create instead."""
    if item_id is None:
        if required:
            raise EWSError("ErrorInvalidRequest", "Update needs the ItemId of the item to overwrite.")
        return None
    try:
        row = ctx.item(item_id)
    except EWSError as error:
        if required or error.code != "ErrorItemNotFound":
            raise
        return None
    if row["folder_id"] != folder["id"]:
        if required:
            raise EWSError("ErrorItemNotFound", "The item is not in the folder ParentFolderId names.")
        return None
    return row


def _data(upload):
    text = upload.findtext(t("Data")) or ""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EWSError("ErrorCorruptData", "Data is not valid base64.")


OPERATIONS = {"ExportItems": export_items, "UploadItems": upload_items}
