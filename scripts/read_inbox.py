#!/usr/bin/env python3
"""List the messages of a folder: filter, sort, limit, and fetch only the fields shown.

A table by default; --json prints a list of objects with id, received, from, subject,
is_read and has_attachments (or id and the --fields asked for). Without --body the
listing costs FindItem pages only, each sized to --limit; --body adds one GetItem per
100 messages to read their text.

Examples:
  read_inbox.py --unread --since 7d
  read_inbox.py --folder Inbox/Projects --from bob@contoso.example --json
  read_inbox.py --subject invoice --order -size --fields received,subject,size --limit 5
  read_inbox.py --id AAMk... --body

Copy with: ews_config.py, ews_cli.py, ews_folders.py, mail_query.py (from scripts/; requirements.txt)
"""
import argparse
import sys

import ews_cli
import ews_config
import ews_folders
import mail_query

DEFAULT_FIELDS = ["id", "received", "from", "subject", "is_read", "has_attachments"]


def check_fields(args):
    """--fields a,b c -> ['id', 'a', 'b', 'c']; the table shows id only when it is asked for."""
    asked = [name for value in args.fields or [] for name in value.split(",") if name]
    unknown = [name for name in asked if name not in mail_query.MESSAGE_FIELDS]
    if unknown:
        raise ews_config.ConfigError(f"--fields {', '.join(unknown)}: choose from "
                                     f"{', '.join(mail_query.MESSAGE_FIELDS)}")
    args.columns = asked or [name for name in DEFAULT_FIELDS if name != "id"]
    args.fields = ["id"] + [name for name in asked or DEFAULT_FIELDS if name != "id"]


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    mail_query.add_query_arguments(parser, limit=20)
    parser.add_argument("--fields", nargs="+", metavar="FIELD",
                        help=f"fields to show (comma or space separated): {', '.join(mail_query.MESSAGE_FIELDS)}")
    parser.add_argument("--body", action="store_true", help="include each body as plain text")
    args = ews_cli.parse_args(parser, argv, mail_query.check_query, check_fields)

    with ews_config.connect(args) as ews:
        account = ews.account()
        wanted = [mail_query.MESSAGE_FIELDS[name] for name in args.fields if name != "id"]
        if mail_query.ids_given(args):  # chosen by id (even none): GetItem, which answers each id on its own
            found = list(account.fetch([(item_id, None) for item_id in args.id], only_fields=wanted))
        else:
            folder = ews_folders.folder_by_path(account, args.folder)
            texts, lookups = mail_query.restriction(args)  # is_read=False, author=..., subject__icontains=...
            query = folder.filter(*texts, **lookups).order_by(mail_query.sort_field(args))  # lazy: nothing sent yet
            # one FindItem per 1,000; iterating the QuerySet: per 100, and GetItem for From
            found = list(mail_query.find_messages(query, args.fields, args.limit))
        missing = [(item_id, error) for item_id, error in zip(args.id, found) if isinstance(error, Exception)]
        messages = [item for item in found if not isinstance(item, Exception)]
        rows = [mail_query.message_row(item, args.fields) for item in messages]
        if args.body and messages:  # bodies are not in FindItem answers: GetItem, 100 ids a request
            for row, full in zip(rows, account.fetch(messages, only_fields=["text_body"])):
                row["body"] = None if isinstance(full, Exception) else full.text_body

    for item_id, error in missing:
        print(f"ews: --id {item_id}: {type(error).__name__}: {error}", file=sys.stderr)
    if args.json:
        ews_cli.print_json(rows)
    elif not rows:
        print("ews: no message matches", file=sys.stderr)
    else:
        ews_cli.print_table(rows, args.columns)
        for row in rows if args.body else []:
            print(f"\n---- {row.get('subject') or '(no subject)'}\n{(row['body'] or '').strip()}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
