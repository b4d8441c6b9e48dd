"""Each claim of cost or effect that references/calendar.md makes, tested through exchangelib
against the sandbox (the request log counts the round trips)."""
import itertools
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from exchangelib import UTC, Attendee, CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorCalendarViewRangeTooBig, ErrorInvalidOperation
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY, MeetingCancellation
from exchangelib.recurrence import (AbsoluteYearlyPattern, DailyPattern, NoEndPattern, NumberedPattern, Recurrence,
                                    RelativeYearlyPattern)

from conftest import ALICE, BOB

BERLIN = EWSTimeZone("Europe/Berlin")
PAGE = Path(__file__).resolve().parent.parent / "references" / "calendar.md"


def cite(claim):
    """Fails unless references/calendar.md says `claim`, whitespace aside."""
    flat = lambda text: re.sub(r"\s+", " ", text).strip()  # noqa: E731
    assert flat(claim) in flat(PAGE.read_text(encoding="utf-8")), f"calendar.md no longer says: {claim}"


@pytest.fixture
def alice(clean, connect):
    account = connect(ALICE)
    account.default_timezone = BERLIN
    return account


@pytest.fixture
def bob(clean, connect):
    account = connect(BOB)
    account.default_timezone = BERLIN
    return account


def ops(admin):
    return dict(Counter(entry["operation"] for entry in admin.requests()))


def event(account, subject, start, minutes=30, **fields):
    item = CalendarItem(account=account, folder=account.calendar, subject=subject, start=start,
                        end=start + timedelta(minutes=minutes), **fields)
    return item


def daily(account, subject, start, days=None):
    boundary = NumberedPattern(start=start.date(), number=days) if days else NoEndPattern(start=start.date())
    return event(account, subject, start, recurrence=Recurrence(pattern=DailyPattern(interval=1), boundary=boundary))


# ---- times and zones ------------------------------------------------------------------------

def test_naive_times_are_refused_and_answers_come_in_utc_with_the_zone_kept(alice):
    cite('a naive `datetime` on `start` or `end` raises `ValueError` ("must be timezone aware")')
    cite('What the server sends back is in UTC')
    with pytest.raises(ValueError, match="must be timezone aware"):
        event(alice, "naive", datetime(2026, 3, 27, 10)).save()
    start = EWSDateTime(2026, 3, 27, 10, tzinfo=BERLIN)
    item = event(alice, "zoned", start)
    item.save()
    stored = alice.calendar.get(id=item.id)
    assert stored.start.tzinfo == UTC and stored.start == start and stored._start_timezone == BERLIN


def test_arithmetic_keeps_the_wall_clock_of_its_own_zone():
    cite('arithmetic on an aware time keeps the wall clock of *its* zone')
    friday = datetime(2026, 3, 27, 10, tzinfo=BERLIN)
    assert (friday + timedelta(days=3)).hour == 10
    assert (friday.astimezone(UTC) + timedelta(days=3)).astimezone(BERLIN).hour == 11


def test_all_day_sends_midnights_of_the_default_zone_end_one_day_later(alice):
    cite('exchangelib sends the midnights of `account.default_timezone`, the end one day later')
    item = CalendarItem(account=alice, folder=alice.calendar, subject="Offsite", is_all_day=True,
                        start=EWSDate(2026, 7, 1), end=EWSDate(2026, 7, 2))
    item.save()
    raw = alice.calendar.all().only("start", "end").get(id=item.id)  # is_all_day not asked: raw times
    assert (raw.start, raw.end) == (datetime(2026, 6, 30, 22, tzinfo=UTC), datetime(2026, 7, 2, 22, tzinfo=UTC))
    back = alice.calendar.get(id=item.id)
    assert (back.start, back.end) == (EWSDate(2026, 7, 1), EWSDate(2026, 7, 2))


# ---- series, occurrences ----------------------------------------------------------------------

def test_yearly_patterns_have_no_interval():
    cite('Yearly patterns have no interval.')
    for pattern in (AbsoluteYearlyPattern, RelativeYearlyPattern):
        assert "interval" not in [f.name for f in pattern.FIELDS]


def test_occurrence_by_index_sends_nothing_until_refresh(alice, clean):
    cite('`master.occurrence(index=3)` names the third one without a request (`OccurrenceItemId`); `refresh()` fetches it.')
    master = daily(alice, "Daily", EWSDateTime(2026, 5, 4, 9, tzinfo=BERLIN), days=5)
    master.save()
    clean.clear_requests()
    third = master.occurrence(index=3)
    assert ops(clean) == {}
    third.refresh()
    assert ops(clean) == {"GetItem": 1} and third.start == EWSDateTime(2026, 5, 6, 9, tzinfo=BERLIN)
    series = third.recurring_master()  # RecurringMasterItemId around the occurrence's id: no request yet
    series.refresh()
    assert series.id == master.id and series.type == "RecurringMaster"


def test_a_new_pattern_drops_the_exceptions(alice):
    cite('Giving the series a new pattern or new times drops its exceptions.')
    master = daily(alice, "Daily", EWSDateTime(2026, 5, 4, 9, tzinfo=BERLIN), days=5)
    master.save()
    master.occurrence(index=2).delete()
    master.refresh()
    assert len(master.deleted_occurrences) == 1
    master.recurrence = Recurrence(pattern=DailyPattern(interval=2), boundary=master.recurrence.boundary)
    master.save(update_fields=["recurrence"])
    master.refresh()
    assert master.deleted_occurrences is None


# ---- view versus filter -----------------------------------------------------------------------

def test_view_takes_no_filter_sorts_on_the_client_and_filter_lists_masters(alice, clean):
    cite('It takes no `filter()` (the server answers `ErrorInvalidOperation`); `order_by()` is done by exchangelib, on the client.')
    cite('A view spans about two years at most (`ErrorCalendarViewRangeTooBig`).')
    start = EWSDateTime(2026, 5, 4, 9, tzinfo=BERLIN)
    daily(alice, "Daily", start, days=5).save()
    window = (start - timedelta(hours=1), start + timedelta(days=5))
    with pytest.raises(ErrorInvalidOperation):
        list(alice.calendar.view(*window).filter(subject="Daily"))
    clean.clear_requests()
    newest_first = list(alice.calendar.view(*window).only("start").order_by("-start"))
    assert [o.start.day for o in newest_first] == [8, 7, 6, 5, 4] and ops(clean) == {"FindItem": 1}
    assert [i.type for i in alice.calendar.filter(start__lt=window[1], end__gt=window[0])] == ["RecurringMaster"]
    with pytest.raises(ErrorCalendarViewRangeTooBig):
        list(alice.calendar.view(start, start + timedelta(days=800)))


def test_a_bare_view_stops_at_1000_entries_and_location_costs_get_item(alice, clean):
    cite('With more in the window, a bare `view()` never ends')
    cite('exchangelib fetches `location`, `uid`, `body`, `organizer` and the attendees with GetItem, 100 items a request')
    for hour in (9, 11, 13):
        daily(alice, f"Daily {hour}", EWSDateTime(2026, 1, 1, hour, tzinfo=BERLIN)).save()
    year = (EWSDateTime(2026, 1, 1, tzinfo=BERLIN), EWSDateTime(2027, 1, 1, tzinfo=BERLIN))
    clean.clear_requests()
    assert len(list(alice.calendar.view(*year, max_items=1000).only("subject", "start"))) == 1000  # of 1,095
    assert ops(clean) == {"FindItem": 1}
    # without max_items, exchangelib reads "not the last item" as "ask again": the same page, forever
    clean.clear_requests()
    bare = [o.id for o in itertools.islice(alice.calendar.view(*year).only("start"), 2000)]
    assert bare[1000:] == bare[:1000] and ops(clean) == {"FindItem": 2}
    clean.clear_requests()
    plain = ("subject", "start", "end", "type", "is_all_day", "legacy_free_busy_status", "my_response_type",
             "is_meeting")
    assert len(list(alice.calendar.view(*year, max_items=300).only(*plain))) == 300
    assert ops(clean) == {"FindItem": 1}
    clean.clear_requests()
    assert len(list(alice.calendar.view(*year, max_items=300).only("subject", "location"))) == 300
    assert ops(clean) == {"FindItem": 1, "GetItem": 3}  # location: GetItem, 100 items a request


# ---- meetings, cancellations ------------------------------------------------------------------

def test_save_invites_nobody_unless_asked_and_a_response_is_one_create_item(alice, bob, clean):
    cite('`save()` sends **no** invitation unless asked')
    cite('| accept, decline, cancel | 1 CreateItem each (the first also a GetFolder: Sent Items keeps the copy) |')
    start = EWSDateTime(2026, 6, 2, 10, tzinfo=BERLIN)
    quiet = event(alice, "Quiet", start, required_attendees=[Attendee(mailbox=BOB)])
    quiet.save()
    assert bob.inbox.filter(subject="Quiet").count() == 0 and bob.calendar.filter(subject="Quiet").count() == 0
    clean.clear_requests()
    meeting = event(alice, "Kick-off", start, required_attendees=[Attendee(mailbox=BOB)])
    meeting.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    assert ops(clean) == {"CreateItem": 1}
    cite("| create an event, a series or a meeting (invitations included) | 1 CreateItem |")
    copy = bob.calendar.get(subject="Kick-off")
    clean.clear_requests()
    copy.accept()  # on the calendar copy, not the request
    assert ops(clean) == {"CreateItem": 1, "GetFolder": 1}  # and Sent Items, where the response is kept: once
    meeting.refresh()
    assert [a.response_type for a in meeting.required_attendees] == ["Accept"]
    copy = bob.calendar.get(subject="Kick-off")
    clean.clear_requests()
    copy.decline()
    assert ops(clean) == {"CreateItem": 1}
    meeting.refresh()
    assert [a.response_type for a in meeting.required_attendees] == ["Decline"]


def test_cancel_of_one_occurrence_and_delete_that_tells_nobody(alice, bob, clean):
    cite('Called on one occurrence it cancels that occurrence only. `item.delete()` tells nobody')
    start = EWSDateTime(2026, 6, 1, 9, tzinfo=BERLIN)
    series = daily(alice, "Stand-up", start, days=5)
    series.required_attendees = [Attendee(mailbox=BOB)]
    series.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    second = series.occurrence(index=2)
    second.refresh()
    clean.clear_requests()
    second.cancel(body="Not today")
    assert ops(clean) == {"CreateItem": 1, "GetFolder": 1}  # and Sent Items, once per Account
    series.refresh()
    assert [d.start for d in series.deleted_occurrences] == [start + timedelta(days=1)]
    notice = bob.inbox.get(subject="Canceled: Stand-up")
    assert isinstance(notice, MeetingCancellation) and "Not today" in notice.body
    bobs_day = list(bob.calendar.view(start + timedelta(days=1), start + timedelta(days=1, hours=1)))
    assert [(o.subject, o.is_cancelled) for o in bobs_day] == [("Canceled: Stand-up", True)]

    lunch = event(alice, "Lunch", start + timedelta(hours=3), required_attendees=[Attendee(mailbox=BOB)])
    lunch.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    lunch.delete()
    assert bob.inbox.filter(subject="Canceled: Lunch").count() == 0
    assert bob.calendar.get(subject="Lunch").is_cancelled is False


# ---- free/busy, what connecting costs ---------------------------------------------------------

def test_free_busy_costs_two_requests_for_everyone(alice, clean):
    cite('| free/busy of several people | 1 GetServerTimeZones + 1 GetUserAvailability |')
    day = EWSDateTime(2026, 3, 27, 8, tzinfo=BERLIN)
    clean.clear_requests()
    views = list(alice.protocol.get_free_busy_info(
        accounts=[(ALICE, "Organizer", False), (BOB, "Required", False), ("carol@contoso.example", "Optional", False)],
        start=day, end=day + timedelta(hours=10), merged_free_busy_interval=60))
    assert ops(clean) == {"ConvertId": 1,  # exchangelib's version probe, the first request of an Account
                          "GetServerTimeZones": 1, "GetUserAvailabilityRequest": 1}
    assert [v.merged for v in views] == ["0000000000"] * 3
    assert [p.weekdays for p in views[1].working_hours] == [[1, 2, 3, 4, 5]]


def test_opening_the_calendar_costs_two_get_folder_once(connect, clean):
    cite('| opening the calendar (`account.calendar`) | 2 GetFolder (root, calendar), once per Account |')
    from exchangelib import Build, Version
    account = connect(ALICE, version=Version(build=Build(15, 1, 2507, 6)))  # a known version: no probe
    clean.clear_requests()
    account.calendar
    account.calendar
    assert ops(clean) == {"GetFolder": 2}
