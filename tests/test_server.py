"""The sandbox as a server: sign-in, version, access rights, faults, the admin API,
state that survives restarts and is shared between processes, the command line."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from exchangelib import BASIC, NTLM, Account, Configuration, Credentials, FaultTolerance, Message
from exchangelib.errors import (
    ErrorAccessDenied, ErrorImpersonateUserDenied, ErrorNonExistentMailbox,
    ErrorServerBusy, ErrorTimeoutExpired, RateLimitError, TransportError, UnauthorizedError,
)

from conftest import ALICE, BOB, CAROL, PASSWORD
from ews_sandbox.tls import trusting_adapter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("auth", [BASIC, NTLM])
def test_sign_in_reads_the_inbox(clean, connect, auth):
    account = connect(ALICE, auth=auth)
    assert account.inbox.total_count == 0
    assert account.version.build.major_version == 15


def test_auth_type_and_version_are_negotiated_as_exchangelib_does(clean, sandbox):
    config = Configuration(credentials=Credentials(BOB, PASSWORD), service_endpoint=sandbox.ews_url)
    account = Account(BOB, config=config, autodiscover=False)
    assert account.inbox.name == "Inbox"
    assert config.auth_type == NTLM  # offered NTLM and Basic: exchangelib prefers NTLM
    assert account.version.api_version == "Exchange2016"
    log = clean.requests()
    assert [e["status"] for e in log[:1]] == [401] and log[0]["operation"] == "ConvertId"


def test_a_wrong_password_is_refused(clean, connect):
    for auth in (BASIC, NTLM):
        with pytest.raises(UnauthorizedError):
            connect(ALICE, password="wrong", auth=auth).inbox.total_count


def test_delegate_access_is_refused_then_granted(clean, connect):
    bob_on_alice = connect(BOB, mailbox=ALICE)
    with pytest.raises(ErrorAccessDenied):
        bob_on_alice.inbox.total_count
    with pytest.raises(ErrorNonExistentMailbox):
        connect(BOB, mailbox="nobody@contoso.example").inbox.total_count
    clean.grant(owner=ALICE, delegate=BOB)
    assert connect(BOB, mailbox=ALICE).inbox.name == "Inbox"


def test_impersonation_needs_an_app_token(clean, connect):
    from exchangelib import IMPERSONATION
    config = connect(BOB).protocol.config
    with pytest.raises(ErrorImpersonateUserDenied):
        Account(ALICE, config=config, autodiscover=False, access_type=IMPERSONATION).inbox.total_count


def test_unimplemented_operations_are_refused_by_name(clean, sandbox):
    # GetUserPhoto: a real EWS operation (messages.xsd) the sandbox does not implement
    envelope = ('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><s:Body><m:GetUserPhoto>'
                f'<m:Email>{ALICE}</m:Email><m:SizeRequested>HR48x48</m:SizeRequested></m:GetUserPhoto></s:Body>'
                '</s:Envelope>')
    answer = requests.post(sandbox.ews_url, data=envelope.encode(), auth=(ALICE, PASSWORD), verify=sandbox.ca_bundle)
    assert answer.status_code == 500
    assert b"ErrorInvalidOperation" in answer.content and b"does not implement the operation GetUserPhoto" in \
        answer.content


# ---- faults ---------------------------------------------------------------------------

def test_server_busy_backs_off_and_retries(clean, connect):
    clean.add_fault({"kind": "server-busy", "every": 2, "backoff_ms": 200, "operations": ["GetFolder"]})
    with pytest.raises(ErrorServerBusy) as raised:
        connect(ALICE).inbox  # GetFolder root passes, GetFolder inbox is throttled; FailFast raises
    assert raised.value.back_off == 0.2
    account = connect(ALICE, retry=FaultTolerance(max_wait=10))
    started = time.monotonic()
    assert account.inbox.total_count == 0
    assert time.monotonic() - started >= 0.2
    statuses = [e["status"] for e in clean.requests() if e["operation"] == "GetFolder"]
    assert 500 in statuses and statuses[-1] == 200


def test_http_503_with_retry_after_is_retried(clean, connect):
    clean.add_fault("http-503:every=2,retry_after=1,operations=GetFolder")
    account = connect(ALICE, retry=FaultTolerance(max_wait=10))
    assert account.inbox.total_count == 0
    assert 503 in [e["status"] for e in clean.requests()]


def test_a_wait_longer_than_max_wait_raises_rate_limit(clean, connect):
    clean.add_fault({"kind": "server-busy", "backoff_ms": 60000})
    with pytest.raises((RateLimitError, ErrorServerBusy)):
        connect(ALICE, retry=FaultTolerance(max_wait=1)).inbox


def test_latency_is_added_to_named_operations(clean, connect):
    clean.add_fault("latency:ms=150,operations=GetFolder")
    started = time.monotonic()
    assert connect(ALICE).inbox.total_count == 0
    assert time.monotonic() - started >= 0.3  # GetFolder root, then GetFolder inbox


def test_a_dropped_connection_is_a_timeout_to_exchangelib(clean, connect):
    clean.add_fault("drop-connection:operations=GetFolder")
    # exchangelib itself does not retry it (one session in its pool): the scripts' helper adds that
    with pytest.raises(ErrorTimeoutExpired):
        connect(ALICE, retry=FaultTolerance(max_wait=5)).inbox
    assert [e["status"] for e in clean.requests() if e["operation"] == "GetFolder"] == [0]


def test_ews_disabled_answers_403(clean, connect):
    clean.add_fault("ews-disabled")
    with pytest.raises(TransportError, match="403"):
        connect(ALICE).inbox


# ---- admin API ------------------------------------------------------------------------

def test_admin_api_needs_the_token(sandbox, admin):
    for headers in ({}, {"X-Admin-Token": "wrong"}):
        answer = requests.get(sandbox.base_url + "/_sandbox/requests", headers=headers, verify=sandbox.ca_bundle)
        assert answer.status_code == 403
    assert isinstance(admin.requests(), list)


def test_admin_api_rejects_bad_fault_specs(sandbox, admin):
    answer = admin.session.post(sandbox.base_url + "/_sandbox/faults", json={"kind": "meteor"},
                                verify=sandbox.ca_bundle)
    assert answer.status_code == 400 and "unknown fault kind" in answer.json()["error"]


def test_request_log_records_each_call(clean, connect):
    clean.clear_requests()
    connect(ALICE, auth=BASIC).inbox.total_count
    entries = clean.requests()
    assert [e["operation"] for e in entries][-2:] == ["GetFolder", "GetFolder"]
    last = entries[-1]
    assert last["status"] == 200 and last["mailbox"] == ALICE
    assert last["request_bytes"] > 0 and last["response_bytes"] > 0 and last["ms"] >= 0


def test_request_log_names_who_signed_in_and_which_mailboxes_they_opened(clean, connect):
    clean.grant(owner=BOB, delegate=ALICE)
    alice = connect(ALICE)
    alice_on_bob = connect(ALICE, mailbox=BOB)
    clean.clear_requests()
    alice.inbox.total_count
    own = clean.requests()[-1]
    assert (own["user"], own["mailbox"], own["mailboxes"]) == (ALICE, ALICE, [ALICE])
    # Delegate access: alice signed in, bob's mailbox was opened (the old field named alice here).
    clean.clear_requests()
    alice_on_bob.inbox.total_count
    reads = [e for e in clean.requests() if e["operation"] == "GetFolder"]
    assert {(e["user"], e["mailbox"], tuple(e["mailboxes"])) for e in reads} == {(ALICE, BOB, (BOB,))}
    # One request that opens two mailboxes names both, each once.
    message = Message(account=alice_on_bob, folder=alice_on_bob.inbox, subject="hand over")
    message.save()
    clean.clear_requests()
    message.move(alice.inbox)
    move = [e for e in clean.requests() if e["operation"] == "MoveItem"][-1]
    assert move["status"] == 200 and move["user"] == ALICE and sorted(move["mailboxes"]) == [ALICE, BOB]
    assert move["mailbox"] == move["mailboxes"][0]
    # Refused: nothing opened; `mailbox` still says whom the request acted for.
    clean.clear_requests()
    with pytest.raises(ErrorAccessDenied):
        connect(BOB, mailbox=CAROL).inbox.total_count
    refused = [e for e in clean.requests() if e["operation"] == "GetFolder"][-1]
    assert (refused["user"], refused["mailbox"], refused["mailboxes"]) == (BOB, BOB, [])
    # A request that opens no mailbox at all (the directory only).
    clean.clear_requests()
    alice.protocol.resolve_names(["carol"])
    resolve = [e for e in clean.requests() if e["operation"] == "ResolveNames"][-1]
    assert (resolve["user"], resolve["mailbox"]) == (ALICE, ALICE)


def test_reset_to_demo_seeds_users_a_list_and_messages(clean, connect, admin):
    answer = admin.reset("demo")
    assert len(answer["users"]) >= 4
    account = connect(ALICE)
    assert account.inbox.total_count >= 5
    users = admin.call("GET", "users")
    assert any(u["kind"] == "dl" for u in users)


# ---- processes and persistence ---------------------------------------------------------

def _serve(db, *extra):
    process = subprocess.Popen([sys.executable, "-m", "ews_sandbox", "serve", "--db", str(db), "--json", *extra],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line, process.stderr.read()
    return process, json.loads(line)


def _account(ready, email=ALICE):
    from exchangelib import DELEGATE
    from exchangelib.protocol import BaseProtocol
    BaseProtocol.HTTP_ADAPTER_CLS = trusting_adapter(ready["ca_bundle"])
    password = next(u["password"] for u in ready["users"] if u["email"] == email)
    config = Configuration(credentials=Credentials(email, password), service_endpoint=ready["ews_url"], auth_type=BASIC)
    return Account(email, config=config, autodiscover=False, access_type=DELEGATE)


def test_cli_ready_line_restart_and_two_processes_on_one_database(tmp_path, sandbox):
    db = tmp_path / "shared.db"
    first, ready = _serve(db, "--seed", "empty")
    try:
        assert set(ready) >= {"ews_url", "ca_bundle", "admin_token", "users"}
        assert ready["ews_url"].startswith("https://127.0.0.1:") and ready["ews_url"].endswith("/EWS/Exchange.asmx")
        assert ready["autodiscover_url"] == ready["ews_url"].replace("/EWS/Exchange.asmx", "/autodiscover/autodiscover.svc")
        second, ready2 = _serve(db)
        try:
            sender = _account(ready, ALICE)
            Message(account=sender, subject="Across processes", body="x", to_recipients=[BOB]).send()
            receiver = _account(ready2, BOB)
            assert receiver.inbox.total_count == 1
        finally:
            second.send_signal(signal.SIGINT)
            assert second.wait(10) == 0
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0
    third, ready3 = _serve(db)
    try:
        assert _account(ready3, BOB).inbox.total_count == 1  # state survived the restart
    finally:
        third.terminate()
        third.wait(10)
        _restore_sandbox_trust(sandbox)


def _restore_sandbox_trust(sandbox):
    from conftest import _trust_sandbox_ca
    _trust_sandbox_ca(sandbox.ca_bundle)


def test_cli_refuses_a_bad_fault_spec(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ews_sandbox", "serve", "--db", str(tmp_path / "x.db"),
                             "--fault", "server-busy:every"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--fault" in result.stderr


def test_every_response_code_the_sandbox_uses_is_in_the_schema():
    """A code outside ResponseCodeType would break exchangelib's parsing of real answers."""
    import re
    from pathlib import Path
    folder = os.environ.get("EWS_SCHEMA_DIR")
    if not folder or not (Path(folder) / "messages.xsd").exists():
        pytest.skip("EWS_SCHEMA_DIR not set")
    allowed = set(re.findall(r'<xs:enumeration value="(Error\w+)"', (Path(folder) / "messages.xsd").read_text()))
    # element names that start with Error (RuleValidationErrorType's ErrorCode and ErrorMessage) are no codes
    allowed |= set(re.findall(r'<xs:element name="(Error\w+)"', (Path(folder) / "types.xsd").read_text()))
    used = set()
    for source in Path(ROOT, "ews_sandbox").rglob("*.py"):
        if source.name == "autodiscover.py":  # another protocol: its element names (ErrorCode) are not EWS codes
            continue
        used |= set(re.findall(r'"(Error[A-Z]\w+)"', source.read_text()))
    assert used and used <= allowed, sorted(used - allowed)


def test_a_malformed_request_is_a_schema_validation_fault(sandbox):
    for body in (b"<not xml", b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body/></s:Envelope>"):
        answer = requests.post(sandbox.ews_url, data=body, auth=(ALICE, PASSWORD), verify=sandbox.ca_bundle)
        assert answer.status_code == 500
        assert b"<faultcode" in answer.content and b"ErrorSchemaValidation" in answer.content


ENVELOPE = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
            'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>{}</s:Body></s:Envelope>')
INBOX = '<t:DistinguishedFolderId Id="inbox"/>'
REFUSED_REQUESTS = [
    ("message without MessageDisposition", f'<m:CreateItem><m:SavedItemFolderId>{INBOX}</m:SavedItemFolderId>'
     '<m:Items><t:Message><t:Subject>x</t:Subject></t:Message></m:Items></m:CreateItem>',
     "ErrorMessageDispositionRequired"),
    ("calendar item without SendMeetingInvitations", '<m:CreateItem><m:Items><t:CalendarItem><t:Subject>x</t:Subject>'
     '</t:CalendarItem></m:Items></m:CreateItem>', "ErrorSendMeetingInvitationsRequired"),
    ("SendOnly with a folder to save in", f'<m:CreateItem MessageDisposition="SendOnly"><m:SavedItemFolderId>{INBOX}'
     '</m:SavedItemFolderId><m:Items><t:Message><t:Subject>x</t:Subject></t:Message></m:Items></m:CreateItem>',
     "ErrorInvalidSendItemSaveSettings"),
    ("DeleteItem without DeleteType", '<m:DeleteItem><m:ItemIds><t:ItemId Id="AAAA"/></m:ItemIds></m:DeleteItem>',
     "ErrorSchemaValidation"),
    ("an unknown FieldURI", '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
     '<t:FieldURI FieldURI="folder:Bogus"/></t:AdditionalProperties></m:FolderShape>'
     f'<m:FolderIds>{INBOX}</m:FolderIds></m:GetFolder>', "ErrorSchemaValidation"),
    ("an unknown distinguished folder", '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>'
     '<m:FolderIds><t:DistinguishedFolderId Id="bogus"/></m:FolderIds></m:GetFolder>', "ErrorSchemaValidation"),
]


@pytest.mark.parametrize("case, operation, code", REFUSED_REQUESTS, ids=[r[0] for r in REFUSED_REQUESTS])
def test_requests_exchange_refuses_are_refused(case, operation, code, sandbox, clean):
    answer = requests.post(sandbox.ews_url, data=ENVELOPE.format(operation), auth=(ALICE, PASSWORD),
                           verify=sandbox.ca_bundle)
    assert code.encode() in answer.content, answer.text[-500:]
    assert b"NoError" not in answer.content


def test_sandboxes_starting_together_on_a_new_database_agree(tmp_path):
    """One CA, one signing key, one seed: what scripts started side by side rely on."""
    import sqlite3
    import threading
    from ews_sandbox import Sandbox
    started, failures = [], []

    def start():
        try:
            with Sandbox(db_path=tmp_path / "together.db") as running:
                started.append(running.ca_bundle)
        except Exception as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures and len(started) == 4 and len(set(started)) == 1
    single = tmp_path / "single.db"
    Sandbox(db_path=single).database.close()
    count = lambda path: sqlite3.connect(path).execute("SELECT COUNT(*) FROM items").fetchone()[0]  # noqa: E731
    assert count(tmp_path / "together.db") == count(single)  # seeded once, not four times
