"""python -m ews_sandbox soak --streaming: scripts/sync_streaming.py on two mailboxes for minutes.

A `serve` process on a fresh database (with the fault drop-stream:ms=60000: every stream is
cut a minute after it opened), two sync_streaming.py processes (alice's and bob's inbox,
--connection-timeout 2, so the cut comes first), and this process as the other writer: it
sends --deliveries messages from carol and dave to alice and bob, and makes --changes other
changes (mark read, rename, move to Deleted Items, hard delete) on messages delivered
earlier, each message changed at most once, spread evenly over --minutes. Then it stops the
listeners (SIGINT, they unsubscribe) and checks their JSON lines: every delivery printed
once as a create, every other change once (read_flag_change, update, delete), no line twice.
It prints the figures: changes, drops and reconnects, delivery-to-print delay (median,
worst), the listeners' memory (RSS) over time. Exit 1 on a missing or repeated change.
Not part of the test suite: it takes minutes.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .soak import FOLDER, Client, _values

BUNDLE = Path(__file__).resolve().parent.parent
LISTENERS = ("alice", "bob")
SENDERS = ("carol", "dave")


def run(args):
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen([sys.executable, "-m", "ews_sandbox", "serve", "--db", f"{folder}/soak.db",
                                   "--seed", "empty", "--json", "--fault", "drop-stream:ms=60000"],
                                  stdout=subprocess.PIPE, text=True, cwd=BUNDLE)
        try:
            ready = json.loads(server.stdout.readline())
            return _soak(args, ready, Path(folder))
        finally:
            server.terminate()
            server.wait(timeout=30)


class Listener:
    """One sync_streaming.py process; its lines are read (and timed) as they come."""

    def __init__(self, ready, user, folder):
        env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_") and k != "REQUESTS_CA_BUNDLE"}
        env.update(EWS_SANDBOX_URL=ready["ews_url"], EWS_CA_BUNDLE=ready["ca_bundle"], EWS_EMAIL=f"{user}@contoso.example",
                   EWS_PASSWORD="demo-password")
        self.user, self.rows, self.errors, self.rss = user, [], [], []
        self.process = subprocess.Popen([sys.executable, str(BUNDLE / "scripts" / "sync_streaming.py"), "--json",
                                         "--state", str(folder / f"{user}.json"), "--connection-timeout", "2"],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.rows.append((time.monotonic(), json.loads(line)))

    def _read_errors(self):
        for line in self.process.stderr:
            self.errors.append(line.rstrip())

    def sample_memory(self):
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.rss.append(round(int(line.split()[1]) / 1024, 1))
        except OSError:
            pass

    def stop(self):
        """SIGINT: the listener finishes its request, unsubscribes and leaves; a hang is a failure."""
        self.process.send_signal(signal.SIGINT)
        started = time.monotonic()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stop_seconds = round(time.monotonic() - started, 2)
        self.exit_code = self.process.returncode


def _deliver(ready, sender, to, subject):
    status, content = Client(ready, sender).call(
        '<m:CreateItem MessageDisposition="SendOnly"><m:Items><t:Message><t:Subject>' + subject + '</t:Subject>'
        '<t:Body BodyType="Text">soak</t:Body><t:ToRecipients><t:Mailbox><t:EmailAddress>' + to +
        '</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message></m:Items></m:CreateItem>')
    return status == 200 and b'ResponseClass="Success"' in content


def _find(client, subject):
    _, content = client.call('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
                             '</m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="5" Offset="0" '
                             'BasePoint="Beginning"/><m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="item:Subject"/>'
                             f'<t:FieldURIOrConstant><t:Constant Value="{subject}"/></t:FieldURIOrConstant></t:IsEqualTo>'
                             f'</m:Restriction><m:ParentFolderIds>{FOLDER.format("inbox")}</m:ParentFolderIds>'
                             '</m:FindItem>')
    ids = _values(content, "ItemId", "Id")
    return ids[0] if ids else None


def _change(client, kind, item_id):
    if kind == "read":
        body = ('<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges>'
                f'<t:ItemChange><t:ItemId Id="{item_id}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI='
                '"message:IsRead"/><t:Message><t:IsRead>true</t:IsRead></t:Message></t:SetItemField></t:Updates>'
                '</t:ItemChange></m:ItemChanges></m:UpdateItem>')
    elif kind == "rename":
        body = ('<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges>'
                f'<t:ItemChange><t:ItemId Id="{item_id}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI='
                '"item:Subject"/><t:Message><t:Subject>renamed</t:Subject></t:Message></t:SetItemField></t:Updates>'
                '</t:ItemChange></m:ItemChanges></m:UpdateItem>')
    elif kind == "move":
        body = (f'<m:MoveItem><m:ToFolderId>{FOLDER.format("deleteditems")}</m:ToFolderId><m:ItemIds>'
                f'<t:ItemId Id="{item_id}"/></m:ItemIds></m:MoveItem>')
    else:
        body = f'<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:DeleteItem>'
    status, content = client.call(body)
    return status == 200 and b'ResponseClass="Success"' in content


EXPECTED = {"read": "read_flag_change", "rename": "update", "move": "delete", "delete": "delete"}


def _soak(args, ready, folder):
    listeners = {user: Listener(ready, user, folder) for user in LISTENERS}
    owners = {user: Client(ready, user) for user in LISTENERS}
    time.sleep(8)  # both listening (subscribed, caught up)
    total = args.deliveries + args.changes
    gap = args.minutes * 60 / total
    sent, changed, pending, failures = {}, {}, [], []  # subject -> (user, sent at); item id -> (user, kind)
    started, last_sample = time.monotonic(), 0
    kinds = ["read", "rename", "move", "delete"]
    for n in range(total):
        at = started + n * gap
        time.sleep(max(0, at - time.monotonic()))
        if time.monotonic() - last_sample >= 10:
            for listener in listeners.values():
                listener.sample_memory()
            last_sample = time.monotonic()
        change_turn = len(changed) < args.changes and n * args.changes // total >= len(changed) and pending
        if change_turn and time.monotonic() - pending[0][2] >= 5:  # a message delivered a while ago
            subject, user, _ = pending.pop(0)
            item_id = _find(owners[user], subject)
            kind = kinds[len(changed) % len(kinds)]
            if item_id and _change(owners[user], kind, item_id):
                changed[item_id] = (user, kind, subject)
            else:
                failures.append(f"change {kind} of {subject} failed")
            continue
        if len(sent) >= args.deliveries:
            continue
        user, sender = LISTENERS[len(sent) % 2], SENDERS[len(sent) % 2]
        subject = f"soak-{len(sent)}"
        if _deliver(ready, sender, f"{user}@contoso.example", subject):
            sent[subject] = (user, time.monotonic())
            pending.append((subject, user, time.monotonic()))
        else:
            failures.append(f"delivery {subject} failed")
    time.sleep(10)  # the last events arrive
    for listener in listeners.values():
        listener.sample_memory()
        listener.stop()
    return _report(args, listeners, sent, changed, failures, time.monotonic() - started)


def _report(args, listeners, sent, changed, failures, seconds):
    missing, repeated, delays = [], [], []
    for user, listener in listeners.items():
        rows = [row for _, row in listener.rows]
        keys = [(r["change"], r["id"], r["changekey"]) for r in rows]
        repeated += [key for key in set(keys) if keys.count(key) > 1]
        created = {}
        for at, row in listener.rows:
            if row["change"] == "create":
                created.setdefault(row["subject"], []).append((at, row))
        for subject, (owner, sent_at) in sent.items():
            if owner != user:
                continue
            found = created.get(subject, [])
            if len(found) != 1:
                missing.append(f"{user}: {subject} created {len(found)} times")
            else:
                delays.append(found[0][0] - sent_at)
        by_id = {}
        for row in rows:
            by_id.setdefault(row["id"], []).append(row["change"])
        for item_id, (owner, kind, subject) in changed.items():
            if owner == user and by_id.get(item_id, []).count(EXPECTED[kind]) != 1:
                missing.append(f"{user}: {kind} of {subject} printed as {by_id.get(item_id)}")
    summary = {
        "minutes": round(seconds / 60, 1), "deliveries": len(sent), "other_changes": len(changed),
        "lines_printed": {u: len(l.rows) for u, l in listeners.items()},
        "streams_lost": {u: sum("stream lost" in e for e in l.errors) for u, l in listeners.items()},
        "missing_or_repeated": len(missing) + len(repeated), "first_problems": (missing + repeated)[:5],
        "writer_failures": failures[:5],
        "delivery_to_print_s": {"median": round(statistics.median(delays), 3), "worst": round(max(delays), 3),
                                "median_first_100": round(statistics.median(delays[:100]), 3),
                                "worst_first_100": round(max(delays[:100]), 3)} if delays else None,
        "listener_rss_mb": {u: l.rss for u, l in listeners.items()},
        "listener_exit_after_sigint": {u: [l.exit_code, l.stop_seconds] for u, l in listeners.items()},
        "listener_stderr_tail": {u: l.errors[-3:] for u, l in listeners.items()},
    }
    print(json.dumps(summary, indent=2))
    stuck = [u for u, l in listeners.items() if l.exit_code != 0]
    return 1 if missing or repeated or failures or stuck else 0
