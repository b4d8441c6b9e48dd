#!/usr/bin/env python3
"""Poll a pull subscription on chosen folders and print the events it collects.

Subscribes to pull notifications (every event type) on the chosen folders, then asks for
the events every --interval seconds (GetEvents from the last watermark, again at once while
the answer says more are waiting) and prints them (JSON lines with --json). A subscription
that expired (idle past --timeout minutes, or the server restarted) is made again, from now:
events in between are not replayed, so a consumer that must miss nothing runs
sync_mailbox.py after such a gap (the script says so on stderr). Runs --duration seconds or
until SIGINT/SIGTERM, then unsubscribes.

Costs: Subscribe once, one GetEvents per --interval (more when events pile up), Unsubscribe.
For events within a second, without polling, use sync_streaming.py.

Examples:
  pull_notifications.py --interval 30
  pull_notifications.py --folder Inbox --folder "Sent Items" --json --duration 300

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
    parser.add_argument("--interval", type=float, default=10, metavar="SECONDS", help="seconds between polls (default 10)")
    parser.add_argument("--timeout", type=int, default=30, metavar="MINUTES",
                        help="minutes without a poll after which the server drops the subscription (default 30)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until SIGINT)")
    args = ews_cli.parse_args(parser, argv, check)
    stop = threading.Event()  # SIGINT, SIGTERM: finish the poll under way, unsubscribe, leave
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())  # an exception could tear a request and keep its connection

    with ews_config.connect(args) as ews:
        from exchangelib.errors import ErrorSubscriptionNotFound
        from exchangelib.folders import FolderCollection
        account = ews.account()
        folders = [ews_folders.folder_by_path(account, path) for path in args.folder]
        watched = FolderCollection(account=account, folders=folders)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        subscription_id, watermark = watched.subscribe_to_pull(timeout=args.timeout)
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                try:
                    # get_events() repeats GetEvents while MoreEvents is true; each answer's watermarks move on
                    for notification in folders[0].get_events(subscription_id, watermark):
                        rows = [mailbox_events.event_row(event) for event in notification.events]
                        mailbox_events.emit([row for row in rows if row["event"] != "StatusEvent"], args.json)
                        watermark = notification.events[-1].watermark if notification.events else watermark
                except ErrorSubscriptionNotFound:  # expired: a new one, from now
                    print("ews: the subscription expired; subscribed again, events in between are not replayed "
                          "(run sync_mailbox.py to catch up)", file=sys.stderr)
                    subscription_id, watermark = watched.subscribe_to_pull(timeout=args.timeout)
                stop.wait(args.interval if deadline is None else max(0, min(args.interval, deadline - time.monotonic())))
        finally:
            try:
                watched.unsubscribe(subscription_id)
            except Exception as error:  # it expires by itself after --timeout minutes
                print(f"ews: could not unsubscribe ({type(error).__name__}); it expires by itself", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
