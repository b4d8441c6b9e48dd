"""UpdateItem: set, append to and delete properties, with change keys enforced under
ConflictResolution=NeverOverwrite, and drafts sent by MessageDisposition."""
import copy

from lxml import etree

from ..model import contacts, delivery, folders, items, tasks
from ..model.properties import SERVER_SET, find_extended
from ..wire.errors import EWSError
from ..wire.ns import T, local, m, sub, t
from ..wire.paths import first_path
from ..wire.schema_order import CHILD_ORDER
from ..wire.soap import respond_each
from ..wire import mime
from . import calendar_view, meetings
from .create_item import _check_recipients, decode_mime

APPENDABLE = frozenset({"Body", "ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo", "RequiredAttendees",
                        "OptionalAttendees", "Resources", "Categories"})


def update_item(ctx, body):
    conflicts = body.get("ConflictResolution", "AutoResolve")
    disposition = body.get("MessageDisposition")
    saved_folder = body.find(m("SavedItemFolderId"))

    def handle(change, message):
        row = ctx.item(change[0], check_change_key=(conflicts == "NeverOverwrite"))
        if row["element"] == "Message" and disposition is None:
            raise EWSError("ErrorMessageDispositionRequired")
        if row["element"] == "CalendarItem" and body.get("SendMeetingInvitationsOrCancellations") is None:
            raise EWSError("ErrorSendMeetingInvitationsOrCancellationsRequired")
        item = etree.fromstring(row["xml"])
        before = etree.fromstring(row["xml"])
        for update in change.find(t("Updates")):
            apply_update(item, update)
        # a recurring task may answer with a new one-off occurrence; an occurrence of a series
        # becomes an exception of it
        if row["element"] == "Task":
            row = tasks.save_update(ctx.conn, row, item)
        else:
            row = calendar_view.save(ctx.conn, row, item)
        row = meetings.after_update(ctx, row, body.get("SendMeetingInvitationsOrCancellations"), before)
        if disposition in ("SendOnly", "SendAndSaveCopy") and row["element"] == "Message":
            _send_updated(ctx, row, item, disposition, saved_folder)
            return
        out = sub(message.find(m("Items")), t(row["element"]))
        sub(out, t("ItemId"), Id=items.item_id_text(row), ChangeKey=row["change_key"])
        results = sub(message, m("ConflictResults"))
        sub(results, t("Count"), "0")

    return respond_each("UpdateItem", list(body.find(m("ItemChanges"))), handle, container="Items")


def apply_update(item, update):
    path = first_path(update)
    action = local(update)
    if path.kind == "field" and path.name == "MimeContent" and action == "SetItemField":
        _set_from_mime(item, _new_value(update, path))
        return
    if path.kind != "extended" and path.name in SERVER_SET:
        raise EWSError("ErrorInvalidPropertySet", f"The property {path.uri} is read-only.")
    if path.kind != "extended" and path.name not in CHILD_ORDER.get(local(item), CHILD_ORDER["Item"]):
        raise EWSError("ErrorInvalidPropertySet", f"The property {path.uri} does not belong to a {local(item)}.")
    if action == "DeleteItemField":
        _delete(item, path)
        return
    new = _new_value(update, path)
    if action == "AppendToItemField":
        _append(item, path, new)
    else:
        _set(item, path, new)


def _new_value(update, path):
    """The property element inside the wrapper item of a Set or Append."""
    wrapper = update[-1]
    if path.kind == "extended":
        found = find_extended(wrapper, path.uri_element())
    else:
        found = wrapper.find(f"{{{T}}}{path.name}")
    if found is None:
        raise EWSError("ErrorInvalidPropertySet" if local(update) == "SetItemField" else "ErrorInvalidPropertyAppend",
                       f"The update names {path.uri} but carries no value for it.")
    return copy.deepcopy(found)


def _set_from_mime(item, content):
    """Setting MimeContent rewrites the properties the MIME carries (subject, body,
    addresses, ids, date); Exchange accepts it on an item not yet sent."""
    mime.to_properties(item, decode_mime(content), replace=True)


def _set(item, path, new):
    if path.kind == "extended":
        _remove(item, find_extended(item, path.uri_element()))
        item.append(new)
    elif path.kind == "indexed":
        contacts.set_entry(item, path, new)
    else:
        contacts.check_name_update(path.name, new)
        for old in item.findall(f"{{{T}}}{path.name}"):
            item.remove(old)
        item.append(new)


def _append(item, path, new):
    if path.kind != "field" or path.name not in APPENDABLE:
        raise EWSError("ErrorInvalidPropertyAppend", f"The property {path.uri} cannot be appended to.")
    existing = item.find(f"{{{T}}}{path.name}")
    if existing is None:
        item.append(new)
    elif path.name == "Body":
        existing.text = (existing.text or "") + (new.text or "")
    else:
        for entry in new:
            existing.append(entry)


def _delete(item, path):
    if path.kind == "extended":
        _remove(item, find_extended(item, path.uri_element()))
    elif path.kind == "indexed":
        contacts.delete_entry(item, path)
    else:
        for old in item.findall(f"{{{T}}}{path.name}"):
            item.remove(old)


def _remove(parent, element):
    if element is not None:
        parent.remove(element)


def _send_updated(ctx, row, item, disposition, saved_folder):
    _check_recipients(item)
    sender = ctx.mailbox_row(row["mailbox_id"])
    delivery.check_send_as(item, sender, ctx.actor)
    target = None
    if disposition != "SendOnly":  # every target is checked before anything is delivered
        target = ctx.target_folder(saved_folder) if saved_folder is not None else \
            folders.distinguished(ctx.conn, row["mailbox_id"], "sentitems")
    delivery.stamp_sent(ctx.conn, item, sender)
    row = items.save(ctx.conn, row, item, is_draft=0, unmodified=1)  # the sent copy starts afresh
    delivery.deliver(ctx.conn, item, source_item_id=row["id"])
    if target is None:
        items.delete(ctx.conn, row)
    else:
        items.move(ctx.conn, row, target)


OPERATIONS = {"UpdateItem": update_item}
