"""Out-of-office through exchangelib: the settings round-trip, and the automatic reply is sent
once per sender while it is on (Enabled, or Scheduled inside its window), with the internal
or external text, and to outside senders only as ExternalAudience allows (Microsoft's pages
"SetUserOofSettings operation", "ExternalAudience" and "OofState")."""
import datetime
import zoneinfo

import pytest
from exchangelib import EWSDateTime, Message, OofSettings
from exchangelib.errors import ErrorAccessDenied, ErrorInvalidScheduledOofDuration
from exchangelib.services import SetUserOofSettings
from exchangelib.properties import Mailbox

from conftest import ALICE, BOB, CAROL

UTC = zoneinfo.ZoneInfo("UTC")
OUTSIDER = "frank@fabrikam.example"  # another organization's mailbox in the sandbox


@pytest.fixture
def accounts(clean, connect):
    clean.call("POST", "users", {"email": OUTSIDER, "name": "Frank Outside", "password": "demo-password"})
    return {address: connect(address, password="demo-password") for address in (ALICE, BOB, CAROL, OUTSIDER)}


class Unchecked(OofSettings):
    def clean(self, version=None):
        pass


def away(**values):
    values.setdefault("internal_reply", "Away: ask Carol.")
    values.setdefault("external_reply", "Away until Monday.")
    return OofSettings(**values)


def send(account, to, subject="hello"):
    Message(account=account, subject=subject, body="text", to_recipients=[to]).send()


def replies(account):
    return [(m.subject, m.text_body.strip() if m.text_body else m.body)
            for m in account.inbox.filter(subject__startswith="Automatic reply").order_by("datetime_received")]


def test_settings_round_trip(accounts):
    alice = accounts[ALICE]
    settings = away(state=OofSettings.ENABLED, external_audience="Known")
    alice.oof_settings = settings
    got = alice.oof_settings
    assert (got.state, got.external_audience, got.internal_reply, got.external_reply) == \
        ("Enabled", "Known", "Away: ask Carol.", "Away until Monday.")
    start = datetime.datetime(2100, 1, 1, 8, tzinfo=UTC)
    alice.oof_settings = away(state=OofSettings.SCHEDULED, start=start, end=start + datetime.timedelta(days=2))
    got = alice.oof_settings
    assert (got.state, got.start, got.end) == ("Scheduled", start, start + datetime.timedelta(days=2))
    alice.oof_settings = OofSettings(state=OofSettings.DISABLED)
    assert alice.oof_settings.state == "Disabled"


def test_window_that_ends_before_it_starts_is_refused(accounts):
    alice = accounts[ALICE]
    # exchangelib checks the order itself: a subclass without that check sends it as given.
    later, earlier = (EWSDateTime.from_datetime(datetime.datetime(2100, 1, day, tzinfo=UTC)) for day in (3, 2))
    settings = Unchecked(state=OofSettings.SCHEDULED, start=later, end=earlier, internal_reply="a",
                         external_reply="b", external_audience="All")
    with pytest.raises(ErrorInvalidScheduledOofDuration):
        SetUserOofSettings(account=alice).get(oof_settings=settings, mailbox=Mailbox(email_address=ALICE))
    assert alice.oof_settings.state == "Disabled"


def test_internal_senders_get_one_reply_each(accounts):
    alice, bob, carol = accounts[ALICE], accounts[BOB], accounts[CAROL]
    alice.oof_settings = away(state=OofSettings.ENABLED, external_audience="None")
    send(bob, ALICE, "first")
    send(bob, ALICE, "second")
    send(carol, ALICE, "third")
    assert replies(bob) == [("Automatic reply: first", "Away: ask Carol.")]
    assert replies(carol) == [("Automatic reply: third", "Away: ask Carol.")]
    # Setting it again starts afresh: Bob is answered once more.
    alice.oof_settings = away(state=OofSettings.ENABLED, external_audience="None")
    send(bob, ALICE, "fourth")
    assert [subject for subject, _ in replies(bob)] == ["Automatic reply: first", "Automatic reply: fourth"]


def test_no_reply_outside_the_window_or_when_disabled(accounts):
    alice, bob = accounts[ALICE], accounts[BOB]
    later = datetime.datetime.now(UTC) + datetime.timedelta(days=3)
    alice.oof_settings = away(state=OofSettings.SCHEDULED, start=later, end=later + datetime.timedelta(days=2))
    send(bob, ALICE, "before the window")
    alice.oof_settings = OofSettings(state=OofSettings.DISABLED)
    send(bob, ALICE, "disabled")
    assert replies(bob) == []
    now = datetime.datetime.now(UTC)
    alice.oof_settings = away(state=OofSettings.SCHEDULED, start=now - datetime.timedelta(hours=1),
                              end=now + datetime.timedelta(hours=1))
    send(bob, ALICE, "inside")
    assert [subject for subject, _ in replies(bob)] == ["Automatic reply: inside"]


@pytest.mark.parametrize("audience, known, answered", [("None", True, False), ("Known", False, False),
                                                       ("Known", True, True), ("All", False, True)])
def test_external_audience(accounts, audience, known, answered):
    alice, frank = accounts[ALICE], accounts[OUTSIDER]
    if known:
        from exchangelib import Contact
        from exchangelib.indexed_properties import EmailAddress
        Contact(account=alice, folder=alice.contacts, given_name="Frank", display_name="Frank Outside",
                email_addresses=[EmailAddress(email=OUTSIDER, label="EmailAddress1")]).save()
    alice.oof_settings = away(state=OofSettings.ENABLED, external_audience=audience)
    send(frank, ALICE)
    assert replies(frank) == ([("Automatic reply: hello", "Away until Monday.")] if answered else [])


def test_two_mailboxes_away_do_not_answer_each_other(accounts):
    alice, bob = accounts[ALICE], accounts[BOB]
    alice.oof_settings = away(state=OofSettings.ENABLED)
    bob.oof_settings = away(state=OofSettings.ENABLED)
    send(bob, ALICE)
    assert len(replies(bob)) == 1
    assert replies(alice) == []  # Bob's mailbox does not answer Alice's automatic reply


def test_another_mailbox_needs_access(accounts, connect):
    with pytest.raises(ErrorAccessDenied):
        connect(ALICE, password="demo-password", mailbox=BOB).oof_settings
