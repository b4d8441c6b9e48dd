"""Attachments of items: file bytes or an attached item's XML, stored beside the item."""
from ..wire.errors import EWSError
from .properties import now_text

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
        raise EWSError("ErrorItemNotFound")
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
        raise EWSError("ErrorItemNotFound")
    return row


def content(conn, attachment_id):
    row = conn.execute("SELECT content FROM attachments WHERE id = ?", (attachment_id,)).fetchone()
    if row is None:
        raise EWSError("ErrorItemNotFound")
    return row["content"] or b""


def content_slices(conn, attachment_id, slice_size):
    """The content in slices of `slice_size` bytes, read with substr() so that no more
    than one slice is in memory at a time."""
    offset = 1  # substr() counts from 1
    while True:
        piece = conn.execute("SELECT substr(content, ?, ?) FROM attachments WHERE id = ?",
                             (offset, slice_size, attachment_id)).fetchone()
        if piece is None or not piece[0]:
            return
        yield bytes(piece[0])
        offset += slice_size
