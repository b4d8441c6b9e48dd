"""Exchange's id forms, as bytes: MAPI entry ids and the EWS id that wraps one.

- An entry id (PR_ENTRYID) is a Folder EntryID (46 bytes) or a Message EntryID
  (70 bytes), [MS-OXCDATA] 2.2.4.1 and 2.2.4.2: flags, the store's provider UID, a type
  (0x0001 private folder, 0x0007 private message), then the folder's (and message's)
  database GUID and 6-byte global counter.
- An EWS id (EwsId) is base64 of a DerivedWSId, [MS-OXCEXT] 2.2.6.1: a compression byte
  (0 none, 1 run-length) and a payload: the storage type (3: by mailbox GUID, as EwsId;
  0: by SMTP address, as Exchange 2007's EwsLegacyId), a counted mailbox moniker, a
  processing byte (0 normal) and the counted entry id.

Anything that does not parse raises ValueError; the operation turns it into
ErrorInvalidIdMalformed.
"""
import base64
import binascii
import struct
import uuid

FOLDER_TYPE, MESSAGE_TYPE = 0x0001, 0x0007
FOLDER_SIZE, MESSAGE_SIZE = 46, 70
BY_SMTP_ADDRESS, BY_MAILBOX_GUID, BY_MAILBOX_GUID_WITH_FALLBACK = 0, 3, 6


def folder_entry_id(store, database, counter):
    return (b"\0" * 4 + store.bytes_le + struct.pack("<H", FOLDER_TYPE) + database.bytes_le
            + counter.to_bytes(6, "big") + b"\0\0")


def message_entry_id(store, database, folder_counter, message_counter):
    return (b"\0" * 4 + store.bytes_le + struct.pack("<H", MESSAGE_TYPE) + database.bytes_le
            + folder_counter.to_bytes(6, "big") + b"\0\0" + database.bytes_le
            + message_counter.to_bytes(6, "big") + b"\0\0")


def parse_entry_id(entry_id):
    """(store UUID, type, database UUID, counter of the folder or message)."""
    if len(entry_id) not in (FOLDER_SIZE, MESSAGE_SIZE):
        raise ValueError("not a folder or message entry id")
    store = uuid.UUID(bytes_le=entry_id[4:20])
    (kind,) = struct.unpack("<H", entry_id[20:22])
    if len(entry_id) == FOLDER_SIZE:
        return store, kind, uuid.UUID(bytes_le=entry_id[22:38]), int.from_bytes(entry_id[38:44], "big")
    return store, kind, uuid.UUID(bytes_le=entry_id[46:62]), int.from_bytes(entry_id[62:68], "big")


def encode_ews_id(entry_id, moniker, storage=BY_MAILBOX_GUID):
    """An uncompressed EwsId (or, with BY_SMTP_ADDRESS and an address, an EwsLegacyId)."""
    moniker = moniker.encode("utf-8")
    payload = (bytes([storage]) + struct.pack("<H", len(moniker)) + moniker + b"\0"
               + struct.pack("<H", len(entry_id)) + entry_id)
    return base64.b64encode(b"\0" + payload).decode()


def decode_ews_id(value):
    """(storage type, mailbox moniker, entry id) of an EwsId or EwsLegacyId."""
    raw = b64decode(value)
    if not raw or raw[0] not in (0, 1):
        raise ValueError("unknown compression")
    payload = _expand(raw[1:]) if raw[0] == 1 else raw[1:]
    storage = payload[0]
    if storage not in (BY_SMTP_ADDRESS, BY_MAILBOX_GUID, BY_MAILBOX_GUID_WITH_FALLBACK):
        raise ValueError("not a mailbox item id")
    moniker, rest = _counted(payload[1:])
    if not rest or rest[0] != 0:  # only "normal" ids (no occurrence or series instructions)
        raise ValueError("unsupported processing instruction")
    entry_id, trailing = _counted(rest[1:])
    if trailing:
        raise ValueError("trailing bytes")
    parse_entry_id(entry_id)
    return storage, moniker.decode("utf-8"), entry_id


def b64decode(value):
    try:
        return base64.b64decode((value or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64")


def _counted(data):
    if len(data) < 2:
        raise ValueError("truncated")
    (size,) = struct.unpack("<H", data[:2])
    if len(data) < 2 + size:
        raise ValueError("truncated")
    return data[2:2 + size], data[2 + size:]


def _expand(data):
    """[MS-OXCEXT] run-length decoding: a byte written twice is followed by how many more."""
    out, index = bytearray(), 0
    while index < len(data):
        if index + 1 < len(data) and data[index] == data[index + 1]:
            if index + 2 >= len(data):
                raise ValueError("truncated run")
            out += bytes([data[index]]) * (data[index + 2] + 2)
            index += 3
        else:
            out.append(data[index])
            index += 1
    return bytes(out)
