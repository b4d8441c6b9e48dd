"""What references/performance.md says a call costs, measured against the sandbox's request
log (requests, bytes) and its state. Each test first quotes the claim it checks (`cite`): a
reworded claim fails here until someone measures it again. Speed figures come from the
benchmark (`python -m ews_sandbox bench`), not from timing here; what is checked here is
what makes them (the requests sent, the bytes answered, requests that overlap or not)."""
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from exchangelib import (BASIC, DELEGATE, Account, Build, Configuration, Credentials, FaultTolerance, Message,
                         Version)
from exchangelib.protocol import close_connections

from conftest import ALICE, PASSWORD

BUNDLE = Path(__file__).resolve().parent.parent
REFERENCE = "references/performance.md"
PINNED = Version(build=Build(15, 1, 2507, 6))  # no ConvertId probe: requests are the call's own


def cite(claim):
    """Fails unless performance.md says `claim`, whitespace aside."""
    flat = lambda text: re.sub(r"\s+", " ", text).strip()  # noqa: E731
    assert flat(claim) in flat((BUNDLE / REFERENCE).read_text(encoding="utf-8")), f"{REFERENCE} no longer says: {claim}"


def measure(admin, action):
    """(result of action(), Counter of the EWS operations it sent, bytes answered)."""
    admin.clear_requests()
    result = action()
    log = admin.requests()
    return result, Counter(entry["operation"] for entry in log), sum(entry["response_bytes"] for entry in log)


def account_for(sandbox, **config):
    close_connections()  # exchangelib reuses a cached protocol per endpoint and credentials
    configuration = Configuration(service_endpoint=sandbox.ews_url, credentials=Credentials(ALICE, PASSWORD),
                                  auth_type=BASIC, version=PINNED, **config)
    account = Account(ALICE, config=configuration, autodiscover=False, access_type=DELEGATE)
    account.inbox  # root and inbox known: each test measures its own calls
    return account


@pytest.fixture
def alice(clean, sandbox):
    return account_for(sandbox)


def fill(account, count, body="body"):
    created = account.bulk_create(account.inbox, [Message(account=account, subject=f"Message {n:03}", body=body)
                                                  for n in range(count)])
    assert not [c for c in created if isinstance(c, Exception)]
    return created


@pytest.mark.slow
def test_fields_every_field_costs_getitem_and_megabytes(alice, clean):
    cite("| `folder.all()` | 3 FindItem + 3 GetItem | 11.5 MB |")
    cite('| `folder.all().only("subject", "body")` | 3 FindItem + 3 GetItem | 2.6 MB |')
    cite('| `folder.all().only("subject")` | 3 FindItem | 37 KB |')
    cite("That is 300 times fewer bytes")
    fill(alice, 250, body="x" * 10_000)
    _, sent, everything = measure(clean, lambda: list(alice.inbox.all()))
    assert sent == {"FindItem": 3, "GetItem": 3} and 11_000_000 < everything < 12_000_000
    _, sent, with_body = measure(clean, lambda: list(alice.inbox.all().only("subject", "body")))
    assert sent == {"FindItem": 3, "GetItem": 3} and 2_500_000 < with_body < 2_700_000
    _, sent, subjects = measure(clean, lambda: list(alice.inbox.all().only("subject")))
    assert sent == {"FindItem": 3} and 30_000 < subjects < 45_000
    assert everything / subjects > 250


def test_fields_address_fields_force_getitem_and_fetch_reads_100_ids_a_request(alice, clean):
    cite("every address field (`sender`, `author`, `to_recipients`, `cc_recipients`...: `FindItem` gives only the "
         "display name, so exchangelib asks again for the address)")
    cite("`account.fetch(ids, only_fields=[...])` (one `GetItem` per 100 ids)")
    cite("`values_list(\"id\", \"changekey\")` and `values(\"subject\")` cost the same as `.only()` with those fields")
    fill(alice, 150)
    _, sent, _ = measure(clean, lambda: list(alice.inbox.all().only("subject", "sender")))
    assert sent == {"FindItem": 2, "GetItem": 2}
    ids, sent, _ = measure(clean, lambda: list(alice.inbox.all().values_list("id", "changekey")))
    assert sent == {"FindItem": 2} and len(ids) == 150
    assert measure(clean, lambda: list(alice.inbox.all().values("subject")))[1] == {"FindItem": 2}
    fetched, sent, _ = measure(clean, lambda: list(alice.fetch(ids, only_fields=["subject", "text_body"])))
    assert sent == {"GetItem": 2} and all(m.text_body == "body" for m in fetched)


def test_paging_a_page_size_of_1000_lists_250_in_one_finditem(alice, clean):
    cite("A query fetches its results 100 a page (`qs.page_size`); each page is one `FindItem`.")
    cite("queryset.page_size = 1000                  # 250 items: 1 FindItem instead of 3")
    fill(alice, 250)
    assert measure(clean, lambda: list(alice.inbox.all().only("subject")))[1] == {"FindItem": 3}
    queryset = alice.inbox.all().only("subject", "datetime_received")
    queryset.page_size = 1000
    found, sent, _ = measure(clean, lambda: list(queryset))
    assert sent == {"FindItem": 1} and len(found) == 250


def test_counting_existence_and_the_first_few(alice, clean):
    cite("| how many in the folder | `folder.refresh()` then `folder.total_count`, `folder.unread_count` | 1 GetFolder |")
    cite("| how many match a filter | `qs.count()` | every matching id, 1,000 a `FindItem` |")
    cite("| whether any match | `qs.exists()` | 1 FindItem of one id |")
    cite("| the first few | `qs.order_by(...).only(...)[:5]` | 1 FindItem of 5 entries |")
    cite("| one item by a field | `folder.get(subject=...)` | 1 FindItem + 1 GetItem of every field (add `.only()` "
         "before `.get()` to fetch less) |")
    fill(alice, 250)
    assert measure(clean, lambda: alice.inbox.refresh())[1] == {"GetFolder": 1}
    assert alice.inbox.total_count == 250
    count, sent, _ = measure(clean, lambda: alice.inbox.filter(subject__startswith="Message").count())
    assert count == 250 and sent == {"FindItem": 1}  # 100 a page would take 3
    assert measure(clean, lambda: alice.inbox.filter(subject="Message 007").exists())[1] == {"FindItem": 1}
    first, sent, small = measure(clean, lambda: list(alice.inbox.all().order_by("-subject").only("subject")[:5]))
    assert sent == {"FindItem": 1} and [m.subject for m in first][0] == "Message 249" and len(first) == 5
    assert small < 3_000
    assert measure(clean, lambda: alice.inbox.get(subject="Message 007"))[1] == {"FindItem": 1, "GetItem": 1}
    assert measure(clean, lambda: alice.inbox.all().only("subject").get(subject="Message 007"))[1] == {"FindItem": 1}
    assert not hasattr(alice.inbox.all(), "first")


def test_bulk_calls_send_100_items_a_request(alice, clean):
    cite("| `bulk_create(folder, items)` | 3 CreateItem |")
    cite('| `save(update_fields=["is_read"])` on each of 20 | 20 UpdateItem |')
    cite('| `bulk_update([(item, ["is_read"]) ...])` | 3 UpdateItem |')
    cite("| the same with `chunk_size=50` | 5 UpdateItem |")
    cite("for n in range(120)])   # 2 CreateItem")
    cite("account.bulk_delete(ids, chunk_size=50)                                         # 3 DeleteItem")
    assert measure(clean, lambda: fill(alice, 250))[1] == {"CreateItem": 3}
    items = list(alice.inbox.all().only("subject", "is_read"))
    for item in items:
        item.is_read = True

    def one_by_one():
        for item in items[:20]:
            item.save(update_fields=["is_read"])
    assert measure(clean, one_by_one)[1] == {"UpdateItem": 20}
    assert measure(clean, lambda: alice.bulk_update([(i, ["is_read"]) for i in items]))[1] == {"UpdateItem": 3}
    assert measure(clean, lambda: alice.bulk_update([(i, ["is_read"]) for i in items], chunk_size=50))[1] == {
        "UpdateItem": 5}
    assert alice.inbox.filter(is_read=False).count() == 0
    alice.drafts  # its GetFolder is paid once per Account, not by the bulk call
    made, sent, _ = measure(clean, lambda: alice.bulk_create(folder=alice.drafts, items=[
        Message(account=alice, subject=f"Batch {n}", body="x") for n in range(120)]))
    assert sent == {"CreateItem": 2}
    ids = [(m.id, m.changekey) for m in made]
    assert measure(clean, lambda: alice.bulk_delete(ids, chunk_size=50))[1] == {"DeleteItem": 3}
    assert alice.drafts.all().count() == 0


def overlapping(entries):
    """The most requests the server had in hand at one moment (each entry ends at `time`, lasting `ms`)."""
    edges = sorted([(e["time"] - e["ms"] / 1000, 1) for e in entries] + [(e["time"], -1) for e in entries])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def test_connections_threads_share_max_connections_sessions(sandbox, clean):
    cite("exchangelib sends its requests one after the other: it has no parallelism of its own.")
    cite("| 1 | 2.5 s (one after the other) |")
    cite("| 4 | 0.7 s |")
    clean.add_fault({"kind": "latency", "ms": 500, "operations": ["FindItem"]})
    for connections, expected in ((1, 1), (4, 4)):
        account = account_for(sandbox, max_connections=connections)
        clean.clear_requests()
        workers = [threading.Thread(target=lambda: list(account.inbox.all().only("subject")[:5])) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        finds = [e for e in clean.requests() if e["operation"] == "FindItem"]
        assert len(finds) == 4 and overlapping(finds) == expected, (connections, finds)
    clean.clear_requests()
    list(account.inbox.all())  # FindItem then GetItem: one after the other even with 4 connections
    assert overlapping(clean.requests()) == 1


def test_connections_a_cached_protocol_keeps_its_max_connections(sandbox, clean):
    cite("a later `Configuration(max_connections=4)` for a user already connected gets the existing protocol and its "
         "old limit")
    cite("shared.protocol.max_connections = 4    # the protocol may be a cached one, made with 1 (see below)")
    first = account_for(sandbox)
    later = Account(ALICE, config=Configuration(service_endpoint=sandbox.ews_url, credentials=Credentials(ALICE, PASSWORD),
                                                auth_type=BASIC, version=PINNED, max_connections=4),
                    autodiscover=False, access_type=DELEGATE)
    assert later.protocol is first.protocol and later.protocol.max_connections == 1
    later.protocol.max_connections = 4
    assert first.protocol.max_connections == 4


def test_throttling_fault_tolerance_resends_after_the_wait(sandbox, clean):
    cite("all 250 arrived, after 5 `FindItem` requests (2 refused with `ErrorServerBusy` and `BackOffMilliseconds` 200, "
         "each sent again after a 0.2 s wait)")
    cite("With HTTP 503 and `Retry-After: 1` instead, the same 5 requests")
    account = account_for(sandbox, retry_policy=FaultTolerance(max_wait=10))
    fill(account, 250)
    for fault, refused in (({"kind": "server-busy", "every": 2, "backoff_ms": 200}, 500),
                           ({"kind": "http-503", "every": 2, "retry_after": 1}, 503)):
        clean.clear_faults()
        clean.add_fault({**fault, "operations": ["FindItem"]})
        found, sent, _ = measure(clean, lambda: list(account.inbox.all().only("subject")))
        statuses = Counter(e["status"] for e in clean.requests())
        assert len(found) == 250 and sent == {"FindItem": 5} and statuses == {200: 3, refused: 2}
        gaps = [later["time"] - later["ms"] / 1000 - earlier["time"] for earlier, later in
                zip(clean.requests(), clean.requests()[1:]) if earlier["status"] == refused]
        assert min(gaps) >= (0.19 if refused == 500 else 0.95), gaps  # it waited as asked before resending


def test_the_scripts_retry_budget_covers_the_whole_run(sandbox, clean, tmp_path):
    message = ("the server is throttling (gave up after waiting 3 s in all (gave up when asked to back off 1.000 "
               "seconds)); raise EWS_RETRY_MAX_WAIT or send smaller batches")
    cite(message)
    cite("gets the first request of `read_inbox.py` 4 times (3 resends)")
    clean.add_fault({"kind": "server-busy", "backoff_ms": 1000})
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "EWS_SANDBOX_URL": sandbox.ews_url,
           "EWS_CA_BUNDLE": sandbox.ca_bundle, "EWS_EMAIL": ALICE, "EWS_RETRY_MAX_WAIT": "3"}
    result = subprocess.run([sys.executable, str(BUNDLE / "scripts" / "read_inbox.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == f"ews: {message}"
    log = clean.requests()
    assert len(log) == 4 and len({e["operation"] for e in log}) == 1 and {e["status"] for e in log} == {500}
