"""Meetings between sandbox users through exchangelib: invitation, responses, an update
re-sent, cancellation and removal, with both mailboxes checked at each step; rooms that
accept when free; one occurrence of a series changed, answered and deleted, reaching every
copy; GetRoomLists and GetRooms.

Microsoft's pages: "How to: Create appointments and meetings by using EWS", "How to:
Respond to meeting requests by using EWS", "How to: Cancel a meeting by using EWS",
"Update a recurring series by using EWS", "Delete appointments in a recurring series by
using EWS", "RecurrenceId", "CalendarItemCreateOrDeleteOperationType",
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
from test_calendar_claims import cite

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


def _daily(organizer, subject, start, attendees=(), resources=(), number=3):
    from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence
    series = CalendarItem(account=organizer, folder=organizer.calendar, subject=subject, start=start,
                          end=start + timedelta(hours=1), required_attendees=[Attendee(mailbox=a) for a in attendees],
                          resources=[Attendee(mailbox=r) for r in resources] or None,
                          recurrence=Recurrence(pattern=DailyPattern(interval=1),
                                                boundary=NumberedPattern(start=start.date(), number=number)))
    series.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    return series


def _recurrence_id(sandbox, user, item):
    """The RecurrenceId a meeting message carries (exchangelib 5.6 reads it on calendar items
    only): raw GetItem with the property asked for."""
    envelope = (f'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
                f'xmlns:m="{M}" xmlns:t="{T}"><s:Body><m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
                '<t:AdditionalProperties><t:FieldURI FieldURI="calendar:RecurrenceId"/></t:AdditionalProperties>'
                f'</m:ItemShape><m:ItemIds><t:ItemId Id="{item.id}"/></m:ItemIds></m:GetItem></s:Body></s:Envelope>')
    answer = requests.post(sandbox.ews_url, data=envelope.encode(), auth=(user, PASSWORD), verify=sandbox.ca_bundle)
    return etree.fromstring(answer.content).findtext(f".//{{{T}}}RecurrenceId")


def test_answering_one_occurrence_answers_that_occurrence_alone(people, sandbox):
    # A request for one occurrence carries RecurrenceId, which "is used with the UID property to
    # identify a specific instance of a recurring calendar item" ("RecurrenceId" element): its
    # answer (AcceptItem etc. of that request, or of the occurrence itself) is that instance's
    alice, bob = people[ALICE], people[BOB]
    start = datetime(2026, 6, 22, 10, tzinfo=BERLIN)
    window = (start - timedelta(hours=1), start + timedelta(days=4))
    series = _daily(alice, "Sync", start, attendees=[BOB], number=4)
    bob.inbox.get(subject="Sync").accept()

    second = list(alice.calendar.view(*window))[1]
    second.start, second.end = second.start + timedelta(hours=2), second.end + timedelta(hours=2)
    second.save(update_fields=["start", "end"], send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    request = bob.inbox.get(subject="Sync")
    assert _recurrence_id(sandbox, BOB, request) == "2026-06-23T08:00:00Z"  # the original start, in UTC
    request.tentatively_accept(body="Maybe")
    assert bob.inbox.filter(subject="Sync").count() == 0
    reply = alice.inbox.get(subject="Tentative: Sync")
    assert isinstance(reply, MeetingResponse) and "Maybe" in reply.body
    assert _recurrence_id(sandbox, ALICE, reply) == "2026-06-23T08:00:00Z"
    assert [o.my_response_type for o in bob.calendar.view(*window)] == ["Accept", "Tentative", "Accept", "Accept"]
    organizers = alice.fetch(list(alice.calendar.view(*window)))
    assert [_responses(o)[BOB] for o in organizers] == ["Accept", "Tentative", "Accept", "Accept"]
    assert _responses(alice.calendar.get(id=series.id)) == {BOB: "Accept"}  # the series keeps its answer

    # declining a request for one occurrence removes that occurrence from bob's copy alone
    third = list(alice.calendar.view(*window))[2]
    third.location = "Cosmos"
    third.save(update_fields=["location"], send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    bob.inbox.get(subject="Sync").decline()
    assert [(o.start.astimezone(BERLIN).day, o.my_response_type) for o in bob.calendar.view(*window)] == \
        [(22, "Accept"), (23, "Tentative"), (25, "Accept")]
    assert bob.calendar.filter(subject="Sync").count() == 1  # the series stays in bob's calendar
    organizers = alice.fetch(list(alice.calendar.view(*window)))
    assert [_responses(o)[BOB] for o in organizers] == ["Accept", "Tentative", "Decline", "Accept"]

    # an occurrence of the attendee's own calendar answered directly: that occurrence too
    list(bob.calendar.view(*window))[2].tentatively_accept()
    assert [o.my_response_type for o in bob.calendar.view(*window)] == ["Accept", "Tentative", "Tentative"]
    organizers = alice.fetch(list(alice.calendar.view(*window)))
    assert [_responses(o)[BOB] for o in organizers] == ["Accept", "Tentative", "Decline", "Tentative"]
    assert _responses(alice.calendar.get(id=series.id)) == {BOB: "Accept"}


@pytest.mark.parametrize("mode, copies_kept", [("SendToAllAndSaveCopy", 1), ("SendOnlyToAll", 0)])
def test_deleting_one_occurrence_with_cancellations_cancels_it_in_every_copy(people, sandbox, mode, copies_kept):
    # "Delete appointments in a recurring series by using EWS": DeleteItem of an occurrence's id
    # deletes that occurrence; SendMeetingCancellations SendOnlyToAll / SendToAllAndSaveCopy
    # send a cancellation to all attendees, the latter keeping a copy in Sent Items
    # ("CalendarItemCreateOrDeleteOperationType")
    cite("a deleted occurrence is cancelled for the attendees as `cancel()` does "
         "(`SEND_ONLY_TO_ALL`: no copy in Sent Items)")
    alice, bob = people[ALICE], people[BOB]
    start = datetime(2026, 6, 29, 9, tzinfo=BERLIN)
    window = (start - timedelta(hours=1), start + timedelta(days=3))
    _daily(alice, "Triage", start, attendees=[BOB], resources=[ATLAS])
    bob.inbox.get(subject="Triage").accept()
    list(alice.calendar.view(*window))[1].delete(send_meeting_cancellations=mode)

    assert [o.start.astimezone(BERLIN).day for o in alice.calendar.view(*window)] == [29, 1]
    notice = bob.inbox.get(subject="Canceled: Triage")
    assert isinstance(notice, MeetingCancellation)
    assert _recurrence_id(sandbox, BOB, notice) == "2026-06-30T07:00:00Z"
    bobs = list(bob.calendar.view(*window))
    assert [(o.subject, o.is_cancelled, o.type) for o in bobs] == \
        [("Triage", False, "Occurrence"), ("Canceled: Triage", True, "Exception"), ("Triage", False, "Occurrence")]
    assert [o.my_response_type for o in bobs] == ["Accept", "Accept", "Accept"]  # the rest keeps its answer
    # the room frees that occurrence by itself
    assert _busy_days(alice, ATLAS, window) == [29, 1]
    assert alice.sent.filter(subject="Canceled: Triage").count() == copies_kept
    # SendToNone deletes the organizer's occurrence alone
    list(alice.calendar.view(*window))[0].delete(send_meeting_cancellations="SendToNone")
    assert bob.inbox.filter(subject="Canceled: Triage").count() == 1
    assert len(list(bob.calendar.view(*window))) == 3


def _busy_days(account, address, window):
    """Days (Berlin) on which a mailbox is busy, as GetUserAvailability tells anyone."""
    [view] = account.protocol.get_free_busy_info(accounts=[(address, "Required", False)], start=window[0],
                                                 end=window[1])
    return [e.start.astimezone(BERLIN).day for e in view.calendar_events or []]


def test_an_occurrence_sent_to_changed_reaches_the_attendees_added_or_removed_only(people, connect, sandbox):
    # [MS-OXWSMTGS] 2.2.5.3: SendOnlyToChanged / SendToChangedAndSaveCopy send the update "only to
    # attendees that were added and/or deleted"; for one occurrence as for the whole series
    from exchangelib.items import SEND_ONLY_TO_CHANGED, SEND_TO_CHANGED_AND_SAVE_COPY
    from conftest import DAVE
    alice, bob, carol = people[ALICE], people[BOB], people[CAROL]
    dave = connect(DAVE)
    start = datetime(2026, 7, 6, 11, tzinfo=BERLIN)
    window = (start - timedelta(hours=1), start + timedelta(days=3))
    _daily(alice, "Standup", start, attendees=[BOB, CAROL])
    for account in (bob, carol):
        account.inbox.get(subject="Standup").accept()

    [second] = alice.fetch([list(alice.calendar.view(*window))[1]])
    kept = [a for a in second.required_attendees if a.mailbox.email_address == BOB]  # with its answer
    second.location, second.required_attendees = "Borealis", kept + [Attendee(mailbox=DAVE)]
    second.save(update_fields=["location", "required_attendees"],
                send_meeting_invitations=SEND_TO_CHANGED_AND_SAVE_COPY)
    # dave, added: a new request for that occurrence alone, and a copy of that one occurrence in
    # his calendar (an "orphan instance"), named by its RecurrenceId
    [request] = dave.inbox.filter(subject="Standup")
    assert request.meeting_request_type == "NewMeetingRequest" and request.location == "Borealis"
    assert request.start == start + timedelta(days=1)
    assert _recurrence_id(sandbox, DAVE, request) == "2026-07-07T09:00:00Z"
    [daves] = dave.calendar.all()
    assert (daves.start, daves.type, daves.my_response_type) == (start + timedelta(days=1), "Single",
                                                                  "NoResponseReceived")
    assert daves.recurrence_id == start + timedelta(days=1) and daves.uid == alice.calendar.get(subject="Standup").uid
    # carol, taken off: a cancellation of that occurrence, which her copy marks cancelled
    notice = carol.inbox.get(subject="Canceled: Standup")
    assert _recurrence_id(sandbox, CAROL, notice) == "2026-07-07T09:00:00Z"
    assert [(o.is_cancelled, o.my_response_type) for o in carol.calendar.view(*window)] == \
        [(False, "Accept"), (True, "Accept"), (False, "Accept")]
    # bob, unchanged: nothing sent, his copy stays as it was, and so does his answer
    assert bob.inbox.filter(subject="Standup").count() == 0
    assert [(o.location, o.my_response_type) for o in bob.calendar.view(*window)] == [(None, "Accept")] * 3
    [organizers] = alice.fetch([list(alice.calendar.view(*window))[1]])
    assert _responses(organizers) == {BOB: "Accept", DAVE: "Unknown"}
    request.accept()  # answers that occurrence: dave's copy of it, and the organizer's occurrence
    assert dave.calendar.get(id=daves.id).my_response_type == "Accept"
    [organizers] = alice.fetch([list(alice.calendar.view(*window))[1]])
    assert _responses(organizers) == {BOB: "Accept", DAVE: "Accept"}
    assert _responses(alice.calendar.get(subject="Standup")) == {BOB: "Accept", CAROL: "Accept"}

    # nobody added or removed: SendOnlyToChanged sends nothing
    third = list(alice.calendar.view(*window))[2]
    third.location = "Cosmos"
    third.save(update_fields=["location"], send_meeting_invitations=SEND_ONLY_TO_CHANGED)
    assert bob.inbox.filter(subject="Standup").count() == 0 and carol.inbox.filter(subject="Standup").count() == 0
    assert [o.location for o in bob.calendar.view(*window)] == [None, None, None]
    assert [o.location for o in alice.calendar.view(*window)] == [None, "Borealis", "Cosmos"]
    # that occurrence deleted with cancellations: dave's lone copy of it is cancelled too
    list(alice.calendar.view(*window))[1].delete(send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY)
    assert dave.calendar.get(id=daves.id).is_cancelled is True
    assert _recurrence_id(sandbox, DAVE, dave.inbox.get(subject="Canceled: Standup")) == "2026-07-07T09:00:00Z"
    assert [o.is_cancelled for o in bob.calendar.view(*window)] == [False, True, False]


def test_a_room_declines_an_occurrence_moved_to_a_time_it_is_booked(people):
    # the room decides again for the occurrence moved ("the room declines that occurrence when
    # busy"), and keeps the rest of the series
    alice, carol = people[ALICE], people[CAROL]
    start = datetime(2026, 7, 13, 9, tzinfo=BERLIN)
    window = (start - timedelta(hours=1), start + timedelta(days=3))
    series = _daily(alice, "Review", start, resources=[ATLAS], attendees=[BOB])
    _meeting(carol, "Taken", start + timedelta(days=1, hours=5), resources=[ATLAS])
    second = list(alice.calendar.view(*window))[1]
    second.start, second.end = second.start + timedelta(hours=5), second.end + timedelta(hours=5)
    second.save(update_fields=["start", "end"], send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)

    organizers = alice.fetch(list(alice.calendar.view(*window)))
    assert [_responses(o)[ATLAS] for o in organizers] == ["Accept", "Decline", "Accept"]
    assert _responses(alice.calendar.get(id=series.id))[ATLAS] == "Accept"
    [view] = alice.protocol.get_free_busy_info(accounts=[(ATLAS, "Required", False)], start=window[0],
                                               end=window[1])
    assert [(e.start.astimezone(BERLIN).day, e.start.astimezone(BERLIN).hour) for e in view.calendar_events] == \
        [(13, 9), (14, 14), (15, 9)]  # its own occurrence of the 14th dropped; carol's booking stays
