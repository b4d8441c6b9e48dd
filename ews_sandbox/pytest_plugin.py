"""pytest fixtures for testing exchangelib code against the EWS sandbox, in your own suite.

Load it with `pytest -p ews_sandbox.pytest_plugin`, or in your top-level conftest.py:
`pytest_plugins = ["ews_sandbox.pytest_plugin"]` (the bundle's folder on sys.path, e.g.
`pythonpath = path/to/bundle` in pytest.ini). references/testing.md has a worked example.

    ews_sandbox         the session's in-process sandbox, reset to its seed before the test
                        (faults and request log cleared): a testing.SandboxClient
    ews_fresh_sandbox   a sandbox of the test's own (own database; ~0.4 s to start)
    ews_account         exchangelib Account of the demo user (alice@contoso.example), TLS trusted
    ews_requests        the request log: .operations(), .count("FindItem"), .entries(), .clear()
    ews_faults          fault injection: .add("server-busy:every=2,backoff_ms=100"), .clear()
    ews_deliver         deliver(mailbox, subject, body, sender=, received=, folder=, ...): mail from outside
    ews_redirect        code that builds its own Account reaches the sandbox (redirect_exchangelib)
    ews_replay          ews_replay(directory): exchangelib answered from recorded EWS XML, offline
    ews_sandbox_server  the session's ews_sandbox.Sandbox itself (not reset)

Choose the seed with `@pytest.mark.ews_seed("empty")` or the ini option `ews_seed`
("demo": five users, 36 messages, this week's meetings and alice's contacts, the default; "empty":
the same users, no mail, empty calendars);
the user of `ews_account` with `@pytest.mark.ews_user("bob@contoso.example")` or `ews_user`.
"""
import os
from contextlib import ExitStack
from pathlib import Path

import pytest

from .testing import DEFAULT_USER, SandboxClient, redirect_exchangelib

SEEDS = ("demo", "empty")


def pytest_addoption(parser):
    parser.addini("ews_seed", "the tenant each test of the EWS sandbox starts from: demo or empty", default="demo")
    parser.addini("ews_user", "the mailbox ews_account opens", default=DEFAULT_USER)


def pytest_configure(config):
    config.addinivalue_line("markers", "ews_seed(name): the EWS sandbox tenant this test starts from (demo, empty)")
    config.addinivalue_line("markers", "ews_user(email): the mailbox ews_account opens in this test")


def _seed(request):
    marker = request.node.get_closest_marker("ews_seed")
    seed = marker.args[0] if marker else request.config.getini("ews_seed")
    if seed not in SEEDS:
        raise pytest.UsageError(f"ews_seed must be one of {', '.join(SEEDS)}, not {seed!r}")
    return seed


@pytest.fixture(scope="session")
def ews_sandbox_server(tmp_path_factory):
    """One sandbox for the session (per pytest-xdist worker), in this process, over HTTPS."""
    from . import Sandbox
    with Sandbox(db_path=tmp_path_factory.mktemp("ews-sandbox") / "state.db", seed="empty") as sandbox:
        yield sandbox


def _prepare(client, request):
    """Faults off, the tenant reseeded (which empties the request log), the CA trusted;
    returns exchangelib's adapter class, to put back after the test."""
    client.faults.clear()
    client.reset(_seed(request))
    return client.trust()


def _release(client, previous):
    from exchangelib.protocol import BaseProtocol, close_connections
    try:
        client.faults.clear()
    finally:
        BaseProtocol.HTTP_ADAPTER_CLS = previous
        close_connections()  # exchangelib caches protocols (and their sessions) per endpoint


@pytest.fixture
def ews_sandbox(ews_sandbox_server, request):
    """The session's sandbox, freshly seeded for this test, as a SandboxClient."""
    client = SandboxClient.of(ews_sandbox_server)
    previous = _prepare(client, request)
    yield client
    _release(client, previous)


@pytest.fixture
def ews_fresh_sandbox(tmp_path, request):
    """A sandbox for this test alone (its own database and CA), as a SandboxClient."""
    from . import Sandbox
    with Sandbox(db_path=tmp_path / "ews-sandbox.db", seed=_seed(request)) as sandbox:
        client = SandboxClient.of(sandbox)
        previous = client.trust()
        yield client
        _release(client, previous)


@pytest.fixture
def ews_account(ews_sandbox, request):
    """An exchangelib Account on the sandbox (Basic auth, FailFast, the CA trusted)."""
    marker = request.node.get_closest_marker("ews_user")
    return ews_sandbox.account(marker.args[0] if marker else request.config.getini("ews_user"))


@pytest.fixture
def ews_requests(ews_sandbox):
    """The sandbox's request log (empty when the test starts)."""
    return ews_sandbox.requests


@pytest.fixture
def ews_faults(ews_sandbox):
    """Fault injection; every fault is removed after the test."""
    return ews_sandbox.faults


@pytest.fixture
def ews_deliver(ews_sandbox):
    """deliver(mailbox, subject, body, sender=..., received=..., folder=..., is_read=..., attachments=...,
    mime=...): a message from outside, delivered through the sandbox (inbox rules run)."""
    return ews_sandbox.deliver


@pytest.fixture
def ews_redirect(ews_sandbox):
    """For the whole test, any exchangelib Account the code under test builds reaches the sandbox."""
    with redirect_exchangelib(ews_sandbox) as client:
        yield client


@pytest.fixture
def ews_replay(request):
    """ews_replay(directory): from then on, exchangelib's requests are answered from the
    recordings in `directory` (relative to the test file) with no network; unmatched
    requests fail. Needs ews_sandbox.replay."""
    stack = ExitStack()

    def replay(directory):
        try:
            from .replay import replaying  # imported only by tests that replay
        except ImportError as e:
            pytest.fail(f"ews_replay needs ews_sandbox.replay, which did not import: {e}", pytrace=False)
        path = Path(directory)
        if not path.is_absolute() and (request.path.parent / path).exists():
            path = request.path.parent / path
        return stack.enter_context(replaying(os.fspath(path)))

    with stack:
        yield replay
