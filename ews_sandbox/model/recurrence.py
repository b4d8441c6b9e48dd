"""A calendar series' recurrence (t:Recurrence) as python-dateutil rrules, expanded in the
series' own time zone so that every occurrence keeps its wall-clock time across
daylight-saving changes.

Microsoft's pages "Recurrence (RecurrenceType)", "DaysOfWeek", "DayOfWeekIndex",
"AbsoluteMonthlyRecurrence" and "NumberedRecurrence" define the patterns and ranges.
"""
from datetime import date, datetime, timedelta, timezone

from dateutil import rrule

from ..wire.errors import EWSError
from ..wire.ns import local, t

DAYS = {"Monday": rrule.MO, "Tuesday": rrule.TU, "Wednesday": rrule.WE, "Thursday": rrule.TH,
        "Friday": rrule.FR, "Saturday": rrule.SA, "Sunday": rrule.SU}
DAY_GROUPS = {"Day": tuple(DAYS.values()), "Weekday": (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR),
              "WeekendDay": (rrule.SA, rrule.SU)}
WEEK_INDEX = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
PATTERNS = ("RelativeYearlyRecurrence", "AbsoluteYearlyRecurrence", "RelativeMonthlyRecurrence",
            "AbsoluteMonthlyRecurrence", "WeeklyRecurrence", "DailyRecurrence")
RANGES = ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence")
MAX_OCCURRENCES = 999  # NumberedRecurrence allows 1 to 999


class Series:
    """One recurrence: the rrule of its pattern and range, from the series' first local start."""

    def __init__(self, recurrence, local_start, zone):
        self.zone = zone
        self.pattern = next((p for p in recurrence if isinstance(p.tag, str) and local(p) in PATTERNS), None)
        self.range = next((r for r in recurrence if isinstance(r.tag, str) and local(r) in RANGES), None)
        if self.pattern is None or self.range is None:
            raise EWSError("ErrorCalendarInvalidRecurrence", "A recurrence needs a pattern and a range.")
        self.start_date = parse_date(self.range.findtext(t("StartDate")))
        first = datetime.combine(self.start_date, local_start.time())
        self.rule = rrule.rrule(dtstart=first, **self._pattern_arguments(), **self._range_arguments())

    @property
    def has_end(self):
        return local(self.range) != "NoEndRecurrence"

    def local_starts(self, until=None):
        """(index, naive local start) from the first occurrence, 1-based, up to `until` (naive local)."""
        for index, start in enumerate(self.rule, start=1):
            if until is not None and start > until:
                return
            yield index, start

    def utc(self, local_start):
        """A wall-clock time of the series as UTC; a time skipped by a DST change moves forward."""
        aware = local_start.replace(tzinfo=self.zone)
        as_utc = aware.astimezone(timezone.utc)
        if as_utc.astimezone(self.zone).replace(tzinfo=None) != local_start:  # in a spring-forward gap
            as_utc = (local_start + timedelta(hours=1)).replace(tzinfo=self.zone).astimezone(timezone.utc)
        return as_utc

    # ---- pattern and range ----
    def _pattern_arguments(self):
        kind = local(self.pattern)
        interval = _positive(self.pattern.findtext(t("Interval")) or "1", "Interval")
        if kind == "DailyRecurrence":
            return {"freq": rrule.DAILY, "interval": interval}
        if kind == "WeeklyRecurrence":
            days = _days(self.pattern.findtext(t("DaysOfWeek")))
            first_day = DAYS.get((self.pattern.findtext(t("FirstDayOfWeek")) or "Sunday").strip(), rrule.SU)
            return {"freq": rrule.WEEKLY, "interval": interval, "byweekday": days, "wkst": first_day}
        if kind == "AbsoluteMonthlyRecurrence":
            return {"freq": rrule.MONTHLY, "interval": interval, **_day_of_month(self.pattern)}
        if kind == "RelativeMonthlyRecurrence":
            return {"freq": rrule.MONTHLY, "interval": interval, **_relative_day(self.pattern)}
        month = _month(self.pattern.findtext(t("Month")))
        if kind == "AbsoluteYearlyRecurrence":
            return {"freq": rrule.YEARLY, "bymonth": month, **_day_of_month(self.pattern)}
        return {"freq": rrule.YEARLY, "bymonth": month, **_relative_day(self.pattern)}

    def _range_arguments(self):
        kind = local(self.range)
        if kind == "NumberedRecurrence":
            count = _positive(self.range.findtext(t("NumberOfOccurrences")), "NumberOfOccurrences")
            return {"count": min(count, MAX_OCCURRENCES)}
        if kind == "EndDateRecurrence":
            end = parse_date(self.range.findtext(t("EndDate")))
            if end < self.start_date:
                raise EWSError("ErrorCalendarInvalidRecurrence", "The recurrence's EndDate is before its StartDate.")
            return {"until": datetime.combine(end, datetime.max.time())}
        return {}


def parse_date(text):
    """A recurrence date as sent ('2026-03-24', '2026-03-24+01:00', '2026-03-24Z' or a date-time)."""
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        raise EWSError("ErrorCalendarInvalidRecurrence", f"'{text}' is not a recurrence date.")


def _positive(text, name):
    try:
        value = int((text or "").strip())
    except ValueError:
        value = 0
    if value < 1:
        raise EWSError("ErrorCalendarInvalidRecurrence", f"The recurrence's {name} must be a positive number.")
    return value


def _days(text):
    days = []
    for name in (text or "").split():
        if name in DAY_GROUPS:
            days.extend(DAY_GROUPS[name])
        elif name in DAYS:
            days.append(DAYS[name])
        else:
            raise EWSError("ErrorCalendarInvalidRecurrence", f"'{name}' is not a day of the week.")
    if not days:
        raise EWSError("ErrorCalendarInvalidRecurrence", "A weekly recurrence needs days of the week.")
    return days


def _month(text):
    try:
        return MONTHS.index((text or "").strip()) + 1
    except ValueError:
        raise EWSError("ErrorCalendarInvalidRecurrence", f"'{text}' is not a month.")


def _day_of_month(pattern):
    """A day of the month; past the 28th, months without that day take their last day, as
    Exchange (and Outlook) place the 31st of every month."""
    day = _positive(pattern.findtext(t("DayOfMonth")), "DayOfMonth")
    if day > 31:
        raise EWSError("ErrorCalendarInvalidRecurrence", "DayOfMonth is at most 31.")
    if day <= 28:
        return {"bymonthday": day}
    return {"bymonthday": tuple(range(28, day + 1)), "bysetpos": -1}


def _relative_day(pattern):
    """The first, ..., fourth or last of the days named (one day, Day, Weekday or WeekendDay)."""
    index = WEEK_INDEX.get((pattern.findtext(t("DayOfWeekIndex")) or "").strip())
    if index is None:
        raise EWSError("ErrorCalendarInvalidRecurrence", "DayOfWeekIndex is one of First, Second, Third, Fourth, Last.")
    return {"byweekday": _days(pattern.findtext(t("DaysOfWeek"))), "bysetpos": index}
