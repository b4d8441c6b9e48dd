#!/usr/bin/env python3
"""Put messages into a folder in bulk as received mail (not drafts): .eml files, or generated test mail.

Files: each .eml given, and every *.eml below a directory given, goes in as it is (raw MIME,
exchangelib's mime_content). Generated: --count N messages from --from, with subjects from
--subject, a Python format with {n} (1..N) such as 'Promo {n:02d}', built as MIME too.
They land in --folder (default Inbox) unread, or read with --read, and never as drafts:
CreateItem saves a message as a draft wherever it goes unless PidTagMessageFlags (0x0E07)
is given at creation. A file's Date becomes its time received (PidTagMessageDeliveryTime).
Nothing goes in twice: a Message-ID already in the folder, or met earlier in the run, is
skipped; a file without one, and each generated message, gets one made from its content,
so running the same command again creates nothing new.
Costs per --chunk-size messages (default 100): one CreateItem, and a FindItem per 100 of
them (which Message-IDs the folder holds; a GetItem more per 100 it does). An element that
fails (ErrorMessageSizeExceeded over the server's size limit...) is reported and the others
are created (exit 1). --dry-run looks the duplicates up and says what it would create.

Examples:
  import_messages.py --count 50 --from noreply@shop.example --subject 'Promo {n:02d}' --unread
  import_messages.py export/*.eml --folder Inbox/Imported --create-folder --read
  import_messages.py ~/mail-archive --folder Archive/2019 --create-folder --dry-run --json

Copy with: ews_config.py, ews_cli.py, ews_folders.py (from scripts/; requirements.txt)
"""
import argparse
import hashlib
import re
import sys
from pathlib import Path

import ews_cli
import ews_config
import ews_folders

LOOK_UP = 100  # Message-IDs asked for in one FindItem
MF_READ = 0x1  # PidTagMessageFlags: read; mfUnsent (0x8, a draft) left clear
HEADER = re.compile(rb"[!-9;-~]+[ \t]*:")  # a header field's name and colon (RFC 5322 2.2, 4.5.3)


class Entry:
    """One message to import: its file (read when its chunk is sent) or generated subject, its Message-ID."""

    def __init__(self, source, message_id, date=None, subject=None, add_id=False):
        self.source, self.message_id, self.date, self.subject = source, message_id, date, subject
        self.add_id = add_id  # a file without a Message-ID: the one made up goes in front of its headers

    def key(self):
        return self.message_id.casefold()


def header_block(raw):
    """The header lines of RFC 822 bytes, unfolded, as [(name, value)]; None when it is not MIME."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    lines = re.sub(rb"\r?\n[ \t]", b" ", head).splitlines()
    if not lines or not all(HEADER.match(line) for line in lines):
        return None
    return [(name.strip().decode("ascii", "replace"), value.strip().decode("utf-8", "replace"))
            for name, _, value in (line.partition(b":") for line in lines)]


def eml_entry(path):
    """An Entry for one .eml file, or one line (exit 2) saying why it cannot be imported."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ews_config.ConfigError(f"{path}: cannot be read ({error.strerror})")
    headers = header_block(raw)
    names = {name.casefold() for name, _ in headers or []}
    if not headers or not names & {"from", "subject", "date", "message-id"}:
        raise ews_config.ConfigError(f"{path}: not a MIME message (no header lines such as From:, Subject:, Date:)")
    message_id = next((value for name, value in headers if name.casefold() == "message-id" and value), None)
    date = next((value for name, value in headers if name.casefold() == "date"), None)
    made_up = f"<{hashlib.sha256(raw).hexdigest()[:32]}@import.invalid>"
    return Entry(str(path), message_id or made_up, date, add_id=not message_id)


def eml_files(paths):
    files = []
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted(path for path in given.rglob("*.eml") if path.is_file())
            if not found:
                raise ews_config.ConfigError(f"{given}: no .eml files in this directory")
            files += found
        elif given.is_file():
            files.append(given)
        else:
            raise ews_config.ConfigError(f"{given}: no such file or directory")
    return files


def check_source(args):
    if bool(args.files) == (args.count is not None):
        raise ews_config.ConfigError("give .eml files or a directory, or --count N for generated messages "
                                     "(one of the two)")
    if args.chunk_size < 1:
        raise ews_config.ConfigError("--chunk-size must be 1 or more")
    ews_cli.check_folder_path(args.folder, "--folder")
    if args.files:
        if args.sender or args.to or args.body is not None or args.subject:
            raise ews_config.ConfigError("--from, --to, --subject and --body are for --count; a file brings its own")
        args.entries = [eml_entry(path) for path in eml_files(args.files)]
        return
    if args.count < 1:
        raise ews_config.ConfigError("--count must be 1 or more")
    if not args.sender:
        raise ews_config.ConfigError("--count needs --from ADDRESS (the sender of the generated messages)")
    ews_cli.check_address(args.sender, "--from")
    if args.to:
        ews_cli.check_address(args.to, "--to")
    template = args.subject or "Test message {n}"
    try:
        subjects = [template.format(n=n) for n in range(1, args.count + 1)]
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        raise ews_config.ConfigError(f"--subject {template!r} is not a format with {{n}} ({type(error).__name__}: "
                                     f"{error}); write e.g. 'Promo {{n:02d}}', doubling literal braces: {{{{ }}}}")
    ews_cli.check_length(max(subjects, key=len), "--subject", ews_cli.NAME_MAX)
    args.entries = [generated_entry(args, n, subject) for n, subject in enumerate(subjects, 1)]


def generated_entry(args, n, subject):
    # the same command makes the same Message-IDs: run again, it finds them and creates nothing twice
    digest = hashlib.sha256("\0".join([args.sender, args.to or "", subject, args.body or "", str(n)]).encode())
    return Entry(subject, f"<{digest.hexdigest()[:32]}@{args.sender.rpartition('@')[2]}>", subject=subject)


def mime_of(entry, args, mailbox):
    """The raw message of an entry: the file's bytes, or a generated message."""
    if entry.subject is None:
        raw = Path(entry.source).read_bytes()
        return f"Message-ID: {entry.message_id}\r\n".encode() + raw if entry.add_id else raw
    from email.message import EmailMessage
    from email.utils import formatdate
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = args.sender, args.to or mailbox, entry.subject
    message["Date"], message["Message-ID"] = formatdate(localtime=False), entry.message_id
    message.set_content(args.body if args.body is not None else f"{entry.subject}\n")
    return message.as_bytes()


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("files", nargs="*", metavar="EML", help=".eml files, or directories searched for *.eml")
    parser.add_argument("--count", type=int, metavar="N", help="generate N messages instead of importing files")
    parser.add_argument("--from", dest="sender", metavar="ADDRESS", help="generated: the sender")
    parser.add_argument("--to", metavar="ADDRESS", help="generated: the recipient (default: the mailbox)")
    parser.add_argument("--subject", metavar="FORMAT",
                        help="generated: e.g. 'Promo {n:02d}' (default 'Test message {n}')")
    parser.add_argument("--body", metavar="TEXT", help="generated: the text (default: the subject)")
    parser.add_argument("--folder", default="Inbox", metavar="PATH", help="where they go (default Inbox)")
    parser.add_argument("--create-folder", action="store_true", help="create --folder if it does not exist")
    state = parser.add_mutually_exclusive_group()
    state.add_argument("--unread", dest="read", action="store_false", help="unread, as new mail arrives (default)")
    state.add_argument("--read", dest="read", action="store_true", help="marked read")
    parser.set_defaults(read=False)  # store_false's own default would be True
    parser.add_argument("--chunk-size", type=int, default=100, metavar="N",
                        help="messages per EWS request (default 100)")
    parser.add_argument("--dry-run", action="store_true",
                        help="look up duplicates, say what would be created; change nothing")
    args = ews_cli.parse_args(parser, argv, check_source)

    entries, seen, skipped = [], set(), []
    for entry in args.entries:  # the same Message-ID twice in one run: the first one only
        (skipped if entry.key() in seen else entries).append(entry)
        seen.add(entry.key())
    created, failed, unknown, stopped = [], [], [], None
    with ews_config.connect(args) as ews:
        Message = message_class()
        account = ews.account()
        try:
            folder = ews_folders.folder_by_path(account, args.folder, create=args.create_folder and not args.dry_run)
        except ews_config.ConfigError:
            if not (args.dry_run and args.create_folder):
                raise
            folder = None  # made by the real run: nothing in it yet

        def present(chunk):
            """The keys of the chunk's Message-IDs the folder holds: a FindItem (an Or of IsEqualTo) per 100."""
            found = set()
            for start in range(0, len(chunk) if folder else 0, LOOK_UP):  # a longer Or: ErrorRestrictionTooComplex
                query = folder.filter(message_id__in=[entry.message_id for entry in chunk[start:start + LOOK_UP]])
                # message_id is not in FindItem's answer: exchangelib adds a GetItem per 100 found
                found |= {value.casefold() for value in query.values_list("message_id", flat=True) if value}
            return found

        def create(chunk):
            mailbox = account.primary_smtp_address
            messages = [Message(account=account, folder=folder, mime_content=mime_of(entry, args, mailbox),
                                is_read=args.read, message_flags=MF_READ if args.read else 0,
                                delivery_time=received_time(entry.date)) for entry in chunk]
            # SaveOnly (bulk_create's default) makes drafts unless message_flags is set; one result per element
            return account.bulk_create(folder, messages, chunk_size=args.chunk_size)

        def left(chunk):  # after a lost answer: the messages of the chunk that are not there yet
            there = present(chunk)
            return [entry for entry in chunk if entry.key() not in there]

        would = []
        for start in range(0, len(entries), args.chunk_size):
            chunk, writing = entries[start:start + args.chunk_size], False
            try:
                there = present(chunk)
                skipped += [entry for entry in chunk if entry.key() in there]
                chunk = [entry for entry in chunk if entry.key() not in there]
                if args.dry_run or not chunk:
                    would += chunk
                    continue
                writing = True
                results = ews_cli.attempt(create, chunk, left if ews.budget.max_wait > 0 else None)
            except Exception as error:  # the request as a whole was refused or lost: stop here
                if writing and ews_cli.outcome_unknown(error):
                    unknown += chunk
                elif writing:
                    failed += [(entry, error) for entry in chunk]
                rest = entries[start + args.chunk_size:]
                stopped = (ews_config.classify(error, ews)[1], rest if writing else chunk + rest)
                break
            for entry, result in zip(chunk, results):
                if isinstance(result, Exception):
                    failed.append((entry, result))
                else:
                    created.append((entry, getattr(result, "id", None)))
            if len(entries) > args.chunk_size and not args.dry_run:
                print(f"ews: imported {len(created)} of {len(entries)}", file=sys.stderr)

    return report(args, created, skipped, failed, unknown, stopped, would)


def message_class():
    """exchangelib's Message with the two MAPI properties an import sets (registered once a process)."""
    from exchangelib import ExtendedProperty, Message

    class MessageFlags(ExtendedProperty):
        property_tag = 0x0E07  # PidTagMessageFlags: only at creation; without it Exchange makes a draft
        property_type = "Integer"

    class DeliveryTime(ExtendedProperty):
        property_tag = 0x0E06  # PidTagMessageDeliveryTime: DateTimeReceived
        property_type = "SystemTime"

    for name, cls in (("message_flags", MessageFlags), ("delivery_time", DeliveryTime)):
        if name not in {field.name for field in Message.FIELDS}:
            Message.register(name, cls)
    return Message


def received_time(date):
    """The Date header as an aware datetime (the time received of an imported file), or None."""
    from email.utils import parsedate_to_datetime
    if not date:
        return None
    try:
        value = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    if value.tzinfo is None or value.year < 1900:
        return None
    from exchangelib import EWSDateTime
    return EWSDateTime.from_datetime(value)


def report(args, created, skipped, failed, unknown, stopped, would):
    not_attempted = stopped[1] if stopped else []
    listing = lambda entries: [{"source": e.source, "message_id": e.message_id} for e in entries]  # noqa: E731
    if args.json:
        ews_cli.print_json({
            "folder": args.folder, "dry_run": args.dry_run, "count": len(args.entries),
            **({"would_create": listing(would)} if args.dry_run else
               {"created": [{**listing([e])[0], "id": item_id} for e, item_id in created]}),
            "skipped": listing(skipped),
            "failed": [{"source": e.source, "message_id": e.message_id, "error": type(error).__name__,
                        "message": str(error)} for e, error in failed],
            "outcome_unknown": listing(unknown), "not_attempted": listing(not_attempted)})
    elif args.dry_run:
        print(f"would import {len(would)} of {len(args.entries)} messages into {args.folder}, "
              f"{len(skipped)} skipped (already there) (dry run, nothing changed)")
    if not stopped:
        for entry, error in failed:
            print(f"ews: failed: {entry.source}: {type(error).__name__}: {error}", file=sys.stderr)
    summary = ", ".join([f"imported {len(created)} of {len(args.entries)} messages into {args.folder}"]
                        + [f"{len(skipped)} skipped (already there)"] * bool(skipped)
                        + [f"{len(failed)} failed"] * bool(failed)
                        + [f"{len(unknown)} outcome unknown (run again: what is there is skipped)"] * bool(unknown)
                        + [f"{len(not_attempted)} not attempted"] * bool(not_attempted))
    if stopped:
        print(f"ews: stopped: {stopped[0]}; {summary}", file=sys.stderr)
    elif not args.json and not args.dry_run:
        print(summary + (", each failure on stderr" if failed else ""))
    return 1 if failed or unknown or not_attempted else 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
