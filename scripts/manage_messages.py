#!/usr/bin/env python3
"""Act on every message a query matches: move, copy, archive, delete, mark, categorize, flag.

The messages are listed with FindItem (pages of up to 1,000), then changed with
exchangelib's bulk calls, one EWS request per --chunk-size messages: bulk_move,
bulk_copy, bulk_archive (into the same folder path of the archive mailbox), bulk_delete
(--mode trash: to Deleted Items; soft: recoverable; hard: gone) and bulk_update
(is_read, categories, and the flag as the MAPI property PidTagFlagStatus 0x1090:
2 flagged, 1 complete). Progress goes to stderr when there is more than one chunk.
Every element that fails is reported with its error code (say ErrorItemNotFound for a
message deleted meanwhile) and the others still go through; the exit code is then 1.
A request that fails as a whole (throttled past EWS_RETRY_MAX_WAIT, refused) stops the run,
which still reports what was done, what failed and what was not attempted. When the answer
to a request is lost (a dropped connection, a timeout) the server may have acted: with a
retry policy the script looks before sending the rest again (settle() below), so nothing
is copied twice; without one, those messages are reported as "outcome unknown".
--dry-run prints how many messages and which, and changes nothing.

Examples:
  manage_messages.py move --from noreply@example.com --to-folder Inbox/Notifications --create-folder
  manage_messages.py delete --folder Inbox/Old --until 2025-01-01 --mode soft --dry-run
  manage_messages.py categorize --subject invoice --add Finance
  read_inbox.py --unread --json > ids.json; manage_messages.py mark-read --ids-from ids.json

Copy with: ews_config.py, ews_cli.py, ews_folders.py, mail_query.py (from scripts/; requirements.txt)
"""
import argparse
import sys

import ews_cli
import ews_config
import ews_folders
import mail_query

ACTIONS = {"move": "moved", "copy": "copied", "archive": "archived", "delete": "deleted", "mark-read": "marked read",
           "mark-unread": "marked unread", "categorize": "categorized", "flag": "flagged", "unflag": "unflagged"}
FLAGGED, COMPLETE = 2, 1  # PidTagFlagStatus values
# The flags that only some actions use: given with another action they would be silently ignored.
ONLY_FOR = {"to_folder": ("move", "copy"), "create_folder": ("move", "copy"), "mode": ("delete",),
            "set": ("categorize",), "add": ("categorize",), "complete": ("flag",)}


def check_action(args):
    for name, actions in ONLY_FOR.items():
        if getattr(args, name) and args.action not in actions:
            raise ews_config.ConfigError(f"--{name.replace('_', '-')} is for {' and '.join(actions)}, "
                                         f"not {args.action}; drop it")
    args.mode = args.mode or "trash"
    if args.action in ("move", "copy") and not args.to_folder:
        raise ews_config.ConfigError(f"{args.action} needs --to-folder PATH")
    if args.to_folder is not None:
        ews_cli.check_folder_path(args.to_folder, "--to-folder")
    if args.action == "categorize" and bool(args.set) == bool(args.add):
        raise ews_config.ConfigError("categorize needs --set NAME (replace) or --add NAME (keep the others), not both")
    if args.action == "categorize" and args.add and mail_query.ids_given(args):
        raise ews_config.ConfigError("--add needs each message's current categories: choose with filters, or use --set")
    if not mail_query.has_filters(args) and not args.all:
        raise ews_config.ConfigError(f"no filter given: every message in {args.folder} would be "
                                     f"{ACTIONS[args.action]}; add filters, or --all if that is what you want")
    if args.chunk_size < 1:
        raise ews_config.ConfigError("--chunk-size must be 1 or more")


def bulk_call(account, args, source, target):
    """The exchangelib bulk call for the action, taking a chunk and returning one result per element."""
    from exchangelib import Message
    from exchangelib.items import HARD_DELETE, MOVE_TO_DELETED_ITEMS, SOFT_DELETE
    size = args.chunk_size
    if args.action == "move":
        return lambda chunk: account.bulk_move(chunk, to_folder=target, chunk_size=size)
    if args.action == "copy":
        return lambda chunk: account.bulk_copy(chunk, to_folder=target, chunk_size=size)
    if args.action == "archive":  # ArchiveItem names the source folder; the archive keeps its path
        return lambda chunk: account.bulk_archive(chunk, to_folder=source, chunk_size=size)
    if args.action == "delete":
        mode = {"trash": MOVE_TO_DELETED_ITEMS, "soft": SOFT_DELETE, "hard": HARD_DELETE}[args.mode]
        return lambda chunk: account.bulk_delete(chunk, delete_type=mode, chunk_size=size)
    field, value = {
        "mark-read": ("is_read", lambda item: True), "mark-unread": ("is_read", lambda item: False),
        "categorize": ("categories", lambda item: args.set or sorted(set(item.categories or []) | set(args.add))),
        "flag": ("flag_status", lambda item: COMPLETE if args.complete else FLAGGED),
        "unflag": ("flag_status", lambda item: None),  # None: UpdateItem deletes the property
    }[args.action]

    def update(item):
        message = Message(account=account, id=item[0], changekey=item[1]) if isinstance(item, tuple) else item
        setattr(message, field, value(message))
        return message, [field]

    return lambda chunk: account.bulk_update([update(item) for item in chunk], chunk_size=size)


def settle(account, args, target, call):
    """(call, settle): settle(chunk) -> the messages of a chunk whose request's answer was lost that
    still need it; for copy, call() also counts what it copied."""
    from collections import Counter
    if args.action in ("move", "archive", "delete"):  # done: gone from where it was (a moved item gets a new id)
        def left(chunk):
            found = account.fetch([(ews_cli.failure_id(item), None) for item in chunk], only_fields=["id"])
            return [item for item, now in zip(chunk, found) if not isinstance(now, Exception)]
        return call, left
    if args.action != "copy":
        return call, (lambda chunk: chunk)  # an update: setting the same values again changes nothing
    # copy: a copy has its original's subject and time received; count them in the target
    fields = ["subject", "datetime_received"]
    there = lambda: Counter((m.subject, m.datetime_received) for m in target.all().only(*fields))  # noqa: E731
    expected = there()  # before the run, plus what each chunk copied

    def keys(chunk):
        known = [item for item in chunk if not isinstance(item, tuple)] or \
            account.fetch([(ews_cli.failure_id(item), None) for item in chunk], only_fields=fields)
        return [None if isinstance(item, Exception) else (item.subject, item.datetime_received) for item in known]

    def counted(chunk):
        results = call(chunk)
        expected.update(key for key, result in zip(keys(chunk), results) if not isinstance(result, Exception))
        return results

    def left(chunk):
        extra, pending = there() - expected, []
        for item, key in zip(chunk, keys(chunk)):
            if extra[key] > 0:
                extra[key] -= 1
                expected[key] += 1
            else:
                pending.append(item)
        return pending
    return counted, left


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("action", choices=ACTIONS)
    mail_query.add_query_arguments(parser)
    parser.add_argument("--all", action="store_true", help="allow acting on every message of the folder")
    parser.add_argument("--to-folder", metavar="PATH", help="move/copy: the destination, e.g. Inbox/Done")
    parser.add_argument("--create-folder", action="store_true", help="create --to-folder if it does not exist")
    parser.add_argument("--mode", choices=("trash", "soft", "hard"),
                        help="delete: to Deleted Items, recoverable, or for good (default trash)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME", help="categorize: these categories only")
    parser.add_argument("--add", action="append", default=[], metavar="NAME", help="categorize: add to the existing")
    parser.add_argument("--complete", action="store_true", help="flag: mark the flag complete")
    parser.add_argument("--chunk-size", type=int, default=100, metavar="N",
                        help="messages per EWS request (default 100)")
    parser.add_argument("--dry-run", action="store_true", help="print how many and which; change nothing")
    args = ews_cli.parse_args(parser, argv, mail_query.check_query, check_action)

    with ews_config.connect(args) as ews:
        from exchangelib import ExtendedProperty, Message
        account = ews.account()
        target = None
        if args.to_folder:  # checked before anything changes; --create-folder makes it (not in a dry run)
            try:
                target = ews_folders.folder_by_path(account, args.to_folder, "--to-folder",
                                                   create=args.create_folder and not args.dry_run)
            except ews_config.ConfigError:
                if not (args.dry_run and args.create_folder):
                    raise
        if mail_query.ids_given(args):  # exactly these ids, even none (an empty read_inbox.py --json list)
            items = [(item_id, None) for item_id in args.id]
            source = ews_folders.folder_by_path(account, args.folder) if args.action == "archive" else None
        else:
            source = ews_folders.folder_by_path(account, args.folder)
            texts, lookups = mail_query.restriction(args)  # is_read=False, author=..., subject__icontains=...
            query = source.filter(*texts, **lookups).order_by(mail_query.sort_field(args))  # lazy: nothing sent yet
            fields = ["subject", "received", "from"] + (["categories"] if args.add else [])
            # one FindItem per 1,000; iterating the QuerySet: per 100, and GetItem for From
            items = list(mail_query.find_messages(query, fields, args.limit))
        where = f" to {args.to_folder}" + ("" if target else " (created by the real run)") if args.to_folder else ""

        if args.dry_run:
            rows = [{"id": item[0]} if isinstance(item, tuple) else
                    mail_query.message_row(item, ["id", "received", "from", "subject"]) for item in items]
            if args.json:
                ews_cli.print_json({"action": args.action, "dry_run": True, "count": len(items), "messages": rows})
            elif not items:
                print("no messages match (dry run, nothing changed)")
            else:
                print(f"would have {ACTIONS[args.action]} {len(items)} messages{where} (dry run, nothing changed)")
                ews_cli.print_table(rows, ["received", "from", "subject"] if not args.id else ["id"])
            return 0

        if args.action in ("flag", "unflag"):
            class FlagStatus(ExtendedProperty):
                property_tag = 0x1090  # PidTagFlagStatus
                property_type = "Integer"
            if "flag_status" not in {field.name for field in Message.FIELDS}:  # once a process
                Message.register("flag_status", FlagStatus)
        call = bulk_call(account, args, source, target)
        if ews.budget.max_wait > 0:  # with a retry policy, a lost answer is checked, then the rest resent
            call, check = settle(account, args, target, call)
        else:
            check = None
        report = ews_cli.run_in_chunks(items, args.chunk_size, call, ACTIONS[args.action], check, ews)

    if args.json:
        ews_cli.print_json({"action": args.action, **report.as_json()})
    else:
        print(report.summary() + where + (", each failure on stderr" if report.failed and not report.stopped else ""))
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
