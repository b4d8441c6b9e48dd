"""MAPI properties that are strongly typed fields: in Exchange's store a field such as
Subject and the MAPI property behind it (PidTagSubject, tag 0x0037) are one property.

Written by tag (CreateItem, UpdateItem), such a property changes the field it stands
for, and is then not kept a second time as an extended property; read by tag (GetItem,
FindItem, restrictions, sorting), it is computed from the field. Tags, types and meanings
are those of Microsoft's [MS-OXPROPS], and of [MS-OXCMSG] /
[MS-OXOMSG], where each property is defined. Properties of the store's own making (size,
times, attachment flag) are read-only, as they are for a MAPI client: a value written to
them is dropped and the store's value stands.

Properties apply in the order the request carries them, as a property bag does: a field
element given after a tag in the same item wins over it (exchangelib, for one, writes
its registered extended properties before a message's IsRead).
"""
from dataclasses import dataclass
from typing import Callable

from lxml import etree

from ..wire.ns import local, t
from ..wire.schema_order import CHILD_ORDER
from .properties import child, extended_key, extended_values, utc_text

# [MS-OXCMSG] 2.2.1.6 PidTagMessageFlags bits.
MF_READ, MF_UNMODIFIED, MF_UNSENT, MF_HAS_ATTACH, MF_ASSOCIATED = 0x1, 0x2, 0x8, 0x10, 0x40
IMPORTANCE = ("Low", "Normal", "High")                         # PidTagImportance 0, 1, 2
SENSITIVITY = ("Normal", "Personal", "Private", "Confidential")  # PidTagSensitivity 0..3
MAILBOX_ORDER = ("Name", "EmailAddress", "RoutingType", "MailboxType", "ItemId", "OriginalDisplayName")


@dataclass(frozen=True)
class TaggedField:
    name: str                 # canonical name in [MS-OXPROPS]
    types: tuple              # EWS PropertyType values it is written with; the first is how it reads
    field: str                # the EWS element it stands for
    read: Callable            # (item, columns) -> list of value texts, or None when unset
    write: Callable = None    # (item, values, change) -> bool absorbed; None: read-only

    @property
    def is_array(self):
        return self.types[0].endswith("Array")


# ---- reading ------------------------------------------------------------------------------

def _column(columns, name):
    return columns[name] if name in columns.keys() else None


def _text(name):
    def read(item, columns):
        value = item.findtext(t(name))
        return [value] if value is not None else None
    return read


def _time_text(name):
    def read(item, columns):
        value = item.findtext(t(name))
        return [utc_text(value)] if value else None
    return read


def _time_column(name):
    def read(item, columns):
        value = _column(columns, name)
        return [value] if value else None
    return read


def _ranked(name, ranks, default):
    def read(item, columns):
        value = (item.findtext(t(name)) or default).strip()
        return [str(ranks.index(value))] if value in ranks else None
    return read


def _mailbox_part(holders, part):
    """A sender's address or name: from the first of `holders` that names one."""
    def read(item, columns):
        for holder in holders:
            value = item.findtext(f"{t(holder)}/{t('Mailbox')}/{t(part)}")
            if value:
                return [value]
        return None
    return read


def _boolean(name):
    def read(item, columns):
        value = item.findtext(t(name))
        return [value.strip().lower()] if value is not None else None
    return read


def _categories(item, columns):
    container = child(item, "Categories")
    values = [c.text for c in container if c.text] if container is not None else []
    return values or None


def _item_class(item, columns):
    from .items import DEFAULT_CLASS  # items imports this module
    return [item.findtext(t("ItemClass")) or DEFAULT_CLASS.get(local(item), "IPM")]


def _message_flags(item, columns):
    flags = 0
    if (item.findtext(t("IsRead")) or "").strip().lower() == "true":
        flags |= MF_READ
    if _column(columns, "unmodified"):
        flags |= MF_UNMODIFIED
    if _column(columns, "is_draft"):
        flags |= MF_UNSENT
    if _column(columns, "has_attachments"):
        flags |= MF_HAS_ATTACH
    if _column(columns, "is_associated"):
        flags |= MF_ASSOCIATED
    return [str(flags)]


def _integer_column(name):
    def read(item, columns):
        value = _column(columns, name)
        return [str(value)] if value is not None else None
    return read


def _boolean_column(name):
    def read(item, columns):
        return ["true" if _column(columns, name) else "false"]
    return read


def _display(source):
    def read(item, columns):
        recipients = child(item, source)
        if recipients is None:
            return None
        return ["; ".join(m.findtext(t("Name")) or m.findtext(t("EmailAddress")) or ""
                          for m in recipients.iterfind(t("Mailbox")))]
    return read


# ---- writing ------------------------------------------------------------------------------

def _replace(item, name):
    for old in item.findall(t(name)):
        item.remove(old)
    return etree.SubElement(item, t(name))


@dataclass
class Change:
    """What one write by tag may touch: `later` names the fields the item gives after
    the tag (they win), `overrides` collects changes to the item's columns."""
    first_save: bool
    later: frozenset
    overrides: dict


def _set_text(name, convert=lambda value: value):
    def write(item, values, change):
        value = convert(values[0]) if values else None
        if value is None:
            return False
        if name not in change.later:
            _replace(item, name).text = value
        return True
    return write


def _as_time(value):
    try:
        return utc_text(value)
    except ValueError:
        return None


def _as_rank(ranks):
    def convert(value):
        number = _as_int(value)
        return ranks[number] if number is not None and 0 <= number < len(ranks) else None
    return convert


def _as_int(value):
    try:
        return int(value.strip(), 0) if value.strip().lower().startswith("0x") else int(value)
    except ValueError:
        return None


def _as_bool(value):
    return {"true": "true", "1": "true", "false": "false", "0": "false"}.get(value.strip().lower())


def _set_mailbox_part(holder, part):
    """Set a sender's address or name, keeping the rest of its mailbox."""
    def write(item, values, change):
        if not values or not values[0]:
            return False
        if holder in change.later:
            return True
        mailbox = item.find(f"{t(holder)}/{t('Mailbox')}")
        if mailbox is None:
            mailbox = etree.SubElement(_replace(item, holder), t("Mailbox"))
        parts = {local(e): e.text for e in mailbox}
        parts[part] = values[0]
        if part == "EmailAddress":
            parts.setdefault("RoutingType", "SMTP")
        for old in list(mailbox):
            mailbox.remove(old)
        for name in MAILBOX_ORDER:
            if parts.get(name) is not None:
                etree.SubElement(mailbox, t(name)).text = parts[name]
        return True
    return write


def _set_categories(item, values, change):
    if "Categories" in change.later:
        return True
    container = _replace(item, "Categories")
    for value in values:
        etree.SubElement(container, t("String")).text = value
    return True


def _set_received(item, values, change):
    received = _as_time(values[0]) if values else None
    if received is None:
        return False
    change.overrides["received"] = received
    return True


def _set_message_flags(item, values, change):
    """[MS-OXCMSG] 2.2.1.6: mfRead and mfUnsent are the client's to set until the first
    save, read-only after it (then the store's value stands: IsRead changes the read state)."""
    flags = _as_int(values[0]) if values else None
    if flags is None:
        return False
    if change.first_save:
        if "IsRead" in CHILD_ORDER.get(local(item), ()) and "IsRead" not in change.later:
            _replace(item, "IsRead").text = "true" if flags & MF_READ else "false"
        change.overrides["is_draft"] = int(bool(flags & MF_UNSENT))
    return True


# ---- the table ----------------------------------------------------------------------------

# Tag -> the field it is. Each tag and type checked against its [MS-OXPROPS] entry
# (named by its canonical name; EWS PropertyType Integer is PtypInteger32, String PtypString,
# SystemTime PtypTime, Boolean PtypBoolean, StringArray PtypMultipleString).
TAGGED = {
    0x0037: TaggedField("PidTagSubject", ("String",), "Subject", _text("Subject"), _set_text("Subject")),
    0x001A: TaggedField("PidTagMessageClass", ("String",), "ItemClass", _item_class,
                        _set_text("ItemClass")),
    0x0017: TaggedField("PidTagImportance", ("Integer",), "Importance",
                        _ranked("Importance", IMPORTANCE, "Normal"),
                        _set_text("Importance", _as_rank(IMPORTANCE))),
    0x0036: TaggedField("PidTagSensitivity", ("Integer",), "Sensitivity",
                        _ranked("Sensitivity", SENSITIVITY, "Normal"),
                        _set_text("Sensitivity", _as_rank(SENSITIVITY))),
    0x0E07: TaggedField("PidTagMessageFlags", ("Integer",), "IsRead", _message_flags, _set_message_flags),
    0x0E06: TaggedField("PidTagMessageDeliveryTime", ("SystemTime",), "DateTimeReceived",
                        _time_column("received"), _set_received),
    0x0039: TaggedField("PidTagClientSubmitTime", ("SystemTime",), "DateTimeSent", _time_text("DateTimeSent"),
                        _set_text("DateTimeSent", _as_time)),
    0x3007: TaggedField("PidTagCreationTime", ("SystemTime",), "DateTimeCreated",
                        _time_column("created")),
    0x3008: TaggedField("PidTagLastModificationTime", ("SystemTime",), "LastModifiedTime",
                        _time_column("modified")),
    0x0E08: TaggedField("PidTagMessageSize", ("Integer", "Long"), "Size", _integer_column("size")),
    0x0E1B: TaggedField("PidTagHasAttachments", ("Boolean",), "HasAttachments",
                        _boolean_column("has_attachments")),
    0x0E04: TaggedField("PidTagDisplayTo", ("String",), "DisplayTo", _display("ToRecipients")),
    0x0E03: TaggedField("PidTagDisplayCc", ("String",), "DisplayCc", _display("CcRecipients")),
    0x5D01: TaggedField("PidTagSenderSmtpAddress", ("String",), "Sender",
                        _mailbox_part(("Sender", "From"), "EmailAddress"),
                        _set_mailbox_part("Sender", "EmailAddress")),
    0x0C1A: TaggedField("PidTagSenderName", ("String",), "Sender", _mailbox_part(("Sender", "From"), "Name"),
                        _set_mailbox_part("Sender", "Name")),
    0x5D02: TaggedField("PidTagSentRepresentingSmtpAddress", ("String",), "From",
                        _mailbox_part(("From", "Sender"), "EmailAddress"),
                        _set_mailbox_part("From", "EmailAddress")),
    0x0042: TaggedField("PidTagSentRepresentingName", ("String",), "From", _mailbox_part(("From", "Sender"), "Name"),
                        _set_mailbox_part("From", "Name")),
    0x1035: TaggedField("PidTagInternetMessageId", ("String",), "InternetMessageId", _text("InternetMessageId"),
                        _set_text("InternetMessageId")),
    0x0070: TaggedField("PidTagConversationTopic", ("String",), "ConversationTopic", _text("ConversationTopic"),
                        _set_text("ConversationTopic")),
    0x1042: TaggedField("PidTagInReplyToId", ("String",), "InReplyTo", _text("InReplyTo"),
                        _set_text("InReplyTo")),
    0x1039: TaggedField("PidTagInternetReferences", ("String",), "References", _text("References"),
                        _set_text("References")),
    0x0029: TaggedField("PidTagReadReceiptRequested", ("Boolean",), "IsReadReceiptRequested",
                        _boolean("IsReadReceiptRequested"), _set_text("IsReadReceiptRequested", _as_bool)),
    0x0023: TaggedField("PidTagOriginatorDeliveryReportRequested", ("Boolean",), "IsDeliveryReceiptRequested",
                        _boolean("IsDeliveryReceiptRequested"),
                        _set_text("IsDeliveryReceiptRequested", _as_bool)),
}
# Named properties that are fields: (property set GUID, name) -> field.
PUBLIC_STRINGS = "00020329-0000-0000-c000-000000000046"
NAMED = {
    (PUBLIC_STRINGS, "Keywords"): TaggedField("PidNameKeywords", ("StringArray",), "Categories", _categories,
                                              _set_categories),
}
# Fields kept in the items table rather than in the item's XML: every item type has them.
COLUMN_FIELDS = frozenset({"DateTimeReceived", "DateTimeCreated", "LastModifiedTime", "Size", "HasAttachments",
                           "DisplayTo", "DisplayCc", "ItemClass"})


def tagged_field(key, element):
    """The TaggedField an extended property's identity (properties.extended_key) names on
    an item of `element` type, or None: not a field, or not one this item type has."""
    found = _lookup(dict(key))
    if found is None:
        return None
    if found.field not in COLUMN_FIELDS and found.field not in CHILD_ORDER.get(element, CHILD_ORDER["Item"]):
        return None
    return found


def _lookup(key):
    if set(key) == {"PropertyTag"}:
        return TAGGED.get(int(key["PropertyTag"]))
    if set(key) == {"PropertySetId", "PropertyName"}:
        return NAMED.get((key["PropertySetId"], key["PropertyName"]))
    return None


def read(item, columns, key):
    """The values (as text) of the field an extended property's identity stands for;
    None when it is not such a property or the item does not have the field set."""
    found = tagged_field(key, local(item))
    return found.read(item, columns) if found is not None else None


def absorb(item, *, first_save):
    """Turn the extended properties of `item` that are fields into those fields; return
    what changes in the item's columns ({'received': ..., 'is_draft': ...})."""
    overrides = {}
    children = list(item)
    for index, prop in enumerate(children):
        uri = prop.find(t("ExtendedFieldURI")) if prop.tag == t("ExtendedProperty") else None
        found = tagged_field(extended_key(uri), local(item)) if uri is not None else None
        if found is None or (uri.get("PropertyType") or "String") not in found.types:
            continue  # not a field; or another type under the tag, another property: kept as it came
        if found.write is None:
            item.remove(prop)  # the store's own value stands
            continue
        later = frozenset(local(c) for c in children[index + 1:] if c.tag != t("ExtendedProperty"))
        if found.write(item, extended_values(prop), Change(first_save, later, overrides)):
            item.remove(prop)
    return overrides
