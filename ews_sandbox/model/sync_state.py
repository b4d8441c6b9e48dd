"""Opaque sync states and watermarks: a position in the change journal, signed.

The state carries everything a sync needs (which folder, which journal position, how far
a first sync has listed the folder), so SyncFolder* only read: they run in a read
snapshot, keep nothing on the server, and a state stays valid across restarts because
the journal and the signing key live in the database file. A state that was altered,
cut, or made for another folder fails its check (ErrorInvalidSyncStateData).
"""
import base64
import binascii
import hashlib
import hmac
import json

from ..wire.errors import EWSError
from . import journal

INVALID_TEXT = "Synchronization state data is corrupt or otherwise invalid."


def encode(conn, values):
    payload = json.dumps(values, separators=(",", ":")).encode()
    tag = hmac.new(journal.signing_key(conn), payload, hashlib.sha256).digest()[:16]
    return base64.b64encode(tag + payload).decode()


def decode(conn, text, error_code="ErrorInvalidSyncStateData", error_text=INVALID_TEXT):
    try:
        raw = base64.b64decode((text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise EWSError(error_code, error_text) from None
    tag, payload = raw[:16], raw[16:]
    expected = hmac.new(journal.signing_key(conn), payload, hashlib.sha256).digest()[:16]
    if len(raw) <= 16 or not hmac.compare_digest(tag, expected):
        raise EWSError(error_code, error_text)
    return json.loads(payload)
