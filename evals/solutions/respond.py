#!/usr/bin/env python3
"""Accept, tentatively accept or decline a meeting invitation found in the Inbox by subject.

Eval solution until scripts/respond_meeting.py exists.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("answer", choices=["accept", "tentative", "decline"])
    parser.add_argument("--subject", required=True)
    parser.add_argument("--message", help="text sent with the answer")
    args = ews_cli.parse_args(parser, argv)
    with ews_config.connect(args) as ews:
        from exchangelib.items import MeetingRequest
        account = ews.account()
        requests = [i for i in account.inbox.filter(subject=args.subject) if isinstance(i, MeetingRequest)]
        if not requests:
            raise ews_config.ConfigError(f"no invitation {args.subject!r} in the Inbox")
        request = requests[0]
        respond = {"accept": request.accept, "tentative": request.tentatively_accept, "decline": request.decline}
        respond[args.answer](body=args.message)  # sends the answer to the organizer
    print(f"{args.answer}: {args.subject}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
