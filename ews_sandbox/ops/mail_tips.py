"""GetMailTips: what a client shows before sending, per recipient (Microsoft's pages
"GetMailTips operation" and "MailTips").

The sandbox answers, as asked in MailTipsRequested: the out-of-office reply the sender would
get now (internal or external text, or none, by the recipient's ExternalAudience), with its
window when scheduled; whether the mailbox is full (never: the sandbox keeps no quotas); the
members of a distribution list (TotalMemberCount, and ExternalMemberCount, those outside the
sender's organization), a mailbox counting as one; the largest message the organization
accepts; and InvalidRecipient for an address in the organization's domains that names no one.
A recipient outside the organization counts itself as one external member, which is how a
client learns to show its "external recipient" tip.
"""
from ..model import directory, oof
from ..wire.ns import m, sub, t
from ..wire.soap import response_element, response_message

ALL_TIPS = ("OutOfOfficeMessage", "MailboxFullStatus", "CustomMailTip", "ExternalMemberCount", "TotalMemberCount",
            "MaxMessageSize", "DeliveryRestriction", "ModerationStatus", "InvalidRecipient")
# Exchange 2016's default for the organization (Get-TransportConfig MaxSendSize): 10 MB.
MAX_MESSAGE_SIZE = 10 * 1024 * 1024


def _organization_domains(conn):
    return {row["email"].rpartition("@")[2].casefold() for row in conn.execute("SELECT email FROM users")}


def _members(conn, entry):
    """Users behind a directory entry (a list expanded, nested lists too, each once)."""
    return directory.expand_recipients(conn, [entry["email"]])


def _tips(conn, parent, address, sender, wanted):
    node = sub(parent, m("MailTips"))
    recipient = sub(node, t("RecipientAddress"))
    sub(recipient, t("EmailAddress"), address)
    sub(recipient, t("RoutingType"), "SMTP")
    sub(node, t("PendingMailTips"), "")
    entry = directory.entry_by_email(conn, address)
    domain = address.rpartition("@")[2].casefold()
    if "OutOfOfficeMessage" in wanted:
        out_of_office = sub(node, t("OutOfOffice"))
        reply = None
        if entry is not None and entry["kind"] != "dl":
            reply = oof.reply_for(conn, entry, sender)
        sub(sub(out_of_office, t("ReplyBody")), t("Message"), reply or None)
        values = oof.settings(conn, entry["id"]) if reply is not None else None
        if values is not None and values["state"] == "Scheduled":
            duration = sub(out_of_office, t("Duration"))
            sub(duration, t("StartTime"), values["start"])
            sub(duration, t("EndTime"), values["end"])
    if "MailboxFullStatus" in wanted and entry is not None and entry["kind"] != "dl":
        sub(node, t("MailboxFull"), "false")
    sender_domain = sender.rpartition("@")[2].casefold()
    members = _members(conn, entry) if entry is not None else []
    external = sum(1 for user in members if user["email"].rpartition("@")[2].casefold() != sender_domain)
    if entry is None:
        members, external = [address], int(domain != sender_domain)
    if "TotalMemberCount" in wanted:
        sub(node, t("TotalMemberCount"), str(len(members)))
    if "ExternalMemberCount" in wanted:
        sub(node, t("ExternalMemberCount"), str(external))
    if "MaxMessageSize" in wanted:
        sub(node, t("MaxMessageSize"), str(MAX_MESSAGE_SIZE))
    if "DeliveryRestriction" in wanted:
        sub(node, t("DeliveryRestricted"), "false")
    if "ModerationStatus" in wanted:
        sub(node, t("IsModerated"), "false")
    if "InvalidRecipient" in wanted:
        sub(node, t("InvalidRecipient"), "true" if entry is None and domain in _organization_domains(conn) else "false")


def get_mail_tips(ctx, body):
    sender = (body.findtext(f"{m('SendingAs')}/{t('EmailAddress')}") or ctx.actor["email"] or "").strip()
    wanted = set((body.findtext(m("MailTipsRequested")) or "All").split())
    if "All" in wanted:
        wanted = set(ALL_TIPS)
    response = response_element("GetMailTips")
    response.set("ResponseClass", "Success")
    sub(response, m("ResponseCode"), "NoError")
    recipients = body.find(m("Recipients"))
    addresses = [(mailbox.findtext(t("EmailAddress")) or "").strip()
                 for mailbox in (recipients if recipients is not None else [])]
    if addresses:
        messages = sub(response, m("ResponseMessages"))
        for address in addresses:
            message = response_message(messages, "MailTips")
            message.tag = m("MailTipsResponseMessageType")
            _tips(ctx.conn, message, address, sender, wanted)
    return response


OPERATIONS = {"GetMailTips": get_mail_tips}
