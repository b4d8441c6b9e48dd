"""Calendar items: their times and time zones as Exchange keeps them, recurring series
expanded into occurrences, and the changed or deleted occurrences (exceptions) of a series.

Exchange stores Start and End in UTC with the zones they were given in (StartTimeZone and
EndTimeZone, or MeetingTimeZone before Exchange 2010); an all-day event runs from
midnight to midnight in those zones ("How to: Create all-day events by using EWS"). An
occurrence is no item of its own: it is the series' master seen at one position of its
pattern, with an OccurrenceItemId; a changed occurrence (an exception) or a deleted one
is kept beside the master.
"""
import copy
import functools
import itertools
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree

from ..wire.errors import EWSError
from ..wire.ns import t
from . import ids
from .properties import child, now_text
from .recurrence import Series

UTC = timezone.utc


# ---- time zones and times ---------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _windows_zones():
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP  # the map exchangelib writes its ids from
    return dict(MS_TIMEZONE_TO_IANA_MAP)


def zone_for_id(zone_id):
    """The tz database zone of a Windows zone id (or of an IANA name), None if unknown."""
    name = _windows_zones().get(zone_id, zone_id)
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def item_zone(item, which="Start"):
    """The zone a calendar item's Start (or End) was given in: StartTimeZone/EndTimeZone,
    else MeetingTimeZone, else UTC."""
    for name in (f"{which}TimeZone", "MeetingTimeZone"):
        element = child(item, name)
        if element is not None:
            zone = zone_for_id(element.get("Id") or element.get("TimeZoneName"))
            if zone is None:
                raise EWSError("ErrorTimeZone", f"The time zone {element.get('Id') or element.get('TimeZoneName')!r} "
                                                "is not known to the server.")
            return zone
    return UTC


def parse_time(text):
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def utc_string(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def span(item):
    """(start, end) of a calendar item as aware UTC datetimes, or (None, None)."""
    start, end = child(item, "Start"), child(item, "End")
    if start is None or not (start.text or "").strip():
        return None, None
    begin = parse_time(start.text)
    return begin, parse_time(end.text) if end is not None and (end.text or "").strip() else begin


# ---- what a write stores ------------------------------------------------------------------

def normalize(item):
    """Before a calendar item is stored: times in UTC (all-day events stretched to whole
    days in their zones), end not before start, a UID, and a series' start moved to its
    first occurrence as Exchange moves it."""
    start, end = span(item)
    if start is None:
        return
    if (child(item, "IsAllDayEvent") is not None and child(item, "IsAllDayEvent").text == "true"):
        start, end = _whole_days(start, item_zone(item, "Start")), _whole_days(end, item_zone(item, "End"), up=True)
    if end < start:
        raise EWSError("ErrorCalendarEndDateIsEarlierThanStartDate")
    recurrence = child(item, "Recurrence")
    if recurrence is not None:
        for date_element in recurrence.iter(t("StartDate"), t("EndDate")):
            date_element.text = date_element.text.strip()[:10]
        series = Series(recurrence, start.astimezone(item_zone(item)).replace(tzinfo=None), item_zone(item))
        first = next(series.local_starts(), None)
        if first is None:
            raise EWSError("ErrorRecurrenceHasNoOccurrence")
        first_start = series.utc(first[1])
        start, end = first_start, first_start + (end - start)
    _set_text(item, "Start", utc_string(start))
    _set_text(item, "End", utc_string(end))
    if child(item, "UID") is None:
        etree.SubElement(item, t("UID")).text = uuid.uuid4().hex.upper()


def _whole_days(moment, zone, up=False):
    local = moment.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if up and local != midnight:
        midnight = (midnight.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
    return midnight.astimezone(UTC)


def _set_text(item, name, text):
    element = child(item, name)
    if element is None:
        element = etree.SubElement(item, t(name))
    element.text = text


# ---- series and occurrences ---------------------------------------------------------------

def series_of(item):
    """The Series of a master's XML (None for a single item)."""
    recurrence = child(item, "Recurrence")
    if recurrence is None:
        return None
    zone = item_zone(item)
    start, _ = span(item)
    return Series(recurrence, start.astimezone(zone).replace(tzinfo=None), zone)


def duration(item):
    start, end = span(item)
    return end - start


class Occurrence(dict):
    """A row-like view of one occurrence or exception of a series: the master's row with the
    occurrence's own XML, change key and id."""

    @property
    def kind(self):
        return self["occurrence_kind"]


def occurrence_id(master_row, index):
    return ids.encode_occurrence(master_row["mailbox_id"], master_row["id"], index)


def exceptions(conn, master_id):
    return {row["instance_index"]: row for row in
            conn.execute("SELECT * FROM calendar_exceptions WHERE master_id = ? ORDER BY instance_index",
                         (master_id,))}


def expand(conn, master_row, item=None, until=None, with_exceptions=None):
    """Every (index, original start, start, end, exception row or None) of a series up to
    `until` (UTC), deleted occurrences left out, in pattern order."""
    item = item if item is not None else etree.fromstring(master_row["xml"])
    series = series_of(item)
    length = duration(item)
    changed = with_exceptions if with_exceptions is not None else exceptions(conn, master_row["id"])
    local_until = until.astimezone(series.zone).replace(tzinfo=None) + timedelta(days=1) if until else None
    if local_until is None and not series.has_end:
        raise ValueError("a series without end needs a limit")
    for index, local_start in series.local_starts(local_until):
        original = series.utc(local_start)
        exception = changed.get(index)
        if exception is not None and exception["is_deleted"]:
            continue
        if exception is not None:
            start, end = span(etree.fromstring(exception["xml"]))
        else:
            start, end = original, original + length
        yield index, original, start, end, exception


def occurrence_row(conn, master_row, index, original=None, exception=None, item=None):
    """The Occurrence at `index` of a series (found by expanding it when `original` is None)."""
    item = item if item is not None else etree.fromstring(master_row["xml"])
    if original is None:
        if child(item, "Recurrence") is None:
            raise EWSError("ErrorCalendarCannotUseIdForOccurrenceId")
        series, starts = _pattern_starts(master_row["xml"], 1 << max(6, (index - 1).bit_length()))
        if not 1 <= index <= len(starts):
            raise EWSError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange")
        original = series.utc(starts[index - 1])
        exception = exceptions(conn, master_row["id"]).get(index)
        if exception is not None and exception["is_deleted"]:
            raise EWSError("ErrorCalendarOccurrenceIsDeletedFromRecurrence")
    if exception is not None:
        xml, change_key, kind = exception["xml"], exception["change_key"], "Exception"
    else:
        xml, change_key, kind = _occurrence_xml(item, original), master_row["change_key"], "Occurrence"
    row = Occurrence({key: master_row[key] for key in master_row.keys()})
    row.update(xml=xml, change_key=change_key, occurrence_kind=kind, instance_index=index,
               master_id=master_row["id"], original_start=utc_string(original))
    return row


def occurrence_at(conn, master_row, original_text):
    """The Occurrence of a series whose original start is `original_text` (a meeting message's
    RecurrenceId: with the UID it names one instance), None if the series has no such
    occurrence or it was deleted."""
    item = etree.fromstring(master_row["xml"])
    series = series_of(item)
    if series is None:
        return None
    wanted = parse_time(original_text)
    changed = exceptions(conn, master_row["id"])
    for index, local_start in series.local_starts():
        original = series.utc(local_start)
        if original > wanted:
            return None
        if original == wanted:
            exception = changed.get(index)
            if exception is not None and exception["is_deleted"]:
                return None
            return occurrence_row(conn, master_row, index, original, exception, item)
    return None


@functools.lru_cache(maxsize=32)
def _pattern_starts(master_xml, count):
    """(Series, its first `count` local starts) of a master's XML: GetItem of many occurrences
    of one series (exchangelib fetches a view's items 100 at a time) expands it once, or a few
    times (`count` a power of two from 64: the 5th occurrence costs no expansion of 1,000)."""
    series = series_of(etree.fromstring(master_xml))
    return series, [start for _, start in itertools.islice(series.local_starts(), count)]


def _occurrence_xml(master, original):
    occurrence = copy.deepcopy(master)
    length = duration(master)
    for name in ("Recurrence", "OriginalStart"):
        for element in occurrence.findall(t(name)):
            occurrence.remove(element)
    _set_text(occurrence, "Start", utc_string(original))
    _set_text(occurrence, "End", utc_string(original + length))
    return etree.tostring(occurrence)


def save_exception(conn, occurrence, item):
    """An occurrence written back: it becomes (or stays) an exception of its series."""
    normalize(item)
    for element in item.findall(t("Recurrence")):
        item.remove(element)
    change_key = ids.new_change_key()
    conn.execute("INSERT OR REPLACE INTO calendar_exceptions(master_id, instance_index, original_start, is_deleted, "
                 "change_key, xml) VALUES (?, ?, ?, 0, ?, ?)",
                 (occurrence["master_id"], occurrence["instance_index"], occurrence["original_start"], change_key,
                  etree.tostring(item)))
    _touch_master(conn, occurrence["master_id"])
    updated = Occurrence(occurrence)
    updated.update(xml=etree.tostring(item), change_key=change_key, occurrence_kind="Exception")
    return updated


def delete_occurrence(conn, occurrence):
    conn.execute("INSERT OR REPLACE INTO calendar_exceptions(master_id, instance_index, original_start, is_deleted, "
                 "change_key, xml) VALUES (?, ?, ?, 1, ?, NULL)",
                 (occurrence["master_id"], occurrence["instance_index"], occurrence["original_start"],
                  ids.new_change_key()))
    _touch_master(conn, occurrence["master_id"])


def _touch_master(conn, master_id):
    """A changed occurrence changes its series: the master gets a new change key."""
    conn.execute("UPDATE items SET change_key = ?, modified = ?, unmodified = 0 WHERE id = ?",
                 (ids.new_change_key(), now_text(), master_id))


def pattern_changed(conn, master_id, before, after):
    """After a series' master is written. A new pattern, start or times place every occurrence
    anew: its exceptions (changed and deleted occurrences) are dropped. A new end of the range
    alone (EndDate, NumberOfOccurrences, or another kind of range from the same StartDate)
    keeps the occurrences, so Exchange keeps the exceptions still within the range and drops
    those past its end; exceptions are known by their original start, as PidLidAppointmentRecur
    keeps them (DeletedInstanceDates, ModifiedInstanceDates)."""
    if child(before, "Recurrence") is None:
        return
    if child(after, "Recurrence") is None or any(
            _text_of(before, name) != _text_of(after, name) for name in ("Start", "End")) or \
            _pattern_of(before) != _pattern_of(after):
        conn.execute("DELETE FROM calendar_exceptions WHERE master_id = ?", (master_id,))
        return
    if _text_of(before, "Recurrence") == _text_of(after, "Recurrence"):
        return
    last = conn.execute("SELECT MAX(instance_index) FROM calendar_exceptions WHERE master_id = ?",
                        (master_id,)).fetchone()[0]
    if last is None:
        return
    within = sum(1 for _ in itertools.islice(series_of(after).local_starts(), last))
    conn.execute("DELETE FROM calendar_exceptions WHERE master_id = ? AND instance_index > ?", (master_id, within))


def _pattern_of(item):
    """The recurrence's pattern and its range's StartDate: what places the occurrences."""
    recurrence = child(item, "Recurrence")
    series = Series(recurrence, datetime(2000, 1, 1), UTC)
    return etree.tostring(series.pattern), series.start_date


def _text_of(item, name):
    element = child(item, name)
    return etree.tostring(element) if element is not None else None
