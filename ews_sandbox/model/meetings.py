"""Meetings between sandbox mailboxes: invitations, responses, updates and cancellations.

An organizer's calendar item with attendees, saved or updated with invitations to send,
puts a MeetingRequest in each attendee's Inbox and a tentative copy of the meeting in
each attendee's Calendar (found again by its UID). An attendee's response updates their
copy and, once sent, the organizer's attendee list; a cancellation marks the copies
cancelled and leaves a MeetingCancellation in each Inbox. Rooms answer by themselves:
they accept when free and decline otherwise, as Exchange's resource booking attendant.

Microsoft's pages: "Calendars and EWS in Exchange", "How to: Create appointments and
meetings by using EWS", "How to: Respond to meeting requests by using EWS", "How to:
Cancel a meeting by using EWS", "Attendee", "ResponseType", "AppointmentState".
"""
import copy

from lxml import etree

from ..wire.errors import EWSError
from ..wire.ns import T, sub, t
from . import calendar, directory, folders, items
from .properties import child, now_text

ATTENDEE_LISTS = ("RequiredAttendees", "OptionalAttendees", "Resources")
# what the attendee's copy leaves out of the organizer's item: personal marks
PERSONAL = ("Categories", "ReminderIsSet", "ReminderMinutesBeforeStart", "ReminderDueBy", "MeetingRequestWasSent",
            "MyResponseType", "AppointmentState", "IsCancelled", "Organizer", "IsMeeting")
RESPONSES = {"AcceptItem": ("Accept", "Busy", "Accepted", "IPM.Schedule.Meeting.Resp.Pos"),
             "TentativelyAcceptItem": ("Tentative", "Tentative", "Tentative", "IPM.Schedule.Meeting.Resp.Tent"),
             "DeclineItem": ("Decline", "Free", "Declined", "IPM.Schedule.Meeting.Resp.Neg")}
MEETING = 1          # AppointmentState bits: a meeting,
RECEIVED = 2         # received from its organizer,
CANCELLED = 4        # cancelled


def attendees(item):
    """(list name, Attendee element, address) of every attendee of an item."""
    for name in ATTENDEE_LISTS:
        container = child(item, name)
        if container is None:
            continue
        for attendee in container.iterfind(t("Attendee")):
            address = (attendee.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") or "").strip()
            if address:
                yield name, attendee, address


def is_organizer(conn, row, item):
    organizer = item.findtext(f"{t('Organizer')}/{t('Mailbox')}/{t('EmailAddress')}")
    owner = directory.user_by_id(conn, row["mailbox_id"])
    return organizer is None or organizer.strip().casefold() == owner["email"].casefold()


def _set(item, name, text):
    element = child(item, name)
    if element is None:
        element = etree.SubElement(item, t(name))
    element.text = text
    return element


def _replace(item, element):
    for old in item.findall(element.tag):
        item.remove(old)
    item.append(element)


def _attendee_copy(item, organizer, response, free_busy):
    mine = copy.deepcopy(item)
    for name in PERSONAL:
        for element in mine.findall(t(name)):
            mine.remove(element)
    _replace(mine, _mailbox("Organizer", organizer))
    _set(mine, "MyResponseType", response)
    _set(mine, "LegacyFreeBusyStatus", free_busy)
    _set(mine, "IsMeeting", "true")
    _set(mine, "AppointmentState", str(MEETING | RECEIVED))
    return mine


def _mailbox(tag, user):
    node = etree.Element(t(tag))
    mailbox = sub(node, t("Mailbox"))
    sub(mailbox, t("Name"), user["name"])
    sub(mailbox, t("EmailAddress"), user["email"])
    sub(mailbox, t("RoutingType"), "SMTP")
    sub(mailbox, t("MailboxType"), "Mailbox")
    return node


def copy_in_calendar(conn, mailbox_id, uid, instance=None):
    """An attendee's (or organizer's) calendar item of the meeting with this UID; with
    `instance` (a RecurrenceId), the lone copy of that one occurrence kept by an attendee
    invited to it alone (an orphan instance), which the meeting's own lookup passes over."""
    folder = folders.distinguished(conn, mailbox_id, "calendar")
    wanted = calendar.parse_time(instance) if instance else None
    for row in conn.execute("SELECT * FROM items WHERE folder_id = ? AND element = 'CalendarItem'", (folder["id"],)):
        item = etree.fromstring(row["xml"])
        if item.findtext(t("UID")) != uid:
            continue
        own = (item.findtext(t("RecurrenceId")) or "").strip()
        if (calendar.parse_time(own) if own else None) == wanted:
            return row
    return None


def _instance_copy(conn, mailbox_id, uid, index, original):
    """(their series' row or None, their occurrence `index` of it or their orphan copy of that
    occurrence, or None when they have neither or deleted it)."""
    series = copy_in_calendar(conn, mailbox_id, uid)
    if series is None:
        return None, copy_in_calendar(conn, mailbox_id, uid, instance=original)
    try:
        return series, calendar.occurrence_row(conn, series, index)
    except EWSError:  # deleted from their copy: an update does not bring it back
        return series, None


# ---- invitations and updates -------------------------------------------------------------

def invite(conn, organizer_row, item_row, request_type="NewMeetingRequest", only=None, new=frozenset()):
    """Send the meeting to its attendees (the organizer's item already saved): all of them, or
    those whose case-folded address is in `only`; those in `new` get a NewMeetingRequest."""
    item = etree.fromstring(item_row["xml"])
    organizer = directory.user_by_id(conn, organizer_row["mailbox_id"])
    uid = item.findtext(t("UID"))
    for _, attendee, address in attendees(item):
        if only is not None and address.casefold() not in only:
            continue
        user = directory.user_by_email(conn, address)
        if user is None or user["id"] == organizer["id"] or user["kind"] == "dl":
            continue
        if user["kind"] == "room":
            response = "Accept" if _is_free(conn, user["id"], item, uid) else "Decline"
            _record_response(attendee, response)
            if response == "Accept":
                _store_copy(conn, user, uid, _attendee_copy(item, organizer, "Accept", "Busy"))
            continue
        _record_response(attendee, "Unknown")
        calendar_row = _store_copy(conn, user, uid, _attendee_copy(item, organizer, "NoResponseReceived", "Tentative"))
        _deliver_message(conn, user, "inbox", _meeting_message(
            "MeetingRequest", item, organizer, calendar_row,
            "NewMeetingRequest" if address.casefold() in new else request_type))
    _set(item, "MeetingRequestWasSent", "true")
    _set(item, "IsMeeting", "true")
    return items.save(conn, item_row, item, **items.kept_unmodified(item_row))  # sending is no change


def update_occurrence(conn, occurrence_row, before=None, to_changed=False):
    """The organizer changed one occurrence of a series (now an exception) with updates to send:
    each attendee's occurrence of their copy becomes the same exception, and a MeetingRequest
    naming that occurrence (RecurrenceId, its original start) reaches their Inbox; a room
    keeps the occurrence when it is free at the new time and drops it otherwise. Attendees the
    change took off the occurrence (`before`: its XML before) get a cancellation of it; with
    `to_changed` (SendToChanged*) only those added or taken off hear of the change."""
    item = etree.fromstring(occurrence_row["xml"])
    organizer = directory.user_by_id(conn, occurrence_row["mailbox_id"])
    uid = item.findtext(t("UID"))
    index = occurrence_row["instance_index"]
    was = _addresses(before) if before is not None else _addresses(item)
    now = _addresses(item)
    for address in sorted(was - now):
        user = directory.user_by_email(conn, address)
        if user is None or user["id"] == organizer["id"] or user["kind"] == "dl":
            continue
        series = copy_in_calendar(conn, user["id"], uid)
        if series is not None:
            series = _cancel_occurrence_copy(conn, series, index, room=user["kind"] == "room")
        else:
            series = _cancel_orphan(conn, user, uid, occurrence_row["original_start"])
        _send_cancellation(conn, user, before, organizer, series, occurrence=occurrence_row["original_start"])
    for _, attendee, address in attendees(item):
        if to_changed and address.casefold() in was:
            continue  # unchanged attendees hear nothing: their copies stay as they were
        user = directory.user_by_email(conn, address)
        if user is None or user["id"] == organizer["id"] or user["kind"] == "dl":
            continue
        series, theirs = _instance_copy(conn, user["id"], uid, index, occurrence_row["original_start"])
        if user["kind"] == "room":
            free = _is_free(conn, user["id"], item, uid)
            _record_response(attendee, "Accept" if free else "Decline")
            mine = _attendee_copy(item, organizer, "Accept", "Busy")
            if series is None and free:
                _store_orphan(conn, user, theirs, mine, occurrence_row["original_start"])
            elif series is None and theirs is not None:
                items.delete(conn, theirs)
            elif theirs is not None and free:
                calendar.save_exception(conn, theirs, mine)
            elif theirs is not None:
                calendar.delete_occurrence(conn, theirs)
            continue
        _record_response(attendee, "Unknown")  # to be answered again
        mine = _attendee_copy(item, organizer, "NoResponseReceived", "Tentative")
        if series is None:  # invited to this occurrence alone: a copy of it, on its own
            theirs = _store_orphan(conn, user, theirs, mine, occurrence_row["original_start"])
        elif theirs is not None:
            theirs = calendar.save_exception(conn, theirs, mine)
        request_type = "NewMeetingRequest" if address.casefold() not in was else "FullUpdate"
        message = _meeting_message("MeetingRequest", item, organizer, theirs, request_type)
        _set(message, "RecurrenceId", occurrence_row["original_start"])
        _deliver_message(conn, user, "inbox", message)
    # the organizer's exception keeps the rooms' answers
    return calendar.save_exception(conn, occurrence_row, item)


def _addresses(item):
    return {address.casefold() for _, _, address in attendees(item)}


def _store_orphan(conn, user, existing, item, original):
    """An attendee's copy of one occurrence of a series they are not invited to: a calendar
    item of its own, naming the occurrence by RecurrenceId."""
    _set(item, "RecurrenceId", original)
    if existing is not None:
        return items.save(conn, existing, item)
    return items.insert(conn, folders.distinguished(conn, user["id"], "calendar"), item)


def _cancel_orphan(conn, user, uid, original):
    """An attendee's orphan copy of an occurrence cancelled (a room's deleted); returns it, or None."""
    orphan = copy_in_calendar(conn, user["id"], uid, instance=original)
    if orphan is None:
        return None
    if user["kind"] == "room":
        items.delete(conn, orphan)
        return None
    copy_item = etree.fromstring(orphan["xml"])
    _mark_cancelled(copy_item)
    return items.save(conn, orphan, copy_item)


def _mark_cancelled(copy_item):
    _set(copy_item, "IsCancelled", "true")
    _set(copy_item, "Subject", "Canceled: " + (copy_item.findtext(t("Subject")) or ""))
    _set(copy_item, "LegacyFreeBusyStatus", "Free")
    _set(copy_item, "AppointmentState", str(MEETING | RECEIVED | CANCELLED))


def _record_response(attendee, response):
    for old in attendee.findall(t("ResponseType")) + attendee.findall(t("LastResponseTime")):
        attendee.remove(old)
    mailbox = attendee.find(t("Mailbox"))
    position = list(attendee).index(mailbox) + 1 if mailbox is not None else 0
    response_element = etree.Element(t("ResponseType"))
    response_element.text = response
    attendee.insert(position, response_element)
    if response != "Unknown":
        stamp = etree.Element(t("LastResponseTime"))
        stamp.text = now_text()
        attendee.insert(position + 1, stamp)


def _store_copy(conn, user, uid, item):
    existing = copy_in_calendar(conn, user["id"], uid)
    if existing is not None:
        return items.save(conn, existing, item)
    return items.insert(conn, folders.distinguished(conn, user["id"], "calendar"), item)


def _is_free(conn, mailbox_id, item, uid):
    """Whether a room has nothing else booked over the meeting's time (its series included)."""
    start, end = calendar.span(item)
    folder = folders.distinguished(conn, mailbox_id, "calendar")
    for row in conn.execute("SELECT * FROM items WHERE folder_id = ? AND element = 'CalendarItem'", (folder["id"],)):
        other = etree.fromstring(row["xml"])
        if other.findtext(t("UID")) == uid or other.findtext(t("LegacyFreeBusyStatus")) == "Free":
            continue
        if child(other, "Recurrence") is None:
            spans = [calendar.span(other)]
        else:
            spans = [(s, e) for *_, s, e, _ in calendar.expand(conn, row, other, until=end)]
        if any(s < end and e > start for s, e in spans):
            return False
    return True


def _meeting_message(kind, item, sender, calendar_row, request_type=None, subject_prefix=""):
    """A MeetingRequest, MeetingResponse or MeetingCancellation about `item` from `sender`."""
    message = etree.Element(t(kind), nsmap={"t": T})
    classes = {"MeetingRequest": "IPM.Schedule.Meeting.Request", "MeetingCancellation": "IPM.Schedule.Meeting.Canceled"}
    if kind in classes:
        _set(message, "ItemClass", classes[kind])
    _set(message, "Subject", subject_prefix + (item.findtext(t("Subject")) or ""))
    if child(item, "Body") is not None:
        message.append(copy.deepcopy(child(item, "Body")))
    message.append(_mailbox("From", sender))
    message.append(_mailbox("Sender", sender))
    _set(message, "DateTimeSent", now_text())
    _set(message, "IsRead", "false")
    if calendar_row is not None:
        sub(message, t("AssociatedCalendarItemId"), Id=items.item_id_text(calendar_row),
            ChangeKey=calendar_row["change_key"])
    _set(message, "UID", item.findtext(t("UID")) or "")
    for name in ("Start", "End", "Location"):
        if child(item, name) is not None:
            message.append(copy.deepcopy(child(item, name)))
    if kind == "MeetingRequest":
        _set(message, "MeetingRequestType", request_type)
        for name in ATTENDEE_LISTS:
            if child(item, name) is not None:
                message.append(copy.deepcopy(child(item, name)))
        message.append(_mailbox("Organizer", sender))
    return message


def _deliver_message(conn, user, folder_name, message):
    return items.insert(conn, folders.distinguished(conn, user["id"], folder_name), message)


# ---- responses ----------------------------------------------------------------------------

def respond(conn, responder_id, reference_row, kind, body=None, send=True):
    """Accept, tentatively accept or decline the meeting `reference_row` (a meeting request
    or the attendee's calendar item) names. A request for one occurrence (its RecurrenceId)
    or an occurrence of the attendee's series answers that occurrence alone: it becomes an
    exception of their copy (or is deleted, declined) and the organizer's occurrence records
    the answer. Returns the response kept: the draft when not sent, else the copy in Sent Items."""
    reference = etree.fromstring(reference_row["xml"])
    uid = reference.findtext(t("UID"))
    one = _occurrence_named(reference_row, reference)
    mine = copy_in_calendar(conn, responder_id, uid) if uid else None
    if mine is None and reference_row["element"] == "CalendarItem":
        mine = reference_row
    if isinstance(reference_row, calendar.Occurrence):
        mine = reference_row
    elif one is not None and mine is not None and mine is not reference_row:
        mine = calendar.occurrence_at(conn, mine, one)
    elif one is not None and mine is None:  # invited to that occurrence alone: their copy of it
        mine = copy_in_calendar(conn, responder_id, uid, instance=one)
    if mine is None:
        raise EWSError("ErrorItemNotFound", "The meeting is no longer in the calendar.")
    item = etree.fromstring(mine["xml"])
    response, free_busy, prefix, item_class = RESPONSES[kind]
    if is_organizer(conn, mine, item):
        raise EWSError(f"ErrorCalendarIsOrganizerFor{response}")
    if item.findtext(t("IsCancelled")) == "true":
        raise EWSError(f"ErrorCalendarIsCancelledFor{response}")
    responder = directory.user_by_id(conn, responder_id)
    organizer_address = item.findtext(f"{t('Organizer')}/{t('Mailbox')}/{t('EmailAddress')}")
    organizer = directory.user_by_email(conn, organizer_address) if organizer_address else None
    in_series = isinstance(mine, calendar.Occurrence)
    if response == "Decline" and in_series:
        calendar.delete_occurrence(conn, mine)  # the rest of the series stays
    elif response == "Decline":
        items.discard(conn, mine, "MoveToDeletedItems")
    else:
        _set(item, "MyResponseType", response)
        _set(item, "LegacyFreeBusyStatus", free_busy)
        _set(item, "AppointmentReplyTime", now_text())
        mine = calendar.save_exception(conn, mine, item) if in_series else items.save(conn, mine, item)
    if reference_row["element"] == "MeetingRequest":
        items.discard(conn, reference_row, "MoveToDeletedItems")  # a request answered leaves the Inbox
    message = _meeting_message("MeetingResponse", item, responder, None, subject_prefix=f"{prefix}: ")
    _set(message, "ItemClass", item_class)
    if one is not None:
        _set(message, "RecurrenceId", one)
    if body is not None:
        _replace(message, copy.deepcopy(body))
    if organizer is not None:
        _replace(message, _recipients("ToRecipients", organizer))
    if not send:
        return items.insert(conn, folders.distinguished(conn, responder_id, "drafts"), message, is_draft=True)
    if organizer is not None:
        _update_organizer(conn, organizer, uid, responder["email"], response, one)
        _deliver_message(conn, organizer, "inbox", copy.deepcopy(message))
    _set(message, "IsRead", "true")
    return _deliver_message(conn, responder, "sentitems", message)


def _occurrence_named(row, element):
    """The original start (UTC text) of the one occurrence a meeting request or a calendar
    item names, or None for a whole meeting."""
    if isinstance(row, calendar.Occurrence):
        return row["original_start"]
    if row["element"] in ("MeetingRequest", "CalendarItem"):  # a calendar item: an orphan copy
        return (element.findtext(t("RecurrenceId")) or "").strip() or None
    return None


def _recipients(tag, user):
    node = etree.Element(t(tag))
    node.append(_mailbox("X", user).find(t("Mailbox")))
    return node


def _update_organizer(conn, organizer, uid, address, response, one=None):
    """The organizer's item (or, for an answer to one occurrence, that occurrence) records
    the attendee's response."""
    row = copy_in_calendar(conn, organizer["id"], uid)
    if row is not None and one is not None:
        row = calendar.occurrence_at(conn, row, one)
    if row is None:
        return
    item = etree.fromstring(row["xml"])
    for _, attendee, attendee_address in attendees(item):
        if attendee_address.casefold() == address.casefold():
            _record_response(attendee, response)
    if one is not None:
        calendar.save_exception(conn, row, item)
    else:
        items.save(conn, row, item)


# ---- cancellations ------------------------------------------------------------------------

def cancel(conn, organizer_row, body=None):
    """The organizer cancels: attendees' copies are marked cancelled, each gets a
    MeetingCancellation, and the organizer's item leaves the calendar. Returns the copy of
    the cancellation kept in Sent Items. One occurrence of a series (CancelCalendarItem of an
    occurrence's id): it becomes a deleted occurrence of the organizer's series, and a
    cancelled exception of each attendee's copy (a room's is deleted)."""
    item = etree.fromstring(organizer_row["xml"])
    one = organizer_row["instance_index"] if isinstance(organizer_row, calendar.Occurrence) else None
    if not is_organizer(conn, organizer_row, item):
        raise EWSError("ErrorCalendarIsNotOrganizer")
    organizer = directory.user_by_id(conn, organizer_row["mailbox_id"])
    uid = item.findtext(t("UID"))
    others = [a for _, _, a in attendees(item) if a.casefold() != organizer["email"].casefold()]
    if not others:  # a cancellation is a message: it needs a recipient besides the organizer
        raise EWSError("ErrorInvalidRecipients", "At least one recipient is required to send a cancellation.")
    for address in others:
        user = directory.user_by_email(conn, address)
        if user is None or user["id"] == organizer["id"] or user["kind"] == "dl":
            continue
        mine = copy_in_calendar(conn, user["id"], uid)
        if one is not None and mine is None:  # invited to that occurrence alone
            orphan = _cancel_orphan(conn, user, uid, organizer_row["original_start"])
            _send_cancellation(conn, user, item, organizer, orphan, body, organizer_row["original_start"])
            continue
        if one is not None:
            mine = _cancel_occurrence_copy(conn, mine, one, room=user["kind"] == "room")
            _send_cancellation(conn, user, item, organizer, mine, body, organizer_row["original_start"])
            continue
        _cancel_for(conn, user, organizer, item, mine, body)
    if one is not None:
        calendar.delete_occurrence(conn, organizer_row)
    else:
        items.discard(conn, organizer_row, "MoveToDeletedItems")
    kept = _meeting_message("MeetingCancellation", item, organizer, None, subject_prefix="Canceled: ")
    if one is not None:
        _set(kept, "RecurrenceId", organizer_row["original_start"])
    if body is not None:
        _replace(kept, copy.deepcopy(body))
    _set(kept, "IsRead", "true")
    return _deliver_message(conn, organizer, "sentitems", kept)


def _cancel_for(conn, user, organizer, item, mine, body=None):
    """One attendee's side of a cancellation: their copy `mine` marked cancelled (a room's
    deleted) and a MeetingCancellation in their Inbox."""
    if user["kind"] == "room":
        if mine is not None:
            items.delete(conn, mine)  # a room frees its time by itself
        return
    if mine is not None:
        copy_item = etree.fromstring(mine["xml"])
        _mark_cancelled(copy_item)
        mine = items.save(conn, mine, copy_item)
    _send_cancellation(conn, user, item, organizer, mine, body)


def uninvite(conn, organizer_row, before, removed):
    """Attendees an update took off the meeting (case-folded addresses): each gets a
    cancellation of the meeting as it was, and their copy is marked cancelled."""
    organizer = directory.user_by_id(conn, organizer_row["mailbox_id"])
    uid = before.findtext(t("UID"))
    for _, _, address in attendees(before):
        user = directory.user_by_email(conn, address)
        if address.casefold() not in removed or user is None or user["id"] == organizer["id"] or \
                user["kind"] == "dl":
            continue
        _cancel_for(conn, user, organizer, before, copy_in_calendar(conn, user["id"], uid))


def _cancel_occurrence_copy(conn, master_row, index, room):
    """The attendee's occurrence `index` of their copy of the series: marked cancelled (an
    exception), or deleted for a room. Returns their series' row (None if the occurrence is gone)."""
    try:
        theirs = calendar.occurrence_row(conn, master_row, index)
    except EWSError:  # already deleted, or past the end of their copy
        return master_row
    if room:
        calendar.delete_occurrence(conn, theirs)
        return master_row
    copy_item = etree.fromstring(theirs["xml"])
    _mark_cancelled(copy_item)
    calendar.save_exception(conn, theirs, copy_item)
    return items.get(conn, master_row["id"])


def _send_cancellation(conn, user, item, organizer, calendar_row, body=None, occurrence=None):
    """A MeetingCancellation in `user`'s Inbox (a room gets none); for one occurrence, naming it
    by its RecurrenceId (`occurrence`, its original start)."""
    if user["kind"] == "room":
        return
    notice = _meeting_message("MeetingCancellation", item, organizer, calendar_row, subject_prefix="Canceled: ")
    if body is not None:
        _replace(notice, copy.deepcopy(body))
    if occurrence is not None:
        _set(notice, "RecurrenceId", occurrence)
    _deliver_message(conn, user, "inbox", notice)


def remove(conn, mailbox_id, reference_row):
    """RemoveItem: an attendee takes a cancelled meeting out of the calendar."""
    reference = etree.fromstring(reference_row["xml"])
    mine = copy_in_calendar(conn, mailbox_id, reference.findtext(t("UID")))
    if mine is not None:
        copy_item = etree.fromstring(mine["xml"])
        if copy_item.findtext(t("IsCancelled")) != "true":
            raise EWSError("ErrorInvalidOperation", "Only a cancelled meeting can be removed from the calendar.")
        items.discard(conn, mine, "MoveToDeletedItems")
    items.discard(conn, reference_row, "MoveToDeletedItems")
