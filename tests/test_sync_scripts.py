"""The sync and notification scripts, run as subprocesses against the session sandbox:
sync_mailbox.py killed at random points and rerun until done, sync_streaming.py through
forced timeouts and a dropped stream, pull_notifications.py, push_listener.py with a real
delivery and with hostile bodies. Test data is made in bulk through exchangelib."""
import itertools
import json
import os
import random
import signal
import socket
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from exchangelib import Message

import warm_start
from conftest import ALICE, PASSWORD

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def base_env(sandbox, email=ALICE):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_") and k != "REQUESTS_CA_BUNDLE"}
    env.update(EWS_SANDBOX_URL=sandbox.ews_url, EWS_CA_BUNDLE=sandbox.ca_bundle, EWS_PASSWORD=PASSWORD, EWS_EMAIL=email)
    return env


@pytest.fixture
def start(sandbox, tmp_path):
    """start(script, *args) -> a Popen-like process with stdout/stderr pipes; every process is ended after the test."""
    started = []

    def go(script, *args, email=ALICE):
        # forked from a warm Python (tests/warm_start.py): a cold start costs ~1 s before the script's first request
        process = warm_start.popen([sys.executable, str(SCRIPTS / f"{script}.py"), *map(str, args)], cwd=tmp_path,
                                   env=base_env(sandbox, email))
        started.append(process)
        return process

    yield go
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def finish(process, timeout=120):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"exit {process.returncode}\nstdout: {out[-2000:]}\nstderr: {err[-3000:]}"
    assert "Traceback" not in err
    return out, err


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def bulk_messages(account, folder, count, **fields):
    made = []
    for start in range(0, count, 500):
        batch = [Message(account=account, folder=folder, subject=f"m{n}", **fields)
                 for n in range(start, min(count, start + 500))]
        made += account.bulk_create(folder, batch)
    assert not [m for m in made if isinstance(m, Exception)]
    return made


def seed_inbox(sandbox, email, count):
    """`count` messages put straight into the inbox through the sandbox's model, in one transaction
    (what EWS would take half a minute for); they are changes like any other for sync and events."""
    from ews_sandbox.model import directory, folders, items
    from ews_sandbox.model.properties import parse_item
    with sandbox.database.transaction() as conn:
        inbox = folders.distinguished(conn, directory.user_by_email(conn, email)["id"], "inbox")
        for n in range(count):
            items.insert(conn, inbox, parse_item(
                b'<t:Message xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
                b'<t:Subject>seeded %d</t:Subject></t:Message>' % n))


def deliver(admin, *subjects, sender="bob@contoso.example"):
    """Mail from outside into alice's Inbox, in one call: a delivery, so NewMailEvents too."""
    return admin.call("POST", "messages", [{"mailbox": ALICE, "from": sender, "subject": subject}
                                           for subject in subjects])


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


@pytest.fixture
def short_minute(sandbox):
    sandbox.notification_minute = 1.0  # a subscription minute lasts a second: timeouts come fast
    yield
    del sandbox.notification_minute


# ---- sync_mailbox.py -------------------------------------------------------------------

def test_sync_mailbox_killed_at_random_points_misses_no_change(alice, start, tmp_path, sandbox):
    """5,000 changes, SIGKILL at random moments, rerun until a run ends: every change is out, and a
    change comes out again only from the page a kill left printed but unsaved."""
    seed_inbox(sandbox, ALICE, 5000)
    listing = alice.inbox.all().values_list("id", "changekey")
    listing.page_size = 1000
    expected = set(listing)
    assert len(expected) == 5000
    PAGE = 250
    state, runs, kills, seed = tmp_path / "alice.sync.json", [], 0, random.randrange(10**6)
    chance = random.Random(seed)
    while True:
        process = start("sync_mailbox", "--state", state, "--json", "--no-hierarchy", "--page-size", PAGE)
        lines, target = [], chance.randint(0, 2000)  # kill after that many lines (0: while it starts)
        while len(lines) < target or target == 0:
            line = process.stdout.readline() if target else ""
            if not line:
                break
            lines.append(line)
        time.sleep(chance.uniform(0, 0.3) if target else chance.uniform(0.2, 1.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        rest, err = process.stdout.read(), process.stderr.read()  # communicate() would skip what readline buffered
        process.wait()
        out = "".join(lines) + rest
        complete = out if out.endswith("\n") or not out else out[:out.rfind("\n") + 1]  # a kill may cut a line
        runs.append([(row["id"], row["changekey"]) for row in json_lines(complete)])
        if process.returncode == 0:
            break
        assert process.returncode == -signal.SIGKILL, err
        assert len(runs) < 60, f"no run finished (seed {seed})"
    printed = [pair for run in runs for pair in run]
    assert set(printed) == expected, f"seed {seed}"
    assert all(len(run) == len(set(run)) for run in runs)  # never twice in one run
    # a repeat is the head of the next run, and came from the last (unsaved) page of the killed one
    for previous, run in itertools.pairwise(runs):
        repeated = [pair for pair in run if pair in set(previous)]
        assert repeated == run[:len(repeated)] and len(repeated) <= PAGE, f"seed {seed}"
    assert len(printed) - len(expected) <= PAGE * kills
    assert kills >= 1 and json.loads(state.read_text())["mailbox"] == ALICE


def test_sync_mailbox_reports_later_changes_once_and_full_starts_over(alice, start, tmp_path, admin):
    from exchangelib import Folder
    state = tmp_path / "s.json"
    kept, changed, gone = bulk_messages(alice, alice.inbox, 3), bulk_messages(alice, alice.inbox, 2), \
        bulk_messages(alice, alice.inbox, 2)
    out, _ = finish(start("sync_mailbox", "--state", state, "--json"))
    first = json_lines(out)
    assert {r["id"] for r in first if r["kind"] == "item"} == {m.id for m in kept + changed + gone}
    assert {"Inbox", "Drafts", "Sent Items"} <= {r["name"] for r in first if r["kind"] == "folder"}

    changed = list(alice.fetch(changed, only_fields=["is_read"]))
    for message in changed:
        message.is_read = True
    alice.bulk_update([(m, ["is_read"]) for m in changed])
    alice.bulk_delete(gone)
    new = Message(account=alice, folder=alice.inbox, subject="new one").save()
    projects = Folder(parent=alice.inbox, name="Projects").save()
    admin.clear_requests()
    out, err = finish(start("sync_mailbox", "--state", state, "--json"))
    later = json_lines(out)
    assert sorted((r["change"], r["id"]) for r in later) == sorted(
        [("read_flag_change", m.id) for m in changed] + [("delete", m.id) for m in gone] +
        [("create", new.id), ("create", projects.id)])
    assert all(r["is_read"] is True for r in later if r["change"] == "read_flag_change")
    log = Counter(e["operation"] for e in admin.requests())
    assert (log["SyncFolderHierarchy"], log["SyncFolderItems"]) == (1, 1)  # one page each
    assert log["GetFolder"] <= 3 and sum(log.values()) <= 6  # + the roots, the inbox, the version probe
    assert "ews: 6 changes" in err

    out, _ = finish(start("sync_mailbox", "--state", state))
    assert out == ""  # nothing since
    out, _ = finish(start("sync_mailbox", "--state", state, "--json", "--no-hierarchy", "--full"))
    assert {r["id"] for r in json_lines(out)} == {m.id for m in kept + changed} | {new.id}


def test_sync_mailbox_refuses_a_state_it_cannot_use(alice, start, tmp_path):
    state = tmp_path / "s.json"
    state.write_text("not json")
    process = start("sync_mailbox", "--state", state)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "is not a sync state file" in err and out == ""
    state.write_text(json.dumps({"mailbox": ALICE, "hierarchy": "AAAA" + "x" * 40, "folders": {}}))
    process = start("sync_mailbox", "--state", state)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "rerun with --full" in err and err.count("\n") == 1  # one line


# ---- sync_streaming.py -----------------------------------------------------------------

def _wait_for(admin, operation, count=1, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(e["operation"] == operation for e in admin.requests()) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"no {operation} within {timeout} s")


def test_sync_streaming_prints_every_change_through_timeouts_and_a_drop(alice, start, tmp_path, admin, short_minute):
    before = bulk_messages(alice, alice.inbox, 6)
    state = tmp_path / "stream.json"
    admin.clear_requests()
    process = start("sync_streaming", "--state", state, "--json", "--connection-timeout", 1, "--duration", 9)
    _wait_for(admin, "GetStreamingEvents")
    made, read, deleted = [], list(alice.fetch(before[:3], only_fields=["is_read"])), before[3:5]
    for step in range(12):
        if step == 4:
            admin.add_fault({"kind": "drop-stream", "ms": 300})  # the next streams are cut mid-way
        if step == 8:
            admin.clear_faults()
        made.append(Message(account=alice, folder=alice.inbox, subject=f"live {step}").save())
        if step < 3:
            read[step].is_read = True
            read[step].save(update_fields=["is_read"])
        elif step < 5:
            alice.bulk_delete([deleted[step - 3]])
        time.sleep(0.4)
    out, err = finish(process, timeout=60)
    rows = json_lines(out)
    keys = [(r["change"], r["id"], r["changekey"]) for r in rows]
    assert len(keys) == len(set(keys))  # each change once
    printed = {(r["id"], r["changekey"]) for r in rows}
    current = {(m.id, m.changekey) for m in alice.inbox.filter(subject__startswith="live").only("id", "changekey")}
    assert len(current) == 12 and current <= printed  # every new message, as it is now
    assert {(r["id"], r.get("is_read")) for r in rows if r["change"] == "read_flag_change"} == \
        {(m.id, True) for m in read}
    assert {r["id"] for r in rows if r["change"] == "delete"} == {m.id for m in deleted}
    assert not {r["id"] for r in rows} & {m.id for m in before[5:]}  # untouched: not printed (started from now)
    assert any(r["events"] for r in rows) and "stream lost" in err
    log = Counter(e["operation"] for e in admin.requests())
    assert log["GetStreamingEvents"] >= 4 and log["Subscribe"] == 1 and log["Unsubscribe"] == 1


def test_sync_streaming_subscribes_again_when_the_subscription_is_gone(alice, start, tmp_path, admin, sandbox,
                                                                        short_minute):
    from ews_sandbox import notifications
    process = start("sync_streaming", "--state", tmp_path / "s.json", "--json", "--connection-timeout", 1,
                    "--duration", 6)
    _wait_for(admin, "GetStreamingEvents")
    registry = notifications.registry(sandbox)
    for subscription_id in list(registry.subscriptions):  # as a server restart forgets them
        registry.remove(subscription_id)
    time.sleep(0.5)
    message = Message(account=alice, folder=alice.inbox, subject="after the restart").save()
    out, err = finish(process, timeout=60)
    assert [(r["change"], r["id"]) for r in json_lines(out)] == [("create", message.id)]
    assert "subscription expired, subscribing again" in err
    assert Counter(e["operation"] for e in admin.requests())["Subscribe"] == 2


def test_sync_streaming_until_new_mail_ends_on_the_delivery_or_times_out(alice, start, tmp_path, admin):
    state = tmp_path / "s.json"
    process = start("sync_streaming", "--state", state, "--until", "new-mail", "--duration", 2)
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out) == (1, "") and err.splitlines()[-1] == "ews: no new-mail event within 2 s"

    admin.clear_requests()
    process = start("sync_streaming", "--state", state, "--json", "--until", "new-mail", "--duration", 30)
    _wait_for(admin, "GetStreamingEvents")
    made = deliver(admin, "Stream ping")
    delivered = time.monotonic()
    first = process.stdout.readline()
    printed = time.monotonic() - delivered
    out, err = finish(process, timeout=30)
    ended = time.monotonic() - delivered
    assert printed < 2 and ended < 4, (printed, ended)
    rows = json_lines(first + out)
    assert [(r["change"], r["id"], r["subject"], r["sender"]) for r in rows] == [
        ("create", made[0]["item_id"], "Stream ping", "bob@contoso.example")]
    assert "NewMailEvent" in rows[0]["events"] and rows[0]["received"]
    log = Counter(e["operation"] for e in admin.requests())
    assert log["Unsubscribe"] == 1 and log["GetItem"] == 0  # the sync brought the fields


# ---- pull_notifications.py -------------------------------------------------------------

def test_pull_notifications_prints_events(alice, start, admin):
    admin.clear_requests()
    process = start("pull_notifications", "--json", "--interval", 0.3, "--duration", 4)
    _wait_for(admin, "GetEvents")
    message = Message(account=alice, folder=alice.inbox, subject="pulled").save()
    message.is_read = True
    message.save(update_fields=["is_read"])
    message_id = message.id
    message.delete()
    out, _ = finish(process, timeout=60)
    rows = json_lines(out)
    assert rows and "StatusEvent" not in {r["event"] for r in rows}  # polls that found nothing print nothing
    mine = [r["event"] for r in rows if r["id"] == message_id]
    assert mine[0] == "CreatedEvent" and "ModifiedEvent" in mine and mine[-1] == "DeletedEvent"
    assert all(r["watermark"] for r in rows)
    log = Counter(e["operation"] for e in admin.requests())
    assert log["Subscribe"] == 1 and log["GetEvents"] >= 3 and log["Unsubscribe"] == 1


def test_pull_notifications_until_new_mail_prints_the_subject_and_exits_at_once(alice, start, admin):
    """The commonest request: wait for the next mail, print its subject, exit 0. A message that
    was there before the subscription is not it."""
    deliver(admin, "Already there")
    admin.clear_requests()
    process = start("pull_notifications", "--until", "new-mail", "--duration", 30)
    _wait_for(admin, "GetEvents")
    deliver(admin, "Ping 7f3a")
    delivered = time.monotonic()
    lines = [process.stdout.readline(), process.stdout.readline()]
    printed = time.monotonic() - delivered  # polled every second under --until
    out, err = finish(process, timeout=30)
    ended = time.monotonic() - delivered  # then Unsubscribe, and Python's exit (~0.8 s of it, exchangelib's teardown)
    assert printed < 2 and ended < 4, (printed, ended)
    lines = [line.rstrip("\n") for line in lines] + out.splitlines()
    assert lines[-1].startswith("NewMailEvent") and "Ping 7f3a  from bob@contoso.example  20" in lines[-1]
    assert "Already there" not in out and "ews: no" not in err
    log = Counter(e["operation"] for e in admin.requests())
    assert log["Unsubscribe"] == 1 and log["GetItem"] == 1  # the subject, read once for the batch


def test_pull_notifications_reads_details_once_per_batch_in_order(alice, start, admin):
    """Five mails in one GetEvents answer: one GetItem for the five; the lines keep the order of
    the deliveries; --count 5 ends the run on the fifth NewMailEvent."""
    admin.clear_requests()
    process = start("pull_notifications", "--json", "--until", "new-mail", "--count", 5, "--interval", 2,
                    "--duration", 30)
    _wait_for(admin, "GetEvents")
    made = deliver(admin, *[f"batch {n}" for n in range(5)])
    out, err = finish(process, timeout=30)
    rows = json_lines(out)
    new_mail = [r for r in rows if r["event"] == "NewMailEvent"]
    assert [r["subject"] for r in new_mail] == [f"batch {n}" for n in range(5)]
    assert [r["id"] for r in new_mail] == [m["item_id"] for m in made]
    assert rows[-1] == new_mail[-1]  # the fifth ended it
    assert {r["sender"] for r in new_mail} == {"bob@contoso.example"}
    assert all(r["received"].startswith(m["received"][:19]) for r, m in zip(new_mail, made))
    created = [r for r in rows if r["event"] == "CreatedEvent"]
    assert [r["subject"] for r in created] == [f"batch {n}" for n in range(5)]
    assert all(set(r) >= {"subject", "sender", "received"} for r in rows)  # every line has the fields
    log = Counter(e["operation"] for e in admin.requests())
    assert log["GetItem"] == 1, log  # one batch, one GetItem: not one per event or per item


def test_pull_notifications_until_times_out_with_one_line(alice, start, admin):
    process = start("pull_notifications", "--until", "new-mail", "--duration", 2)
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out) == (1, "")
    assert err.splitlines()[-1] == "ews: no new-mail event within 2 s" and "Traceback" not in err
    process = start("pull_notifications", "--count", 2, "--duration", 1)  # --count alone: any item event
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1 and err.splitlines()[-1] == "ews: no item event within 1 s"
    process = start("pull_notifications", "--count", 0)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2 and err.strip() == "ews: --count 0: give 1 or more"


def test_pull_notifications_reports_an_item_gone_before_the_fetch(alice, start, admin):
    """Created and deleted between two polls: the CreatedEvent's item cannot be read any more;
    the line says gone, and the run goes on (and ends on --until deleted)."""
    admin.clear_requests()
    process = start("pull_notifications", "--json", "--until", "deleted", "--interval", 3, "--duration", 30)
    _wait_for(admin, "GetEvents")
    message = Message(account=alice, folder=alice.inbox, subject="short-lived").save()
    message_id = message.id
    message.delete()
    out, err = finish(process, timeout=30)
    mine = [r for r in json_lines(out) if r["id"] == message_id]
    assert [r["event"] for r in mine][0] == "CreatedEvent" and mine[-1]["event"] == "DeletedEvent"
    assert mine[0]["gone"] is True and mine[0]["subject"] is None
    assert "gone" not in mine[-1] and "ews:" not in err.replace("ews: using the local EWS sandbox", "")
    assert Counter(e["operation"] for e in admin.requests())["GetItem"] == 1


# ---- push_listener.py ------------------------------------------------------------------

def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_push_listener_receives_a_delivery_and_refuses_hostile_bodies(alice, start, admin, tmp_path, short_minute):
    port, secret = _free_port(), tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    process = start("push_listener", "--json", "--port", port, "--duration", 6, "--linger", 3)
    _wait_for(admin, "Subscribe")
    url = f"http://127.0.0.1:{port}/"
    envelope = ('<?xml version="1.0"?>{}<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
                'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body><m:SendNotification>'
                '<m:ResponseMessages><m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError'
                '</m:ResponseCode><m:Notification><t:SubscriptionId>x{}</t:SubscriptionId></m:Notification>'
                '</m:SendNotificationResponseMessage></m:ResponseMessages></m:SendNotification></s:Body></s:Envelope>')
    external = envelope.format(f'<!DOCTYPE s:Envelope [<!ENTITY leak SYSTEM "file://{secret}">]>', "&leak;")
    laughs = envelope.format('<!DOCTYPE s:Envelope [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                             '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
                             '<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">'
                             '<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">'
                             '<!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">]>', "&i;")
    started = time.monotonic()
    assert requests.post(url, data=external.encode(), timeout=10).status_code == 400
    assert requests.post(url, data=laughs.encode(), timeout=10).status_code == 400

    def fifty_megabytes():
        yield envelope.format("", "").encode()
        for _ in range(50):
            yield b" " * (1024 * 1024)
    try:
        big = requests.post(url, data=b"<x>" + b" " * (50 * 1024 * 1024), timeout=20).status_code
    except requests.ConnectionError:  # it answered 413 and closed before the upload ended
        big = 413
    assert big == 413
    try:
        chunked = requests.post(url, data=fifty_megabytes(), timeout=20).status_code
    except requests.ConnectionError:
        chunked = 411
    assert chunked == 411
    assert time.monotonic() - started < 10  # nothing was expanded or read whole

    message = Message(account=alice, folder=alice.inbox, subject="pushed").save()  # still serving
    out, err = finish(process, timeout=60)
    rows = json_lines(out)
    assert ("CreatedEvent", message.id) in {(r["event"], r["id"]) for r in rows}
    assert "TOP-SECRET" not in out + err and err.count("refused a request") == 4
    assert all(r["subscription_id"] for r in rows)


def test_sync_streaming_leaves_cleanly_on_sigint(alice, start, tmp_path, admin):
    """SIGINT ends the run between requests: a signal raised inside one would keep its pooled
    connection, and Unsubscribe would then wait behind the open stream for ever."""
    admin.clear_requests()
    process = start("sync_streaming", "--state", tmp_path / "s.json", "--json")
    _wait_for(admin, "GetStreamingEvents")
    message = Message(account=alice, folder=alice.inbox, subject="before the signal").save()
    line = process.stdout.readline()
    assert json.loads(line)["id"] == message.id
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = finish(process, timeout=30)
    assert time.monotonic() - started < 10 and out == ""
    assert Counter(e["operation"] for e in admin.requests())["Unsubscribe"] == 1
