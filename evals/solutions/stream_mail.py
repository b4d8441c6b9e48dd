#!/usr/bin/env python3
"""Print the subject of each new message as it arrives (a streaming subscription); stop after --count.

Eval solution until scripts/sync_streaming.py exists. While GetStreamingEvents holds one
connection open, fetching a subject needs another: EWS_MAX_CONNECTIONS of 2 or more
(exchangelib's default, 1, makes the fetch wait for the stream to end).
"""
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2, help="stop after this many messages")
    parser.add_argument("--timeout", type=int, default=60, help="or after this many seconds")
    args = ews_cli.parse_args(parser, argv)
    os.environ.setdefault("EWS_MAX_CONNECTIONS", "2")  # one for the stream, one to fetch subjects
    seen = 0
    with ews_config.connect(args) as ews:
        from exchangelib.properties import NewMailEvent
        account = ews.account()
        deadline = time.monotonic() + args.timeout
        with account.inbox.streaming_subscription(event_types=["NewMailEvent"]) as subscription_id:
            while seen < args.count and time.monotonic() < deadline:
                # each call streams for up to a minute, then the server closes it: open the next
                for notification in account.inbox.get_streaming_events(subscription_id, connection_timeout=1,
                                                                       max_notifications_returned=args.count - seen):
                    for event in notification.events:
                        if isinstance(event, NewMailEvent):
                            print(account.inbox.get(id=event.item_id.id).subject, flush=True)
                            seen += 1
    return 0 if seen >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())
