#!/usr/bin/env python3
"""Tag messages with a custom property of your own, find them again by it, or remove it.

The tag is an extended (MAPI named) property: a name in a property set of your own (a
GUID, PROPERTY_SET below) with a string value. Outlook and users do not see it and it
travels with the message when it moves between folders, so a program can mark what it
has processed and find it again server-side: find is one FindItem restriction on the
property (IsEqualTo a value, or Exists). --id/--ids-from choose exactly those messages
instead (GetItem). tag and untag use bulk_update in chunks; setting a tag twice changes
nothing, so a chunk whose answer was lost is simply sent again (with a retry policy).

Examples:
  tag_messages.py tag --name ProcessedBy --value invoice-bot --subject invoice --since 7d
  tag_messages.py find --name ProcessedBy --value invoice-bot --json
  tag_messages.py untag --name ProcessedBy --folder Inbox/Archive --dry-run

Copy with: ews_config.py, ews_cli.py, ews_folders.py, mail_query.py (from scripts/; requirements.txt)
"""
import argparse
import sys

import ews_cli
import ews_config
import ews_folders
import mail_query

PROPERTY_SET = "8d3f1c52-6f0e-4b7a-9c1d-2e4a5b6c7d80"  # this bundle's names; make a GUID of your own (uuid4)
COLUMNS = ["received", "from", "subject", "tag"]


def check_tag(args):
    if not args.name.strip():
        raise ews_config.ConfigError("--name: give the property a name, e.g. ProcessedBy")
    if args.action == "tag" and not args.value:
        raise ews_config.ConfigError("tag needs --value TEXT")
    if args.action == "tag" and not mail_query.has_filters(args) and not args.all:
        raise ews_config.ConfigError(f"no filter given: every message in {args.folder} would be tagged; "
                                     "add filters, or --all")
    if args.chunk_size < 1:
        raise ews_config.ConfigError("--chunk-size must be 1 or more")


def choose(account, args):
    """(messages with their tag, [((id, None), error)] for ids not found). By --id/--ids-from:
    exactly those ids (GetItem); else the query (FindItem). find and untag keep the messages
    that carry the tag (with --value: that value); the query asks the server for that."""
    if not mail_query.ids_given(args):
        folder = ews_folders.folder_by_path(account, args.folder)
        texts, lookups = mail_query.restriction(args)  # is_read=False, author=..., subject__icontains=...
        query = folder.filter(*texts, **lookups).order_by(mail_query.sort_field(args))  # lazy: nothing sent yet
        if args.action != "tag":
            query = query.filter(tag=args.value) if args.value else query.filter(tag__exists=True)
        return list(mail_query.find_messages(query, ["id"] + COLUMNS, args.limit)), []
    fields = [mail_query.MESSAGE_FIELDS.get(name, name) for name in COLUMNS]
    found = list(account.fetch([(item_id, None) for item_id in args.id], only_fields=fields))
    missing = [((item_id, None), error) for item_id, error in zip(args.id, found) if isinstance(error, Exception)]
    for (item_id, _), error in missing:
        print(f"ews: failed: --id {item_id}: {type(error).__name__}: {error}", file=sys.stderr)
    items = [item for item in found if not isinstance(item, Exception)]
    if args.action != "tag":
        items = [item for item in items if item.tag is not None and args.value in (None, item.tag)]
    return items, missing


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("action", choices=("tag", "find", "untag"))
    parser.add_argument("--name", required=True, help="the property's name (in PROPERTY_SET)")
    parser.add_argument("--value", metavar="TEXT", help="tag: the value to set; find/untag: only this value")
    mail_query.add_query_arguments(parser, skip=("to",))
    parser.add_argument("--all", action="store_true", help="tag: allow tagging every message of the folder")
    parser.add_argument("--chunk-size", type=int, default=100, metavar="N", help="messages per EWS request")
    parser.add_argument("--dry-run", action="store_true", help="tag/untag: print which messages; change nothing")
    args = ews_cli.parse_args(parser, argv, mail_query.check_query, check_tag)

    with ews_config.connect(args) as ews:
        from exchangelib import ExtendedProperty, Message

        class Tag(ExtendedProperty):
            property_set_id = PROPERTY_SET
            property_name = args.name
            property_type = "String"

        if "tag" in {field.name for field in Message.FIELDS}:  # main() run before in this process
            Message.deregister("tag")
        Message.register("tag", Tag)  # now a field like any other: filter(tag=...), only("tag")
        account = ews.account()
        items, missing = choose(account, args)
        report = ews_cli.Report(items, f"{args.action}ged")
        if args.action != "find" and not args.dry_run:
            for item in items:
                item.tag = args.value if args.action == "tag" else None  # None: UpdateItem deletes the property
                item.changekey = None  # no conflict check: a resent update must not fail on its own first change
            report = ews_cli.run_in_chunks(
                items, args.chunk_size,
                lambda chunk: account.bulk_update([(item, ["tag"]) for item in chunk], chunk_size=args.chunk_size),
                f"{args.action}ged", lambda chunk: chunk, ews)
        rows = [mail_query.message_row(item, ["id"] + COLUMNS) for item in items]

    report.items, report.failed = items + [item for item, _ in missing], missing + report.failed  # an id not found
    failed = report.failed  # ... counts as a failed message
    if args.json:
        ews_cli.print_json(rows if args.action == "find" else {
            "action": args.action, "dry_run": args.dry_run, **report.as_json(), "messages": rows})
    elif args.dry_run and not rows:
        print("no messages match (dry run, nothing changed)")
    elif args.action == "find" or args.dry_run:
        if args.dry_run:
            print(f"would {args.action} {len(items)} messages (dry run, nothing changed)")
        ews_cli.print_table(rows, COLUMNS) if rows else print("ews: no message matches", file=sys.stderr)
    else:
        print(f"{report.summary()} ({args.name})"
              + (", each failure on stderr" if failed and not report.stopped else ""))
    return report.exit_code() if args.action != "find" and not args.dry_run else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
