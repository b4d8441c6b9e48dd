#!/usr/bin/env python3
"""Follow folders live: a streaming subscription wakes a sync, which prints each change once.

Subscribes to streaming notifications on the chosen folders and keeps a GetStreamingEvents
connection open (--connection-timeout minutes, then it reconnects). Each notification makes
the script sync the folders it names from the states saved in --state, print the changes
(with the events that announced them) and save the new states: what is printed comes from
the sync, so a change comes out once even when events repeat, and a gap (a connection that
timed out or dropped, a subscription that expired and is made again) costs one sync, after
which nothing is missing. A folder without a saved state starts from now (its items are
read through, not printed). Each item change carries its subject, sender and received time
(asked in the same SyncFolderItems). Runs --duration seconds, or until SIGINT/SIGTERM, then
unsubscribes; with --until KIND it ends (exit 0) after the sync that printed the --count-th
change of that kind (new-mail and created: an item appeared, delivered or moved in; modified;
deleted; any), and exits 1 with one line ("ews: no new-mail event within 60 s") if the run
ends first. The rest of that sync's changes are printed too: the saved state misses nothing.

The stream holds one HTTP connection for minutes: the script gives exchangelib's pool a
second one, so the syncs do not wait behind it. Costs: Subscribe once (again after an
expiry), one GetStreamingEvents per --connection-timeout minutes or drop, one
SyncFolderItems per notification and folder (more for big batches), Unsubscribe at the end.

Exit codes: 0 done (with --until: the --count-th change came); 1 the server refused, or --until
was not met before --duration or a signal (one line: "ews: no new-mail event within 60 s"); 2 usage.

Examples:
  sync_streaming.py --state alice.sync.json
  sync_streaming.py --state alice.sync.json --folder Inbox --folder "Sent Items" --json --duration 600
  sync_streaming.py --state alice.sync.json --until new-mail --duration 60    # the next mail, then exit

Copy with: ews_config.py, ews_cli.py, ews_folders.py, mailbox_events.py, sync_state.py
"""
import argparse
import json
import queue
import signal
import sys
import threading
import time

import ews_cli
import ews_config
import ews_folders
import mailbox_events
import sync_state


def check(args):
    if not 1 <= args.connection_timeout <= 30:  # Exchange keeps a streaming connection 30 minutes at most
        raise ews_config.ConfigError(f"--connection-timeout {args.connection_timeout}: give 1 to 30 minutes")
    if args.duration is not None and args.duration <= 0:
        raise ews_config.ConfigError(f"--duration {args.duration}: give a number of seconds above 0")
    args.folder = args.folder or ["Inbox"]
    for path in args.folder:
        ews_cli.check_folder_path(path, "--folder")


def transient(error):
    """A failure that waiting cures: the network, a busy or unreachable server."""
    import requests
    from exchangelib import errors
    if isinstance(error, errors.ResponseMessageError):  # an answer: only these say "later"
        return isinstance(error, (errors.ErrorServerBusy, errors.ErrorTimeoutExpired,
                                  errors.ErrorInternalServerTransientError))
    return isinstance(error, (requests.RequestException, errors.TransportError, ConnectionError))


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("--state", required=True, metavar="FILE", help="the file keeping the sync states")
    parser.add_argument("--folder", action="append", metavar="PATH", help="a folder to follow (repeatable; default Inbox)")
    parser.add_argument("--connection-timeout", type=int, default=10, metavar="MINUTES",
                        help="minutes a streaming connection stays open before the script reconnects (1-30, default 10)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until SIGINT)")
    mailbox_events.add_until_arguments(parser, "changes")
    args = ews_cli.parse_args(parser, argv, mailbox_events.check_until, check, sync_state.check_state_path)

    stop = threading.Event()  # SIGINT, SIGTERM: finish the request under way, unsubscribe, leave
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())  # not an exception: one torn mid-request would keep
        # its pooled connection, and Unsubscribe would wait for ever behind the stream

    with ews_config.connect(args) as ews:
        account = ews.account()
        # The trap: exchangelib's pool holds one connection by default, and the open stream keeps it for
        # minutes; every other call (the syncs, Unsubscribe) would wait behind it. Two: one for each.
        account.protocol.max_connections = max(2, account.protocol.max_connections)
        return Follower(account, args, stop).run()


class Follower:
    def __init__(self, account, args, stop):
        self.account, self.args, self.stop = account, args, stop
        self.folders = {}  # folder id -> (path, folder)
        for path in args.folder:
            folder = ews_folders.folder_by_path(account, path)
            self.folders[folder.id] = (path, folder)
        self.states = sync_state.StateFile(args.state, account.primary_smtp_address).load()
        self.notifications = queue.Queue()
        self.subscription_id = None
        self.until = mailbox_events.Until(args.until, args.count, "change")

    def run(self):
        from exchangelib.folders import FolderCollection
        watched = FolderCollection(account=self.account, folders=[folder for _, folder in self.folders.values()])
        started = time.monotonic()
        deadline = None if self.args.duration is None else started + self.args.duration
        failures = 0  # streams in a row that ended in an error: the wait before the next one grows
        try:
            for folder_id in self.folders:
                if self.states.folder_state(folder_id) is None:
                    self.sync(folder_id, quiet=True)  # start from now
            while not self.stop.is_set() and not self.until.done and (deadline is None or time.monotonic() < deadline):
                try:
                    if self.subscription_id is None:
                        self.subscription_id = watched.subscribe_to_streaming()
                    self.sync_all()  # what happened before the subscription or during a gap
                    if self.until.done:
                        break
                    opened = time.monotonic()
                    ended = self.listen(deadline)
                    failures = 0 if time.monotonic() - opened > 10 else failures  # it had worked: reconnect now
                except Exception as error:
                    if not transient(error):
                        raise
                    ended = error  # the server is away or busy: wait, then sync again
                if ended in ("closed", "stopped", "done"):
                    failures = 0
                    continue
                gone = type(ended).__name__ in ("ErrorSubscriptionNotFound", "ErrorInvalidSubscription")
                print(f"ews: stream {'subscription expired, subscribing again' if gone else 'lost: ' + str(ended)[:200]}",
                      file=sys.stderr)
                if gone:
                    self.subscription_id = None
                else:  # at once after a stream that worked; then 1, 3, 7 ... 30 s while it keeps failing
                    wait = min(2 ** failures - 1, 30)
                    self.stop.wait(min(wait, max(0, (deadline or float("inf")) - time.monotonic())))
                    failures += 1
        finally:
            self.unsubscribe()
        return self.until.report_shortfall(time.monotonic() - started)

    def listen(self, deadline):
        """One GetStreamingEvents connection, read by a thread; here, each notification is synced.
        Returns 'closed' (the connection timed out), 'stopped' (--duration, a signal), 'done' (--until met),
        or the error that ended it."""
        anchor = next(iter(self.folders.values()))[1]
        subscription_id, minutes = self.subscription_id, self.args.connection_timeout

        def read():
            try:
                for notification in anchor.get_streaming_events(subscription_id, connection_timeout=minutes):
                    self.notifications.put(("notification", notification))
                self.notifications.put(("closed", None))
            except Exception as error:  # a dropped connection, an expired subscription
                self.notifications.put(("error", error))

        threading.Thread(target=read, daemon=True).start()
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if self.stop.is_set() or (left is not None and left <= 0):
                return "stopped"
            try:
                kind, value = self.notifications.get(timeout=1 if left is None else min(left, 1))
            except queue.Empty:
                continue
            if kind == "closed":
                return "closed"
            if kind == "error":
                return value
            self.on_notification(value)
            if self.until.done:
                return "done"

    def on_notification(self, notification):
        """Sync the watched folders the events name; each printed change lists the events seen for its id."""
        touched, seen = set(), {}
        for event in notification.events:
            for attribute in ("parent_folder_id", "old_parent_folder_id", "folder_id"):
                folder_id = getattr(getattr(event, attribute, None), "id", None)
                touched.add(folder_id)
            item_id = getattr(getattr(event, "item_id", None), "id", None)
            if item_id:
                seen.setdefault(item_id, []).append(type(event).__name__)
        for folder_id in self.folders.keys() & touched:
            self.sync(folder_id, seen)

    def sync_all(self):
        for folder_id in self.folders:
            self.sync(folder_id, {})

    def sync(self, folder_id, seen=None, quiet=False):
        """SyncFolderItems from the saved state, page by page (folder.sync_items() would hand out the
        state only after the last page), each page printed and then its state saved."""
        from exchangelib.items import ID_ONLY
        from exchangelib.services import SyncFolderItems
        path, folder = self.folders[folder_id]
        service, state = SyncFolderItems(account=self.account), self.states.folder_state(folder_id)
        fields = {f for f in folder.normalize_fields(fields=["subject", "sender", "datetime_received"])
                  if not f.field.is_attribute}
        while True:
            with sync_state.refused_state_check(state, path):
                changes = list(service.call(folder=folder, shape=ID_ONLY, additional_fields=fields, sync_state=state,
                                            ignore=None, max_changes_returned=512, sync_scope=None))
            for change, item in [] if quiet else changes:
                row = sync_state.change_row(change, item, path)
                row["events"] = seen.get(row["id"], [])  # [] : found by the sync alone (a gap, or a batch)
                if change in ("create", "update"):
                    sender = getattr(item, "sender", None)
                    row["sender"] = sender.email_address if sender else None
                self.until.see(row)  # counted; the run ends after this sync, once its state is saved
                print(json.dumps(row) if self.args.json else sync_state.describe(row))
            sys.stdout.flush()
            done, state = service.includes_last_item_in_range or service.sync_state == state, service.sync_state
            self.states.set_folder_state(folder_id, path, state)  # saved once its changes are out
            if done:
                return

    def unsubscribe(self):
        if self.subscription_id is None:
            return
        try:
            next(iter(self.folders.values()))[1].unsubscribe(self.subscription_id)  # the stream then closes
        except Exception as error:  # it expires by itself, unused
            print(f"ews: could not unsubscribe ({type(error).__name__}); it expires by itself", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
