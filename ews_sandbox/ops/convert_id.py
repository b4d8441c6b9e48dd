"""ConvertId: exchangelib's first call (auth and version probing) and id conversion
between the forms of IdFormatType (Microsoft's page "AlternateId").

Every form carries the object's MAPI entry id (wire/exchange_ids.py): EntryId is it in
base64, HexEntryId in upper-case hex, EwsLegacyId wraps it with the mailbox's SMTP
address, EwsId with the mailbox GUID, StoreId is it with a length byte before and an
object-type byte after (as Exchange's store ids look), OwaId the same URL-escaped.
The sandbox's own folder and item ids are its EwsIds: they convert to entry ids of the
mailbox's store, and back. Ids of another Exchange convert by their structure alone,
as Exchange converts without opening the item.
"""
import base64
import uuid
from urllib.parse import quote, unquote

from ..model import directory, ids
from ..model.exchange_names import mailbox_guid
from ..wire import exchange_ids
from ..wire.errors import EWSError
from ..wire.ns import local, m, sub
from ..wire.soap import respond_each, schema_fault

FORMATS = ("EwsId", "EwsLegacyId", "EntryId", "HexEntryId", "StoreId", "OwaId")
SANDBOX_DATABASE = uuid.UUID("5d1f9c2a-7e3b-4a68-b0c4-2e9f8a6d1b35")  # the sandbox's one mailbox database
_STORE_OBJECT_TYPE = {exchange_ids.FOLDER_TYPE: 1, exchange_ids.MESSAGE_TYPE: 9}  # folder, message


def convert_id(ctx, body):
    destination = body.get("DestinationFormat", "EwsId")
    if destination not in FORMATS:
        raise schema_fault(f"The request failed schema validation: {destination!r} is not an IdFormatType.")
    source_ids = body.find(m("SourceIds"))

    def handle(source, message):
        if local(source) != "AlternateId":
            raise EWSError("ErrorInvalidRequest", "The sandbox converts AlternateId elements only.")
        owner = directory.user_by_email(ctx.conn, source.get("Mailbox"))
        if owner is None:
            raise EWSError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        try:
            entry_id, guid = _read(ctx, source.get("Format"), source.get("Id"))
            value = _write(ctx, destination, entry_id, guid, owner)
        except ValueError:
            raise EWSError("ErrorInvalidIdMalformed")
        sub(message, m("AlternateId"), Format=destination, Id=value, Mailbox=source.get("Mailbox"))

    response = respond_each("ConvertId", list(source_ids) if source_ids is not None else [], handle)
    for message_node in response.iter(m("ConvertIdResponseMessage")):
        for alternate in message_node.iter(m("AlternateId")):
            alternate.set("{http://www.w3.org/2001/XMLSchema-instance}type", "t:AlternateIdType")
    return response


def _read(ctx, form, value):
    """(entry id, mailbox GUID named by the id or None) of an id in any form."""
    if form == "EwsId":
        own = _own_entry_id(ctx, value)
        if own is not None:
            return own, None
    if form in ("EwsId", "EwsLegacyId"):
        storage, moniker, entry_id = exchange_ids.decode_ews_id(value)
        return entry_id, (moniker if storage != exchange_ids.BY_SMTP_ADDRESS else None)
    if form == "EntryId":
        entry_id = exchange_ids.b64decode(value)
    elif form == "HexEntryId":
        entry_id = bytes.fromhex((value or "").strip())
    elif form in ("StoreId", "OwaId"):
        raw = exchange_ids.b64decode(unquote(value or "") if form == "OwaId" else value)
        if len(raw) < 2 or raw[0] != len(raw) - 2:
            raise ValueError("not a store id")
        entry_id = raw[1:-1]
    else:
        raise ValueError("unknown format")
    exchange_ids.parse_entry_id(entry_id)
    return entry_id, None


def _write(ctx, form, entry_id, guid, owner):
    if form == "EntryId":
        return base64.b64encode(entry_id).decode()
    if form == "HexEntryId":
        return entry_id.hex().upper()
    if form in ("StoreId", "OwaId"):
        kind = exchange_ids.parse_entry_id(entry_id)[1]
        store_id = base64.b64encode(bytes([len(entry_id)]) + entry_id + bytes([_STORE_OBJECT_TYPE.get(kind, 0)]))
        return quote(store_id.decode(), safe="") if form == "OwaId" else store_id.decode()
    if form == "EwsLegacyId":
        return exchange_ids.encode_ews_id(entry_id, owner["email"], exchange_ids.BY_SMTP_ADDRESS)
    own = _own_id(ctx, entry_id)
    return own or exchange_ids.encode_ews_id(entry_id, guid or str(mailbox_guid(owner["email"])))


def _own_entry_id(ctx, value):
    """The entry id behind one of the sandbox's folder or item ids, else None."""
    for kind in (ids.FOLDER, ids.ITEM):
        try:
            mailbox_id, row_id = ids.decode(value, kind)
        except EWSError:
            continue
        user = directory.user_by_id(ctx.conn, mailbox_id)
        if user is None:
            raise ValueError("no such mailbox")
        store = mailbox_guid(user["email"])
        if kind == ids.FOLDER:
            return exchange_ids.folder_entry_id(store, SANDBOX_DATABASE, row_id)
        row = ctx.conn.execute("SELECT folder_id FROM items WHERE id = ?", (row_id,)).fetchone()
        return exchange_ids.message_entry_id(store, SANDBOX_DATABASE, row["folder_id"] if row else 0, row_id)
    return None


def _own_id(ctx, entry_id):
    """The sandbox's id for an entry id of one of its stores, else None."""
    store, kind, database, counter = exchange_ids.parse_entry_id(entry_id)
    if database != SANDBOX_DATABASE:
        return None
    for user in directory.users(ctx.conn):
        if mailbox_guid(user["email"]) == store:
            return ids.encode(ids.FOLDER if kind == exchange_ids.FOLDER_TYPE else ids.ITEM, user["id"], counter)
    return None


OPERATIONS = {"ConvertId": convert_id}
