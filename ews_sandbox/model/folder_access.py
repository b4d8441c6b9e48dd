"""Folder permissions: what a user may do in a folder of someone else's mailbox without
delegate access to all of it (a shared calendar, a team's inbox).

They live where EWS keeps them, in the folder's t:PermissionSet (the folder's stored
properties), so a grant made here and one made with UpdateFolder are the same thing.
An entry names a user (or `Default`, everyone else) and a PermissionLevel; Microsoft's
pages "PermissionLevel" and "CalendarPermissionLevel" list the rights of each level.
The sandbox reads two of them: reading items (ReadItems FullDetails) and changing any
item (CanCreateItems with EditItems and DeleteItems All).
"""
from lxml import etree

from ..wire.ns import T, local, t
from .folders import touch
from .properties import serialize

READING_LEVELS = ("Owner", "PublishingEditor", "Editor", "PublishingAuthor", "Author", "NoneditingAuthor",
                  "Reviewer")
EDITING_LEVELS = ("Owner", "PublishingEditor", "Editor")
LEVELS = READING_LEVELS + ("Contributor", "None")
CALENDAR_LEVELS = LEVELS + ("FreeBusyTimeOnly", "FreeBusyTimeAndSubjectAndLocation")


def levels_for(folder):
    return CALENDAR_LEVELS if folder["element"] == "CalendarFolder" else LEVELS


def _names(folder):
    """(container, entry, level element) as the folder's kind spells them."""
    if folder["element"] == "CalendarFolder":
        return "CalendarPermissions", "CalendarPermission", "CalendarPermissionLevel"
    return "Permissions", "Permission", "PermissionLevel"


def _stored(folder):
    return etree.fromstring(folder["xml"]) if folder["xml"] else etree.Element(t(folder["element"]), nsmap={"t": T})


def _entries(folder, stored):
    container_name, entry_name, _ = _names(folder)
    permission_set = stored.find(t("PermissionSet"))
    if permission_set is None:
        permission_set = etree.SubElement(stored, t("PermissionSet"))
        container = etree.SubElement(permission_set, t(container_name))
        # What a new folder has: nothing for everyone else (free/busy times on a calendar).
        for who in ("Default", "Anonymous"):
            _add_entry(folder, container, {"DistinguishedUser": who},
                       "FreeBusyTimeOnly" if who == "Default" and entry_name == "CalendarPermission" else "None")
    container = permission_set.find(t(container_name))
    if container is None:
        container = etree.SubElement(permission_set, t(container_name))
    return container


def _add_entry(folder, container, user, level):
    _, entry_name, level_name = _names(folder)
    entry = etree.SubElement(container, t(entry_name))
    user_id = etree.SubElement(entry, t("UserId"))
    for name in ("PrimarySmtpAddress", "DisplayName", "DistinguishedUser"):
        if user.get(name):
            etree.SubElement(user_id, t(name)).text = user[name]
    etree.SubElement(entry, t(level_name)).text = level


def _user_of(entry):
    user = entry.find(t("UserId"))
    if user is None:
        return None
    return (user.findtext(t("PrimarySmtpAddress")) or user.findtext(t("DistinguishedUser")) or "").strip()


def grant(conn, folder, user_row, level):
    """Give `user_row` `level` on `folder` (replacing what they had there)."""
    stored = _stored(folder)
    container = _entries(folder, stored)
    for entry in container:
        if (_user_of(entry) or "").casefold() == user_row["email"].casefold():
            container.remove(entry)
    # written as Exchange answers an entry: the user with their SID, the rights the level stands for, the level
    from ..wire import folder_permissions
    user = {"SID": folder_permissions.sid(user_row), "PrimarySmtpAddress": user_row["email"],
            "DisplayName": user_row["name"]}
    calendar = folder_permissions.is_calendar(folder["element"])
    built = folder_permissions.build(folder["element"], [(user, folder_permissions._rights(level, calendar), level)])
    container.append(built[0][0])
    _save(conn, folder, stored)


def revoke(conn, folder, email):
    if not folder["xml"]:
        return
    stored = _stored(folder)
    container = _entries(folder, stored)
    for entry in list(container):
        if (_user_of(entry) or "").casefold() == email.casefold():
            container.remove(entry)
    _save(conn, folder, stored)


def _save(conn, folder, stored):
    touch(conn, folder["id"], xml=serialize(stored))  # a new change key, as any change to a folder gets


def rights(folder, email):
    """(may read items, may change any item) for `email` on `folder`: their own entry, else
    the Default entry's."""
    if not folder["xml"]:
        return False, False
    permission_set = etree.fromstring(folder["xml"]).find(t("PermissionSet"))
    if permission_set is None:
        return False, False
    found = {}
    for container in permission_set:
        for entry in container:
            found[(_user_of(entry) or "").casefold()] = entry
    entry = found.get(email.casefold(), found.get("default"))
    return _entry_rights(entry) if entry is not None else (False, False)


def _entry_rights(entry):
    values = {local(child): (child.text or "").strip() for child in entry}
    level = values.get("PermissionLevel") or values.get("CalendarPermissionLevel") or "Custom"
    if level != "Custom":
        return level in READING_LEVELS, level in EDITING_LEVELS
    reads = values.get("ReadItems") == "FullDetails"
    edits = (values.get("CanCreateItems") == "true" and values.get("EditItems") == "All"
             and values.get("DeleteItems") == "All")
    return reads, edits


def level_of(folder, email):
    """The permission level `email`'s own entry on `folder` names ("None" without one)."""
    if not folder["xml"]:
        return "None"
    permission_set = etree.fromstring(folder["xml"]).find(t("PermissionSet"))
    for container in permission_set if permission_set is not None else []:
        for entry in container:
            if (_user_of(entry) or "").casefold() == email.casefold():
                values = {local(child): (child.text or "").strip() for child in entry}
                return values.get("PermissionLevel") or values.get("CalendarPermissionLevel") or "Custom"
    return "None"
