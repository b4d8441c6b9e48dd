"""The calendar scripts (create_calendar_event, calendar_view, respond_meeting, free_busy), each
run as a subprocess against the session's sandbox; both mailboxes of a meeting are checked
through exchangelib, and round trips are counted in the request log."""
import json
from datetime import date, datetime, timedelta

import pytest
from dateutil import rrule
from exchangelib import UTC, CalendarItem, EWSTimeZone
from exchangelib.items import MeetingCancellation, MeetingRequest
from exchangelib.recurrence import (AbsoluteMonthlyPattern, AbsoluteYearlyPattern, DailyPattern, EndDatePattern,
                                    NoEndPattern, NumberedPattern, Recurrence, RelativeMonthlyPattern,
                                    RelativeYearlyPattern, WeeklyPattern)

from conftest import ALICE, BOB, CAROL
from test_calendar_claims import cite
from test_mail_scripts import as_json, ok, operations, run  # noqa: F401 - run is a fixture

BERLIN = EWSTimeZone("Europe/Berlin")
ZONE = ("--timezone", "Europe/Berlin")
CONNECTING = {"ConvertId", "GetFolder"}  # what opening a mailbox and its calendar costs


@pytest.fixture
def people(clean, connect):
    accounts = {address: connect(address) for address in (ALICE, BOB, CAROL)}
    for account in accounts.values():
        account.default_timezone = BERLIN
    return accounts


def responses(item):
    return {a.mailbox.email_address: a.response_type for a in
            (item.required_attendees or []) + (item.optional_attendees or []) + (item.resources or [])}


# ---- the walk-through --------------------------------------------------------------

def test_weekly_berlin_meeting_across_dst_bob_accepts(run, people, clean):
    created = as_json(run("create_calendar_event", "--subject", "Sync", "--start", "2026-03-24T10:00",
                          "--duration", "30", *ZONE, "--repeat", "weekly", "--weekdays", "tue,thu", "--count", "8",
                          "--attendee", BOB, "--location", "Atlas", "--reminder", "10", "--body", "Agenda", "--json"))
    assert created["invitations_sent"] is True and created["attendees"] == [BOB]
    # eight Tuesdays and Thursdays at 10:00 Berlin: UTC+1 before March 29, UTC+2 after
    expected = [s.replace(tzinfo=BERLIN) for s in rrule.rrule(rrule.WEEKLY, dtstart=datetime(2026, 3, 24, 10),
                                                               byweekday=(rrule.TU, rrule.TH), count=8)]
    for user in (ALICE, BOB):
        listed = as_json(run("calendar_view", "--from", "2026-03-23", "--to", "2026-04-30", *ZONE, "--json",
                             email=user))
        assert [datetime.fromisoformat(o["start"]) for o in listed] == expected
        assert [datetime.fromisoformat(o["start"]).astimezone(UTC).hour for o in listed] == [9, 9] + [8] * 6
        assert {o["my_response"] for o in listed} == {"Organizer" if user == ALICE else "NoResponseReceived"}
    assert isinstance(people[BOB].inbox.get(subject="Sync"), MeetingRequest)

    answered = as_json(run("respond_meeting", "accept", "--subject", "Sync", "--message", "See you", "--json",
                           email=BOB))
    assert [(a["subject"], a["organizer"], a["sent"]) for a in answered] == [("Sync", ALICE, True)]
    master = people[ALICE].calendar.get(subject="Sync")
    assert responses(master) == {BOB: "Accept"}
    assert "See you" in people[ALICE].inbox.get(subject="Accepted: Sync").body
    bobs = as_json(run("calendar_view", "--from", "2026-03-23", "--to", "2026-04-30", *ZONE, "--json", email=BOB))
    assert {(o["my_response"], o["free_busy"]) for o in bobs} == {("Accept", "Busy")}
    assert people[BOB].inbox.filter(subject="Sync").count() == 0  # the answered request left the Inbox
    # the item keeps its zone, reminder and body
    assert master._start_timezone == BERLIN and master.reminder_minutes_before_start == 10
    assert master.reminder_is_set is True and "Agenda" in master.body


def test_common_free_30_minute_slots_of_three_users(run, people):
    day = datetime(2026, 6, 9, tzinfo=BERLIN)  # a Tuesday

    def book(address, subject, start, end, status="Busy"):
        account = people[address]
        CalendarItem(account=account, folder=account.calendar, subject=subject, start=day + start, end=day + end,
                     legacy_free_busy_status=status).save()

    hour = timedelta(hours=1)
    book(ALICE, "Design review", 9 * hour, 10.5 * hour)
    book(ALICE, "Maybe lunch", 12 * hour, 13 * hour, status="Tentative")
    book(BOB, "Dentist", 14 * hour, 15 * hour, status="OOF")
    book(BOB, "Focus", 16 * hour, 17 * hour, status="Free")  # free time does not block
    book(CAROL, "Workshop", 8 * hour, 9 * hour)
    book(CAROL, "Late call", 16.5 * hour, 18 * hour)
    result = as_json(run("free_busy", "--people", f"{ALICE},{BOB}", "--people", CAROL, "--day", "2026-06-09",
                         *ZONE, "--length", "30", "--json"))
    slots = [(s["start"][11:16], s["end"][11:16]) for s in result["free_slots"]]
    assert slots == [("10:30", "11:00"), ("11:00", "11:30"), ("11:30", "12:00"), ("13:00", "13:30"),
                     ("13:30", "14:00"), ("15:00", "15:30"), ("15:30", "16:00"), ("16:00", "16:30")]  # 8:00-17:00
    busy = {p["email"]: [(b["start"][11:16], b["status"]) for b in p["busy"]] for p in result["people"]}
    assert busy == {ALICE: [("09:00", "Busy"), ("12:00", "Tentative")], BOB: [("14:00", "OOF")],
                    CAROL: [("08:00", "Busy"), ("16:30", "Busy")]}
    hours = as_json(run("free_busy", "--people", f"{ALICE},{BOB},{CAROL}", "--day", "2026-06-09", *ZONE,
                        "--length", "60", "--step", "60", "--hours", "10:00-14:00", "--json"))
    assert [s["start"][11:16] for s in hours["free_slots"]] == ["11:00", "13:00"]  # 10:30 is not on the hour
    # a person the server does not know: reported, exit 1, the others still answered
    unknown = run("free_busy", "--people", f"{ALICE},nobody@contoso.example", "--day", "2026-06-09", *ZONE, "--json")
    assert unknown.returncode == 1 and "nobody@contoso.example: not found" in unknown.stderr
    assert "ErrorMailRecipientNotFound" in json.loads(unknown.stdout)["people"][1]["error"]
    table = ok(run("free_busy", "--people", f"{ALICE},{BOB}", "--day", "2026-06-09", *ZONE)).stdout
    assert "alice@contoso.example  2026-06-09 09:00-10:30  Busy" in table and "  2026-06-09 10:30-11:00" in table


def test_cancel_one_occurrence_of_a_meeting_and_end_the_series(run, people):
    created = as_json(run("create_calendar_event", "--subject", "Stand-up", "--start", "2026-05-04T09:00",
                          "--duration", "15", *ZONE, "--repeat", "daily", "--count", "10", "--attendee", BOB, "--json"))
    cancelled = as_json(run("create_calendar_event", "--cancel", created["id"], "--on", "2026-05-06",
                            "--message", "No stand-up today", *ZONE, "--json"))
    assert cancelled["cancellation_sent"] is True and cancelled["start"] == "2026-05-06T09:00:00+02:00"
    master = people[ALICE].calendar.get(id=created["id"])
    assert [d.start.astimezone(BERLIN).day for d in master.deleted_occurrences] == [6]
    days = lambda user: [int(o["start"][8:10]) for o in as_json(run(  # noqa: E731
        "calendar_view", "--from", "2026-05-01", "--to", "2026-05-31", *ZONE, "--json", email=user))]
    assert days(ALICE) == [4, 5, 7, 8, 9, 10, 11, 12, 13]
    bobs = as_json(run("calendar_view", "--from", "2026-05-06", "--to", "2026-05-06", *ZONE, "--json", email=BOB))
    assert [(o["subject"], o["type"], o["free_busy"], o["is_cancelled"]) for o in bobs] == \
        [("Canceled: Stand-up", "Exception", "Free", True)]  # bob's copy of that day, marked cancelled
    notice = people[BOB].inbox.get(subject="Canceled: Stand-up")
    assert isinstance(notice, MeetingCancellation) and "No stand-up today" in notice.body

    # the series from May 11 on: it now ends on May 10, and the attendees get the update
    ended = as_json(run("create_calendar_event", "--cancel", created["id"], "--from", "2026-05-11", *ZONE, "--json"))
    assert ended["action"] == "series ended" and ended["last_date"] == "2026-05-10"
    master.refresh()
    assert master.recurrence.boundary == EndDatePattern(start=date(2026, 5, 4), end=date(2026, 5, 10))
    assert days(ALICE)[-1] == 10 and days(BOB)[-1] == 10
    kinds = sorted(r.meeting_request_type for r in people[BOB].inbox.filter(subject="Stand-up"))
    assert kinds == ["FullUpdate", "NewMeetingRequest"]  # the update was re-sent


def test_update_one_occurrence_and_a_single_event(run, people):
    created = as_json(run("create_calendar_event", "--subject", "Daily", "--start", "2026-05-04T09:00",
                          "--duration", "15", *ZONE, "--repeat", "daily", "--count", "5", "--json"))
    moved = as_json(run("create_calendar_event", "--update", created["id"], "--occurrence", "2",
                        "--start", "2026-05-05T11:00", "--subject", "Moved", *ZONE, "--json"))
    assert (moved["start"], moved["end"], moved["subject"]) == ("2026-05-05T11:00:00+02:00",
                                                                "2026-05-05T11:15:00+02:00", "Moved")
    by_date = as_json(run("create_calendar_event", "--update", created["id"], "--on", "2026-05-07",
                          "--location", "Room 2", *ZONE, "--json"))
    assert by_date["location"] == "Room 2" and by_date["changed"] == ["location"]
    listed = as_json(run("calendar_view", "--from", "2026-05-04", "--to", "2026-05-08", *ZONE, "--details", "--json"))
    assert [(o["subject"], o["type"], o["location"]) for o in listed] == [
        ("Daily", "Occurrence", None), ("Moved", "Exception", None), ("Daily", "Occurrence", None),
        ("Daily", "Exception", "Room 2"), ("Daily", "Occurrence", None)]
    single = as_json(run("create_calendar_event", "--subject", "1:1", "--start", "2026-05-20T15:00", "--end",
                         "2026-05-20T15:45", *ZONE, "--json"))
    later = as_json(run("create_calendar_event", "--update", single["id"], "--start", "2026-05-21T09:00", *ZONE,
                        "--json"))
    assert (later["start"], later["end"]) == ("2026-05-21T09:00:00+02:00", "2026-05-21T09:45:00+02:00")
    gone = as_json(run("create_calendar_event", "--cancel", single["id"], "--json"))
    assert gone["cancellation_sent"] is False and people[ALICE].calendar.filter(subject="1:1").count() == 0


def test_all_day_event_room_and_table(run, people):
    offsite = as_json(run("create_calendar_event", "--subject", "Offsite", "--all-day", "--start", "2026-07-01",
                          "--end", "2026-07-02", *ZONE, "--json"))
    assert (offsite["start"], offsite["end"], offsite["all_day"]) == ("2026-07-01", "2026-07-02", True)
    stored = people[ALICE].calendar.get(id=offsite["id"])
    assert (stored.start, stored.end, stored.is_all_day) == (date(2026, 7, 1), date(2026, 7, 2), True)
    booked = as_json(run("create_calendar_event", "--subject", "Board", "--start", "2026-07-03T14:00",
                         "--duration", "60", *ZONE, "--room", "room-atlas@contoso.example", "--json"))
    assert booked["rooms"] == ["room-atlas@contoso.example"]
    assert responses(people[ALICE].calendar.get(id=booked["id"])) == {"room-atlas@contoso.example": "Accept"}
    table = ok(run("calendar_view", "--from", "2026-07-01", "--to", "2026-07-03", *ZONE)).stdout.splitlines()
    assert [line.split() for line in table] == [["when", "subject", "type", "free_busy", "my_response"],
                                                ["2026-07-01", "all", "day", "Offsite", "Single", "Busy", "Organizer"],
                                                ["2026-07-03", "14:00-15:00", "Board", "Single", "Busy", "Organizer"]]


# ---- every pattern and range of create_calendar_event.py ---------------------------------------

START = "2026-03-02T09:30"  # a Monday
PATTERNS = [
    (["--repeat", "daily", "--interval", "2", "--count", "20"], DailyPattern(interval=2),
     NumberedPattern(start=date(2026, 3, 2), number=20)),
    (["--repeat", "weekly", "--weekdays", "mon,wed", "--interval", "3", "--until", "2026-06-30"],
     WeeklyPattern(interval=3, weekdays=[1, 3], first_day_of_week=1),
     EndDatePattern(start=date(2026, 3, 2), end=date(2026, 6, 30))),
    (["--repeat", "weekly"], WeeklyPattern(interval=1, weekdays=[1], first_day_of_week=1),
     NoEndPattern(start=date(2026, 3, 2))),
    (["--repeat", "monthly", "--day", "13", "--interval", "2", "--count", "5"],
     AbsoluteMonthlyPattern(interval=2, day_of_month=13), NumberedPattern(start=date(2026, 3, 2), number=5)),
    (["--repeat", "monthly", "--week", "last", "--weekday", "weekday", "--count", "4"],
     RelativeMonthlyPattern(interval=1, weekday=9, week_number=5), NumberedPattern(start=date(2026, 3, 2), number=4)),
    (["--repeat", "yearly", "--day", "13", "--month", "11", "--count", "3"],
     AbsoluteYearlyPattern(day_of_month=13, month=11), NumberedPattern(start=date(2026, 3, 2), number=3)),
    (["--repeat", "yearly", "--week", "second", "--weekday", "mon", "--month", "10"],
     RelativeYearlyPattern(weekday=1, week_number=2, month=10), NoEndPattern(start=date(2026, 3, 2))),
]


@pytest.mark.parametrize("flags, pattern, boundary", PATTERNS, ids=[" ".join(p[0][1:4]) for p in PATTERNS])
def test_every_pattern_and_range(run, people, flags, pattern, boundary):
    created = as_json(run("create_calendar_event", "--subject", "Series", "--start", START, "--duration", "60",
                          *ZONE, *flags, "--json"))
    master = people[ALICE].calendar.get(id=created["id"])
    assert master.recurrence == Recurrence(pattern=pattern, boundary=boundary)
    assert master._start_timezone == BERLIN
    # the first occurrence keeps the wall-clock time, wherever the pattern puts it
    assert master.first_occurrence.start.astimezone(BERLIN).time() == datetime(2026, 1, 1, 9, 30).time()


# ---- bad input: one line, exit 2, nothing sent ----------------------------------------------------

BAD_INPUT = [
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-24T10:00", "--timezone", "Mars/Olympus"],
     "--timezone 'Mars/Olympus' is not an IANA time zone"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-24T10:00", "--end", "2026-03-24T09:00", *ZONE],
     "--end 2026-03-24 09:00:00+01:00 is before --start"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-24T10:00", "--repeat", "weekly",
                               "--weekdays", "tue,thurs", *ZONE], "--weekdays 'thurs' is not a weekday"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-24T10:00", "--repeat", "daily", "--count", "0",
                               *ZONE], "--count 0: must be 1 or more"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-24T10:00", "--repeat", "daily",
                               "--interval", "0", *ZONE], "--interval 0: must be 1 or more"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-02-30T10:00", *ZONE],
     "--start '2026-02-30T10:00' is not a date and time that exists"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-29T02:30", *ZONE],
     "does not exist in Europe/Berlin: the clocks skip that hour"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-24T10:00", "--repeat", "monthly",
                               "--until", "2026-02-31", *ZONE], "--until '2026-02-31' is not a date that exists"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-24T10:00", "--count", "3", *ZONE],
     "--count describes a series: add --repeat"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-24T10:00", "--repeat", "monthly",
                               "--week", "third", "--weekday", "wednes", *ZONE], "--weekday 'wednes' is not a weekday"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-24T10:00", "--attendee", "bob@"],
     "--attendee 'bob@' is not an email address"),
    ("create_calendar_event", ["--cancel", "AAMk", "--subject", "x"], "--subject: not with --cancel"),
    ("create_calendar_event", ["--subject", "x", "--start", "2026-03-24T10:00", "--on", "2026-03-24"],
     "--on goes with --cancel ID or --update ID"),
    ("calendar_view", ["--from", "2026-04-31"], "--from '2026-04-31' is not a date that exists"),
    ("calendar_view", ["--from", "2026-05-02", "--to", "2026-05-01"], "--to 2026-05-01 is before --from 2026-05-02"),
    ("calendar_view", ["--timezone", "Europe/Nowhere"], "--timezone 'Europe/Nowhere' is not an IANA time zone"),
    ("calendar_view", ["--mailbox", "bob"], "--mailbox 'bob' is not an email address"),
    ("respond_meeting", ["accept"], "give --id ID (repeatable) or --subject TEXT"),
    ("respond_meeting", ["maybe", "--subject", "x"], "argument response: invalid choice: 'maybe'"),
    ("respond_meeting", ["decline", "--id", "not an id"], "--id 'not an id' is not an EWS item id"),
    ("free_busy", ["--people", f"{ALICE},carol", "--day", "2026-06-09"], "--people 'carol' is not an email address"),
    ("free_busy", ["--people", ALICE, "--day", "2026-06-31"], "--day '2026-06-31' is not a date that exists"),
    ("free_busy", ["--people", ALICE, "--from", "2026-06-01", "--to", "2026-07-31"], "Exchange answers 42 days"),
    ("free_busy", ["--people", ALICE, "--length", "0"], "--length 0: minutes, 1 to 1440"),
    ("free_busy", ["--people", ALICE, "--hours", "17:00-09:00"], "--hours '17:00-09:00': give the working day"),
    ("free_busy", ["--people", ALICE, "--timezone", "CET+1"], "--timezone 'CET+1' is not an IANA time zone"),
]


@pytest.mark.parametrize("script, args, message", BAD_INPUT, ids=[f"{s}:{m[:30]}" for s, _, m in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(run, clean, script, args, message):
    clean.clear_requests()
    result = run(script, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ews: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert operations(clean) == {}  # checked before connecting: not one request


def test_refusals_after_connecting_change_nothing(run, people, clean):
    single = as_json(run("create_calendar_event", "--subject", "One", "--start", "2026-05-20T15:00", *ZONE, "--json"))
    clean.clear_requests()
    result = run("create_calendar_event", "--cancel", single["id"], "--on", "2026-05-20", *ZONE)
    assert result.returncode == 2 and "need the id of a series" in result.stderr
    result = run("respond_meeting", "accept", "--subject", "Nothing like it")
    assert result.returncode == 2 and "no meeting request in the Inbox matches" in result.stderr
    assert set(operations(clean)) <= CONNECTING | {"GetItem", "FindItem"}  # looked, changed nothing
    assert people[ALICE].calendar.get(id=single["id"]).subject == "One"


# ---- respond_meeting.py ----------------------------------------------------------------------------

def test_decline_without_telling_and_tentative_by_id(run, people):
    for subject in ("Planning", "Planning 2"):
        as_json(run("create_calendar_event", "--subject", subject, "--start", "2026-06-02T10:00", *ZONE,
                    "--attendee", f"{BOB},{CAROL}", "--json"))
    several = run("respond_meeting", "accept", "--subject", "Planning", email=BOB)
    assert several.returncode == 2 and "2 meeting requests match" in several.stderr
    dry = ok(run("respond_meeting", "accept", "--subject", "Planning", "--all", "--dry-run", email=BOB)).stdout
    assert dry.count("would answer 'Planning") == 2 and people[BOB].inbox.filter(subject__contains="Planning").count() == 2
    ok(run("respond_meeting", "decline", "--subject", "Planning 2", "--no-send", email=CAROL))
    request = people[BOB].inbox.get(subject="Planning")
    ok(run("respond_meeting", "tentative", "--id", request.id, "--message", "Maybe", email=BOB))
    meeting = people[ALICE].calendar.get(subject="Planning")
    assert responses(meeting) == {BOB: "Tentative", CAROL: "Unknown"}
    second = people[ALICE].calendar.get(subject="Planning 2")
    assert responses(second) == {BOB: "Unknown", CAROL: "Unknown"}  # carol's decline was never sent
    assert people[CAROL].drafts.get(subject="Declined: Planning 2")
    assert people[CAROL].calendar.filter(subject="Planning 2").count() == 0
    assert people[BOB].calendar.get(subject="Planning").my_response_type == "Tentative"


# ---- calendar_view.py: another mailbox, request counts ---------------------------------------------

def test_view_of_another_mailbox_needs_access(run, people, clean):
    CalendarItem(account=people[BOB], folder=people[BOB].calendar, subject="Bob's dentist",
                 start=datetime(2026, 6, 9, 14, tzinfo=BERLIN), end=datetime(2026, 6, 9, 15, tzinfo=BERLIN)).save()
    refused = run("calendar_view", "--mailbox", BOB, "--from", "2026-06-09", "--to", "2026-06-09", *ZONE)
    assert refused.returncode == 1 and refused.stderr.startswith("ews: ") and "access" in refused.stderr.lower()
    assert len(refused.stderr.strip().splitlines()) == 1
    clean.grant(BOB, ALICE)
    clean.clear_requests()
    [entry] = as_json(run("calendar_view", "--mailbox", BOB, "--from", "2026-06-09", "--to", "2026-06-09", *ZONE,
                          "--json"))
    assert entry["subject"] == "Bob's dentist" and entry["start"] == "2026-06-09T14:00:00+02:00"
    finds = [e for e in clean.requests() if e["operation"] == "FindItem"]
    assert [(e["user"], e["mailboxes"]) for e in finds] == [(ALICE, [BOB])]  # signed in as alice, reading bob's


def _daily_series_with_exceptions(account, subject, start, exceptions):
    master = CalendarItem(account=account, folder=account.calendar, subject=subject, start=start,
                          end=start + timedelta(minutes=30), legacy_free_busy_status="Busy",
                          recurrence=Recurrence(pattern=DailyPattern(interval=1),
                                                boundary=NoEndPattern(start=start.date())))
    master.save()
    for index in range(10, 10 + 15 * exceptions, 15):  # every 15th occurrence moved an hour later
        occurrence = master.occurrence(index=index)
        occurrence.refresh()
        occurrence.start, occurrence.end = occurrence.start + timedelta(hours=1), occurrence.end + timedelta(hours=1)
        occurrence.save(update_fields=["start", "end"])
    return master


def test_a_years_view_costs_one_find_item_per_thousand_occurrences(run, people, clean):
    cite("| a year's view of a daily series with 20 exceptions (365 entries), plain fields | 1 FindItem |")
    cite("| the same with location, organizer or attendees | 1 FindItem + 4 GetItem (100 a request) |")
    cite("| a year's view of three daily series (1,095 entries), paged as `calendar_view.py` does | 2 FindItem |")
    alice = people[ALICE]
    _daily_series_with_exceptions(alice, "Daily", datetime(2026, 1, 1, 9, tzinfo=BERLIN), exceptions=20)
    clean.clear_requests()
    year = as_json(run("calendar_view", "--from", "2026-01-01", "--to", "2026-12-31", *ZONE, "--json"))
    assert len(year) == 365 and sum(o["type"] == "Exception" for o in year) == 20
    assert [o["start"] for o in year] == sorted(o["start"] for o in year)
    ops = operations(clean)
    assert ops.pop("FindItem") == 1 and "GetItem" not in ops and set(ops) <= CONNECTING
    # the organizer and attendees are not in a FindItem answer: GetItem, 100 entries a request
    clean.clear_requests()
    detailed = as_json(run("calendar_view", "--from", "2026-01-01", "--to", "2026-12-31", *ZONE, "--details",
                           "--json"))
    assert len(detailed) == 365 and {o["organizer"] for o in detailed} == {ALICE}
    ops = operations(clean)
    assert (ops["FindItem"], ops["GetItem"]) == (1, 4)

    # two more daily series: 1,095 entries, which one CalendarView answer cannot hold
    for hour in (11, 13):
        _daily_series_with_exceptions(alice, f"Daily {hour}", datetime(2026, 1, 1, hour, tzinfo=BERLIN), 0)
    clean.clear_requests()
    three = as_json(run("calendar_view", "--from", "2026-01-01", "--to", "2026-12-31", *ZONE, "--json"))
    assert len(three) == 3 * 365 and len({o["id"] for o in three}) == 3 * 365
    assert operations(clean)["FindItem"] == 2
