"""Items as bags of properties: an item is kept as the element of its type that the
client sent (plus what the server sets), and read back through field URIs.

This module knows how a field URI names an element, how to read typed values out of
an item for queries and sorting, and how to normalise datetimes and booleans.
"""
from datetime import datetime, timezone

from lxml import etree

from ..wire.ns import T, t
from ..wire.schema_order import BOOLEAN_ELEMENTS

# Field URIs whose element has another name (the URI names one entry of a dictionary).
_ELEMENT_FOR_URI = {
    "contacts:EmailAddress": "EmailAddresses",
    "contacts:PhysicalAddress": "PhysicalAddresses",
    "contacts:PhoneNumber": "PhoneNumbers",
    "contacts:ImAddress": "ImAddresses",
    "distributionlist:Members": "Members",
    "calendar:UID": "UID",
}

# Element names kept by the server, never taken from what a client sends.
SERVER_SET = frozenset({
    "ItemId", "ParentFolderId", "DateTimeReceived", "Size", "HasAttachments", "Attachments",
    "DateTimeCreated", "LastModifiedTime", "LastModifiedName", "IsDraft", "IsSubmitted",
    "IsUnmodified", "IsFromMe", "IsResend", "DisplayTo", "DisplayCc", "DisplayBcc",
    "ResponseObjects", "EffectiveRights", "ConversationId", "UniqueBody", "TextBody",
    "IsAssociated", "WebClientReadFormQueryString", "WebClientEditFormQueryString",
    "InstanceKey", "StoreEntryId", "MimeContent", "NormalizedBody", "Preview",
})


def element_name(field_uri):
    """'item:Subject' -> 'Subject'; a part of an indexed entry names its dictionary
    ('contacts:PhysicalAddress:Street' -> 'PhysicalAddresses')."""
    found = _ELEMENT_FOR_URI.get(field_uri) or _ELEMENT_FOR_URI.get(field_uri.rsplit(":", 1)[0])
    return found or field_uri.split(":", 1)[-1]


def entry_part(field_uri):
    """The part of a dictionary entry an indexed URI names ('Street'), None for the whole entry."""
    return field_uri.rsplit(":", 1)[-1] if field_uri.startswith("contacts:PhysicalAddress:") else None


def utc_text(value):
    """Any xs:dateTime -> 'YYYY-MM-DDTHH:MM:SSZ', the form that sorts and compares as text."""
    if value is None:
        return None
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_text():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bool_text(flag):
    return "true" if flag else "false"


def parse_bool(text):
    return (text or "").strip().lower() in ("true", "1")


def fold(text):
    return text.casefold() if isinstance(text, str) else text


# ---- extended properties -------------------------------------------------------------

_EXT_ATTRS = ("DistinguishedPropertySetId", "PropertySetId", "PropertyTag", "PropertyName", "PropertyId", "PropertyType")
# The GUIDs of EWS's distinguished property sets ([MS-OXPROPS], "Commonly Used
# Property Sets"): a named property addressed by either form is the same property.
DISTINGUISHED_SETS = {
    "Meeting": "6ed8da90-450b-101b-98da-00aa003f1305",
    "Appointment": "00062002-0000-0000-c000-000000000046",
    "Common": "00062008-0000-0000-c000-000000000046",
    "PublicStrings": "00020329-0000-0000-c000-000000000046",
    "Address": "00062004-0000-0000-c000-000000000046",
    "InternetHeaders": "00020386-0000-0000-c000-000000000046",
    "CalendarAssistant": "11000e07-b51b-40d6-af21-caa85edab1d0",
    "UnifiedMessaging": "4442858e-a9e3-4e80-b900-317a210cc15b",
    "Task": "00062003-0000-0000-c000-000000000046",
    "Sharing": "00062040-0000-0000-c000-000000000046",
}


def extended_key(uri_element):
    """A comparable identity for an ExtendedFieldURI: tags as integers, property sets as
    lower-case GUIDs whichever way they are named. The type is not part of it."""
    key = []
    for name in _EXT_ATTRS[:-1]:
        value = uri_element.get(name)
        if value is None:
            continue
        if name == "PropertyTag":
            value = str(int(value, 16) if value.lower().startswith("0x") else int(value))
        elif name == "DistinguishedPropertySetId":
            name, value = "PropertySetId", DISTINGUISHED_SETS.get(value, value)
        elif name == "PropertySetId":
            value = value.lower()
        key.append((name, value))
    return tuple(sorted(key))


def find_extended(item, uri_element):
    wanted = extended_key(uri_element)
    for prop in item.iterfind(t("ExtendedProperty")):
        uri = prop.find(t("ExtendedFieldURI"))
        if uri is not None and extended_key(uri) == wanted:
            return prop
    return None


def extended_values(prop):
    """The value or values of an ExtendedProperty element, as text."""
    if prop is None:
        return []
    single = prop.find(t("Value"))
    if single is not None:
        return [single.text or ""]
    values = prop.find(t("Values"))
    return [v.text or "" for v in values] if values is not None else []


# ---- typed values for queries -------------------------------------------------------

def mailbox_texts(element):
    """The strings a restriction on a mailbox property compares with: address and name."""
    mailbox = element.find(f".//{t('Mailbox')}")
    if mailbox is None:
        mailbox = element
    return [v.text for v in (mailbox.find(t("EmailAddress")), mailbox.find(t("Name"))) if v is not None and v.text]


def element_values(element):
    """Values of a property element for comparison: a list (multi-valued properties
    such as Categories give one per entry; mailboxes give address and name)."""
    if element is None:
        return []
    children = list(element)
    if not children:
        return [element.text or ""]
    if children[0].tag in (t("Mailbox"), t("EmailAddress")) or element.find(t("EmailAddress")) is not None:
        values = []
        for child in children if children[0].tag == t("Mailbox") else [element]:
            values += mailbox_texts(child)
        return values
    return [c.text or "" for c in children if c.text is not None]


def normalize_booleans(item):
    """Clients may send xs:boolean as 0/1; Exchange stores and answers true/false, in
    boolean elements and in the values of Boolean extended properties alike."""
    for element in item.iter():
        if element.text in ("0", "1") and etree.QName(element).localname in BOOLEAN_ELEMENTS:
            element.text = "true" if element.text == "1" else "false"
    for prop in item.iter(t("ExtendedProperty")):
        uri = prop.find(t("ExtendedFieldURI"))
        if uri is not None and uri.get("PropertyType") == "Boolean":
            for value in prop.iter(t("Value")):
                if value.text in ("0", "1"):
                    value.text = "true" if value.text == "1" else "false"
    return item


def parse_item(xml):
    return etree.fromstring(xml)


def serialize(element):
    return etree.tostring(element)


def child(item, name):
    return item.find(f"{{{T}}}{name}")
