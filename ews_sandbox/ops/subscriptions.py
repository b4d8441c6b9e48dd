"""Subscribe, GetEvents, Unsubscribe and GetStreamingEvents (notifications.py keeps the
subscriptions; push.py delivers push ones; streaming.py sends the streamed answer)."""
import time

from .. import notifications, push
from ..model import folders, journal
from ..wire.errors import EWSError
from ..wire.ns import m, sub, t
from ..wire.soap import respond_each, schema_fault
from .. import streaming

NOT_FOUND = "The specified subscription was not found."


def subscribe(ctx, body):
    request = next(iter(body), None)
    kinds = {"PullSubscriptionRequest": "pull", "PushSubscriptionRequest": "push",
             "StreamingSubscriptionRequest": "streaming"}
    kind = kinds.get(request.tag.split("}")[1]) if request is not None else None
    if kind is None:
        raise schema_fault("The element 'Subscribe' has incomplete content: a subscription request is expected.")
    minute = notifications.minute(ctx.sandbox)

    def handle(_, message):
        subscription = notifications.Subscription(
            id=notifications.new_id(), kind=kind, mailbox_id=ctx.mailbox_id, folder_ids=_folders(ctx, request),
            event_types=_event_types(request), seq=journal.last_seq(ctx.conn))
        mark = request.findtext(m("Watermark")) or request.findtext(t("Watermark"))
        if mark and kind != "streaming":
            subscription.seq = notifications.read_watermark(ctx.conn, ctx.mailbox_id, mark.strip())
        if kind == "pull":
            subscription.timeout = _minutes(request, "Timeout", 1, 1440, None) * minute
        elif kind == "push":
            subscription.status_frequency = _minutes(request, "StatusFrequency", 1, 1440, 30) * minute
            subscription.url = (request.findtext(t("URL")) or "").strip()
            if not subscription.url.lower().startswith(("http://", "https://")):
                raise EWSError("ErrorInvalidPushSubscriptionUrl", "The push subscription URL is invalid.")
        if subscription.folder_ids is not None:
            for folder_id in subscription.folder_ids:
                ctx.check_access(folders.get(ctx.conn, folder_id)["mailbox_id"])
        notifications.registry(ctx.sandbox).add(subscription)
        sub(message, m("SubscriptionId"), subscription.id)
        if kind != "streaming":
            sub(message, m("Watermark"), notifications.watermark(ctx.conn, ctx.mailbox_id, subscription.seq))
        if kind == "push":
            push.start(ctx.sandbox, subscription)

    return respond_each("Subscribe", [request], handle)


def _folders(ctx, request):
    if (request.get("SubscribeToAllFolders") or "").lower() == "true":
        return None
    container = request.find(t("FolderIds"))
    if container is None or len(container) == 0:
        raise EWSError("ErrorInvalidSubscriptionRequest", "The subscription request names no folder.")
    return {ctx.folder(element)["id"] for element in container}


def _event_types(request):
    container = request.find(t("EventTypes"))
    names = {(e.text or "").strip() for e in container} if container is not None else set()
    if not names or names - set(notifications.EVENT_TYPES):
        raise schema_fault("The request failed schema validation: EventTypes must list known event types.")
    return frozenset(names)


def _minutes(request, name, low, high, default):
    text = (request.findtext(t(name)) or "").strip()
    if not text and default is not None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise schema_fault(f"The request failed schema validation: {name} must be from {low} to {high}.")
    return int(text)


def _subscription(ctx, subscription_id):
    found = notifications.registry(ctx.sandbox).get(subscription_id, notifications.minute(ctx.sandbox))
    if found is None or found.mailbox_id != ctx.mailbox_id:
        raise EWSError("ErrorSubscriptionNotFound", NOT_FOUND)
    return found


def get_events(ctx, body):
    def handle(_, message):
        subscription = _subscription(ctx, (body.findtext(m("SubscriptionId")) or "").strip())
        if subscription.kind != "pull":
            raise EWSError("ErrorInvalidSubscription", "Subscription is invalid.")
        previous = notifications.read_watermark(ctx.conn, ctx.mailbox_id, (body.findtext(m("Watermark")) or "").strip())
        events, last, more = notifications.pending_events(ctx.conn, subscription, previous)
        subscription.seq, subscription.last_used = last, time.monotonic()  # the timeout restarts
        notifications.render_notification(ctx.conn, sub(message, m("Notification")), subscription, previous,
                                          events, last, more)

    return respond_each("GetEvents", [body], handle)


def unsubscribe(ctx, body):
    def handle(_, message):
        subscription = _subscription(ctx, (body.findtext(m("SubscriptionId")) or "").strip())
        if subscription.kind == "push":  # a push subscription ends when its receiver answers Unsubscribe
            raise EWSError("ErrorInvalidSubscription", "Subscription is invalid.")
        notifications.registry(ctx.sandbox).remove(subscription.id)

    return respond_each("Unsubscribe", [body], handle)


def get_streaming_events(ctx, body):
    container = body.find(m("SubscriptionIds"))
    requested = [(e.text or "").strip() for e in (container if container is not None else [])]
    timeout = (body.findtext(m("ConnectionTimeout")) or "").strip()
    if not requested or not timeout.isdigit() or not 1 <= int(timeout) <= 30:
        raise schema_fault("The request failed schema validation: SubscriptionIds and a ConnectionTimeout "
                           "from 1 to 30 are required.")
    registry, minute = notifications.registry(ctx.sandbox), notifications.minute(ctx.sandbox)
    found = [registry.get(i, minute) for i in requested]
    bad = [i for i, s in zip(requested, found) if s is None or s.kind != "streaming" or s.mailbox_id != ctx.mailbox_id]
    response = streaming.response_element()
    if bad:  # Exchange then sends no notification for the good ones either
        streaming.error_message(response, bad)
        return response
    ctx.live_answer = streaming.StreamingAnswer(ctx.sandbox, found, int(timeout) * minute)
    return response


OPERATIONS = {
    "Subscribe": subscribe,
    "GetEvents": get_events,
    "Unsubscribe": unsubscribe,
    "GetStreamingEvents": get_streaming_events,
}
