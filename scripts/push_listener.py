#!/usr/bin/env python3
"""Receive push notifications: serve a callback URL, subscribe it, print the events Exchange POSTs.

Starts an HTTP receiver (bound to 127.0.0.1 unless --host says otherwise), subscribes it
to push notifications (every event type) on the chosen folders, and prints each event of
each SendNotification request (JSON lines with --json; status pings too). Each request is
read safely: at most --max-body bytes (a larger one gets 413 unread), no DOCTYPE or entity
(400: no external entity, no "billion laughs"), parsed by lxml without DTDs or network. It
answers OK while it runs; it answers Unsubscribe to a subscription that is not its own (one
left by an earlier run) and, after --duration or SIGINT/SIGTERM, to the next request within
--linger seconds: push subscriptions have no Unsubscribe call, they end when the receiver
says so (or when Exchange's retries fail past StatusFrequency).

Exchange must reach --callback-url (default http://HOST:PORT/): on a real server, put the
receiver behind a reverse proxy with TLS and give its public URL. Costs: Subscribe once;
Exchange then calls in, with a status ping every --status-frequency minutes of quiet.

Examples:
  push_listener.py --port 8080 --callback-url https://hooks.example.com/ews
  push_listener.py --folder Inbox --json --duration 300 --linger 120

Copy with: ews_config.py, ews_cli.py, ews_folders.py, mailbox_events.py
"""
import argparse
import signal
import sys
import threading
import time

import ews_cli
import ews_config
import ews_folders
import mailbox_events


def check(args):
    if args.port < 0 or args.port > 65535 or args.max_body < 1024 or not 1 <= args.status_frequency <= 1440:
        raise ews_config.ConfigError("--port 0-65535, --max-body 1024 bytes or more, --status-frequency 1-1440")
    args.folder = args.folder or ["Inbox"]
    for path in args.folder:
        ews_cli.check_folder_path(path, "--folder")


class Refused(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


def read_notifications(handler, max_body):
    """The Notification objects of one POST, or Refused: bounded, no DTD, no entities, no network."""
    from exchangelib.properties import Notification
    from lxml import etree
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        raise Refused(411, "send a Content-Length")  # Exchange does; a chunked body could be endless
    try:
        length = int(handler.headers.get("Content-Length", ""))
    except ValueError:
        raise Refused(411, "send a Content-Length")
    if length > max_body:
        raise Refused(413, f"body of {length} bytes is over --max-body {max_body}")  # not read at all
    body = handler.rfile.read(length)
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise Refused(400, "DOCTYPE or entity declaration refused")  # SOAP has no DTDs
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as error:
        raise Refused(400, f"not XML: {error}")
    return [Notification.from_xml(elem=element, account=None) for element in root.iter(Notification.response_tag())]


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("--folder", action="append", metavar="PATH", help="a folder to watch (repeatable; default Inbox)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one)")
    parser.add_argument("--callback-url", help="the URL Exchange calls (default http://HOST:PORT/)")
    parser.add_argument("--status-frequency", type=int, default=1, metavar="MINUTES",
                        help="minutes of quiet after which Exchange sends a status ping (default 1)")
    parser.add_argument("--max-body", type=int, default=1_000_000, metavar="BYTES",
                        help="largest request read (default 1000000; 50 events take about 30 KB)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until SIGINT)")
    parser.add_argument("--linger", type=float, default=0, metavar="SECONDS",
                        help="after stopping, wait this long for a request to answer Unsubscribe (default 0)")
    args = ews_cli.parse_args(parser, argv, check)
    signal.signal(signal.SIGTERM, interrupt)

    with ews_config.connect(args) as ews:
        import http.server  # here, not at the top: --help stays instant

        from exchangelib.services import SendNotification
        account = ews.account()
        folders = [ews_folders.folder_by_path(account, path) for path in args.folder]
        ours, subscribed, stopping, unsubscribed = set(), threading.Event(), threading.Event(), threading.Event()
        lock = threading.Lock()

        class Receiver(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                try:
                    notifications = read_notifications(self, args.max_body)
                except Refused as refused:
                    print(f"ews: refused a request from {self.client_address[0]}: {refused}", file=sys.stderr)
                    self.send_error(refused.status, str(refused))
                    self.close_connection = True
                    return
                subscribed.wait(10)  # a first event may come before Subscribe's answer is read
                keep = not stopping.is_set() and all(n.subscription_id in ours for n in notifications)
                with lock:  # one request's lines together
                    for notification in notifications if keep else []:
                        mailbox_events.emit([mailbox_events.event_row(e, notification.subscription_id)
                                             for e in notification.events], args.json)
                answer = SendNotification(protocol=None)
                body = answer.ok_payload() if keep else answer.unsubscribe_payload()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if not keep and stopping.is_set():
                    unsubscribed.set()

            def log_message(self, *_):  # no access log on stderr
                pass

        server = http.server.ThreadingHTTPServer((args.host, args.port), Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        callback = args.callback_url or f"http://{args.host}:{server.server_port}/"
        print(f"ews: listening on {args.host}:{server.server_port}, callback {callback}", file=sys.stderr, flush=True)
        try:
            from exchangelib.folders import FolderCollection
            subscription_id, _ = FolderCollection(account=account, folders=folders).subscribe_to_push(
                callback_url=callback, status_frequency=args.status_frequency)
            ours.add(subscription_id)
            subscribed.set()
            time.sleep(args.duration) if args.duration else threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            stopping.set()
            subscribed.set()
            unsubscribed.wait(args.linger)  # the next request learns the subscription is over
            server.shutdown()
    return 0


def interrupt(*_):
    raise KeyboardInterrupt  # SIGTERM ends the run as SIGINT does


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
