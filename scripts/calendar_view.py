#!/usr/bin/env python3
"""List the calendar between two dates: single events, and each occurrence of recurring series.

A CalendarView (FindItem) expands series into their occurrences and exceptions, in order of
start; it takes no filter and no sort. Times show in --timezone (else EWS_TIMEZONE, else the
machine's zone); --from and --to are whole days, both included (default: the next 7 days).
Cost: GetFolder for the calendar, then one FindItem per 1,000 entries (a view answers at most
that many and has no offset: the next page starts at the last start seen); --details adds the
location, organizer and attendees, which exchangelib does not take from FindItem (mailboxes,
and text that FindItem may cut short): one GetItem per 100 entries.
--mailbox reads another mailbox's calendar you have access to (a delegate, or a Reviewer
permission on its calendar and root): you stay signed in as EWS_EMAIL.

Examples:
  calendar_view.py --from 2026-03-23 --to 2026-04-05 --timezone Europe/Berlin
  calendar_view.py --from 2026-01-01 --to 2026-12-31 --json > year.json
  calendar_view.py --mailbox bob@contoso.example --details

Copy with: ews_config.py, ews_cli.py, calendar_args.py
"""
import argparse
import sys
from datetime import datetime, timedelta

import calendar_args
import ews_cli
import ews_config

PAGE = 1000  # what one CalendarView answer holds at most (Exchange's EWSFindCountLimit)
FIELDS = ("subject", "start", "end", "type", "is_all_day", "legacy_free_busy_status", "my_response_type",
          "is_meeting", "is_cancelled")  # all plain: FindItem returns them
# exchangelib fetches these with GetItem: mailboxes, and text fields such as the location
DETAILS = ("location", "organizer", "required_attendees", "optional_attendees", "resources")


def check_view(args):
    args.tz = calendar_args.zone(args.timezone)
    today = datetime.now(args.tz).date()  # in --timezone: the machine's own date may be another day
    first = calendar_args.local_date(args.from_date, "--from") if args.from_date else today
    last = calendar_args.local_date(args.to_date, "--to") if args.to_date else first + timedelta(days=6)
    args.start, args.end = calendar_args.window(first, last, args.tz)
    if args.mailbox:
        ews_cli.check_address(args.mailbox, "--mailbox")


def occurrences(calendar, start, end, fields):
    """Every entry of the view, a page (FindItem) at a time: exchangelib sends one request and stops
    at the server's limit without a word, so each next page starts at the last start seen."""
    seen = set()
    while True:
        page = list(calendar.view(start=start, end=end, max_items=PAGE).only(*fields))
        yield from (o for o in page if o.id not in seen)
        if len(page) < PAGE:
            return
        if page[-1].start == start and all(o.id in seen for o in page):
            raise RuntimeError(f"more than {PAGE} entries start at {start}: narrow the view")
        seen.update(o.id for o in page)
        start = page[-1].start  # entries overlapping the new start come again: skipped by id


def row(item, tz, details):
    when = lambda v: v.isoformat() if not hasattr(v, "hour") else v.astimezone(tz).isoformat()  # noqa: E731
    result = {"id": item.id, "start": when(item.start), "end": when(item.end), "all_day": bool(item.is_all_day),
              "subject": item.subject, "type": item.type,
              "free_busy": item.legacy_free_busy_status, "my_response": item.my_response_type,
              "is_meeting": bool(item.is_meeting), "is_cancelled": bool(item.is_cancelled)}
    if details:
        people = lambda attendees: [a.mailbox.email_address for a in attendees or []]  # noqa: E731
        result.update(location=item.location, organizer=item.organizer.email_address if item.organizer else None,
                      attendees=people(item.required_attendees), optional=people(item.optional_attendees),
                      rooms=people(item.resources))
    return result


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 1)[1]
    parser.add_argument("--from", dest="from_date", metavar="DATE", help="first day (default: today)")
    parser.add_argument("--to", dest="to_date", metavar="DATE", help="last day, included (default: 6 days on)")
    parser.add_argument("--timezone", metavar="ZONE", help="IANA zone of the days and the times shown")
    parser.add_argument("--mailbox", metavar="ADDR", help="another mailbox's calendar (default: EWS_EMAIL's)")
    parser.add_argument("--details", action="store_true", help="add location, organizer and attendees (GetItem)")
    args = ews_cli.parse_args(parser, argv, check_view)

    with ews_config.connect(args) as ews:
        from exchangelib import Account
        account = ews.account()
        if args.mailbox:  # signed in as EWS_EMAIL, opening the other mailbox with the same configuration
            account = Account(args.mailbox, config=account.protocol.config, autodiscover=False,
                              access_type=account.access_type, default_timezone=args.tz)
        fields = FIELDS + DETAILS if args.details else FIELDS
        rows = [row(item, args.tz, args.details) for item in occurrences(account.calendar, args.start, args.end, fields)]
    if args.json:
        ews_cli.print_json(rows)
    elif not rows:
        print(f"ews: nothing in the calendar from {args.start.date()} to {(args.end - timedelta(days=1)).date()}",
              file=sys.stderr)
    else:
        for entry in rows:
            entry["when"] = (entry["start"][:10] + " all day" if entry["all_day"] else
                             f"{entry['start'][:16].replace('T', ' ')}-{entry['end'][11:16]}")
            entry["people"] = entry.get("attendees", []) + entry.get("optional", [])
        ews_cli.print_table(rows, ["when", "subject", "type", "free_busy", "my_response"] +
                            (["location", "organizer", "people"] if args.details else []))
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
