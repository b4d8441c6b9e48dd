"""MIME content of a message: rendered from its properties for GetItem, and read into
properties when CreateItem or UpdateItem brings MimeContent.

Identifier headers (Message-ID, In-Reply-To, References) travel as they were sent, in
both directions: Python's email package parses and refolds them, and cuts an id at a
colon (`<1.2026-11-28T21:05:45Z@host>` became `<1.2026-11-28T21`), where Exchange keeps
the header as it came.
"""
import email.policy
import re
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, parsedate_to_datetime

from ..model import attachments
from ..model.properties import child, utc_text
from .ns import t, sub
from .text import header_safe


def _addresses(item, name):
    container = child(item, name)
    if container is None:
        return []
    found = []
    for mailbox in container.iter(t("Mailbox")):
        address = header_safe(mailbox.findtext(t("EmailAddress")) or "")
        display = header_safe(mailbox.findtext(t("Name")))
        found.append(f'"{display}" <{address}>' if display else address)
    return found


def render(conn, row, item):
    message = EmailMessage(policy=email.policy.SMTP)
    for header, name in (("From", "From"), ("Sender", "Sender"), ("To", "ToRecipients"), ("Cc", "CcRecipients"),
                         ("Reply-To", "ReplyTo")):
        values = _addresses(item, name)
        if values and not (header == "Sender" and message["From"]):
            message[header] = ", ".join(values)
    message["Subject"] = header_safe(item.findtext(t("Subject")) or "")
    sent = item.findtext(t("DateTimeSent")) or row["created"]
    message["Date"] = format_datetime(datetime.fromisoformat(sent.replace("Z", "+00:00")))
    body = child(item, "Body")
    text = body.text if body is not None and body.text else ""
    subtype = "html" if body is not None and body.get("BodyType") == "HTML" else "plain"
    message.set_content(text, subtype=subtype)
    for attachment in attachments.listing(conn, row["id"]):
        if attachment["kind"] != "FileAttachment":
            continue
        content = attachments.get(conn, attachment["id"])["content"]
        maintype, _, subtype = header_safe(attachment["content_type"] or "application/octet-stream").partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=header_safe(attachment["name"]) or "attachment",
                               cid=header_safe(attachment["content_id"]))
    return _identifier_lines(item) + message.as_bytes()


def _identifier_lines(item):
    """The identifier headers as raw lines, never parsed or folded (UTF-8 as RFC 6532 allows)."""
    lines = b""
    for header, name in IDENTIFIER_HEADERS:
        value = " ".join((item.findtext(t(name)) or "").split())
        if value:
            lines += f"{header}: {value}\r\n".encode()
    return lines


def to_properties(item, raw, replace=False):
    """Fill an item element from RFC 822 bytes (subject, body, addresses, dates, ids);
    properties the item has already are kept unless `replace`. Returns the attachments
    as (name, content type, content id, bytes)."""
    message = BytesParser(policy=email.policy.default).parsebytes(raw)

    def wanted(name):
        existing = child(item, name)
        if existing is not None and replace:
            item.remove(existing)
        return existing is None or replace

    if message["Subject"] is not None and wanted("Subject"):
        sub(item, t("Subject"), str(message["Subject"]))
    part = message.get_body(preferencelist=("html", "plain"))
    if part is not None and wanted("Body"):
        sub(item, t("Body"), part.get_content(), BodyType="HTML" if part.get_content_subtype() == "html" else "Text")
    for header, name in (("To", "ToRecipients"), ("Cc", "CcRecipients"), ("From", "From")):
        if message[header] and wanted(name):
            container = sub(item, t(name))
            addresses = getaddresses([str(message[header])])
            for display, address in addresses[:1] if name == "From" else addresses:
                _mailbox(container, display, address)
    raw_headers = _raw_headers(message)
    for header, name in IDENTIFIER_HEADERS:
        if raw_headers.get(header.casefold()) and wanted(name):
            sub(item, t(name), raw_headers[header.casefold()])
    if message["Date"] and wanted("DateTimeSent"):
        sub(item, t("DateTimeSent"), utc_text(parsedate_to_datetime(str(message["Date"])).isoformat()))
    return [(p.get_filename(), p.get_content_type(), p.get("Content-ID"), p.get_payload(decode=True))
            for p in message.iter_attachments()]


IDENTIFIER_HEADERS = (("Message-ID", "InternetMessageId"), ("In-Reply-To", "InReplyTo"), ("References", "References"))
_FOLD = re.compile(r"\r?\n[ \t]+")


def _raw_headers(message):
    """Header values as they stand in the message (unfolded, UTF-8 read back), by folded name."""
    found = {}
    for name, value in message.raw_items():
        text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if isinstance(value, str) else value
        found.setdefault(name.casefold(), _FOLD.sub(" ", str(text)).strip())
    return found


def _mailbox(parent, display, address):
    mailbox = sub(parent, t("Mailbox"))
    if display:
        sub(mailbox, t("Name"), display)
    sub(mailbox, t("EmailAddress"), address)
    sub(mailbox, t("RoutingType"), "SMTP")
    sub(mailbox, t("MailboxType"), "Mailbox")
    return mailbox

