"""GetUserAvailability through exchangelib (free/busy) and raw SOAP (suggestions, which
exchangelib cannot ask for), for three users with known calendars, a series among them.

Microsoft's pages: "GetUserAvailability operation", "MergedFreeBusy", "FreeBusyView",
"SuggestionsViewOptions".
"""
from datetime import datetime, timedelta

import pytest
import requests
from lxml import etree

from exchangelib import CalendarItem, EWSTimeZone
from exchangelib.errors import ErrorMailRecipientNotFound
from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence

from ews_sandbox.wire.ns import M, T

from conftest import ALICE, BOB, CAROL, PASSWORD

BERLIN = EWSTimeZone("Europe/Berlin")
DAY = datetime(2026, 6, 9, 0, 0, tzinfo=BERLIN)  # a Tuesday


def _at(hour, minute=0):
    return DAY + timedelta(hours=hour, minutes=minute)


@pytest.fixture
def people(clean, connect):
    accounts = {address: connect(address) for address in (ALICE, BOB, CAROL)}
    for account in accounts.values():
        account.default_timezone = BERLIN

    def book(address, subject, start, end, status="Busy", **extra):
        account = accounts[address]
        CalendarItem(account=account, folder=account.calendar, subject=subject, start=start, end=end,
                     legacy_free_busy_status=status, **extra).save()

    book(ALICE, "Design review", _at(9), _at(10, 30))
    book(ALICE, "Maybe lunch", _at(12), _at(13), status="Tentative")
    book(BOB, "Dentist", _at(14), _at(15), status="OOF")
    book(BOB, "Focus", _at(16), _at(17), status="Free")
    # carol's stand-up recurs every day at 9:30; only the occurrence of DAY falls in the window
    book(CAROL, "Stand-up", _at(9, 30) - timedelta(days=2), _at(9, 45) - timedelta(days=2),
         recurrence=Recurrence(pattern=DailyPattern(interval=1),
                               boundary=NumberedPattern(start=(DAY - timedelta(days=2)).date(), number=5)))
    return accounts


def test_free_busy_of_three_users(people):
    alice = people[ALICE]
    views = list(alice.protocol.get_free_busy_info(
        accounts=[(ALICE, "Organizer", False), (BOB, "Required", False), (CAROL, "Required", False),
                  ("nobody@contoso.example", "Required", False)],
        start=_at(8), end=_at(18), merged_free_busy_interval=60))
    own, bobs, carols, unknown = views
    # one digit per hour from 8:00: 0 free, 1 tentative, 2 busy, 3 away
    assert own.merged == "0220100000"
    assert bobs.merged == "0000003000"  # "Free" time does not show as busy
    assert carols.merged == "0200000000"
    assert isinstance(unknown, ErrorMailRecipientNotFound)
    # the owner sees subjects; others see times only (the Default permission is FreeBusyTimeOnly)
    assert own.view_type == "DetailedMerged"
    assert [(e.start, e.end, e.busy_type, e.details.subject) for e in own.calendar_events] == \
        [(_at(9), _at(10, 30), "Busy", "Design review"), (_at(12), _at(13), "Tentative", "Maybe lunch")]
    assert bobs.view_type == "FreeBusyMerged"
    assert [(e.start, e.busy_type, e.details) for e in bobs.calendar_events] == [(_at(14), "OOF", None)]
    assert [(e.start, e.end) for e in carols.calendar_events] == [(_at(9, 30), _at(9, 45))]
    assert [(p.start.hour, p.end.hour) for p in carols.working_hours] == [(8, 17)]


SUGGESTIONS = """<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{M}" xmlns:t="{T}"><s:Body>
<m:GetUserAvailabilityRequest>
  <t:TimeZone><t:Bias>-60</t:Bias>
    <t:StandardTime><t:Bias>0</t:Bias><t:Time>03:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>10</t:Month>
      <t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime>
    <t:DaylightTime><t:Bias>-60</t:Bias><t:Time>02:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>3</t:Month>
      <t:DayOfWeek>Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone>
  <m:MailboxDataArray>{mailboxes}</m:MailboxDataArray>
  <t:SuggestionsViewOptions><t:MaximumResultsByDay>40</t:MaximumResultsByDay>
    <t:MeetingDurationInMinutes>60</t:MeetingDurationInMinutes>
    <t:MinimumSuggestionQuality>Excellent</t:MinimumSuggestionQuality>
    <t:DetailedSuggestionsWindow><t:StartTime>2026-06-09T00:00:00</t:StartTime>
      <t:EndTime>2026-06-10T00:00:00</t:EndTime></t:DetailedSuggestionsWindow></t:SuggestionsViewOptions>
</m:GetUserAvailabilityRequest></s:Body></s:Envelope>"""


def test_suggestions_are_the_times_all_three_are_free(people, sandbox):
    mailboxes = "".join(f"<t:MailboxData><t:Email><t:Address>{a}</t:Address></t:Email>"
                        "<t:AttendeeType>Required</t:AttendeeType></t:MailboxData>" for a in (ALICE, BOB, CAROL))
    answer = requests.post(sandbox.ews_url, data=SUGGESTIONS.format(M=M, T=T, mailboxes=mailboxes).encode(),
                           auth=(ALICE, PASSWORD), verify=sandbox.ca_bundle)
    root = etree.fromstring(answer.content)
    times = [e.text[11:16] for e in root.iter(f"{{{T}}}MeetingTime")]
    # 8:00-17:00 working hours, hour-long meetings every half hour, nobody busy (Tentative counts as busy)
    assert times == ["08:00", "10:30", "11:00", "13:00", "15:00", "15:30", "16:00"]
    assert {e.text for e in root.iter(f"{{{T}}}SuggestionQuality")} == {"Excellent"}
