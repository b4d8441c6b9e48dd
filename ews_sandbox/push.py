"""Push subscriptions: a thread per subscription POSTs SendNotification to the callback.

As Exchange does (Microsoft's StatusFrequency reference): events are sent as they come;
when nothing happened for StatusFrequency minutes, a StatusEvent is sent instead. A
delivery that fails (no answer, an error status, an answer that is not
SendNotificationResult) is retried after 30 s, then 60, 120, ... doubling, until the
retries would pass StatusFrequency; then the subscription is dropped. A receiver that
answers Unsubscribe ends it. The events of a failed delivery stay pending: the retry
carries them (with any new ones).
"""
import logging
import threading
import time

import requests
from lxml import etree

from . import notifications
from .wire import soap
from .wire.ns import M, T, m, sub

log = logging.getLogger(__name__)
FIRST_RETRY_MINUTES = 0.5
POLL = 0.2


def start(sandbox, subscription):
    thread = threading.Thread(target=_run, args=(sandbox, subscription), daemon=True,
                              name=f"push-{subscription.id[:8]}")
    thread.start()


def _payload(conn, subscription, previous, events, last, more):
    request = etree.Element(m("SendNotification"), nsmap={"m": M, "t": T})
    message = soap.response_message(sub(request, m("ResponseMessages")), "SendNotification")
    notifications.render_notification(conn, sub(message, m("Notification")), subscription, previous, events, last,
                                      more)
    return soap.render(soap.envelope(request))


def _answer(response):
    """'OK', 'Unsubscribe', or None for a failed delivery."""
    if response.status_code != 200:
        return None
    try:
        root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None
    status = root.findtext(f".//{m('SubscriptionStatus')}")
    return status.strip() if status and status.strip() in ("OK", "Unsubscribe") else None


def _run(sandbox, subscription):
    minute = notifications.minute(sandbox)
    last_sent = time.monotonic()
    session = requests.Session()
    registry = notifications.registry(sandbox)
    try:
        while not subscription.closed:
            with sandbox.database.reading() as conn:
                events, last, more = notifications.pending_events(conn, subscription, subscription.seq)
                due = events or time.monotonic() - last_sent >= subscription.status_frequency
                body = _payload(conn, subscription, subscription.seq, events, last, more) if due else None
            if body is None:
                time.sleep(POLL)
                continue
            if sandbox.response_hook is not None:  # what the sandbox sends is checked like its answers
                sandbox.response_hook(body)
            answer = _deliver(session, subscription, body, minute)
            if answer is None or answer == "Unsubscribe":
                registry.remove(subscription.id)
                return
            subscription.seq, last_sent = last, time.monotonic()
    finally:
        session.close()


def _deliver(session, subscription, body, minute):
    """POST until answered or the retries would pass StatusFrequency; the answer or None."""
    waited, delay = 0.0, FIRST_RETRY_MINUTES * minute
    while not subscription.closed:
        try:
            answer = _answer(session.post(subscription.url, data=body, timeout=max(5.0, delay),
                                          headers={"Content-Type": "text/xml; charset=utf-8"}))
        except requests.RequestException:
            answer = None
        if answer is not None:
            return answer
        if waited + delay > subscription.status_frequency:
            log.info("push subscription %s dropped: %s did not answer", subscription.id, subscription.url)
            return None
        time.sleep(delay)
        waited, delay = waited + delay, delay * 2
    return None
