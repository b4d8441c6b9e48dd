"""GetRoomLists and GetRooms: the organization's room lists, and the rooms of one.

Both answer one message, not a list of them (Microsoft's pages "GetRoomLists operation"
and "GetRooms operation"): room lists as t:Address entries (PublicDL), rooms as t:Room
entries with their t:Id. A room list the directory does not know is
ErrorNameResolutionNoResults, as on Exchange.
"""
from ..model import directory
from ..wire.errors import EWSError
from ..wire.ns import m, sub, t
from ..wire.soap import response_element


def get_room_lists(ctx, body):
    response = _success("GetRoomLists")
    lists = sub(response, m("RoomLists"))
    for row in directory.room_lists(ctx.conn):
        _address(lists, t("Address"), row, "PublicDL")
    return response


def get_rooms(ctx, body):
    address = (body.findtext(f"{m('RoomList')}/{t('EmailAddress')}") or "").strip()
    row = directory.entry_by_email(ctx.conn, address) if address else None
    if row is None or row["kind"] != "dl" or not row["room_list"]:
        return _failure("GetRooms", EWSError("ErrorNameResolutionNoResults",
                                             "No results were found for the room list."))
    response = _success("GetRooms")
    rooms = sub(response, m("Rooms"))
    for member in directory.dl_members(row):
        room = directory.entry_by_email(ctx.conn, member)
        if room is not None and room["kind"] == "room":
            _address(sub(rooms, t("Room")), t("Id"), room, "Mailbox")
    return response


def _address(parent, tag, row, mailbox_type):
    node = sub(parent, tag)
    sub(node, t("Name"), row["name"])
    sub(node, t("EmailAddress"), row["email"])
    sub(node, t("RoutingType"), "SMTP")
    sub(node, t("MailboxType"), mailbox_type)
    return node


def _success(operation):
    response = response_element(operation)
    response.set("ResponseClass", "Success")
    sub(response, m("ResponseCode"), "NoError")
    return response


def _failure(operation, error):
    response = response_element(operation)
    response.set("ResponseClass", "Error")
    sub(response, m("MessageText"), error.text)
    sub(response, m("ResponseCode"), error.code)
    sub(response, m("DescriptiveLinkKey"), "0")
    return response


OPERATIONS = {"GetRoomLists": get_room_lists, "GetRooms": get_rooms}
