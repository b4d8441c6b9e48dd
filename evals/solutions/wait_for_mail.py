#!/usr/bin/env python3
"""Wait for the next new message in the Inbox (a pull subscription) and print its subject.

Eval solution until scripts/pull_notifications.py exists. Subscribe, then GetEvents every
second until a NewMail/Created event or --timeout; Unsubscribe at the end.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=int, default=60, help="seconds to wait")
    args = ews_cli.parse_args(parser, argv)
    with ews_config.connect(args) as ews:
        from exchangelib.properties import CreatedEvent
        account = ews.account()
        inbox = account.inbox
        deadline = time.monotonic() + args.timeout
        with inbox.pull_subscription(event_types=["CreatedEvent"]) as (subscription_id, watermark):
            while time.monotonic() < deadline:
                for notification in inbox.get_events(subscription_id, watermark):
                    watermark = notification.events[-1].watermark if notification.events else watermark
                    for event in notification.events:
                        if isinstance(event, CreatedEvent) and event.item_id:
                            print(account.inbox.get(id=event.item_id.id).subject)
                            return 0
                time.sleep(1)
    print("ews: no new message arrived", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
