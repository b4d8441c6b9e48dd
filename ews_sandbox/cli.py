"""python -m ews_sandbox serve|bench: the sandbox from the command line."""
import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from .faults import FaultSpecError, parse_spec
from .oauth.scopes import check_resource


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m ews_sandbox", description="A local Exchange Web Services server.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve EWS until SIGINT or SIGTERM")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    serve.add_argument("--db", help="SQLite state file (default: ~/.local/state/ews-sandbox/sandbox.db)")
    serve.add_argument("--seed", choices=("demo", "empty"), default="demo",
                       help="tenant for a new database (default: demo)")
    serve.add_argument("--reset", action="store_true", help="wipe the database and apply --seed")
    serve.add_argument("--no-tls", action="store_true",
                       help="serve plain HTTP (then without the OAuth authority: msal insists on HTTPS)")
    serve.add_argument("--fault", action="append", default=[], metavar="SPEC",
                       help="inject a fault, e.g. server-busy:every=3,backoff_ms=200 (repeatable)")
    serve.add_argument("--token-lifetime", type=int, default=3600, metavar="SECONDS",
                       help="lifetime of the OAuth access tokens the sandbox issues (default 3600)")
    serve.add_argument("--resource", default="https://outlook.office365.com", metavar="URL",
                       help="the resource EWS is known by, the audience of its tokens: play a national cloud with "
                            "https://outlook.office365.us or https://partner.outlook.cn (default: %(default)s)")
    serve.add_argument("--directory", metavar="FILE",
                       help="JSON document of users, rooms, lists, contacts and grants to add when the database is "
                            "created or reset (the body of POST /_sandbox/directory)")
    serve.add_argument("--json", action="store_true", help="print one JSON ready line on stdout")
    bench = commands.add_parser("bench", help="measure paging and query speed")
    bench.add_argument("--items", type=int, default=10_000, help="folder size for the paging figures")
    bench.add_argument("--sizes", default="1000,10000,100000", help="folder sizes for the query figures")
    soak = commands.add_parser("soak", help="many clients on two server processes for minutes: no 500, no lock")
    from .soak import add_arguments
    add_arguments(soak)
    return parser


def serve(args):
    from .sandbox import DEFAULT_DB, Sandbox
    try:
        faults = [parse_spec(spec) for spec in args.fault]
    except FaultSpecError as e:
        print(f"ews_sandbox: --fault: {e}", file=sys.stderr)
        return 2
    if args.token_lifetime < 1:
        print("ews_sandbox: --token-lifetime must be 1 second or more", file=sys.stderr)
        return 2
    try:
        check_resource(args.resource)
    except ValueError as e:
        print(f"ews_sandbox: --resource: {e}", file=sys.stderr)
        return 2
    try:
        extra_directory = json.loads(Path(args.directory).read_text()) if args.directory else None
    except (OSError, ValueError) as e:
        print(f"ews_sandbox: --directory: {e}", file=sys.stderr)
        return 2
    fresh = args.reset or not Path(args.db or DEFAULT_DB).exists()
    sandbox = Sandbox(db_path=args.db or DEFAULT_DB, host=args.host, port=args.port, seed=args.seed,
                      tls=not args.no_tls, faults=faults, reset=args.reset, token_lifetime=args.token_lifetime,
                      resource=args.resource)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with sandbox:
        if extra_directory is not None and fresh:
            from .admin import AdminError, apply_directory
            try:
                apply_directory(sandbox, extra_directory, skip_existing=True)
            except AdminError as e:
                print(f"ews_sandbox: --directory: {e}", file=sys.stderr)
                return 2
        if args.json:
            print(json.dumps(sandbox.ready_line()), flush=True)
        else:
            authority = "  OAuth authority: off (it needs TLS)\n"
            if sandbox.authority_url:
                authority = (f"  OAuth authority: {sandbox.authority_url}/{sandbox.tenant_id}, tokens for "
                             f"{sandbox.resource}\n")
            print(f"EWS sandbox at {sandbox.ews_url}\n  state: {sandbox.db_path}\n  CA: {sandbox.ca_bundle}\n"
                  f"  admin token: {sandbox.admin_token}\n{authority}  users: "
                  + ", ".join(u["email"] for u in sandbox.users) + "\nCtrl-C stops it.", flush=True)
        stop.wait()
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "soak":
        from .soak import run
        return run(args)
    from .bench import run
    return run(args)
