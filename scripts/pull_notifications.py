#!/usr/bin/env python3
"""Poll a pull subscription on chosen folders and print the events it collects.

Subscribes to pull notifications (every event type) on the chosen folders, then asks for
the events every --interval seconds (GetEvents from the last watermark, again at once while
the answer says more are waiting) and prints them (JSON lines with --json). A new, created
or modified item comes with its subject, sender and received time, read in one GetItem per
batch of events (an item deleted or moved since is shown as gone). A subscription that
expired (idle past --timeout minutes, or the server restarted) is made again, from now:
events in between are not replayed, so a consumer that must miss nothing runs
sync_mailbox.py after such a gap (the script says so on stderr). Runs --duration seconds or
until SIGINT/SIGTERM, then unsubscribes; with --until KIND it ends (exit 0) after --count
item events of that kind (new-mail, created, modified, deleted, moved, copied, any), and
exits 1 with one line ("ews: no new-mail event within 60 s") if the run ends first.

Costs: Subscribe once, one GetEvents per --interval (more when events pile up), one GetItem
per batch holding new, created or modified items, Unsubscribe.
For events within a second, without polling, use sync_streaming.py.

Exit codes: 0 done (with --until: the --count-th event came); 1 the server refused, or --until
was not met before --duration or a signal (one line: "ews: no new-mail event within 60 s"); 2 usage.

Examples:
  pull_notifications.py --interval 30
  pull_notifications.py --folder Inbox --folder "Sent Items" --json --duration 300
  pull_notifications.py --until new-mail --duration 60          # wait for the next mail, print it, exit
  pull_notifications.py --until new-mail --count 3 --json --duration 600

Copy with: ews_config.py, ews_cli.py, ews_folders.py, mailbox_events.py
"""
import argparse
import signal
import sys
import threading
import time

import ews_cli
import ews_config
import ews_folders
import mailbox_events


def check(args):
    args.interval = (1 if args.until else 10) if args.interval is None else args.interval
    if args.interval <= 0 or not 1 <= args.timeout <= 1440:
        raise ews_config.ConfigError("--interval must be above 0 seconds and --timeout 1 to 1440 minutes")
    if args.duration is not None and args.duration <= 0:
        raise ews_config.ConfigError(f"--duration {args.duration}: give a number of seconds above 0")
    args.folder = args.folder or ["Inbox"]
    for path in args.folder:
        ews_cli.check_folder_path(path, "--folder")


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("--folder", action="append", metavar="PATH", help="a folder to watch (repeatable; default Inbox)")
    parser.add_argument("--interval", type=float, metavar="SECONDS", help="seconds between polls (default 10; 1 with --until)")
    parser.add_argument("--timeout", type=int, default=30, metavar="MINUTES",
                        help="minutes without a poll after which the server drops the subscription (default 30)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until SIGINT)")
    mailbox_events.add_until_arguments(parser, "events")
    args = ews_cli.parse_args(parser, argv, mailbox_events.check_until, check)
    until = mailbox_events.Until(args.until, args.count, "event")
    stop = threading.Event()  # SIGINT, SIGTERM: finish the poll under way, unsubscribe, leave
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())  # an exception could tear a request and keep its connection

    with ews_config.connect(args) as ews:
        from exchangelib.errors import ErrorSubscriptionNotFound
        from exchangelib.folders import FolderCollection
        account = ews.account()
        folders = [ews_folders.folder_by_path(account, path) for path in args.folder]
        watched = FolderCollection(account=account, folders=folders)
        started = time.monotonic()
        deadline = None if args.duration is None else started + args.duration
        subscription_id, watermark = watched.subscribe_to_pull(timeout=args.timeout)
        try:
            while not stop.is_set() and not until.done and (deadline is None or time.monotonic() < deadline):
                try:
                    # get_events() repeats GetEvents while MoreEvents is true; each answer's watermarks move on
                    for notification in folders[0].get_events(subscription_id, watermark):
                        rows = [mailbox_events.event_row(event) for event in notification.events]
                        rows = with_details(account, [row for row in rows if row["event"] != "StatusEvent"])
                        watermark = notification.events[-1].watermark if notification.events else watermark
                        for row in rows:
                            mailbox_events.emit([row], args.json)
                            if until.see(row):  # the --count-th: the rest of the batch is left unprinted
                                break
                        if until.done:
                            break
                except ErrorSubscriptionNotFound:  # expired: a new one, from now
                    print("ews: the subscription expired; subscribed again, events in between are not replayed "
                          "(run sync_mailbox.py to catch up)", file=sys.stderr)
                    subscription_id, watermark = watched.subscribe_to_pull(timeout=args.timeout)
                if not until.done:
                    stop.wait(args.interval if deadline is None else max(0, min(args.interval, deadline - time.monotonic())))
        finally:
            try:
                watched.unsubscribe(subscription_id)
            except Exception as error:  # it expires by itself after --timeout minutes
                print(f"ews: could not unsubscribe ({type(error).__name__}); it expires by itself", file=sys.stderr)
    return until.report_shortfall(time.monotonic() - started)


DETAILED = ("NewMailEvent", "CreatedEvent", "ModifiedEvent")


def with_details(account, rows):
    """The rows, each with subject, sender and received (None where not read); the new, created and
    modified items of the batch are read in one GetItem."""
    from exchangelib.errors import ErrorItemNotFound
    for row in rows:
        row.update(subject=None, sender=None, received=None)
    ids = list(dict.fromkeys(row["id"] for row in rows if row["kind"] == "item" and row["event"] in DETAILED))
    if not ids:
        return rows
    # One GetItem for the whole batch, three fields. The trap: an item may be gone by now (deleted, or
    # moved: a move gives it a new id); fetch() then yields an ErrorItemNotFound in its place, not a raise.
    items = account.fetch([(item_id, None) for item_id in ids], only_fields=["subject", "sender", "datetime_received"])
    found = dict(zip(ids, items))
    for row in rows:
        item = found.get(row["id"]) if row["kind"] == "item" and row["event"] in DETAILED else None
        if isinstance(item, ErrorItemNotFound):
            row["gone"] = True
        elif isinstance(item, Exception):
            raise item
        elif item is not None:
            sender = getattr(item, "sender", None)
            row.update(subject=item.subject, sender=sender.email_address if sender else None,
                       received=item.datetime_received.isoformat() if item.datetime_received else None)
    return rows


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
