"""GetDelegate, AddDelegate, UpdateDelegate, RemoveDelegate: who acts for a mailbox's owner.

As on Exchange, a delegate's rights are permissions on six default folders (Calendar, Tasks,
Inbox, Contacts, Notes, Journal), written into those folders' PermissionSets, so GetFolder
shows them, an UpdateFolder that changes them shows in GetDelegate, and the sandbox's access
checks follow them (model/folder_access.py). The list of delegates itself, with whether each
gets copies of meeting messages and sees private items, is kept beside them. Microsoft's pages
"AddDelegate operation", "DelegatePermissions" and "DeliverMeetingRequests".

A delegate here is not the admin API's full mailbox access (the `delegates` table), which
stands for Exchange's FullAccess mailbox permission.
"""
import json

from lxml import etree

from ..model import directory, folder_access, folders
from ..model.properties import bool_text, parse_bool
from ..wire.errors import EWSError
from ..wire.folder_permissions import sid
from ..wire.ns import local, m, sub, t
from ..wire.soap import mark_outcome, response_element, response_message, schema_fault

FOLDER_LEVELS = {"CalendarFolderPermissionLevel": "calendar", "TasksFolderPermissionLevel": "tasks",
                 "InboxFolderPermissionLevel": "inbox", "ContactsFolderPermissionLevel": "contacts",
                 "NotesFolderPermissionLevel": "notes", "JournalFolderPermissionLevel": "journal"}
SETTABLE = ("None", "Reviewer", "Author", "Editor")  # "Custom" is only ever read back
MEETING_DELIVERY = ("DelegatesOnly", "DelegatesAndMe", "DelegatesAndSendInformationToMe", "NoForward")


# ---- the owner, the delegates ---------------------------------------------------------------

def _owner(ctx, body):
    address = (body.findtext(f"{m('Mailbox')}/{t('EmailAddress')}") or "").strip()
    return ctx.mailbox_row(directory.mailbox_for_address(ctx.conn, ctx.actor["id"], address))


def _user(conn, user_id):
    """The users row a t:UserId names, by address or by the SID the sandbox gives each user."""
    address = (user_id.findtext(t("PrimarySmtpAddress")) or "").strip()
    given_sid = (user_id.findtext(t("SID")) or "").strip()
    if not address and given_sid:
        row = _user_by_sid(conn, given_sid)
        if row is None:
            raise EWSError("ErrorInvalidUserSid", "The user's security identifier is not valid.")
        return row
    if not address:
        raise EWSError("ErrorInvalidDelegateUserId", "The delegate user id names no user.")
    row = directory.user_by_email(conn, address)
    if row is None:
        raise EWSError("ErrorDelegateNoUser", "The delegate does not map to a user in the directory.")
    return row


def _user_by_sid(conn, given_sid):
    number = given_sid.rpartition("-")[2]
    row = directory.user_by_id(conn, int(number) - 1000) if number.isdigit() else None
    return row if row is not None and sid(row) == given_sid and row["kind"] in directory.MAILBOX_KINDS else None


def _entry(conn, owner, user):
    return conn.execute("SELECT * FROM delegate_users WHERE owner_id = ? AND delegate_id = ?",
                        (owner["id"], user["id"])).fetchone()


def _level_on(conn, owner, folder_name, user):
    """What `user` has on one of `owner`'s folders, in the names DelegatePermissions uses."""
    folder = folders.distinguished(conn, owner["id"], folder_name)
    level = folder_access.level_of(folder, user["email"])
    return level if level in SETTABLE else "Custom"


def _set_levels(conn, owner, user, permissions):
    for element in permissions if permissions is not None else []:
        level = (element.text or "").strip()
        if local(element) not in FOLDER_LEVELS or level not in SETTABLE:
            raise EWSError("ErrorInvalidDelegatePermission", f"{local(element)} cannot be set to {level!r}.")
        folder = folders.distinguished(conn, owner["id"], FOLDER_LEVELS[local(element)])
        if level == "None":
            folder_access.revoke(conn, folder, user["email"])
        else:
            folder_access.grant(conn, folder, user, level)


def _flags(delegate_user, entry=None):
    values = {"receive_copies": entry["receive_copies"] if entry else 0,
              "view_private": entry["view_private"] if entry else 0}
    for name, column in (("ReceiveCopiesOfMeetingMessages", "receive_copies"), ("ViewPrivateItems", "view_private")):
        given = delegate_user.findtext(t(name))
        if given is not None:
            values[column] = int(parse_bool(given))
    return values


# ---- answers ------------------------------------------------------------------------------

def _render(conn, parent, owner, user, include_permissions=True):
    entry = _entry(conn, owner, user)
    node = sub(parent, m("DelegateUser"))
    user_id = sub(node, t("UserId"))
    sub(user_id, t("SID"), sid(user))
    sub(user_id, t("PrimarySmtpAddress"), user["email"])
    sub(user_id, t("DisplayName"), user["name"])
    if include_permissions:
        permissions = sub(node, t("DelegatePermissions"))
        for element, folder_name in FOLDER_LEVELS.items():
            sub(permissions, t(element), _level_on(conn, owner, folder_name, user))
    sub(node, t("ReceiveCopiesOfMeetingMessages"), bool_text(entry["receive_copies"]))
    sub(node, t("ViewPrivateItems"), bool_text(entry["view_private"]))


def _answer(ctx, operation, body, inputs, handle, meeting_delivery=False):
    """The response: a DelegateUserResponseMessageType per input, each failing alone."""
    response = response_element(operation)
    try:
        owner = _owner(ctx, body)
    except EWSError as error:
        mark_outcome(response, error)
        return response
    mark_outcome(response)
    if inputs:
        messages = sub(response, m("ResponseMessages"))
        for item in inputs:
            try:
                scratch = etree.Element(m("scratch"))
                handle(owner, item, scratch)
                message = response_message(messages, "DelegateUser")
            except EWSError as error:
                message = response_message(messages, "DelegateUser", error)
                scratch = []
            message.tag = m("DelegateUserResponseMessageType")
            for child in list(scratch):
                message.append(child)
    if meeting_delivery:
        sub(response, m("DeliverMeetingRequests"), _meeting_delivery(ctx.conn, owner))
    return response


def _meeting_delivery(conn, owner):
    row = conn.execute("SELECT value FROM mailbox_settings WHERE mailbox_id = ? AND name = 'deliver_meeting_requests'",
                       (owner["id"],)).fetchone()
    return json.loads(row["value"]) if row else "DelegatesAndSendInformationToMe"


def _meeting_delivery_sent(body):
    """DeliverMeetingRequests as sent (None when not), checked against the schema's values."""
    value = (body.findtext(m("DeliverMeetingRequests")) or "").strip()
    if value and value not in MEETING_DELIVERY:
        raise schema_fault(f"The request failed schema validation: {value!r} is not a DeliverMeetingRequests value.")
    return value or None


def _save_meeting_delivery(conn, owner, value):
    conn.execute("INSERT OR REPLACE INTO mailbox_settings(mailbox_id, name, value) "
                 "VALUES (?, 'deliver_meeting_requests', ?)", (owner["id"], json.dumps(value)))


# ---- operations ---------------------------------------------------------------------------

def get_delegate(ctx, body):
    """The delegates named in UserIds (each one an error if it is not a delegate), or all of them."""
    include = parse_bool(body.get("IncludePermissions"))
    named = body.find(m("UserIds"))

    def handle(owner, user, message):
        if _entry(ctx.conn, owner, user) is None:
            raise EWSError("ErrorNotDelegate", "The user is not a delegate of the mailbox.")
        _render(ctx.conn, message, owner, user, include)

    if named is not None:
        return _answer(ctx, "GetDelegate", body, list(named),
                       lambda owner, user_id, message: handle(owner, _user(ctx.conn, user_id), message),
                       meeting_delivery=True)
    return _answer(ctx, "GetDelegate", body, _delegates_of(ctx, body), handle, meeting_delivery=True)


def _delegates_of(ctx, body):
    """Every delegate of the owner, in the order they were added (none when the owner is not reachable:
    the answer then carries that error)."""
    try:
        owner = _owner(ctx, body)
    except EWSError:
        return []
    return [directory.user_by_id(ctx.conn, row["delegate_id"]) for row in ctx.conn.execute(
        "SELECT delegate_id FROM delegate_users WHERE owner_id = ? ORDER BY rowid", (owner["id"],))]


def add_delegate(ctx, body):
    def handle(owner, delegate_user, message):
        user = _user(ctx.conn, delegate_user.find(t("UserId")))
        if user["id"] == owner["id"]:
            raise EWSError("ErrorDelegateCannotAddOwner", "The owner of a mailbox cannot be its delegate.")
        if _entry(ctx.conn, owner, user) is not None:
            raise EWSError("ErrorDelegateAlreadyExists", "The user is a delegate of the mailbox already.")
        flags = _flags(delegate_user)
        ctx.conn.execute("INSERT INTO delegate_users(owner_id, delegate_id, receive_copies, view_private) "
                         "VALUES (?, ?, ?, ?)",
                         (owner["id"], user["id"], flags["receive_copies"], flags["view_private"]))
        _set_levels(ctx.conn, owner, user, delegate_user.find(t("DelegatePermissions")))
        _render(ctx.conn, message, owner, user)

    return _changing(ctx, "AddDelegate", body, m("DelegateUsers"), handle)


def update_delegate(ctx, body):
    def handle(owner, delegate_user, message):
        user = _user(ctx.conn, delegate_user.find(t("UserId")))
        entry = _entry(ctx.conn, owner, user)
        if entry is None:
            raise EWSError("ErrorNotDelegate", "The user is not a delegate of the mailbox.")
        flags = _flags(delegate_user, entry)
        ctx.conn.execute("UPDATE delegate_users SET receive_copies = ?, view_private = ? WHERE owner_id = ? "
                         "AND delegate_id = ?",
                         (flags["receive_copies"], flags["view_private"], owner["id"], user["id"]))
        _set_levels(ctx.conn, owner, user, delegate_user.find(t("DelegatePermissions")))
        _render(ctx.conn, message, owner, user)

    return _changing(ctx, "UpdateDelegate", body, m("DelegateUsers"), handle)


def remove_delegate(ctx, body):
    def handle(owner, user_id, message):
        user = _user(ctx.conn, user_id)
        if _entry(ctx.conn, owner, user) is None:
            raise EWSError("ErrorNotDelegate", "The user is not a delegate of the mailbox.")
        for folder_name in FOLDER_LEVELS.values():
            folder_access.revoke(ctx.conn, folders.distinguished(ctx.conn, owner["id"], folder_name), user["email"])
        ctx.conn.execute("DELETE FROM delegate_users WHERE owner_id = ? AND delegate_id = ?", (owner["id"], user["id"]))

    return _changing(ctx, "RemoveDelegate", body, m("UserIds"), handle)


def _changing(ctx, operation, body, container_tag, handle):
    from ..model.db import element_scope

    def scoped(owner, element, message):
        with element_scope():  # a failed delegate leaves no half-written permissions
            handle(owner, element, message)

    meeting_delivery = _meeting_delivery_sent(body)
    container = body.find(container_tag)
    response = _answer(ctx, operation, body, list(container) if container is not None else [], scoped)
    if response.get("ResponseClass") == "Success" and meeting_delivery:
        _save_meeting_delivery(ctx.conn, _owner(ctx, body), meeting_delivery)
    return response


OPERATIONS = {"GetDelegate": get_delegate, "AddDelegate": add_delegate, "UpdateDelegate": update_delegate,
              "RemoveDelegate": remove_delegate}
