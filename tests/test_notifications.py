"""Pull, push and streaming notifications through exchangelib (and a receiver run here).

Microsoft's pages checked: "Timeout" (a pull subscription idle past Timeout minutes is
gone: ErrorSubscriptionNotFound), "StatusFrequency" (push retries after 30 s, then
doubling, until StatusFrequency minutes; a status ping when nothing happened), and
"GetStreamingEvents operation" (ConnectionTimeout minutes, then ConnectionStatus Closed).
The sandbox's minute is shortened here (Sandbox.notification_minute) to keep tests fast.
"""
import http.server
import threading
import time

import pytest
from exchangelib import Folder, Message
from exchangelib.errors import ErrorSubscriptionNotFound
from exchangelib.properties import CopiedEvent, CreatedEvent, DeletedEvent, ModifiedEvent, MovedEvent, NewMailEvent

from tests.conftest import ALICE


@pytest.fixture
def extra_sessions():
    """Room in exchangelib's session pool for `count` open streams besides other calls;
    put back after the test (exchangelib reuses the protocol, pool size included)."""
    grown = []

    def grow(account, count):
        account.protocol._session_pool_maxsize += count
        for _ in range(count):
            account.protocol.increase_poolsize()
        grown.append((account, count))

    yield grow
    for account, count in grown:
        for _ in range(count):
            account.protocol.decrease_poolsize()
        account.protocol._session_pool_maxsize -= count


@pytest.fixture
def short_minute(sandbox):
    sandbox.notification_minute = 1.0
    yield
    del sandbox.notification_minute


def _events(notifications):
    return [event for notification in notifications for event in notification.events]


def test_pull_sees_every_event_type(clean, connect):
    account = connect()
    other = Folder(parent=account.inbox, name="pull-other").save()
    with account.inbox.pull_subscription() as (subscription_id, watermark):
        Message(account=account, to_recipients=[ALICE], subject="hello").send()
        delivered = _events(account.inbox.get_events(subscription_id, watermark))
        item = account.inbox.get(subject="hello")
        item.subject = "hello again"
        item.save(update_fields=["subject"])
        copied = item.copy(to_folder=other)
        item.move(to_folder=other)
        events = delivered + _events(account.inbox.get_events(subscription_id, delivered[-1].watermark))
    kinds = {type(event) for event in events}
    assert {NewMailEvent, CreatedEvent, ModifiedEvent, MovedEvent}.issubset(kinds)
    # the delivery changed the Inbox's counts: a ModifiedEvent of the folder, with its UnreadCount
    inbox_changes = [e for e in delivered if isinstance(e, ModifiedEvent) and e.folder_id is not None]
    assert [(e.folder_id.id, e.unread_count) for e in inbox_changes] == [(account.inbox.id, 1)]
    # CopiedEvent and DeletedEvent: a subscription on every folder sees them
    with account.pull_subscription() as (subscription_id, watermark):
        in_other = list(other.filter(subject="hello again"))
        in_other[0].copy(to_folder=account.inbox)
        in_other[0].delete()
        kinds = {type(event) for event in _events(account.inbox.get_events(subscription_id, watermark))}
    assert {CopiedEvent, DeletedEvent}.issubset(kinds)
    assert copied is not None


def test_idle_pull_subscription_expires(clean, connect, short_minute):
    account = connect()
    subscription_id, watermark = account.inbox.subscribe_to_pull(timeout=1)
    list(account.inbox.get_events(subscription_id, watermark))  # within the timeout: fine
    time.sleep(1.5)
    with pytest.raises(ErrorSubscriptionNotFound):
        list(account.inbox.get_events(subscription_id, watermark))


class _Receiver(http.server.BaseHTTPRequestHandler):
    answers = []    # statuses to answer, in order; then OK
    received = []   # (time, body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((time.monotonic(), body))
        status = type(self).answers.pop(0) if type(self).answers else "OK"
        if status == "fail":
            self.send_response(500)
            self.end_headers()
            return
        answer = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                  b'<m:SendNotificationResult xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
                  b'<m:SubscriptionStatus>' + status.encode() + b'</m:SubscriptionStatus>'
                  b'</m:SendNotificationResult></s:Body></s:Envelope>')
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def test_push_delivers_retries_and_stops_on_unsubscribe(clean, connect, short_minute):
    from exchangelib.services import SendNotification
    _Receiver.answers, _Receiver.received = ["fail", "fail", "OK", "Unsubscribe"], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        account = connect()
        account.inbox.subscribe_to_push(callback_url=f"http://127.0.0.1:{server.server_port}/", status_frequency=2)
        Message(account=account, folder=account.inbox, subject="pushed").save()
        deadline = time.monotonic() + 8
        while len(_Receiver.received) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        times = [at for at, _ in _Receiver.received]
        assert len(times) == 4
        # retries after half a (shortened) minute, then a whole one: 30 s and 60 s in Exchange's minutes
        assert 0.4 < times[1] - times[0] < 1.2 and 0.9 < times[2] - times[1] < 1.8
        parsed = list(SendNotification(protocol=None).parse(_Receiver.received[2][1]))
        assert any(isinstance(e, CreatedEvent) for n in parsed for e in n.events)
        time.sleep(1.5)  # answered Unsubscribe: nothing more, not even status pings
        assert len(_Receiver.received) == 4
    finally:
        server.shutdown()


def test_streaming_sees_a_new_message_quickly_and_survives_reconnects(clean, connect, short_minute, extra_sessions):
    account = connect()
    folder = Folder(parent=account.inbox, name="streamed").save()
    list(folder.sync_items())
    subscription_id = folder.subscribe_to_streaming()
    extra_sessions(account, 1)
    made = {}

    def make_later():
        time.sleep(0.5)
        made["at"] = time.monotonic()
        made["item"] = Message(account=account, folder=folder, subject="streamed").save()

    threading.Thread(target=make_later).start()
    seen_at = None
    for notification in folder.get_streaming_events(subscription_id, connection_timeout=1):
        for event in notification.events:
            if isinstance(event, CreatedEvent) and seen_at is None:
                seen_at, created = time.monotonic(), event
    assert seen_at is not None and seen_at - made["at"] < 2
    assert created.item_id.id == made["item"].id
    # the connection closed after its (shortened) minute; changes made meanwhile ...
    between = [Message(account=account, folder=folder, subject=f"between {n}").save() for n in range(3)]
    # ... come on the next connection to the same subscription
    events = _events(folder.get_streaming_events(subscription_id, connection_timeout=1))
    assert {e.item_id.id for e in events if isinstance(e, CreatedEvent)} == {item.id for item in between}
    # and a sync from the state saved before the stream misses none of them
    synced = {item.id for kind, item in folder.sync_items() if kind == "create"}
    assert synced == {made["item"].id} | {item.id for item in between}
    folder.unsubscribe(subscription_id)


def test_several_streams_at_once_while_other_requests_are_served(clean, connect, short_minute, extra_sessions):
    """Two open streams hold two server workers; a GetItem meanwhile answers at once, and
    each stream sees the change in its own folder."""
    account = connect()
    first, second = (Folder(parent=account.inbox, name=name).save() for name in ("stream-a", "stream-b"))
    extra_sessions(account, 2)
    seen = {}

    def listen(folder):
        subscription_id = folder.subscribe_to_streaming()
        for notification in folder.get_streaming_events(subscription_id, connection_timeout=2):
            for event in notification.events:
                if isinstance(event, CreatedEvent):
                    seen.setdefault(folder.name, event.item_id.id)

    listeners = [threading.Thread(target=listen, args=(folder,)) for folder in (first, second)]
    for listener in listeners:
        listener.start()
    time.sleep(0.5)  # both streams open
    started = time.monotonic()
    made = {folder.name: Message(account=account, folder=folder, subject="x").save().id for folder in (first, second)}
    assert [item.id for item in first.filter(subject="x")] == [made["stream-a"]]
    assert time.monotonic() - started < 2
    for listener in listeners:
        listener.join(10)
    assert seen == made


WRITER = """
import sys
from ews_sandbox.model import db, directory, folders, items
from ews_sandbox.model.properties import parse_item
database = db.Database(sys.argv[1])
with database.transaction() as conn:
    inbox = folders.distinguished(conn, directory.user_by_email(conn, sys.argv[2])["id"], "inbox")
    items.insert(conn, inbox, parse_item(b'<t:Message xmlns:t="http://schemas.microsoft.com/exchange/services/'
                                         b'2006/types"><t:Subject>from another process</t:Subject></t:Message>'))
"""


def test_another_process_writing_the_file_produces_events_and_sync_changes(clean, connect, sandbox):
    import subprocess
    import sys
    from pathlib import Path
    account = connect()
    list(account.inbox.sync_items())
    with account.inbox.pull_subscription() as (subscription_id, watermark):
        subprocess.run([sys.executable, "-c", WRITER, str(sandbox.db_path), ALICE], check=True, timeout=60,
                       cwd=Path(__file__).resolve().parent.parent)
        events = _events(account.inbox.get_events(subscription_id, watermark))
    created = [e.item_id.id for e in events if isinstance(e, CreatedEvent)]
    [(kind, item)] = list(account.inbox.sync_items())
    assert (kind, item.subject) == ("create", "from another process") and created == [item.id]


def test_drop_stream_fault_cuts_an_open_stream_and_the_next_connection_gets_what_waited(
        clean, connect, short_minute, admin):
    import requests
    account = connect(max_connections=2)  # a dropped stream's connection is retired from the pool
    subscription_id = account.inbox.subscribe_to_streaming()
    admin.add_fault({"kind": "drop-stream", "ms": 400})
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # no closing document: the socket was shut
        list(account.inbox.get_streaming_events(subscription_id, connection_timeout=1))
    assert 0.3 < time.monotonic() - started < 1.0  # before the (shortened) minute of the connection
    admin.clear_faults()
    waited = Message(account=account, folder=account.inbox, subject="made while cut off").save()
    events = _events(account.inbox.get_streaming_events(subscription_id, connection_timeout=1))
    assert [e.item_id.id for e in events if isinstance(e, CreatedEvent)] == [waited.id]
    account.inbox.unsubscribe(subscription_id)
