"""ConvertId: exchangelib's first call (auth and version probing) and id conversion.

The sandbox has one id format, so EwsId, EwsLegacyId and HexEntryId requests get the
same id back in the asked format's element; OwaId and StoreId are not offered.
"""
from ..wire.errors import EWSError
from ..wire.ns import local, m, sub
from ..wire.soap import respond_each

FORMATS = ("EwsId", "EwsLegacyId", "HexEntryId", "EntryId")


def convert_id(ctx, body):
    destination = body.get("DestinationFormat", "EwsId")
    source_ids = body.find(m("SourceIds"))

    def handle(source, message):
        if local(source) != "AlternateId":
            raise EWSError("ErrorInvalidRequest", "The sandbox converts AlternateId elements only.")
        if destination not in FORMATS or source.get("Format") not in FORMATS:
            raise EWSError("ErrorInvalidIdMalformed", "The sandbox does not convert to or from that format.")
        if not (source.get("Id") or "").strip():
            raise EWSError("ErrorInvalidIdMalformed")
        sub(message, m("AlternateId"), Format=destination, Id=source.get("Id"), Mailbox=source.get("Mailbox"))

    response = respond_each("ConvertId", list(source_ids) if source_ids is not None else [], handle)
    for message_node in response.iter(m("ConvertIdResponseMessage")):
        for alternate in message_node.iter(m("AlternateId")):
            alternate.tag = m("AlternateId")
            alternate.set("{http://www.w3.org/2001/XMLSchema-instance}type", "t:AlternateIdType")
    return response


OPERATIONS = {"ConvertId": convert_id}
