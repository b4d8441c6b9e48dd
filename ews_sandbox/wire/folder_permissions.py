"""Folder permissions (t:PermissionSet): read from UpdateFolder and CreateFolder, kept in
schema order, and the set a new folder starts with.

Each entry names a user and what that user may do; a named PermissionLevel stands for a
fixed set of rights, "Custom" for rights given one by one. Microsoft's pages "PermissionLevel"
and "CalendarPermissionLevel" list the rights of each level.
"""
from lxml import etree

from ..model import directory
from .errors import EWSError
from .ns import T, local, t

RIGHTS = ("CanCreateItems", "CanCreateSubFolders", "IsFolderOwner", "IsFolderVisible", "IsFolderContact",
          "EditItems", "DeleteItems", "ReadItems")
# level: (create items, create subfolders, owner, visible, contact, edit, delete, read)
LEVELS = {
    "None": (False, False, False, False, False, "None", "None", "None"),
    "Owner": (True, True, True, True, True, "All", "All", "FullDetails"),
    "PublishingEditor": (True, True, False, True, False, "All", "All", "FullDetails"),
    "Editor": (True, False, False, True, False, "All", "All", "FullDetails"),
    "PublishingAuthor": (True, True, False, True, False, "Owned", "Owned", "FullDetails"),
    "Author": (True, False, False, True, False, "Owned", "Owned", "FullDetails"),
    "NoneditingAuthor": (True, False, False, True, False, "None", "Owned", "FullDetails"),
    "Reviewer": (False, False, False, True, False, "None", "None", "FullDetails"),
    "Contributor": (True, False, False, True, False, "None", "None", "None"),
}
CALENDAR_LEVELS = {
    **LEVELS,
    "FreeBusyTimeOnly": (False, False, False, False, False, "None", "None", "TimeOnly"),
    "FreeBusyTimeAndSubjectAndLocation": (False, False, False, False, False, "None", "None",
                                          "TimeAndSubjectAndLocation"),
}
# What clients send under another name: exchangelib 5.6 writes CanCreateSubfolders and, in a
# t:Permission, CalendarPermissionLevel (Exchange Online accepts its requests; see FIDELITY.md).
_ALIASES = {"CanCreateSubfolders": "CanCreateSubFolders", "CalendarPermissionLevel": "PermissionLevel"}


def is_calendar(element_name):
    return element_name == "CalendarFolder"


def default_set(element_name):
    """A new folder's permissions: nothing for everyone else (free/busy times on a calendar)."""
    calendar = is_calendar(element_name)
    entries = [("Default", "FreeBusyTimeOnly" if calendar else "None"), ("Anonymous", "None")]
    return build(element_name, [({"DistinguishedUser": who}, _rights(level, calendar), level)
                                for who, level in entries])


def with_everyone(element_name, entries):
    """`entries` with the Default and Anonymous entries first, added without rights if missing."""
    calendar = is_calendar(element_name)
    present = {user.get("DistinguishedUser") for user, _, _ in entries}
    everyone = [({"DistinguishedUser": who}, _rights("None", calendar), "None")
                for who in ("Default", "Anonymous") if who not in present]
    return everyone + entries


def parse(conn, element_name, permission_set):
    """The entries of a t:PermissionSet as (user, rights, level), checked as Exchange checks them:
    each user known and named once (ErrorDuplicateUserIdsSpecified)."""
    calendar = is_calendar(element_name)
    entries = [_parse_entry(conn, entry, calendar) for container in permission_set for entry in container
               if local(container) in ("Permissions", "CalendarPermissions")]
    return check_unique(entries)


def check_unique(entries):
    seen = set()
    for user, _, _ in entries:
        key = user.get("DistinguishedUser") or user["PrimarySmtpAddress"].casefold()
        if key in seen:
            raise EWSError("ErrorDuplicateUserIdsSpecified")
        seen.add(key)
    return entries


def _parse_entry(conn, entry, calendar):
    values = {_ALIASES.get(local(child), local(child)): child for child in entry}
    user = _parse_user(conn, values.get("UserId"))
    level = (values["PermissionLevel"].text or "").strip() if "PermissionLevel" in values else "Custom"
    levels = CALENDAR_LEVELS if calendar else LEVELS
    if level in levels:
        return user, _rights(level, calendar), level
    if level != "Custom":
        raise EWSError("ErrorInvalidPermissionSettings", f"{level!r} is not a permission level of this folder.")
    rights = {}
    for name, default in zip(RIGHTS, levels["None"]):
        text = (values[name].text or "").strip() if name in values else None
        rights[name] = default if text is None else (text in ("true", "1") if isinstance(default, bool) else text)
    return user, rights, _level_of(rights, levels)


def _parse_user(conn, element):
    if element is None:
        raise EWSError("ErrorInvalidUserInfo", "A permission entry needs a UserId.")
    fields = {local(child): (child.text or "").strip() for child in element}
    if fields.get("DistinguishedUser") in ("Default", "Anonymous"):
        return {"DistinguishedUser": fields["DistinguishedUser"]}
    row = directory.user_by_email(conn, fields.get("PrimarySmtpAddress"))
    if row is None:
        raise EWSError("ErrorInvalidUserInfo", "The user in a permission entry was not found.")
    return {"SID": sid(row), "PrimarySmtpAddress": row["email"], "DisplayName": row["name"]}


def sid(user_row):
    """A stable, made-up security identifier per sandbox user."""
    return f"S-1-5-21-3623811015-3361044348-30300820-{1000 + user_row['id']}"


def _rights(level, calendar):
    return dict(zip(RIGHTS, (CALENDAR_LEVELS if calendar else LEVELS)[level]))


def _level_of(rights, levels):
    for name, values in levels.items():
        if tuple(rights[r] for r in RIGHTS) == values:
            return name
    return "Custom"


def build(element_name, entries):
    """A t:PermissionSet in schema order."""
    calendar = is_calendar(element_name)
    root = etree.Element(t("PermissionSet"), nsmap={"t": T})
    container = etree.SubElement(root, t("CalendarPermissions" if calendar else "Permissions"))
    for user, rights, level in entries:
        entry = etree.SubElement(container, t("CalendarPermission" if calendar else "Permission"))
        user_element = etree.SubElement(entry, t("UserId"))
        for name in ("SID", "PrimarySmtpAddress", "DisplayName", "DistinguishedUser"):
            if user.get(name):
                etree.SubElement(user_element, t(name)).text = user[name]
        for name in RIGHTS:
            value = rights[name]
            etree.SubElement(entry, t(name)).text = ("true" if value else "false") if isinstance(value, bool) else value
        etree.SubElement(entry, t("CalendarPermissionLevel" if calendar else "PermissionLevel")).text = level
    return root
