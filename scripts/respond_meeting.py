#!/usr/bin/env python3
"""Accept, tentatively accept or decline meeting requests, chosen by id or by subject, with an optional message.

By --id (a meeting request in the Inbox, or the meeting in the Calendar: calendar_view.py
--json gives its id): one GetItem for the ids. By --subject (and --organizer): the meeting
requests in the Inbox whose subject contains the text (one FindItem); more than one match
needs --all. Then one CreateItem per response (AcceptItem, TentativelyAcceptItem,
DeclineItem): the organizer gets the response (with --message as its text), your calendar
copy shows the answer, and the request leaves the Inbox; declining removes the meeting from
your calendar. --no-send records the answer without telling the organizer (the response is
kept in Drafts). --dry-run lists the requests that would be answered.

Examples:
  respond_meeting.py accept --subject "Sync" --message "See you there"
  respond_meeting.py decline --id AAMkAGI2... --message "On holiday"
  respond_meeting.py tentative --subject Planning --organizer alice@contoso.example --all --json

Copy with: ews_config.py, ews_cli.py
"""
import argparse
import sys

import ews_cli
import ews_config

VERBS = {"accept": "accept", "tentative": "tentatively_accept", "decline": "decline"}  # exchangelib's methods
WORDS = {"accept": "accepted", "tentative": "tentatively accepted", "decline": "declined"}


def check_choice(args):
    if bool(args.id) == bool(args.subject):
        raise ews_config.ConfigError("give --id ID (repeatable) or --subject TEXT to choose the meeting requests")
    if args.organizer:
        ews_cli.check_address(args.organizer, "--organizer")
    if args.id and args.organizer:
        raise ews_config.ConfigError("--organizer narrows a --subject search; an --id is already one meeting")
    for item_id in args.id:
        if not ews_cli.EWS_ID.fullmatch(item_id):
            raise ews_config.ConfigError(f"--id {item_id!r} is not an EWS item id")


def chosen(account, args):
    """The meetings to answer: by id (GetItem), or the meeting requests in the Inbox matching --subject."""
    from exchangelib.items import MeetingRequest
    if args.id:
        found = list(account.fetch([(item_id, None) for item_id in args.id]))  # GetItem, an answer per id
        missing = [f"--id {i}: {type(e).__name__}" for i, e in zip(args.id, found) if isinstance(e, Exception)]
        if missing:
            raise ews_config.ConfigError("; ".join(missing))
        wrong = [i.subject for i in found if not hasattr(i, "accept")]
        if wrong:
            raise ews_config.ConfigError(f"--id: {wrong[0]!r} is not a meeting request or meeting")
        return found
    # FindItem; the item class keeps replies and cancellations with the same subject out
    query = account.inbox.filter(subject__contains=args.subject, item_class="IPM.Schedule.Meeting.Request")
    requests = [m for m in query.only("subject", "start", "end", "organizer") if isinstance(m, MeetingRequest)]
    if args.organizer:
        requests = [m for m in requests if m.organizer and m.organizer.email_address.lower() == args.organizer.lower()]
    if not requests:
        raise ews_config.ConfigError(f"--subject {args.subject!r}: no meeting request in the Inbox matches")
    if len(requests) > 1 and not args.all:
        raise ews_config.ConfigError(f"--subject {args.subject!r}: {len(requests)} meeting requests match; "
                                     "narrow it, or add --all to answer each")
    return requests


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 1)[1]
    parser.add_argument("response", choices=tuple(VERBS), help="the answer")
    parser.add_argument("--id", action="append", default=[], metavar="ID", help="a meeting request or meeting (repeatable)")
    parser.add_argument("--subject", metavar="TEXT", help="meeting requests in the Inbox whose subject contains TEXT")
    parser.add_argument("--organizer", metavar="ADDR", help="with --subject: only requests from this organizer")
    parser.add_argument("--all", action="store_true", help="answer every request --subject matches")
    parser.add_argument("--message", metavar="TEXT", help="text of the response to the organizer")
    parser.add_argument("--no-send", action="store_true", help="record the answer without telling the organizer")
    parser.add_argument("--dry-run", action="store_true", help="list the requests that would be answered")
    args = ews_cli.parse_args(parser, argv, check_choice)

    with ews_config.connect(args) as ews:
        from exchangelib.items import SAVE_ONLY, SEND_AND_SAVE_COPY
        account = ews.account()
        meetings = chosen(account, args)
        rows = [{"id": m.id, "subject": m.subject, "start": m.start.isoformat() if m.start else None,
                 "organizer": m.organizer.email_address if m.organizer else None,
                 "response": args.response, "sent": not args.no_send and not args.dry_run} for m in meetings]
        for meeting in [] if args.dry_run else meetings:
            respond = getattr(meeting, VERBS[args.response])
            kwargs = {"body": args.message} if args.message else {}
            if args.no_send:  # SaveOnly: the response waits in Drafts and the organizer hears nothing
                respond(message_disposition=SAVE_ONLY, folder=account.drafts, **kwargs)
            else:
                respond(message_disposition=SEND_AND_SAVE_COPY, **kwargs)  # CreateItem AcceptItem etc.
    if args.json:
        ews_cli.print_json(rows)
    else:
        verb = "would answer" if args.dry_run else WORDS[args.response]
        for entry in rows:
            told = "" if args.dry_run else " (organizer told)" if entry["sent"] else " (organizer not told)"
            print(f"{verb} {entry['subject']!r} on {entry['start']} from {entry['organizer']}{told}")
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
