"""python -m ews_sandbox bench: how fast the sandbox pages and queries.

Prints, for a folder of --items messages: items per second that exchangelib pages with
.only(), and per request the server's milliseconds beside the client's; then the server
time of FindItem with an indexed restriction at each of --sizes (how it grows); what
fetching every field costs against .only(); and four threads sharing 1, 2 or 4 connections
to a server that answers each FindItem 600 ms late.
"""
import tempfile
import threading
import time
from pathlib import Path

from lxml import etree

from .model import folders, items
from .tls import trusting_adapter
from .wire.ns import T, t

ALICE = "alice@contoso.example"


def _message(number):
    item = etree.Element(t("Message"), nsmap={"t": T})
    etree.SubElement(item, t("Subject")).text = f"Bench message {number}"
    etree.SubElement(item, t("Body"), BodyType="Text").text = f"Body of message {number}. " * 4
    etree.SubElement(item, t("IsRead")).text = "true" if number % 3 else "false"
    etree.SubElement(item, t("Importance")).text = "Normal"
    return item


def fill_folder(sandbox, name, count):
    """A folder of `count` messages in alice's mailbox, written straight to the model."""
    with sandbox.database.transaction() as conn:
        mailbox_id = conn.execute("SELECT id FROM users WHERE email = ?", (ALICE,)).fetchone()[0]
        parent = folders.distinguished(conn, mailbox_id, "inbox")
        folder = folders.create(conn, parent, name, "Folder", "IPF.Note", None)
        for number in range(count):
            items.insert(conn, folder, _message(number),
                         received=f"2026-{1 + number % 12:02d}-{1 + number % 28:02d}T{number % 24:02d}:00:00Z")
    return name


def _account(sandbox, **config):
    from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials
    from exchangelib.protocol import BaseProtocol

    BaseProtocol.HTTP_ADAPTER_CLS = trusting_adapter(sandbox.ca_bundle)
    config = Configuration(credentials=Credentials(ALICE, "demo-password"), service_endpoint=sandbox.ews_url,
                           auth_type=BASIC, **config)
    return Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE)


def _server_ms(sandbox, operation):
    return [e["ms"] for e in sandbox.request_log.entries() if e["operation"] == operation]


def _new_folder(sandbox, account, name, count):
    fill_folder(sandbox, name, count)
    account.root.clear_cache()  # exchangelib caches the folder tree; it changed behind its back
    return account.inbox / name


def bench_paging(sandbox, account, count):
    folder = _new_folder(sandbox, account, f"Paging {count}", count)
    print(f"\nPaging a folder of {count:,} messages with .only('subject', 'datetime_received'):")
    print(f"{'page size':>10} {'items/s':>10} {'requests':>9} {'server ms/req':>14} {'round trip ms':>14}"
          f" {'client own ms':>14}")
    for page_size in (100, 1000):
        sandbox.request_log.clear()
        queryset = folder.all().only("subject", "datetime_received")
        queryset.page_size = page_size
        started = time.perf_counter()
        seen = sum(1 for _ in queryset)
        elapsed = time.perf_counter() - started
        server = _server_ms(sandbox, "FindItem")
        assert seen == count, f"paged {seen} of {count}"
        round_trip_ms = elapsed * 1000 / len(server)
        server_ms = sum(server) / len(server)
        # client own = the round trip less the server's share: exchangelib's requests, parsing, objects
        print(f"{page_size:>10} {count / elapsed:>10,.0f} {len(server):>9} {server_ms:>14.1f}"
              f" {round_trip_ms:>14.1f} {round_trip_ms - server_ms:>14.1f}")


def bench_indexed_query(sandbox, account, sizes):
    print("\nFindItem with an indexed restriction (subject equals one value), server ms:")
    print(f"{'folder size':>12} {'median ms':>10} {'matches':>8}")
    for size in sizes:
        folder = _new_folder(sandbox, account, f"Query {size}", size)
        timings = []
        for _ in range(5):
            sandbox.request_log.clear()
            found = list(folder.filter(subject=f"Bench message {size // 2}").only("subject"))
            timings += _server_ms(sandbox, "FindItem")
        timings.sort()
        print(f"{size:>12,} {timings[len(timings) // 2]:>10.2f} {len(found):>8}")


def bench_fields(sandbox, account, count=250, body_bytes=10_000):
    from exchangelib import Message
    folder = _new_folder(sandbox, account, f"Fields {count}", 0)
    account.bulk_create(folder, [Message(account=account, subject=f"Bench {n}", body="x" * body_bytes)
                                 for n in range(count)])
    print(f"\nListing {count} messages with {body_bytes // 1000} KB bodies:")
    print(f"{'query':>34} {'requests':>22} {'bytes answered':>15} {'seconds':>8}")
    for label, only in (("all()", None), ('only("subject", "body")', ("subject", "body")),
                        ('only("subject")', ("subject",))):
        sandbox.request_log.clear()
        queryset = folder.all() if only is None else folder.all().only(*only)
        started = time.perf_counter()
        seen = sum(1 for _ in queryset)
        elapsed = time.perf_counter() - started
        entries = sandbox.request_log.entries()
        assert seen == count, f"listed {seen} of {count}"
        kinds = {}
        for entry in entries:
            kinds[entry["operation"]] = kinds.get(entry["operation"], 0) + 1
        sent = " + ".join(f"{n} {operation}" for operation, n in kinds.items())
        print(f"{label:>34} {sent:>22} {sum(e['response_bytes'] for e in entries):>15,} {elapsed:>8.2f}")


def bench_connections(sandbox, threads=4, latency_ms=600):
    from exchangelib.protocol import close_connections
    from .faults import parse_spec
    print(f"\n{threads} threads, one FindItem each, answered {latency_ms} ms late:")
    print(f"{'max_connections':>16} {'seconds':>8}")
    sandbox.faults.add(parse_spec({"kind": "latency", "ms": latency_ms, "operations": ["FindItem"]}))
    try:
        for connections in (1, 2, 4):
            close_connections()  # a fresh protocol: exchangelib would reuse the cached one and its pool
            account = _account(sandbox, max_connections=connections)
            account.inbox
            workers = [threading.Thread(target=lambda: list(account.inbox.all().only("subject")[:5]))
                       for _ in range(threads)]
            started = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            print(f"{connections:>16} {time.perf_counter() - started:>8.2f}")
    finally:
        sandbox.faults.clear()


def run(args):
    from .sandbox import Sandbox
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    with tempfile.TemporaryDirectory() as folder:
        with Sandbox(db_path=Path(folder) / "bench.db", seed="empty") as sandbox:
            account = _account(sandbox)
            account.inbox.total_count  # sign in and warm up before timing
            bench_paging(sandbox, account, args.items)
            bench_indexed_query(sandbox, account, sizes)
            bench_fields(sandbox, account)
            bench_connections(sandbox)
    return 0
