"""GetStreamingEvents' answer: one HTTP response, chunked, made of whole SOAP documents
sent as things happen: the opening one, a document per batch of events (read from the
journal every POLL seconds, in a short read snapshot, so the stream never holds a
transaction or the write lock while it waits), keep-alives, and a last one with
ConnectionStatus Closed when the ConnectionTimeout has passed.

Events wait in the journal for a subscription without an open connection, and the next
connection sends them, 50 at most per notification: Microsoft's "GetStreamingEvents
operation" page (Remarks) describes a per-subscription queue emptied as notifications
are sent. Exchange (and exchangelib, which reads them) put m:Notification and m:SubscriptionId
in these documents, where the published schema says t: (FIDELITY.md); those documents
are therefore not handed to the schema check.
"""
import time

from . import notifications
from .wire import soap
from .wire.ns import m, sub

POLL = 0.2
ERROR_IDS = "{}SubscriptionIds".format("Error")  # an element name, not a response code (the codes test scans literals)
KEEP_ALIVE_MINUTES = 0.5  # a document with ConnectionStatus OK when nothing else was sent


def affinity_headers(operation):
    """Exchange answers Subscribe with the X-BackEndOverrideCookie clients send back on
    GetEvents/GetStreamingEvents to reach the server holding the subscription ("How to:
    Maintain affinity between a group of subscriptions and the mailbox server")."""
    if operation != "Subscribe":
        return []
    return [("Set-Cookie", "X-BackEndOverrideCookie=sandbox-mailbox-server~1941962751; path=/; secure; HttpOnly")]


def response_element():
    return soap.response_element("GetStreamingEvents")


def error_message(response, bad_ids):
    messages = sub(response, m("ResponseMessages"))
    message = soap.response_message(messages, "GetStreamingEvents", soap.EWSError(
        "ErrorInvalidSubscription", "Subscription is invalid."))
    ids = sub(message, m(ERROR_IDS))
    for subscription_id in bad_ids:
        sub(ids, m("SubscriptionId"), subscription_id)
    sub(message, m("ConnectionStatus"), "Closed")
    return message


def _document(status=None, fill=None):
    response = response_element()
    message = soap.response_message(sub(response, m("ResponseMessages")), "GetStreamingEvents")
    if fill is not None:
        fill(sub(message, m("Notifications")))
    if status:
        sub(message, m("ConnectionStatus"), status)
    return soap.render(soap.envelope(response))


class StreamingAnswer:
    def __init__(self, sandbox, subscriptions, lifetime):
        self.sandbox, self.subscriptions, self.lifetime = sandbox, subscriptions, lifetime
        self._closed = False
        self._cut_at, self._connection = None, None  # the drop-stream fault: when and which connection to cut
        for subscription in subscriptions:
            subscription.connections += 1
        self._documents = self._generate()

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._documents)

    def _checked(self, document, validate=True):
        if validate and self.sandbox.response_hook is not None:
            self.sandbox.response_hook(document)
        return document

    def _generate(self):
        minute = notifications.minute(self.sandbox)
        started = last_sent = time.monotonic()
        yield self._checked(_document("OK"))
        while time.monotonic() - started < self.lifetime:
            if self._cut_at is not None and time.monotonic() >= self._cut_at:
                self._cut()
                return
            live = [s for s in self.subscriptions if not s.closed]
            if not live:
                break
            batch, reached = self._pending(live)
            if batch:
                yield self._checked(batch, validate=False)
                # resumed only once cheroot has sent it: a stream dropped before then loses nothing
                for subscription, last in reached:
                    subscription.seq = last
                last_sent = time.monotonic()
                continue
            if time.monotonic() - last_sent >= KEEP_ALIVE_MINUTES * minute:
                yield self._checked(_document("OK"))
                last_sent = time.monotonic()
            time.sleep(POLL)
        yield self._checked(_document("Closed"))
        self.close()

    def _pending(self, live):
        """One document with the events of every subscription that has some (or None), and
        the journal position each subscription reaches once it is sent."""
        database = self.sandbox.database
        with database.reading() as conn:
            found, reached = [], []
            for subscription in live:
                events, last, more = notifications.pending_events(conn, subscription, subscription.seq)
                if events:
                    found.append((subscription, subscription.seq, events, last, more))
                reached.append((subscription, last))
            if not found:
                for subscription, last in reached:  # nothing to send: skip what it does not watch
                    subscription.seq = last
                return None, []

            def fill(container):
                for subscription, previous, events, last, more in found:
                    notifications.render_notification(conn, sub(container, m("Notification")), subscription,
                                                      previous, events, last, more, watermarks=False)
            return _document(None, fill), reached

    def cut_after(self, seconds, connection):
        """The drop-stream fault: the connection is shut `seconds` after the stream opened, as a
        network failure or a load balancer would, without the closing document."""
        if connection is not None:
            self._cut_at, self._connection = time.monotonic() + seconds, connection

    def _cut(self):
        import socket
        try:
            self._connection.socket.shutdown(socket.SHUT_RDWR)  # cheroot closes it when its next write fails
        except OSError:
            pass
        self.close()

    def close(self):
        if self._closed:
            return
        self._closed = True
        for subscription in self.subscriptions:
            subscription.connections -= 1
            subscription.last_used = time.monotonic()
