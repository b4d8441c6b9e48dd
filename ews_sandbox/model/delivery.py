"""Sending: stamp a message as sent, keep the sender's copy, and deliver a copy to the
Inbox of every sandbox user among its recipients (distribution lists expanded).

Recipients outside the sandbox are accepted and go nowhere, as mail to the Internet
would. Bcc recipients get their copy, and no copy shows the Bcc line but the sender's;
nor the sender's categories, flag or reminder.
"""
import copy
import uuid

from lxml import etree

from ..wire.errors import EWSError
from ..wire.ns import t
from . import attachments, directory, folders, items, oof, rules
from .properties import child, now_text

RECIPIENT_FIELDS = ("ToRecipients", "CcRecipients", "BccRecipients")
# The sender's own marks on a message do not travel with it: Exchange's transport strips
# categories, and flags and reminders belong to the mailbox that set them.
PERSONAL_PROPERTIES = ("BccRecipients", "Categories", "Flag", "ReminderIsSet", "ReminderDueBy",
                       "ReminderMinutesBeforeStart")


def mailbox_element(tag, row):
    node = etree.Element(t(tag))
    mailbox = etree.SubElement(node, t("Mailbox"))
    etree.SubElement(mailbox, t("Name")).text = row["name"]
    etree.SubElement(mailbox, t("EmailAddress")).text = row["email"]
    etree.SubElement(mailbox, t("RoutingType")).text = "SMTP"
    etree.SubElement(mailbox, t("MailboxType")).text = "Mailbox"
    return node


def recipient_addresses(item):
    found = []
    for field in RECIPIENT_FIELDS:
        container = child(item, field)
        if container is not None:
            found += [a.text.strip() for a in container.iter(t("EmailAddress")) if a.text and a.text.strip()]
    return found


def complete_recipients(conn, item):
    """Fill the display names and mailbox types of recipients the directory knows."""
    for field in RECIPIENT_FIELDS + ("ReplyTo",):
        container = child(item, field)
        if container is None:
            continue
        for mailbox in container.iter(t("Mailbox")):
            address = mailbox.findtext(t("EmailAddress"))
            row = conn.execute("SELECT * FROM users WHERE email = ?", ((address or "").strip(),)).fetchone()
            if row is None:
                continue
            for existing in list(mailbox):
                mailbox.remove(existing)
            etree.SubElement(mailbox, t("Name")).text = row["name"]
            etree.SubElement(mailbox, t("EmailAddress")).text = row["email"]
            etree.SubElement(mailbox, t("RoutingType")).text = "SMTP"
            etree.SubElement(mailbox, t("MailboxType")).text = "PublicDL" if row["kind"] == "dl" else "Mailbox"


def check_send_as(item, mailbox_row, actor_row):
    """A message leaves as its mailbox's owner: a From naming anyone else needs the Send As
    right, which no sandbox user has (ErrorSendAsDenied, as Exchange answers without it).
    The Sender becomes whoever sends: the owner, or a delegate sending on the owner's behalf."""
    address = item.findtext(f"{t('From')}/{t('Mailbox')}/{t('EmailAddress')}")
    if address and address.strip().casefold() != mailbox_row["email"].casefold():
        raise EWSError("ErrorSendAsDenied", "The user account which was used to submit this request does not "
                                            "have the right to send mail on behalf of the specified sending account.")
    for existing in item.findall(t("Sender")):
        item.remove(existing)
    item.append(mailbox_element("Sender", actor_row if actor_row["id"] != mailbox_row["id"] else mailbox_row))


def stamp_sent(conn, item, sender_row, sent_at=None):
    """What Exchange sets on a message as it leaves: sender, time, message id, read."""
    for tag in ("From", "Sender"):
        if child(item, tag) is None:
            item.append(mailbox_element(tag, sender_row))
    for tag, value in (("DateTimeSent", sent_at or now_text()),
                       ("InternetMessageId", f"<{uuid.uuid4().hex}@{sender_row['email'].split('@')[-1]}>"),
                       ("IsRead", "true")):
        existing = child(item, tag)
        if existing is None:
            existing = etree.SubElement(item, t(tag))
        if tag != "InternetMessageId" or not existing.text:
            existing.text = value
    if child(item, "ConversationTopic") is None:
        etree.SubElement(item, t("ConversationTopic")).text = conversation_topic(item.findtext(t("Subject")) or "")
    complete_recipients(conn, item)


def conversation_topic(subject):
    """The subject without reply and forward prefixes."""
    text = subject.strip()
    while True:
        head = text[:4].upper()
        if head in ("RE: ", "FW: ") or text[:5].upper() == "FWD: ":
            text = text[5 if text[:5].upper() == "FWD: " else 4:].strip()
        else:
            return text


def deliver(conn, item, source_item_id=None, received=None, recipients=None):
    """Put a copy of a sent message in each recipient's Inbox (or of `recipients`, addresses
    a rule redirects it to); returns the new rows, as the recipients' inbox rules left them."""
    delivered = []
    for user in directory.expand_recipients(conn, recipient_addresses(item) if recipients is None else recipients):
        received_copy = copy.deepcopy(item)
        for name in PERSONAL_PROPERTIES:
            for personal in received_copy.findall(t(name)):
                received_copy.remove(personal)
        child(received_copy, "IsRead").text = "false"
        inbox = folders.distinguished(conn, user["id"], "inbox")
        add_attachments = None if source_item_id is None else (
            lambda row_id: attachments.copy_all(conn, source_item_id, row_id))
        row = arrive(conn, user, inbox, received_copy, received=received, add_attachments=add_attachments)
        if row is not None:
            delivered.append(row)
    return delivered


def arrive(conn, user, folder, item, received=None, created=None, add_attachments=None):
    """File a received message in `folder` of `user`'s mailbox, stamped as received by
    them (ReceivedBy, ReceivedRepresenting: what transport sets). In the Inbox it is a
    delivery: the out-of-office reply and the inbox rules run. `add_attachments(row_id)`
    stores its attachments; `created` backdates DateTimeCreated (a message seeded as received
    in the past). Returns the row as the rules left it (None: a rule deleted it)."""
    for tag in ("ReceivedBy", "ReceivedRepresenting"):
        for existing in item.findall(t(tag)):
            item.remove(existing)
        item.append(mailbox_element(tag, user))
    row = items.insert(conn, folder, item, received=received, created=created)
    if add_attachments is not None:
        add_attachments(row["id"])
        row = items.refresh_columns(conn, row, **items.kept_unmodified(row))
    if folder["distinguished"] != "inbox":
        return row
    oof.on_delivery(conn, user, item)
    return rules.on_delivery(conn, user, row)
