"""python -m ews_sandbox soak: many clients on two server processes sharing one database.

Starts two `serve` processes on a fresh database, then runs --clients threads for
--minutes, each mixing reads (GetFolder, FindItem, GetItem), sends (CreateItem
SendAndSaveCopy), moves (MoveItem) and slow searches (an And of many Contains on the
body of a large HTML message), alternating between the two processes. It fails (exit 1)
on any HTTP 500, any "database is locked", or a folder whose TotalCount differs from
the items FindItem lists; it prints counts, latencies and the servers' peak memory.
Not part of the test suite: it takes minutes.
"""
import base64
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from lxml import etree

USERS = ("alice", "bob", "carol", "dave", "erin")
ENVELOPE = ('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
            'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
            '<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>{}</s:Body></s:Envelope>')
FOLDER = '<t:DistinguishedFolderId Id="{}"/>'
BIG_BODY = "<html><body>" + "".join(f"<p>paragraph {i} of a long newsletter</p>" for i in range(8000)) + "</body></html>"


def add_arguments(parser):
    parser.add_argument("--minutes", type=float, default=5, help="how long the clients run (default 5)")
    parser.add_argument("--clients", type=int, default=16, help="client threads (default 16)")
    parser.add_argument("--processes", type=int, default=2, help="server processes on the database (default 2)")
    parser.add_argument("--streaming", action="store_true",
                        help="instead: scripts/sync_streaming.py on two mailboxes while this process delivers and "
                             "changes mail, with a dropped stream every minute (soak_streaming.py)")
    parser.add_argument("--deliveries", type=int, default=2000, help="--streaming: messages delivered (default 2000)")
    parser.add_argument("--changes", type=int, default=500, help="--streaming: other changes (default 500)")


class Client:
    def __init__(self, ready, user):
        import requests
        self.session = requests.Session()
        self.session.verify = ready["ca_bundle"]
        self.session.trust_env = False
        self.url, self.user = ready["ews_url"], f"{user}@contoso.example"
        token = base64.b64encode(f"{self.user}:demo-password".encode()).decode()
        self.session.headers.update({"Authorization": f"Basic {token}", "Content-Type": "text/xml; charset=utf-8"})

    def call(self, body):
        answer = self.session.post(self.url, data=ENVELOPE.format(body).encode(), timeout=120)
        return answer.status_code, answer.content

    def find_ids(self, folder, restriction=""):
        status, content = self.call(f'<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
                                    f'</m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="50" Offset="0" '
                                    f'BasePoint="Beginning"/>{restriction}<m:ParentFolderIds>{FOLDER.format(folder)}'
                                    '</m:ParentFolderIds></m:FindItem>')
        return status, content, _values(content, "ItemId", "Id")


def _values(content, name, attribute=None):
    try:
        root = etree.fromstring(content)
    except etree.XMLSyntaxError:
        return []
    found = [e for e in root.iter() if isinstance(e.tag, str) and e.tag.endswith("}" + name)]
    return [e.get(attribute) if attribute else e.text for e in found]


def _send(client, rng):
    to = f"{rng.choice(USERS)}@contoso.example"
    return client.call('<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:Items><t:Message><t:Subject>soak '
                       f'{rng.random():.6f}</t:Subject><t:Body BodyType="Text">hello</t:Body><t:ToRecipients>'
                       f'<t:Mailbox><t:EmailAddress>{to}</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message>'
                       '</m:Items></m:CreateItem>')


def _read(client, rng):
    status, content, ids = client.find_ids("inbox")
    if status != 200 or not ids:
        return status, content
    return client.call('<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:IncludeMimeContent>true'
                       f'</t:IncludeMimeContent></m:ItemShape><m:ItemIds><t:ItemId Id="{rng.choice(ids)}"/>'
                       '</m:ItemIds></m:GetItem>')


def _move(client, rng):
    status, content, ids = client.find_ids("inbox")
    if status != 200 or not ids:
        return status, content
    return client.call(f'<m:MoveItem><m:ToFolderId>{FOLDER.format("deleteditems")}</m:ToFolderId><m:ItemIds>'
                       f'<t:ItemId Id="{rng.choice(ids)}"/></m:ItemIds></m:MoveItem>')


def _slow_search(client, rng):
    leaves = "".join('<t:Contains ContainmentMode="Substring" ContainmentComparison="IgnoreCase">'
                     f'<t:FieldURI FieldURI="item:Body"/><t:Constant Value="paragraph {rng.randrange(8000)}"/>'
                     '</t:Contains>' for _ in range(120))
    return client.find_ids("inbox", f"<m:Restriction><t:And>{leaves}</t:And></m:Restriction>")[:2]


def _get_folder(client, rng):
    return client.call(f'<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds>'
                       f'{FOLDER.format(rng.choice(("inbox", "sentitems", "deleteditems")))}</m:FolderIds></m:GetFolder>')


WORK = [("read", _read, 5), ("get-folder", _get_folder, 3), ("send", _send, 3), ("move", _move, 2),
        ("slow-search", _slow_search, 1)]


def _start_servers(db, count):
    processes, ready = [], []
    for _ in range(count):
        process = subprocess.Popen([sys.executable, "-m", "ews_sandbox", "serve", "--db", str(db), "--json"],
                                   stdout=subprocess.PIPE, text=True)
        processes.append(process)
        ready.append(json.loads(process.stdout.readline()))
    return processes, ready


def _peak_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def run(args):
    if getattr(args, "streaming", False):
        from .soak_streaming import run as run_streaming
        return run_streaming(args)
    with tempfile.TemporaryDirectory() as folder:
        processes, ready = _start_servers(Path(folder) / "soak.db", args.processes)
        try:
            return _soak(args, processes, ready)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)


def _soak(args, processes, ready):
    for user in USERS:  # a large HTML message in every inbox, for the slow searches
        Client(ready[0], "alice").call(
            '<m:CreateItem MessageDisposition="SendOnly"><m:Items><t:Message><t:Subject>newsletter</t:Subject>'
            f'<t:Body BodyType="HTML">{BIG_BODY.replace("<", "&lt;")}</t:Body><t:ToRecipients><t:Mailbox>'
            f'<t:EmailAddress>{user}@contoso.example</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message>'
            '</m:Items></m:CreateItem>')
    counts, failures, latencies, lock = Counter(), [], {}, threading.Lock()
    deadline = time.monotonic() + args.minutes * 60

    def client_loop(number):
        rng = random.Random(number)
        client = Client(ready[number % len(ready)], USERS[number % len(USERS)])
        choices = [w for w in WORK for _ in range(w[2])]
        while time.monotonic() < deadline:
            name, work, _ = rng.choice(choices)
            started = time.perf_counter()
            try:
                status, content = work(client, rng)
            except Exception as e:  # a dropped connection or a timeout is a failure too
                status, content = 0, repr(e).encode()
            with lock:
                counts[(name, status)] += 1
                latencies.setdefault(name, []).append(time.perf_counter() - started)
                if status >= 500 or status == 0 or b"database is locked" in content:
                    failures.append(f"{name}: {status} {content[:300]!r}")

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    inconsistent = _check_counts(ready[-1])
    summary = {
        "minutes": args.minutes, "clients": args.clients, "processes": len(processes),
        "requests": {f"{name} {status}": n for (name, status), n in sorted(counts.items())},
        "p95_ms": {name: round(sorted(values)[int(len(values) * 0.95)] * 1000) for name, values in latencies.items()},
        "failures": len(failures), "first_failures": failures[:5], "inconsistent_folders": inconsistent,
        "server_peak_memory_mb": [_peak_mb(p.pid) for p in processes],
    }
    print(json.dumps(summary, indent=2))
    return 1 if failures or inconsistent else 0


def _check_counts(ready):
    """Every folder of every mailbox: TotalCount equals the items FindItem lists."""
    wrong = []
    for user in USERS:
        client = Client(ready, user)
        for folder in ("inbox", "sentitems", "deleteditems", "drafts"):
            _, content = client.call(f'<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>'
                                     f'<m:FolderIds>{FOLDER.format(folder)}</m:FolderIds></m:GetFolder>')
            total = int((_values(content, "TotalCount") or ["-1"])[0])
            listed = _listed(client, folder)
            if total != listed:
                wrong.append(f"{user} {folder}: TotalCount {total}, FindItem {listed}")
    return wrong


def _listed(client, folder, page=1000):
    """The items FindItem lists, page by page (a FindItem answers at most 1,000)."""
    listed = 0
    while True:
        _, content = client.call('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
                                 f'</m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="{page}" Offset="{listed}" '
                                 f'BasePoint="Beginning"/><m:ParentFolderIds>{FOLDER.format(folder)}'
                                 '</m:ParentFolderIds></m:FindItem>')
        found = len(_values(content, "ItemId", "Id"))
        listed += found
        if found < page:
            return listed
