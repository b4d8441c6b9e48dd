"""An item as one opaque stream of bytes: what ExportItems hands out and UploadItems
takes back, so that a mailbox can be backed up and restored item by item.

Exchange's stream is its own binary format (a MAPI fast-transfer stream) that clients
must not read; the sandbox's is its own too: a marker, then compressed JSON holding the
item's properties, the times and flags the server keeps (IsUnmodified among them), and its attachments. Only
streams this format made are accepted back.
"""
import base64
import json
import zlib

from ..wire.errors import EWSError
from . import attachments, items
from .properties import parse_item

MARKER = b"EWS-SANDBOX-ITEM\x01"


def pack(conn, row):
    """The stream of an items row."""
    state = {
        "element": row["element"],
        "xml": row["xml"].decode() if isinstance(row["xml"], bytes) else row["xml"],
        "is_draft": row["is_draft"],
        "is_associated": row["is_associated"],
        "received": row["received"],
        "unmodified": row["unmodified"],
        "attachments": [_packed_attachment(conn, a) for a in attachments.listing(conn, row["id"])],
    }
    return MARKER + zlib.compress(json.dumps(state).encode())


def _packed_attachment(conn, attachment):
    packed = {name: attachment[name] for name in ("kind", "name", "content_type", "content_id", "is_inline",
                                                  "modified")}
    packed["content"] = base64.b64encode(attachments.content(conn, attachment["id"])).decode()
    return packed


def unpack(data):
    """The state a stream holds; anything else is ErrorCorruptData."""
    if not data.startswith(MARKER):
        raise EWSError("ErrorCorruptData", "The data is not an item stream that ExportItems produced.")
    try:
        state = json.loads(zlib.decompress(data[len(MARKER):]))
        item = parse_item(state["xml"].encode())
    except (zlib.error, ValueError, KeyError, TypeError):
        raise EWSError("ErrorCorruptData", "The item stream is damaged.")
    return state, item


def restore_new(conn, folder, state, item, associated=None):
    """A new item in `folder` from an unpacked stream: same properties, times and
    attachments, a new id."""
    is_associated = state.get("is_associated", 0) if associated is None else associated
    row = items.insert(conn, folder, item, is_draft=bool(state.get("is_draft")), received=state.get("received"),
                       associated=bool(is_associated))
    _restore_attachments(conn, row, state)
    return items.refresh_columns(conn, row, unmodified=_unmodified(state))


def restore_over(conn, row, state, item):
    """Overwrite an existing item with an unpacked stream: same id, a new change key."""
    for attachment in attachments.listing(conn, row["id"]):
        attachments.delete(conn, attachment["id"])
    row = items.save(conn, row, item, is_draft=int(bool(state.get("is_draft"))), received=state.get("received"))
    _restore_attachments(conn, row, state)
    return items.refresh_columns(conn, row, unmodified=_unmodified(state))


def _unmodified(state):
    """IsUnmodified as the exported item had it (Exchange's stream carries PidTagMessageFlags);
    a stream made before the flag was kept says nothing: unmodified."""
    return int(bool(state.get("unmodified", 1)))


def _restore_attachments(conn, row, state):
    for packed in state.get("attachments", []):
        attachment_id = attachments.add(conn, row["id"], packed["kind"], packed["name"], packed["content_type"],
                                        packed["content_id"], bool(packed["is_inline"]),
                                        base64.b64decode(packed["content"]))
        # the attachment keeps the time it was last changed, as an imported message does
        conn.execute("UPDATE attachments SET modified = ? WHERE id = ?", (packed["modified"], attachment_id))
