"""Fixtures: a running sandbox over real HTTPS, exchangelib accounts on it, the admin
API, and the schema check every answer of the sandbox goes through."""
import os
import sys
import threading
from pathlib import Path

import pytest
import requests

from ews_sandbox import Sandbox
from ews_sandbox.tls import trusting_adapter
from ews_sandbox.wire.ns import M

# The testing kit users load (ews_* fixtures); the project's own tests of it use it here too.
pytest_plugins = ["ews_sandbox.pytest_plugin"]

SCHEMA_DIR_VARIABLE = "EWS_SCHEMA_DIR"
SOAP_BODY = "{http://schemas.xmlsoap.org/soap/envelope/}Body"


# ---- schema conformance -------------------------------------------------------------

class SchemaCheck:
    """Validates the element inside every SOAP body the sandbox sends against
    messages.xsd; remembers the first invalid one for the test to fail on."""

    def __init__(self, schema_dir):
        import xmlschema  # compiling takes about a second: once per session
        self.schema = xmlschema.XMLSchema(str(Path(schema_dir) / "messages.xsd"), validation="lax")
        self.checked = 0
        self.failure = None
        self._lock = threading.Lock()

    def __call__(self, payload):
        from lxml import etree
        body = etree.fromstring(payload, etree.XMLParser(huge_tree=True)).find(SOAP_BODY)
        if body is None or len(body) == 0 or etree.QName(body[0]).namespace != M:
            return  # SOAP faults are outside messages.xsd
        errors = list(self.schema.iter_errors(etree.tostring(body[0])))
        with self._lock:
            self.checked += 1
            if errors and self.failure is None:
                self.failure = f"{etree.QName(body[0]).localname}: {errors[0].reason} at {errors[0].path}"


@pytest.fixture(scope="session")
def schema_check():
    folder = os.environ.get(SCHEMA_DIR_VARIABLE)
    if not folder or not (Path(folder) / "messages.xsd").exists():
        print(f"\nschema check skipped: set {SCHEMA_DIR_VARIABLE} to a folder with messages.xsd "
              "(an Exchange server publishes it at /EWS/messages.xsd)")
        return None
    return SchemaCheck(folder)


@pytest.fixture(autouse=True)
def _fail_on_invalid_answer(request, schema_check):
    yield
    if schema_check is not None and schema_check.failure:
        failure, schema_check.failure = schema_check.failure, None
        pytest.fail(f"the sandbox sent an answer that breaks messages.xsd: {failure}")


# Counts of this process (docs blocks, validated answers); under pytest-xdist each worker
# sends its own to the controller, which adds them up for the summary and the CI check.
TOTALS = {"docs_ran": 0, "docs_skipped": 0, "schema_checked": 0}


def _own_counts():
    docs = sys.modules.get("test_docs")
    check = getattr(pytest, "_ews_schema_check", None)
    return {"docs_ran": docs.COUNTS["ran"] if docs else 0, "docs_skipped": docs.COUNTS["skipped"] if docs else 0,
            "schema_checked": check.checked if check else 0}


def pytest_testnodedown(node, error):  # controller side of pytest-xdist
    for name, value in getattr(node, "workeroutput", {}).get("ews_counts", {}).items():
        TOTALS[name] += value


def _totals():
    return {name: TOTALS[name] + value for name, value in _own_counts().items()}


def pytest_terminal_summary(terminalreporter):
    totals = _totals()
    if totals["docs_ran"] or totals["docs_skipped"]:
        terminalreporter.write_line(f"docs: {totals['docs_ran']} python blocks ran, "
                                    f"{totals['docs_skipped']} skipped (no-run)")
    if os.environ.get(SCHEMA_DIR_VARIABLE):
        terminalreporter.write_line(f"schema check: {totals['schema_checked']} sandbox answers validated "
                                    "against messages.xsd")


def pytest_sessionstart(session):
    """Where the check is required (CI), a missing schema stops the run before it starts."""
    folder = os.environ.get(SCHEMA_DIR_VARIABLE)
    if os.environ.get("EWS_SCHEMA_REQUIRED") == "1" and not (folder and (Path(folder) / "messages.xsd").exists()):
        pytest.exit(f"{SCHEMA_DIR_VARIABLE}={folder!r} has no messages.xsd and the schema check is required", 3)


def pytest_sessionfinish(session, exitstatus):
    """Where the check is required (CI), a run in which it validated nothing fails."""
    worker = getattr(session.config, "workeroutput", None)
    if worker is not None:  # a pytest-xdist worker: report, the controller decides
        worker["ews_counts"] = _own_counts()
        return
    if os.environ.get("EWS_SCHEMA_REQUIRED") == "1" and _totals()["schema_checked"] == 0:
        print("\nschema check required but no sandbox answer was validated")
        session.exitstatus = 1


# ---- the sandbox --------------------------------------------------------------------

@pytest.fixture(scope="session")
def sandbox(tmp_path_factory, schema_check):
    with Sandbox(db_path=tmp_path_factory.mktemp("sandbox") / "state.db", seed="demo") as running:
        running.response_hook = schema_check
        pytest._ews_schema_check = schema_check
        _trust_sandbox_ca(running.ca_bundle)
        yield running


def _trust_sandbox_ca(ca_bundle):
    """exchangelib takes TLS settings only through its HTTP adapter class."""
    from exchangelib.protocol import BaseProtocol
    BaseProtocol.HTTP_ADAPTER_CLS = trusting_adapter(ca_bundle)


@pytest.fixture(autouse=True)
def _exchangelib_adapter_restored():
    """A test that runs the config helper in-process installs the scripts' retrying adapter
    class, a process-wide setting: left behind, it silently retried later tests' requests."""
    from exchangelib.protocol import BaseProtocol
    adapter = BaseProtocol.HTTP_ADAPTER_CLS
    yield
    BaseProtocol.HTTP_ADAPTER_CLS = adapter


class Admin:
    """The sandbox's admin API, as tests and people use it."""

    def __init__(self, sandbox):
        self.base = sandbox.base_url + "/_sandbox"
        self.ca_bundle = sandbox.ca_bundle
        self.session = requests.Session()
        self.session.headers["X-Admin-Token"] = sandbox.admin_token

    def call(self, method, path, body=None):
        # verify per request: a REQUESTS_CA_BUNDLE in the environment beats Session.verify
        response = self.session.request(method, f"{self.base}/{path}", json=body, verify=self.ca_bundle)
        response.raise_for_status()
        return response.json()

    def reset(self, seed="empty"):
        return self.call("POST", "reset", {"seed": seed})

    def requests(self):
        return self.call("GET", "requests")

    def clear_requests(self):
        return self.call("DELETE", "requests")

    def add_fault(self, spec):
        return self.call("POST", "faults", spec)

    def clear_faults(self):
        return self.call("DELETE", "faults")

    def grant(self, owner, delegate):
        return self.call("POST", "delegates", {"owner": owner, "delegate": delegate})


@pytest.fixture(scope="session")
def ews_sandbox_server(sandbox):
    """The plugin's fixtures (ews_sandbox, ews_account, ...) use the project's sandbox: one
    server a session, every answer schema-checked."""
    return sandbox


@pytest.fixture(scope="session")
def admin(sandbox):
    return Admin(sandbox)


@pytest.fixture
def clean(admin):
    """A freshly seeded empty tenant (users only), no faults, an empty request log."""
    admin.clear_faults()
    admin.reset("empty")
    yield admin
    admin.clear_faults()


ALICE, BOB, CAROL, DAVE = (f"{name}@contoso.example" for name in ("alice", "bob", "carol", "dave"))
PASSWORD = "demo-password"


@pytest.fixture(scope="session")
def connect(sandbox):
    """connect(email, password=..., auth=BASIC|NTLM, mailbox=other, retry=policy) -> Account."""
    from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, FailFast
    from exchangelib.protocol import close_connections

    def make(email=ALICE, password=PASSWORD, auth=BASIC, mailbox=None, retry=None, **config):
        # exchangelib caches one protocol per (endpoint, credentials), retry policy included:
        # start from scratch so each account gets the settings asked for here.
        close_connections()
        configuration = Configuration(credentials=Credentials(email, password), service_endpoint=sandbox.ews_url,
                                      auth_type=auth, retry_policy=retry or FailFast(), **config)
        return Account(mailbox or email, config=configuration, autodiscover=False, access_type=DELEGATE)

    return make


# A user project with its own pytest session (tests/test_pytest_plugin.py runs it): not part of this one.
collect_ignore = ["sample_project"]
