"""Sending exactly once: a key of our own on each message sent, so that a send whose answer
was lost is looked up before it is sent again (send_email.py, reply_forward.py).

Copy it with the script that imports it, beside ews_config.py and ews_cli.py.
"""
from ews_cli import attempt, outcome_unknown
from ews_config import ServerError, retry_budget


PROPERTY_SET = "8d3f1c52-6f0e-4b7a-9c1d-2e4a5b6c7d80"  # this bundle's named properties (make your own: uuid4)


def register_send_once_key():
    """The send-once key: a named property of our own on the messages we send, so that a send
    whose answer was lost can be looked up. Returns its ExtendedProperty class."""
    from exchangelib import ExtendedProperty, Message

    class SendOnceKey(ExtendedProperty):
        property_set_id = PROPERTY_SET
        property_name = "SendOnceKey"
        property_type = "String"

    if "send_once_key" not in {field.name for field in Message.FIELDS}:
        Message.register("send_once_key", SendOnceKey)
    return Message.get_field_by_fieldname("send_once_key").value_cls


def with_send_once_key(response, key):
    """A reply, reply-all or forward (exchangelib's ReplyToItem...) that carries the send-once key.
    Their EWS elements are messages and may hold extended properties, but exchangelib's classes
    have no room for one: a subclass adds it, in the schema's place (after Body)."""
    from exchangelib.fields import ExtendedPropertyField
    from exchangelib.properties import Fields
    base = type(response)
    field = ExtendedPropertyField("send_once_key", value_cls=register_send_once_key())
    names = [f.name for f in base.FIELDS]
    fields = Fields(*base.FIELDS[:names.index("body") + 1], field, *base.FIELDS[names.index("body") + 1:])
    keyed = type(base.__name__, (base,), {"FIELDS": fields, "__module__": __name__})
    return keyed(account=response.account, send_once_key=key, **{name: getattr(response, name) for name in names})


def send_once(send, key, folder, what="the message"):
    """send() once: what it sends carries `key` (send_once_key); when the answer is lost, `folder`
    (Sent Items, or Drafts for a draft) is searched for the key before sending again. With no
    folder to look in, or no retry policy, the outcome is unknown: say so, and how to check."""
    def settle(pending):
        return [] if folder.filter(send_once_key=key).count() else pending
    try:
        attempt(lambda pending: [send()], [key], settle if folder is not None else None)
    except Exception as error:
        if not outcome_unknown(error):
            raise
        where = f"look for it in {folder.name}" if folder is not None else "ask its recipients"
        raise ServerError(f"outcome unknown: {what} may have been sent ({str(error).splitlines()[0][:100]}); "
                          f"{where} before retrying, or rerun with --send-once-key {key}, which sends only "
                          "if no message with that key is there")


def attach_once(item, attachments):
    """item.attach() for each attachment (one CreateAttachment each). When an answer is lost, the
    item's attachments are read again: one already there (by name, beyond those it had) is not
    attached twice."""
    from collections import Counter

    def read():  # the names of the item's attachments; and its change key, which each attachment changes
        [fresh] = item.account.fetch([(item.id, None)], only_fields=["attachments"])
        item.changekey = fresh.changekey
        return Counter(attachment.name for attachment in fresh.attachments or [])

    expected = read() if attachments and retry_budget().max_wait > 0 else Counter()
    for attachment in attachments:
        attempt(lambda pending: [item.attach(attachment)], [attachment],
                lambda pending: [] if read()[attachment.name] > expected[attachment.name] else pending)
        expected[attachment.name] += 1


def already_sent(folder, key):
    """True when `folder` holds a message with send-once key `key` (a rerun with --send-once-key)."""
    return folder is not None and bool(folder.filter(send_once_key=key).count())
