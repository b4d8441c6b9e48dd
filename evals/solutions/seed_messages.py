#!/usr/bin/env python3
"""Put N test messages straight into a folder in bulk (one CreateItem per 100), for tests.

An eval solution (testing); subjects are a Python format with {n}, e.g. 'Promo {n:02d}'.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--sender", required=True)
    parser.add_argument("--subject", default="Test {n}")
    args = ews_cli.parse_args(parser, argv)
    with ews_config.connect(args) as ews:
        from exchangelib import Mailbox, Message
        account = ews.account()
        messages = [Message(account=account, folder=account.inbox, subject=args.subject.format(n=n), body="test data",
                            author=Mailbox(email_address=args.sender), is_read=False)
                    for n in range(1, args.count + 1)]
        made = account.bulk_create(account.inbox, messages)  # a failed one comes back as an exception
        failed = [m for m in made if isinstance(m, Exception)]
    print(f"created {len(made) - len(failed)} messages" + (f", {len(failed)} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
