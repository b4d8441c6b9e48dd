#!/usr/bin/env python3
"""Create an inbox rule that moves mail from a sender with a word in the subject into a folder.

Eval solution until scripts/inbox_rules.py exists. GetInboxRules and UpdateInboxRules.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--from", dest="sender", required=True)
    parser.add_argument("--subject-contains", required=True)
    parser.add_argument("--folder", required=True, help="a folder under the Inbox, made if missing")
    args = ews_cli.parse_args(parser, argv)
    with ews_config.connect(args) as ews:
        from exchangelib import Folder
        from exchangelib.properties import Actions, Address, Conditions, MoveToFolder, Rule
        account = ews.account()
        target = next((f for f in account.inbox.children if f.name.casefold() == args.folder.casefold()), None)
        if target is None:
            target = Folder(parent=account.inbox, name=args.folder)
            target.save()
        rule = Rule(account=account, display_name=args.name, priority=1, is_enabled=True,
                    conditions=Conditions(from_addresses=[Address(email_address=args.sender)],
                                          contains_subject_strings=[args.subject_contains]),
                    actions=Actions(move_to_folder=MoveToFolder(folder_id=target.to_id())))
        rule.save()
    print(f"rule {args.name!r}: from {args.sender}, subject contains {args.subject_contains!r} -> Inbox/{target.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
