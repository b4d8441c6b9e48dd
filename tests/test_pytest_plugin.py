"""The testing kit for users' own suites: the pytest plugin's fixtures, redirect_exchangelib
(code that builds its own Account reaches the sandbox), and the sample user project under
tests/sample_project, run as a pytest session of its own with `-p ews_sandbox.pytest_plugin`
as a user runs it."""
import contextlib
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from exchangelib import (IMPERSONATION, Account, Configuration, Credentials, FaultTolerance, Identity,
                         OAuth2Credentials)
from exchangelib.errors import TransportError
from exchangelib.protocol import BaseProtocol

from conftest import ALICE, BOB
from ews_sandbox.testing import SandboxClient, redirect_exchangelib

BUNDLE = Path(__file__).resolve().parent.parent

def own_session(args, cwd):
    """A pytest session in a process of its own, as a user's suite runs (no xdist, no cache)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "COV_"))}
    env["PYTHONPATH"] = str(BUNDLE)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "ews_sandbox.pytest_plugin", "-p", "no:cacheprovider",
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


# ---- the fixtures (tests/conftest.py loads the plugin, as a user's conftest does) -------

def test_deliver_account_and_requests(ews_sandbox, ews_account, ews_deliver, ews_requests, ews_sandbox_server):
    assert ews_requests.operations() == []
    ews_deliver(ALICE, "seeded", sender="x@outside.example", received=timedelta(days=3))
    assert ews_account.inbox.filter(subject="seeded").count() == 1
    assert ews_requests.count("FindItem") == 1
    assert ews_sandbox.ews_url == ews_sandbox_server.ews_url
    assert ews_account.primary_smtp_address == ALICE  # ini ews_user: alice by default


def test_each_test_starts_from_the_seed(ews_account):
    assert ews_account.inbox.filter(subject="seeded").count() == 0
    assert ews_account.inbox.all().count() > 0  # ini ews_seed: demo by default


@pytest.mark.ews_seed("empty")
def test_seed_marker(ews_account):
    assert ews_account.inbox.all().count() == 0


@pytest.mark.ews_user(BOB)
def test_user_marker(ews_account, ews_requests):
    assert ews_account.primary_smtp_address == BOB
    ews_account.inbox.all().count()
    assert {entry["user"] for entry in ews_requests.entries()} == {BOB}


def test_fault_injection(ews_faults, ews_account):
    ews_faults.add("ews-disabled")
    with pytest.raises(TransportError):
        ews_account.inbox.all().count()


def test_faults_are_gone_after_the_test(ews_faults, ews_account):
    assert ews_faults.active() == []
    assert ews_account.inbox.all().count() > 0


def test_fresh_sandbox(ews_fresh_sandbox, ews_sandbox_server):
    assert ews_fresh_sandbox.ews_url != ews_sandbox_server.ews_url
    assert ews_fresh_sandbox.ca_bundle != ews_sandbox_server.ca_bundle
    ews_fresh_sandbox.deliver("carol@contoso.example", "fresh")
    assert ews_fresh_sandbox.account("carol@contoso.example").inbox.filter(subject="fresh").count() == 1


def test_the_projects_own_sandbox_is_trusted_again_after_a_plugin_fixture(connect):
    assert connect(ALICE).inbox.total_count is not None


def test_redirect_fixture(ews_redirect, ews_deliver):
    ews_deliver("dave@contoso.example", "found by autodiscover")
    account = Account("dave@contoso.example", credentials=Credentials("dave@contoso.example", "x"), autodiscover=True)
    assert account.inbox.filter(subject="found by autodiscover").count() == 1
    assert ews_redirect.requests.entries()[-1]["user"] == "dave@contoso.example"


REPLAYED = []


def test_replay_fixture_enters_the_replay_helper(ews_replay, monkeypatch, tmp_path):
    replay = pytest.importorskip("ews_sandbox.replay", reason="ews_sandbox.replay (the replay helper) is not in "
                                                              "this bundle yet")

    @contextlib.contextmanager
    def fake_replaying(directory):
        REPLAYED.append(("enter", directory))
        yield "the player"
        REPLAYED.append(("exit", directory))

    monkeypatch.setattr(replay, "replaying", fake_replaying)
    (tmp_path / "recordings").mkdir()
    assert ews_replay(tmp_path / "recordings") == "the player"
    assert REPLAYED == [("enter", str(tmp_path / "recordings"))]


def test_replay_ends_with_its_test():
    pytest.importorskip("ews_sandbox.replay", reason="ews_sandbox.replay (the replay helper) is not in this bundle yet")
    assert [event for event, _ in REPLAYED] == ["enter", "exit"]


def test_replay_fixture_names_the_missing_helper(ews_replay):
    try:
        import ews_sandbox.replay  # noqa: F401
    except ImportError:
        with pytest.raises(pytest.fail.Exception, match="ews_replay needs ews_sandbox.replay"):
            ews_replay("recordings/anything")
    else:
        pytest.skip("ews_sandbox.replay is here: the tests above drive it")


# ---- a user's project, run as its own session -------------------------------------------

def test_sample_project_passes_as_its_own_session():
    run = own_session(["tests/sample_project", "-q"], BUNDLE)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert "5 passed" in run.stdout


def test_this_session_leaves_the_sample_project_to_itself(request):
    sample = BUNDLE / "tests" / "sample_project"
    assert list(sample.glob("test_*.py")), "the sample project has tests"
    assert not [item for item in request.session.items if sample in Path(item.path).parents]


# ---- redirect_exchangelib: code that builds its own Account --------------------------

@pytest.fixture
def kit(clean, sandbox):
    return SandboxClient.of(sandbox)


def test_autodiscover_with_any_password_reaches_the_sandbox(kit, sandbox):
    kit.deliver(ALICE, "hello from outside", sender="x@outside.example")
    original_init, adapter = Account.__init__, BaseProtocol.HTTP_ADAPTER_CLS
    with redirect_exchangelib(kit):
        account = Account(ALICE, credentials=Credentials("CORP\\alice", "not her sandbox password"),
                          autodiscover=True)
        assert [m.subject for m in account.inbox.all()] == ["hello from outside"]
        assert account.protocol.service_endpoint == sandbox.ews_url
    assert (Account.__init__, BaseProtocol.HTTP_ADAPTER_CLS) == (original_init, adapter)
    assert {entry["user"] for entry in kit.requests.entries()} == {ALICE}


def test_oauth_impersonation_against_a_cloud_server_reaches_the_sandbox(kit):
    credentials = OAuth2Credentials(client_id="real-app", client_secret="real-secret", tenant_id="real-tenant",
                                    identity=Identity(primary_smtp_address=BOB))
    config = Configuration(server="outlook.office365.com", credentials=credentials,
                           retry_policy=FaultTolerance(max_wait=30))
    with redirect_exchangelib(kit):
        account = Account(BOB, config=config, autodiscover=False, access_type=IMPERSONATION)
        assert account.inbox.all().count() == 0
        assert isinstance(account.protocol.retry_policy, FaultTolerance)  # the code's own policy stays
    operations = kit.requests.operations()
    assert not [op for op in operations if op is None or op.startswith("token:")], operations  # no token fetched
    assert {entry["user"] for entry in kit.requests.entries()} == {BOB}


def test_sign_in_as_a_delegate(kit):
    kit.grant(BOB, ALICE)
    kit.deliver(BOB, "for bob")
    with redirect_exchangelib(kit, sign_in_as=ALICE):
        account = Account(BOB, credentials=Credentials("svc", "x"), autodiscover=True)
        assert [m.subject for m in account.inbox.all()] == ["for bob"]
    assert {(entry["user"], tuple(entry["mailboxes"])) for entry in kit.requests.entries()} == {(ALICE, (BOB,))}


def test_an_address_the_sandbox_does_not_know_is_named(kit):
    with redirect_exchangelib(kit), pytest.raises(ValueError, match="ops@corp.example is not a sandbox user"):
        Account("ops@corp.example", credentials=Credentials("ops@corp.example", "x"), autodiscover=True)
    kit.add_user("ops@corp.example", "Ops Robot")
    with redirect_exchangelib(kit):
        assert Account("ops@corp.example", credentials=Credentials("ops", "x"), autodiscover=True).inbox.total_count == 0


def test_request_log_and_fault_views(kit, connect):
    inbox = kit.account(ALICE).inbox
    kit.requests.clear()
    inbox.all().count()
    assert kit.requests.operations() == ["FindItem"]
    assert kit.requests.count("FindItem") == 1 and kit.requests.entries("GetItem") == []
    kit.faults.add("server-busy:every=2,backoff_ms=10", {"kind": "latency", "ms": 1})
    assert [fault["kind"] for fault in kit.faults.active()] == ["server-busy", "latency"]
    kit.faults.clear()
    assert kit.faults.active() == []


def test_each_account_gets_the_retry_policy_it_asks_for(kit):
    # exchangelib would hand the second Account the first one's protocol, FailFast included
    assert not isinstance(kit.account(ALICE).protocol.retry_policy, FaultTolerance)
    patient = kit.account(ALICE, retry_policy=FaultTolerance(max_wait=10))
    assert isinstance(patient.protocol.retry_policy, FaultTolerance)
    kit.faults.add({"kind": "server-busy", "every": 2, "backoff_ms": 50, "operations": ["FindItem"]})
    kit.requests.clear()
    assert [patient.inbox.all().count() for _ in range(2)] == [0, 0]
    assert [entry["status"] for entry in kit.requests.entries("FindItem")] == [200, 500, 200]


# ---- what references/testing.md says it costs or does -------------------------------------

def test_testing_md_claims_about_paging_and_fail_fast(kit):
    from exchangelib.errors import ErrorServerBusy
    from test_reference_claims import cite
    cite("references/testing.md", "Pages of 100 make three FindItems for 201 messages")
    cite("references/testing.md", "With `FailFast` (exchangelib's default) the same fault raises `ErrorServerBusy`.")
    kit.deliver_many([{"mailbox": ALICE, "subject": f"alert {n}", "sender": "alerts@monitoring.example"}
                      for n in range(201)])
    inbox = kit.account(ALICE).inbox
    kit.requests.clear()
    assert len(list(inbox.filter(sender="alerts@monitoring.example").only("subject"))) == 201
    assert kit.requests.operations() == ["FindItem"] * 3
    kit.faults.add({"kind": "server-busy", "backoff_ms": 100, "operations": ["FindItem"]})
    with pytest.raises(ErrorServerBusy):
        inbox.all().count()


def test_testing_md_claims_about_redirect(kit):
    from test_reference_claims import cite
    cite("references/testing.md", "signed in as the account's address (a sandbox user: `kit.add_user(email, name)` "
                                  "adds one), with the code's access type, version, retry policy and connection count")
    from exchangelib import Build, Version
    old = Version(build=Build(15, 0, 847, 32))
    config = Configuration(server="mail.example.com", credentials=Credentials(ALICE, "x"), version=old,
                           max_connections=3, retry_policy=FaultTolerance(max_wait=7))
    with redirect_exchangelib(kit):
        account = Account(ALICE, config=config, access_type=IMPERSONATION)
        assert (account.access_type, account.version.build, account.protocol.max_connections) == \
            (IMPERSONATION, old.build, 3)
        assert account.protocol.retry_policy.max_wait == 7
        assert account.inbox.all().count() == 0
