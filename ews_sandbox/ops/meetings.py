"""The meeting side of CreateItem, UpdateItem and DeleteItem: invitations sent with a
calendar item, the response objects (AcceptItem, TentativelyAcceptItem, DeclineItem,
CancelCalendarItem, RemoveItem), updates and cancellations sent to attendees.

Microsoft's pages: "CreateItem operation (calendar item)", "AcceptItem", "DeclineItem",
"CancelCalendarItem", "RemoveItem", "SendMeetingInvitations", "SendMeetingCancellations".
"""
from lxml import etree

from ..model import calendar, items, meetings
from ..wire.errors import EWSError
from ..wire.ns import local, m, sub, t

RESPONSE_OBJECTS = ("AcceptItem", "TentativelyAcceptItem", "DeclineItem", "CancelCalendarItem", "RemoveItem")
SENDING_INVITATIONS = ("SendOnlyToAll", "SendToAllAndSaveCopy")
SENDING_TO_CHANGED = ("SendOnlyToChanged", "SendToChangedAndSaveCopy")
SENDING_UPDATES = SENDING_INVITATIONS + SENDING_TO_CHANGED


def create_response(ctx, element, disposition, message):
    """CreateItem of a meeting response object; answers the saved copy, if any."""
    kind = local(element)
    reference = element.find(t("ReferenceItemId"))
    if reference is None:
        raise EWSError("ErrorMissingInformationReferenceItemId")
    row = ctx.item(reference)
    body = element.find(t("Body"))
    if body is None and element.find(t("NewBodyContent")) is not None:
        body = etree.Element(t("Body"), BodyType=element.find(t("NewBodyContent")).get("BodyType", "Text"))
        body.text = element.find(t("NewBodyContent")).text
    disposition = disposition or "SendAndSaveCopy"
    if kind == "CancelCalendarItem":
        if row["element"] != "CalendarItem":
            raise EWSError("ErrorInvalidOperation", "CancelCalendarItem refers to a calendar item.")
        saved = meetings.cancel(ctx.conn, row, body)
    elif kind == "RemoveItem":
        meetings.remove(ctx.conn, row["mailbox_id"], row)
        saved = None
    else:
        saved = meetings.respond(ctx.conn, row["mailbox_id"], row, kind, body, send=disposition != "SaveOnly")
    if saved is not None and disposition == "SendOnly":
        items.delete(ctx.conn, saved)  # sent without a copy
    elif saved is not None:
        out = sub(message.find(m("Items")), t(saved["element"]))
        sub(out, t("ItemId"), Id=items.item_id_text(saved), ChangeKey=saved["change_key"])


def after_create(ctx, row, send_invitations):
    """A new calendar item with attendees, saved with invitations to send."""
    if row is None or row["element"] != "CalendarItem" or send_invitations not in SENDING_INVITATIONS:
        return row
    if not any(meetings.attendees(etree.fromstring(row["xml"]))):
        return row
    return meetings.invite(ctx.conn, row, row)


def _organizers_meeting(ctx, row, mode, sending_modes, before=None):
    """True for a stored meeting with attendees (now, or `before` a change), organized by this
    mailbox, whose change asks (`mode`) for messages to go out."""
    if row["element"] != "CalendarItem" or mode not in sending_modes or isinstance(row, dict):
        return False
    item = etree.fromstring(row["xml"])
    had = before is not None and any(meetings.attendees(before))
    return (any(meetings.attendees(item)) or had) and meetings.is_organizer(ctx.conn, row, item)


def after_update(ctx, row, send_updates, before=None):
    """An organizer's meeting changed with updates to send: attendees get the new version
    (of the whole series, or of the one occurrence changed)."""
    if isinstance(row, calendar.Occurrence) and send_updates in SENDING_UPDATES:
        item = etree.fromstring(row["xml"])
        had = before is not None and any(meetings.attendees(before))
        if (any(meetings.attendees(item)) or had) and meetings.is_organizer(ctx.conn, row, item):
            return meetings.update_occurrence(ctx.conn, row, before, to_changed=send_updates in SENDING_TO_CHANGED)
        return row
    if before is None or not _organizers_meeting(ctx, row, send_updates, SENDING_UPDATES, before):
        return row
    now, was = _addresses(etree.fromstring(row["xml"])), _addresses(before)
    if was - now:  # taken off the meeting: a cancellation ([MS-OXWSMTGS] CalendarItemUpdateOperationType)
        meetings.uninvite(ctx.conn, row, before, was - now)
    # SendOnlyToChanged, SendToChangedAndSaveCopy: "only to attendees that were added and/or deleted"
    only = now - was if send_updates in SENDING_TO_CHANGED else None
    if not now or only == set():
        return row
    return meetings.invite(ctx.conn, row, row, request_type="FullUpdate", only=only, new=now - was)


def _addresses(item):
    return {address.casefold() for _, _, address in meetings.attendees(item)}


def before_delete(ctx, row, send_cancellations):
    """Deleting one's meeting (a whole one, or one occurrence of a series) with cancellations
    to send cancels it: each attendee gets a cancellation and their copy (or occurrence) is
    cancelled. SendOnlyToAll keeps no copy of the cancellation in Sent Items,
    SendToAllAndSaveCopy does ("CalendarItemCreateOrDeleteOperationType"). True if done."""
    if isinstance(row, calendar.Occurrence):
        item = etree.fromstring(row["xml"])
        if send_cancellations not in SENDING_INVITATIONS or not any(meetings.attendees(item)) or \
                not meetings.is_organizer(ctx.conn, row, item):
            return False
    elif not _organizers_meeting(ctx, row, send_cancellations, SENDING_INVITATIONS):
        return False
    saved = meetings.cancel(ctx.conn, row)
    if send_cancellations == "SendOnlyToAll":
        items.delete(ctx.conn, saved)
    return True

