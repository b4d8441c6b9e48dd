"""GetUserOofSettings and SetUserOofSettings: a mailbox's automatic replies (model/oof.py
sends them). Their answers carry one ResponseMessage, not a list (Microsoft's pages
"GetUserOofSettings operation" and "SetUserOofSettings operation")."""
from lxml import etree

from ..model import directory, oof
from ..model.properties import utc_text
from ..wire.errors import EWSError
from ..wire.ns import m, sub, t
from ..wire.soap import response_element, response_message

STATES = ("Disabled", "Enabled", "Scheduled")
AUDIENCES = ("None", "Known", "All")


def _mailbox_id(ctx, body):
    address = (body.findtext(f"{t('Mailbox')}/{t('Address')}") or "").strip()
    row = directory.user_by_email(ctx.conn, address)
    if row is None:
        raise EWSError("ErrorMailRecipientNotFound", f"No mailbox has the address {address!r}.")
    directory.check_access(ctx.conn, ctx.actor["id"], row["id"])
    return row["id"]


def _single(operation, handle):
    response = response_element(operation)
    try:
        extra = handle()
        response_message(response, "")  # m:ResponseMessage
    except EWSError as error:
        response_message(response, "", error)
        extra = []
    for element in extra:
        response.append(element)
    return response


def _reply(parent, name, text):
    sub(sub(parent, t(name)), t("Message"), text or "")


def get_user_oof_settings(ctx, body):
    def handle():
        values = oof.settings(ctx.conn, _mailbox_id(ctx, body))
        node = etree.Element(t("OofSettings"))
        sub(node, t("OofState"), values["state"])
        sub(node, t("ExternalAudience"), values["audience"])
        start, end = oof.window(values)
        duration = sub(node, t("Duration"))
        sub(duration, t("StartTime"), start)
        sub(duration, t("EndTime"), end)
        _reply(node, "InternalReply", values["internal"])
        _reply(node, "ExternalReply", values["external"])
        allow = etree.Element(m("AllowExternalOof"))
        allow.text = "All"  # the organization lets automatic replies go outside it
        return [node, allow]

    return _single("GetUserOofSettings", handle)


def _parse(settings):
    state = (settings.findtext(t("OofState")) or "").strip()
    audience = (settings.findtext(t("ExternalAudience")) or "All").strip()
    if state not in STATES or audience not in AUDIENCES:
        raise EWSError("ErrorInvalidUserOofSettings", "OofState or ExternalAudience has a value EWS does not know.")
    duration = settings.find(t("Duration"))
    start = end = None
    if duration is not None:
        start, end = utc_text(duration.findtext(t("StartTime"))), utc_text(duration.findtext(t("EndTime")))
    if state == "Scheduled" and not (start and end and start < end):
        raise EWSError("ErrorInvalidScheduledOofDuration", "The scheduled duration must end after it starts.")
    return {"state": state, "audience": audience, "start": start, "end": end,
            "internal": settings.findtext(f"{t('InternalReply')}/{t('Message')}") or "",
            "external": settings.findtext(f"{t('ExternalReply')}/{t('Message')}") or ""}


def set_user_oof_settings(ctx, body):
    def handle():
        mailbox_id = _mailbox_id(ctx, body)
        settings = body.find(t("UserOofSettings"))
        if settings is None:
            raise EWSError("ErrorInvalidUserOofSettings", "UserOofSettings is missing.")
        oof.save(ctx.conn, mailbox_id, _parse(settings))
        return []

    return _single("SetUserOofSettings", handle)


# The availability service names its request elements after the operation with "Request".
OPERATIONS = {"GetUserOofSettingsRequest": get_user_oof_settings, "SetUserOofSettingsRequest": set_user_oof_settings}
