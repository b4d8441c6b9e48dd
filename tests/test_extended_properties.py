"""Extended properties through exchangelib as its own suite uses them: registered
properties saved whole (every field, MIME content included) after a fetch; tags written
as text or number; named properties addressed by a distinguished set or by its GUID."""
import pytest
from exchangelib import ExtendedProperty, Message

from conftest import ALICE


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def registered(**classes):
    """Register ExtendedProperty subclasses on Message for one test; returns their names."""
    for name, cls in classes.items():
        Message.register(name, cls)
    return list(classes)


def test_full_save_of_a_fetched_message_sends_its_mime_back_and_keeps_the_fields(alice):
    class Meeting(ExtendedProperty):
        distinguished_property_set_id = "Meeting"
        property_id = 3
        property_type = "Binary"

    names = registered(meeting_blob=Meeting)
    try:
        item = Message(account=alice, folder=alice.inbox, subject="Full save", body="before", meeting_blob=b"\x00\x01")
        item.save()
        fetched = alice.inbox.get(id=item.id)
        assert fetched.mime_content and fetched.is_draft  # so save() sends item:MimeContent back
        fetched.subject, fetched.meeting_blob = "After full save", b"\x02\x03"
        fetched.save()  # every field: UpdateItem with SetItemField item:MimeContent first
        again = alice.inbox.get(id=item.id)
        # the fields that follow MimeContent in the same request win over what it carries
        assert (again.subject, again.body, again.meeting_blob) == ("After full save", "before", b"\x02\x03")
    finally:
        for name in names:
            Message.deregister(name)


def test_a_tag_as_text_or_number_and_a_set_by_name_or_guid_are_one_property(alice):
    class FlagByText(ExtendedProperty):
        property_tag = "0x1090"  # PidTagFlagStatus, written as a string
        property_type = "Integer"

    class FlagByNumber(ExtendedProperty):
        property_tag = 0x1090
        property_type = "Integer"

    class ByDistinguishedSet(ExtendedProperty):
        distinguished_property_set_id = "Address"
        property_id = 32852
        property_type = "BinaryArray"

    class ByGuid(ExtendedProperty):  # PSETID_Address, as [MS-OXPROPS] lists it
        property_set_id = "00062004-0000-0000-C000-000000000046"
        property_id = 32852
        property_type = "BinaryArray"

    names = registered(flag_text=FlagByText, blobs_by_name=ByDistinguishedSet)
    try:
        item = Message(account=alice, folder=alice.inbox, subject="Same property", flag_text=2,
                       blobs_by_name=[b"a", b"\xff"])
        item.save()
    finally:
        for name in names:
            Message.deregister(name)
    names = registered(flag_number=FlagByNumber, blobs_by_guid=ByGuid)
    try:
        fetched = alice.inbox.get(id=item.id)
        assert (fetched.flag_number, fetched.blobs_by_guid) == (2, [b"a", b"\xff"])
        assert [m.subject for m in alice.inbox.filter(flag_number=2)] == ["Same property"]
    finally:
        for name in names:
            Message.deregister(name)
