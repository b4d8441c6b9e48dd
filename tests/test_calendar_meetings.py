"""Meetings between sandbox users through exchangelib: invitation, responses, an update
re-sent, cancellation and removal, with both mailboxes checked at each step; rooms that
accept when free; GetRoomLists and GetRooms.

Microsoft's pages: "How to: Create appointments and meetings by using EWS", "How to:
Respond to meeting requests by using EWS", "How to: Cancel a meeting by using EWS",
"GetRoomLists operation", "GetRooms operation".
"""
from datetime import datetime, timedelta

import pytest
import requests
from lxml import etree

from exchangelib import Attendee, CalendarItem, EWSTimeZone, HTMLBody
from exchangelib.errors import ErrorCalendarIsOrganizerForAccept, ErrorMissingInformationReferenceItemId, \
    ErrorNameResolutionNoResults
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY, AcceptItem, MeetingCancellation, MeetingRequest, \
    MeetingResponse

from ews_sandbox.wire.ns import M, T

from conftest import ALICE, BOB, CAROL, PASSWORD

BERLIN = EWSTimeZone("Europe/Berlin")
ATLAS, BOREALIS = "room-atlas@contoso.example", "room-borealis@contoso.example"


@pytest.fixture
def people(clean, connect):
    accounts = {}
    for address in (ALICE, BOB, CAROL):
        accounts[address] = connect(address)
        accounts[address].default_timezone = BERLIN
    return accounts


def _meeting(organizer, subject, start, attendees=(), resources=()):
    item = CalendarItem(account=organizer, folder=organizer.calendar, subject=subject, start=start,
                        end=start + timedelta(hours=1), location="Atlas",
                        required_attendees=[Attendee(mailbox=a) for a in attendees] or None,
                        resources=[Attendee(mailbox=r) for r in resources] or None,
                        body=HTMLBody("<p>Agenda</p>"))
    item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    return item


def _responses(item):
    return {a.mailbox.email_address: a.response_type for a in
            (item.required_attendees or []) + (item.optional_attendees or []) + (item.resources or [])}


def _remove_item(sandbox, user, notice):
    envelope = (f'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
                f'xmlns:m="{M}" xmlns:t="{T}"><s:Body><m:CreateItem MessageDisposition="SaveOnly"><m:Items>'
                f'<t:RemoveItem><t:ReferenceItemId Id="{notice.id}"/></t:RemoveItem></m:Items></m:CreateItem>'
                '</s:Body></s:Envelope>')
    answer = requests.post(sandbox.ews_url, data=envelope.encode(), auth=(user, PASSWORD), verify=sandbox.ca_bundle)
    assert etree.fromstring(answer.content).findtext(f".//{{{M}}}ResponseCode") == "NoError"


def test_invite_accept_reschedule_cancel_round_trip(people, sandbox):
    alice, bob, carol = people[ALICE], people[BOB], people[CAROL]
    start = datetime(2026, 6, 2, 10, tzinfo=BERLIN)
    meeting = _meeting(alice, "Planning", start, attendees=[BOB, CAROL])
    meeting.refresh()

    # each attendee: a request in the Inbox, a tentative copy in the Calendar
    request = bob.inbox.get(subject="Planning")
    assert isinstance(request, MeetingRequest)
    assert request.meeting_request_type == "NewMeetingRequest" and request.start == start
    bobs_copy = bob.calendar.get(subject="Planning")
    assert (bobs_copy.my_response_type, bobs_copy.legacy_free_busy_status) == ("NoResponseReceived", "Tentative")
    assert bobs_copy.organizer.email_address == ALICE and bobs_copy.uid == meeting.uid
    assert bobs_copy.is_meeting is True
    assert meeting.meeting_request_was_sent is True and meeting.my_response_type == "Organizer"
    assert _responses(meeting) == {BOB: "Unknown", CAROL: "Unknown"}

    # bob accepts with a message, carol declines without sending a response
    request.accept(body="See you there")
    carol.inbox.get(subject="Planning").decline(message_disposition="SaveOnly", folder=carol.drafts)
    bobs_copy.refresh()
    assert (bobs_copy.my_response_type, bobs_copy.legacy_free_busy_status) == ("Accept", "Busy")
    assert bob.inbox.filter(subject="Planning").count() == 0  # an answered request leaves the Inbox
    assert carol.calendar.filter(subject="Planning").count() == 0  # a declined meeting leaves the calendar
    reply = alice.inbox.get(subject="Accepted: Planning")
    assert isinstance(reply, MeetingResponse) and "See you there" in reply.body
    meeting.refresh()
    assert _responses(meeting) == {BOB: "Accept", CAROL: "Unknown"}  # carol's answer was never sent
    assert carol.drafts.get(subject="Declined: Planning")

    # the organizer reschedules: the update is re-sent and moves bob's copy
    meeting.start, meeting.end = start + timedelta(hours=2), start + timedelta(hours=3)
    meeting.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    update = bob.inbox.get(subject="Planning")
    assert update.meeting_request_type == "FullUpdate"
    bobs_copy.refresh()
    assert bobs_copy.start == start + timedelta(hours=2)
    assert bobs_copy.my_response_type == "NoResponseReceived"  # asked again (FIDELITY.md)
    meeting.refresh()
    assert _responses(meeting)[BOB] == "Unknown"

    # the organizer cancels: bob's copy is marked cancelled, then removed by bob
    meeting.cancel()
    assert alice.calendar.filter(subject="Planning").count() == 0
    notice = bob.inbox.get(subject="Canceled: Planning")
    assert isinstance(notice, MeetingCancellation)
    bobs_copy.refresh()
    assert bobs_copy.is_cancelled is True
    _remove_item(sandbox, BOB, notice)  # exchangelib 5.6 has no RemoveItem: raw SOAP
    assert bob.calendar.filter(subject__contains="Planning").count() == 0


def test_responses_are_refused_where_exchange_refuses_them(people):
    alice = people[ALICE]
    meeting = _meeting(alice, "Own meeting", datetime(2026, 6, 3, 9, tzinfo=BERLIN), attendees=[BOB])
    with pytest.raises(ErrorCalendarIsOrganizerForAccept):
        meeting.accept()
    with pytest.raises(ErrorMissingInformationReferenceItemId):
        AcceptItem(account=alice).send()


def test_rooms_accept_when_free_and_decline_when_booked(people):
    alice, carol = people[ALICE], people[CAROL]
    start = datetime(2026, 6, 4, 14, tzinfo=BERLIN)
    first = _meeting(alice, "Board", start, attendees=[CAROL], resources=[ATLAS])
    second = _meeting(carol, "Overlap", start + timedelta(minutes=30), resources=[ATLAS, BOREALIS])
    first.refresh()
    second.refresh()
    assert _responses(first) == {CAROL: "Unknown", ATLAS: "Accept"}
    assert _responses(second) == {ATLAS: "Decline", BOREALIS: "Accept"}


def test_room_lists_and_rooms(people):
    protocol = people[ALICE].protocol
    lists = list(protocol.get_roomlists())
    assert [(r.name, r.email_address) for r in lists] == [("Headquarters rooms", "rooms-hq@contoso.example")]
    rooms = list(protocol.get_rooms("rooms-hq@contoso.example"))
    assert [r.email_address for r in rooms] == [ATLAS, BOREALIS, "room-cosmos@contoso.example"]
    with pytest.raises(ErrorNameResolutionNoResults):
        list(protocol.get_rooms("nobody@contoso.example"))


def test_an_occurrence_changed_with_updates_reaches_the_attendees_copy(people):
    # "Update a recurring series by using EWS": one occurrence is changed by UpdateItem of its
    # id; with SendToAllAndSaveCopy or SendOnlyToAll the update goes to the attendees
    # ([MS-OXWSMTGS] 2.2.5.3), as a request for that occurrence (MeetingMessage's RecurrenceId)
    from exchangelib.items import SEND_TO_NONE, SEND_ONLY_TO_ALL
    from exchangelib.items.calendar_item import EXCEPTION, OCCURRENCE
    from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence
    alice, bob = people[ALICE], people[BOB]
    start = datetime(2026, 6, 8, 10, tzinfo=BERLIN)
    series = CalendarItem(account=alice, folder=alice.calendar, subject="Daily", start=start,
                          end=start + timedelta(hours=1), required_attendees=[Attendee(mailbox=BOB)],
                          resources=[Attendee(mailbox=ATLAS)],
                          recurrence=Recurrence(pattern=DailyPattern(interval=1),
                                                boundary=NumberedPattern(start=start.date(), number=3)))
    series.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    bob.inbox.get(subject="Daily").accept()
    window = (start - timedelta(hours=1), start + timedelta(days=3))

    second = list(alice.calendar.view(*window))[1]
    second.subject, second.start, second.end = "Daily, later", second.start + timedelta(hours=3), \
        second.end + timedelta(hours=3)
    second.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    update = bob.inbox.get(subject="Daily, later")
    assert isinstance(update, MeetingRequest) and update.meeting_request_type == "FullUpdate"
    assert update.start == start + timedelta(days=1, hours=3)
    theirs = [(o.subject, o.start, o.type) for o in bob.calendar.view(*window)]
    assert theirs == [("Daily", start, OCCURRENCE), ("Daily, later", start + timedelta(days=1, hours=3), EXCEPTION),
                      ("Daily", start + timedelta(days=2), OCCURRENCE)]
    bobs_second = list(bob.calendar.view(*window))[1]
    assert update.associated_calendar_item_id.id == bobs_second.id
    assert bobs_second.my_response_type == "NoResponseReceived"  # a new time asks again
    # the room, free at the new time, keeps its booking: the organizer's occurrence says so
    [organizers] = alice.fetch([list(alice.calendar.view(*window))[1]])
    assert _responses(organizers) == {BOB: "Unknown", ATLAS: "Accept"}  # bob: to answer again

    # SendOnlyToAll sends too; SendToNone changes the organizer's occurrence alone
    third = list(alice.calendar.view(*window))[2]
    third.location = "Cosmos"
    third.save(send_meeting_invitations=SEND_ONLY_TO_ALL)
    assert list(bob.calendar.view(*window))[2].location == "Cosmos"
    first = list(alice.calendar.view(*window))[0]
    first.subject = "Daily, quiet"
    first.save(send_meeting_invitations=SEND_TO_NONE)
    assert bob.inbox.filter(subject="Daily, quiet").count() == 0
    assert [o.subject for o in bob.calendar.view(*window)][0] == "Daily"


def test_an_organizers_change_to_one_occurrence_reaches_the_attendees_copies(people):
    """Microsoft's "How to: Update a recurring series by using EWS": an occurrence changed and
    sent with SendToAllAndSaveCopy becomes an exception in every copy, and the attendees get a
    meeting request for it."""
    from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence
    alice, bob = people[ALICE], people[BOB]
    start = datetime(2026, 6, 8, 10, tzinfo=BERLIN)
    series = CalendarItem(account=alice, folder=alice.calendar, subject="Daily", start=start,
                          end=start + timedelta(minutes=30), required_attendees=[Attendee(mailbox=BOB)],
                          resources=[Attendee(mailbox=ATLAS)],
                          recurrence=Recurrence(pattern=DailyPattern(interval=1), boundary=NumberedPattern(
                              start=start.date(), number=5)))
    series.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    bob.inbox.get(subject="Daily").accept()
    third = series.occurrence(3)
    third.refresh()
    third.start, third.end = third.start + timedelta(hours=4), third.end + timedelta(hours=4)
    third.save(update_fields=["start", "end"], send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)

    window = dict(start=start - timedelta(days=1), end=start + timedelta(days=6))
    for account in (alice, bob):
        seen = [(o.start.astimezone(BERLIN).hour, o.type) for o in account.calendar.view(**window)]
        assert seen == [(10, "Occurrence"), (10, "Occurrence"), (14, "Exception"), (10, "Occurrence"),
                        (10, "Occurrence")]
    bobs = [o for o in bob.calendar.view(**window)]
    assert [o.my_response_type for o in bobs] == ["Accept", "Accept", "NoResponseReceived", "Accept", "Accept"]
    update = [r for r in bob.inbox.all() if isinstance(r, MeetingRequest)]
    assert [(r.subject, r.start.astimezone(BERLIN).hour) for r in update] == [("Daily", 14)]
    master = alice.calendar.get(id=series.id)
    assert _responses(master) == {BOB: "Accept", ATLAS: "Accept"}  # the series' answers stay
    third.refresh()
    assert _responses(third) == {BOB: "Unknown", ATLAS: "Accept"}  # the moved one: to answer again



def test_send_to_changed_reaches_the_attendees_added_or_removed_only(people, connect):
    # [MS-OXWSMTGS] 2.2.5.3: SendOnlyToChanged / SendToChangedAndSaveCopy send the update "only to
    # attendees that were added and/or deleted"; an attendee taken off gets a cancellation
    from exchangelib.items import SEND_TO_CHANGED_AND_SAVE_COPY
    from conftest import DAVE
    alice, bob, carol = people[ALICE], people[BOB], people[CAROL]
    dave = connect(DAVE)
    start = datetime(2026, 6, 16, 14, tzinfo=BERLIN)
    meeting = _meeting(alice, "Review", start, attendees=[BOB, CAROL])
    meeting.required_attendees = [Attendee(mailbox=BOB), Attendee(mailbox=DAVE)]
    meeting.save(send_meeting_invitations=SEND_TO_CHANGED_AND_SAVE_COPY)
    assert [m.meeting_request_type for m in dave.inbox.filter(subject="Review")] == ["NewMeetingRequest"]
    assert dave.calendar.get(subject="Review").start == start
    assert [m.meeting_request_type for m in bob.inbox.filter(subject="Review")] == ["NewMeetingRequest"]  # as before
    assert isinstance(carol.inbox.get(subject="Canceled: Review"), MeetingCancellation)
    assert carol.calendar.get(subject="Canceled: Review").is_cancelled is True
    # nobody added or removed: SendToChanged sends nothing; SendToAll sends everyone the update
    meeting.location = "Borealis"
    meeting.save(send_meeting_invitations=SEND_TO_CHANGED_AND_SAVE_COPY)
    assert bob.inbox.filter(subject="Review").count() == 1 and dave.inbox.filter(subject="Review").count() == 1
    meeting.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    assert sorted(m.meeting_request_type for m in dave.inbox.filter(subject="Review")) == \
        ["FullUpdate", "NewMeetingRequest"]
