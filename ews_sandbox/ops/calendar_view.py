"""CalendarView (FindItem over a window of a calendar) and the ids of occurrences:
OccurrenceItemId, RecurringMasterItemId and the ItemIds of occurrences, resolved to the
rows the other operations read, change and delete.

Microsoft's pages: "CalendarView", "OccurrenceItemId", "RecurringMasterItemId",
"How to: Access a recurring series by using EWS".
"""
from datetime import timedelta

from lxml import etree

from ..model import calendar, ids, items
from ..model.properties import child, utc_text
from ..query.paging import MAX_PAGE
from ..wire.errors import EWSError
from ..wire.ns import local, t
from ..wire.soap import schema_fault

MAX_CALENDAR_DAYS = 2 * 365 + 1  # Exchange refuses a CalendarView longer than about two years


def calendar_view(conn, folder, view):
    """Single items, occurrences and exceptions overlapping the window, by start time.
    Exchange also lists an item that ends exactly where the window starts, never one that
    starts where it ends. More than MaxEntriesReturned: the first ones, marked as not
    including the last item of the range."""
    window_start, window_end = _calendar_window(view)
    if folder["element"] != "CalendarFolder":
        raise EWSError("ErrorCalendarFolderIsInvalidForCalendarView")
    found = window_rows(conn, folder, window_start, window_end)
    wanted = _max_entries(view)
    rows = [row for *_, row in found[:wanted]]
    return rows, {"TotalItemsInView": str(len(found)),
                  "IncludesLastItemInRange": "true" if len(rows) == len(found) else "false"}


def window_rows(conn, folder, window_start, window_end):
    """(start, end, row) of the single items, occurrences and exceptions of a calendar
    folder that overlap the window (aware UTC datetimes), by start time."""
    found = []
    for row in conn.execute("SELECT * FROM items WHERE folder_id = ? AND is_associated = 0 AND element = ?",
                            (folder["id"], "CalendarItem")):
        item = etree.fromstring(row["xml"])
        start, end = calendar.span(item)
        if start is None:
            continue
        if child(item, "Recurrence") is None:
            if _overlaps(start, end, window_start, window_end):
                found.append((start, row["id"], 0, end, row))
            continue
        for index, original, start, end, exception in calendar.expand(conn, row, item, until=window_end):
            if _overlaps(start, end, window_start, window_end):
                found.append((start, row["id"], index, end,
                              calendar.occurrence_row(conn, row, index, original, exception, item)))
    found.sort(key=lambda entry: entry[:3])
    return [(start, end, row) for start, _, _, end, row in found]


def _overlaps(start, end, window_start, window_end):
    return start < window_end and end >= window_start


def _calendar_window(view):
    try:
        start, end = utc_text(view.get("StartDate")), utc_text(view.get("EndDate"))
    except (AttributeError, ValueError):
        raise schema_fault("CalendarView needs StartDate and EndDate as xs:dateTime.")
    if end < start:
        raise EWSError("ErrorCalendarEndDateIsEarlierThanStartDate")
    start, end = calendar.parse_time(start), calendar.parse_time(end)
    if end - start > timedelta(days=MAX_CALENDAR_DAYS):
        raise EWSError("ErrorCalendarViewRangeTooBig")
    return start, end


def _max_entries(view):
    try:
        wanted = int(view.get("MaxEntriesReturned", str(MAX_PAGE)))
    except ValueError:
        raise EWSError("ErrorInvalidPagingMaxRows")
    if wanted < 1:
        raise EWSError("ErrorInvalidPagingMaxRows")
    return min(wanted, MAX_PAGE)


# ---- occurrence ids ---------------------------------------------------------------------

def names_occurrence(element):
    """Whether an item id element is one this module resolves."""
    return local(element) in ("OccurrenceItemId", "RecurringMasterItemId") or \
        (local(element) in ("ItemId", "ReferenceItemId") and ids.decode_occurrence(element.get("Id")) is not None)


def resolve(ctx, element):
    """The row an OccurrenceItemId, a RecurringMasterItemId or an occurrence's ItemId names."""
    kind = local(element)
    if kind == "OccurrenceItemId":
        master = _master(ctx, element.get("RecurringMasterId"))
        try:
            index = int(element.get("InstanceIndex") or "")
        except ValueError:
            raise schema_fault("OccurrenceItemId needs an InstanceIndex.")
        return calendar.occurrence_row(ctx.conn, master, index)
    if kind == "RecurringMasterItemId":
        return _master(ctx, element.get("OccurrenceId"), from_occurrence=True)
    mailbox_id, master_id, index = ids.decode_occurrence(element.get("Id"))
    master = _master(ctx, ids.encode(ids.ITEM, mailbox_id, master_id))
    return calendar.occurrence_row(ctx.conn, master, index)


def _master(ctx, id_text, from_occurrence=False):
    """The master of a series, from its own id or (RecurringMasterItemId) an occurrence's."""
    found = ids.decode_occurrence(id_text)
    if found is not None:
        mailbox_id, master_id, _ = found
        id_text = ids.encode(ids.ITEM, mailbox_id, master_id)
    elif from_occurrence:
        row = ctx.item(etree.Element(t("ItemId"), Id=id_text))
        if child(etree.fromstring(row["xml"]), "Recurrence") is None:
            raise EWSError("ErrorCalendarCannotUseIdForRecurringMasterId")
        return row
    row = ctx.item(etree.Element(t("ItemId"), Id=id_text))
    if row["element"] != "CalendarItem" or child(etree.fromstring(row["xml"]), "Recurrence") is None:
        raise EWSError("ErrorCalendarCannotUseIdForOccurrenceId")
    return row


# ---- writes to occurrences and series ------------------------------------------------------

def is_occurrence(row):
    return isinstance(row, calendar.Occurrence)


def save(conn, row, item):
    """UpdateItem's write: an occurrence becomes an exception; a master whose pattern or
    times change loses its exceptions."""
    if is_occurrence(row):
        return calendar.save_exception(conn, row, item)
    before = etree.fromstring(row["xml"])
    saved = items.save(conn, row, item)
    if row["element"] == "CalendarItem":
        calendar.pattern_changed(conn, row["id"], before, etree.fromstring(saved["xml"]))
    return saved


def delete(conn, row):
    """DeleteItem of an occurrence: the series keeps it as a deleted occurrence."""
    calendar.delete_occurrence(conn, row)

