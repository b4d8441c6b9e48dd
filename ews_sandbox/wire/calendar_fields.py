"""The read-only properties of calendar items that Exchange computes (CalendarItemType,
IsRecurring, Duration, MyResponseType, Organizer, the occurrences of a series ...), and
the stored ones it answers in another form (a recurrence's dates carry the series' UTC
offset, as in '2026-03-24+01:00').

Microsoft's page "CalendarItem" lists them; "CalendarItemType" their values.
"""
from datetime import timedelta

from lxml import etree

from ..model import calendar, directory
from ..model.properties import bool_text, child
from .ns import sub, t

COMPUTED = frozenset({"CalendarItemType", "IsRecurring", "MyResponseType", "Organizer", "IsMeeting", "IsCancelled",
                      "Duration", "AppointmentState", "AppointmentSequenceNumber", "MeetingRequestWasSent",
                      "Recurrence", "OriginalStart", "RecurrenceId", "FirstOccurrence", "LastOccurrence",
                      "ModifiedOccurrences", "DeletedOccurrences"})
LAST_OCCURRENCE_HORIZON = 999  # a series with an end has at most 999 occurrences of its own


def kind(row, item):
    if isinstance(row, calendar.Occurrence):
        return row.kind
    return "RecurringMaster" if child(item, "Recurrence") is not None else "Single"


def render(conn, row, item, name):
    """The elements of computed property `name` of a calendar item row (a list, maybe empty)."""
    value = globals()[f"_{name}"](conn, row, item)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(name, text):
    element = etree.Element(t(name))
    element.text = text
    return element


def _stored(item, name):
    found = child(item, name)
    return etree.fromstring(etree.tostring(found)) if found is not None else None


def _or_stored(item, name, computed):
    """The stored value when there is one (a meeting's copy keeps its own), else the computed."""
    stored = _stored(item, name)
    return stored if stored is not None else computed()


def _CalendarItemType(conn, row, item):
    return _text("CalendarItemType", kind(row, item))


def _IsRecurring(conn, row, item):
    return _text("IsRecurring", bool_text(kind(row, item) in ("Occurrence", "Exception")))


def _is_meeting(item):
    return any(child(item, name) is not None and len(child(item, name))
               for name in ("RequiredAttendees", "OptionalAttendees", "Resources"))


def _IsMeeting(conn, row, item):
    return _or_stored(item, "IsMeeting", lambda: _text("IsMeeting", bool_text(_is_meeting(item))))


def _IsCancelled(conn, row, item):
    return _or_stored(item, "IsCancelled", lambda: _text("IsCancelled", "false"))


def _MeetingRequestWasSent(conn, row, item):
    return _or_stored(item, "MeetingRequestWasSent", lambda: _text("MeetingRequestWasSent", "false"))


def _MyResponseType(conn, row, item):
    # one's own appointment or meeting is organized by oneself
    return _or_stored(item, "MyResponseType", lambda: _text("MyResponseType", "Organizer"))


def _Organizer(conn, row, item):
    stored = _stored(item, "Organizer")
    if stored is not None:
        return stored
    owner = directory.user_by_id(conn, row["mailbox_id"])
    organizer = etree.Element(t("Organizer"))
    mailbox = sub(organizer, t("Mailbox"))
    sub(mailbox, t("Name"), owner["name"])
    sub(mailbox, t("EmailAddress"), owner["email"])
    sub(mailbox, t("RoutingType"), "SMTP")
    sub(mailbox, t("MailboxType"), "Mailbox")
    return organizer


def _Duration(conn, row, item):
    start, end = calendar.span(item)
    return _text("Duration", iso_duration(end - start)) if start is not None else None


def iso_duration(length):
    seconds = int(length.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{seconds}S" if seconds else "")
    return text + ("T" + clock if clock else ("" if days else "T0S"))


def _AppointmentState(conn, row, item):
    stored = _stored(item, "AppointmentState")
    return stored if stored is not None else _text("AppointmentState", "1" if _is_meeting(item) else "0")


def _AppointmentSequenceNumber(conn, row, item):
    return _or_stored(item, "AppointmentSequenceNumber", lambda: _text("AppointmentSequenceNumber", "0"))


def _OriginalStart(conn, row, item):
    return _text("OriginalStart", row["original_start"]) if isinstance(row, calendar.Occurrence) else None


def _RecurrenceId(conn, row, item):
    """An occurrence's original start; an attendee's lone copy of one occurrence keeps its own."""
    if isinstance(row, calendar.Occurrence):
        return _text("RecurrenceId", row["original_start"])
    return _stored(item, "RecurrenceId")


def _Recurrence(conn, row, item):
    """A master's recurrence, its dates with the UTC offset of the series' zone on them."""
    recurrence = _stored(item, "Recurrence")
    if recurrence is None or isinstance(row, calendar.Occurrence):
        return None
    zone = calendar.item_zone(item)
    start, _ = calendar.span(item)
    for element in recurrence.iter(t("StartDate"), t("EndDate")):
        element.text = element.text[:10] + _offset_text(start.astimezone(zone).utcoffset())
    return recurrence


def _offset_text(offset):
    if not offset:
        return "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _occurrence_info(name, row, index, start, end, original):
    element = etree.Element(t(name))
    sub(element, t("ItemId"), Id=calendar.occurrence_id(row, index), ChangeKey=row["change_key"])
    sub(element, t("Start"), calendar.utc_string(start))
    sub(element, t("End"), calendar.utc_string(end))
    sub(element, t("OriginalStart"), calendar.utc_string(original))
    return element


def _master_occurrences(conn, row, item):
    """(occurrences with their exceptions, exceptions by index) of a finite series; a series
    without end has no last occurrence and is expanded only for its first."""
    if isinstance(row, calendar.Occurrence) or child(item, "Recurrence") is None:
        return None
    changed = calendar.exceptions(conn, row["id"])
    series = calendar.series_of(item)
    if series.has_end:
        return list(calendar.expand(conn, row, item, with_exceptions=changed)), changed
    first_start, _ = calendar.span(item)
    horizon = first_start + timedelta(days=366 * 5)
    return list(calendar.expand(conn, row, item, until=horizon, with_exceptions=changed))[:1], changed


def _FirstOccurrence(conn, row, item):
    found = _master_occurrences(conn, row, item)
    if not found or not found[0]:
        return None
    index, original, start, end, _ = found[0][0]
    return _occurrence_info("FirstOccurrence", row, index, start, end, original)


def _LastOccurrence(conn, row, item):
    found = _master_occurrences(conn, row, item)
    if not found or not found[0] or not calendar.series_of(item).has_end:
        return None
    index, original, start, end, _ = found[0][-1]
    return _occurrence_info("LastOccurrence", row, index, start, end, original)


def _ModifiedOccurrences(conn, row, item):
    if isinstance(row, calendar.Occurrence) or child(item, "Recurrence") is None:
        return None
    changed = [e for e in calendar.exceptions(conn, row["id"]).values() if not e["is_deleted"]]
    if not changed:
        return None
    container = etree.Element(t("ModifiedOccurrences"))
    for exception in changed:
        start, end = calendar.span(etree.fromstring(exception["xml"]))
        occurrence = _occurrence_info("Occurrence", row, exception["instance_index"], start, end,
                                      calendar.parse_time(exception["original_start"]))
        occurrence.find(t("ItemId")).set("ChangeKey", exception["change_key"])
        container.append(occurrence)
    return container


def _DeletedOccurrences(conn, row, item):
    if isinstance(row, calendar.Occurrence) or child(item, "Recurrence") is None:
        return None
    deleted = [e for e in calendar.exceptions(conn, row["id"]).values() if e["is_deleted"]]
    if not deleted:
        return None
    container = etree.Element(t("DeletedOccurrences"))
    for exception in deleted:
        sub(sub(container, t("DeletedOccurrence")), t("Start"), exception["original_start"])
    return container
