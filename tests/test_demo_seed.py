"""The demo tenant's calendars and contacts, as a new user meets them: the calendar scripts
run against a freshly seeded demo sandbox and find this week's meetings; the seed is the same
when applied twice at one instant, and reseeded on any day it still fills "this week"."""
import tempfile
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from ews_sandbox import seed
from ews_sandbox.model import directory, folders
from ews_sandbox.model.db import Database
from ews_sandbox.ops.calendar_view import window_rows
from ews_sandbox.wire.ns import t

from conftest import ALICE, BOB
from test_mail_scripts import as_json, run  # noqa: F401 - run is a fixture

NEW_YORK = ZoneInfo("America/New_York")  # alice's zone in the demo tenant
ZONE = ("--timezone", "America/New_York")


@pytest.fixture
def demo(admin):
    admin.clear_faults()
    admin.reset("demo")
    return datetime.now(NEW_YORK).date()  # the seeding day, in alice's zone


def working_days_after(day, count=10):
    days = []
    while len(days) < count:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


def alices_week(today):
    """(local start, subject, type, my response) of what alice's next seven days hold, in order."""
    first, second, third, fourth = working_days_after(today)[:4]
    at = lambda day, hour, minute=0: datetime.combine(day, time(hour, minute)).isoformat()  # noqa: E731
    entries = [(at(day, 9, 30), "Daily stand-up", "Occurrence", "Accept")
               for day in (today + timedelta(days=n) for n in range(7)) if day.weekday() < 5]
    entries += [(at(first, 14), "Team meeting", "Exception", "Organizer"),  # moved from 10:00 this week
                (at(second, 14), "Q3 budget review", "Single", "Accept"),  # carol's, 13:00 in Chicago
                (at(second, 16, 30), "Doctor's appointment", "Single", "Organizer"),
                (at(third, 15), "Release 2.4 planning", "Single", "NoResponseReceived"),
                (at(fourth, 0), "Release 2.4 code freeze", "Single", "Organizer")]
    return sorted(entries)


def test_calendar_view_shows_this_weeks_occurrences_and_meetings_in_order(run, demo):
    listed = as_json(run("calendar_view", "--from", demo, "--to", demo + timedelta(days=6), *ZONE, "--json"))
    starts = [o["start"][:19] if not o["all_day"] else o["start"] + "T00:00:00" for o in listed]  # a day: a date
    assert [(start, o["subject"], o["type"], o["my_response"]) for start, o in zip(starts, listed)] == alices_week(demo)
    private = next(o for o in listed if o["subject"] == "Release 2.4 code freeze")
    assert private["all_day"] is True and private["free_busy"] == "Free"
    detailed = as_json(run("calendar_view", "--from", working_days_after(demo)[0], *ZONE, "--details", "--json"))
    team = next(o for o in detailed if o["subject"] == "Team meeting")
    assert (team["attendees"], team["rooms"], team["organizer"]) == (
        ["bob@contoso.example", "carol@contoso.example", "dave@contoso.example"], ["room-atlas@contoso.example"],
        ALICE)


def test_free_busy_shows_alice_busy_in_her_meetings(run, demo):
    answer = as_json(run("free_busy", "--people", f"{ALICE},{BOB}", "--from", demo, "--to", demo + timedelta(days=6),
                         *ZONE, "--json"))
    alice, bob = answer["people"]
    busy = {(b["start"][:19], b["status"]) for b in alice["busy"]}
    expected = {(start, "Tentative" if response == "NoResponseReceived" else "Busy")
                for start, subject, _, response in alices_week(demo) if subject != "Release 2.4 code freeze"}
    assert busy == expected  # the all-day code freeze is free time
    first = working_days_after(demo)[0]
    team = datetime.combine(first, time(14)).isoformat()
    assert (team, "Tentative") in {(b["start"][:19], b["status"]) for b in bob["busy"]}  # the moved meeting: to answer
    assert all(not (slot["start"][:19] <= team < slot["end"][:19]) for slot in answer["free_slots"])


def test_alice_accepts_bobs_pending_request(run, demo, connect):
    answered = as_json(run("respond_meeting", "accept", "--subject", "Release 2.4 planning", "--json"))
    assert [(a["subject"], a["organizer"], a["sent"]) for a in answered] == [("Release 2.4 planning", BOB, True)]
    bobs = connect(BOB).calendar.get(subject="Release 2.4 planning")
    assert {a.mailbox.email_address: a.response_type for a in bobs.required_attendees + bobs.resources} == {
        ALICE: "Accept", "carol@contoso.example": "Unknown", "room-cosmos@contoso.example": "Accept"}
    third = working_days_after(demo)[2]
    listed = as_json(run("calendar_view", "--from", third, "--to", third, *ZONE, "--json"))
    assert [(o["subject"], o["my_response"], o["free_busy"]) for o in listed] == [
        ("Daily stand-up", "Accept", "Busy"), ("Release 2.4 planning", "Accept", "Busy")]
    again = run("respond_meeting", "accept", "--subject", "Release 2.4 planning")
    assert again.returncode == 2 and "no meeting request in the Inbox matches" in again.stderr  # answered: gone


def test_contacts_lists_alices_contacts_and_her_list(run, demo):
    listed = as_json(run("contacts", "list", "--json"))
    people = [c for c in listed if c["kind"] == "contact"]
    assert len(people) == 12 and [c["display_name"] for c in people][:2] == ["Amara Nwosu", "Greta Lind"]
    omar = next(c for c in people if c["display_name"] == "Omar Farouk")
    assert (omar["email1"], omar["email2"], omar["email3"], omar["company_name"]) == (
        "omar@tailspin.example", "omar.farouk@gmail.example", "o.farouk@tailspin-labs.example", "Tailspin Toys")
    assert sum(1 for c in people if len([k for k in c if k.startswith("phone.")]) >= 2) >= 5
    (book_club,) = [c for c in listed if c["kind"] == "list"]
    assert book_club["display_name"] == "Book club" and len(book_club["members"]) == 3


# ---- the seed itself, in process ------------------------------------------------------------

VOLATILE = ("LastResponseTime", "AppointmentReplyTime", "DateTimeSent", "InternetMessageId",
            "AssociatedCalendarItemId")  # clock readings and random ids that delivery stamps


def snapshot(database):
    """Every item and exception of the tenant, without change keys, clock stamps and message ids."""
    def clean(xml):
        item = etree.fromstring(xml)
        for name in VOLATILE:
            for element in item.iter(t(name)):
                element.getparent().remove(element)
        return etree.tostring(item)

    with database.transaction() as conn:
        rows = conn.execute("SELECT u.email, f.name, i.element, i.item_class, i.xml, i.received FROM items i "
                            "JOIN folders f ON f.id = i.folder_id JOIN users u ON u.id = i.mailbox_id ORDER BY i.id")
        found = [(email, folder, element, item_class, clean(xml), received if element == "Message" else None)
                 for email, folder, element, item_class, xml, received in rows]  # mail is dated from the seed's now
        found += [(index, start, deleted, clean(xml) if xml else None) for index, start, deleted, xml in conn.execute(
            "SELECT instance_index, original_start, is_deleted, xml FROM calendar_exceptions ORDER BY master_id, "
            "instance_index")]
    return found


def seeded(folder, name, now):
    database = Database(Path(folder) / name)
    seed.apply(database, "demo", now=now)
    return database


def test_two_seeds_at_one_instant_are_equal():
    now = datetime(2026, 3, 6, 22, 30, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as folder:
        first, second = snapshot(seeded(folder, "a.db", now)), snapshot(seeded(folder, "b.db", now))
        later = snapshot(seeded(folder, "c.db", now + timedelta(days=3)))
    assert first == second
    assert len([row for row in first if len(row) == 6 and row[2] == "CalendarItem"]) > 10
    assert first != later


@pytest.mark.parametrize("now", [datetime(2026, 6, 1, 12, tzinfo=timezone.utc) + timedelta(days=n) for n in range(7)]
                         + [datetime(2026, 3, 8, 3, 30, tzinfo=timezone.utc),  # 22:30 in New York, the eve of DST
                            datetime(2026, 10, 31, 23, 0, tzinfo=timezone.utc),  # Europe's DST ends overnight
                            datetime(2026, 12, 31, 4, 59, tzinfo=timezone.utc)],  # New Year's Eve, 23:59 in New York
                         ids=lambda now: now.strftime("%a-%Y-%m-%dT%H:%M"))
def test_reseeded_on_any_day_alices_next_seven_days_hold_the_week(now):
    today = now.astimezone(NEW_YORK).date()
    with tempfile.TemporaryDirectory() as folder:
        database = seeded(folder, "state.db", now)
        with database.transaction() as conn:
            alice = directory.user_by_email(conn, ALICE)
            start = datetime.combine(today, time(), NEW_YORK)
            found = window_rows(conn, folders.distinguished(conn, alice["id"], "calendar"),
                                start.astimezone(timezone.utc), (start + timedelta(days=7)).astimezone(timezone.utc))
            week = [(s.astimezone(NEW_YORK).replace(tzinfo=None).isoformat(), etree.fromstring(row["xml"]).findtext(
                t("Subject"))) for s, _, row in found]
    assert week == [(start, subject) for start, subject, *_ in alices_week(today)]
