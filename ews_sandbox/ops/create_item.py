"""CreateItem (save, send, send and keep a copy; replies and forwards) and SendItem."""
import copy

from lxml import etree

from ..model import attachments, delivery, folders, items, tasks
from ..model.properties import SERVER_SET, child
from ..wire import mime
from ..wire.errors import EWSError
from ..wire.item_shape import body_as_html, body_as_text
from ..wire.ns import T, local, m, sub, t
from ..wire.soap import respond_each
from ..wire.text import decode_base64
from . import meetings
from .mail_tips import MAX_MESSAGE_SIZE
from .attachments import created_attachment_ids, store_attachment
from .context import item_ids

ITEM_ELEMENTS = ("Message", "CalendarItem", "Contact", "DistributionList", "Task", "PostItem", "Item")
RESPONSE_OBJECTS = ("ReplyToItem", "ReplyAllToItem", "ForwardItem")
DEFAULT_FOLDER = {"Message": "drafts", "CalendarItem": "calendar", "Contact": "contacts",
                  "DistributionList": "contacts", "Task": "tasks", "PostItem": "inbox", "Item": "drafts"}


def create_item(ctx, body):
    disposition = body.get("MessageDisposition")
    saved_folder = body.find(m("SavedItemFolderId"))
    target = ctx.target_folder(saved_folder) if saved_folder is not None else None

    def handle(element, message):
        kind = local(element)
        forwarded_from = None
        if kind in meetings.RESPONSE_OBJECTS:
            meetings.create_response(ctx, element, disposition, message)
            return
        if kind in RESPONSE_OBJECTS:
            element, forwarded_from = build_response_message(ctx, element)
            kind = "Message"
        elif kind not in ITEM_ELEMENTS:
            raise EWSError("ErrorInvalidRequest", f"The sandbox does not create {kind} items yet.")
        if kind == "Message" and disposition is None:
            raise EWSError("ErrorMessageDispositionRequired")
        if kind == "CalendarItem" and body.get("SendMeetingInvitations") is None:
            raise EWSError("ErrorSendMeetingInvitationsRequired")
        if disposition == "SendOnly" and saved_folder is not None:
            raise EWSError("ErrorInvalidSendItemSaveSettings", "SendOnly keeps no copy: drop SavedItemFolderId.")
        row = store_new(ctx, element, target, disposition if kind == "Message" else "SaveOnly", forwarded_from)
        row = meetings.after_create(ctx, row, body.get("SendMeetingInvitations"))
        if row is not None:
            out = sub(message.find(m("Items")), t(row["element"]))
            sub(out, t("ItemId"), Id=items.item_id_text(row), ChangeKey=row["change_key"])
            created_attachment_ids(ctx.conn, row, out)

    return respond_each("CreateItem", list(body.find(m("Items"))), handle, container="Items")


def store_new(ctx, element, target, disposition, attachments_from=None):
    """Save, send, or both; returns the saved row (None when nothing is kept).
    `attachments_from`: the item whose attachments travel along (a forward)."""
    kind = local(element)
    item = _clean_copy(element)
    if kind == "Task":
        tasks.on_create(item)
    mime_attachments = _import_mime(element, item)
    incoming = element.find(t("Attachments"))
    sender = ctx.mailbox_row(target["mailbox_id"] if target is not None else None)  # a delegate's copy: the owner's
    if disposition in ("SendOnly", "SendAndSaveCopy"):
        _check_recipients(item)
        delivery.check_send_as(item, sender, ctx.actor)
        delivery.stamp_sent(ctx.conn, item, sender)
    elif kind == "Message" and child(item, "IsRead") is None:
        etree.SubElement(item, t("IsRead")).text = "true"
    if disposition == "SendOnly":
        folder = folders.distinguished(ctx.conn, sender["id"], "sentitems")  # a scratch row, removed below
    elif disposition == "SendAndSaveCopy":
        folder = target or folders.distinguished(ctx.conn, sender["id"], "sentitems")
    else:
        folder = target or folders.distinguished(ctx.conn, ctx.mailbox_id, DEFAULT_FOLDER[kind])
    # saving into another's folder takes the right to create items there (a delegate's Editor level)
    ctx.check_access(folder["mailbox_id"], folder if disposition == "SaveOnly" else None)
    row = items.insert(ctx.conn, folder, item, is_draft=(kind == "Message" and disposition == "SaveOnly"))
    _add_attachments(ctx, row, incoming, mime_attachments, attachments_from)
    if attachments.totals(ctx.conn, row["id"])[1]:  # filed with the item: part of its creation
        row = items.refresh_columns(ctx.conn, row, **items.kept_unmodified(row))
    if disposition in ("SendOnly", "SendAndSaveCopy"):
        delivery.deliver(ctx.conn, item, source_item_id=row["id"])
    if disposition == "SendOnly":
        items.delete(ctx.conn, row)
        return None
    return None if disposition == "SendAndSaveCopy" else row


def _clean_copy(element):
    """The properties a client may set; what the server keeps is dropped."""
    item = etree.Element(element.tag, nsmap={"t": T})
    for prop in element:
        if local(prop) not in SERVER_SET:
            item.append(copy.deepcopy(prop))
    return item


def _import_mime(element, item):
    content = element.find(t("MimeContent"))
    if content is None or not (content.text or "").strip():
        return []
    raw = decode_mime(content)
    if len(raw) > MAX_MESSAGE_SIZE:  # this element fails; the others of the request are still created
        raise EWSError("ErrorMessageSizeExceeded", f"The message is {len(raw)} bytes; the maximum is {MAX_MESSAGE_SIZE}.")
    return mime.to_properties(item, raw)


def decode_mime(content):
    """The bytes of a t:MimeContent element."""
    try:
        return decode_base64(content.text)
    except ValueError:
        raise EWSError("ErrorMimeContentInvalidBase64String", "MimeContent is not valid base64.")


def _check_recipients(item):
    if not delivery.recipient_addresses(item):
        raise EWSError("ErrorInvalidRecipients", "At least one recipient is required to send a message.")


def _add_attachments(ctx, row, incoming, mime_attachments, source_item_id):
    if source_item_id:
        attachments.copy_all(ctx.conn, source_item_id, row["id"])
    for name, content_type, content_id, content in mime_attachments:
        attachments.add(ctx.conn, row["id"], "FileAttachment", name, content_type, content_id, False, content or b"")
    if incoming is None:
        return
    for attachment in incoming:
        store_attachment(ctx, row, attachment)


# ---- replies and forwards ----------------------------------------------------------

def build_response_message(ctx, element):
    """Turn ReplyToItem / ReplyAllToItem / ForwardItem into the message it stands for;
    returns it with the id of the item whose attachments a forward carries."""
    kind = local(element)
    reference = element.find(t("ReferenceItemId"))
    if reference is None:
        raise EWSError("ErrorInvalidRequest", f"{kind} needs a ReferenceItemId.")
    original_row = ctx.item(reference)
    original = etree.fromstring(original_row["xml"])
    me = ctx.mailbox_row()
    message = etree.Element(t("Message"), nsmap={"t": T})
    prefix = "FW: " if kind == "ForwardItem" else "RE: "
    subject = element.findtext(t("Subject")) or prefix + delivery.conversation_topic(original.findtext(t("Subject")) or "")
    sub(message, t("Subject"), subject)
    sub(message, t("Body"), _quoted_body(element, original), BodyType=_body_type(element, original))
    for prop in element.findall(t("ExtendedProperty")):  # a response object is a MessageType: its own properties
        message.append(copy.deepcopy(prop))
    for name in ("ToRecipients", "CcRecipients", "BccRecipients"):
        given = element.find(t(name))
        if given is not None:
            message.append(copy.deepcopy(given))
    if kind != "ForwardItem" and element.find(t("ToRecipients")) is None:
        _reply_recipients(message, original, me, reply_all=kind == "ReplyAllToItem")
    if original.findtext(t("InternetMessageId")):
        sub(message, t("InReplyTo"), original.findtext(t("InternetMessageId")))
        references = " ".join(filter(None, [original.findtext(t("References")), original.findtext(t("InternetMessageId"))]))
        sub(message, t("References"), references)
    return message, original_row["id"] if kind == "ForwardItem" else None


def _body_type(element, original):
    new = element.find(t("NewBodyContent"))
    if original.find(t("Body")) is not None and original.find(t("Body")).get("BodyType") == "HTML":
        return "HTML"
    return new.get("BodyType", "Text") if new is not None else "Text"


def _quoted_body(element, original):
    new = element.find(t("NewBodyContent"))
    old = original.find(t("Body"))
    sender = original.findtext(f"{t('From')}/{t('Mailbox')}/{t('Name')}") or \
        original.findtext(f"{t('From')}/{t('Mailbox')}/{t('EmailAddress')}") or ""
    header = f"From: {sender}\nSent: {original.findtext(t('DateTimeSent')) or ''}\nSubject: {original.findtext(t('Subject')) or ''}"
    if _body_type(element, original) == "HTML":
        new_html = body_as_html(new) if new is not None else ""
        old_html = body_as_html(old) if old is not None else ""
        return f"{new_html}<hr><div>{header.replace(chr(10), '<br>')}</div>{old_html}"
    new_text = body_as_text(new) if new is not None else ""
    old_text = body_as_text(old) if old is not None else ""
    return f"{new_text}\n\n________________________________\n{header}\n\n{old_text}"


def _reply_recipients(message, original, me, reply_all):
    # replies go to the original's Reply-To when it names any, else to its From (or Sender)
    author = next((original.find(t(name)) for name in ("ReplyTo", "From", "Sender")
                   if original.find(f"{t(name)}/{t('Mailbox')}") is not None), None)
    to = sub(message, t("ToRecipients"))
    seen = {me["email"].casefold()}

    def add(container, mailbox):
        address = (mailbox.findtext(t("EmailAddress")) or "").casefold()
        if address and address not in seen:
            seen.add(address)
            container.append(copy.deepcopy(mailbox))

    if author is not None:
        for mailbox in author.iter(t("Mailbox")):
            seen.discard((mailbox.findtext(t("EmailAddress")) or "").casefold())  # replying to oneself is allowed
            add(to, mailbox)
    if reply_all:
        for mailbox in original.iterfind(f"{t('ToRecipients')}/{t('Mailbox')}"):
            add(to, mailbox)
        cc = etree.Element(t("CcRecipients"))
        for mailbox in original.iterfind(f"{t('CcRecipients')}/{t('Mailbox')}"):
            add(cc, mailbox)
        if len(cc):
            message.append(cc)


# ---- SendItem -----------------------------------------------------------------------

def send_item(ctx, body):
    keep = body.get("SaveItemToFolder", "true").lower() == "true"
    saved_folder = body.find(m("SavedItemFolderId"))
    if not keep and saved_folder is not None:
        raise EWSError("ErrorInvalidSendItemSaveSettings", "SaveItemToFolder is false but a SavedItemFolderId is given.")

    def handle(item_id, message):
        row = ctx.item(item_id, check_change_key=True)
        item = etree.fromstring(row["xml"])
        _check_recipients(item)
        sender = ctx.mailbox_row(row["mailbox_id"])
        delivery.check_send_as(item, sender, ctx.actor)
        target = None
        if keep:  # every target is checked before anything is delivered
            target = ctx.target_folder(saved_folder) if saved_folder is not None else \
                folders.distinguished(ctx.conn, row["mailbox_id"], "sentitems")
        delivery.stamp_sent(ctx.conn, item, sender)
        row = items.save(ctx.conn, row, item, is_draft=0, unmodified=1)  # the sent copy starts afresh
        delivery.deliver(ctx.conn, item, source_item_id=row["id"])
        if keep:
            items.move(ctx.conn, row, target)
        else:
            items.delete(ctx.conn, row)

    return respond_each("SendItem", item_ids(body.find(m("ItemIds"))), handle)


OPERATIONS = {"CreateItem": create_item, "SendItem": send_item}
