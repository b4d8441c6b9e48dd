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

FIELDS = ["subject", "datetime_received"]  # what each item line shows


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
    args = ews_cli.parse_args(parser, argv, lambda a: setattr(a, "folder", a.folder or ["Inbox"]), check_page_size,
                              sync_state.check_state_path)

    with ews_config.connect(args) as ews:
        from exchangelib.fields import FieldPath
        from exchangelib.items import ID_ONLY
        from exchangelib.services import SyncFolderHierarchy, SyncFolderItems
        account = ews.account()
        states = sync_state.StateFile(args.state, account.primary_smtp_address).load(fresh=args.full)
        printed = 0
        # folder.sync_items() and sync_hierarchy() hand out the new state only once every page is read:
        # a run stopped half way would start over. The services give each page's state.
        if not args.no_hierarchy:
            root = account.msg_folder_root  # the visible tree ("Top of Information Store")
            service, state = SyncFolderHierarchy(account=account), states.data["hierarchy"]
            fields = {FieldPath(field=root.get_field_by_fieldname(name)) for name in ("name", "folder_class")}
            while True:
                with sync_state.refused_state_check(state, "the folder tree"):
                    changes = list(service.call(folder=root, shape=ID_ONLY, additional_fields=fields,
                                                sync_state=state))
                emit([sync_state.change_row(change, folder) for change, folder in changes], args.json)
                done, state = service.includes_last_item_in_range or service.sync_state == state, service.sync_state
                states.set_hierarchy_state(state)  # saved only once its changes are out
                printed += len(changes)
                if done:
                    break
        for path in args.folder:
            folder = ews_folders.folder_by_path(account, path)
            service, state = SyncFolderItems(account=account), states.folder_state(folder.id)
            fields = {f for f in folder.normalize_fields(fields=FIELDS) if not f.field.is_attribute}  # + id, change key
            while True:
                with sync_state.refused_state_check(state, path):
                    changes = list(service.call(folder=folder, shape=ID_ONLY, additional_fields=fields,
                                                sync_state=state, ignore=None, max_changes_returned=args.page_size,
                                                sync_scope=None))
                emit([sync_state.change_row(change, item, path) for change, item in changes], args.json)
                done, state = service.includes_last_item_in_range or service.sync_state == state, service.sync_state
                states.set_folder_state(folder.id, path, state)
                printed += len(changes)
                if done:
                    break
    print(f"ews: {printed} changes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
