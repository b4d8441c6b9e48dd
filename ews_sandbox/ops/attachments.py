"""CreateAttachment, GetAttachment and DeleteAttachment, and `store_attachment`, which
turns one t:FileAttachment or t:ItemAttachment of a request into a stored attachment
(CreateItem uses it for the attachments that come inside a new item).

A file attachment keeps its bytes; an item attachment keeps the attached item's XML,
nested attachments included, and is rendered back through the item renderer with
nothing that would address it as a mailbox item (no ItemId, no ParentFolderId).
"""
import base64
import copy
import secrets
from dataclasses import dataclass

from lxml import etree

from ..model import attachments, ids, items
from ..model.properties import SERVER_SET, child, normalize_booleans, parse_bool, parse_item, utc_text
from ..wire import mime
from ..wire.errors import EWSError
from ..wire.item_shape import ItemRenderer, ItemShape, render_attachment_summary
from ..wire.ns import T, local, m, sub, t
from ..wire.soap import respond_each
from ..wire.text import decode_base64

# The item elements an ItemAttachment may hold (ItemAttachmentType's choice).
ATTACHABLE_ITEMS = ("Item", "Message", "CalendarItem", "Contact", "MeetingMessage", "MeetingRequest",
                    "MeetingResponse", "MeetingCancellation", "Task", "PostItem")
# Above this size a GetAttachment answer may stream the content instead of building it in memory.
STREAM_THRESHOLD = 1024 * 1024


# ---- storing ------------------------------------------------------------------------

def store_attachment(ctx, item_row, element):
    """Store one attachment element on `item_row`; returns the new attachment row id.
    The caller refreshes the item's size, HasAttachments and change key afterwards."""
    kind = local(element)
    if kind == "FileAttachment":
        content = _file_content(element)
    elif kind == "ItemAttachment":
        content = _attached_item_xml(element)
    else:
        raise EWSError("ErrorInvalidRequest", f"The sandbox does not store {kind} attachments.")
    name = _text(element, "Name")
    if name is None and kind == "ItemAttachment":  # Exchange names an attached item after its subject
        name = parse_item(content).findtext(t("Subject"))
    return attachments.add(ctx.conn, item_row["id"], kind, name, _text(element, "ContentType"),
                           _text(element, "ContentId"), parse_bool(_text(element, "IsInline")), content)


def _text(element, name):
    value = element.findtext(t(name))
    return value.strip() if value is not None and value.strip() else None


def _file_content(element):
    encoded = element.findtext(t("Content"))
    if encoded is None:
        raise EWSError("ErrorRequiredPropertyMissing", "A file attachment needs its Content.")
    try:
        return decode_base64(encoded)
    except ValueError:
        raise EWSError("ErrorInvalidValueForProperty", "The attachment Content is not valid base64.")


def _attached_item_xml(element):
    inner = next((c for c in element if local(c) in ATTACHABLE_ITEMS), None)
    if inner is None:
        raise EWSError("ErrorMissingItemForCreateItemAttachment",
                       "An item attachment needs the item it attaches.")
    kept = etree.Element(inner.tag, nsmap={"t": T})
    for prop in inner:
        # Nested attachments stay inside the attached item, content and all.
        if local(prop) == "Attachments" or local(prop) not in SERVER_SET:
            kept.append(copy.deepcopy(prop))
    return etree.tostring(normalize_booleans(kept))  # stored as Exchange answers them: true/false


# ---- resolving ids ------------------------------------------------------------------

def resolve(ctx, attachment_id_element):
    """(attachment row without content, parent item row) for a t:AttachmentId,
    refused like items are: malformed id, someone else's mailbox; then an item that is
    gone is ErrorItemNotFound, an attachment gone from its item ErrorInvalidAttachmentId."""
    mailbox_id, item_id, attachment_id = ids.decode_attachment(attachment_id_element.get("Id"))
    ctx.check_access(mailbox_id)
    item_row = items.get(ctx.conn, item_id)
    if item_row["mailbox_id"] != mailbox_id:
        raise EWSError("ErrorItemNotFound")
    attachment = attachments.info(ctx.conn, attachment_id)
    if attachment["item_id"] != item_id:
        raise EWSError("ErrorInvalidAttachmentId", attachments.GONE_TEXT)
    return attachment, item_row


def attachment_id_text(item_row, attachment_id):
    return ids.encode_attachment(item_row["mailbox_id"], item_row["id"], attachment_id)


def created_attachment_ids(conn, item_row, out):
    """CreateItem's answer names each attachment the new item came with (exchangelib
    reads them to give the attachments it sent their ids)."""
    rows = attachments.listing(conn, item_row["id"])
    if not rows:
        return
    container = sub(out, t("Attachments"))
    for attachment in rows:
        node = sub(container, t(attachment["kind"]))
        sub(node, t("AttachmentId"), Id=attachment_id_text(item_row, attachment["id"]),
            RootItemId=items.item_id_text(item_row), RootItemChangeKey=item_row["change_key"])


# ---- CreateAttachment ---------------------------------------------------------------

def create_attachment(ctx, body):
    parent_id = body.find(m("ParentItemId"))
    if parent_id is None:
        raise EWSError("ErrorInvalidRequest", "CreateAttachment needs a ParentItemId.")
    created = []  # (AttachmentId element, parent row id), completed once all are stored

    def handle(element, message):
        parent = ctx.item(parent_id)
        attachment_id = store_attachment(ctx, parent, element)
        node = sub(message.find(m("Attachments")), t(local(element)))
        created.append((sub(node, t("AttachmentId"), Id=attachment_id_text(parent, attachment_id)), parent["id"]))

    response = respond_each("CreateAttachment", list(body.find(m("Attachments"))), handle, container="Attachments")
    _stamp_new_change_keys(ctx, created)
    return response


def _stamp_new_change_keys(ctx, created):
    """Adding attachments changes the parent: each AttachmentId carries its new change key."""
    refreshed = {}
    for parent_id in {parent_id for _, parent_id in created}:
        refreshed[parent_id] = items.refresh_columns(ctx.conn, items.get(ctx.conn, parent_id))
    for element, parent_id in created:
        element.set("RootItemId", items.item_id_text(refreshed[parent_id]))
        element.set("RootItemChangeKey", refreshed[parent_id]["change_key"])


# ---- DeleteAttachment ---------------------------------------------------------------

def delete_attachment(ctx, body):
    def handle(attachment_id, message):
        attachment, item_row = resolve(ctx, attachment_id)
        attachments.delete(ctx.conn, attachment["id"])
        item_row = items.refresh_columns(ctx.conn, item_row)
        sub(message, m("RootItemId"), RootItemId=items.item_id_text(item_row), RootItemChangeKey=item_row["change_key"])

    return respond_each("DeleteAttachment", list(body.find(m("AttachmentIds"))), handle)


# ---- GetAttachment ------------------------------------------------------------------

def get_attachment(ctx, body):
    shape = attachment_shape(body.find(m("AttachmentShape")))

    def handle(attachment_id, message):
        attachment, item_row = resolve(ctx, attachment_id)
        render_attachment(ctx, message.find(m("Attachments")), item_row, attachment, shape)

    return respond_each("GetAttachment", list(body.find(m("AttachmentIds"))), handle, container="Attachments")


def attachment_shape(element):
    """An AttachmentShape read as an item shape: an attached item shows all its
    properties, plus MIME content and extended properties when asked."""
    shape = ItemShape.parse(element) if element is not None else ItemShape()
    shape.base = "AllProperties"
    return shape


def render_attachment(ctx, container, item_row, attachment, shape):
    node = render_attachment_summary(container, item_row, attachment, with_root=False)
    if attachment["kind"] == "FileAttachment":
        _append_content(ctx, node, attachment)
    else:
        xml = attachments.content(ctx.conn, attachment["id"])
        AttachedItemRenderer(ctx.conn, shape).render(_attached_row(item_row, attachment, xml), node)
    return node


def _append_content(ctx, node, attachment):
    deferred = getattr(ctx, "deferred_content", None)
    if deferred is not None and attachment["size"] > STREAM_THRESHOLD:
        stream = DeferredContent(attachment["id"], attachment["size"])
        deferred.append(stream)
        sub(node, t("Content"), stream.token)
        return
    # Bytes straight into lxml: one base64 copy, not a str as well.
    sub(node, t("Content")).text = base64.b64encode(attachments.content(ctx.conn, attachment["id"]))


# ---- attached items -----------------------------------------------------------------

def _attached_row(item_row, attachment, xml):
    """What the item renderer reads from an items row, for an item that lives inside
    an attachment: the root item's mailbox, the attachment's size and times."""
    item = parse_item(xml)
    stored = {name: item.findtext(t(name)) for name in ("DateTimeCreated", "DateTimeReceived", "LastModifiedTime")}
    sender = item.findtext(f"{t('From')}/{t('Mailbox')}/{t('EmailAddress')}") or \
        item.findtext(f"{t('Sender')}/{t('Mailbox')}/{t('EmailAddress')}")
    return {
        "id": None, "mailbox_id": item_row["mailbox_id"], "folder_id": None, "change_key": None,
        "element": local(item), "xml": xml, "size": attachment["size"],
        "has_attachments": int(child(item, "Attachments") is not None and len(child(item, "Attachments")) > 0),
        "is_draft": 0, "is_associated": 0,
        "created": utc_text(stored["DateTimeCreated"]) or attachment["modified"],
        "modified": utc_text(stored["LastModifiedTime"]) or attachment["modified"],
        "received": utc_text(stored["DateTimeReceived"]),
        "sender": sender.casefold() if sender else None,
        # an attached item is saved once, with its message: unmodified unless it says otherwise
        "unmodified": (item.findtext(t("IsUnmodified")) or "true").strip().lower() != "false",
    }


class AttachedItemRenderer(ItemRenderer):
    """An item inside an attachment: not addressable, so no ItemId or ParentFolderId;
    its own attachments come back whole, as they were attached."""

    def _computed_ItemId(self, row, item):
        return None

    def _computed_ParentFolderId(self, row, item):
        return None

    def _computed_Attachments(self, row, item):
        nested = child(item, "Attachments")
        return nested if nested is not None and len(nested) else None

    def _computed_MimeContent(self, row, item):
        element = etree.Element(t("MimeContent"), CharacterSet="UTF-8")
        element.text = base64.b64encode(mime.render(self.conn, row, item))
        return element


# ---- streaming large content ------------------------------------------------------------

@dataclass
class DeferredContent:
    """The base64 text of a large file attachment, left out of the rendered answer
    (a unique token stands in its place) for the server to stream from the database."""
    attachment_id: int
    size: int
    token: str = ""

    SLICE = 3 * 256 * 1024  # a multiple of 3 bytes: the slices' base64 concatenates cleanly

    def __post_init__(self):
        self.token = self.token or f"SANDBOXSTREAM{secrets.token_hex(16)}"

    @property
    def encoded_length(self):
        return 4 * ((self.size + 2) // 3)

    def chunks(self, conn):
        for piece in attachments.content_slices(conn, self.attachment_id, self.SLICE):
            yield base64.b64encode(piece)


OPERATIONS = {"CreateAttachment": create_attachment, "GetAttachment": get_attachment,
              "DeleteAttachment": delete_attachment}
