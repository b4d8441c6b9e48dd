"""Attachments through exchangelib: file and item attachments attached, read back whole
and streamed, detached; carried by sent mail; refused to whoever may not see them."""
import hashlib
import os
from datetime import timedelta

import pytest
from exchangelib import UTC, CalendarItem, Contact, EWSDateTime, FileAttachment, HTMLBody, ItemAttachment, Message
from exchangelib.attachments import AttachmentId
from exchangelib.errors import ErrorAccessDenied, ErrorInvalidAttachmentId, ErrorInvalidIdMalformed, ErrorItemNotFound
from exchangelib.fields import FieldPath
from exchangelib.services import DeleteAttachment, GetAttachment
from exchangelib.version import EXCHANGE_2013

from conftest import ALICE, BOB, CAROL

BINARY = bytes(range(256)) * 16 + b"\x00\xff\r\n\r"  # every byte value, NULs and CRLFs included


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def draft(account, subject="With attachments"):
    message = Message(account=account, folder=account.drafts, subject=subject, body="See attached.",
                      to_recipients=[BOB])
    message.save()
    return message


def fetch_attachment(account, attachment_id):
    """GetAttachment for one id, as exchangelib's own services call it."""
    return GetAttachment(account=account).get(items=[AttachmentId(id=attachment_id)], include_mime_content=False,
                                              body_type=None, filter_html_content=None, additional_fields=None)


def test_file_attachment_round_trip_keeps_bytes_and_properties(alice):
    message = draft(alice)
    key_before = message.changekey
    message.attach(FileAttachment(name="data.bin", content=BINARY, content_type="application/x-test",
                                  content_id="part1@sandbox", is_inline=True))
    assert message.changekey != key_before  # CreateAttachment hands back the parent's new change key
    fresh = alice.drafts.get(id=message.id)
    assert fresh.changekey == message.changekey
    assert fresh.has_attachments is True and fresh.size > len(BINARY)
    [attachment] = fresh.attachments
    assert (attachment.name, attachment.content_type, attachment.content_id, attachment.is_inline) == \
        ("data.bin", "application/x-test", "part1@sandbox", True)
    assert attachment.size == len(BINARY)
    assert attachment.content == BINARY


def test_streamed_reads_return_the_same_bytes(alice):
    message = draft(alice)
    message.attach(FileAttachment(name="data.bin", content=BINARY))
    [attachment] = alice.drafts.get(id=message.id).attachments
    with attachment.fp as fp:
        pieces = iter(lambda: fp.read(7), b"")
        assert b"".join(pieces) == BINARY
    with attachment.fp as fp:
        assert fp.read(10) == BINARY[:10]


def test_attachments_saved_with_a_new_item_and_empty_files(alice):
    message = Message(account=alice, folder=alice.drafts, subject="Born with files", body="x")
    first, empty = FileAttachment(name="a.txt", content=b"alpha"), FileAttachment(name="empty.txt", content=b"")
    message.attach([first, empty])
    message.save()
    # CreateItem's answer gives each attachment its id (exchangelib copies them over;
    # before 2013 it attached after saving instead), so they can be detached at once.
    assert alice.version.build >= EXCHANGE_2013
    assert first.attachment_id.root_id == message.id and empty.attachment_id.id != first.attachment_id.id
    assert fetch_attachment(alice, first.attachment_id.id).content == b"alpha"
    fresh = alice.drafts.get(id=message.id)
    contents = {a.name: a.content for a in fresh.attachments}
    assert contents == {"a.txt": b"alpha", "empty.txt": b""}
    assert {a.content_type for a in fresh.attachments} == {"text/plain"}


def test_item_attachment_round_trip_holds_a_message(alice):
    inner = Message(subject="Forwarded inside", body=HTMLBody("<p>inner <b>body</b></p>"),
                    to_recipients=[CAROL], categories=["Inner"])
    outer = draft(alice)
    outer.attach(ItemAttachment(name="Forwarded inside", item=inner))
    fresh = alice.drafts.get(id=outer.id)
    assert fresh.has_attachments is True
    [attachment] = fresh.attachments
    assert isinstance(attachment, ItemAttachment) and attachment.name == "Forwarded inside"
    attached = attachment.item
    assert isinstance(attached, Message)
    assert attached.id is None  # an attached item is not a mailbox item
    assert attached.subject == "Forwarded inside"
    assert attached.body == "<p>inner <b>body</b></p>" and isinstance(attached.body, HTMLBody)
    assert [r.email_address for r in attached.to_recipients] == [CAROL]
    assert attached.categories == ["Inner"]
    assert b"Subject: Forwarded inside" in attached.mime_content  # exchangelib asks for MIME content


def test_attached_item_bodies_convert_and_filter_as_asked(alice):
    outer = draft(alice)
    attachment = ItemAttachment(name="note", item=Message(
        subject="note", body=HTMLBody('<html><body onload="go()"><p>Hello <b>there</b> Grüße</p>'
                                      '<script>go()</script></body></html>')))
    outer.attach(attachment)
    body_field = [FieldPath(field=Message.get_field_by_fieldname("body"))]

    def body(**shape):
        return GetAttachment(account=alice).get(items=[attachment.attachment_id], include_mime_content=False,
                                                additional_fields=body_field, **shape).item.body

    # HTML asked as text: one line per block, each ended by CRLF, as Exchange converts.
    assert body(body_type="Text", filter_html_content=None) == "Hello there Grüße\r\n"
    # FilterHtmlContent (GetAttachment's AttachmentShape, GetItem's ItemShape): a whole
    # document with its charset declared, without scripts or event handlers.
    filtered = body(body_type="HTML", filter_html_content=True)
    assert filtered.startswith('<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
                               '\r\n</head>')
    assert "<p>Hello <b>there</b> Grüße</p>" in filtered and "script" not in filtered and "onload" not in filtered
    assert body(body_type="HTML", filter_html_content=False).count("<script>") == 1  # unfiltered: as stored


def test_other_item_types_attach_and_unnamed_items_take_their_subject(alice):
    start = EWSDateTime(2026, 3, 2, 9, tzinfo=UTC)
    meeting = CalendarItem(subject="Planning", start=start, end=start + timedelta(hours=1), location="Room 4")
    card = Contact(display_name="Zoe Outside", given_name="Zoe", surname="Outside")
    outer = draft(alice)
    outer.attach([ItemAttachment(item=meeting), ItemAttachment(name="card", item=card)])
    by_name = {a.name: a.item for a in alice.drafts.get(id=outer.id).attachments}
    assert set(by_name) == {"Planning", "card"}
    assert (by_name["Planning"].start, by_name["Planning"].location) == (start, "Room 4")
    assert isinstance(by_name["card"], Contact) and by_name["card"].surname == "Outside"


def test_one_request_for_several_attachments_answers_each(alice):
    message = draft(alice)
    first, second = FileAttachment(name="1.txt", content=b"one"), FileAttachment(name="2.txt", content=b"two")
    message.attach([first, second])
    results = list(GetAttachment(account=alice).call(
        items=[first.attachment_id, AttachmentId(id="AAMk="), second.attachment_id], include_mime_content=False,
        body_type=None, filter_html_content=None, additional_fields=None))
    assert [r.content for r in (results[0], results[2])] == [b"one", b"two"]
    assert isinstance(results[1], ErrorInvalidIdMalformed)


def test_nested_item_attachments_come_back_whole(alice):
    innermost = Message(subject="Level 2", body="deepest")
    innermost.attach(FileAttachment(name="deep.txt", content=b"deep bytes"))
    middle = Message(subject="Level 1", body="middle")
    middle.attach(ItemAttachment(name="Level 2", item=innermost))
    outer = draft(alice)
    outer.attach(ItemAttachment(name="Level 1", item=middle))
    [level1] = alice.drafts.get(id=outer.id).attachments
    [level2] = level1.item.attachments
    assert level2.item.subject == "Level 2"
    [deep] = level2.item.attachments
    assert deep.content == b"deep bytes"


def test_detach_removes_one_and_then_all(alice):
    message = draft(alice)
    first, second = FileAttachment(name="1.txt", content=b"one"), FileAttachment(name="2.txt", content=b"two")
    message.attach([first, second])
    first_id = first.attachment_id.id
    message.detach(first)
    fresh = alice.drafts.get(id=message.id)
    assert [a.name for a in fresh.attachments] == ["2.txt"] and fresh.attachments[0].content == b"two"
    # The item is still there, its attachment is not: ErrorInvalidAttachmentId, as
    # exchangelib's own suite sees Exchange answer (its test_streaming_file_attachment_error).
    with pytest.raises(ErrorInvalidAttachmentId):
        fetch_attachment(alice, first_id)
    with pytest.raises(ErrorInvalidAttachmentId):
        DeleteAttachment(account=alice).get(items=[AttachmentId(id=first_id)])
    with pytest.raises(ErrorInvalidAttachmentId):
        with FileAttachment(parent_item=message, attachment_id=AttachmentId(id=first_id), name="1.txt").fp as fp:
            fp.read()  # the streaming parser reads the same error
    fresh.detach(fresh.attachments)
    emptied = alice.drafts.get(id=message.id)
    assert emptied.has_attachments is False and not emptied.attachments


def test_bad_ids_are_refused_as_exchange_refuses_them(alice):
    message = draft(alice)
    with pytest.raises(ErrorInvalidIdMalformed):
        fetch_attachment(alice, "AAMk=")
    with pytest.raises(ErrorInvalidIdMalformed):  # an item id is not an attachment id
        fetch_attachment(alice, message.id)
    with pytest.raises(ErrorInvalidIdMalformed):
        DeleteAttachment(account=alice).get(items=[AttachmentId(id="not an id")])
    stray = FileAttachment(parent_item=message, attachment_id=AttachmentId(id="AAMk="), name="x", content=b"")
    with pytest.raises(ErrorInvalidIdMalformed):
        with stray.fp as fp:  # the streaming parser, too, reads the error
            fp.read()


def test_deleting_the_item_takes_its_attachments(alice):
    message = draft(alice)
    attachment = FileAttachment(name="gone.txt", content=b"bye")
    message.attach(attachment)
    attachment_id = attachment.attachment_id.id
    message.delete()
    with pytest.raises(ErrorItemNotFound):
        fetch_attachment(alice, attachment_id)


def test_sent_attachments_arrive_with_the_message(alice, connect):
    message = Message(account=alice, folder=alice.sent, subject="Report", body="Figures attached.",
                      to_recipients=[BOB])
    message.attach(FileAttachment(name="figures.csv", content=b"q,amount\n1,10\n"))
    message.attach(ItemAttachment(name="Earlier note", item=Message(subject="Earlier note", body="context")))
    message.send_and_save()
    bob = connect(BOB)
    received = bob.inbox.get(subject="Report")
    assert received.has_attachments is True
    by_name = {a.name: a for a in received.attachments}
    assert by_name["figures.csv"].content == b"q,amount\n1,10\n"
    assert by_name["Earlier note"].item.body == "context"
    kept = alice.sent.get(subject="Report")
    assert sorted(a.name for a in kept.attachments) == ["Earlier note", "figures.csv"]


def test_forward_carries_the_attachments(alice, connect):
    message = draft(alice, subject="To forward")
    message.attach(FileAttachment(name="plan.txt", content=b"the plan"))
    message.send()
    bob = connect(BOB)
    bob.inbox.get(subject="To forward").forward(subject="FW: To forward", body="fyi", to_recipients=[CAROL])
    forwarded = connect(CAROL).inbox.get(subject="FW: To forward")
    assert [a.content for a in forwarded.attachments] == [b"the plan"]


def test_other_users_attachments_are_refused_until_delegated(alice, connect, clean):
    message = draft(alice)
    attachment = FileAttachment(name="private.txt", content=b"secret")
    message.attach(attachment)
    attachment_id = attachment.attachment_id.id
    bob = connect(BOB)
    with pytest.raises(ErrorAccessDenied):
        fetch_attachment(bob, attachment_id)
    with pytest.raises(ErrorAccessDenied):
        DeleteAttachment(account=bob).get(items=[AttachmentId(id=attachment_id)])
    with pytest.raises(ErrorAccessDenied):
        message_seen_by_bob = Message(account=bob, id=message.id, changekey=message.changekey)
        message_seen_by_bob.attach(FileAttachment(name="intruder.txt", content=b"x"))
    assert [a.name for a in alice.drafts.get(id=message.id).attachments] == ["private.txt"]
    clean.grant(ALICE, BOB)
    assert fetch_attachment(bob, attachment_id).content == b"secret"


@pytest.fixture
def schema_check_small_answers_only(sandbox, monkeypatch):
    """The schema check parses answers without lxml's huge_tree and would take long on
    tens of megabytes of base64: here it sees the answers under a megabyte."""
    check = sandbox.response_hook
    if check is not None:
        monkeypatch.setattr(sandbox, "response_hook", lambda payload: len(payload) < 2**20 and check(payload))


@pytest.mark.slow
def test_25_megabyte_attachment_round_trip(alice, schema_check_small_answers_only):
    content = os.urandom(25 * 1024 * 1024)
    message = draft(alice, subject="Large")
    message.attach(FileAttachment(name="large.bin", content=content))
    # Only the attachment list: a full fetch also asks for MimeContent, the whole message
    # with the file encoded twice, on Exchange as here.
    [attachment] = alice.drafts.all().only("attachments").get(id=message.id).attachments
    assert attachment.size == len(content)
    digest, received = hashlib.sha256(), 0
    with attachment.fp as fp:
        for piece in iter(lambda: fp.read(1024 * 1024), b""):
            digest.update(piece)
            received += len(piece)
    assert received == len(content) and digest.digest() == hashlib.sha256(content).digest()
