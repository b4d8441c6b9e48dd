#!/usr/bin/env python3
"""Send a message, or save it as a draft: recipients, text or HTML body, attachments, inline images.

By default the message is sent and a copy kept in Sent Items (one CreateItem call,
attachments included); --no-save-copy sends without the copy; --draft saves it in
Drafts unsent and prints its id (attachments.py attach can add files later). With
--html (implied by a .html --body-file) the body is HTML; Exchange adds the plain-text
alternative itself when the message leaves the organisation. Inline images: pass
--inline-image logo.png and write <img src="cid:logo.png"> in the HTML.
--dry-run checks everything and prints what would be sent without connecting.

Send once: the message carries a send-once key (a property of our own; --send-once-key, or a
random one). When the answer to the send is lost (a dropped connection, a timeout), the
message may have gone: with a retry policy (EWS_RETRY_MAX_WAIT) Sent Items (Drafts for
--draft) is searched for the key before sending again; without one the run stops, saying
so. A rerun with the same --send-once-key sends only if no message with that key is there.

Examples:
  send_email.py --to bob@contoso.example --subject Report --body "Attached." --attach report.pdf
  send_email.py --to team@contoso.example --cc carol@contoso.example --subject News \\
                --body-file news.html --inline-image logo.png --importance high --category Newsletter
  send_email.py --to bob@contoso.example --subject Later --body "To finish" --draft --json

Copy with: ews_config.py, ews_cli.py, send_once.py (from scripts/; requirements.txt)
"""
import argparse
import mimetypes
import sys
import uuid

import ews_cli
import ews_config
import send_once


def check_message(args):
    """Validate everything before connecting; fill args.recipients, args.text and the file lists."""
    args.recipients = {kind: [a.strip() for value in getattr(args, kind) for a in value.split(",") if a.strip()]
                       for kind in ("to", "cc", "bcc", "reply_to")}
    for kind, addresses in args.recipients.items():
        for address in addresses:
            ews_cli.check_address(address, "--" + kind.replace("_", "-"))
    if not any(args.recipients[kind] for kind in ("to", "cc", "bcc")) and not args.draft:
        raise ews_config.ConfigError("--to, --cc or --bcc: give at least one recipient (or save with --draft)")
    if args.draft and args.no_save_copy:
        raise ews_config.ConfigError("--no-save-copy applies to sending; a --draft is always saved")
    ews_cli.check_length(args.subject, "--subject", ews_cli.NAME_MAX)
    ews_cli.check_body_and_files(args)
    args.inline_image = [ews_cli.check_file(path, "--inline-image") for path in args.inline_image]
    if args.inline_image and not args.html:
        raise ews_config.ConfigError('--inline-image needs an HTML body (--html) that shows it: <img src="cid:NAME">')
    for path in args.inline_image:
        if f"cid:{path.name}" not in args.text:
            print(f"ews: warning: the HTML body does not reference cid:{path.name}", file=sys.stderr)


def plan(args):
    """What will be sent, as printed by --dry-run and --json."""
    files = lambda paths: [{"name": p.name, "bytes": p.stat().st_size} for p in paths]  # noqa: E731
    return {"action": "save draft" if args.draft else "send only" if args.no_save_copy else "send and save copy",
            "subject": args.subject, **args.recipients, "body_type": "HTML" if args.html else "Text",
            "body_chars": len(args.text), "attachments": files(args.attach),
            "inline_images": [dict(f, content_id=f["name"]) for f in files(args.inline_image)],
            "importance": args.importance, "categories": args.category}


def attachment(path, inline=False):
    from exchangelib import FileAttachment
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileAttachment(name=path.name, content=path.read_bytes(), content_type=content_type,
                          is_inline=inline, content_id=path.name if inline else None)


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    for kind in ("to", "cc", "bcc"):
        parser.add_argument(f"--{kind}", action="append", default=[], metavar="ADDR",
                            help=f"{kind.capitalize()} recipient (repeatable, or comma separated)")
    parser.add_argument("--subject", default="", metavar="TEXT")
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--body", metavar="TEXT", help="the body")
    body.add_argument("--body-file", metavar="PATH", help="read the body from a UTF-8 file (.html implies --html)")
    parser.add_argument("--html", action="store_true", help="the body is HTML")
    parser.add_argument("--attach", action="append", default=[], metavar="PATH", help="attach a file (repeatable)")
    parser.add_argument("--inline-image", action="append", default=[], metavar="PATH",
                        help="an image the HTML shows as cid:FILENAME (repeatable)")
    parser.add_argument("--importance", choices=("low", "normal", "high"))
    parser.add_argument("--category", action="append", default=[], metavar="NAME", help="a category (repeatable)")
    parser.add_argument("--reply-to", action="append", default=[], metavar="ADDR", help="where replies should go")
    parser.add_argument("--no-save-copy", action="store_true", help="send without keeping a copy in Sent Items")
    parser.add_argument("--draft", action="store_true", help="save in Drafts instead of sending")
    parser.add_argument("--send-once-key", metavar="KEY", help="send only if no message with KEY is in Sent Items "
                        "(default: a new random key)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be sent; connect to nothing")
    args = ews_cli.parse_args(parser, argv, check_message)
    result = plan(args)
    if args.dry_run:
        if args.json:
            ews_cli.print_json(result)
        else:
            print(f"would {result['action']} (dry run, nothing sent):")
            for key, value in result.items():
                if value and key != "action":
                    shown = [f"{v['name']} ({v['bytes']} bytes)" if isinstance(v, dict) else v for v in value] \
                        if isinstance(value, list) else [value]
                    print(f"  {key}: {', '.join(map(str, shown))}")
        return 0

    with ews_config.connect(args) as ews:
        from exchangelib import Body, HTMLBody, Message
        account = ews.account()
        send_once.register_send_once_key()  # Message.send_once_key: see "Send once" above
        key = args.send_once_key or uuid.uuid4().hex
        copies = account.drafts if args.draft else None if args.no_save_copy else account.sent
        message = Message(
            account=account, folder=account.drafts if args.draft else None, subject=args.subject,
            body=HTMLBody(args.text) if args.html else Body(args.text),
            to_recipients=args.recipients["to"] or None, cc_recipients=args.recipients["cc"] or None,
            bcc_recipients=args.recipients["bcc"] or None, reply_to=args.recipients["reply_to"] or None,
            importance=args.importance.capitalize() if args.importance else None, categories=args.category or None,
            send_once_key=key)
        message.attach([attachment(p) for p in args.attach] + [attachment(p, inline=True) for p in args.inline_image])
        result["send_once_key"] = key
        if args.send_once_key and send_once.already_sent(copies, key):
            result["status"] = "already sent"  # by an earlier run with this key: nothing is sent
        elif args.draft:
            send_once.send_once(message.save, key, copies, "the draft")  # CreateItem SaveOnly in Drafts
            result["id"] = message.id or copies.get(send_once_key=key).id  # found there after a lost answer
        else:
            # CreateItem SendAndSaveCopy (or SendOnly)
            send_once.send_once(lambda: message.send(save_copy=not args.no_save_copy), key, copies)
    result.setdefault("status", "saved" if args.draft else "sent")
    if args.json:
        ews_cli.print_json(result)
    elif result["status"] == "already sent":
        print(f"not sent: a message with send-once key {key} is already in {copies.name}")
    elif args.draft:
        print(f"saved draft {args.subject!r} in Drafts, id {result['id']}")
    else:
        everyone = ", ".join(a for kind in ("to", "cc", "bcc") for a in args.recipients[kind])
        copy = "no copy kept" if args.no_save_copy else "a copy is in Sent Items"
        print(f"sent {args.subject!r} to {everyone} ({len(args.attach) + len(args.inline_image)} attachments); {copy}")
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
