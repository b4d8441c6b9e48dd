#!/usr/bin/env python3
"""Look a name up in the directory (ResolveNames) and print the matches' addresses.

Eval solution until scripts/contacts.py exists.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("name")
    args = ews_cli.parse_args(parser, argv)
    with ews_config.connect(args) as ews:
        from exchangelib import Mailbox
        account = ews.account()
        account.version  # protocol-level calls (ResolveNames) fail unless the server's version is known
        # directory first, then the user's contacts; an unknown name yields an error object, not a raise
        found = account.protocol.resolve_names([args.name], search_scope="ActiveDirectoryContacts")
        matches = [m for m in found if isinstance(m, Mailbox)]
    for mailbox in matches:
        print(f"{mailbox.name} <{mailbox.email_address}>")
    return 0 if matches else 1


if __name__ == "__main__":
    sys.exit(main())
