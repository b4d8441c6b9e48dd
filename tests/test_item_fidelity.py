"""Items as Exchange keeps them, through exchangelib and raw SOAP: export and upload,
MIME that keeps its identifier headers, what delivery leaves behind, the limits of a
subject, FindItem's summary of long properties, and change keys that are not even that."""
import base64

import pytest
import requests
from exchangelib import Message
from exchangelib.errors import ErrorCorruptData, ErrorInvalidChangeKey, ErrorItemNotFound
from exchangelib.items import Item
from lxml import etree

from conftest import ALICE, BOB, PASSWORD


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def post(sandbox, body):
    envelope = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
                f'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>{body}</s:Body>'
                '</s:Envelope>')
    answer = requests.post(sandbox.ews_url, data=envelope.encode(), auth=(ALICE, PASSWORD), verify=sandbox.ca_bundle)
    return etree.fromstring(answer.content)


# ---- ExportItems and UploadItems ("ExportItems operation", "Item (UploadItemType)") ------------

def test_export_then_upload_as_new_items_keeps_properties_times_and_attachments(alice):
    from exchangelib import FileAttachment
    original = Message(account=alice, folder=alice.inbox, subject="Backed up", body="keep me", categories=["Keep"],
                       importance="High")
    original.attach(FileAttachment(name="a.txt", content=b"attached bytes"))
    original.save()
    original = alice.inbox.get(id=original.id)
    [data] = alice.export([original])
    assert isinstance(data, str) and base64.b64decode(data)  # opaque, base64
    [(new_id, new_key)] = alice.upload([(alice.drafts, data)])
    assert new_id != original.id
    copy = alice.drafts.get(id=new_id)
    assert (copy.subject, copy.body, copy.categories, copy.importance) == ("Backed up", "keep me", ["Keep"], "High")
    assert copy.datetime_received == original.datetime_received
    assert [(a.name, a.content) for a in copy.attachments] == [("a.txt", b"attached bytes")]
    assert alice.inbox.get(id=original.id).subject == "Backed up"  # export leaves the original alone


def test_upload_update_overwrites_in_place_and_update_or_create_creates_when_missing(alice):
    first = Message(account=alice, folder=alice.inbox, subject="First").save()
    second = Message(account=alice, folder=alice.inbox, subject="Second").save()
    [data] = alice.export([first])
    [(same_id, new_key)] = alice.upload([(alice.inbox, ((second.id, second.changekey), False, data))])
    assert same_id == second.id and new_key != second.changekey
    assert alice.inbox.get(id=second.id).subject == "First"
    # Update names an item that is not in ParentFolderId: ErrorItemNotFound, as the reference says
    [result] = alice.upload([(alice.drafts, ((second.id, None), False, data))])
    assert isinstance(result, ErrorItemNotFound)


def test_upload_actions_on_the_wire(alice, sandbox):
    item = Message(account=alice, folder=alice.inbox, subject="Wire").save()
    answer = post(sandbox, f'<m:ExportItems><m:ItemIds><t:ItemId Id="{item.id}"/></m:ItemIds></m:ExportItems>')
    data = answer.findtext(".//{*}ExportItemsResponseMessage/{*}Data")
    assert answer.find(".//{*}ExportItemsResponseMessage/{*}ItemId").get("Id") == item.id
    inbox_id = alice.inbox.id
    upload = ('<m:UploadItems><m:Items>'
              f'<t:Item CreateAction="UpdateOrCreate"><t:ParentFolderId Id="{inbox_id}"/>'
              f'<t:ItemId Id="{item.id}"/><t:Data>{data}</t:Data></t:Item>'
              f'<t:Item CreateAction="UpdateOrCreate"><t:ParentFolderId Id="{alice.drafts.id}"/>'
              f'<t:ItemId Id="{item.id}"/><t:Data>{data}</t:Data></t:Item>'
              f'<t:Item CreateAction="CreateNew"><t:ParentFolderId Id="{inbox_id}"/>'
              f'<t:ItemId Id="{item.id}"/><t:Data>{data}</t:Data></t:Item>'
              f'<t:Item CreateAction="CreateNew"><t:ParentFolderId Id="{inbox_id}"/><t:Data>bm90IGFuIGl0ZW0=</t:Data>'
              '</t:Item></m:Items></m:UploadItems>')
    messages = post(sandbox, upload).findall(".//{*}UploadItemsResponseMessage")
    codes = [m.findtext("{*}ResponseCode") for m in messages]
    assert codes == ["NoError", "NoError", "ErrorInvalidRequest", "ErrorCorruptData"]
    assert messages[0].find("{*}ItemId").get("Id") == item.id      # updated in place
    assert messages[1].find("{*}ItemId").get("Id") != item.id      # not in Drafts: created there
    assert alice.drafts.filter(subject="Wire").count() == 1


def test_export_of_a_missing_item_fails_that_item_only(alice):
    items = [Item(account=alice, folder=alice.inbox, subject=f"E{i}").save() for i in range(3)]
    ids = [(i.id, i.changekey) for i in items]
    items[1].delete()
    results = alice.export(ids)
    assert isinstance(results[1], ErrorItemNotFound) and all(isinstance(r, str) for r in (results[0], results[2]))
    assert isinstance(alice.upload([(alice.inbox, "AAAA")])[0], ErrorCorruptData)


# ---- IsUnmodified (mfUnmodified): kept by the store, not derived from times -----------------
# [MS-OXCMSG] 2.2.1.6: mfUnmodified says the message "has not been modified since it was first
# saved (if unsent) or it was delivered (if sent)"; the server keeps it. The clock is frozen,
# so creation and every change fall in the same second: times cannot tell them apart.

@pytest.fixture
def frozen_clock(monkeypatch):
    from ews_sandbox.model import attachments, calendar, items
    for module in (items, calendar, attachments):
        monkeypatch.setattr(module, "now_text", lambda: "2026-12-01T09:00:00Z")


def test_is_unmodified_is_cleared_by_a_change_in_the_second_of_creation(alice, frozen_clock):
    from exchangelib import FileAttachment
    untouched, updated, flagged, attached, moved = (
        Message(account=alice, folder=alice.inbox, subject=f"U{i}").save() for i in range(5))
    updated.subject = "changed"
    updated.save(update_fields=["subject"])
    flagged.is_read = True  # a flag alone is a change too
    flagged.save(update_fields=["is_read"])
    attached.attach(FileAttachment(name="later.txt", content=b"x"))  # CreateAttachment after creation
    moved.move(alice.junk)
    # a message saved with its attachment in one CreateItem was never changed
    born_with = Message(account=alice, folder=alice.inbox, subject="born with")
    born_with.attach(FileAttachment(name="a.txt", content=b"a"))
    born_with.save()
    read = {i.subject: (i.is_unmodified, i.datetime_created == i.last_modified_time)
            for i in alice.fetch([untouched, updated, flagged, attached, born_with])}
    assert read == {"U0": (True, True), "changed": (False, True), "U2": (False, True), "U3": (False, True),
                    "born with": (True, True)}
    assert alice.junk.get(subject="U4").is_unmodified is True  # a move changes no property
    # PidTagMessageFlags carries the same bit (0x2), and restrictions read it
    assert alice.inbox.filter(is_unmodified=False).count() == 3


def test_export_and_upload_keep_is_unmodified(alice, frozen_clock):
    changed = Message(account=alice, folder=alice.inbox, subject="changed").save()
    changed.subject = "changed twice"
    changed.save(update_fields=["subject"])
    untouched = Message(account=alice, folder=alice.inbox, subject="untouched").save()
    exported = alice.export([changed, untouched])
    uploaded = alice.upload([(alice.drafts, data) for data in exported])
    copies = {c.subject: c.is_unmodified for c in alice.fetch(uploaded)}
    assert copies == {"changed twice": False, "untouched": True}
    # an upload over an existing item (Update) gives it the exported flag too
    [(same_id, _)] = alice.upload([(alice.inbox, ((untouched.id, untouched.changekey), False, exported[0]))])
    assert alice.inbox.get(id=same_id).is_unmodified is False


# ---- MIME identifier headers (issue 16, item 1) -----------------------------------------------

IDS = [
    "<1.2026-11-28T21:05:45Z@seed.contoso.example>",              # colons: Python's parser cut at the first one
    "<" + "x" * 180 + ".a:b:c@long.contoso.example>",              # longer than a folded header line
    "<räksmörgås.42@exämple.contoso.example>",                      # a non-ASCII domain (RFC 6532)
]


@pytest.mark.parametrize("message_id", IDS, ids=["colon", "long", "non-ascii"])
def test_message_ids_survive_mime_in_both_directions(alice, message_id):
    raw = (f"From: Bob <{BOB}>\r\nTo: {ALICE}\r\nSubject: Ids\r\nMessage-ID: {message_id}\r\n"
           f"In-Reply-To: {message_id}\r\nReferences: <first:1@contoso.example>\r\n {message_id}\r\n"
           "Date: Sat, 28 Nov 2026 21:05:45 +0000\r\n\r\nbody\r\n").encode()
    item = Message(account=alice, folder=alice.inbox, mime_content=raw).save()
    stored = alice.inbox.get(id=item.id)
    assert stored.message_id == message_id and stored.in_reply_to == message_id
    assert stored.references == f"<first:1@contoso.example> {message_id}"  # unfolded, as Exchange reads it
    headers = stored.mime_content.split(b"\r\n\r\n")[0].decode()
    assert f"Message-ID: {message_id}\r\n" in headers + "\r\n"
    assert alice.inbox.filter(message_id=message_id).count() == 1  # de-duplication by Message-ID works


def test_setting_mime_content_on_update_rewrites_the_properties(alice):
    item = Message(account=alice, folder=alice.drafts, subject="Before", body="old").save()
    item.mime_content = b"Subject: After\r\nMessage-ID: <new:1@contoso.example>\r\n\r\nnew body\r\n"
    item.save(update_fields=["mime_content"])
    fresh = alice.drafts.get(id=item.id)
    assert (fresh.subject, fresh.body.strip(), fresh.message_id) == ("After", "new body", "<new:1@contoso.example>")


# ---- delivery, limits, FindItem, change keys ---------------------------------------------------

def test_recipients_do_not_get_the_senders_categories_flags_or_reminders(alice, connect):
    Message(account=alice, subject="Tagged", body="x", to_recipients=[BOB], categories=["Secret project"],
            reminder_is_set=True).send_and_save()
    received = connect(BOB).inbox.get(subject="Tagged")
    assert (received.categories, received.reminder_is_set) == (None, False)
    assert alice.sent.get(subject="Tagged").categories == ["Secret project"]  # the sender keeps them


def test_a_subject_keeps_255_characters_and_find_item_cuts_long_strings(alice, sandbox):
    # exchangelib refuses a subject over 255 characters itself: the raw request shows what Exchange keeps
    created = post(sandbox, '<m:CreateItem MessageDisposition="SaveOnly"><m:SavedItemFolderId>'
                   '<t:DistinguishedFolderId Id="inbox"/></m:SavedItemFolderId><m:Items><t:Message>'
                   f'<t:Subject>{"s" * 300}</t:Subject><t:Body BodyType="Text">{"b" * 1000}</t:Body>'
                   f'<t:InReplyTo>{"r" * 400}</t:InReplyTo></t:Message></m:Items></m:CreateItem>')
    item = alice.inbox.get(id=created.find(".//{*}ItemId").get("Id"))
    assert (len(item.subject), len(item.in_reply_to)) == (255, 400)
    shape = ('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
             '<t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="item:Body"/>'
             '<t:FieldURI FieldURI="item:InReplyTo"/></t:AdditionalProperties>'
             '</m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>')
    found = post(sandbox, shape).find(".//{*}Items/{*}Message")
    assert found.find("{*}Body") is None  # item:Body is accepted by FindItem and left out of its summary
    assert len(found.findtext("{*}InReplyTo")) == 255  # "the first 255 characters" of a long string
    text_body = shape.replace("item:Body", "item:TextBody")
    assert post(sandbox, text_body).findtext(".//{*}ResponseCode") == "ErrorInvalidPropertyForOperation"


def test_a_malformed_change_key_is_invalid_whatever_the_operation(alice):
    items = [Message(account=alice, folder=alice.inbox, subject=f"K{i}").save() for i in range(3)]
    items[1].changekey = "XXX"
    results = alice.bulk_delete(items)
    assert results[0] is True and results[2] is True and isinstance(results[1], ErrorInvalidChangeKey)


def test_a_body_element_outside_ews_is_an_invalid_request(sandbox):
    fault = post(sandbox, "<XXX/>")
    assert fault.findtext(".//faultcode") == "a:ErrorInvalidRequest"
