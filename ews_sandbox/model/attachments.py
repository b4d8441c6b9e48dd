"""Attachments of items: file bytes or an attached item's XML, stored beside the item."""
import sqlite3

from ..wire.errors import EWSError
from .properties import now_text

# What the sandbox says when an attachment id names an attachment its item no longer has.
GONE_TEXT = "The attachment could not be found on its item."
_COLUMNS = "item_id, kind, name, content_type, content_id, is_inline, modified, size, content"


def add(conn, item_id, kind, name, content_type, content_id, is_inline, content):
    cursor = conn.execute(
        f"INSERT INTO attachments({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (item_id, kind, name, content_type, content_id, int(is_inline), now_text(), len(content), content))
    return cursor.lastrowid


def listing(conn, item_id):
    """Attachment rows without their content, in the order they were added."""
    return conn.execute(
        "SELECT id, item_id, kind, name, content_type, content_id, is_inline, modified, size"
        " FROM attachments WHERE item_id = ? ORDER BY id", (item_id,)).fetchall()


def get(conn, attachment_id):
    row = conn.execute("SELECT * FROM attachments WHERE id = ?", (attachment_id,)).fetchone()
    if row is None:
        raise EWSError("ErrorInvalidAttachmentId", GONE_TEXT)
    return row


def totals(conn, item_id):
    size, count = conn.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM attachments WHERE item_id = ?",
                               (item_id,)).fetchone()
    return size, count


def copy_all(conn, from_item_id, to_item_id):
    conn.execute(
        f"INSERT INTO attachments({_COLUMNS}) SELECT ?, kind, name, content_type, content_id, is_inline,"
        " modified, size, content FROM attachments WHERE item_id = ? ORDER BY id", (to_item_id, from_item_id))


def move_all(conn, from_item_id, to_item_id):
    conn.execute("UPDATE attachments SET item_id = ? WHERE item_id = ?", (to_item_id, from_item_id))


def delete(conn, attachment_id):
    conn.execute("DELETE FROM attachments WHERE id = ?", (attachment_id,))


def info(conn, attachment_id):
    """An attachment row without its content (which may be tens of megabytes)."""
    row = conn.execute(
        "SELECT id, item_id, kind, name, content_type, content_id, is_inline, modified, size"
        " FROM attachments WHERE id = ?", (attachment_id,)).fetchone()
    if row is None:
        raise EWSError("ErrorInvalidAttachmentId", GONE_TEXT)
    return row


def content(conn, attachment_id):
    row = conn.execute("SELECT content FROM attachments WHERE id = ?", (attachment_id,)).fetchone()
    if row is None:
        raise EWSError("ErrorInvalidAttachmentId", GONE_TEXT)
    return row["content"] or b""


def content_slices(conn, attachment_id, slice_size):
    """The content in slices of `slice_size` bytes, read through SQLite's incremental
    blob I/O: neither the whole blob nor more than one slice is ever in memory
    (substr() would load the whole value on every call)."""
    try:
        blob = conn.blobopen("attachments", "content", attachment_id, readonly=True)
    except sqlite3.OperationalError:  # the row is gone, or its content is NULL
        return
    with blob:
        while piece := blob.read(slice_size):
            yield piece
