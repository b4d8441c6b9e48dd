"""Tests of archive_alerts.py, with nothing but the EWS sandbox's pytest plugin."""
from datetime import timedelta

import pytest

from archive_alerts import ALERTS, archive_old_alerts, main

ALICE = "alice@contoso.example"


def inbox_subjects(account):
    return sorted(account.inbox.all().values_list("subject", flat=True))


def test_moves_only_old_alerts(ews_account, ews_deliver):
    ews_deliver(ALICE, "disk full on db1", sender=f"Monitoring <{ALERTS}>", received=timedelta(days=90))
    ews_deliver(ALICE, "disk full on db2", sender=ALERTS, received=timedelta(days=2))
    ews_deliver(ALICE, "old note from bob", sender="bob@contoso.example", received=timedelta(days=90))

    assert archive_old_alerts(ews_account, days=30) == 1

    archive = ews_account.inbox / "Alerts archive"
    assert [m.subject for m in archive.all()] == ["disk full on db1"]
    assert inbox_subjects(ews_account) == ["disk full on db2", "old note from bob"]


@pytest.mark.ews_seed("demo")  # the demo tenant's 36 messages: none is an alert
def test_second_run_moves_nothing(ews_account, ews_deliver):
    ews_deliver(ALICE, "cpu high", sender=ALERTS, received=timedelta(days=45), is_read=True)
    assert archive_old_alerts(ews_account) == 1
    assert archive_old_alerts(ews_account) == 0
    assert ews_account.inbox.total_count > 0


def test_a_hundred_and_fifty_alerts_cost_two_moves(ews_sandbox, ews_account, ews_requests):
    ews_sandbox.deliver_many([{"mailbox": ALICE, "subject": f"alert {n}", "sender": ALERTS,
                               "received": timedelta(days=60 + n)} for n in range(150)])
    ews_requests.clear()

    assert archive_old_alerts(ews_account) == 150

    operations = ews_requests.operations()
    assert operations.count("FindItem") == 2          # 100 ids a page
    assert operations.count("MoveItem") == 2          # 100 items a request
    assert operations.count("CreateFolder") == 1      # the archive folder, the first time


def test_survives_a_busy_server(ews_sandbox, ews_deliver, ews_faults):
    from exchangelib import FaultTolerance
    ews_deliver(ALICE, "queue stuck", sender=ALERTS, received=timedelta(days=40))
    account = ews_sandbox.account(ALICE, retry_policy=FaultTolerance(max_wait=10))
    ews_faults.add("server-busy:every=2,backoff_ms=50,operations=FindItem+MoveItem")

    assert archive_old_alerts(account) == 1
    assert [e["status"] for e in ews_sandbox.requests.entries("MoveItem")][-1] == 200


def test_main_builds_its_own_account(ews_redirect, ews_deliver, monkeypatch, capsys):
    ews_deliver(ALICE, "backup failed", sender=ALERTS, received=timedelta(days=31))
    monkeypatch.setenv("EWS_EMAIL", ALICE)
    monkeypatch.setenv("EWS_PASSWORD", "the real one, never used")
    monkeypatch.setenv("EWS_SERVER", "mail.example.com")

    assert main() == 1
    assert capsys.readouterr().out == "archived 1 alert(s)\n"
    assert ews_redirect.requests.count("MoveItem") == 1
