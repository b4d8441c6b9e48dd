"""Notification events (pull, push) as rows to print, for pull_notifications.py and push_listener.py;
and --until/--count (stop after N matching events or changes), shared with sync_streaming.py.

Copy it with the script that imports it, beside ews_config.py and ews_cli.py.
"""
import json
import sys

from ews_config import ConfigError

# --until KIND: the item events it counts (pull_notifications.py) and the sync changes (sync_streaming.py,
# whose sync cannot tell a delivery from an item moved in: there new-mail and created are the same)
UNTIL = {
    "new-mail": ({"NewMailEvent"}, {"create"}),
    "created": ({"CreatedEvent"}, {"create"}),
    "modified": ({"ModifiedEvent"}, {"update", "read_flag_change"}),
    "deleted": ({"DeletedEvent"}, {"delete"}),
    "moved": ({"MovedEvent"}, None),
    "copied": ({"CopiedEvent"}, None),
    "any": (None, None),
}


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
    if row.get("gone"):
        extra += "  (gone: deleted or moved before it could be read)"
    elif row.get("subject") is not None or row.get("sender") or row.get("received"):
        extra += f"  {row.get('subject') or '(no subject)'}  from {row.get('sender') or '?'}  {row.get('received') or ''}"
    return f"{row['event']:<16} {row['kind'] or '':<6} [{(row['id'] or '')[-16:]}]{extra}".rstrip()


def emit(rows, as_json):
    for row in rows:
        print(json.dumps(row) if as_json else describe(row), flush=True)


def add_until_arguments(parser, where):
    """--until KIND and --count N; `where` is 'events' (pull) or 'changes' (sync_streaming.py)."""
    kinds = [kind for kind, (events, changes) in UNTIL.items() if (events if where == "events" else changes)
             is not None or kind == "any"]
    parser.add_argument("--until", choices=kinds, metavar="KIND",
                        help=f"stop (exit 0) after --count item {where} of this kind: {', '.join(kinds)}; "
                             "exit 1 if --duration or a signal ends the run first")
    parser.add_argument("--count", type=int, metavar="N", help="how many --until " + where + " end the run "
                        "(default 1; --count alone means --until any)")


def check_until(args):
    if args.count is not None and args.count < 1:
        raise ConfigError(f"--count {args.count}: give 1 or more")
    if args.count and not args.until:
        args.until = "any"
    args.count = args.count or 1


class Until:
    """Counts the rows --until matches; `done` once --count of them were seen."""

    def __init__(self, kind, count, column):
        self.kind, self.count, self.seen = kind, count, 0
        self.names = UNTIL[kind][0 if column == "event" else 1] if kind else None
        self.column = column

    def see(self, row):
        """True when this row is the one that ends the run."""
        if self.kind and row.get("kind") == "item" and (self.names is None or row[self.column] in self.names):
            self.seen += 1
            return self.seen == self.count
        return False

    @property
    def done(self):
        return self.kind is not None and self.seen >= self.count

    def report_shortfall(self, seconds):
        """Exit code of a run that ended: 0 without --until or once done, else 1 with one line on stderr."""
        if self.kind is None or self.done:
            return 0
        what = "item" if self.kind == "any" else self.kind
        if self.seen:
            print(f"ews: only {self.seen} of {self.count} {what} events within {seconds:.0f} s", file=sys.stderr)
        else:
            print(f"ews: no {what} event within {seconds:.0f} s", file=sys.stderr)
        return 1
