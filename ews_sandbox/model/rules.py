"""Inbox rules: stored as the t:Rule sent (RuleType), run on each message delivered to
the Inbox, in priority order (lowest number first), until one with StopProcessingRules.

A rule applies when every condition it has holds and none of its exceptions does
(Microsoft's pages "Conditions", "Exceptions" and "Actions (RuleActionsType)"). Its
actions change the delivered copy (categories, importance, read), copy or move it,
delete it, forward or redirect it to sandbox users, or answer its sender with a
template. Mail the sandbox sends by itself (a forward, an automatic reply) is filed by
rules but never forwarded again, so two rules cannot bounce a message for ever.
"""
import copy as copying

from lxml import etree

from ..wire.errors import EWSError
from ..wire.ns import T, local, t
from . import attachments, folders, ids, items, oof
from .properties import child, fold, parse_bool, serialize, utc_text

# Item classes behind the boolean "Is..." predicates.
CLASS_PREDICATES = {
    "IsApprovalRequest": ("ipm.note.microsoft.approval.request",),
    "IsAutomaticReply": ("ipm.note.rules.ooftemplate.microsoft", "ipm.note.rules.replytemplate.microsoft"),
    "IsEncrypted": ("ipm.note.smime",),
    "IsMeetingRequest": ("ipm.schedule.meeting.request",),
    "IsMeetingResponse": ("ipm.schedule.meeting.resp",),
    "IsNDR": ("report.ipm.note.ndr",),
    "IsPermissionControlled": ("ipm.note.secure",),
    "IsReadReceipt": ("report.ipm.note.ipnrn",),
    "IsSigned": ("ipm.note.smime.multipartsigned",),
    "IsVoicemail": ("ipm.note.microsoft.voicemail",),
    "IsAutomaticForward": (),  # the sandbox marks no message as auto-forwarded
}


# Rule elements of type xs:boolean: clients may send 0/1, Exchange answers true/false.
BOOLEANS = frozenset({"IsEnabled", "IsNotSupported", "IsInError", "HasAttachments", "NotSentToMe", "SentCcMe",
                      "SentOnlyToMe", "SentToMe", "SentToOrCcMe", "Delete", "MarkAsRead", "PermanentDelete",
                      "StopProcessingRules", *CLASS_PREDICATES})


# ---- storage --------------------------------------------------------------------------

RULE = b"R"  # the kind byte of a RuleId


def rule_id_text(row):
    return ids.encode(RULE, row["mailbox_id"], row["id"])


def listing(conn, mailbox_id):
    return conn.execute("SELECT * FROM inbox_rules WHERE mailbox_id = ? ORDER BY priority, id",
                        (mailbox_id,)).fetchall()


def find(conn, mailbox_id, rule_id):
    try:
        owner, row_id = ids.decode(rule_id, RULE)
    except EWSError:
        return None
    return conn.execute("SELECT * FROM inbox_rules WHERE id = ? AND mailbox_id = ?",
                        (row_id, owner if owner == mailbox_id else -1)).fetchone()


def store(conn, mailbox_id, rule, row=None):
    for existing in rule.findall(t("RuleId")):
        rule.remove(existing)
    for element in rule.iter():
        if isinstance(element.tag, str) and local(element) in BOOLEANS and element.text in ("0", "1"):
            element.text = "true" if element.text == "1" else "false"
    priority = int((rule.findtext(t("Priority")) or "0").strip())
    if row is None:
        conn.execute("INSERT INTO inbox_rules(mailbox_id, priority, xml) VALUES (?, ?, ?)",
                     (mailbox_id, priority, serialize(rule)))
    else:
        conn.execute("UPDATE inbox_rules SET priority = ?, xml = ? WHERE id = ?",
                     (priority, serialize(rule), row["id"]))


def remove(conn, row):
    conn.execute("DELETE FROM inbox_rules WHERE id = ?", (row["id"],))


def target_folder(conn, mailbox_id, target):
    """The folders row a MoveToFolder or CopyToFolder names in the mailbox, or None."""
    if target is None or len(target) == 0:
        return None
    element = target[0]
    try:
        if local(element) == "FolderId":
            owner, folder_id = ids.decode(element.get("Id"), ids.FOLDER)
            row = folders.get(conn, folder_id)
            return row if owner == mailbox_id and row["mailbox_id"] == mailbox_id else None
        if local(element) == "DistinguishedFolderId":
            return folders.distinguished(conn, mailbox_id, element.get("Id"))
    except (EWSError, TypeError, KeyError):
        return None
    return None


# ---- matching -------------------------------------------------------------------------

def _strings(element):
    return [fold(s.text.strip()) for s in element.iter(t("String")) if s.text and s.text.strip()]


def _addresses(element):
    return {fold(a.text.strip()) for a in element.iter(t("EmailAddress")) if a.text and a.text.strip()}


def _contains(haystack, element):
    return any(needle in fold(haystack) for needle in _strings(element))


def _recipients(item, *fields):
    found = []
    for field in fields:
        container = child(item, field)
        if container is not None:
            for mailbox in container.iter(t("Mailbox")):
                found.append((mailbox.findtext(t("Name")) or "", (mailbox.findtext(t("EmailAddress")) or "").strip()))
    return found


class Message:
    """What the predicates read of a delivered copy."""

    def __init__(self, row, item, owner):
        self.row, self.item, self.owner = row, item, fold(owner["email"])
        body = child(item, "Body")
        self.body = "".join(body.itertext()) if body is not None else ""
        self.subject = item.findtext(t("Subject")) or ""
        sender = item.find(f"{t('From')}/{t('Mailbox')}")
        self.sender = ((sender.findtext(t("Name")) or "") if sender is not None else "",
                       (sender.findtext(t("EmailAddress")) or "").strip() if sender is not None else "")
        self.to = _recipients(item, "ToRecipients")
        self.cc = _recipients(item, "CcRecipients")
        self.item_class = fold(row["item_class"] or "ipm.note")

    def headers(self):
        lines = [f"From: {self.sender[0]} <{self.sender[1]}>", f"Subject: {self.subject}"]
        lines += [f"To: {name} <{address}>" for name, address in self.to]
        lines += [f"Cc: {name} <{address}>" for name, address in self.cc]
        return "\n".join(lines)

    def addressed(self, people):
        return {fold(address) for _, address in people}


def _predicate_holds(name, element, message):
    value = (element.text or "").strip()
    item, row = message.item, message.row
    if name == "Categories":
        have = {fold(c.text) for c in item.iterfind(f"{t('Categories')}/{t('String')}") if c.text}
        return bool(have & set(_strings(element)))
    if name == "ContainsBodyStrings":
        return _contains(message.body, element)
    if name == "ContainsHeaderStrings":
        return _contains(message.headers(), element)
    if name == "ContainsRecipientStrings":
        return any(_contains(f"{n} {a}", element) for n, a in message.to + message.cc)
    if name == "ContainsSenderStrings":
        return _contains(" ".join(message.sender), element)
    if name == "ContainsSubjectOrBodyStrings":
        return _contains(message.subject, element) or _contains(message.body, element)
    if name == "ContainsSubjectStrings":
        return _contains(message.subject, element)
    if name == "FromAddresses":
        return fold(message.sender[1]) in _addresses(element)
    if name == "SentToAddresses":
        return bool(message.addressed(message.to + message.cc) & _addresses(element))
    if name == "HasAttachments":
        return bool(row["has_attachments"]) == parse_bool(value)
    if name == "Importance":
        return (row["importance"] or "normal") == fold(value)
    if name == "Sensitivity":
        return fold(item.findtext(t("Sensitivity")) or "Normal") == fold(value)
    if name == "ItemClasses":
        return message.item_class in set(_strings(element))
    if name in CLASS_PREDICATES:
        is_kind = any(message.item_class.startswith(prefix) for prefix in CLASS_PREDICATES[name])
        return is_kind == parse_bool(value)
    if name in ("SentToMe", "SentCcMe", "SentToOrCcMe", "NotSentToMe", "SentOnlyToMe"):
        to, cc = message.addressed(message.to), message.addressed(message.cc)
        holds = {"SentToMe": message.owner in to, "SentCcMe": message.owner in cc,
                 "SentToOrCcMe": message.owner in to | cc, "NotSentToMe": message.owner not in to,
                 "SentOnlyToMe": to == {message.owner} and not cc}[name]
        return holds == parse_bool(value)
    if name == "WithinSizeRange":  # kilobytes, as the schema's RulePredicateSizeRangeType counts them
        size = row["size"] / 1024
        low, high = element.findtext(t("MinimumSize")), element.findtext(t("MaximumSize"))
        return (low is None or size >= int(low)) and (high is None or size <= int(high))
    if name == "WithinDateRange":
        received = row["received"] or ""
        start, end = element.findtext(t("StartDateTime")), element.findtext(t("EndDateTime"))
        return (start is None or received >= utc_text(start)) and (end is None or received < utc_text(end))
    return False  # FlaggedForAction, FromConnectedAccounts, MessageClassifications: nothing delivered has them


def applies(rule, message):
    conditions, exceptions = rule.find(t("Conditions")), rule.find(t("Exceptions"))
    if conditions is not None and not all(_predicate_holds(local(p), p, message) for p in conditions):
        return False
    return exceptions is None or not any(_predicate_holds(local(p), p, message) for p in exceptions)


# ---- running on delivery --------------------------------------------------------------

def on_delivery(conn, owner, row):
    """Run `owner`'s enabled rules on a copy just delivered to their Inbox; returns the row as
    it ends (moved: the new row), or None when a rule deleted it."""
    for rule_row in listing(conn, owner["id"]):
        rule = etree.fromstring(rule_row["xml"])
        if not parse_bool(rule.findtext(t("IsEnabled"))):
            continue
        item = etree.fromstring(row["xml"])
        if not applies(rule, Message(row, item, owner)):
            continue
        actions = rule.find(t("Actions"))
        row = _act(conn, owner, row, item, actions if actions is not None else etree.Element(t("Actions")))
        if row is None or parse_bool(actions.findtext(t("StopProcessingRules")) if actions is not None else ""):
            break
    return row


def _act(conn, owner, row, item, actions):
    wanted = {local(action): action for action in actions}
    changed = False
    if "AssignCategories" in wanted:
        categories = child(item, "Categories")
        if categories is None:
            categories = etree.SubElement(item, t("Categories"))
        have = {c.text for c in categories}
        for name in wanted["AssignCategories"].iter(t("String")):
            if name.text and name.text not in have:
                etree.SubElement(categories, t("String")).text = name.text
        changed = True
    if "MarkImportance" in wanted:
        _set(item, "Importance", wanted["MarkImportance"].text.strip())
        changed = True
    if parse_bool(wanted["MarkAsRead"].text if "MarkAsRead" in wanted else ""):
        _set(item, "IsRead", "true")
        changed = True
    if changed:  # rules act as the message is delivered: it stays unmodified
        row = items.save(conn, row, item, **items.kept_unmodified(row))
    if "CopyToFolder" in wanted:
        folder = target_folder(conn, owner["id"], wanted["CopyToFolder"])
        if folder is not None:
            items.copy(conn, row, folder)
    if not oof.sending_automatically():
        _send_on(conn, owner, row, item, wanted)
    if "MoveToFolder" in wanted:
        folder = target_folder(conn, owner["id"], wanted["MoveToFolder"])
        if folder is not None and folder["id"] != row["folder_id"]:
            row = items.move(conn, row, folder)
    if parse_bool(wanted["PermanentDelete"].text if "PermanentDelete" in wanted else ""):
        items.discard(conn, row, "SoftDelete")  # purged from view, kept in Recoverable Items
        return None
    if parse_bool(wanted["Delete"].text if "Delete" in wanted else ""):
        items.discard(conn, row, "MoveToDeletedItems")
        return None
    return row


def _set(item, name, value):
    node = child(item, name)
    if node is None:
        node = etree.SubElement(item, t(name))
    node.text = value


def _send_on(conn, owner, row, item, wanted):
    """Forward, forward as attachment, redirect, reply with a template: new mail from the sandbox."""
    from . import delivery  # delivery runs this module on every arrival
    subject = item.findtext(t("Subject")) or ""
    with oof.automatic_mail():
        for kind in ("ForwardToRecipients", "ForwardAsAttachmentToRecipients", "RedirectToRecipients"):
            if kind not in wanted:
                continue
            targets = sorted(_addresses(wanted[kind]))
            if kind == "RedirectToRecipients":  # the message itself, from its sender, headers unchanged
                delivery.deliver(conn, copying.deepcopy(item), source_item_id=row["id"], recipients=targets)
                continue
            message = _new_message(f"FW: {delivery.conversation_topic(subject)}", targets, delivery)
            if kind == "ForwardToRecipients":
                body = child(item, "Body")
                if body is not None:
                    message.append(copying.deepcopy(body))
            delivery.stamp_sent(conn, message, owner)
            for delivered in delivery.deliver(conn, message,
                                              source_item_id=row["id"] if kind == "ForwardToRecipients" else None):
                if kind == "ForwardAsAttachmentToRecipients" and delivered is not None:
                    attachments.add(conn, delivered["id"], "ItemAttachment", subject, None, None, False, row["xml"])
                    items.refresh_columns(conn, delivered, **items.kept_unmodified(delivered))
        if "ServerReplyWithMessage" in wanted:
            _reply_with_template(conn, owner, item, wanted["ServerReplyWithMessage"], delivery)


def _new_message(subject, targets, delivery):
    message = etree.Element(t("Message"), nsmap={"t": T})
    etree.SubElement(message, t("Subject")).text = subject
    recipients = etree.SubElement(message, t("ToRecipients"))
    for address in targets:
        recipients.append(delivery.mailbox_element("Mailbox", {"name": address, "email": address})[0])
    return message


def _reply_with_template(conn, owner, item, template_id, delivery):
    sender = (item.findtext(f"{t('From')}/{t('Mailbox')}/{t('EmailAddress')}") or "").strip()
    try:
        template = items.get(conn, ids.decode(template_id.get("Id"), ids.ITEM)[1])
    except EWSError:
        return
    if not sender or template["mailbox_id"] != owner["id"]:
        return
    stored = etree.fromstring(template["xml"])
    message = _new_message(stored.findtext(t("Subject")) or "", [sender], delivery)
    etree.SubElement(message, t("ItemClass")).text = "IPM.Note.Rules.ReplyTemplate.Microsoft"
    body = child(stored, "Body")
    if body is not None:
        message.append(copying.deepcopy(body))
    delivery.stamp_sent(conn, message, owner)
    delivery.deliver(conn, message)
