#!/usr/bin/env python3
"""List or download the attachments of matching messages, or attach files to a draft.

list:     the attachments of the messages the query flags choose, among those Exchange
          marks HasAttachments (a message whose only attachments are inline images may
          not be: reach it with --id).
download: saves them into --out, streamed in pieces, so memory stays flat for large
          files. Names are made safe: the last path part only (no / \\ or ..), no control,
          invisible (bidi) or reserved characters, never empty, shortened when long, and an
          existing file is never replaced (report (1).pdf). Attached messages are saved as
          .eml. Each saved path is printed.
attach:   adds files to the draft --id (one CreateAttachment per file); --dry-run checks only.

Cost: FindItem pages for the query, one GetItem per 100 messages for the attachment list,
one GetAttachment per attachment downloaded.

Examples:
  attachments.py list --from bob@contoso.example --since 30d
  attachments.py download --folder Inbox/Projects --subject invoice --out ./invoices --json
  attachments.py attach --id AAMk... --file report.pdf --file data.csv

Copy with: ews_config.py, ews_cli.py, ews_folders.py, mail_query.py, send_once.py (from scripts/; requirements.txt)
"""
import argparse
import itertools
import os
import re
import sys
from pathlib import Path

import ews_cli
import ews_config
import ews_folders
import mail_query
import send_once

PIECE = 256 * 1024  # bytes read at a time from the streamed GetAttachment answer
MAX_NAME_BYTES = 150
RESERVED = re.compile(r"(?i)(con|prn|aux|nul|com\d|lpt\d)(\..*)?")  # device names Windows will not open


def safe_name(name, fallback="attachment"):
    """A file name that can only land inside the target folder."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]  # drop any folder part: ../../x, C:\x
    base = ews_cli.visible(base, "_")  # no bidi override: invoice\u202efdp.exe must not show as ...exe.pdf
    base = re.sub(r'[<>:"|?*]', "_", base).strip(" ").rstrip(" .")
    base = f"{fallback}.{base.lstrip('.')}" if base.startswith(".") else base  # not hidden; ".pdf" stays a PDF
    base = "_" + base if RESERVED.fullmatch(base) else base or fallback
    if len(base.encode()) > MAX_NAME_BYTES:
        stem, ext = os.path.splitext(base)
        ext = ext if len(ext.encode()) <= 16 else ""
        stem = stem.encode()[:MAX_NAME_BYTES - len(ext.encode())].decode(errors="ignore")
        base = stem + ext
    return base


def open_new(folder, name):
    """(path, file) for a file created new in `folder`: 'name', else 'name (1)', 'name (2)'..."""
    stem, ext = os.path.splitext(name)
    for n in itertools.count():
        path = folder / (name if n == 0 else f"{stem} ({n}){ext}")
        try:
            return path, open(path, "xb")  # x: fails rather than replace a file, or follow a link
        except FileExistsError:
            continue


def save(attachment, folder):
    """Write one attachment into `folder`; return (path, bytes written)."""
    from exchangelib import FileAttachment
    is_file = isinstance(attachment, FileAttachment)
    name = safe_name(attachment.name if is_file else f"{safe_name(attachment.name, 'message')}.eml")
    path, handle = open_new(folder, name)
    written = 0
    try:
        with handle:
            if is_file:
                with attachment.fp as stream:  # GetAttachment, decoded as it arrives
                    while piece := stream.read(PIECE):
                        written += handle.write(piece)
            else:  # an attached message: its MIME content
                written = handle.write(attachment.item.mime_content or b"")
    except BaseException:
        path.unlink(missing_ok=True)  # no half-written file left behind
        raise
    return path, written


def check_action(args):
    if args.action == "attach":
        if len(args.id) != 1 or not args.file:
            raise ews_config.ConfigError("attach needs one --id (the draft) and at least one --file")
        args.file = [ews_cli.check_file(path, "--file") for path in args.file]
    elif args.file:
        raise ews_config.ConfigError(f"--file is for attach, not {args.action}")
    if args.action == "download":
        check_out(args.out)
    args.has_attachments = True


def check_out(path):
    """--out must be a folder that exists or can be made, and that we may write into: known before
    connecting rather than at the first attachment. (Some, like /sys/x, only fail when made.)"""
    out = Path(path)
    existing = next(folder for folder in [out, *out.parents] if folder.exists())
    if not existing.is_dir():
        raise ews_config.ConfigError(f"--out {path}: {existing} is not a folder; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ews_config.ConfigError(f"--out {path}: {existing} is not writable; choose another --out")


def make_folder(path):
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ews_config.ConfigError(f"--out {path}: cannot create it ({error.strerror}); choose another --out")


def attach(account, args):
    from exchangelib import FileAttachment
    [draft] = account.fetch([(args.id[0], None)], only_fields=["subject", "is_draft"])
    if isinstance(draft, Exception):
        raise draft
    if not draft.is_draft:
        raise ews_config.ConfigError(f"--id: {draft.subject!r} is not a draft; attach files to a draft only")
    rows = [{"draft_id": draft.id, "subject": draft.subject, "name": p.name, "size": p.stat().st_size}
            for p in args.file]
    if not args.dry_run:  # one CreateAttachment per file, never twice (see send_once.attach_once)
        send_once.attach_once(draft, [FileAttachment(name=path.name, content=path.read_bytes()) for path in args.file])
    return rows


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 1)[1]
    parser.add_argument("action", choices=("list", "download", "attach"))
    mail_query.add_query_arguments(parser, skip=("has-attachments",))
    parser.add_argument("--out", default=".", metavar="DIR", help="download: the folder to save into (default .)")
    parser.add_argument("--file", action="append", default=[], metavar="PATH", help="attach: a file (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="attach: check the draft and files, change nothing")
    args = ews_cli.parse_args(parser, argv, mail_query.check_query, check_action)

    with ews_config.connect(args) as ews:
        account = ews.account()
        if args.action == "attach":
            rows, columns = attach(account, args), ["subject", "name", "size"]
        else:
            if mail_query.ids_given(args):  # exactly these, even none
                messages = [(item_id, None) for item_id in args.id]
            else:
                folder = ews_folders.folder_by_path(account, args.folder)
                texts, lookups = mail_query.restriction(args)  # is_read=False, author=..., subject__icontains=...
                query = folder.filter(*texts, **lookups).order_by(mail_query.sort_field(args))  # lazy: nothing sent yet
                # one FindItem per 1,000; iterating the QuerySet: per 100, and GetItem for From
                messages = list(mail_query.find_messages(query, ["subject"], args.limit))
            out = Path(args.out)
            rows, columns = [], ["subject", "name", "size", "content_type", "inline"]
            for message in account.fetch(messages, only_fields=["subject", "attachments"]):  # GetItem, 100 a call
                if isinstance(message, Exception):
                    raise message
                for attachment in message.attachments:
                    row = {"message_id": message.id, "subject": message.subject, "name": attachment.name,
                           "attachment_id": attachment.attachment_id.id, "size": attachment.size,
                           "content_type": attachment.content_type, "inline": attachment.is_inline,
                           "kind": type(attachment).__name__}
                    if args.action == "download":
                        make_folder(out)
                        try:
                            path, row["bytes"] = save(attachment, out)
                        except OSError as error:  # a full disk, a folder made read-only meanwhile
                            raise ews_config.ConfigError(f"--out {args.out}: cannot write {attachment.name!r} "
                                                         f"({error.strerror})")
                        row["path"] = str(path.resolve())
                        if not args.json:
                            print(f"saved {row['path']} ({row['bytes']} bytes)")
                    rows.append(row)

    if args.json:
        ews_cli.print_json(rows)
    elif not rows:
        print("ews: no attachment found", file=sys.stderr)
    elif args.action != "download":
        ews_cli.print_table(rows, columns)
        if args.action == "attach":
            print("(dry run: nothing attached)" if args.dry_run else f"attached {len(rows)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
