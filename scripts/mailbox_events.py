"""Notification events (pull, push) as rows to print, for pull_notifications.py and push_listener.py.

Copy it with the script that imports it, beside ews_config.py and ews_cli.py.
"""
import json


def event_row(event, subscription_id=None):
    """One event as a dict: event (CreatedEvent, NewMailEvent, ModifiedEvent, DeletedEvent, MovedEvent,
    CopiedEvent, FreeBusyChangedEvent, StatusEvent), kind (item, folder or None), id and changekey of what
    changed, its folder, the old id and folder of a move or copy, the time and the watermark."""
    def ident(attribute):
        value = getattr(event, attribute, None)
        return (value.id, getattr(value, "changekey", None)) if value is not None else (None, None)

    item, folder = ident("item_id"), ident("folder_id")
    row = {"event": type(event).__name__, "kind": "item" if item[0] else "folder" if folder[0] else None,
           "id": item[0] or folder[0], "changekey": item[1] or folder[1], "parent_folder_id": ident("parent_folder_id")[0]}
    old = ident("old_item_id")[0] or ident("old_folder_id")[0]
    if old:
        row["old_id"], row["old_parent_folder_id"] = old, ident("old_parent_folder_id")[0]
    if getattr(event, "unread_count", None) is not None:
        row["unread_count"] = event.unread_count
    timestamp = getattr(event, "timestamp", None)
    row["timestamp"] = timestamp.isoformat() if timestamp else None
    row["watermark"] = event.watermark
    if subscription_id:
        row["subscription_id"] = subscription_id
    return row


def describe(row):
    if row["event"] == "StatusEvent":
        return "StatusEvent      (nothing new; the subscription is alive)"
    extra = f" unread={row['unread_count']}" if "unread_count" in row else ""
    return f"{row['event']:<16} {row['kind'] or '':<6} [{(row['id'] or '')[-16:]}]{extra}"


def emit(rows, as_json):
    for row in rows:
        print(json.dumps(row) if as_json else describe(row), flush=True)
