"""Tasks: the properties Exchange keeps on a task (IsComplete, IsRecurring, ChangeCount),
and recurring tasks generating one-off occurrences.

As the "UpdateItem operation (task)" page of the EWS reference describes it, an update
of a recurring task makes Exchange copy the current occurrence into a new, one-off task,
whose id UpdateItem returns, and move the recurring task on to its next occurrence,
when:
- its status is set to Completed (regenerating or not), or
- the start or due date of a task that does not regenerate changes.
A non-regenerating task's next occurrence follows its pattern (the pattern as it was
before the update) after the current due date; a regenerating task's next occurrence is
the interval counted from the day it is completed (in UTC, as Exchange counts it). A
numbered recurrence counts down; when no occurrence is left, the task simply completes.
ChangeCount counts the occurrences generated, starting at 1.
"""
import copy
from datetime import date, datetime, timedelta, timezone

from dateutil import rrule
from dateutil.relativedelta import relativedelta
from lxml import etree

from ..wire.ns import T, t
from ..wire.schema_order import CHILD_ORDER
from . import folders, items
from .properties import child, now_text, parse_item, utc_text

REGENERATING = {"DailyRegeneration": "days", "WeeklyRegeneration": "weeks",
                "MonthlyRegeneration": "months", "YearlyRegeneration": "years"}
WEEKDAYS = {"Monday": rrule.MO, "Tuesday": rrule.TU, "Wednesday": rrule.WE, "Thursday": rrule.TH,
            "Friday": rrule.FR, "Saturday": rrule.SA, "Sunday": rrule.SU}
DAY_GROUPS = {"Day": list(WEEKDAYS.values()), "Weekday": [rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR],
              "WeekendDay": [rrule.SA, rrule.SU]}
INDEX = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


# ---- properties the server keeps ------------------------------------------------------

def on_create(item):
    """A new task: a recurring one is due on its first occurrence unless it says when."""
    recurrence = child(item, "Recurrence")
    if recurrence is not None and child(item, "DueDate") is None:
        first = _first_occurrence(recurrence)
        _set(item, "DueDate", _date_time(first))
        if child(item, "StartDate") is None:
            _set(item, "StartDate", _date_time(first))
    _set(item, "ChangeCount", "1")
    stamp(item)


def stamp(item):
    """The flags read from other properties; status and percent complete kept consistent;
    the recurrence's dates kept as dates (a client may send them as date-times)."""
    for bound in item.iterfind(f"{t('Recurrence')}/*/{t('StartDate')}"):
        bound.text = _recurrence_date(bound.text)
    for bound in item.iterfind(f"{t('Recurrence')}/*/{t('EndDate')}"):
        bound.text = _recurrence_date(bound.text)
    status = child(item, "Status")
    completed = status is not None and status.text == "Completed"
    if completed:
        _set(item, "PercentComplete", "100")
        if child(item, "CompleteDate") is None:
            _set(item, "CompleteDate", now_text())
    else:
        _remove(item, "CompleteDate")
    _set(item, "IsComplete", "true" if completed else "false")
    _set(item, "IsRecurring", "true" if child(item, "Recurrence") is not None else "false")


# ---- updates of recurring tasks -------------------------------------------------------

def save_update(conn, row, item):
    """Save an updated task (`row` as it was, `item` as updated); returns the row
    UpdateItem answers with: the one-off occurrence, when the update generated one."""
    before = parse_item(row["xml"])
    stamp(item)
    recurrence = child(before, "Recurrence")
    if recurrence is None or child(item, "Recurrence") is None or not _generates(before, item, recurrence):
        return items.save(conn, row, item)
    occurrence = _one_off(before, item)
    following = _next_occurrence(recurrence, _date_of(child(before, "DueDate")))
    if not _advance(item, following):
        return items.save(conn, row, occurrence)  # the last occurrence: the task itself completes
    items.save(conn, row, item)
    return items.insert(conn, folders.get(conn, row["folder_id"]), occurrence)


def _generates(before, item, recurrence):
    if _text(item, "Status") == "Completed" and _text(before, "Status") != "Completed":
        return True
    if _pattern(recurrence).tag in {t(name) for name in REGENERATING}:
        return False
    return any(_moment(before, name) != _moment(item, name) for name in ("StartDate", "DueDate")) or \
        _range_start(recurrence) != _range_start(child(item, "Recurrence"))


def _one_off(before, item):
    """The current occurrence as a task of its own: the update's values on the dates it had."""
    occurrence = copy.deepcopy(item)
    _remove(occurrence, "Recurrence")
    for name in ("StartDate", "DueDate"):
        _remove(occurrence, name)
        if child(before, name) is not None:
            occurrence.append(copy.deepcopy(child(before, name)))
    _set(occurrence, "ChangeCount", "1")
    stamp(occurrence)
    return occurrence


def _advance(item, following):
    """Move the recurring task to `following`; False when its recurrence has ended."""
    recurrence = child(item, "Recurrence")
    ending = _range(recurrence)
    numbered = ending.find(t("NumberOfOccurrences"))
    if numbered is not None and int(numbered.text) <= 1:
        return False
    end = ending.findtext(t("EndDate"))
    if following is None or (end and following > date.fromisoformat(end[:10])):
        return False
    if numbered is not None:
        numbered.text = str(int(numbered.text) - 1)
    due, start = _date_of(child(item, "DueDate")), _date_of(child(item, "StartDate"))
    _set(item, "DueDate", _date_time(following))
    if start is not None:
        _set(item, "StartDate", _date_time(following - ((due - start) if due else timedelta())))
    for name in ("Status", "PercentComplete"):
        _remove(item, name)
    _set(item, "Status", "NotStarted")
    _set(item, "PercentComplete", "0")
    _set(item, "ChangeCount", str(int(_text(item, "ChangeCount") or "1") + 1))
    stamp(item)
    return True


# ---- recurrence patterns -------------------------------------------------------------

def _first_occurrence(recurrence):
    start = _range_start(recurrence)
    if _pattern(recurrence).tag in {t(name) for name in REGENERATING}:
        return start
    return _occurrences(recurrence).after(datetime.combine(start, datetime.min.time()), inc=True).date()


def _next_occurrence(recurrence, current):
    pattern = _pattern(recurrence)
    unit = REGENERATING.get(etree.QName(pattern).localname)
    if unit is not None:
        today = datetime.now(timezone.utc).date()
        return today + relativedelta(**{unit: int(pattern.findtext(t("Interval")) or "1")})
    after = max(current or date.min, _range_start(recurrence) - timedelta(days=1))
    found = _occurrences(recurrence).after(datetime.combine(after, datetime.min.time()))
    return found.date() if found else None


def _occurrences(recurrence):
    """An rrule for a non-regenerating pattern, from the range's start (no end: the
    countdown and end date are applied one occurrence at a time)."""
    pattern = _pattern(recurrence)
    kind = etree.QName(pattern).localname
    interval = int(pattern.findtext(t("Interval")) or "1")
    start = datetime.combine(_range_start(recurrence), datetime.min.time())
    days = _weekdays(pattern.findtext(t("DaysOfWeek")))
    position = INDEX.get(pattern.findtext(t("DayOfWeekIndex")) or "")
    month = pattern.findtext(t("Month"))
    month = MONTHS.index(month) + 1 if month in MONTHS else None
    day_of_month = int(pattern.findtext(t("DayOfMonth")) or "0") or None
    if kind == "DailyRecurrence":
        return rrule.rrule(rrule.DAILY, interval=interval, dtstart=start)
    if kind == "WeeklyRecurrence":
        return rrule.rrule(rrule.WEEKLY, interval=interval, byweekday=days or None, dtstart=start)
    if kind == "AbsoluteMonthlyRecurrence":
        return rrule.rrule(rrule.MONTHLY, interval=interval, bymonthday=day_of_month, dtstart=start)
    if kind == "RelativeMonthlyRecurrence":
        return rrule.rrule(rrule.MONTHLY, interval=interval, byweekday=days, bysetpos=position, dtstart=start)
    if kind == "AbsoluteYearlyRecurrence":
        return rrule.rrule(rrule.YEARLY, bymonth=month, bymonthday=day_of_month, dtstart=start)
    return rrule.rrule(rrule.YEARLY, bymonth=month, byweekday=days, bysetpos=position, dtstart=start)


def _weekdays(text):
    days = []
    for name in (text or "").split():
        days += DAY_GROUPS.get(name, [WEEKDAYS[name]] if name in WEEKDAYS else [])
    return days


def _pattern(recurrence):
    return recurrence[0]


def _range(recurrence):
    return recurrence[1]


def _range_start(recurrence):
    return date.fromisoformat(_range(recurrence).findtext(t("StartDate")).strip()[:10])


# ---- small helpers --------------------------------------------------------------------

def _recurrence_date(text):
    """A task recurrence's date as Exchange writes it: the day, with its zone (UTC here),
    a form exchangelib reads back as a date ('2026-01-05Z')."""
    return f"{(text or '').strip()[:10]}Z"


def _date_time(day):
    return f"{day.isoformat()}T00:00:00Z"


def _date_of(element):
    """The day a DueDate or StartDate names (as the client wrote it, before any shift to UTC)."""
    if element is None or not element.text:
        return None
    return date.fromisoformat(element.text.strip()[:10])


def _moment(item, name):
    element = child(item, name)
    return utc_text(element.text) if element is not None and element.text else None


def _text(item, name):
    element = child(item, name)
    return element.text if element is not None else None


def _set(item, name, text):
    _remove(item, name)
    element = etree.Element(t(name))
    element.text = text
    order = CHILD_ORDER["Task"]
    later = [c for c in item if etree.QName(c).localname in order and
             order.index(etree.QName(c).localname) > order.index(name)]
    if later:
        later[0].addprevious(element)
    else:
        item.append(element)


def _remove(item, name):
    for element in item.findall(f"{{{T}}}{name}"):
        item.remove(element)
