"""Rendering stored items the way a request's ItemShape asks: which properties, in the
schema's order, with the values the server computes (ids, sizes, counts, bodies)."""
import base64
import copy
import hashlib
import html
from dataclasses import dataclass, field

from lxml import etree
from lxml import html as lxml_html

from ..model import attachments, contacts, folders, ids, mapi
from ..model.items import DEFAULT_CLASS, item_id_text
from ..model.properties import bool_text, child, extended_key, extended_values, parse_item
from . import calendar_fields, mime
from .errors import EWSError
from .ns import T, local, sub, t
from .paths import is_path, parse_path
from .schema_order import CHILD_ORDER
from .text import html_to_text

DEFAULT_NAMES = frozenset({
    "ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Body", "Attachments", "DateTimeReceived",
    "Size", "Categories", "Importance", "IsDraft", "HasAttachments", "DateTimeSent", "DateTimeCreated",
    "Sender", "From", "ToRecipients", "CcRecipients", "IsRead", "ConversationId", "InternetMessageId",
    "Start", "End", "Location", "Organizer", "DisplayName", "GivenName", "Surname", "EmailAddresses",
    "Status", "DueDate",
})
# Properties that FindItem refuses (Exchange answers ErrorInvalidPropertyForOperation) ...
NOT_IN_FIND = frozenset({"MimeContent", "Attachments", "UniqueBody", "TextBody"})
# ... and those it accepts and leaves out ("FindItem operation" remarks: no body formats,
# no recipient lists), and of a sender only the name.
LEFT_OUT_OF_FIND = NOT_IN_FIND | {"Body", "NormalizedBody", "ToRecipients", "CcRecipients", "BccRecipients",
                                  "ReplyTo", "RequiredAttendees", "OptionalAttendees", "Resources"}
NAME_ONLY_IN_FIND = frozenset({"From", "Sender", "Organizer"})
FIND_TEXT_LIMIT = 255  # "FindItem returns only ... the first 255 characters" of a long string
DEFAULT_VALUES = {"Importance": "Normal", "Sensitivity": "Normal"}


@dataclass
class ItemShape:
    base: str = "AllProperties"
    paths: list = field(default_factory=list)
    body_type: str = "Best"
    include_mime: bool = False
    filter_html: bool = False

    @classmethod
    def parse(cls, element):
        shape = cls(base=(element.findtext(t("BaseShape")) or "IdOnly").strip())
        shape.body_type = element.findtext(t("BodyType")) or "Best"
        shape.include_mime = (element.findtext(t("IncludeMimeContent")) or "").strip().lower() == "true"
        shape.filter_html = (element.findtext(t("FilterHtmlContent")) or "").strip().lower() == "true"
        additional = element.find(t("AdditionalProperties"))
        if additional is not None:
            shape.paths = [parse_path(p) for p in additional if is_path(p)]
        return shape

    def check_for_find(self):
        if self.include_mime:
            raise EWSError("ErrorInvalidPropertyForOperation", "FindItem does not return MIME content; use GetItem.")
        for path in self.paths:
            if path.name in NOT_IN_FIND:
                raise EWSError("ErrorInvalidPropertyForOperation",
                               f"The property '{path.uri}' is not valid for FindItem; use GetItem.")


class ItemRenderer:
    """Renders rows of one request; caches what rows share (folder change keys)."""

    def __init__(self, conn, shape, for_find=False):
        self.conn = conn
        self.shape = shape
        self.for_find = for_find  # FindItem's summary: see LEFT_OUT_OF_FIND and NAME_ONLY_IN_FIND
        self._folder_keys = {}
        self._owners = {}  # mailbox id -> its owner's address, for IsFromMe

    def render(self, row, parent):
        item = parse_item(row["xml"])
        names = self._wanted_names(item)
        if self.for_find:
            names -= LEFT_OUT_OF_FIND
        out = sub(parent, t(row["element"]))
        for name in CHILD_ORDER.get(row["element"], CHILD_ORDER["Item"]):
            if name == "ExtendedProperty":
                self._append_extended(row, item, out)
            elif name in names:
                for element in self._property(row, item, name):
                    out.append(_summary(element, name) if self.for_find else element)
        return out

    def _wanted_names(self, item):
        names = {p.name for p in self.shape.paths if p.kind != "extended"}
        names.add("ItemId")
        if self.shape.include_mime:
            names.add("MimeContent")
        if self.shape.base == "Default":
            names |= DEFAULT_NAMES
        elif self.shape.base == "AllProperties":
            names |= {local(c) for c in item if local(c) != "ExtendedProperty"}
            names |= {"ItemId", "ParentFolderId", "ItemClass", "DateTimeReceived", "Size", "HasAttachments",
                      "Attachments", "DateTimeCreated", "LastModifiedTime", "IsDraft", "IsSubmitted",
                      "IsFromMe", "IsUnmodified", "IsResend", "DisplayTo", "DisplayCc", "IsAssociated",
                      "ConversationId", "EffectiveRights"}
            if item.tag == t("CalendarItem"):
                names |= calendar_fields.COMPUTED
        return names

    def _append_extended(self, row, item, out):
        """Asked extended properties: those stored, then those that are fields (by tag),
        each under the ExtendedFieldURI the request named it by."""
        wanted = {p.ext_key: p for p in self.shape.paths if p.kind == "extended"}
        for prop in item.iterfind(t("ExtendedProperty")):
            path = wanted.pop(extended_key(prop.find(t("ExtendedFieldURI"))), None)
            if path is not None:
                out.append(_extended_element(path, extended_values(prop), prop.find(t("Values")) is not None))
        for key, path in wanted.items():
            found = mapi.tagged_field(key, row["element"])
            values = found.read(item, row) if found is not None else None
            if values:
                out.append(_extended_element(path, values, found.is_array))

    def _property(self, row, item, name):
        if row["element"] == "CalendarItem" and name in calendar_fields.COMPUTED:
            return calendar_fields.render(self.conn, row, item, name)
        computed = getattr(self, f"_computed_{name}", None)
        if computed is not None:
            value = computed(row, item)
            return [value] if value is not None else []
        # copies: appending moves an element, and computed properties still read the item
        stored = [copy.deepcopy(e) for e in item.iterfind(f"{{{T}}}{name}")]
        if not stored and name in DEFAULT_VALUES:  # what Exchange answers for a property never set
            return [_text_element(name, DEFAULT_VALUES[name])]
        if name == "Body":
            return [self._converted_body(b) for b in stored]
        indexed = [p for p in self.shape.paths if p.kind == "indexed" and p.name == name]
        if indexed and self.shape.base == "IdOnly":
            return [e for e in (contacts.only_entries(e, indexed) for e in stored) if len(e)]
        return stored

    # ---- computed properties ----
    def _computed_ItemId(self, row, item):
        return etree.Element(t("ItemId"), Id=item_id_text(row), ChangeKey=row["change_key"])

    def _computed_CompleteName(self, row, item):
        return contacts.complete_name(item) if row["element"] == "Contact" else None

    def _computed_ParentFolderId(self, row, item):
        key = self._folder_keys.get(row["folder_id"])
        if key is None:
            key = self._folder_keys[row["folder_id"]] = folders.get(self.conn, row["folder_id"])["change_key"]
        return etree.Element(t("ParentFolderId"), Id=ids.encode(ids.FOLDER, row["mailbox_id"], row["folder_id"]),
                             ChangeKey=key)

    def _computed_ItemClass(self, row, item):
        return _text_element("ItemClass", child(item, "ItemClass").text if child(item, "ItemClass") is not None
                             else DEFAULT_CLASS.get(row["element"], "IPM"))

    def _computed_DateTimeReceived(self, row, item):
        return _text_element("DateTimeReceived", row["received"]) if row["received"] else None

    def _computed_DateTimeCreated(self, row, item):
        return _text_element("DateTimeCreated", row["created"])

    def _computed_LastModifiedTime(self, row, item):
        return _text_element("LastModifiedTime", row["modified"])

    def _computed_Size(self, row, item):
        return _text_element("Size", str(row["size"]))

    def _computed_HasAttachments(self, row, item):
        return _text_element("HasAttachments", bool_text(row["has_attachments"]))

    def _computed_IsDraft(self, row, item):
        return _text_element("IsDraft", bool_text(row["is_draft"]))

    def _computed_IsSubmitted(self, row, item):
        return _text_element("IsSubmitted", "false")

    def _computed_IsUnmodified(self, row, item):
        return _text_element("IsUnmodified", bool_text(row["unmodified"]))

    def _computed_IsResend(self, row, item):
        return _text_element("IsResend", "false")

    def _computed_IsAssociated(self, row, item):
        return _text_element("IsAssociated", bool_text(row["is_associated"]))

    def _computed_IsFromMe(self, row, item):
        if row["mailbox_id"] not in self._owners:
            owner = self.conn.execute("SELECT email FROM users WHERE id = ?", (row["mailbox_id"],)).fetchone()
            self._owners[row["mailbox_id"]] = owner["email"].casefold() if owner else None
        return _text_element("IsFromMe", bool_text(row["sender"] == self._owners[row["mailbox_id"]]))

    def _computed_DisplayTo(self, row, item):
        return _display_list(item, "ToRecipients", "DisplayTo")

    def _computed_DisplayCc(self, row, item):
        return _display_list(item, "CcRecipients", "DisplayCc")

    def _computed_ConversationId(self, row, item):
        topic = child(item, "ConversationTopic")
        subject = child(item, "Subject")
        text = (topic.text if topic is not None else subject.text if subject is not None else "") or ""
        digest = hashlib.sha1(text.strip().casefold().encode()).digest()
        return etree.Element(t("ConversationId"), Id=base64.b64encode(b"CONV" + digest).decode())

    def _computed_EffectiveRights(self, row, item):
        rights = etree.Element(t("EffectiveRights"))
        for name in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read"):
            sub(rights, t(name), "false" if name.startswith("Create") else "true")
        return rights

    def _computed_Attachments(self, row, item):
        rows = attachments.listing(self.conn, row["id"])
        if not rows:
            return None
        container = etree.Element(t("Attachments"))
        for attachment in rows:
            render_attachment_summary(container, row, attachment)
        return container

    def _computed_TextBody(self, row, item):
        body = child(item, "Body")
        if body is None:
            return None
        return _body_element("TextBody", "Text", body_as_text(body))

    def _computed_UniqueBody(self, row, item):
        body = child(item, "Body")
        if body is None:
            return None
        return _body_element("UniqueBody", "HTML", body_as_html(body))

    def _computed_MimeContent(self, row, item):
        content = mime.render(self.conn, row, item)
        element = _text_element("MimeContent", base64.b64encode(content).decode())
        element.set("CharacterSet", "UTF-8")
        return element

    def _converted_body(self, body):
        wanted = self.shape.body_type
        stored = body.get("BodyType", "Text")
        if wanted in ("Best", stored):
            converted = body
        else:
            converted = _body_element("Body", wanted, body_as_html(body) if wanted == "HTML" else body_as_text(body))
        if self.shape.filter_html and converted.get("BodyType") == "HTML":
            return _body_element("Body", "HTML", filtered_html(converted.text or ""))
        return converted


def _summary(element, name):
    """FindItem's form of a property: senders by name, long strings cut to 255 characters."""
    if name in NAME_ONLY_IN_FIND:
        return _name_only(element)
    for node in element.iter():
        if len(node) == 0 and node.text and len(node.text) > FIND_TEXT_LIMIT:
            node.text = node.text[:FIND_TEXT_LIMIT]
    return element


def _name_only(mailbox_holder):
    """FindItem's From, Sender and Organizer carry the display name alone."""
    for mailbox in mailbox_holder.iter(t("Mailbox")):
        for child_element in list(mailbox):
            if child_element.tag != t("Name"):
                mailbox.remove(child_element)
    return mailbox_holder


def _extended_element(path, values, is_array):
    prop = etree.Element(t("ExtendedProperty"))
    prop.append(path.uri_element())
    if is_array:
        container = sub(prop, t("Values"))
        for value in values:
            sub(container, t("Value"), value)
    else:
        sub(prop, t("Value"), values[0])
    return prop


def render_attachment_summary(container, item_row, attachment, with_root=True):
    """An attachment's properties without its content; `with_root` adds the parent item's
    id and change key to the AttachmentId, as listings inside an item carry them."""
    node = sub(container, t(attachment["kind"]))
    root = {"RootItemId": item_id_text(item_row), "RootItemChangeKey": item_row["change_key"]} if with_root else {}
    attachment_id = ids.encode_attachment(item_row["mailbox_id"], item_row["id"], attachment["id"])
    sub(node, t("AttachmentId"), Id=attachment_id, **root)
    sub(node, t("Name"), attachment["name"] or "")
    if attachment["content_type"]:
        sub(node, t("ContentType"), attachment["content_type"])
    if attachment["content_id"]:
        sub(node, t("ContentId"), attachment["content_id"])
    sub(node, t("Size"), str(attachment["size"]))
    sub(node, t("LastModifiedTime"), attachment["modified"])
    sub(node, t("IsInline"), bool_text(attachment["is_inline"]))
    if attachment["kind"] == "FileAttachment":
        sub(node, t("IsContactPhoto"), "false")
    return node


def body_as_text(body):
    """An HTML body as text, keeping the line breaks its paragraphs and <br>s make."""
    if body.get("BodyType", "Text") == "Text":
        return body.text or ""
    return html_to_text(body.text or "")


def body_as_html(body):
    if body.get("BodyType", "Text") == "HTML":
        return body.text or ""
    escaped = html.escape(body.text or "").replace("\n", "<br>\n")
    return f'<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n</head>\n<body>\n{escaped}\n</body>\n</html>\n'


# FilterHtmlContent: what Exchange's safe-HTML filter takes out of a body (active content
# and what could load or point elsewhere), and the layout it writes the rest in.
UNSAFE_ELEMENTS = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link", "meta",
                   "form")
UTF8_HTML = lxml_html.HTMLParser(encoding="utf-8")
CHARSET_META = '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'


def filtered_html(text):
    """An HTML body as FilterHtmlContent=true returns it: a whole document, scripts, event
    handlers and javascript: links removed, a UTF-8 charset declared in its head, each
    structural tag on a line of its own."""
    if not text.strip():
        return text
    try:
        # bytes, so that an encoding declaration in the text is no error; they are UTF-8
        document = lxml_html.document_fromstring(text.encode("utf-8"), parser=UTF8_HTML)
    except (etree.ParserError, ValueError):  # no element at all (only comments): nothing to show
        return ""
    for element in list(document.iter(*UNSAFE_ELEMENTS)):
        element.drop_tree()
    for element in document.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in list(element.attrib.items()):
            if name.lower().startswith("on") or value.strip().lower().startswith("javascript:"):
                del element.attrib[name]
    head, body = document.find("head"), document.find("body")
    head_inner = "".join(lxml_html.tostring(e, encoding="unicode") for e in head) if head is not None else ""
    body_inner = _inner_html(body).strip() if body is not None else ""
    return (f"<html>\r\n<head>\r\n{CHARSET_META}\r\n{head_inner}</head>\r\n"
            f"<body>\r\n{body_inner} \r\n</body>\r\n</html>\r\n")


def _inner_html(element):
    return html.escape(element.text or "", quote=False) + \
        "".join(lxml_html.tostring(e, encoding="unicode") for e in element)


def _body_element(name, body_type, text):
    element = etree.Element(t(name), BodyType=body_type)
    element.text = text
    return element


def _text_element(name, text):
    element = etree.Element(t(name))
    element.text = text
    return element


def _display_list(item, source, name):
    recipients = child(item, source)
    if recipients is None:
        return _text_element(name, "")
    names = []
    for mailbox in recipients.iterfind(t("Mailbox")):
        names.append(mailbox.findtext(t("Name")) or mailbox.findtext(t("EmailAddress")) or "")
    return _text_element(name, "; ".join(names))

