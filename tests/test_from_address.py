"""From and Sender differ for mail sent on behalf of someone: From is whom the message is
from, Sender the mailbox that sent it. Exchange exposes their SMTP addresses as the MAPI
properties PidTagSentRepresentingSmtpAddress (0x5D02, From's) and PidTagSenderSmtpAddress
(0x5D01, Sender's) (MS-OXOMSG "PidTagSentRepresentingSmtpAddress" and
"PidTagSenderSmtpAddress"); FindItem gives them where it gives only the names.
read_inbox.py's "from" column must be the From address (issue 10, item 5)."""
import json
import os
import sys
from pathlib import Path

import pytest
from exchangelib import ExtendedProperty, Message

from conftest import ALICE, BOB, CAROL, PASSWORD
import warm_start

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


class SentRepresentingSmtpAddress(ExtendedProperty):
    property_tag = 0x5D02
    property_type = "String"


class SenderSmtpAddress(ExtendedProperty):
    property_tag = 0x5D01
    property_type = "String"


@pytest.fixture
def sent_on_behalf(clean, connect):
    """alice, carol's delegate, sends from carol's mailbox to bob: From carol, Sender alice."""
    clean.grant(CAROL, ALICE)
    carols = connect(ALICE, mailbox=CAROL)
    Message(account=carols, subject="For Carol", body="sent on her behalf", to_recipients=[BOB]).send()
    return connect(BOB)


@pytest.fixture
def smtp_properties():
    Message.register("from_smtp", SentRepresentingSmtpAddress)
    Message.register("sender_smtp", SenderSmtpAddress)
    yield
    Message.deregister("from_smtp")
    Message.deregister("sender_smtp")


def test_find_item_gives_from_and_sender_addresses_apart(sent_on_behalf, smtp_properties):
    from exchangelib.fields import FieldPath
    from exchangelib.services import FindItem
    fields = {FieldPath(field=Message.get_field_by_fieldname(name)) for name in ("author", "from_smtp", "sender_smtp")}
    found = list(FindItem(account=sent_on_behalf, page_size=10).call(
        folders=[sent_on_behalf.inbox], additional_fields=fields, restriction=None, order_fields=None,
        shape="IdOnly", query_string=None, depth="Shallow", calendar_view=None, max_items=None, offset=0))
    assert [(m.author.email_address, m.from_smtp, m.sender_smtp) for m in found] == \
        [(None, CAROL, ALICE)]  # FindItem's From carries no address: the properties do


def test_a_draft_has_a_from_only_and_both_properties_fall_back_to_it(clean, connect, smtp_properties):
    alice = connect(ALICE)
    Message(account=alice, folder=alice.drafts, subject="Draft", author=ALICE).save()
    draft = alice.drafts.all().only("from_smtp", "sender_smtp").get(subject="Draft")
    assert (draft.from_smtp, draft.sender_smtp) == (ALICE, ALICE)


def test_read_inbox_shows_the_from_address_not_the_senders(sent_on_behalf, sandbox):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_") and k != "REQUESTS_CA_BUNDLE"}
    env.update(EWS_SANDBOX_URL=sandbox.ews_url, EWS_CA_BUNDLE=sandbox.ca_bundle, EWS_PASSWORD=PASSWORD, EWS_EMAIL=BOB)
    result = warm_start.run([sys.executable, str(SCRIPTS / "read_inbox.py"), "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [(row["subject"], row["from"]) for row in json.loads(result.stdout)] == [("For Carol", CAROL)]
