"""Recurring series through exchangelib: every pattern and range, each occurrence compared
with an expectation the test computes itself with python-dateutil's rrule in the series'
zone; a series across daylight-saving changes, one seen from another zone; exceptions
and deleted occurrences; all-day events; the read-only fields Exchange computes.

Microsoft's pages: "Recurrence patterns and time zones in EWS", "CalendarView",
"How to: Create all-day events by using EWS", "OccurrenceItemId".
"""
import calendar as month_days
from datetime import date, datetime, timedelta, timezone

import pytest
from dateutil import rrule

from exchangelib import UTC, CalendarItem, EWSTimeZone
from exchangelib.errors import (ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
                               ErrorCalendarOccurrenceIsDeletedFromRecurrence)
from exchangelib.items.calendar_item import EXCEPTION, OCCURRENCE, RECURRING_MASTER, SINGLE
from exchangelib.recurrence import (AbsoluteMonthlyPattern, AbsoluteYearlyPattern, DailyPattern, EndDatePattern,
                                    NoEndPattern, NumberedPattern, Recurrence, RelativeMonthlyPattern,
                                    RelativeYearlyPattern, WeeklyPattern)

from conftest import ALICE

BERLIN = EWSTimeZone("Europe/Berlin")
NEW_YORK = EWSTimeZone("America/New_York")
HOUR = timedelta(hours=1)


@pytest.fixture
def account(clean, connect):
    account = connect(ALICE)
    account.default_timezone = BERLIN
    return account


def _create(account, subject, start, pattern, boundary, length=HOUR):
    return CalendarItem(account=account, folder=account.calendar, subject=subject, start=start, end=start + length,
                        recurrence=Recurrence(pattern=pattern, boundary=boundary)).save()


def _expected(first_local, length=HOUR, **rule):
    """(start, end) in UTC of each occurrence: the rule's wall-clock times in Berlin."""
    starts = rrule.rrule(dtstart=first_local.replace(tzinfo=None), **rule)
    return [(s.replace(tzinfo=BERLIN).astimezone(UTC), (s.replace(tzinfo=BERLIN) + length).astimezone(UTC))
            for s in starts]


def _viewed(account, subject, start, end):
    """(start, end) of the occurrences starting in [start, end), a year's view at a time
    (Exchange refuses a view of more than about two years)."""
    found = []
    while start < end:
        stop = min(start + timedelta(days=365), end)
        found += [(o.start, o.end) for o in account.calendar.view(start, stop)
                  if o.subject == subject and start <= o.start < stop]
        start = stop
    return found


# (name, exchangelib pattern, exchangelib boundary (start date filled in), rrule arguments of the expectation)
START = datetime(2026, 3, 2, 9, 30, tzinfo=BERLIN)  # a Monday; Europe changes to summer time on March 29
CASES = [
    ("daily every 2nd day, 20 times", DailyPattern(interval=2), dict(number=20),
     dict(freq=rrule.DAILY, interval=2, count=20)),
    ("weekly Tue and Thu, 8 times", WeeklyPattern(interval=1, weekdays=[2, 4], first_day_of_week=1),
     dict(number=8), dict(freq=rrule.WEEKLY, byweekday=(rrule.TU, rrule.TH), wkst=rrule.MO, count=8)),
    ("every 3rd week Mon and Wed, until a date", WeeklyPattern(interval=3, weekdays=[1, 3], first_day_of_week=1),
     dict(end=date(2026, 6, 30)),
     dict(freq=rrule.WEEKLY, interval=3, byweekday=(rrule.MO, rrule.WE), wkst=rrule.MO,
          until=datetime(2026, 6, 30, 23, 59))),
    ("the 13th every 2nd month", AbsoluteMonthlyPattern(interval=2, day_of_month=13), dict(number=5),
     dict(freq=rrule.MONTHLY, interval=2, bymonthday=13, count=5)),
    ("third Wednesday every month", RelativeMonthlyPattern(interval=1, weekday=3, week_number=3), dict(number=6),
     dict(freq=rrule.MONTHLY, byweekday=rrule.WE(3), count=6)),
    ("last weekday of the month", RelativeMonthlyPattern(interval=1, weekday=9, week_number=5), dict(number=4),
     dict(freq=rrule.MONTHLY, byweekday=(rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR), bysetpos=-1, count=4)),
    ("first weekend day of every 2nd month", RelativeMonthlyPattern(interval=2, weekday=10, week_number=1),
     dict(number=4), dict(freq=rrule.MONTHLY, interval=2, byweekday=(rrule.SA, rrule.SU), bysetpos=1, count=4)),
    ("November 13th yearly", AbsoluteYearlyPattern(day_of_month=13, month=11), dict(number=3),
     dict(freq=rrule.YEARLY, bymonth=11, bymonthday=13, count=3)),
    ("second Monday of October yearly", RelativeYearlyPattern(weekday=1, week_number=2, month=10), dict(number=3),
     dict(freq=rrule.YEARLY, bymonth=10, byweekday=rrule.MO(2), count=3)),
    ("daily without end", DailyPattern(interval=1), dict(), dict(freq=rrule.DAILY, count=40)),
]


@pytest.mark.parametrize("name, pattern, boundary, rule", CASES, ids=[c[0] for c in CASES])
def test_every_pattern_and_range_expands_as_rrule_does(account, name, pattern, boundary, rule):
    if "number" in boundary:
        limits = NumberedPattern(start=START.date(), number=boundary["number"])
    elif "end" in boundary:
        limits = EndDatePattern(start=START.date(), end=boundary["end"])
    else:
        limits = NoEndPattern(start=START.date())
    expected = _expected(START, **rule)
    master = _create(account, name, START, pattern, limits)
    master.refresh()
    assert master.type == RECURRING_MASTER
    assert master.recurrence == Recurrence(pattern=pattern, boundary=limits)
    # the master's own start is its first occurrence's, wherever the pattern puts it
    assert (master.start, master.end) == expected[0]
    assert (master.first_occurrence.start, master.first_occurrence.end) == expected[0]
    if "count" in rule and boundary:
        assert (master.last_occurrence.start, master.last_occurrence.end) == expected[-1]
    else:
        assert boundary or master.last_occurrence is None  # a series without end has no last occurrence
    window_end = expected[-1][1] + timedelta(minutes=1)
    assert _viewed(account, name, expected[0][0] - timedelta(days=1), window_end) == expected


def test_monthly_on_the_31st_falls_on_the_last_day_of_shorter_months(account):
    # Outlook and Exchange place "day 31 of every month" on the last day of a shorter month
    start = datetime(2026, 1, 31, 8, tzinfo=BERLIN)
    _create(account, "month end", start, AbsoluteMonthlyPattern(interval=1, day_of_month=31),
            NumberedPattern(start=start.date(), number=6))
    days = [o_start.astimezone(BERLIN).date() for o_start, _ in
            _viewed(account, "month end", start - HOUR, start + timedelta(days=190))]
    assert days == [date(2026, m, month_days.monthrange(2026, m)[1]) for m in range(1, 7)]


def test_a_series_across_dst_keeps_its_wall_clock_time(account):
    start = datetime(2026, 3, 24, 10, tzinfo=BERLIN)  # Tuesdays and Thursdays at 10:00, over March 29
    _create(account, "Berlin sync", start, WeeklyPattern(interval=1, weekdays=[2, 4]),
            NumberedPattern(start=start.date(), number=8))
    viewed = _viewed(account, "Berlin sync", start - HOUR, start + timedelta(days=30))
    utc_hours = [s.astimezone(UTC).hour for s, _ in viewed]
    assert utc_hours == [9, 9] + [8] * 6  # UTC+1 before the change, UTC+2 after
    assert {s.astimezone(BERLIN).hour for s, _ in viewed} == {10}


def test_a_series_seen_from_another_zone(account, connect):
    start = datetime(2026, 3, 2, 10, tzinfo=BERLIN)
    _create(account, "seen from New York", start, DailyPattern(interval=7), NumberedPattern(start=start.date(),
                                                                                            number=6))
    viewer = connect(ALICE)
    viewer.default_timezone = NEW_YORK
    window_start = datetime(2026, 3, 1, tzinfo=NEW_YORK)
    seen = [o.start.astimezone(NEW_YORK) for o in viewer.calendar.view(window_start, window_start + timedelta(days=40))
            if o.subject == "seen from New York"]
    # the US changes on March 8, Europe on March 29: for three weeks the offset is 5 hours, not 6
    assert [(s.day, s.hour) for s in seen] == [(2, 4), (9, 5), (16, 5), (23, 5), (30, 4), (6, 4)]


def test_view_orders_singles_occurrences_and_exceptions_and_honours_max_entries(account):
    start = datetime(2026, 5, 4, 9, tzinfo=BERLIN)
    master = _create(account, "series", start, DailyPattern(interval=1), NumberedPattern(start=start.date(),
                                                                                        number=5))
    CalendarItem(account=account, folder=account.calendar, subject="single", start=start + timedelta(days=1, hours=3),
                 end=start + timedelta(days=1, hours=4)).save()
    window = (start - HOUR, start + timedelta(days=5))
    listed = [(o.subject, o.type) for o in account.calendar.view(*window)]
    assert listed == [("series", OCCURRENCE)] * 2 + [("single", SINGLE)] + [("series", OCCURRENCE)] * 3
    assert [o.subject for o in account.calendar.view(*window, max_items=3)] == ["series", "series", "single"]
    # the master, not its occurrences, is what a FindItem without a view lists
    assert sorted(i.type for i in account.calendar.all()) == [RECURRING_MASTER, SINGLE]
    fifth = master.occurrence(index=5)
    fifth.refresh()
    assert fifth.id != master.id and fifth.start == start + timedelta(days=4)


def test_changed_and_deleted_occurrences(account):
    start = datetime(2026, 5, 4, 9, tzinfo=BERLIN)
    master = _create(account, "stand-up", start, DailyPattern(interval=1), NumberedPattern(start=start.date(),
                                                                                          number=4))
    window = (start - HOUR, start + timedelta(days=4))
    second, third = list(account.calendar.view(*window))[1:3]
    second.start, second.end, second.subject = second.start + 2 * HOUR, second.end + 2 * HOUR, "moved"
    second.save()
    third.delete()
    master.refresh()
    assert [(o.id, o.start, o.original_start) for o in master.modified_occurrences] == \
        [(second.id, second.start, second.start - 2 * HOUR)]
    assert [d.start for d in master.deleted_occurrences] == [third.start]
    listed = list(account.calendar.view(*window))
    assert [(o.subject, o.type) for o in listed] == [("stand-up", OCCURRENCE), ("moved", EXCEPTION),
                                                     ("stand-up", OCCURRENCE)]
    assert listed[1].original_start == second.start - 2 * HOUR and listed[1].is_recurring is True
    with pytest.raises(ErrorCalendarOccurrenceIsDeletedFromRecurrence):
        master.occurrence(index=3).refresh()
    with pytest.raises(ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange):
        master.occurrence(index=5).refresh()
    # a new pattern places every occurrence anew: the exceptions are dropped
    master.recurrence.pattern = DailyPattern(interval=2)
    master.save()
    master.refresh()
    assert master.modified_occurrences is None and master.deleted_occurrences is None


def test_ending_a_series_keeps_the_exceptions_within_its_new_range(account):
    # "Update a recurring series by using EWS in Exchange": a new end recomputes the occurrences;
    # the exceptions are kept by their original start (PidLidAppointmentRecur), so those still
    # in the range stay and those past the new end go
    start = datetime(2026, 6, 1, 9, tzinfo=BERLIN)
    master = _create(account, "daily", start, DailyPattern(interval=1), NumberedPattern(start=start.date(), number=6))
    window = (start - HOUR, start + timedelta(days=7))
    occurrences = list(account.calendar.view(*window))
    second, fifth = occurrences[1], occurrences[4]
    second.subject = "changed"
    second.save(update_fields=["subject"])
    occurrences[2].delete()
    fifth.subject = "changed too"
    fifth.save(update_fields=["subject"])
    occurrences[5].delete()
    master.refresh()
    master.recurrence.boundary = EndDatePattern(start=start.date(), end=start.date() + timedelta(days=3))
    master.save(update_fields=["recurrence"])  # four days: the 2nd and 3rd stay, the 5th and 6th go
    master.refresh()
    assert [o.id for o in master.modified_occurrences] == [second.id]
    assert [d.start for d in master.deleted_occurrences] == [occurrences[2].start]
    assert [(o.subject, o.start) for o in account.calendar.view(*window)] == [
        ("daily", start), ("changed", start + timedelta(days=1)), ("daily", start + timedelta(days=3))]
    # a longer range again brings back plain occurrences where the dropped exceptions were
    master.recurrence.boundary = NumberedPattern(start=start.date(), number=6)
    master.save(update_fields=["recurrence"])
    assert [o.subject for o in account.calendar.view(*window)] == ["daily", "changed", "daily", "daily", "daily"]
    # a series without end keeps them all
    master.refresh()
    master.recurrence.boundary = NoEndPattern(start=start.date())
    master.save(update_fields=["recurrence"])
    master.refresh()
    assert [o.id for o in master.modified_occurrences] == [second.id] and len(master.deleted_occurrences) == 1
    # a later start date moves every occurrence: the exceptions go
    master.recurrence.boundary = NoEndPattern(start=start.date() + timedelta(days=1))
    master.save(update_fields=["recurrence"])
    master.refresh()
    assert master.modified_occurrences is None and master.deleted_occurrences is None


def test_all_day_event_spans_whole_days_of_its_zone(account):
    item = CalendarItem(account=account, folder=account.calendar, subject="offsite", is_all_day=True,
                        start=datetime(2026, 7, 1, 15, tzinfo=BERLIN), end=datetime(2026, 7, 2, 11, tzinfo=BERLIN))
    item.save()
    stored = account.calendar.get(id=item.id)
    assert (stored.start, stored.end) == (date(2026, 7, 1), date(2026, 7, 2))
    raw = account.calendar.all().only("start", "end").get(id=item.id)  # not all-day: the raw UTC times
    assert raw.start == datetime(2026, 6, 30, 22, tzinfo=timezone.utc)
    assert raw.end == datetime(2026, 7, 2, 22, tzinfo=timezone.utc)


def test_computed_read_only_fields(account):
    start = datetime(2026, 9, 1, 14, tzinfo=BERLIN)
    item = CalendarItem(account=account, folder=account.calendar, subject="review", start=start,
                        end=start + timedelta(minutes=90))
    item.save()
    item.refresh()
    assert (item.type, item.is_recurring, item.is_meeting, item.is_cancelled) == (SINGLE, False, False, False)
    assert item.duration == "PT1H30M"
    assert item.my_response_type == "Organizer"
    assert item.organizer.email_address == ALICE
    assert item.uid and item.start.tzinfo == UTC and item._start_timezone == BERLIN


def test_a_series_moved_or_copied_keeps_its_exceptions(account):
    from exchangelib.folders import Calendar
    start = datetime(2026, 7, 6, 9, tzinfo=BERLIN)
    master = _create(account, "weekly", start, WeeklyPattern(interval=1, weekdays=[1]),
                     NumberedPattern(start=start.date(), number=3))
    window = (start - HOUR, start + timedelta(days=21))
    occurrences = list(account.calendar.view(*window))
    occurrences[0].subject = "first, changed"
    occurrences[0].save(update_fields=["subject"])
    occurrences[2].delete()
    other = Calendar(parent=account.calendar, name="Team calendar").save()
    copy_id = master.copy(other)
    [copied] = account.fetch([copy_id])
    master.move(other)  # a new id, kept by the item
    [moved] = account.fetch([master])
    for series in (copied, moved):
        assert [o.start for o in series.modified_occurrences] == [start]
        assert [d.start for d in series.deleted_occurrences] == [start + timedelta(days=14)]
    assert sorted(o.subject for o in other.view(*window)) == ["first, changed", "first, changed", "weekly", "weekly"]
