#!/usr/bin/env python3
"""Free/busy of several people, and the times all of them are free for a meeting of a given length.

One GetUserAvailability for everyone (after a GetServerTimeZones: exchangelib describes
--timezone to the server with it) returns each person's busy times and working hours; no
permission on their calendars is needed (subjects only with --details, where the calendar's
owner allows it). The common free slots are computed here: within everyone's working hours
(each in its own zone; --hours 09:00-18:00 replaces them), outside every busy, tentative or
away time, starting every --step minutes (default 30). Exchange answers at most 100 people
and 42 days a request. A person the server does not know is reported, and the exit is 1.

Examples:
  free_busy.py --people alice@contoso.example,bob@contoso.example,carol@contoso.example --day 2026-06-09 --length 30
  free_busy.py --people bob@contoso.example --from 2026-06-08 --to 2026-06-12 --timezone Europe/Berlin --json

Copy with: ews_config.py, ews_cli.py, calendar_args.py
"""
import argparse
import re
import sys
from datetime import date, datetime, time, timedelta

import calendar_args
import ews_cli
import ews_config

FREE = ("Free", "WorkingElsewhere")  # every other status (Busy, Tentative, OOF, NoData) blocks a slot


def check_request(args):
    fail = ews_config.ConfigError
    args.people = [ews_cli.check_address(a.strip(), "--people") for v in args.people for a in v.split(",") if a.strip()]
    if not args.people or len(args.people) > 100:
        raise fail("--people: give 1 to 100 addresses (repeatable, or comma separated)")
    args.tz = calendar_args.zone(args.timezone)
    if args.day and (args.from_date or args.to_date):
        raise fail("--day, or --from and --to: not both")
    first = calendar_args.local_date(args.day or args.from_date, "--day" if args.day else "--from") \
        if args.day or args.from_date else datetime.now(args.tz).date()  # today in --timezone
    last = calendar_args.local_date(args.to_date, "--to") if args.to_date else first
    args.start, args.end = calendar_args.window(first, last, args.tz)
    if (last - first).days >= 42:
        raise fail(f"--from {first} --to {last}: Exchange answers 42 days at most; ask in parts")
    for name in ("length", "step"):
        if not 1 <= getattr(args, name) <= 1440:
            raise fail(f"--{name} {getattr(args, name)}: minutes, 1 to 1440")
    if args.hours:
        text, found = args.hours, re.fullmatch(r"(\d\d):(\d\d)-(\d\d):(\d\d)", args.hours.strip())
        try:
            args.hours = found and (time(int(found[1]), int(found[2])), time(int(found[3]), int(found[4])))
        except ValueError:
            args.hours = None
        if not args.hours or args.hours[1] <= args.hours[0]:
            raise fail(f"--hours {text!r}: give the working day as HH:MM-HH:MM, such as 09:00-17:30")


def offset_on(zone, day):
    """The UTC offset on `day` of a zone as GetUserAvailability describes one (a base bias, and the
    rules of the two yearly changes): working hours are given in their owner's zone."""
    std, dst = zone.standard_time, zone.daylight_time
    if not std or not dst or std.bias == dst.bias:
        return timedelta(minutes=-(zone.bias + (std.bias if std else 0)))

    def change(rule):  # the nth (5: last) such weekday of the month; exchangelib keeps weekdays as 1..7
        days = [date(day.year, rule.iso_month, d) for d in range(1, 32) if _exists(day.year, rule.iso_month, d)]
        matching = [d for d in days if d.isoweekday() == rule.weekday]
        return matching[min(rule.occurrence, len(matching)) - 1]

    to_dst, to_std = change(dst), change(std)
    summer = to_dst <= day < to_std if to_dst < to_std else not to_std <= day < to_dst  # south: summer spans the year end
    return timedelta(minutes=-(zone.bias + (dst.bias if summer else std.bias)))


def _exists(year, month, day):
    try:
        return bool(date(year, month, day))
    except ValueError:
        return False


def working_times(view, days, args):
    """(start, end) of the person's working hours on each day, as aware datetimes in --timezone."""
    from datetime import timezone
    found = []
    for day in days:
        if args.hours:
            found.append(tuple(datetime.combine(day, t, args.tz) for t in args.hours))
            continue
        for period in view.working_hours or []:
            if day.isoweekday() in period.weekdays:  # the day as its owner sees it
                own = timezone(offset_on(view.working_hours_timezone, day)) if view.working_hours_timezone else args.tz
                found.append(tuple(datetime.combine(day, t, own).astimezone(args.tz) for t in (period.start, period.end)))
    return found


def common_slots(views, args):
    days = [args.start.date() + timedelta(days=n) for n in range((args.end - args.start).days)]
    open_times = None
    for view in views:  # intersect everyone's working hours
        mine = working_times(view, days, args)
        open_times = mine if open_times is None else \
            [(max(a, c), min(b, d)) for a, b in open_times for c, d in mine if max(a, c) < min(b, d)]
    busy = [(e.start, e.end) for v in views for e in v.calendar_events or [] if e.busy_type not in FREE]
    length, step, slots = timedelta(minutes=args.length), timedelta(minutes=args.step), []
    for begin, finish in open_times or []:
        midnight = datetime.combine(begin.date(), time(), args.tz)
        at = midnight + -(-(begin - midnight) // step) * step  # the first step of the clock at or after begin
        while at + length <= finish:
            if not any(s < at + length and at < e for s, e in busy):
                slots.append({"start": at.isoformat(), "end": (at + length).isoformat()})
            at += step
    return slots


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 1)[1]
    parser.add_argument("--people", action="append", default=[], metavar="ADDRS", help="addresses (repeatable, or comma separated)")
    parser.add_argument("--day", metavar="DATE", help="one day (default: today)")
    parser.add_argument("--from", dest="from_date", metavar="DATE", help="first day")
    parser.add_argument("--to", dest="to_date", metavar="DATE", help="last day, included")
    parser.add_argument("--timezone", metavar="ZONE", help="IANA zone of the days and times (default EWS_TIMEZONE, else this machine's)")
    parser.add_argument("--length", type=int, default=30, metavar="MINUTES", help="meeting length (default 30)")
    parser.add_argument("--step", type=int, default=30, metavar="MINUTES", help="slots start every N minutes of the clock (default 30)")
    parser.add_argument("--hours", metavar="HH:MM-HH:MM", help="working day for everyone, in --timezone (default: each person's)")
    parser.add_argument("--details", action="store_true", help="ask for subjects and locations where allowed")
    args = ews_cli.parse_args(parser, argv, check_request)

    with ews_config.connect(args) as ews:
        account = ews.account()
        # GetServerTimeZones, then GetUserAvailability; results in the zone of `start`
        answers = list(account.protocol.get_free_busy_info(
            accounts=[(person, "Required", False) for person in args.people], start=args.start, end=args.end,
            requested_view="Detailed" if args.details else "FreeBusy"))
    people, views, unknown = [], [], []
    for person, view in zip(args.people, answers):
        if isinstance(view, Exception):  # an answer per person: ErrorMailRecipientNotFound for one it does not know
            unknown.append(person)
            people.append({"email": person, "error": f"{type(view).__name__}: {view}"})
            continue
        views.append(view)
        people.append({"email": person, "busy": [
            {"start": e.start.astimezone(args.tz).isoformat(), "end": e.end.astimezone(args.tz).isoformat(),
             "status": e.busy_type, "subject": e.details.subject if e.details else None}
            for e in view.calendar_events or [] if e.busy_type not in FREE]})
    result = {"timezone": args.tz.key, "from": args.start.isoformat(), "to": args.end.isoformat(),
              "length_minutes": args.length, "people": people, "free_slots": common_slots(views, args) if views else []}
    for person in unknown:
        print(f"ews: {person}: not found by the server; slots below leave them out", file=sys.stderr)
    if args.json:
        ews_cli.print_json(result)
    else:
        rows = [{"who": p["email"], "when": f"{b['start'][:16].replace('T', ' ')}-{b['end'][11:16]}",
                 "status": b["status"], "subject": b["subject"]} for p in people for b in p.get("busy", [])]
        if rows:
            ews_cli.print_table(rows, ["who", "when", "status"] + (["subject"] if args.details else []))
        print(f"\nfree for {args.length} minutes, all of {', '.join(p['email'] for p in people if 'busy' in p)} "
              f"({args.tz.key}):")
        for slot in result["free_slots"]:
            print(f"  {slot['start'][:16].replace('T', ' ')}-{slot['end'][11:16]}")
        if not result["free_slots"]:
            print("  none")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
