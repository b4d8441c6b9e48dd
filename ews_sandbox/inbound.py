"""Mail from outside, for tests: POST /_sandbox/messages delivers messages into a mailbox as
if they came in from the Internet or from a colleague, through the model (admin.py routes it).

A message is made from fields, from raw MIME (RFC 822 text, or base64 for bytes), or both
(fields win over the MIME's headers). The sender may be anyone, inside the tenant or not; the
received time may lie in the past; the message lands read or unread, with file attachments,
in any folder of the mailbox. What transport sets on a delivered message is set here as on
any delivery (From and Sender, InternetMessageId, DateTimeSent, ReceivedBy,
ReceivedRepresenting, IsRead false unless asked); a message filed in the Inbox is a delivery:
the mailbox's inbox rules and automatic reply run, and subscriptions see a NewMailEvent.
Nothing is sent: no copy goes to the sender or to other recipients.
"""
from datetime import datetime, timezone
from email.utils import getaddresses, parseaddr

from lxml import etree

from .model import attachments, delivery, directory, folders
from .model.properties import now_text, utc_text
from .wire import mime
from .wire.ns import T, t
from .wire.text import decode_base64

FIELDS = {"mailbox", "folder", "from", "to", "cc", "subject", "body", "body_type", "received", "sent", "is_read",
          "importance", "categories", "attachments", "mime", "mime_base64", "message_id"}
ATTACHMENT_FIELDS = {"name", "content", "content_base64", "content_type", "content_id", "is_inline"}
DEFAULT_SENDER = "sender@external.example"  # when neither `from` nor the MIME names one
MAX_MESSAGES = 5000  # a request's worth (the admin API reads bodies up to 1 MB anyway)


class InboundError(ValueError):
    """A request the sandbox cannot deliver; `status` is the HTTP status to answer."""

    def __init__(self, message, status="400 Bad Request"):
        super().__init__(message)
        self.status = status


def deliver_all(conn, messages):
    """Deliver each message (a dict of FIELDS) in order; returns what each became."""
    if isinstance(messages, dict):
        return deliver_one(conn, messages)
    if not isinstance(messages, list) or not messages or len(messages) > MAX_MESSAGES:
        raise InboundError(f"send a message object or a list of 1 to {MAX_MESSAGES} of them")
    answers = []
    for number, message in enumerate(messages):
        try:
            answers.append(deliver_one(conn, message))
        except InboundError as e:
            raise InboundError(f"message {number}: {e}", e.status)
    return answers


def deliver_one(conn, body):
    if not isinstance(body, dict):
        raise InboundError("each message must be a JSON object")
    unknown = set(body) - FIELDS
    if unknown:
        raise InboundError(f"unknown field(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(FIELDS))}")
    if not isinstance(body.get("mailbox"), str) or not body["mailbox"]:
        raise InboundError("mailbox is required: the address of the sandbox mailbox to deliver into")
    owner = directory.user_by_email(conn, body["mailbox"].strip())
    if owner is None:
        raise InboundError(f"no sandbox mailbox {body['mailbox']}", "404 Not Found")
    folder = folder_at(conn, owner["id"], body.get("folder") or "inbox")
    received = _time(body, "received") or now_text()
    item, files = _message(conn, body, owner)
    sender = _sender(conn, item)
    sent = _time(body, "sent") or item.findtext(t("DateTimeSent")) or received
    delivery.stamp_sent(conn, item, sender, sent_at=sent)  # From, Sender, message id, topic, names
    item.find(t("IsRead")).text = "true" if _flag(body, "is_read") else "false"

    def add_attachments(row_id):
        for name, content_type, content_id, is_inline, content in files:
            attachments.add(conn, row_id, "FileAttachment", name, content_type, content_id, is_inline, content)

    # created with the received time: the store made the item when it arrived
    row = delivery.arrive(conn, owner, folder, item, received=received, created=received,
                          add_attachments=add_attachments if files else None)
    answer = {"mailbox": owner["email"], "subject": item.findtext(t("Subject")) or "", "received": received,
              "item_id": None, "change_key": None, "folder": None}
    if row is not None:  # None: an inbox rule deleted it
        from .model.items import item_id_text
        answer.update(item_id=item_id_text(row), change_key=row["change_key"],
                      folder=folder_path(conn, folders.get(conn, row["folder_id"])))
    return answer


# ---- folders --------------------------------------------------------------------------

def folder_at(conn, mailbox_id, path):
    """A folder by well-known name ('inbox', 'junkemail', 'Sent Items': the DistinguishedFolderId
    or the default folder's English name, any case, in any mailbox language) or by path of
    display names below the top of the mailbox ('Inbox/Alerts', 'Archive/2024'), whose first
    level may also be a well-known name."""
    if not isinstance(path, str) or not path.strip("/ "):
        raise InboundError("folder must be a well-known folder name or a path such as Inbox/Alerts")
    names = [name.strip() for name in path.strip("/").split("/")]
    top = folders.distinguished(conn, mailbox_id, "msgfolderroot")
    folder = _child(conn, top, names[0]) or _well_known(conn, mailbox_id, names[0])
    if folder is None:
        raise InboundError(f"folder {path!r}: no folder {names[0]!r} at the top of the mailbox and no "
                           "well-known folder of that name (inbox, junkemail, sentitems, archive, ...)", "404 Not Found")
    for name in names[1:]:
        found = _child(conn, folder, name)
        if found is None:
            raise InboundError(f"folder {path!r}: {folder['name']!r} has no folder {name!r} (create it first, "
                               "e.g. with exchangelib's Folder(parent=..., name=...).save())", "404 Not Found")
        folder = found
    return folder


def _child(conn, parent, name):
    return conn.execute("SELECT * FROM folders WHERE parent_id = ? AND name = ? COLLATE NOCASE",
                        (parent["id"], name)).fetchone()


def _well_known(conn, mailbox_id, name):
    role = "".join(name.split()).replace("-", "").casefold()  # 'Junk E-mail' -> 'junkemail'
    return conn.execute("SELECT * FROM folders WHERE mailbox_id = ? AND role = ?", (mailbox_id, role)).fetchone()


def folder_path(conn, row):
    """'Inbox/Alerts': display names below the top of the mailbox (or of its archive)."""
    names = []
    while row is not None and row["role"] not in ("msgfolderroot", "root", "archivemsgfolderroot", "archiveroot"):
        names.append(row["name"])
        row = folders.get(conn, row["parent_id"]) if row["parent_id"] else None
    return "/".join(reversed(names))


# ---- the message ----------------------------------------------------------------------

def _message(conn, body, owner):
    """The t:Message from the fields, then the MIME for what the fields left out; and the
    attachments as (name, content type, content id, inline, bytes)."""
    item = etree.Element(t("Message"), nsmap={"t": T})
    if body.get("subject") is not None:
        etree.SubElement(item, t("Subject")).text = _text(body, "subject")
    if body.get("body") is not None:
        body_type = body.get("body_type") or "Text"
        if body_type not in ("Text", "HTML"):
            raise InboundError("body_type must be Text or HTML")
        etree.SubElement(item, t("Body"), BodyType=body_type).text = _text(body, "body")
    if body.get("importance") is not None:
        if body["importance"] not in ("Low", "Normal", "High"):
            raise InboundError("importance must be Low, Normal or High")
        etree.SubElement(item, t("Importance")).text = body["importance"]
    categories = _list(body, "categories")
    if categories:
        container = etree.SubElement(item, t("Categories"))
        for name in categories:
            etree.SubElement(container, t("String")).text = name
    for field, tag in (("to", "ToRecipients"), ("cc", "CcRecipients")):
        addresses = _addresses(body, field) if body.get(field) is not None else []
        if addresses:
            container = etree.SubElement(item, t(tag))
            for name, address in addresses:
                _mailbox(container, name, address)
    if body.get("from") is not None:
        (name, address), = _addresses(body, "from", single=True)
        _mailbox(etree.SubElement(item, t("From")), name or address, address)
    if body.get("message_id") is not None:
        etree.SubElement(item, t("InternetMessageId")).text = _text(body, "message_id")
    files = [_attachment(number, a) for number, a in enumerate(_list(body, "attachments", dict))]
    raw = _mime(body)
    if raw is not None:
        try:
            imported = mime.to_properties(item, raw)
        except (ValueError, TypeError, IndexError, LookupError) as e:
            raise InboundError(f"mime: cannot read it as a message: {e}")
        files = [(name or "attachment", content_type, content_id, False, content or b"")
                 for name, content_type, content_id, content in imported] + files
    if item.find(t("ToRecipients")) is None:  # addressed to the mailbox it is delivered to
        _mailbox(etree.SubElement(item, t("ToRecipients")), owner["name"], owner["email"])
    if item.find(t("From")) is None:
        _mailbox(etree.SubElement(item, t("From")), DEFAULT_SENDER, DEFAULT_SENDER)
    etree.SubElement(item, t("IsRead")).text = "false"
    delivery.complete_recipients(conn, item)
    return item, files


def _sender(conn, item):
    """The From as a directory row: the sandbox's own entry for a tenant address, else the name given."""
    address = item.findtext(f"{t('From')}/{t('Mailbox')}/{t('EmailAddress')}").strip()
    row = directory.entry_by_email(conn, address)
    if row is not None:
        from_box = item.find(f"{t('From')}/{t('Mailbox')}")
        for existing in list(from_box):
            from_box.remove(existing)
        for tag, value in (("Name", row["name"]), ("EmailAddress", row["email"]), ("RoutingType", "SMTP"),
                           ("MailboxType", "Mailbox")):
            etree.SubElement(from_box, t(tag)).text = value
        return row
    name = item.findtext(f"{t('From')}/{t('Mailbox')}/{t('Name')}") or address
    return {"name": name, "email": address}


def _mailbox(container, name, address):
    mailbox = etree.SubElement(container, t("Mailbox"))
    etree.SubElement(mailbox, t("Name")).text = name or address
    etree.SubElement(mailbox, t("EmailAddress")).text = address
    etree.SubElement(mailbox, t("RoutingType")).text = "SMTP"
    etree.SubElement(mailbox, t("MailboxType")).text = "Mailbox"


def _attachment(number, entry):
    unknown = set(entry) - ATTACHMENT_FIELDS
    if unknown:
        raise InboundError(f"attachments[{number}]: unknown field(s): {', '.join(sorted(unknown))}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise InboundError(f"attachments[{number}]: name is required")
    if ("content" in entry) == ("content_base64" in entry):
        raise InboundError(f"attachments[{number}]: give content (text) or content_base64, one of them")
    if "content" in entry:
        if not isinstance(entry["content"], str):
            raise InboundError(f"attachments[{number}]: content must be text (bytes go in content_base64)")
        content = entry["content"].encode()
    else:
        try:
            content = decode_base64(str(entry["content_base64"]))
        except ValueError as e:
            raise InboundError(f"attachments[{number}]: content_base64: {e}")
    content_type = entry.get("content_type") or "application/octet-stream"
    return name, content_type, entry.get("content_id"), bool(entry.get("is_inline")), content


def _mime(body):
    if body.get("mime") is not None and body.get("mime_base64") is not None:
        raise InboundError("give mime (text) or mime_base64, not both")
    if body.get("mime") is not None:
        return _text(body, "mime").encode()
    if body.get("mime_base64") is not None:
        try:
            return decode_base64(str(body["mime_base64"]))
        except ValueError as e:
            raise InboundError(f"mime_base64: {e}")
    return None


# ---- field checks ---------------------------------------------------------------------

def _text(body, name):
    if not isinstance(body[name], str):
        raise InboundError(f"{name} must be a string")
    return body[name]


def _flag(body, name):
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InboundError(f"{name} must be true or false")
    return value


def _list(body, name, kind=str):
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise InboundError(f"{name} must be a list of {'objects' if kind is dict else 'strings'}")
    return value


def _addresses(body, name, single=False):
    """[(display name, address)] of 'Name <a@b.c>' or 'a@b.c' strings (a list, or one string)."""
    value = body[name]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values) or (single and len(values) != 1):
        raise InboundError(f"{name} must be {'an address' if single else 'an address or a list of addresses'}")
    found = [parseaddr(v) if single else getaddresses([v])[0] for v in values]
    for display, address in found:
        if "@" not in address or any(c.isspace() for c in address):
            raise InboundError(f"{name}: {value!r} holds no email address (a@b.example or 'Name <a@b.example>')")
    return found


def _time(body, name):
    """An ISO 8601 time with a zone ('2024-01-31T08:00:00Z', '...+02:00') -> UTC text."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InboundError(f"{name} must be an ISO 8601 date-time with a zone, such as 2024-01-31T08:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InboundError(f"{name}: {value!r} is not an ISO 8601 date-time")
    if parsed.tzinfo is None:
        raise InboundError(f"{name}: {value!r} has no zone; add Z or an offset such as +02:00")
    if not datetime(1601, 1, 2, tzinfo=timezone.utc) <= parsed <= datetime(4500, 1, 1, tzinfo=timezone.utc):
        raise InboundError(f"{name}: {value!r} is outside what Exchange stores (1601 to 4500)")
    return utc_text(parsed.isoformat())
