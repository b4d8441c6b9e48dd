"""Subscriptions and the events they see, read from the change journal.

Subscriptions live in the server process's memory, as Exchange keeps them on the server
that made them: a restart forgets them (clients resubscribe), while watermarks stay
meaningful because they are journal positions. Events are derived from journal rows,
so writes by any process on the same file are seen.
"""
import secrets
import threading
import time
import weakref
from dataclasses import dataclass, field

from .model import ids, journal, sync_state
from .model.properties import now_text
from .wire.errors import EWSError
from .wire.ns import sub, t

EVENT_TYPES = ("CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "NewMailEvent",
               "FreeBusyChangedEvent")
ACTION_EVENTS = {"create": "CreatedEvent", "update": "ModifiedEvent", "read": "ModifiedEvent",
                 "delete": "DeletedEvent", "move": "MovedEvent", "copy": "CopiedEvent"}
MAX_EVENTS = 50  # per GetEvents answer or streamed notification; MoreEvents says when more wait


@dataclass
class Subscription:
    id: str
    kind: str                       # pull, push or streaming
    mailbox_id: int
    folder_ids: object              # a set of folder row ids, or None: every folder
    event_types: frozenset
    seq: int                        # the journal position events are read after
    timeout: float = 0              # pull: seconds idle before it expires
    url: str = None                 # push: the callback
    status_frequency: float = 0     # push: seconds
    last_used: float = field(default_factory=time.monotonic)
    connections: int = 0            # streaming: open GetStreamingEvents answers
    closed: bool = False


class Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.subscriptions = {}

    def add(self, subscription):
        with self.lock:
            self.subscriptions[subscription.id] = subscription

    def get(self, subscription_id, minute):
        with self.lock:
            found = self.subscriptions.get(subscription_id)
            if found is not None and _expired(found, minute):
                del self.subscriptions[subscription_id]
                found.closed = True
                found = None
            return found

    def remove(self, subscription_id):
        with self.lock:
            found = self.subscriptions.pop(subscription_id, None)
            if found is not None:
                found.closed = True
            return found


# Exchange drops a streaming subscription that has had no open connection for 30 minutes.
STREAMING_IDLE_MINUTES = 30


def _expired(subscription, minute):
    idle = time.monotonic() - subscription.last_used
    if subscription.kind == "pull":
        return idle > subscription.timeout
    if subscription.kind == "streaming":
        return subscription.connections == 0 and idle > STREAMING_IDLE_MINUTES * minute
    return False


_registries = weakref.WeakKeyDictionary()


def registry(sandbox):
    if sandbox not in _registries:
        _registries[sandbox] = Registry()
    return _registries[sandbox]


def minute(sandbox):
    """Seconds in a minute of subscription time (timeouts, ConnectionTimeout, StatusFrequency):
    60, or less where a test shortens it (Sandbox.notification_minute)."""
    return getattr(sandbox, "notification_minute", 60.0)


def new_id():
    return secrets.token_urlsafe(24)


def watermark(conn, mailbox_id, seq):
    return sync_state.encode(conn, {"k": "w", "b": mailbox_id, "s": seq})


def read_watermark(conn, mailbox_id, text):
    state = sync_state.decode(conn, text, "ErrorInvalidWatermark", "The watermark is invalid.")
    if state.get("k") != "w" or state.get("b") != mailbox_id:
        raise EWSError("ErrorInvalidWatermark", "The watermark is invalid.")
    return state["s"]


def pending_events(conn, subscription, after, limit=MAX_EVENTS):
    """[(seq, event name, row)] after journal position `after`; and the position read up to
    (the last event's when `limit` cut the list, else the journal's end)."""
    upto = journal.last_seq(conn)
    rows = journal.rows_after(conn, after, mailbox_id=subscription.mailbox_id, upto=upto)
    moved_to = {row["object_id"]: row["seq"] for row in rows if row["action"] in ("move", "copy")}
    moved_from = {row["other_id"] for row in rows if row["action"] == "move"}
    events, folder_rows = [], {}
    for row in rows:
        if not _watched(subscription, row):
            continue
        action = row["action"]
        if row["kind"] == "item":
            if row["flags"] & journal.ITEM_ASSOCIATED and action not in ("move", "copy"):
                continue
            if action in ("create", "update", "read") and moved_to.get(row["object_id"], 0) > row["seq"]:
                continue  # the Moved/Copied marker that follows speaks for it
            if action == "delete" and row["object_id"] in moved_from:
                continue
        names = [ACTION_EVENTS[action]]
        if row["kind"] == "item" and action == "create" and row["flags"] & journal.ITEM_MESSAGE \
                and not row["flags"] & journal.ITEM_DRAFT:
            names.append("NewMailEvent")
        for name in names:
            if name in subscription.event_types:
                events.append((row["seq"], name, row))
        if row["kind"] == "item" and action in COUNTING_ACTIONS and "ModifiedEvent" in subscription.event_types:
            folder_change = _folder_counts_changed(conn, row, folder_rows)
            if folder_change is not None:
                events.append((row["seq"], "ModifiedEvent", folder_change))
        if len(events) >= limit:
            return events[:limit], events[limit - 1][0], True
    return events, upto, False


# Item changes that change their folder's counts: Exchange then also reports the folder as
# modified, with its UnreadCount (Microsoft's GetStreamingEvents response example).
COUNTING_ACTIONS = ("create", "delete", "read", "move", "copy")


def _folder_counts_changed(conn, row, cache):
    """A journal-like row for the ModifiedEvent of `row`'s folder, or None if it is gone."""
    folder_id = row["folder_id"]
    if folder_id not in cache:
        folder = conn.execute("SELECT id, mailbox_id, parent_id, change_key FROM folders WHERE id = ?",
                              (folder_id,)).fetchone()
        unread = conn.execute("SELECT COUNT(*) FROM items WHERE folder_id = ? AND is_associated = 0 AND is_read = 0",
                              (folder_id,)).fetchone()[0]
        cache[folder_id] = None if folder is None else {
            "kind": "folder", "mailbox_id": folder["mailbox_id"], "object_id": folder["id"],
            "folder_id": folder["parent_id"], "change_key": folder["change_key"], "at": row["at"],
            "unread": unread}
    return cache[folder_id]


def _watched(subscription, row):
    if subscription.folder_ids is None:
        return True
    return row["folder_id"] in subscription.folder_ids or row["other_folder_id"] in subscription.folder_ids or (
        row["kind"] == "folder" and row["object_id"] in subscription.folder_ids)


def render_notification(conn, notification, subscription, previous, events, last, more, watermarks=True):
    """Fill a Notification element with `events`, or a StatusEvent when there are none.
    Streamed notifications carry no watermarks (Microsoft's GetStreamingEvents example)."""
    sub(notification, t("SubscriptionId"), subscription.id)
    if watermarks:
        sub(notification, t("PreviousWatermark"), watermark(conn, subscription.mailbox_id, previous))
        sub(notification, t("MoreEvents"), "true" if more else "false")
    if not events:
        status = sub(notification, t("StatusEvent"))
        sub(status, t("Watermark"), watermark(conn, subscription.mailbox_id, last))
    for seq, name, row in events:
        _event(conn, notification, subscription, seq if watermarks else None, name, row)
    return notification


def _event(conn, notification, subscription, seq, name, row):
    node = sub(notification, t(name))
    if seq is not None:
        sub(node, t("Watermark"), watermark(conn, subscription.mailbox_id, seq))
    sub(node, t("TimeStamp"), row["at"] or now_text())
    kind = ids.ITEM if row["kind"] == "item" else ids.FOLDER
    tag = "ItemId" if row["kind"] == "item" else "FolderId"
    sub(node, t(tag), Id=ids.encode(kind, row["mailbox_id"], row["object_id"]), ChangeKey=row["change_key"] or "")
    parent_id = row["folder_id"] if row["folder_id"] is not None else row["object_id"]
    sub(node, t("ParentFolderId"), Id=ids.encode(ids.FOLDER, row["mailbox_id"], parent_id))
    if name == "ModifiedEvent" and "unread" in row.keys():
        sub(node, t("UnreadCount"), str(row["unread"]))
    if name in ("MovedEvent", "CopiedEvent"):
        if row["kind"] == "item":
            sub(node, t("OldItemId"), Id=ids.encode(ids.ITEM, row["mailbox_id"], row["other_id"]))
        else:
            sub(node, t("OldFolderId"), Id=ids.encode(ids.FOLDER, row["mailbox_id"], row["object_id"]))
        old_parent = row["other_folder_id"] if row["other_folder_id"] is not None else parent_id
        sub(node, t("OldParentFolderId"), Id=ids.encode(ids.FOLDER, row["mailbox_id"], old_parent))
