"""Choosing messages from the command line: the flags (--folder, --unread, --from, --since...),
their checks, the filters they stand for, and a listing's fields as a JSON-ready row.

Copy it with the mail script that imports it, beside ews_config.py, ews_cli.py and ews_folders.py.
"""
from ews_cli import EWS_ID, check_address, check_folder_path, parse_when, read_ids
from ews_config import ConfigError


# What a listing can show (output name: exchangelib Message field). FindItem returns all of them.
MESSAGE_FIELDS = {"id": "id", "received": "datetime_received", "from": "author", "to": "display_to",
                  "cc": "display_cc", "subject": "subject", "is_read": "is_read", "has_attachments": "has_attachments",
                  "importance": "importance", "categories": "categories", "size": "size", "sent": "datetime_sent"}


SORT_FIELDS = {"received": "datetime_received", "sent": "datetime_sent", "subject": "subject", "size": "size",
               "importance": "importance"}


PAGE_MAX = 1000  # the most one FindItem page holds under Exchange's default throttling policy


def add_query_arguments(parser, limit=None, skip=()):
    """The flags that choose messages; `skip` leaves some out (by name without dashes)."""
    group = parser.add_argument_group("which messages")
    flags = {
        "folder": dict(default="Inbox", metavar="PATH", help="folder path from the top of the mailbox, any case, "
                                                              "e.g. Inbox/Projects/2026 (default Inbox)"),
        "id": dict(action="append", default=[], metavar="ID", help="a message id (repeatable): filters are ignored"),
        "ids-from": dict(metavar="FILE", help="ids from read_inbox.py --json output, or one a line (- for stdin)"),
        "unread": dict(action="store_true", help="unread messages only"),
        "from": dict(dest="sender", metavar="ADDR", help="sent by ADDR"),
        "to": dict(dest="recipient", metavar="ADDR", help="sent to ADDR (Exchange's search string: combines only "
                                                           "with --from and --category)"),
        "subject": dict(metavar="TEXT", help="subject contains TEXT (any case)"),
        "body-contains": dict(metavar="TEXT", help="body contains TEXT (any case)"),
        "since": dict(metavar="DATE", help="received at or after DATE: 2026-03-01, 2026-03-01T09:30, 7d, 12h"),
        "until": dict(metavar="DATE", help="received before DATE (a date alone includes that day)"),
        "has-attachments": dict(action="store_true", help="with attachments only"),
        "category": dict(action="append", default=[], metavar="NAME", help="has category NAME (repeatable: all)"),
        "importance": dict(choices=("low", "normal", "high")),
        "order": dict(default="-received", metavar="[-]FIELD",
                      help=f"sort by {', '.join(SORT_FIELDS)}; a leading - sorts descending (default -received)"),
        "limit": dict(type=int, default=limit, metavar="N", help=f"at most N messages (default {limit or 'all'})"),
    }
    for name, options in flags.items():
        if name not in skip:
            group.add_argument(f"--{name}", **options)


def check_query(args):
    """Validate the query flags and convert them in place (dates to UTC datetimes, ids files to ids).
    A flag given empty (--from "") is checked like any value, never taken as absent."""
    get = lambda name: getattr(args, name, None)  # noqa: E731 - scripts skip some flags
    for name, flag in (("sender", "--from"), ("recipient", "--to")):
        if get(name) is not None:
            check_address(get(name), flag)
    since, until = get("since"), get("until")
    if since is not None:
        args.since = parse_when(since, "--since")
    if until is not None:
        args.until = parse_when(until, "--until", end=True)
    if get("folder") is not None:
        check_folder_path(args.folder, "--folder")
    if since and until and args.until <= args.since:
        raise ConfigError(f"--until {until} is not after --since {since}; swap them or widen the range")
    if get("limit") is not None and args.limit < 1:
        raise ConfigError("--limit must be 1 or more")
    if get("order") and args.order.lstrip("-") not in SORT_FIELDS:
        raise ConfigError(f"--order {args.order!r}: sort by one of {', '.join(SORT_FIELDS)} (- first for descending)")
    if get("recipient") and any(get(n) for n in ("unread", "since", "until", "has_attachments", "importance")):
        raise ConfigError("--to uses Exchange's search string, which exchangelib cannot join with --unread, --since, "
                          "--until, --has-attachments or --importance; drop one side")
    if get("recipient") and (get("subject") or get("body_contains")):  # a word search there, not 'contains'
        raise ConfigError("--to uses Exchange's search string, in which --subject and --body-contains would match "
                          "whole words only ('icket' would not find 'Ticket'); drop one side")
    if any(not item_id.strip() for item_id in get("id") or []):  # exchangelib would abort the whole request
        raise ConfigError("--id '': an id cannot be empty; drop it")
    if get("ids_from") is not None:
        args.id = list(get("id") or []) + read_ids(args.ids_from)
    odd = next((item_id for item_id in get("id") or [] if not EWS_ID.fullmatch(item_id.strip())), None)
    if odd is not None:  # ids are base64 text; anything else would fail inside exchangelib
        raise ConfigError(f"--id {odd[:40]!r}: not an EWS item id (they are base64 text, as read_inbox.py --json gives)")


def ids_given(args):
    """True when --id or --ids-from chose the messages, even zero of them: then filters are not used."""
    return bool(getattr(args, "id", None)) or getattr(args, "ids_from", None) is not None


def has_filters(args):
    names = ("unread", "sender", "recipient", "subject", "body_contains", "since", "until", "has_attachments",
             "category", "importance", "limit")
    return ids_given(args) or any(getattr(args, name, None) for name in names)


def restriction(args):
    """The selecting flags as what QuerySet.filter() takes: field lookups such as is_read=False,
    author="bob@contoso.example", subject__icontains="invoice", datetime_received__gte=<UTC datetime>;
    with --to, Exchange's search string instead (AQS: EWS filters on recipients only there)."""
    get = lambda name: getattr(args, name, None)  # noqa: E731 - scripts skip some flags
    if get("recipient"):
        terms = [f"to:{args.recipient}"] + [f'{key}:"{get(name)}"' for key, name in (
            ("from", "sender"), ("subject", "subject"), ("body", "body_contains")) if get(name)]
        return (" ".join(terms + [f'category:"{name}"' for name in get("category") or []]),), {}
    lookups = {"is_read": False if get("unread") else None, "author": get("sender"),
               "subject__icontains": get("subject"), "body__icontains": get("body_contains"),
               "datetime_received__gte": get("since"), "datetime_received__lt": get("until"),
               "has_attachments": True if get("has_attachments") else None,
               "categories__contains": get("category") or None,
               "importance": get("importance") and get("importance").capitalize()}
    return (), {key: value for key, value in lookups.items() if value is not None}


def sort_field(args):
    """--order as order_by() takes it: '-received' -> '-datetime_received'."""
    order = getattr(args, "order", None) or "-received"
    return ("-" if order.startswith("-") else "") + SORT_FIELDS[order.lstrip("-")]


def find_messages(query, names, limit=None):
    """The messages of `query` with the MESSAGE_FIELDS `names`, from FindItem pages alone, each
    page as large as `limit` needs (PAGE_MAX at most).

    A QuerySet would add one GetItem per 100 messages as soon as From is asked for: exchangelib
    counts sender fields as complex, since FindItem gives a sender's display name only. The
    address comes with FindItem as PidTagSentRepresentingSmtpAddress, so this calls exchangelib's
    FindItem service with that property beside From."""
    from exchangelib import Message
    from exchangelib.fields import FieldPath
    from exchangelib.restriction import Restriction
    from exchangelib.services import FindItem
    folders = query.folder_collection
    fields = {FieldPath(field=Message.get_field_by_fieldname(MESSAGE_FIELDS.get(n, n))) for n in names if n != "id"}
    if "from" in names:
        fields.add(FieldPath(field=_sender_address_field()))
    search = None if query.q.is_empty() else Restriction(query.q, folders.folders, applies_to=Restriction.ITEMS)
    is_text = query.q.query_string is not None  # a search string (AQS) travels as QueryString, not Restriction
    found = FindItem(account=folders.account, page_size=min(limit or PAGE_MAX, PAGE_MAX)).call(
        folders=folders.folders, additional_fields=fields or None, restriction=None if is_text else search,
        order_fields=query.order_fields, shape="IdOnly", query_string=search if is_text else None,
        depth="Shallow", calendar_view=None, max_items=limit, offset=0)
    if fields:
        return found
    # with no field asked for, exchangelib answers (id, changekey) tuples: make them messages like the others
    return (Message(account=folders.account, id=item_id, changekey=changekey) for item_id, changekey in found)


def _sender_address_field():
    """PidTagSentRepresentingSmtpAddress (0x5D02), From's address, registered on Message once per
    process. Not PidTagSenderSmtpAddress (0x5D01): that is the Sender's, another mailbox when
    the message was sent on behalf of someone."""
    from exchangelib import ExtendedProperty, Message

    class FromSmtpAddress(ExtendedProperty):
        property_tag = 0x5D02
        property_type = "String"

    if "from_smtp_address" not in {field.name for field in Message.FIELDS}:
        Message.register("from_smtp_address", FromSmtpAddress)
    return Message.get_field_by_fieldname("from_smtp_address")


def message_row(item, names):
    """A JSON-ready dict of the fields `names` of one message (times as ISO 8601 in UTC)."""
    row = {}
    for name in names:
        value = getattr(item, MESSAGE_FIELDS.get(name, name), None)
        if name == "from" and value is not None:  # the SMTP address when Exchange gives one, else the name
            smtp = getattr(item, "from_smtp_address", None) or (
                value.email_address if value.routing_type in (None, "SMTP") else None)
            value = smtp or value.name
        row[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return row
