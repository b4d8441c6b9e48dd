"""Items: stored as the XML element of their type, with query columns beside it."""
from ..wire.errors import EWSError
from ..wire.ns import t
from ..wire.request_check import check_item_values
from . import attachments, calendar, ids, journal, mapi
from .properties import child, fold, normalize_booleans, now_text, parse_bool, parse_item, serialize, utc_text

DEFAULT_CLASS = {"Message": "IPM.Note", "CalendarItem": "IPM.Appointment", "Contact": "IPM.Contact",
                 "DistributionList": "IPM.DistList", "Task": "IPM.Task", "PostItem": "IPM.Post", "Item": "IPM"}


def _sender_address(item):
    for name in ("From", "Sender"):
        address = item.find(f"{t(name)}/{t('Mailbox')}/{t('EmailAddress')}")
        if address is not None and address.text:
            return address.text
    return None


# Exchange keeps at most 255 characters of a subject (PidTagSubject); the rest is dropped
# when the item is saved, and GetItem answers the shortened subject.
SUBJECT_LIMIT = 255


def _query_columns(item, item_id=None, conn=None):
    """The columns queries and sorting use, derived from the item's XML."""
    check_item_values(item)
    normalize_booleans(item)
    if item.tag == t("CalendarItem"):
        calendar.normalize(item)
    subject = child(item, "Subject")
    if subject is not None and subject.text and len(subject.text) > SUBJECT_LIMIT:
        subject.text = subject.text[:SUBJECT_LIMIT]
    sent = child(item, "DateTimeSent")
    is_read = child(item, "IsRead")
    importance = child(item, "Importance")
    item_class = child(item, "ItemClass")
    attachment_bytes, attachment_count = (attachments.totals(conn, item_id) if item_id else (0, 0))
    xml = serialize(item)
    return {
        "item_class": item_class.text if item_class is not None else DEFAULT_CLASS.get(item.tag.split("}")[1], "IPM"),
        "subject": fold(subject.text or "") if subject is not None else None,
        "sent": utc_text(sent.text) if sent is not None else None,
        "is_read": (parse_bool(is_read.text) if is_read is not None else 0) if item.tag == t("Message") else None,
        "importance": fold(importance.text) if importance is not None else "normal",
        "sender": fold(_sender_address(item)),
        "has_attachments": int(attachment_count > 0),
        "size": len(xml) + attachment_bytes,
        "xml": xml,
    }


def insert(conn, folder, item, *, is_draft=False, received=None, associated=False, created=None):
    """Store `item` (an lxml element) in `folder`; returns the new row. `created`: when the
    store made it (default now), for a message seeded as received in the past."""
    stamp = created or now_text()
    by_tag = mapi.absorb(item, first_save=True)  # MAPI properties written by tag become fields
    columns = _query_columns(item)
    # a tag may make a saved message no draft (mfUnsent clear); a sent one never is
    columns.update(mailbox_id=folder["mailbox_id"], folder_id=folder["id"], element=item.tag.split("}")[1],
                   change_key=ids.new_change_key(), is_associated=int(associated),
                   is_draft=int(is_draft and by_tag.get("is_draft", 1)),
                   created=stamp, modified=stamp, received=by_tag.get("received") or received or stamp)
    names = ", ".join(columns)
    cursor = conn.execute(f"INSERT INTO items({names}) VALUES ({', '.join('?' * len(columns))})",
                          tuple(columns.values()))
    return get(conn, cursor.lastrowid)


def save(conn, row, item, **extra):
    """Write back a changed item: new XML, fresh query columns and a new change key.
    A change clears IsUnmodified; a step of the item's creation (attachments filed with
    it, a delivery's rules, a move, an upload) passes `unmodified` to keep or set it."""
    by_tag = mapi.absorb(item, first_save=False)
    columns = _query_columns(item, row["id"], conn)
    columns.update(by_tag, unmodified=0)
    columns.update(extra, change_key=ids.new_change_key(), modified=now_text())
    assignments = ", ".join(f"{name} = ?" for name in columns)
    conn.execute(f"UPDATE items SET {assignments} WHERE id = ?", (*columns.values(), row["id"]))
    return get(conn, row["id"])


def refresh_columns(conn, row, **extra):
    """After an attachment change: recompute size and HasAttachments, new change key."""
    return save(conn, row, parse_item(row["xml"]), **extra)


def kept_unmodified(row):
    """For save() in a step that is no change of the item: IsUnmodified stays as it was."""
    return {"unmodified": row["unmodified"]}


def get(conn, item_id):
    row = conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        raise EWSError("ErrorItemNotFound")
    return row


def item_id_text(row):
    if isinstance(row, dict) and "instance_index" in row:  # an occurrence of a series (model/calendar.py)
        return ids.encode_occurrence(row["mailbox_id"], row["master_id"], row["instance_index"])
    return ids.encode(ids.ITEM, row["mailbox_id"], row["id"])


def move(conn, row, folder):
    """Exchange gives a moved item a new id; the old one is then not found."""
    copied = copy(conn, row, folder, with_attachments=False)
    attachments.move_all(conn, row["id"], copied["id"])
    conn.execute("DELETE FROM items WHERE id = ?", (row["id"],))
    moved = refresh_columns(conn, copied, **kept_unmodified(row))  # a move changes no property
    journal.note_relocation(conn, "move", row, moved)
    return moved


def copy(conn, row, folder, *, with_attachments=True):
    columns = {k: row[k] for k in row.keys() if k != "id"}
    columns.update(mailbox_id=folder["mailbox_id"], folder_id=folder["id"], change_key=ids.new_change_key())
    names = ", ".join(columns)
    cursor = conn.execute(f"INSERT INTO items({names}) VALUES ({', '.join('?' * len(columns))})",
                          tuple(columns.values()))
    if with_attachments:
        attachments.copy_all(conn, row["id"], cursor.lastrowid)
    if row["element"] == "CalendarItem":  # a series' changed and deleted occurrences go along with it
        conn.execute("INSERT INTO calendar_exceptions(master_id, instance_index, original_start, is_deleted, "
                     "change_key, xml) SELECT ?, instance_index, original_start, is_deleted, change_key, xml "
                     "FROM calendar_exceptions WHERE master_id = ?", (cursor.lastrowid, row["id"]))
    copied = get(conn, cursor.lastrowid)
    journal.note_relocation(conn, "copy", row, copied)
    return copied


def delete(conn, row):
    conn.execute("DELETE FROM items WHERE id = ?", (row["id"],))


def discard(conn, row, delete_type):
    """DeleteItem's and EmptyFolder's DeleteType: HardDelete is final; SoftDelete keeps the
    item in the dumpster, out of every folder a client lists; MoveToDeletedItems moves it
    to Deleted Items, or soft-deletes what is there already."""
    from .folders import distinguished
    deleted_items = distinguished(conn, row["mailbox_id"], "deleteditems")
    if delete_type == "MoveToDeletedItems" and row["folder_id"] != deleted_items["id"]:
        move(conn, row, deleted_items)
    elif delete_type == "HardDelete":
        delete(conn, row)
    else:
        move(conn, row, distinguished(conn, row["mailbox_id"], "recoverableitemsdeletions"))
