#!/usr/bin/env python3
"""List the calendar between two dates, recurring meetings expanded into their occurrences.

Eval solution until scripts/calendar_view.py exists. One FindItem with a CalendarView
(which takes no filter: filter the rows afterwards).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--start", required=True, help="first day, 2027-03-22")
    parser.add_argument("--end", required=True, help="day after the last, 2027-03-29")
    args = ews_cli.parse_args(parser, argv)
    with ews_config.connect(args) as ews:
        account = ews.account()
        zone = account.default_timezone
        start = ews_cli.parse_when(args.start, "--start")
        end = ews_cli.parse_when(args.end, "--end")
        view = account.calendar.view(start=start, end=end).only("subject", "start", "end", "location")
        rows = [{"start": item.start.astimezone(zone).strftime("%a %Y-%m-%d %H:%M"),
                 "end": item.end.astimezone(zone).strftime("%H:%M"), "subject": item.subject,
                 "location": item.location or ""} for item in view]
    if args.json:
        ews_cli.print_json(rows)
    else:
        ews_cli.print_table(rows, ["start", "end", "subject", "location"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
