"""MIME content of a message: rendered from its properties for GetItem, and read into
properties when CreateItem brings MimeContent."""
import email.policy
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
    if item.findtext(t("InternetMessageId")):
        message["Message-ID"] = header_safe(item.findtext(t("InternetMessageId")))
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
    return message.as_bytes()


def to_properties(item, raw):
    """Fill an item element from RFC 822 bytes (subject, body, addresses, dates)."""
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    if message["Subject"] is not None and child(item, "Subject") is None:
        sub(item, t("Subject"), str(message["Subject"]))
    part = message.get_body(preferencelist=("html", "plain"))
    if part is not None and child(item, "Body") is None:
        sub(item, t("Body"), part.get_content(), BodyType="HTML" if part.get_content_subtype() == "html" else "Text")
    for header, name in (("To", "ToRecipients"), ("Cc", "CcRecipients")):
        if message[header] and child(item, name) is None:
            container = sub(item, t(name))
            for display, address in getaddresses([str(message[header])]):
                _mailbox(container, display, address)
    if message["From"] and child(item, "From") is None:
        display, address = getaddresses([str(message["From"])])[0]
        _mailbox(sub(item, t("From")), display, address)
    if message["Message-ID"] and child(item, "InternetMessageId") is None:
        sub(item, t("InternetMessageId"), str(message["Message-ID"]))
    if message["Date"] and child(item, "DateTimeSent") is None:
        sub(item, t("DateTimeSent"), utc_text(parsedate_to_datetime(str(message["Date"])).isoformat()))
    return [(p.get_filename(), p.get_content_type(), p.get("Content-ID"), p.get_payload(decode=True))
            for p in message.iter_attachments()]


def _mailbox(parent, display, address):
    mailbox = sub(parent, t("Mailbox"))
    if display:
        sub(mailbox, t("Name"), display)
    sub(mailbox, t("EmailAddress"), address)
    sub(mailbox, t("RoutingType"), "SMTP")
    sub(mailbox, t("MailboxType"), "Mailbox")
    return mailbox

