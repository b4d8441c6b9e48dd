"""Opaque EWS ids for folders, items and attachments, and change keys.

An id packs its kind, the mailbox and the row; anything that does not decode is
ErrorInvalidIdMalformed, as on Exchange, before any lookup is tried.
"""
import base64
import binascii
import secrets
import struct

from ..wire.errors import EWSError

_MAGIC = b"\x00\x00\x00\x2aSBX"
_LAYOUT = struct.Struct(">cIQ")
# An attachment id also names its item, as Exchange's do: an attachment of an item that
# is gone is ErrorItemNotFound, a gone attachment of an item still there is not.
_ATTACHMENT_LAYOUT = struct.Struct(">cIQQ")
FOLDER, ITEM, ATTACHMENT = b"F", b"I", b"A"
OCCURRENCE = b"O"  # an occurrence of a series: its master and its 1-based position (instance index)


def encode(kind, mailbox_id, row_id):
    return base64.b64encode(_MAGIC + _LAYOUT.pack(kind, mailbox_id, row_id)).decode()


def decode(value, kind):
    """Return (mailbox_id, row_id) of an id of `kind`, or raise ErrorInvalidIdMalformed."""
    found_kind, mailbox_id, row_id = _unpack(value, _LAYOUT)
    if found_kind != kind:
        raise EWSError("ErrorInvalidIdMalformed")
    return mailbox_id, row_id


def encode_attachment(mailbox_id, item_id, attachment_id):
    return base64.b64encode(_MAGIC + _ATTACHMENT_LAYOUT.pack(ATTACHMENT, mailbox_id, item_id, attachment_id)).decode()


def decode_attachment(value):
    """Return (mailbox_id, item_id, attachment_id), or raise ErrorInvalidIdMalformed."""
    found_kind, mailbox_id, item_id, attachment_id = _unpack(value, _ATTACHMENT_LAYOUT)
    if found_kind != ATTACHMENT:
        raise EWSError("ErrorInvalidIdMalformed")
    return mailbox_id, item_id, attachment_id


def encode_occurrence(mailbox_id, master_id, index):
    return base64.b64encode(_MAGIC + _ATTACHMENT_LAYOUT.pack(OCCURRENCE, mailbox_id, master_id, index)).decode()


def decode_occurrence(value):
    """(mailbox_id, master_id, index) of an occurrence's ItemId, or None for any other id."""
    try:
        found_kind, mailbox_id, master_id, index = _unpack(value, _ATTACHMENT_LAYOUT)
    except EWSError:
        return None
    return (mailbox_id, master_id, index) if found_kind == OCCURRENCE else None


def _unpack(value, layout):
    try:
        raw = base64.b64decode((value or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise EWSError("ErrorInvalidIdMalformed")
    if not raw.startswith(_MAGIC) or len(raw) != len(_MAGIC) + layout.size:
        raise EWSError("ErrorInvalidIdMalformed")
    found_kind, *numbers = layout.unpack(raw[len(_MAGIC):])
    if any(number >= 2**63 for number in numbers):  # SQLite rows are signed 64-bit
        raise EWSError("ErrorInvalidIdMalformed")
    return (found_kind, *numbers)


def new_change_key():
    """A fresh change key: every write gives the item a new one."""
    return base64.b64encode(b"\x01\x00\x00\x00" + secrets.token_bytes(16)).decode()


def is_change_key(value):
    """Whether `value` has a change key's form (base64 of at least a few bytes); what is
    not even that is ErrorInvalidChangeKey, where a stale key is a conflict."""
    try:
        return len(base64.b64decode(value.strip(), validate=True)) >= 4
    except (binascii.Error, ValueError):
        return False
