"""Out-of-office (automatic replies): a mailbox's settings and the replies they send.

As Exchange does it (Microsoft's pages "SetUserOofSettings operation" and "ExternalAudience"):
the state is Disabled, Enabled, or Scheduled (on only inside its Duration); senders of the
mailbox's own organization get the internal reply; outside senders get the external one
only as ExternalAudience allows (None: nobody, Known: senders in the mailbox's Contacts
folder, All: everyone). Each sender is answered once while the settings stand: changing
them starts the list of answered senders afresh. No one is answered for an automatic
message (another automatic reply, a rule's forward), which keeps two mailboxes that are
both away from answering each other for ever.
"""
import json
import threading
from contextlib import contextmanager

from lxml import etree

from ..wire.ns import T, t
from .properties import now_text

DEFAULT = {"state": "Disabled", "audience": "All", "start": None, "end": None, "internal": "", "external": ""}
_automatic = threading.local()  # set while the sandbox itself sends (replies, forwards)


@contextmanager
def automatic_mail():
    """Messages sent inside this block are automatic: they get no automatic reply."""
    previous = getattr(_automatic, "on", False)
    _automatic.on = True
    try:
        yield
    finally:
        _automatic.on = previous


def sending_automatically():
    return getattr(_automatic, "on", False)


def settings(conn, mailbox_id):
    row = conn.execute("SELECT value FROM mailbox_settings WHERE mailbox_id = ? AND name = 'oof'",
                       (mailbox_id,)).fetchone()
    return {**DEFAULT, **json.loads(row["value"])} if row else dict(DEFAULT)


def save(conn, mailbox_id, values):
    conn.execute("INSERT OR REPLACE INTO mailbox_settings(mailbox_id, name, value) VALUES (?, 'oof', ?)",
                 (mailbox_id, json.dumps(values)))
    conn.execute("DELETE FROM oof_replies WHERE mailbox_id = ?", (mailbox_id,))


def is_on(values, now=None):
    if values["state"] == "Enabled":
        return True
    if values["state"] != "Scheduled" or not values["start"] or not values["end"]:
        return False
    return values["start"] <= (now or now_text()) < values["end"]


def _domain(address):
    return address.rpartition("@")[2].casefold()


def is_internal(owner_email, sender):
    """The sandbox's organization owns its users' domains; a sender in another domain (a user
    the admin API added there) is outside it."""
    return _domain(owner_email) == _domain(sender)


def is_known(conn, mailbox_id, sender):
    """A sender with a contact in the mailbox's Contacts folder (any of its addresses)."""
    rows = conn.execute("SELECT i.xml FROM items i JOIN folders f ON f.id = i.folder_id WHERE f.mailbox_id = ? "
                        "AND f.distinguished = 'contacts' AND i.element = 'Contact'", (mailbox_id,))
    wanted = sender.casefold()
    for row in rows:
        addresses = etree.fromstring(row["xml"]).iter(t("Entry"), t("EmailAddress"))
        if any((a.text or "").strip().casefold().removeprefix("smtp:") == wanted for a in addresses):
            return True
    return False


def reply_for(conn, owner, sender, now=None):
    """The reply text `owner` (a users row) would send `sender` now, or None."""
    values = settings(conn, owner["id"])
    if not is_on(values, now):
        return None
    if is_internal(owner["email"], sender):
        return values["internal"]
    if values["audience"] == "All" or (values["audience"] == "Known" and is_known(conn, owner["id"], sender)):
        return values["external"]
    return None


def on_delivery(conn, owner, item):
    """A message reached `owner`'s Inbox: answer its sender once, if the settings say so."""
    sender = item.findtext(f"{t('From')}/{t('Mailbox')}/{t('EmailAddress')}") or ""
    sender = sender.strip()
    if not sender or sending_automatically() or sender.casefold() == owner["email"].casefold():
        return
    text = reply_for(conn, owner, sender)
    if text is None:
        return
    answered = conn.execute("INSERT OR IGNORE INTO oof_replies(mailbox_id, sender) VALUES (?, ?)",
                            (owner["id"], sender))
    if answered.rowcount == 0:
        return
    _send_reply(conn, owner, sender, item, text)


def _send_reply(conn, owner, sender, original, text):
    from . import delivery  # delivery calls this module on every arrival
    reply = etree.Element(t("Message"), nsmap={"t": T})
    etree.SubElement(reply, t("ItemClass")).text = "IPM.Note.Rules.OofTemplate.Microsoft"
    etree.SubElement(reply, t("Subject")).text = "Automatic reply: " + (original.findtext(t("Subject")) or "")
    etree.SubElement(reply, t("Body"), BodyType="HTML" if "<" in text else "Text").text = text
    reply.append(delivery.mailbox_element("ToRecipients", {"name": sender, "email": sender}))
    with automatic_mail():
        delivery.stamp_sent(conn, reply, owner)
        delivery.deliver(conn, reply)


def window(values):
    """(start, end) to answer with: the stored window, else today (as Exchange answers)."""
    if values["start"] and values["end"]:
        return values["start"], values["end"]
    today = now_text()[:10]
    return f"{today}T00:00:00Z", f"{today}T23:59:59Z"


