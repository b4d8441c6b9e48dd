"""What Exchange's schema validation refuses before an operation runs, checked in one walk
over the request: containers an operation cannot go without, lists that may not be
empty, extended property paths, and date-time values. Each refusal is the SOAP fault
ErrorSchemaValidation (or ErrorInvalidValueForProperty for a date Exchange cannot
store), never a failure half-way through the work.

The required elements are those of messages.xsd and types.xsd for the operations the
sandbox implements.
"""
import re
from datetime import date

from .errors import EWSError
from .ns import M, T, local
from .soap import schema_fault

_MOVE_ITEMS = ("ToFolderId", "ItemIds")
REQUIRED_CHILDREN = {
    (M, "GetItem"): ("ItemShape", "ItemIds"), (M, "GetFolder"): ("FolderShape", "FolderIds"),
    (M, "FindItem"): ("ItemShape", "ParentFolderIds"), (M, "FindFolder"): ("FolderShape", "ParentFolderIds"),
    (M, "CreateItem"): ("Items",), (M, "UpdateItem"): ("ItemChanges",), (M, "DeleteItem"): ("ItemIds",),
    (M, "SendItem"): ("ItemIds",), (M, "MoveItem"): _MOVE_ITEMS, (M, "CopyItem"): _MOVE_ITEMS,
    (M, "ArchiveItem"): ("ArchiveSourceFolderId", "ItemIds"), (M, "MarkAsJunk"): ("ItemIds",),
    (M, "CreateFolder"): ("ParentFolderId", "Folders"), (M, "UpdateFolder"): ("FolderChanges",),
    (M, "DeleteFolder"): ("FolderIds",), (M, "EmptyFolder"): ("FolderIds",),
    (M, "MoveFolder"): ("ToFolderId", "FolderIds"), (M, "CopyFolder"): ("ToFolderId", "FolderIds"),
    (M, "GetAttachment"): ("AttachmentIds",), (M, "DeleteAttachment"): ("AttachmentIds",),
    (M, "CreateAttachment"): ("ParentItemId", "Attachments"), (M, "ResolveNames"): ("UnresolvedEntry",),
    (M, "ExpandDL"): ("Mailbox",), (M, "ConvertId"): ("SourceIds",),
    (T, "ItemChange"): (("ItemId", "OccurrenceItemId", "RecurringMasterItemId"), "Updates"),
    (T, "FolderChange"): (("FolderId", "DistinguishedFolderId"), "Updates"),
    (T, "ItemShape"): ("BaseShape",), (T, "FolderShape"): ("BaseShape",),
    (M, "ItemShape"): ("BaseShape",), (M, "FolderShape"): ("BaseShape",),
}
# Children an operation takes once (maxOccurs 1 in messages.xsd) that a client may repeat:
# ResolveNames takes one UnresolvedEntry, though exchangelib writes every name it is given.
SINGLE_CHILDREN = {(M, "ResolveNames"): ("UnresolvedEntry",)}
# Lists the schema types NonEmptyArrayOf... (and target folder ids): at least one element. All are
# operation-level elements (messages namespace) but Updates; t:ParentFolderId of an uploaded
# item is a plain FolderIdType, with attributes only.
NON_EMPTY = frozenset({"ItemIds", "FolderIds", "ParentFolderIds", "Items", "ItemChanges", "FolderChanges",
                       "AttachmentIds", "Attachments", "Folders", "Updates", "SourceIds", "ToFolderId",
                       "ParentFolderId", "SavedItemFolderId", "ArchiveSourceFolderId"})
_PATH_CHANGES = frozenset({"SetItemField", "AppendToItemField", "DeleteItemField", "SetFolderField",
                           "AppendToFolderField", "DeleteFolderField"})

# Elements of type xs:dateTime in types.xsd (a few are xs:date elsewhere: both forms pass).
DATETIME_ELEMENTS = frozenset({
    "AppointmentReplyTime", "AssignedTime", "Birthday", "CompleteDate", "DateTimeCreated", "DateTimeReceived",
    "DateTimeSent", "DateTimeStamp", "DueDate", "End", "EndDate", "ExpirationDate", "LastModifiedTime",
    "OriginalStart", "PostedTime", "RecurrenceId", "ReminderDueBy", "ReminderNextTime", "RetentionDate",
    "Start", "StartDate", "StartWallClock", "EndWallClock", "WeddingAnniversary", "ProposedStart", "ProposedEnd",
})
_DATETIME = re.compile(r"(-?\d{4,})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d):(\d\d)(\.\d+)?)?(Z|[+-]\d\d:\d\d)?")
# MAPI keeps times as FILETIMEs: Exchange stores none before 1601 or after 4500.
FIRST_YEAR, LAST_YEAR = 1601, 4500

_TAG = re.compile(r"0[xX][0-9A-Fa-f]{1,4}|\d{1,5}")
_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_INT32 = re.compile(r"[+-]?\d{1,10}")
PROPERTY_SETS = frozenset({"Meeting", "Appointment", "Common", "PublicStrings", "Address", "InternetHeaders",
                           "CalendarAssistant", "UnifiedMessaging", "Task", "Sharing"})


def check(operation_element):
    """Raise the fault Exchange's schema check would answer for this request, if any."""
    for element in operation_element.iter():
        if not isinstance(element.tag, str):
            continue
        key = (_namespace(element), local(element))
        required = REQUIRED_CHILDREN.get(key)
        if required:
            _check_children(element, required)
        for name in SINGLE_CHILDREN.get(key, ()):
            if sum(1 for c in element if isinstance(c.tag, str) and local(c) == name) > 1:
                # the text of .NET's schema validator, which Exchange answers with
                raise schema_fault(f"The request failed schema validation: The element '{key[1]}' in namespace "
                                   f"'{key[0]}' has invalid child element '{name}' in namespace '{key[0]}'.")
        name = key[1]
        if name in NON_EMPTY and (key[0] == M or (key[0] == T and name == "Updates")) and len(element) == 0:
            raise schema_fault(f"The request failed schema validation: the element '{name}' has incomplete "
                               "content; it needs at least one child element.")
        if name in _PATH_CHANGES and len(element) == 0:
            raise schema_fault(f"The request failed schema validation: '{name}' needs a property path.")
        if name == "ExtendedFieldURI":
            _check_extended_path(element)
        elif name in DATETIME_ELEMENTS and key[0] == T and len(element) == 0:
            check_datetime(element.text, name, in_range=False)  # the range: per item, as it is stored


def _namespace(element):
    tag = element.tag
    return tag[1:tag.index("}")] if tag.startswith("{") else None


def _check_children(element, required):
    present = {local(c) for c in element if isinstance(c.tag, str)}
    for name in required:
        names = name if isinstance(name, tuple) else (name,)
        if not present.intersection(names):
            raise schema_fault(f"The request failed schema validation: the element '{local(element)}' has "
                               f"incomplete content; '{names[0]}' is expected.")


def _check_extended_path(element):
    problems = []
    tag, set_id, prop_id = element.get("PropertyTag"), element.get("PropertySetId"), element.get("PropertyId")
    if tag is not None and not (_TAG.fullmatch(tag) and int(tag, 0 if tag[:2].lower() == "0x" else 10) <= 0xFFFF):
        problems.append(f"PropertyTag {tag!r}")
    if set_id is not None and not _GUID.fullmatch(set_id):
        problems.append(f"PropertySetId {set_id!r}")
    if prop_id is not None and not (_INT32.fullmatch(prop_id) and -2**31 <= int(prop_id) < 2**31):
        problems.append(f"PropertyId {prop_id!r}")
    distinguished = element.get("DistinguishedPropertySetId")
    if distinguished is not None and distinguished not in PROPERTY_SETS:
        problems.append(f"DistinguishedPropertySetId {distinguished!r}")
    if element.get("PropertyType") is None:
        problems.append("a missing PropertyType")
    if problems:
        raise schema_fault("The request failed schema validation: ExtendedFieldURI has " + ", ".join(problems) + ".")


def check_item_values(item):
    """Before an item is stored: its date-times are ones Exchange can keep (a value that
    cannot be read back would break every later view of its folder)."""
    for element in item.iter():
        if isinstance(element.tag, str) and len(element) == 0 and local(element) in DATETIME_ELEMENTS:
            check_datetime(element.text, local(element))


def check_datetime(text, name, in_range=True):
    """An xs:dateTime (or xs:date) value as Exchange takes it; raise its refusal otherwise."""
    match = _DATETIME.fullmatch((text or "").strip())
    try:
        if match is None:
            raise ValueError(text)
        year, month, day = int(match[1]), int(match[2]), int(match[3])
        if match[4] is not None:
            if int(match[4]) > 24 or int(match[5]) > 59 or int(match[6]) > 60:
                raise ValueError(text)
        if FIRST_YEAR <= year <= LAST_YEAR:
            date(year, month, day)
        elif not (1 <= month <= 12 and 1 <= day <= 31):
            raise ValueError(text)
    except ValueError:
        raise schema_fault(f"The request failed schema validation: the '{name}' element is invalid - the value "
                           f"'{text}' is invalid according to its datatype 'xs:dateTime'.")
    if in_range and not FIRST_YEAR <= year <= LAST_YEAR:
        raise EWSError("ErrorInvalidValueForProperty",
                       f"The value '{text}' of {name} is outside the dates Exchange can store "
                       f"({FIRST_YEAR} to {LAST_YEAR}).")
