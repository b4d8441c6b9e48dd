"""The demo tenant's calendars and alice's contacts, dated from the moment the tenant is
seeded, so that the next seven days (what scripts/calendar_view.py shows by default) always
hold a week of work, whatever the day. Days count from the seeding day in alice's zone;
this week's meetings fall on the working days after it, so a machine whose date is a day
off alice's (another zone) still sees most of them in its seven days.

Meetings go through the sandbox's own meeting model, as CreateItem with invitations and the
response objects use it: the organizer's item is stored, `meetings.invite` puts a copy in
each attendee's calendar and a request in their Inbox (rooms answer by themselves), and
`meetings.respond` answers a request as AcceptItem does. So attendee copies, requests,
responses and free/busy agree, and everything lands in the change journal.

What alice (New York) finds:
- "Team meeting", her weekly meeting at 10:00 since four weeks (on the weekday of the next
  working day), in room Atlas: bob accepted, carol tentative, dave never answered. This
  week's occurrence moved to 14:00 (an exception, sent to the attendees as an update); next
  week's was cancelled (deleted).
- "Daily stand-up", bob's, every weekday 09:30, which she accepted.
- "Q3 budget review", carol's one-off this week (Chicago time) in room Borealis, accepted.
- "Release 2.4 planning", bob's, in room Cosmos: its request waits in her Inbox.
- "Fabrikam customer call", hers, next week, erin (Berlin) tentative, bob accepted.
- "Release 2.4 code freeze", an all-day event (free), and "Doctor's appointment", a private one.
Others: erin's "Partner workshop" (Berlin) with dave, dave's private "Physio" (London).
Contacts: a dozen people in alice's Contacts, with several addresses and phones, and her
personal distribution list "Book club".
"""
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from lxml import etree

from .model import calendar, directory, folders, items, meetings
from .wire.ns import T, sub, t

DOMAIN = "contoso.example"
# Each user's zone, as Windows names it (what exchangelib sends) and as the tz database does.
ZONES = {"alice": ("Eastern Standard Time", "America/New_York"), "bob": ("Eastern Standard Time", "America/New_York"),
         "carol": ("Central Standard Time", "America/Chicago"), "dave": ("GMT Standard Time", "Europe/London"),
         "erin": ("W. Europe Standard Time", "Europe/Berlin")}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
UID_SPACE = uuid.UUID("2f8a6c1e-4b7d-4e3a-9f05-c6d1b8e2a743")  # UIDs derived from names: a reseed gives the same


def apply(conn, now):
    """Seed the demo calendars and contacts as of `now` (aware UTC)."""
    today = now.astimezone(ZoneInfo(ZONES["alice"][1])).date()
    users = {login: directory.user_by_email(conn, f"{login}@{DOMAIN}") for login in ZONES}
    day = _Days(today)
    first = day.work(1) - timedelta(weeks=4)  # the series' 5th occurrence is this week's

    team = _meeting(conn, users["alice"], "Team meeting", first, time(10), 60, "Atlas",
                    required=["bob", "carol", "dave"], resources=["room-atlas"],
                    body="Weekly meeting: status, blockers, next steps.",
                    recurrence=_weekly([WEEKDAYS[first.weekday()]], first))
    _answer(conn, users["bob"], team, "AcceptItem")
    _answer(conn, users["carol"], team, "TentativelyAcceptItem")  # dave never answers
    _move_occurrence(conn, team, 5, time(14), "This week at 14:00: the all-hands takes the morning.")
    meetings.cancel(conn, calendar.occurrence_row(conn, items.get(conn, team["id"]), 6),
                    _body("No meeting next week: most of us are at the conference."))

    standup = _meeting(conn, users["bob"], "Daily stand-up", day.monday_before(weeks=2), time(9, 30), 15,
                       "Teams", required=["alice", "carol", "dave"],
                       recurrence=_weekly(WEEKDAYS[:5], day.monday_before(weeks=2)))
    _answer(conn, users["alice"], standup, "AcceptItem")
    _answer(conn, users["carol"], standup, "AcceptItem")
    _answer(conn, users["dave"], standup, "TentativelyAcceptItem")

    budget = _meeting(conn, users["carol"], "Q3 budget review", day.work(2), time(13), 60, "Borealis",
                      required=["alice", "dave"], resources=["room-borealis"],
                      body="Walk through the Q3 budget draft before it goes to finance.")
    _answer(conn, users["alice"], budget, "AcceptItem")
    _answer(conn, users["dave"], budget, "DeclineItem")

    _meeting(conn, users["bob"], "Release 2.4 planning", day.work(3), time(15), 60, "Cosmos",
             required=["alice", "carol"], resources=["room-cosmos"],
             body="Scope and dates for release 2.4. The checklist is in my mail.")  # alice has not answered

    fabrikam = _meeting(conn, users["alice"], "Fabrikam customer call", day.work(6), time(11), 45,
                        "Microsoft Teams", required=["bob"], optional=["erin"],
                        body="Fabrikam wants the export feature by March: agree on a plan.")
    _answer(conn, users["bob"], fabrikam, "AcceptItem")
    _answer(conn, users["erin"], fabrikam, "TentativelyAcceptItem")

    workshop = _meeting(conn, users["erin"], "Partner workshop", day.work(1), time(9), 180, "Berlin office",
                        required=["dave"], body="Integration workshop with Northwind's engineers.")
    _answer(conn, users["dave"], workshop, "AcceptItem")

    _appointment(conn, users["alice"], "Release 2.4 code freeze", day.work(4), None, None, all_day=True,
                 free_busy="Free", categories=["Project X"])
    _appointment(conn, users["alice"], "Doctor's appointment", day.work(2), time(16, 30), 60,
                 location="Dr. Patel, 5th Avenue", private=True)
    _appointment(conn, users["dave"], "Physio", day.work(1), time(17), 45, location="Harley Street", private=True)
    _contacts(conn, users["alice"])


class _Days:
    """Dates counted from the seeding day (in alice's zone)."""

    def __init__(self, today):
        self.today = today

    def work(self, n):
        """The n-th working day after today: days 1 to 4 fall within the next six days,
        5 and later after them (next week)."""
        day = self.today
        for _ in range(n):
            day += timedelta(days=1)
            while day.weekday() >= 5:
                day += timedelta(days=1)
        return day

    def monday_before(self, weeks):
        return self.today - timedelta(days=self.today.weekday(), weeks=weeks)


# ---- calendar items -------------------------------------------------------------------------

def _calendar_item(owner, subject, day, start, minutes, location=None, body=None, all_day=False, free_busy="Busy",
                   private=False, categories=(), recurrence=None):
    """A CalendarItem as exchangelib sends it (in the schema's order), in the owner's zone."""
    zone_id, zone_name = ZONES[owner["email"].split("@")[0]]
    zone = ZoneInfo(zone_name)
    if all_day:
        begin = datetime.combine(day, time(0), zone)
        end = datetime.combine(day + timedelta(days=1), time(0), zone)
    else:
        begin = datetime.combine(day, start, zone)
        end = begin + timedelta(minutes=minutes)
    item = etree.Element(t("CalendarItem"), nsmap={"t": T})
    sub(item, t("Subject"), subject)
    sub(item, t("Sensitivity"), "Private" if private else "Normal")
    if body:
        sub(item, t("Body"), body, BodyType="Text")
    if categories:
        container = sub(item, t("Categories"))
        for category in categories:
            sub(container, t("String"), category)
    sub(item, t("Importance"), "Normal")
    sub(item, t("ReminderIsSet"), "true")
    sub(item, t("ReminderMinutesBeforeStart"), "15")
    sub(item, t("Start"), begin.isoformat())
    sub(item, t("End"), end.isoformat())
    sub(item, t("IsAllDayEvent"), "true" if all_day else "false")
    sub(item, t("LegacyFreeBusyStatus"), free_busy)
    if location:
        sub(item, t("Location"), location)
    return item, recurrence, zone_id


def _finish(item, recurrence, zone_id, uid):
    if recurrence is not None:
        item.append(recurrence)
    sub(item, t("UID"), uid)
    sub(item, t("StartTimeZone"), Id=zone_id)
    sub(item, t("EndTimeZone"), Id=zone_id)
    return item


def _appointment(conn, owner, subject, day, start, minutes, **fields):
    item, recurrence, zone_id = _calendar_item(owner, subject, day, start, minutes, **fields)
    _finish(item, recurrence, zone_id, _uid(owner, subject))
    return items.insert(conn, folders.distinguished(conn, owner["id"], "calendar"), item)


def _meeting(conn, organizer, subject, day, start, minutes, location, required=(), optional=(), resources=(),
             body=None, recurrence=None):
    """The organizer's meeting, saved and sent (CreateItem with SendToAllAndSaveCopy)."""
    item, recurrence, zone_id = _calendar_item(organizer, subject, day, start, minutes, location, body,
                                               recurrence=recurrence)
    for tag, logins in (("RequiredAttendees", required), ("OptionalAttendees", optional), ("Resources", resources)):
        if logins:
            container = sub(item, t(tag))
            for login in logins:
                attendee = sub(container, t("Attendee"))
                mailbox = sub(attendee, t("Mailbox"))
                sub(mailbox, t("EmailAddress"), f"{login}@{DOMAIN}")
                sub(mailbox, t("RoutingType"), "SMTP")
                sub(mailbox, t("MailboxType"), "Mailbox")
                sub(attendee, t("ResponseType"), "Unknown")
    _finish(item, recurrence, zone_id, _uid(organizer, subject))
    row = items.insert(conn, folders.distinguished(conn, organizer["id"], "calendar"), item)
    return meetings.invite(conn, row, row)


def _weekly(days, first):
    recurrence = etree.Element(t("Recurrence"))
    weekly = sub(recurrence, t("WeeklyRecurrence"))
    sub(weekly, t("Interval"), "1")
    sub(weekly, t("DaysOfWeek"), " ".join(days))
    sub(weekly, t("FirstDayOfWeek"), "Monday")
    sub(sub(recurrence, t("NoEndRecurrence")), t("StartDate"), first.isoformat())
    return recurrence


def _uid(owner, subject):
    return uuid.uuid5(UID_SPACE, f"{owner['email']}/{subject}").hex.upper()


def _body(text):
    body = etree.Element(t("Body"), BodyType="Text")
    body.text = text
    return body


def _answer(conn, user, meeting_row, kind):
    """`user` answers the meeting's request in their Inbox (AcceptItem, ... with the response sent)."""
    uid = etree.fromstring(meeting_row["xml"]).findtext(t("UID"))
    inbox = folders.distinguished(conn, user["id"], "inbox")
    for row in conn.execute("SELECT * FROM items WHERE folder_id = ? AND element = 'MeetingRequest'", (inbox["id"],)):
        if etree.fromstring(row["xml"]).findtext(t("UID")) == uid:
            return meetings.respond(conn, user["id"], row, kind)
    raise LookupError(f"no request for {uid} in {user['email']}'s Inbox")


def _move_occurrence(conn, master_row, index, start, note):
    """The organizer moves one occurrence to another time of the same day and sends the
    update (UpdateItem of the occurrence, SendToAllAndSaveCopy)."""
    occurrence = calendar.occurrence_row(conn, items.get(conn, master_row["id"]), index)
    item = etree.fromstring(occurrence["xml"])
    zone = calendar.item_zone(item)
    old_start, old_end = calendar.span(item)
    local = old_start.astimezone(zone)
    new_start = datetime.combine(local.date(), start, zone)
    item.find(t("Start")).text = calendar.utc_string(new_start)
    item.find(t("End")).text = calendar.utc_string(new_start + (old_end - old_start))
    item.find(t("Body")).text = note
    meetings.update_occurrence(conn, calendar.save_exception(conn, occurrence, item))


# ---- contacts ----------------------------------------------------------------------------------

CONTACTS = [  # given, surname, company, title, emails, phones {label: number}, city
    ("Amara", "Nwosu", "Analytical Engines Ltd", "Chief Scientist",
     ["amara@analytical.example", "amara.n@home.example"],
     {"BusinessPhone": "+44 20 7946 0101", "MobilePhone": "+44 7700 900101"}, "London"),
    ("Greta", "Lind", "Fabrikam", "VP Engineering", ["greta.lind@fabrikam.example"],
     {"BusinessPhone": "+1 212 555 0142", "MobilePhone": "+1 917 555 0142"}, "New York"),
    ("Lukas", "Berglund", "Northwind Traders", "Account Manager",
     ["lukas.berglund@northwind.example", "lukas@berglund.example"],
     {"BusinessPhone": "+46 8 555 010 20"}, "Stockholm"),
    ("Mei", "Tanaka", "Fabrikam", "Product Owner", ["mei.tanaka@fabrikam.example"],
     {"BusinessPhone": "+1 212 555 0177", "BusinessPhone2": "+1 212 555 0178"}, "New York"),
    ("Omar", "Farouk", "Tailspin Toys", "CTO", ["omar@tailspin.example", "omar.farouk@gmail.example",
                                                "o.farouk@tailspin-labs.example"],
     {"MobilePhone": "+971 50 555 0190"}, "Dubai"),
    ("Paula", "Schmidt", "Northwind Traders", "Legal Counsel", ["paula.schmidt@northwind.example"],
     {"BusinessPhone": "+49 30 555 0133", "BusinessFax": "+49 30 555 0134"}, "Berlin"),
    ("Raj", "Patel", "", "Physician", ["reception@patel-clinic.example"], {"BusinessPhone": "+1 212 555 0166"},
     "New York"),
    ("Sam", "Wong", "", "", ["sam.wong@home.example"],
     {"MobilePhone": "+1 646 555 0111", "HomePhone": "+1 718 555 0111"}, "Brooklyn"),
    ("Tereza", "Novakova", "Contoso Pharmaceuticals", "Buyer", ["tereza.novakova@contoso-pharma.example"],
     {"BusinessPhone": "+420 2 5550 1122"}, "Prague"),
    ("Uma", "Reddy", "", "", ["uma.reddy@home.example", "uma@bookclub.example"], {"MobilePhone": "+1 347 555 0125"},
     "New York"),
    ("Victor", "Hugo", "", "", ["victor@bookclub.example"], {"MobilePhone": "+1 347 555 0126"}, "New York"),
    ("Yara", "Costa", "Wide World Importers", "Logistics Lead", ["yara.costa@wideworld.example"],
     {"BusinessPhone": "+55 11 5550 0199", "MobilePhone": "+55 11 95550 0199"}, "Sao Paulo"),
]
BOOK_CLUB = [("Uma", "Reddy", "uma@bookclub.example"), ("Victor", "Hugo", "victor@bookclub.example"),
             ("Sam", "Wong", "sam.wong@home.example")]


def _contacts(conn, owner):
    folder = folders.distinguished(conn, owner["id"], "contacts")
    for given, surname, company, title, emails, phones, city in CONTACTS:
        contact = etree.Element(t("Contact"), nsmap={"t": T})
        sub(contact, t("FileAs"), f"{surname}, {given}")
        sub(contact, t("DisplayName"), f"{given} {surname}")
        sub(contact, t("GivenName"), given)
        if company:
            sub(contact, t("CompanyName"), company)
        addresses = sub(contact, t("EmailAddresses"))
        for number, address in enumerate(emails, 1):
            sub(addresses, t("Entry"), address, Key=f"EmailAddress{number}")
        physical = sub(sub(contact, t("PhysicalAddresses")), t("Entry"), Key="Business" if company else "Home")
        sub(physical, t("City"), city)
        numbers = sub(contact, t("PhoneNumbers"))
        for label, number in phones.items():
            sub(numbers, t("Entry"), number, Key=label)
        if title:
            sub(contact, t("JobTitle"), title)
        sub(contact, t("Surname"), surname)
        items.insert(conn, folder, contact)
    book_club = etree.Element(t("DistributionList"), nsmap={"t": T})
    sub(book_club, t("DisplayName"), "Book club")
    members = sub(book_club, t("Members"))
    for given, surname, address in BOOK_CLUB:
        member = sub(members, t("Member"))
        mailbox = sub(member, t("Mailbox"))
        sub(mailbox, t("Name"), f"{given} {surname}")
        sub(mailbox, t("EmailAddress"), address)
        sub(mailbox, t("RoutingType"), "SMTP")
        sub(mailbox, t("MailboxType"), "OneOff")
        sub(member, t("Status"), "Normal")
    items.insert(conn, folder, book_club)
