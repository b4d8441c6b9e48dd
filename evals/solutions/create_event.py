#!/usr/bin/env python3
"""Create a calendar event: an appointment, a meeting with attendees and rooms, or a weekly series.

Eval solution until scripts/create_calendar_event.py exists. Times are read in EWS_TIMEZONE
and the event keeps that zone, so a weekly series stays at 09:00 local across a DST change.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--subject", required=True)
    parser.add_argument("--start", required=True, help="2027-03-15T14:00 (in EWS_TIMEZONE)")
    parser.add_argument("--end", required=True)
    parser.add_argument("--location")
    parser.add_argument("--attendee", action="append", default=[])
    parser.add_argument("--room", action="append", default=[])
    parser.add_argument("--weekly", type=int, metavar="N", help="repeat weekly, N occurrences")
    args = ews_cli.parse_args(parser, argv)
    with ews_config.connect(args) as ews:
        from exchangelib import Attendee, CalendarItem
        from exchangelib.recurrence import Recurrence, WeeklyPattern
        account = ews.account()
        zone = account.default_timezone  # the series' zone: occurrences follow its DST rules
        start = ews_cli.parse_when(args.start, "--start").astimezone(zone)
        end = ews_cli.parse_when(args.end, "--end").astimezone(zone)
        item = CalendarItem(account=account, folder=account.calendar, subject=args.subject, start=start, end=end,
                            location=args.location,
                            required_attendees=[Attendee(mailbox=a) for a in args.attendee] or None,
                            resources=[Attendee(mailbox=r) for r in args.room] or None)
        if args.weekly:
            item.recurrence = Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[start.isoweekday()]),
                                         start=start.date(), number=args.weekly)
        # without SendToAll... attendees and rooms are written down but never invited
        item.save(send_meeting_invitations="SendToAllAndSaveCopy" if args.attendee or args.room else "SendToNone")
    print(f"created {args.subject!r} {start:%Y-%m-%d %H:%M}-{end:%H:%M} {zone.key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
