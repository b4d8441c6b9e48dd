#!/usr/bin/env python3
"""Out-of-office (automatic replies): show, enable, schedule, disable.

show is one GetUserOofSettings. enable and schedule are one SetUserOofSettings each: the
internal reply goes to people of your organization, the external one to outside senders
as --audience allows (none; known: only senders in your Contacts folder; all). Exchange
answers each sender once while the settings stand (saving them again starts afresh), and
a scheduled reply only between --start and --end. disable reads the settings first
(GetUserOofSettings) and saves them switched off with their texts kept: exchangelib's
OofSettings(state=DISABLED) alone would send empty texts, which replace the saved ones.

Texts come from --internal/--external or --internal-file/--external-file (UTF-8). Outlook and
OWA keep automatic replies as HTML: plain text is escaped and its line breaks kept, so it shows
as typed; --html (or a .html/.htm file) sends the text as HTML. Without --external, outside
senders get the internal text. Dates: 2026-12-05 or 2026-12-05T18:00 (in EWS_TIMEZONE, else
the machine's zone) or with an offset; an --end that is a date alone includes that whole day.

Examples:
  oof.py show
  oof.py enable --internal "Away today, ask Carol." --audience none
  oof.py schedule --start 2026-12-05 --end 2026-12-06 --internal-file away.txt \\
      --external "I am away until Monday." --audience known
  oof.py disable

Copy with: ews_config.py, ews_cli.py (from scripts/; requirements.txt)
"""
import argparse
import html
import sys

import ews_cli
import ews_config

AUDIENCES = {"none": "None", "known": "Known", "all": "All"}


def read_reply(args, which):
    text, path = getattr(args, which), getattr(args, f"{which}_file")
    if text is not None and path:
        raise ews_config.ConfigError(f"give --{which} or --{which}-file, not both")
    if path:
        text = ews_cli.read_text(path, f"--{which}-file")
        args.html = args.html or path.lower().endswith((".html", ".htm"))
    return text


def as_html(text, is_html):
    """Plain text escaped, its lines kept (<br>), so that an HTML reply shows it as typed."""
    if is_html or text is None:
        return text
    return "<html><body>" + "<br>\n".join(html.escape(line) for line in text.splitlines()) + "</body></html>"


def check_args(args):
    from datetime import datetime, timezone
    args.internal, args.external = read_reply(args, "internal"), read_reply(args, "external")
    if args.action in ("show", "disable"):
        extra = [flag for flag, value in (("--internal", args.internal), ("--external", args.external),
                                          ("--start", args.start), ("--end", args.end), ("--audience", args.audience))
                 if value is not None]
        if extra:
            raise ews_config.ConfigError(f"{extra[0]} is for enable and schedule, not {args.action}")
        return
    if args.internal is None or not args.internal.strip():
        raise ews_config.ConfigError(f"{args.action} needs the reply: --internal TEXT or --internal-file FILE")
    if args.external is not None and not args.external.strip():
        raise ews_config.ConfigError("--external is empty: leave it out to send the internal text outside")
    if args.action == "enable" and (args.start or args.end):
        raise ews_config.ConfigError("--start and --end are for schedule; enable replies from now until disabled")
    if args.action == "schedule":
        if not (args.start and args.end):
            raise ews_config.ConfigError("schedule needs --start and --end")
        start, end = args.start, args.end
        args.start = ews_cli.parse_when(start, "--start")
        args.end = ews_cli.parse_when(end, "--end", end=True)
        if args.end <= args.start:
            raise ews_config.ConfigError(f"--end {end} is not after --start {start}: the window would end before "
                                         "it starts")
        if args.end <= datetime.now(timezone.utc):
            raise ews_config.ConfigError("--end is in the past: the reply would never be sent")


def describe(settings, zone):
    result = {"state": settings.state, "external_audience": settings.external_audience,
              "internal_reply": settings.internal_reply, "external_reply": settings.external_reply}
    if settings.state == "Scheduled":  # for other states Exchange answers a window of its own (today)
        result.update(start=settings.start.astimezone(zone).isoformat(), end=settings.end.astimezone(zone).isoformat())
    return result


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("action", choices=("show", "enable", "schedule", "disable"))
    parser.add_argument("--internal", metavar="TEXT", help="the reply to your organization")
    parser.add_argument("--internal-file", metavar="FILE", help="... read from a UTF-8 file")
    parser.add_argument("--external", metavar="TEXT", help="the reply to outside senders (default: the internal one)")
    parser.add_argument("--external-file", metavar="FILE", help="... read from a UTF-8 file")
    parser.add_argument("--html", action="store_true", help="the texts are HTML (default: plain text)")
    parser.add_argument("--audience", choices=AUDIENCES, help="outside senders answered: none, known (in your "
                                                              "Contacts), all (default all)")
    parser.add_argument("--start", metavar="WHEN", help="schedule: from, e.g. 2026-12-05 or 2026-12-04T18:00")
    parser.add_argument("--end", metavar="WHEN", help="schedule: until (a date alone: to the end of that day)")
    parser.add_argument("--dry-run", action="store_true", help="print the settings; save nothing")
    args = ews_cli.parse_args(parser, argv, check_args)

    with ews_config.connect(args) as ews:
        from exchangelib import OofSettings
        account = ews.account()
        zone = account.default_timezone
        if args.action == "show":
            settings = account.oof_settings  # GetUserOofSettings (not cached: each access asks again)
        else:
            if args.action == "disable":
                settings = account.oof_settings  # the texts, kept: empty ones would replace them
                settings.state = OofSettings.DISABLED
                settings.start = settings.end = None
            else:
                internal = as_html(args.internal, args.html)
                settings = OofSettings(
                    state=OofSettings.SCHEDULED if args.action == "schedule" else OofSettings.ENABLED,
                    internal_reply=internal, external_reply=as_html(args.external, args.html) or internal,
                    external_audience=AUDIENCES[args.audience or "all"],
                    start=args.start if args.action == "schedule" else None,
                    end=args.end if args.action == "schedule" else None)
            if not args.dry_run:
                account.oof_settings = settings  # SetUserOofSettings; exchangelib sends the window in UTC
        result = describe(settings, zone)

    if args.json:
        ews_cli.print_json({**result, "dry_run": args.dry_run} if args.action != "show" else result)
        return 0
    window = f" from {result['start'][:16]} to {result['end'][:16]}" if "start" in result else ""
    done = "" if args.action == "show" else ("would be saved (dry run): " if args.dry_run else "saved: ")
    print(f"{done}automatic replies {result['state'].lower()}{window}, outside senders answered: "
          f"{result['external_audience'].lower()}")
    if result["state"] != "Disabled" or args.action == "show":
        print(f"-- internal reply:\n{result['internal_reply'] or ''}")
        print(f"-- external reply:\n{result['external_reply'] or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
