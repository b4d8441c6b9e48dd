#!/usr/bin/env python3
"""Create a calendar event or meeting (single, all-day or recurring), or change or cancel one.

Times are wall-clock times in --timezone (an IANA name; else EWS_TIMEZONE, else the machine's
zone), and the event keeps that zone: a series stays at 10:00 in Berlin across daylight saving.
Create (one CreateItem): --subject, --start and --end or --duration; --all-day takes dates
(--end is the last day). --repeat daily|weekly|monthly|yearly makes a series: --interval,
--weekdays (weekly), --day (day of the month) or --week first..last with --weekday (the third
Wednesday), --month (yearly); it ends after --count occurrences, on --until, or never.
--attendee, --optional and --room invite: the invitations go out with the save, and a room
accepts by itself when it is free.
Change (GetItem, UpdateItem): --update ID (from calendar_view.py --json) with the fields to
change; --occurrence N or --on DATE picks one occurrence of a series, which becomes an exception.
Attendees get the update. Cancel: --cancel ID, one occurrence with --on/--occurrence, or the
series from --from DATE on (its end moves to the day before). A meeting you organise is
cancelled with a message to the attendees (CancelCalendarItem, --message adds text); an event
without attendees is deleted. --dry-run checks the arguments and prints the plan.

Examples:
  create_calendar_event.py --subject Sync --start 2026-03-24T10:00 --duration 30 --timezone Europe/Berlin \\
      --repeat weekly --weekdays tue,thu --count 8 --attendee bob@contoso.example --room room-atlas@contoso.example
  create_calendar_event.py --subject Offsite --all-day --start 2026-07-01 --end 2026-07-02
  create_calendar_event.py --subject Review --start 2026-05-13T14:00 --duration 60 --repeat monthly --week second --weekday wed
  create_calendar_event.py --cancel ID --on 2026-03-31 --message "No sync this week"
  create_calendar_event.py --update ID --occurrence 3 --start 2026-04-02T11:00

Copy with: ews_config.py, ews_cli.py, calendar_args.py
"""
import argparse
import sys
from datetime import timedelta

import calendar_args
import ews_cli
import ews_config

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "day", "weekday", "weekend-day")  # exchangelib: 1..10
WEEKS = ("first", "second", "third", "fourth", "last")  # exchangelib: week_number 1..5
PATTERN_FLAGS = ("interval", "weekdays", "day", "week", "weekday", "month", "count", "until")


def weekday(name, flag):
    if name.strip().lower() not in WEEKDAYS:
        raise ews_config.ConfigError(f"{flag} {name!r} is not a weekday: use {', '.join(WEEKDAYS)}")
    return WEEKDAYS.index(name.strip().lower()) + 1


def check_event(args):
    """Everything is checked before connecting: a bad value leaves with one line, nothing changed."""
    fail = ews_config.ConfigError
    if sum(map(bool, (args.update, args.cancel))) > 1:
        raise fail("--update and --cancel: give one")
    args.tz = calendar_args.zone(args.timezone)
    if not (args.update or args.cancel) and not (args.subject and args.start):
        raise fail("--subject and --start are needed to create an event (or --update/--cancel ID)")
    for name in ("interval", "count", "duration", "occurrence"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise fail(f"--{name} {getattr(args, name)}: must be 1 or more")
    if (args.duration or 0) > 5 * 366 * 1440 or (args.count or 0) > 999:
        raise fail("--duration: 5 years at most; --count: EWS allows 999 occurrences at most")
    if args.reminder is not None and not 0 <= args.reminder <= 40320:
        raise fail(f"--reminder {args.reminder}: minutes before the start, 0 to 40320 (four weeks)")
    if args.on and args.occurrence or args.from_date and not args.cancel:
        raise fail("--on and --occurrence pick one occurrence: give one; --from goes with --cancel")
    for name, flag in (("on", "--on"), ("from_date", "--from"), ("until", "--until")):
        setattr(args, name, getattr(args, name) and calendar_args.local_date(getattr(args, name), flag))
    picks = [flag for flag, value in (("--occurrence", args.occurrence), ("--on", args.on), ("--from", args.from_date),
                                      ("--message", args.message)) if value]
    if picks and not (args.update or args.cancel) or args.message and not args.cancel:
        raise fail(f"{picks[0]} goes with --cancel ID" + (" or --update ID" if picks[0] != "--message" else ""))
    fields = [flag for flag, value in (("--subject", args.subject), ("--start", args.start), ("--end", args.end),
              ("--duration", args.duration), ("--location", args.location), ("--reminder", args.reminder),
              ("--body", args.body or args.body_file), ("--all-day", args.all_day)) if value not in (None, False)]
    if args.cancel and fields or args.update and args.all_day:
        raise fail(f"{fields[0] if args.cancel else '--all-day'}: not with --{'cancel' if args.cancel else 'update'}")
    if args.end and args.duration:
        raise fail("--end and --duration: give one")
    read = calendar_args.local_date if args.all_day else lambda text, flag: calendar_args.local_time(text, args.tz, flag)
    args.start = args.start and read(args.start, "--start")
    args.end = args.end and read(args.end, "--end")
    if args.start and args.end and args.end < args.start:
        raise fail(f"--end {args.end} is before --start {args.start}")
    args.people = {kind: [ews_cli.check_address(a.strip(), f"--{kind}") for v in getattr(args, kind)
                          for a in v.split(",") if a.strip()] for kind in ("attendee", "optional", "room")}
    args.text = args.body or (ews_cli.read_text(args.body_file, "--body-file") if args.body_file else None)
    used = [f"--{name}" for name in PATTERN_FLAGS if getattr(args, name) not in (None, [])]
    if used and not args.repeat:
        raise fail(f"{used[0]} describes a series: add --repeat daily|weekly|monthly|yearly")
    if args.repeat:
        if args.update or args.cancel:
            raise fail("--repeat: a series' pattern is set when it is created; cancel it and create another")
        check_pattern(args, fail)


def check_pattern(args, fail):
    args.weekdays = [weekday(d, "--weekdays") for v in args.weekdays for d in v.split(",") if d.strip()]
    if args.weekdays and args.repeat != "weekly" or max(args.weekdays, default=0) > 7:
        raise fail("--weekdays goes with --repeat weekly and names days mon..sun")
    args.weekday = args.weekday and weekday(args.weekday, "--weekday")
    if bool(args.week) != bool(args.weekday) or args.week and args.repeat not in ("monthly", "yearly"):
        raise fail("--week and --weekday go together (the third wed), with --repeat monthly or yearly")
    if args.day is not None and not (1 <= args.day <= 31 and args.repeat in ("monthly", "yearly") and not args.week):
        raise fail(f"--day {args.day}: a day of the month 1..31, with --repeat monthly or yearly, without --week")
    if args.month is not None and not (1 <= args.month <= 12 and args.repeat == "yearly"):
        raise fail(f"--month {args.month}: a month 1..12, with --repeat yearly")
    if (args.interval or 1) > (999 if args.repeat == "daily" else 99):
        raise fail(f"--interval {args.interval}: EWS allows 999 days, 99 weeks or months at most")
    if args.repeat == "yearly" and (args.interval or 1) != 1:
        raise fail("--interval: a yearly series recurs every year (EWS has no interval for it)")
    if args.count and args.until:
        raise fail("--count and --until: give one (neither: the series has no end)")
    first = args.start if args.all_day else args.start.date()
    if args.until and args.until < first:
        raise fail(f"--until {args.until} is before the start {first}")


def recurrence(args):
    from exchangelib.recurrence import (AbsoluteMonthlyPattern, AbsoluteYearlyPattern, DailyPattern, EndDatePattern,
                                        NoEndPattern, NumberedPattern, Recurrence, RelativeMonthlyPattern,
                                        RelativeYearlyPattern, WeeklyPattern)
    first = args.start if args.all_day else args.start.date()
    interval, week = args.interval or 1, args.week and WEEKS.index(args.week) + 1
    pattern = {
        "daily": lambda: DailyPattern(interval=interval),
        "weekly": lambda: WeeklyPattern(interval=interval, weekdays=args.weekdays or [first.isoweekday()],
                                        first_day_of_week=1),
        "monthly": lambda: RelativeMonthlyPattern(interval=interval, weekday=args.weekday, week_number=week)
        if week else AbsoluteMonthlyPattern(interval=interval, day_of_month=args.day or first.day),
        "yearly": lambda: RelativeYearlyPattern(weekday=args.weekday, week_number=week, month=args.month or first.month)
        if week else AbsoluteYearlyPattern(day_of_month=args.day or first.day, month=args.month or first.month),
    }[args.repeat]()
    boundary = NumberedPattern(start=first, number=args.count) if args.count else \
        EndDatePattern(start=first, end=args.until) if args.until else NoEndPattern(start=first)
    return Recurrence(pattern=pattern, boundary=boundary)


def describe(item, tz, action):
    when = lambda v: v.isoformat() if not hasattr(v, "astimezone") or not hasattr(v, "hour") else \
        v.astimezone(tz).isoformat()  # noqa: E731 - all-day events have dates
    people = lambda attendees: [a.mailbox.email_address for a in attendees or []]  # noqa: E731
    return {"action": action, "id": item.id, "changekey": item.changekey, "subject": item.subject,
            "start": when(item.start), "end": when(item.end), "timezone": tz.key, "all_day": bool(item.is_all_day),
            "recurrence": str(item.recurrence) if item.recurrence else None, "location": item.location,
            "attendees": people(item.required_attendees), "optional": people(item.optional_attendees),
            "rooms": people(item.resources)}


def has_attendees(item):
    return bool(item.required_attendees or item.optional_attendees or item.resources)


def find_target(account, args):
    """The item named by --update/--cancel: the event, or one occurrence of a series (--occurrence, --on)."""
    from exchangelib.items.calendar_item import RECURRING_MASTER
    found = list(account.fetch([(args.update or args.cancel, None)]))[0]  # GetItem
    if isinstance(found, Exception):
        raise found
    if not (args.occurrence or args.on or args.from_date):
        return found, found
    if found.type != RECURRING_MASTER:
        raise ews_config.ConfigError("--occurrence, --on and --from need the id of a series (its master)")
    if args.occurrence:
        occurrence = found.occurrence(index=args.occurrence)  # OccurrenceItemId: no request until refresh()
        occurrence.refresh()  # GetItem; ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange past the end
        return found, occurrence
    if args.from_date:
        return found, found
    day_start, day_end = calendar_args.window(args.on, args.on, args.tz)
    # a CalendarView lists occurrences; they carry their series' UID (a view takes no filter)
    same = [o for o in account.calendar.view(start=day_start, end=day_end).only("uid", "start") if o.uid == found.uid]
    if not same:
        raise ews_config.ConfigError(f"--on {args.on}: the series has no occurrence that day")
    occurrence = list(account.fetch(same[:1]))[0]
    return found, occurrence


def apply_changes(item, args):
    from exchangelib import Body, HTMLBody
    changed = []
    if args.subject:
        item.subject, changed = args.subject, changed + ["subject"]
    if args.start or args.end or args.duration:
        length = timedelta(minutes=args.duration) if args.duration else item.end - item.start
        item.start = args.start or item.start
        item.end = args.end or item.start + length
        changed += ["start", "end"]
    if args.location is not None:
        item.location, changed = args.location, changed + ["location"]
    if args.reminder is not None:
        item.reminder_is_set, item.reminder_minutes_before_start = args.reminder > 0, args.reminder
        changed += ["reminder_is_set", "reminder_minutes_before_start"]
    if args.text is not None:
        item.body, changed = (HTMLBody if args.html else Body)(args.text), changed + ["body"]
    return changed


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 1)[1]
    add = parser.add_argument
    add("--subject", metavar="TEXT")
    add("--start", metavar="WHEN", help="local start, 2026-03-24T10:00 (a date with --all-day)")
    add("--end", metavar="WHEN", help="local end (the last day with --all-day)")
    add("--duration", type=int, metavar="MINUTES", help="instead of --end")
    add("--all-day", action="store_true", help="whole days: --start and --end are dates")
    add("--timezone", metavar="ZONE", help="IANA zone of the times (default EWS_TIMEZONE, else this machine's)")
    add("--repeat", choices=("daily", "weekly", "monthly", "yearly"), help="make a series")
    add("--interval", type=int, help="every N days, weeks or months (default 1)")
    add("--weekdays", action="append", default=[], metavar="DAYS", help="weekly: mon,tue,... (default: the start's)")
    add("--day", type=int, help="monthly/yearly: the day of the month (default: the start's)")
    add("--week", choices=WEEKS, help="monthly/yearly: which --weekday of the month")
    add("--weekday", metavar="DAY", help=f"with --week: {', '.join(WEEKDAYS)}")
    add("--month", type=int, help="yearly: the month 1..12 (default: the start's)")
    add("--count", type=int, help="end after N occurrences")
    add("--until", metavar="DATE", help="end on this date (included)")
    for kind, text in (("attendee", "a required attendee"), ("optional", "an optional attendee"), ("room", "a room")):
        add(f"--{kind}", action="append", default=[], metavar="ADDR", help=f"{text} (repeatable, or comma separated)")
    add("--location", metavar="TEXT")
    add("--reminder", type=int, metavar="MINUTES", help="reminder before the start (0: none)")
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--body", metavar="TEXT")
    body.add_argument("--body-file", metavar="PATH", help="read the body from a UTF-8 file")
    add("--html", action="store_true", help="the body is HTML")
    add("--update", metavar="ID", help="change this event, series or occurrence")
    add("--cancel", metavar="ID", help="cancel this event, series or occurrence")
    add("--occurrence", type=int, metavar="N", help="with --update/--cancel ID of a series: its Nth occurrence")
    add("--on", metavar="DATE", help="with --update/--cancel ID of a series: its occurrence on DATE")
    add("--from", dest="from_date", metavar="DATE", help="with --cancel ID of a series: end it before DATE")
    add("--message", metavar="TEXT", help="with --cancel: text of the cancellation sent to attendees")
    add("--dry-run", action="store_true", help="check the arguments and print the plan; connect to nothing")
    args = ews_cli.parse_args(parser, argv, check_event)
    if args.dry_run:
        plan = {k: str(v) if v is not None and not isinstance(v, (list, dict, bool, int)) else v
                for k, v in vars(args).items() if k not in ("env_file", "json", "debug", "dry_run", "tz")}
        ews_cli.print_json(plan) if args.json else print(f"would {'update' if args.update else 'cancel' if args.cancel else 'create'} "
                                                       f"(dry run, nothing changed): {plan}")
        return 0

    with ews_config.connect(args) as ews:
        from exchangelib import Attendee, Body, CalendarItem, EWSDate, HTMLBody
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY, SEND_TO_NONE
        account = ews.account()
        account.default_timezone = args.tz  # all-day dates are midnights of this zone
        if not (args.update or args.cancel):
            start, end = args.start, args.end or (args.start if args.all_day else
                                                  args.start + timedelta(minutes=args.duration or 30))
            item = CalendarItem(
                account=account, folder=account.calendar, subject=args.subject, is_all_day=args.all_day,
                start=EWSDate.from_date(start) if args.all_day else start,  # all-day: end is the last day,
                end=EWSDate.from_date(end) if args.all_day else end,        # exchangelib sends the next midnight
                location=args.location, recurrence=recurrence(args) if args.repeat else None,
                required_attendees=[Attendee(mailbox=a) for a in args.people["attendee"]] or None,
                optional_attendees=[Attendee(mailbox=a) for a in args.people["optional"]] or None,
                resources=[Attendee(mailbox=a) for a in args.people["room"]] or None,  # rooms go in resources
                body=(HTMLBody if args.html else Body)(args.text) if args.text else None,
                reminder_is_set=bool(args.reminder), reminder_minutes_before_start=args.reminder or 0)
            invite = has_attendees(item)
            # CreateItem; SendToNone is exchangelib's default, so attendees would get nothing without it
            item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY if invite else SEND_TO_NONE)
            item.refresh()  # GetItem: the series' first occurrence is its start, whatever --start said
            result = describe(item, args.tz, "created")
            result["invitations_sent"] = invite
        elif args.update:
            master, item = find_target(account, args)
            changed = apply_changes(item, args)
            if not changed:
                raise ews_config.ConfigError("--update: give a field to change (--subject, --start, --location...)")
            invite = has_attendees(item) and item.my_response_type == "Organizer"
            # UpdateItem; on an occurrence it makes an exception of it
            item.save(update_fields=changed, send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY if invite else SEND_TO_NONE)
            item.refresh()
            result = dict(describe(item, args.tz, "updated"), changed=changed, updates_sent=invite)
        else:
            master, item = find_target(account, args)
            result = cancel(account, master, item, args)
    ews_cli.print_json(result) if args.json else print(summary(result))
    return 0


def cancel(account, master, item, args):
    from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY, SEND_TO_NONE
    from exchangelib.recurrence import EndDatePattern, Recurrence
    meeting = has_attendees(item)
    if meeting and item.my_response_type != "Organizer":
        raise ews_config.ConfigError("--cancel: you are an attendee, not the organizer; decline with respond_meeting.py")
    result = describe(item, args.tz, "cancelled")
    first = master.recurrence.boundary.start if master.recurrence else None
    if args.from_date and args.from_date > first:
        # the series ends the day before: UpdateItem of its recurrence, re-sent to the attendees
        master.recurrence = Recurrence(pattern=master.recurrence.pattern,
                                       boundary=EndDatePattern(start=first, end=args.from_date - timedelta(days=1)))
        master.save(update_fields=["recurrence"],
                    send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY if meeting else SEND_TO_NONE)
        return dict(result, action="series ended", last_date=str(args.from_date - timedelta(days=1)))
    if meeting:
        item.cancel(body=args.message or "")  # CancelCalendarItem: the attendees get a cancellation
    else:
        item.delete()  # DeleteItem; an occurrence becomes a deleted occurrence of its series
    return dict(result, cancellation_sent=meeting)


def summary(result):
    what = f"{result['subject']!r} {result['start']} .. {result['end']} ({result['timezone']})"
    extra = f"; series: {result['recurrence']}" if result.get("recurrence") else ""
    people = result["attendees"] + result["optional"] + result["rooms"]
    sent = " invitations sent to " + ", ".join(people) if result.get("invitations_sent") else ""
    if result["action"] == "series ended":
        return f"series {result['subject']!r} now ends on {result['last_date']}"
    return f"{result['action']} {what}{extra}{sent}\nid: {result['id']}"


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
