"""Delegates: AddDelegate, UpdateDelegate and RemoveDelegate (raw SOAP: exchangelib 5.6 has
only GetDelegate) and account.delegates; a delegate's rights are folder permissions on the
owner's default folders, and the sandbox's access checks follow them (Microsoft's pages
"AddDelegate operation", "DelegatePermissions" and "GetDelegate operation")."""
import datetime

import pytest
import requests
from exchangelib import DELEGATE, Account, CalendarItem, Configuration, Credentials, EWSDateTime, Message
from exchangelib.errors import ErrorAccessDenied, ErrorDelegateNoUser, ErrorInvalidUserSid, ErrorNotDelegate
from exchangelib.folders import Calendar, Contacts, Inbox, Root
from exchangelib.properties import UserId
from exchangelib.services import GetDelegate
from lxml import etree

from conftest import ALICE, BOB, CAROL, PASSWORD

NS = {"m": "http://schemas.microsoft.com/exchange/services/2006/messages",
      "t": "http://schemas.microsoft.com/exchange/services/2006/types"}
ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
  <s:Body>{}</s:Body>
</s:Envelope>"""


def delegate_user(address, view_private=None, **levels):
    permissions = "".join(f"<t:{folder}FolderPermissionLevel>{level}</t:{folder}FolderPermissionLevel>"
                          for folder, level in levels.items())
    private = "" if view_private is None else f"<t:ViewPrivateItems>{str(view_private).lower()}</t:ViewPrivateItems>"
    return (f"<t:DelegateUser><t:UserId><t:PrimarySmtpAddress>{address}</t:PrimarySmtpAddress></t:UserId>"
            f"<t:DelegatePermissions>{permissions}</t:DelegatePermissions>{private}</t:DelegateUser>")


def call(sandbox, operation, inner, owner=ALICE, attributes="", answer_root=None):
    body = (f"<m:{operation}{attributes}><m:Mailbox><t:EmailAddress>{owner}</t:EmailAddress></m:Mailbox>{inner}"
            f"</m:{operation}>")
    answer = requests.post(sandbox.ews_url, data=ENVELOPE.format(body).encode(), auth=(owner, PASSWORD),
                           verify=sandbox.ca_bundle)
    if answer.status_code == 500:  # a SOAP fault: the request refused as a whole
        assert b"ErrorSchemaValidation" in answer.content, answer.text
        return []
    assert answer.status_code == 200, answer.text
    root = etree.fromstring(answer.content)
    if answer_root is not None:
        answer_root.append(root)
    return [message.findtext("m:ResponseCode", namespaces=NS)
            for message in root.iterfind(".//m:DelegateUserResponseMessageType", NS)]


def add(sandbox, *users, meeting=""):
    extra = f"<m:DeliverMeetingRequests>{meeting}</m:DeliverMeetingRequests>" if meeting else ""
    return call(sandbox, "AddDelegate", f"<m:DelegateUsers>{''.join(users)}</m:DelegateUsers>{extra}")


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def as_delegate(sandbox, email, owner=ALICE):
    configuration = Configuration(credentials=Credentials(email, PASSWORD), service_endpoint=sandbox.ews_url)
    return Account(owner, config=configuration, autodiscover=False, access_type=DELEGATE)


def shared(account, kind):
    """The owner's folder by its distinguished id: `account.inbox` would first read the mailbox's
    root, which AddDelegate does not open (as on Exchange)."""
    return kind.get_distinguished(root=Root(account=account))


def levels(delegate):
    p = delegate.delegate_permissions
    return (p.calendar_folder_permission_level, p.tasks_folder_permission_level, p.inbox_folder_permission_level,
            p.contacts_folder_permission_level, p.notes_folder_permission_level, p.journal_folder_permission_level)


def test_add_get_update_remove(alice, sandbox):
    assert alice.delegates == []
    assert add(sandbox, delegate_user(BOB, view_private=True, Calendar="Editor", Inbox="Reviewer"),
               meeting="DelegatesAndMe") == ["NoError"]
    [bob] = alice.delegates
    assert (bob.user_id.primary_smtp_address, bob.user_id.display_name, bob.view_private_items) == \
        (BOB, "Bob Martin", True)
    kept = etree.Element("kept")
    call(sandbox, "GetDelegate", "", attributes=' IncludePermissions="false"', answer_root=kept)
    assert kept.findtext(".//m:DeliverMeetingRequests", namespaces=NS) == "DelegatesAndMe"
    [by_sid] = GetDelegate(account=alice).call(user_ids=[UserId(sid=bob.user_id.sid)], include_permissions=False)
    assert (by_sid.user_id.primary_smtp_address, by_sid.delegate_permissions) == (BOB, None)
    assert levels(bob) == ("Editor", "None", "Reviewer", "None", "None", "None")
    # the rights are the folders' own permissions: GetFolder shows them
    # (exchangelib 5.6 reads a Permission's level from CalendarPermissionLevel: compare the rights)
    entries = {p.user_id.primary_smtp_address: (p.read_items, p.edit_items, p.can_create_items)
               for p in alice.inbox.permission_set.permissions if p.user_id.primary_smtp_address}
    assert entries == {BOB: ("FullDetails", "None", False)}

    update = delegate_user(BOB, Inbox="None", Tasks="Author")
    assert call(sandbox, "UpdateDelegate", f"<m:DelegateUsers>{update}</m:DelegateUsers>") == ["NoError"]
    [bob] = alice.delegates
    assert levels(bob) == ("Editor", "Author", "None", "None", "None", "None")
    assert bob.view_private_items is True  # not sent: unchanged

    user_ids = f"<m:UserIds><t:UserId><t:PrimarySmtpAddress>{BOB}</t:PrimarySmtpAddress></t:UserId></m:UserIds>"
    assert call(sandbox, "RemoveDelegate", user_ids) == ["NoError"]
    assert alice.delegates == []
    alice.calendar.refresh()
    assert not [p for p in alice.calendar.permission_set.calendar_permissions if p.user_id.primary_smtp_address]


def test_refusals(alice, sandbox):
    assert add(sandbox, delegate_user(ALICE, Calendar="Editor")) == ["ErrorDelegateCannotAddOwner"]
    assert add(sandbox, delegate_user("nobody@contoso.example")) == ["ErrorDelegateNoUser"]
    assert add(sandbox, delegate_user(BOB, Calendar="Custom")) == ["ErrorInvalidDelegatePermission"]
    assert add(sandbox, delegate_user(BOB), meeting="Everyone") == []  # a schema fault: nothing added
    assert alice.delegates == []  # a refused delegate leaves nothing behind
    assert add(sandbox, delegate_user(BOB), delegate_user(BOB)) == ["NoError", "ErrorDelegateAlreadyExists"]
    with pytest.raises(ErrorInvalidUserSid):
        list(GetDelegate(account=alice).call(user_ids=[UserId(sid="S-1-5-21-1")], include_permissions=True))
    with pytest.raises(ErrorDelegateNoUser):
        list(GetDelegate(account=alice).call(user_ids=["nobody@example.com"], include_permissions=True))
    with pytest.raises(ErrorNotDelegate):
        list(GetDelegate(account=alice).call(user_ids=[CAROL], include_permissions=True))


def test_access_follows_the_levels(alice, sandbox, clean):
    Message(account=alice, folder=alice.inbox, subject="for the delegate").save()
    start = EWSDateTime.from_datetime(datetime.datetime(2030, 5, 6, 9, tzinfo=datetime.timezone.utc))
    CalendarItem(account=alice, folder=alice.calendar, subject="board", start=start,
                 end=start + datetime.timedelta(hours=1)).save()
    add(sandbox, delegate_user(BOB, Calendar="Editor", Inbox="Reviewer"))
    # exchangelib lists a folder's items through the mailbox's root, which AddDelegate leaves closed:
    # open it as an administrator would (Add-MailboxFolderPermission alice: -AccessRights FolderVisible)
    clean.call("POST", "folder-permissions", {"owner": ALICE, "folder": "root", "user": BOB, "level": "Reviewer"})
    bob = as_delegate(sandbox, BOB)
    [message] = shared(bob, Inbox).all()
    assert message.subject == "for the delegate"
    message.subject = "changed by Bob"
    with pytest.raises(ErrorAccessDenied):  # Reviewer reads, never changes
        message.save(update_fields=["subject"])
    calendar = shared(bob, Calendar)
    [meeting] = calendar.all()
    meeting.subject = "board (moved)"
    meeting.save(update_fields=["subject"])  # Editor changes
    CalendarItem(account=bob, folder=calendar, subject="added by Bob", start=start,
                 end=start + datetime.timedelta(hours=1)).save()
    assert sorted(i.subject for i in alice.calendar.all()) == ["added by Bob", "board (moved)"]
    with pytest.raises(ErrorAccessDenied):  # no level on Contacts: nothing there
        shared(bob, Contacts)
    carol = as_delegate(sandbox, CAROL)
    with pytest.raises(ErrorAccessDenied):
        shared(carol, Inbox)
    call(sandbox, "RemoveDelegate",
         f"<m:UserIds><t:UserId><t:PrimarySmtpAddress>{BOB}</t:PrimarySmtpAddress></t:UserId></m:UserIds>")
    with pytest.raises(ErrorAccessDenied):
        shared(as_delegate(sandbox, BOB), Inbox)
