#!/usr/bin/env python3
"""Print when a colleague is busy on a day (free/busy, which needs no access to their calendar).

Eval solution until scripts/free_busy.py exists. One GetUserAvailability (and GetServerTimeZones).
"""
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("email")
    parser.add_argument("day", help="2027-03-17")
    args = ews_cli.parse_args(parser, argv)
    with ews_config.connect(args) as ews:
        account = ews.account()
        zone = account.default_timezone
        start = ews_cli.parse_when(args.day, "day").astimezone(zone)
        views = account.protocol.get_free_busy_info([(args.email, "Required", False)], start, start + timedelta(days=1),
                                                    requested_view="Detailed")
        rows = [{"start": f"{e.start.astimezone(zone):%H:%M}", "end": f"{e.end.astimezone(zone):%H:%M}",
                 "status": e.busy_type} for view in views for e in view.calendar_events or []]
    if args.json:
        ews_cli.print_json(rows)
    else:
        print(f"{args.email} on {args.day} ({zone.key}):")
        for row in rows:
            print(f"  {row['start']}-{row['end']} {row['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
