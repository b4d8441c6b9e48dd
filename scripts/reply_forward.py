#!/usr/bin/env python3
"""Reply, reply to all, or forward one message, chosen by --id or as the newest match of a query.

Exchange writes the answer from the original (quoted text, the forwarded attachments);
you give the new text, in plain text or HTML. The chosen message is read with GetItem
first, to address the answer: a reply goes to the original's Reply-To when it names
anyone (ticketing systems, no-reply senders), else to its From; a reply-all also to its
To and Cc, without yourself.
The answer is sent with a copy in Sent Items (one CreateItem). With --attach it is first
saved as a draft, the files are attached, then it is sent (CreateItem, one
CreateAttachment per file, SendItem); --draft stops before sending and prints the
draft's id. --dry-run shows which message would be answered, and how, sending nothing.
The answer carries a send-once key, as in send_email.py: a send whose answer was lost is
looked up in Sent Items (or Drafts) before it is sent again.

Examples:
  reply_forward.py reply --from bob@contoso.example --subject "Weekly status" --body "Thanks, noted."
  reply_forward.py reply-all --id AAMk... --body-file answer.html
  reply_forward.py forward --subject invoice --to carol@contoso.example --body "FYI" --attach notes.pdf

Copy with: ews_config.py, ews_cli.py, ews_folders.py, mail_query.py, send_once.py (from scripts/; requirements.txt)
"""
import argparse
import sys
import uuid

import ews_cli
import ews_config
import ews_folders
import mail_query
import send_once

PREFIX = {"reply": "RE: ", "reply-all": "RE: ", "forward": "FW: "}
SELECTORS = ("unread", "sender", "subject", "body_contains", "since", "until", "has_attachments", "category",
             "importance")


def check_answer(args):
    args.recipients = {kind: [a.strip() for value in getattr(args, kind) for a in value.split(",") if a.strip()]
                       for kind in ("to", "cc", "bcc")}
    for kind, addresses in args.recipients.items():
        for address in addresses:
            ews_cli.check_address(address, f"--{kind}")
    if len(args.id) > 1:
        raise ews_config.ConfigError("--id: give one message to answer")
    if not args.id and not any(getattr(args, name) for name in SELECTORS):
        raise ews_config.ConfigError("choose the message: --id ID, or filters such as --from and --subject "
                                     "(the newest match is answered)")
    if args.action == "forward" and not any(args.recipients.values()):
        raise ews_config.ConfigError("forward needs --to (or --cc/--bcc)")
    if args.action == "reply-all" and any(args.recipients.values()):
        raise ews_config.ConfigError("reply-all answers the original recipients; use reply with --cc to add people")
    if args.new_subject is not None:
        ews_cli.check_length(args.new_subject, "--new-subject", ews_cli.NAME_MAX)
    ews_cli.check_body_and_files(args)


def choose(account, args):
    """The message to answer, with what exchangelib needs to address the answer: reply goes to
    From, and reply-all is addressed here, from the original's From, To and Cc (GetItem)."""
    if args.id:
        chosen = (args.id[0], None)
    else:
        folder = ews_folders.folder_by_path(account, args.folder)
        texts, lookups = mail_query.restriction(args)  # is_read=False, author=..., subject__icontains=...
        query = folder.filter(*texts, **lookups).order_by(mail_query.sort_field(args))  # lazy: nothing sent yet
        # one FindItem per 1,000; iterating the QuerySet: per 100, and GetItem for From
        chosen = next(iter(mail_query.find_messages(query, ["subject"], limit=1)), None)
        if chosen is None:
            raise ews_config.ServerError(f"no message in {args.folder} matches the filters; nothing was sent")
    [found] = account.fetch([chosen], only_fields=["subject", "author", "reply_to", "to_recipients", "cc_recipients",
                                                   "datetime_received"])
    if isinstance(found, Exception):
        raise found
    return found


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("action", choices=("reply", "reply-all", "forward"))
    mail_query.add_query_arguments(parser, skip=("to", "ids-from", "order", "limit"))
    answer = parser.add_argument_group("the answer")
    for kind in ("to", "cc", "bcc"):
        answer.add_argument(f"--{kind}", action="append", default=[], metavar="ADDR",
                            help=f"{kind.capitalize()} recipient (forward; reply adds them; repeatable)")
    body = answer.add_mutually_exclusive_group()
    body.add_argument("--body", metavar="TEXT", help="the new text above the quoted original")
    body.add_argument("--body-file", metavar="PATH", help="read it from a UTF-8 file (.html implies --html)")
    answer.add_argument("--html", action="store_true", help="the text is HTML")
    answer.add_argument("--new-subject", metavar="TEXT", help="subject (default: RE:/FW: and the original's)")
    answer.add_argument("--attach", action="append", default=[], metavar="PATH", help="attach a file (repeatable)")
    answer.add_argument("--draft", action="store_true", help="save the answer in Drafts instead of sending it")
    answer.add_argument("--send-once-key", metavar="KEY", help="send only if no message with KEY is in Sent Items")
    answer.add_argument("--dry-run", action="store_true", help="show what would be sent; send nothing")
    args = ews_cli.parse_args(parser, argv, mail_query.check_query, check_answer)

    with ews_config.connect(args) as ews:
        from exchangelib import Body, FileAttachment, HTMLBody, Message
        account = ews.account()
        original = choose(account, args)
        subject = args.new_subject or original.subject or ""
        if not args.new_subject and not subject.upper().startswith(PREFIX[args.action].strip()):
            subject = (PREFIX[args.action] + subject)[:ews_cli.NAME_MAX]  # exchangelib refuses a longer one
        body = HTMLBody(args.text) if args.html else Body(args.text)
        to, cc, bcc = (args.recipients[kind] or None for kind in ("to", "cc", "bcc"))
        me = account.primary_smtp_address.lower()
        others = lambda people: [p for p in people or [] if (p.email_address or "").lower() != me]  # noqa: E731
        answer_to = original.reply_to or [original.author] * bool(original.author)  # Reply-To wins over From
        if args.action == "reply":
            if not answer_to and not to:
                raise ews_config.ConfigError("the message has no sender to reply to; give --to")
            response = original.create_reply(subject, body, answer_to + (to or []), cc, bcc)
        elif args.action == "reply-all":  # addressed here: exchangelib would keep you in, as From of your own mail
            response = original.create_reply_all(subject, body)
            response.to_recipients = others(answer_to + list(original.to_recipients or []))
            response.cc_recipients = others(original.cc_recipients)
            if not (response.to_recipients or response.cc_recipients):
                # Exchange would refuse it (ErrorInvalidRecipients): say so before sending, and in a dry run
                raise ews_config.ConfigError("the message has no sender or recipient other than you to reply to "
                                             "all; use reply --to ADDR")
        else:
            response = original.create_forward(subject, body, to, cc, bcc)
        key = args.send_once_key or uuid.uuid4().hex
        response = send_once.with_send_once_key(response, key)
        about = mail_query.message_row(original, ["id", "received", "from", "subject"])
        result = {"action": args.action, "original": about, "subject": subject, **args.recipients,
                  "to_recipients": [getattr(p, "email_address", p) for p in response.to_recipients or []],
                  "attachments": [p.name for p in args.attach], "send_once_key": key}
        if args.dry_run:
            result["status"] = "dry run"
        elif args.send_once_key and send_once.already_sent(account.sent, key):
            result["status"] = "already sent"
        elif args.attach or args.draft:
            saved = []  # CreateItem SaveOnly: a draft tied to the original
            send_once.send_once(lambda: saved.append(response.save(account.drafts)), key, account.drafts, "the draft")
            draft = account.drafts.get(send_once_key=key) if not saved else \
                Message(account=account, folder=account.drafts, id=saved[0].id, changekey=saved[0].changekey)
            send_once.attach_once(draft, [FileAttachment(name=p.name, content=p.read_bytes()) for p in args.attach])
            if args.draft:
                result["status"], result["draft_id"] = "saved", draft.id
            else:
                send_once.send_once(draft.send, key, account.sent)  # SendItem, copy to Sent Items
                result["status"] = "sent"
        else:
            send_once.send_once(response.send, key, account.sent)  # CreateItem SendAndSaveCopy
            result["status"] = "sent"

    if args.json:
        ews_cli.print_json(result)
    else:
        about = result["original"]
        about = f"{about['subject']!r} from {about['from']} ({about['received']})"
        done = {"sent": "sent", "saved": f"saved in Drafts, id {result.get('draft_id')}",
                "dry run": "dry run, nothing sent", "already sent": "not sent: already in Sent Items (send-once key)"
                }[result["status"]]
        print(f"{args.action} to {about}: {subject!r}, {done}")
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
