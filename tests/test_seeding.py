"""POST /_sandbox/messages: mail from outside, delivered for tests through the model.

What Exchange sets on a delivered message, per Microsoft's EWS reference ("DateTimeReceived":
when the item was received in the mailbox, read-only; "ReceivedBy"/"ReceivedRepresenting":
the recipient, set by the receiving transport; "IsRead"), is set here as on a delivery
between sandbox users, and a delivery into the Inbox runs inbox rules and automatic replies
and is seen by subscriptions and sync like any other.
"""
import base64
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest
from exchangelib import Folder, Message, OofSettings
from exchangelib.properties import Actions, Conditions, MoveToFolder, NewMailEvent, Rule

from conftest import ALICE, BOB
from ews_sandbox.testing import AdminCallError, SandboxClient, message_fields

ALERTS = "alerts@monitoring.example"
LONG_AGO = datetime(2023, 3, 14, 9, 26, 53, tzinfo=timezone.utc)


@pytest.fixture
def kit(clean, sandbox):
    return SandboxClient.of(sandbox)


@pytest.fixture
def alice(kit, connect):
    return connect(ALICE)


def test_a_message_from_outside_is_stamped_as_delivered(kit, alice):
    answer = kit.deliver(ALICE, "disk full on db1", "98% used", sender=f"Monitoring <{ALERTS}>", received=LONG_AGO,
                         attachments=[("df.txt", "/dev/sda1 98%\n"), ("raw.bin", b"\x00\xff\x10")])
    assert (answer["mailbox"], answer["folder"], answer["received"]) == (ALICE, "Inbox", "2023-03-14T09:26:53Z")

    message = alice.inbox.get(subject="disk full on db1")
    assert message.id == answer["item_id"]
    assert (message.datetime_received, message.datetime_sent, message.datetime_created) == (LONG_AGO,) * 3
    assert (message.is_read, message.is_draft, message.is_from_me) == (False, False, False)
    assert (message.author.name, message.author.email_address) == ("Monitoring", ALERTS)
    assert message.sender.email_address == ALERTS
    assert (message.received_by.email_address, message.received_representing.email_address) == (ALICE, ALICE)
    assert [r.email_address for r in message.to_recipients] == [ALICE]
    assert message.message_id.endswith("@monitoring.example>")
    assert message.text_body.strip() == "98% used"
    assert message.has_attachments
    assert {a.name: a.content for a in message.attachments} == {"df.txt": b"/dev/sda1 98%\n",
                                                                 "raw.bin": b"\x00\xff\x10"}
    assert alice.inbox.filter(datetime_received__lt=LONG_AGO + timedelta(days=1)).count() == 1


def test_a_sender_of_the_tenant_gets_the_directory_name(kit, alice):
    kit.deliver(ALICE, "lunch?", sender="bob@contoso.example", is_read=True)
    message = alice.inbox.get(subject="lunch?")
    assert (message.author.name, message.is_read) == ("Bob Martin", True)
    assert datetime.now(timezone.utc) - message.datetime_received < timedelta(minutes=5)  # default: now


def test_any_folder_by_well_known_name_or_path(kit, alice, connect):
    Folder(parent=alice.inbox, name="Alerts").save()
    answers = [kit.deliver(ALICE, f"to {where}", folder=where)["folder"]
               for where in ("junkemail", "Junk Email", "inbox/alerts", "Inbox/Alerts", "/Sent Items")]
    assert answers == ["Junk Email", "Junk Email", "Inbox/Alerts", "Inbox/Alerts", "Sent Items"]
    assert sorted(m.subject for m in (alice.inbox / "Alerts").all()) == ["to Inbox/Alerts", "to inbox/alerts"]
    assert alice.junk.all().count() == 2
    # erin's mailbox is German: well-known names still work, and so do her own folder names
    erin = connect("erin@contoso.example")
    assert kit.deliver("erin@contoso.example", "Hallo", folder="inbox")["folder"] == "Posteingang"
    assert kit.deliver("erin@contoso.example", "Hallo", folder="Junk-E-Mail")["folder"] == "Junk-E-Mail"
    assert erin.inbox.get(subject="Hallo").is_read is False


def test_raw_mime_with_an_attachment(kit, alice):
    mime = EmailMessage()
    mime["From"] = "Nightly build <ci@builds.example>"
    mime["To"] = "alice@contoso.example"
    mime["Subject"] = "build 1234 failed"
    mime["Date"] = "Tue, 02 Jan 2024 03:04:05 +0000"
    mime["Message-ID"] = "<build-1234@builds.example>"
    mime.set_content("The build failed at step 3.")
    mime.add_attachment(b"step 3: exit 2\n", maintype="text", subtype="plain", filename="build.log")

    answer = kit.deliver(ALICE, mime=mime.as_bytes(), received="2024-01-02T03:10:00Z")
    message = alice.inbox.get(id=answer["item_id"])
    assert (message.subject, message.author.email_address, message.message_id) == \
        ("build 1234 failed", "ci@builds.example", "<build-1234@builds.example>")
    assert message.datetime_sent == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert message.datetime_received == datetime(2024, 1, 2, 3, 10, tzinfo=timezone.utc)
    assert message.text_body.strip() == "The build failed at step 3."
    assert [(a.name, a.content) for a in message.attachments] == [("build.log", b"step 3: exit 2\n")]
    # fields win over the MIME's headers; MIME as text works too
    kit.deliver(ALICE, "renamed", mime=mime.as_string())
    assert alice.inbox.filter(subject="renamed").count() == 1


def test_delivery_into_the_inbox_runs_inbox_rules(kit, alice):
    filed = Folder(parent=alice.inbox, name="Monitoring")
    filed.save()
    Rule(account=alice, display_name="alerts away", priority=1, is_enabled=True,
         conditions=Conditions(from_addresses=[ALERTS]),
         actions=Actions(move_to_folder=MoveToFolder(folder_id=filed.to_id()))).save()

    moved = kit.deliver(ALICE, "cpu high", sender=ALERTS)
    assert moved["folder"] == "Inbox/Monitoring"
    assert [m.subject for m in filed.all()] == ["cpu high"]
    # rules are the Inbox's: a message filed elsewhere stays where it was put
    assert kit.deliver(ALICE, "cpu high again", sender=ALERTS, folder="junkemail")["folder"] == "Junk Email"


def test_delivery_into_the_inbox_sends_the_automatic_reply(kit, alice, connect):
    alice.oof_settings = OofSettings(state=OofSettings.ENABLED, internal_reply="Away: ask Carol.",
                                     external_reply="Away until Monday.")
    kit.deliver(ALICE, "question", sender=BOB)
    kit.deliver(ALICE, "filed question", sender=BOB, folder="junkemail")  # no delivery, no reply
    bob = connect(BOB)
    assert [m.subject for m in bob.inbox.filter(subject__startswith="Automatic reply")] == \
        ["Automatic reply: question"]


def test_subscriptions_and_sync_see_a_delivery(kit, alice):
    list(alice.inbox.sync_items())  # the folder's state before
    with alice.inbox.pull_subscription() as (subscription_id, watermark):
        answer = kit.deliver(ALICE, "new alert", sender=ALERTS, received=timedelta(days=3))
        events = [e for n in alice.inbox.get_events(subscription_id, watermark) for e in n.events]
    assert [e.item_id.id for e in events if isinstance(e, NewMailEvent)] == [answer["item_id"]]
    changes = list(alice.inbox.sync_items())
    assert [(kind, item.id) for kind, item in changes] == [("create", answer["item_id"])]


def test_several_messages_in_one_call(kit, alice):
    answers = kit.deliver_many([{"mailbox": ALICE, "subject": f"alert {n}", "sender": ALERTS,
                                 "received": timedelta(days=700 + n)} for n in range(120)])
    assert len(answers) == 120 and len({a["item_id"] for a in answers}) == 120
    # half a day between the 30th and 31st message: the boundary is not within the second that
    # exchangelib keeps of the cutoff (times travel to the second)
    cutoff = datetime.now(timezone.utc) - timedelta(days=729, hours=12)
    assert alice.inbox.filter(sender=ALERTS, datetime_received__lt=cutoff).count() == 90


@pytest.mark.parametrize("body, status, words", [
    ({"mailbox": "nobody@contoso.example", "subject": "x"}, 404, "no sandbox mailbox"),
    ({"subject": "x"}, 400, "mailbox is required"),
    ({"mailbox": ALICE, "subjet": "x"}, 400, "unknown field(s): subjet"),
    ({"mailbox": ALICE, "received": "2024-01-01T10:00:00"}, 400, "has no zone"),
    ({"mailbox": ALICE, "received": "yesterday"}, 400, "not an ISO 8601"),
    ({"mailbox": ALICE, "received": "1500-01-01T00:00:00Z"}, 400, "outside what Exchange stores"),
    ({"mailbox": ALICE, "folder": "Inbox/Nope"}, 404, "'Inbox' has no folder 'Nope'"),
    ({"mailbox": ALICE, "folder": "Nowhere"}, 404, "no folder 'Nowhere'"),
    ({"mailbox": ALICE, "from": "not an address"}, 400, "holds no email address"),
    ({"mailbox": ALICE, "is_read": "yes"}, 400, "is_read must be true or false"),
    ({"mailbox": ALICE, "mime_base64": "!!!"}, 400, "mime_base64"),
    ({"mailbox": ALICE, "attachments": [{"name": "a.txt"}]}, 400, "content (text) or content_base64"),
    ([], 400, "a list of 1 to"),
])
def test_refusals_name_the_problem_and_change_nothing(kit, alice, body, status, words):
    with pytest.raises(AdminCallError) as refused:
        kit.call("POST", "messages", body)
    assert f": {status} " in str(refused.value) and words in str(refused.value)
    assert alice.inbox.total_count == 0


def test_one_refusal_in_a_list_delivers_none(kit, alice):
    with pytest.raises(AdminCallError, match="message 1: no sandbox mailbox"):
        kit.call("POST", "messages", [{"mailbox": ALICE, "subject": "first"},
                                      {"mailbox": "ghost@contoso.example", "subject": "second"}])
    assert alice.inbox.total_count == 0


def test_a_message_sent_between_users_is_received_by_its_recipient(kit, alice, connect):
    Message(account=connect(BOB), subject="hi", body="hello", to_recipients=[ALICE, "team@contoso.example"]).send()
    message = alice.inbox.get(subject="hi")
    assert (message.received_by.email_address, message.received_representing.email_address) == (ALICE, ALICE)
    assert connect("carol@contoso.example").inbox.get(subject="hi").received_by.email_address == \
        "carol@contoso.example"


def test_the_python_helper_turns_times_and_bytes_into_the_api_fields():
    fields = message_fields(ALICE, "s", sender=ALERTS, received=datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
                            sent="2024-05-01T11:00:00Z", attachments=[("a.bin", b"\x01"), ("b.txt", "text"),
                                                                        {"name": "c.bin", "content": b"\x02"}],
                            mime=b"Subject: x\r\n\r\nbody")
    assert fields == {"mailbox": ALICE, "folder": "inbox", "subject": "s", "from": ALERTS, "is_read": False,
                      "received": "2024-05-01T12:00:00Z", "sent": "2024-05-01T11:00:00Z",
                      "attachments": [{"name": "a.bin", "content_base64": "AQ=="}, {"name": "b.txt", "content": "text"},
                                      {"name": "c.bin", "content_base64": "Ag=="}],
                      "mime_base64": base64.b64encode(b"Subject: x\r\n\r\nbody").decode()}
    ago = datetime.fromisoformat(message_fields(ALICE, received=timedelta(days=10))["received"].replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - timedelta(days=10) - ago) < timedelta(minutes=1)
    with pytest.raises(ValueError, match="aware datetime"):
        message_fields(ALICE, received=datetime(2024, 5, 1))


# ---- what references/testing.md says about seeding ----------------------------------------

def test_testing_md_claims_about_delivery(kit, alice):
    from test_reference_claims import cite
    cite("references/testing.md", "a delivery into the Inbox runs the mailbox's inbox rules and automatic reply and "
                                  "shows up in subscriptions and `sync_items()`")
    cite("references/testing.md", "`deliver_many` sends one request and one transaction: a refused message delivers "
                                  "none.")
    cite("references/testing.md", "`item_id` is `None` when a rule deleted it.")
    # the rules, automatic reply, subscription and sync parts: the tests above; a rule that deletes:
    Rule(account=alice, display_name="drop alerts", priority=1, is_enabled=True,
         conditions=Conditions(from_addresses=[ALERTS]), actions=Actions(delete=True)).save()
    answer = kit.deliver(ALICE, "noise", sender=ALERTS)
    assert (answer["item_id"], answer["folder"]) == (None, None)
    kit.requests.clear()
    with pytest.raises(AdminCallError):
        kit.deliver_many([{"mailbox": ALICE, "subject": "kept?"}, {"mailbox": ALICE, "received": "soon"}])
    assert alice.inbox.filter(subject="kept?").count() == 0
