#!/usr/bin/env python3
"""Print the subjects of messages new in the Inbox since the previous run (SyncFolderItems).

Eval solution until scripts/sync_mailbox.py exists. The sync state is saved to --state
only after a whole run, so a failed run is repeated, not skipped.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--state", default="inbox.state", help="file keeping the sync state")
    args = ews_cli.parse_args(parser, argv)
    state_file = Path(args.state)
    with ews_config.connect(args) as ews:
        account = ews.account()
        inbox = account.inbox
        inbox.item_sync_state = state_file.read_text() if state_file.exists() else None
        # pages of up to 100 changes; the folder's item_sync_state moves on with each page
        for change, item in inbox.sync_items(only_fields=["subject"], max_changes_returned=100):
            if change == "create":  # also update, delete, read_flag_change
                print(item.subject)
        state_file.write_text(inbox.item_sync_state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
