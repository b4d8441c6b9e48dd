"""MAPI properties that are fields: a field and the tagged property behind it are one
property, as in Exchange's store. Written by tag on CreateItem or UpdateItem, the tag
changes the field (and what filters and sorting see); read by tag, it gives the field.

Tags and types as Microsoft's [MS-OXPROPS] defines them (PidTagMessageFlags and its bits:
[MS-OXCMSG] 2.2.1.6; importing items with PidTagMessageFlags: "Exporting and importing
items by using EWS in Exchange").
"""
from datetime import timedelta

import pytest
import requests
from exchangelib import UTC, EWSDateTime, ExtendedProperty, FileAttachment, Message
from exchangelib.properties import Mailbox

from conftest import ALICE, BOB, PASSWORD

MSGFLAG_READ, MSGFLAG_UNMODIFIED, MSGFLAG_UNSENT, MSGFLAG_HASATTACH = 0x1, 0x2, 0x8, 0x10
RECEIVED_2020 = EWSDateTime(2020, 3, 4, 5, 6, 7, tzinfo=UTC)
SENT_2020 = RECEIVED_2020 - timedelta(minutes=3)


def tag(property_tag, property_type):
    return type(f"Tag{property_tag:04X}", (ExtendedProperty,),
                {"property_tag": property_tag, "property_type": property_type})


TAGS = {
    "message_flags": tag(0x0E07, "Integer"),               # PidTagMessageFlags
    "delivery_time": tag(0x0E06, "SystemTime"),            # PidTagMessageDeliveryTime
    "submit_time": tag(0x0039, "SystemTime"),              # PidTagClientSubmitTime
    "subject_tag": tag(0x0037, "String"),                  # PidTagSubject
    "importance_tag": tag(0x0017, "Integer"),              # PidTagImportance
    "sensitivity_tag": tag(0x0036, "Integer"),             # PidTagSensitivity
    "message_size": tag(0x0E08, "Integer"),                # PidTagMessageSize
    "has_attach_tag": tag(0x0E1B, "Boolean"),              # PidTagHasAttachments
    "sender_smtp": tag(0x5D01, "String"),                  # PidTagSenderSmtpAddress
    "sender_name_tag": tag(0x0C1A, "String"),              # PidTagSenderName
    "from_smtp": tag(0x5D02, "String"),                    # PidTagSentRepresentingSmtpAddress
    "message_class": tag(0x001A, "String"),                # PidTagMessageClass
    "keywords": type("Keywords", (ExtendedProperty,), {    # PidNameKeywords: the categories
        "distinguished_property_set_id": "PublicStrings", "property_name": "Keywords",
        "property_type": "StringArray"}),
}


@pytest.fixture
def alice(clean, connect):
    for name, cls in TAGS.items():
        Message.register(name, cls)
    yield connect(ALICE)
    for name in TAGS:
        Message.deregister(name)


def imported(account, **fields):
    """A message saved (CreateItem SaveOnly) into the Inbox, as an import does."""
    fields = {"subject": "Old mail", "body": "from the archive", "to_recipients": [ALICE], **fields}
    message = Message(account=account, folder=account.inbox, **fields)
    message.save()
    return account.inbox.get(id=message.id)


def test_importing_old_mail_by_flags_and_delivery_time(alice):
    old = imported(alice, is_read=True, message_flags=MSGFLAG_READ, delivery_time=RECEIVED_2020,
                   submit_time=SENT_2020)
    assert (old.is_read, old.is_draft) == (True, False)
    assert (old.datetime_received, old.datetime_sent) == (RECEIVED_2020, SENT_2020)
    # One property: read back by tag it is the field, not a second copy of what was sent.
    assert (old.delivery_time, old.submit_time) == (RECEIVED_2020, SENT_2020)
    assert old.message_flags & (MSGFLAG_READ | MSGFLAG_UNSENT) == MSGFLAG_READ
    # The query columns follow: filters and sorting see 2020, not the time of the import.
    fresh = imported(alice, subject="New mail")
    assert fresh.is_draft is True  # without flags, a saved message is a draft
    assert [m.subject for m in alice.inbox.filter(datetime_received__lt=EWSDateTime(2021, 1, 1, tzinfo=UTC))] \
        == ["Old mail"]
    assert [m.subject for m in alice.inbox.all().order_by("datetime_received")] == ["Old mail", "New mail"]
    assert [m.subject for m in alice.inbox.filter(is_read=False)] == ["New mail"]


def test_message_flags_over_raw_soap_make_a_read_received_message(alice, sandbox):
    # No IsRead in the request: PidTagMessageFlags alone decides, as the import guide has it.
    create = """<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>
<m:CreateItem MessageDisposition="SaveOnly">
<m:SavedItemFolderId><t:DistinguishedFolderId Id="inbox"/></m:SavedItemFolderId>
<m:Items><t:Message><t:Subject>Raw import</t:Subject>
<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x0E07" PropertyType="Integer"/>
  <t:Value>1</t:Value></t:ExtendedProperty>
<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="3590" PropertyType="SystemTime"/>
  <t:Value>2020-03-04T05:06:07Z</t:Value></t:ExtendedProperty>
</t:Message></m:Items></m:CreateItem></s:Body></s:Envelope>"""
    answer = requests.post(sandbox.ews_url, data=create, auth=(ALICE, PASSWORD), verify=sandbox.ca_bundle)
    assert b"NoError" in answer.content
    item = alice.inbox.get(subject="Raw import")
    assert (item.is_read, item.is_draft, item.datetime_received) == (True, False, RECEIVED_2020)


def test_fields_given_after_a_tag_win(alice):
    # exchangelib writes registered extended properties before IsRead, which it always
    # sends (False unless set): the later IsRead decides the read state, mfUnsent still counts.
    unread = imported(alice, message_flags=MSGFLAG_READ)
    assert (unread.is_read, unread.is_draft) == (False, False)
    draft = imported(alice, is_read=True, message_flags=MSGFLAG_UNSENT)
    assert (draft.is_read, draft.is_draft) == (True, True)


def test_fields_read_as_their_tags(alice, connect):
    Message(account=connect(BOB), subject="Quarterly", body="numbers", to_recipients=[ALICE],
            importance="High", sensitivity="Private").send()
    item = alice.inbox.get(subject="Quarterly")
    assert (item.subject_tag, item.importance_tag, item.sensitivity_tag) == ("Quarterly", 2, 2)
    assert (item.sender_smtp, item.sender_name_tag, item.from_smtp) == (BOB, "Bob Martin", BOB)
    assert item.message_size == item.size and item.message_class == "IPM.Note"
    assert item.keywords is None  # delivery leaves the sender's categories behind
    assert item.delivery_time == item.datetime_received and item.submit_time == item.datetime_sent
    assert item.message_flags & (MSGFLAG_READ | MSGFLAG_UNSENT | MSGFLAG_HASATTACH) == 0  # delivered, unread
    assert item.has_attach_tag is False
    item.is_read, item.categories = True, ["Finance", "Q3"]
    item.save(update_fields=["is_read", "categories"])
    item.attach(FileAttachment(name="q3.csv", content=b"q,3"))
    again = alice.inbox.get(id=item.id)
    assert again.message_flags & (MSGFLAG_READ | MSGFLAG_HASATTACH) == MSGFLAG_READ | MSGFLAG_HASATTACH
    assert again.has_attach_tag is True and again.message_size == again.size
    assert again.keywords == ["Finance", "Q3"]
    # and what a filter or a sort on the tag sees is the field
    assert [m.subject for m in alice.inbox.filter(importance_tag=2)] == ["Quarterly"]
    assert [m.subject for m in alice.inbox.filter(sender_smtp=BOB)] == ["Quarterly"]
    draft = Message(account=alice, folder=alice.drafts, subject="Unsent")
    draft.save()
    assert alice.drafts.get(id=draft.id).message_flags & MSGFLAG_UNSENT


def test_tags_written_on_update_change_the_fields(alice):
    item = imported(alice, is_read=True, message_flags=MSGFLAG_READ)
    item.subject_tag, item.importance_tag, item.keywords = "Renamed", 0, ["Archive"]
    item.sender_smtp, item.from_smtp = "old.sender@example.org", "old.author@example.org"
    item.save(update_fields=["subject_tag", "importance_tag", "keywords", "sender_smtp", "from_smtp"])
    fetched = alice.inbox.get(id=item.id)
    assert (fetched.subject, fetched.importance, fetched.categories) == ("Renamed", "Low", ["Archive"])
    assert fetched.sender.email_address == "old.sender@example.org"
    assert fetched.author.email_address == "old.author@example.org"
    assert [m.subject for m in alice.inbox.filter(subject="Renamed", categories__contains=["Archive"])] == ["Renamed"]
    assert [m.subject for m in alice.inbox.all().order_by("importance")] == ["Renamed"]
    # the field written afterwards changes what the tag reads
    fetched.subject = "Renamed again"
    fetched.save(update_fields=["subject"])
    assert alice.inbox.get(id=item.id).subject_tag == "Renamed again"


def test_store_computed_tags_and_flags_after_the_first_save_are_not_the_clients(alice):
    item = imported(alice, is_read=True, message_flags=MSGFLAG_READ)
    size = item.size
    item.message_size, item.message_flags, item.has_attach_tag = 1, MSGFLAG_UNSENT, True
    item.save(update_fields=["message_size", "message_flags", "has_attach_tag"])
    fetched = alice.inbox.get(id=item.id)
    # [MS-OXCMSG] 2.2.1.6: mfUnsent is read-only once saved; size and attachment flag are the store's
    assert (fetched.is_draft, fetched.is_read, fetched.has_attachments) == (False, True, False)
    assert fetched.message_size == fetched.size and abs(fetched.size - size) < 200
    assert fetched.message_flags & MSGFLAG_UNSENT == 0


def test_sender_tags_set_on_create_make_the_sender(alice):
    item = imported(alice, sender_smtp="archive@example.org", sender_name_tag="The Archive")
    assert (item.sender.email_address, item.sender.name) == ("archive@example.org", "The Archive")
    assert isinstance(item.sender, Mailbox)
