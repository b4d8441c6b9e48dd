#!/usr/bin/env python3
"""Print what changed in a mailbox since the last run: the folder tree, and the items of chosen folders.

The first run prints every folder and item (as creates); later runs print only the creates,
updates, deletes and read-flag changes since the states saved in --state. Each page of
changes (one SyncFolderHierarchy or SyncFolderItems request, --page-size changes at most) is
printed, then its state is saved atomically: a run killed at any moment resumes where it was
saved, without missing a change. A change is printed twice only when a kill fell between
printing a page and saving its state; each line carries the id and change key to drop such
repeats. --full forgets the saved states and starts over.

Costs: one GetFolder per --folder, one SyncFolderHierarchy request (more for a big tree) and
one SyncFolderItems request per --page-size changes of each folder.

Examples:
  sync_mailbox.py --state alice.sync.json
  sync_mailbox.py --state alice.sync.json --folder Inbox --folder "Sent Items" --json
  sync_mailbox.py --state alice.sync.json --no-hierarchy --page-size 500 --full

Copy with: ews_config.py, ews_cli.py, ews_folders.py, sync_state.py
"""
import argparse
import json
import sys

import ews_cli
import ews_config
import ews_folders
import sync_state


def check_page_size(args):
    if not 1 <= args.page_size <= 512:  # Exchange's limit for MaxChangesReturned
        raise ews_config.ConfigError(f"--page-size {args.page_size}: give 1 to 512")
    for path in args.folder:
        ews_cli.check_folder_path(path, "--folder")


def emit(rows, as_json):
    for row in rows:
        print(json.dumps(row) if as_json else sync_state.describe(row))
    sys.stdout.flush()  # on the way out before the state moves past them


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("--state", required=True, metavar="FILE", help="the file keeping the sync states")
    parser.add_argument("--folder", action="append", metavar="PATH",
                        help="a folder whose items to follow (repeatable; default Inbox)")
    parser.add_argument("--no-hierarchy", action="store_true", help="do not report folder changes")
    parser.add_argument("--page-size", type=int, default=100, help="changes per request (1-512, default 100)")
    parser.add_argument("--full", action="store_true", help="forget the saved states: report everything again")
    args = ews_cli.parse_args(parser, argv, lambda a: setattr(a, "folder", a.folder or ["Inbox"]), check_page_size)

    with ews_config.connect(args) as ews:
        account = ews.account()
        states = sync_state.StateFile(args.state, account.primary_smtp_address).load(fresh=args.full)
        printed = 0
        if not args.no_hierarchy:
            root = account.msg_folder_root  # the visible tree ("Top of Information Store")
            for changes, state, _ in sync_state.hierarchy_pages(account, root, states.data["hierarchy"]):
                emit([sync_state.change_row(change, folder) for change, folder in changes], args.json)
                states.set_hierarchy_state(state)  # saved only once its changes are out
                printed += len(changes)
        for path in args.folder:
            folder = ews_folders.folder_by_path(account, path)
            saved = states.folder_state(folder.id)
            for changes, state, _ in sync_state.item_pages(account, folder, saved, args.page_size):
                emit([sync_state.change_row(change, item, path) for change, item in changes], args.json)
                states.set_folder_state(folder.id, path, state)
                printed += len(changes)
    print(f"ews: {printed} changes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
