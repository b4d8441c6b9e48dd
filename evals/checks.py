"""One check per eval of evals.json, under the eval's name: it seeds what the eval needs
(through exchangelib, as the users of the demo tenant, or the admin API), runs the
candidate with ctx.run(), then reads the sandbox's state and the output and records
each unmet expectation with ctx.expect() / ctx.fail(). See check.py for ctx."""
import re
import time
from datetime import datetime, timedelta

from check import ALICE, BOB, CAROL, DAVE

CHECKS = {}
SHOP, CI = "noreply@shop.example", "ci@build.example"
ATLAS = "room-atlas@contoso.example"
MESSAGE_FIELDS = ("subject", "author", "is_read", "categories", "has_attachments")


def check(function):
    CHECKS[function.__name__.replace("_", "-")] = function
    return function


# ---- seeding and reading ---------------------------------------------------------------

def send(ctx, sender, to, subject, body="", files=()):
    """A real send: Exchange delivers it (rules and automatic replies run)."""
    from exchangelib import FileAttachment, Message
    account = ctx.account(sender)
    message = Message(account=account, folder=account.sent, subject=subject, body=body, to_recipients=[to])
    for name, content in files:
        message.attach(FileAttachment(name=name, content=content))
    message.send_and_save()


def plant(ctx, mailbox, messages):
    """Mail delivered from outside in one admin call (POST /_sandbox/messages): (sender,
    subject, body, is_read, categories) each, into `mailbox`'s Inbox."""
    ctx.admin("POST", "messages", [{"mailbox": mailbox, "from": sender, "subject": subject, "body": body,
                                    "is_read": is_read, "categories": categories or []}
                                   for sender, subject, body, is_read, categories in messages])


def listing(folder, **filters):
    return list(folder.filter(**filters).only(*MESSAGE_FIELDS))


def sender_of(message):
    return message.author.email_address.lower() if message.author else None


def subfolder(parent, name):
    """A child folder by name (any case), or None."""
    return next((f for f in parent.children if f.name.casefold() == name.casefold()), None)


def berlin(ctx, *parts):
    from exchangelib import EWSDateTime
    return EWSDateTime(*parts, tzinfo=ctx.zone)


def event(account, subject, start, minutes=60, invite=False, **fields):
    from exchangelib import CalendarItem
    item = CalendarItem(account=account, folder=account.calendar, subject=subject, start=start,
                        end=start + timedelta(minutes=minutes), **fields)
    item.save(send_meeting_invitations="SendToAllAndSaveCopy" if invite else "SendToNone")
    return item


def wait_for(condition, seconds=10.0, step=0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


# ---- mail -------------------------------------------------------------------------------

@check
def send_with_attachment(ctx):
    result = ctx.run()
    ctx.expect_success(result)
    got = listing(ctx.account(BOB).inbox, subject="Q3 numbers")
    if ctx.expect(len(got) == 1, f"bob's inbox has {len(got)} messages 'Q3 numbers', not 1"):
        message = ctx.account(BOB).inbox.get(id=got[0].id)
        ctx.expect(sender_of(message) == ALICE, f"it is from {sender_of(message)}, not alice")
        ctx.expect("row 4" in (message.text_body or ""), "its body lacks 'Numbers attached, see row 4.'")
        files = {a.name: a.content for a in message.attachments}
        expected = (ctx.workdir / "report.csv").read_bytes()
        ctx.expect(files.get("report.csv") == expected, f"its attachments are {sorted(files)}, not report.csv as given")
    ctx.expect(len(listing(ctx.account().sent, subject="Q3 numbers")) == 1, "alice's Sent Items has no copy")


@check
def announce_to_list(ctx):
    result = ctx.run()
    ctx.expect_success(result)
    for person in (BOB, CAROL, DAVE):
        found = listing(ctx.account(person).inbox, subject__contains="Offsite on 12 May")
        if ctx.expect(len(found) == 1, f"{person} received {len(found)} copies, not 1"):
            message = ctx.account(person).inbox.get(id=found[0].id)
            ctx.expect(message.importance == "High", f"{person}'s copy has importance {message.importance}")
            body = str(message.body)
            ctx.expect(message.body.body_type == "HTML" and "<b>10:00</b>" in body, "the body is not the HTML given")
            ctx.expect(DAVE in [m.email_address for m in message.cc_recipients or []], "dave is not in Cc")


@check
def save_draft(ctx):
    result = ctx.run()
    ctx.expect_success(result)
    drafts = [m for m in ctx.account().drafts.filter(subject="Contract draft")]
    if ctx.expect(len(drafts) == 1, f"alice's Drafts has {len(drafts)} messages 'Contract draft', not 1"):
        ctx.expect([m.email_address for m in drafts[0].to_recipients or []] == [DAVE], "the draft is not to dave")
        ctx.expect("clause 7" in (drafts[0].text_body or ""), "the draft's body lacks 'Please review clause 7.'")
    ctx.expect(not listing(ctx.account(DAVE).inbox, subject="Contract draft"), "the draft was sent to dave")


@check
def list_unread_from(ctx):
    for subject in ("Invoice A-101", "Invoice A-102", "Invoice A-103"):
        send(ctx, BOB, ALICE, subject, "See attached figures.")
    send(ctx, CAROL, ALICE, "Invoice C-900", "From carol.")
    inbox = ctx.account().inbox
    read = inbox.get(subject="Invoice A-102")
    read.is_read = True
    read.save(update_fields=["is_read"])
    result = ctx.run()
    ctx.expect_success(result)
    ctx.expect_output(result, "Invoice A-101", "Invoice A-103", absent=("Invoice A-102", "Invoice C-900"))
    ctx.expect(not any(m.is_read for m in listing(inbox, subject__in=["Invoice A-101", "Invoice A-103"])),
               "listing marked the messages read")


@check
def reply_to_message(ctx):
    send(ctx, BOB, ALICE, "Lunch Friday?", "Pizza at 12:30?")
    result = ctx.run()
    ctx.expect_success(result)
    replies = [m for m in listing(ctx.account(BOB).inbox, subject__contains="Lunch Friday?") if sender_of(m) == ALICE]
    if ctx.expect(len(replies) == 1, f"bob has {len(replies)} replies from alice, not 1"):
        reply = ctx.account(BOB).inbox.get(id=replies[0].id)
        ctx.expect(reply.subject.upper().startswith("RE:"), f"the subject {reply.subject!r} is no reply's")
        ctx.expect("12:30 works" in (reply.text_body or ""), "the reply lacks 'Yes, 12:30 works for me.'")
        original = ctx.account(BOB).sent.get(subject="Lunch Friday?")
        ctx.expect(reply.in_reply_to and reply.in_reply_to == original.message_id,
                   "it is a new message, not a reply (no In-Reply-To of bob's message)")


@check
def forward_with_note(ctx):
    send(ctx, CAROL, ALICE, "Invoice 8812", "Invoice attached.", files=[("invoice-8812.pdf", b"%PDF-1.4 8812")])
    result = ctx.run()
    ctx.expect_success(result)
    found = [m for m in listing(ctx.account(DAVE).inbox, subject__contains="Invoice 8812") if sender_of(m) == ALICE]
    if ctx.expect(len(found) == 1, f"dave has {len(found)} forwards from alice, not 1"):
        forward = ctx.account(DAVE).inbox.get(id=found[0].id)
        ctx.expect("pay by Friday" in (forward.text_body or ""), "the forward lacks 'Please pay by Friday.'")
        names = [a.name for a in forward.attachments]
        ctx.expect("invoice-8812.pdf" in names, f"the forward's attachments are {names}, not invoice-8812.pdf")


@check
def move_to_new_folder(ctx):
    inbox = ctx.account().inbox
    plant(ctx, ALICE, [(SHOP, f"Deal of the day {i}", "Buy now", False, None) for i in range(12)]
          + [(BOB, f"Deal ideas {i}", "Ideas", False, None) for i in range(3)])
    result = ctx.run()
    ctx.expect_success(result)
    shopping = subfolder(ctx.account().inbox, "Shopping")
    if ctx.expect(shopping is not None, "there is no folder Inbox/Shopping"):
        moved = listing(shopping)
        ctx.expect(len(moved) == 12 and all(sender_of(m) == SHOP for m in moved),
                   f"Inbox/Shopping holds {len(moved)} messages, not the 12 from {SHOP}")
    ctx.expect(not [m for m in listing(inbox) if sender_of(m) == SHOP], f"mail from {SHOP} is still in the Inbox")
    ctx.expect(len(listing(inbox, subject__startswith="Deal ideas")) == 3, "bob's 'Deal ideas' left the Inbox")


def _ci_mail(ctx):
    plant(ctx, ALICE, [(CI, f"Build #{i} passed", "ok", False, None) for i in range(8)]
          + [(BOB, f"Build server migration {i}", "Plan", False, None) for i in range(2)])


def _expect_ci_read(ctx):
    inbox = ctx.account().inbox
    ci = [m for m in listing(inbox, subject__startswith="Build #")]
    ctx.expect(len(ci) == 8 and all(m.is_read for m in ci),
               f"{sum(not m.is_read for m in ci)} of the {len(ci)} messages from {CI} are still unread")
    ctx.expect(not any(m.is_read for m in listing(inbox, subject__startswith="Build server migration")),
               "bob's messages were marked read too")


@check
def mark_read(ctx):
    _ci_mail(ctx)
    ctx.expect_success(ctx.run())
    _expect_ci_read(ctx)


@check
def delete_to_trash(ctx):
    inbox = ctx.account().inbox
    plant(ctx, ALICE, [("promo@lottery.example", f"You won a prize #{i}", "Click", False, None) for i in range(5)]
          + [(BOB, "Prize ceremony", "Friday", False, None)])
    result = ctx.run()
    ctx.expect_success(result)
    ctx.expect(not listing(inbox, subject__contains="You won a prize"), "the prize messages are still in the Inbox")
    trashed = listing(ctx.account().trash, subject__contains="You won a prize")
    ctx.expect(len(trashed) == 5, f"Deleted Items holds {len(trashed)} of them, not 5 (deleted for good?)")
    ctx.expect(len(listing(inbox, subject="Prize ceremony")) == 1, "'Prize ceremony' was deleted too")


@check
def categorize_add(ctx):
    inbox = ctx.account().inbox
    plant(ctx, ALICE, [(BOB, f"Invoice {1000 + i}", "Amount due", False, ["Customers"] if i < 2 else None)
                       for i in range(4)] + [(BOB, "Lunch plans", "Noon?", False, ["Customers"])])
    before = {m.id: set(m.categories or []) for m in listing(inbox) if "invoice" in (m.subject or "").lower()}
    result = ctx.run()
    ctx.expect_success(result)
    after = {m.id: m for m in listing(inbox)}
    for item_id, categories in before.items():
        now = set(after[item_id].categories or []) if item_id in after else set()
        ctx.expect(now == categories | {"Finance"},
                   f"{after[item_id].subject if item_id in after else item_id!r} has {sorted(now)}, "
                   f"not {sorted(categories | {'Finance'})}")
    lunch = next(m for m in after.values() if m.subject == "Lunch plans")
    ctx.expect(lunch.categories == ["Customers"], f"'Lunch plans' now has {lunch.categories}")


@check
def download_attachments(ctx):
    send(ctx, CAROL, ALICE, "Quarterly data Q1", "Q1", files=[("q1.csv", b"quarter,revenue\nQ1,100\n")])
    send(ctx, CAROL, ALICE, "Quarterly data Q2", "Q2", files=[("q2.csv", b"quarter,revenue\nQ2,140\n")])
    send(ctx, BOB, ALICE, "Holiday photo", "Look", files=[("photo.jpg", b"\xff\xd8\xff photo")])
    result = ctx.run()
    ctx.expect_success(result)
    folder = ctx.workdir / "downloads"
    saved = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else {}
    ctx.expect(saved.get("q1.csv") == b"quarter,revenue\nQ1,100\n", "downloads/q1.csv is missing or differs")
    ctx.expect(saved.get("q2.csv") == b"quarter,revenue\nQ2,140\n", "downloads/q2.csv is missing or differs")
    ctx.expect("photo.jpg" not in saved, "bob's photo.jpg was saved too")


# ---- calendar ---------------------------------------------------------------------------

def _calendar(ctx, email=ALICE, **filters):
    return list(ctx.account(email).calendar.filter(**filters))


@check
def create_appointment(ctx):
    ctx.expect_success(ctx.run())
    found = _calendar(ctx, subject="Dentist")
    if ctx.expect(len(found) == 1, f"alice's calendar has {len(found)} items 'Dentist', not 1"):
        item = found[0]
        ctx.expect(item.start == berlin(ctx, 2027, 3, 15, 14), f"it starts at {item.start}, not 2027-03-15 14:00 Berlin")
        ctx.expect(item.end == berlin(ctx, 2027, 3, 15, 15), f"it ends at {item.end}, not 15:00 Berlin")
        ctx.expect("Weiss" in (item.location or ""), f"its location is {item.location!r}")
        ctx.expect(not item.required_attendees, "it invites attendees")


@check
def meeting_with_room(ctx):
    ctx.expect_success(ctx.run())
    found = _calendar(ctx, subject="Sprint planning")
    if not ctx.expect(len(found) == 1, f"alice's calendar has {len(found)} items 'Sprint planning', not 1"):
        return
    meeting = found[0]
    ctx.expect(meeting.start == berlin(ctx, 2027, 3, 16, 10) and meeting.end == berlin(ctx, 2027, 3, 16, 11),
               f"it runs {meeting.start} to {meeting.end}, not 10:00-11:00 Berlin on 2027-03-16")
    attendees = {a.mailbox.email_address.lower() for a in meeting.required_attendees or []}
    ctx.expect({BOB, CAROL} <= attendees, f"its attendees are {sorted(attendees)}")
    rooms = {a.mailbox.email_address.lower(): a.response_type for a in (meeting.resources or [])
             + (meeting.optional_attendees or []) + (meeting.required_attendees or [])}
    ctx.expect(rooms.get(ATLAS) == "Accept", f"room Atlas answered {rooms.get(ATLAS)!r}, not Accept (not invited?)")
    for person in (BOB, CAROL):
        ctx.expect(_calendar(ctx, person, subject="Sprint planning"), f"{person} got no invitation")


@check
def recurring_weekly(ctx):
    ctx.expect_success(ctx.run())
    account = ctx.account()
    masters = list(account.calendar.filter(subject="Team sync"))
    ctx.expect(len(masters) == 1 and masters[0].type == "RecurringMaster",
               f"expected one recurring series 'Team sync', found {[m.type for m in masters]}")
    occurrences = [o for o in account.calendar.view(start=berlin(ctx, 2027, 3, 1), end=berlin(ctx, 2027, 8, 1))
                   if o.subject == "Team sync"]
    ctx.expect(len(occurrences) == 10, f"{len(occurrences)} occurrences, not 10")
    wrong = [o.start for o in occurrences if (o.start.astimezone(ctx.zone).weekday(), o.start.astimezone(ctx.zone).hour,
                                              o.start.astimezone(ctx.zone).minute, o.end - o.start)
             != (0, 9, 0, timedelta(minutes=30))]
    ctx.expect(not wrong, f"occurrences not on Monday 09:00-09:30 Berlin: {wrong[:3]}")
    ctx.expect(occurrences and occurrences[0].start == berlin(ctx, 2027, 3, 15, 9), "the first is not 2027-03-15 09:00")


@check
def week_agenda(ctx):
    from exchangelib.recurrence import Recurrence, WeeklyPattern
    account = ctx.account()
    for subject, start in (("Budget review", (2027, 3, 22, 10)), ("1:1 with Dave", (2027, 3, 24, 15)),
                           ("Release party", (2027, 3, 26, 17)), ("Vendor call", (2027, 3, 30, 11)),
                           ("Kickoff", (2027, 3, 19, 9))):
        event(account, subject, berlin(ctx, *start))
    pattern = WeeklyPattern(interval=1, weekdays=[1, 2, 3, 4, 5], first_day_of_week=1)  # Monday to Friday
    event(account, "Standup", berlin(ctx, 2027, 3, 1, 9), minutes=15,
          recurrence=Recurrence(pattern=pattern, start=datetime(2027, 3, 1).date(), end=datetime(2027, 4, 30).date()))
    result = ctx.run()
    ctx.expect_success(result)
    ctx.expect_output(result, "Budget review", "1:1 with Dave", "Release party", absent=("Vendor call", "Kickoff"))
    standups = (result.stdout + result.stderr).count("Standup")
    ctx.expect(standups >= 5, f"the daily Standup appears {standups} times, not once for each of the 5 weekdays")


@check
def accept_invitation(ctx):
    from exchangelib import Attendee
    bob = ctx.account(BOB)
    event(bob, "Architecture review", berlin(ctx, 2027, 3, 18, 14), invite=True,
          required_attendees=[Attendee(mailbox=ALICE)])
    ctx.expect_success(ctx.run())
    copy = _calendar(ctx, subject="Architecture review")
    ctx.expect(copy and copy[0].my_response_type == "Accept",
               f"alice's copy says {copy[0].my_response_type if copy else 'nothing (no copy)'}, not Accept")
    answers = [m for m in bob.inbox.filter(subject="Accepted: Architecture review")]
    if ctx.expect(len(answers) == 1, f"bob received {len(answers)} acceptances, not 1"):
        ctx.expect("diagrams" in str(answers[0].body or ""), "the acceptance lacks 'I'll bring the diagrams.'")


@check
def free_busy(ctx):
    event(ctx.account(BOB), "Board prep", berlin(ctx, 2027, 3, 17, 10), minutes=120, legacy_free_busy_status="Busy")
    event(ctx.account(CAROL), "Carol dentist", berlin(ctx, 2027, 3, 17, 13, 30), legacy_free_busy_status="Busy")
    result = ctx.run()
    ctx.expect_success(result)
    ctx.expect_output(result, "10:00", "12:00")
    # carol's 13:30-14:30 is not bob's: a program that asks the wrong person prints that range
    # (13:30 alone may appear, as the start of a free slot)
    ctx.expect(not re.search(r"13:30\s*(-|–|to|until)\s*14:30", result.stdout),
               "the output gives 13:30-14:30 as busy: that is carol's appointment, not bob's")
    ctx.expect(any((e["operation"] or "").startswith("GetUserAvailability") for e in ctx.requests()),
               "no GetUserAvailability request: alice may not read bob's calendar, only his free/busy")


# ---- contacts and directory -------------------------------------------------------------

@check
def add_contact(ctx):
    ctx.expect_success(ctx.run())
    found = [c for c in ctx.account().contacts.all()
             if any(e.email == "priya@fabrikam.example" for e in getattr(c, "email_addresses", None) or [])]
    if ctx.expect(len(found) == 1, f"{len(found)} contacts with priya@fabrikam.example, not 1"):
        contact = found[0]
        ctx.expect((contact.given_name, contact.surname) == ("Priya", "Natarajan"),
                   f"the name is {contact.given_name!r} {contact.surname!r}")
        ctx.expect(contact.company_name == "Fabrikam", f"the company is {contact.company_name!r}")
        phones = [re.sub(r"\D", "", p.phone_number or "") for p in contact.phone_numbers or []]
        ctx.expect("15550100" in phones, f"the phone numbers are {phones}")


@check
def directory_lookup(ctx):
    result = ctx.run()
    ctx.expect_success(result)
    ctx.expect_output(result, "hiroshi.tanaka@contoso.example")


# ---- rules and out of office ------------------------------------------------------------

@check
def inbox_rule(ctx):
    ctx.expect_success(ctx.run())
    rules = ctx.account().rules
    ctx.expect(len(rules) == 1 and rules[0].is_enabled, f"alice has {len(rules)} rules, not one enabled rule")
    target = subfolder(ctx.account().inbox, "CI")
    if not ctx.expect(target is not None, "there is no folder Inbox/CI"):
        return
    send(ctx, DAVE, ALICE, "[CI] build 42 failed", "red")
    send(ctx, DAVE, ALICE, "Lunch?", "noon")
    send(ctx, BOB, ALICE, "[CI] question", "from bob")
    ctx.expect(len(listing(target, subject="[CI] build 42 failed")) == 1, "dave's [CI] message did not reach Inbox/CI")
    inbox = ctx.account().inbox
    ctx.expect(len(listing(inbox, subject="Lunch?")) == 1, "dave's other message did not stay in the Inbox")
    ctx.expect(len(listing(inbox, subject="[CI] question")) == 1, "bob's [CI] message was moved too")


@check
def oof_now(ctx):
    ctx.expect_success(ctx.run())
    settings = ctx.account().oof_settings
    ctx.expect(settings.state == "Enabled", f"the out-of-office state is {settings.state}, not Enabled")
    send(ctx, BOB, ALICE, "Quick question", "Are you around?")
    # the sandbox answers during delivery, as the send returns
    replies = [m for m in ctx.account(BOB).inbox.filter(subject__contains="Quick question")
               if sender_of(m) == ALICE]
    if ctx.expect(replies, "bob got no automatic reply from alice"):
        ctx.expect("out until Monday" in (replies[0].text_body or ""), "the automatic reply lacks the text given")


@check
def oof_scheduled(ctx):
    ctx.expect_success(ctx.run())
    settings = ctx.account().oof_settings
    ctx.expect(settings.state == "Scheduled", f"the out-of-office state is {settings.state}, not Scheduled")
    ctx.expect(settings.start == berlin(ctx, 2027, 4, 1, 9) and settings.end == berlin(ctx, 2027, 4, 10, 18),
               f"it runs {settings.start} to {settings.end}, not 2027-04-01 09:00 to 2027-04-10 18:00 Berlin")
    ctx.expect("back 11 April" in (settings.internal_reply or ""), "the internal reply lacks the text given")
    ctx.expect(settings.external_audience == "Known", f"external replies go to {settings.external_audience}, not Known")
    ctx.expect("back 11 April" in (settings.external_reply or ""), "the external reply lacks the text given")


# ---- sync and notifications -------------------------------------------------------------

@check
def incremental_sync(ctx):
    send(ctx, BOB, ALICE, "Sync seed one", "first")
    first = ctx.run()
    ctx.expect_success(first)
    ctx.expect_output(first, "Sync seed one")
    send(ctx, CAROL, ALICE, "Sync delta two", "second")
    second = ctx.run()
    ctx.expect_success(second)
    ctx.expect_output(second, "Sync delta two", absent=("Sync seed one",))


def start_subscriber(ctx):
    """The candidate, started; its subscription awaited before any mail is sent."""
    process = ctx.run(wait=False)
    subscribed = wait_for(lambda: any(e["operation"] == "Subscribe" and e["status"] == 200 for e in ctx.requests())
                          or process.poll() is not None, seconds=30)
    ctx.expect(subscribed and process.poll() is None, "no subscription within 30 s (or the command ended early)")
    return process


@check
def wait_for_new_mail(ctx):
    process = start_subscriber(ctx)
    send(ctx, BOB, ALICE, "Ping 7f3a", "are you listening?")
    result = ctx.finish(process, timeout=60)
    ctx.expect_success(result)
    ctx.expect_output(result, "Ping 7f3a")
    operations = {e["operation"] for e in ctx.requests()}
    ctx.expect(operations & {"GetEvents", "GetStreamingEvents"}, "it did not read notification events")


@check
def stream_new_mail(ctx):
    process = start_subscriber(ctx)
    send(ctx, BOB, ALICE, "Stream one", "first")
    time.sleep(0.5)
    send(ctx, CAROL, ALICE, "Stream two", "second")
    result = ctx.finish(process, timeout=60)
    ctx.expect_success(result)
    lines = [line.strip() for line in result.stdout.splitlines()]
    shown = [subject for line in lines for subject in ("Stream one", "Stream two") if subject in line]
    ctx.expect(shown == ["Stream one", "Stream two"],  # each once, in order, a line each (other text allowed)
               f"the output does not show 'Stream one' then 'Stream two', once each: {lines[-3:]}")
    ctx.expect(any(e["operation"] == "GetStreamingEvents" for e in ctx.requests()),
               "it did not stream (no GetStreamingEvents)")


# ---- sign-in ----------------------------------------------------------------------------

@check
def app_only_impersonation(ctx):
    carol = ctx.account(CAROL)
    plant(ctx, CAROL, [(BOB, f"Report {i}", "x", False, None) for i in range(23)])
    carol.inbox.refresh()  # the folder object keeps the count it was read with
    total = carol.inbox.total_count
    result = ctx.run()
    ctx.expect_success(result)
    ctx.expect(re.search(rf"\b{total}\b", result.stdout), f"the output does not give carol's inbox total, {total}")
    app = f"app:{ctx.app['client_id']}"
    ews = [e for e in ctx.requests() if (e["operation"] or "")[:1].isupper()]  # EWS operations, not token calls
    ctx.expect(ews and all(e["user"] == app for e in ews if e["status"] == 200),
               "the requests were not signed in as the app (client credentials)")
    ctx.expect(any(CAROL in e["mailboxes"] for e in ews), "no request opened carol's mailbox")


@check
def delegate_read(ctx):
    ctx.admin("POST", "delegates", {"owner": BOB, "delegate": ALICE})
    send(ctx, CAROL, BOB, "Board minutes", "Minutes of the board")
    result = ctx.run()
    ctx.expect_success(result)
    ctx.expect_output(result, "Board minutes")
    opened = [e for e in ctx.requests() if BOB in e["mailboxes"]]
    ctx.expect(opened and all(e["user"] == ALICE for e in opened), "bob's mailbox was not opened by alice as delegate")


# ---- testing ----------------------------------------------------------------------------

@check
def seed_test_data(ctx):
    ctx.expect_success(ctx.run())
    promos = [m for m in listing(ctx.account().inbox, subject__startswith="Promo ")]
    subjects = sorted(m.subject for m in promos)
    ctx.expect(subjects == [f"Promo {i:02d}" for i in range(1, 51)], f"the inbox has {len(subjects)} 'Promo NN' messages, "
               "not Promo 01 to Promo 50")
    ctx.expect(all(not m.is_read and sender_of(m) == SHOP for m in promos), f"not all are unread and from {SHOP}")
    drafts = [m.subject for m in ctx.account().fetch(promos, only_fields=["is_draft"]) if m.is_draft] if promos else []
    ctx.expect(not drafts, f"{len(drafts)} of them are drafts, not received mail (set PidTagMessageFlags at creation)")
    creates = sum(e["operation"] == "CreateItem" for e in ctx.requests())
    ctx.expect(creates <= 5, f"{creates} CreateItem requests: create them in bulk (at most 5)")


@check
def survive_throttling(ctx):
    _ci_mail(ctx)
    ctx.admin("POST", "faults", {"kind": "server-busy", "every": 2, "backoff_ms": 200})
    result = ctx.run()
    ctx.admin("DELETE", "faults")
    ctx.expect_success(result)
    _expect_ci_read(ctx)
    ctx.expect(any(e["status"] == 500 for e in ctx.requests()), "the sandbox never answered ErrorServerBusy")
