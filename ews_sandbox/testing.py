"""What a test holds of a running sandbox (in this process or standalone): its admin API
(reset, request log, faults, directory, mail delivery) and exchangelib Accounts that trust
its CA; and `redirect_exchangelib`, which points code that builds its own Account at it.

    from ews_sandbox import Sandbox
    from ews_sandbox.testing import SandboxClient, redirect_exchangelib

    with Sandbox(db_path=tmp / "state.db", seed="empty") as sandbox:
        kit = SandboxClient.of(sandbox)            # or SandboxClient.from_ready_line(json line)
        kit.deliver("alice@contoso.example", sender="alerts@monitoring.example",
                    subject="disk full", received=timedelta(days=400))
        account = kit.account("alice@contoso.example")
        with redirect_exchangelib(kit):
            code_under_test()                      # its Account(...) reaches the sandbox
        kit.requests.operations()                  # ['FindItem', 'MoveItem', ...]

The pytest plugin (pytest_plugin.py) hands these out as fixtures.
"""
import base64
import functools
import inspect
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import requests

ADMIN_PATH = "/_sandbox"
EWS_PATH = "/EWS/Exchange.asmx"
DEFAULT_USER = "alice@contoso.example"


class SandboxClient:
    """A running sandbox seen by a test: `ews_url`, `ca_bundle`, the admin API, Accounts."""

    def __init__(self, ews_url, ca_bundle, admin_token, autodiscover_url=None):
        self.ews_url, self.ca_bundle, self.admin_token = ews_url, ca_bundle, admin_token
        self.base_url = ews_url[:-len(EWS_PATH)] if ews_url.endswith(EWS_PATH) else ews_url.rsplit("/EWS/", 1)[0]
        self.autodiscover_url = autodiscover_url
        self.session = requests.Session()
        self.session.trust_env = False  # a REQUESTS_CA_BUNDLE or proxy in the environment must not apply
        self.session.headers["X-Admin-Token"] = admin_token
        self.requests = RequestLogView(self)
        self.faults = FaultsView(self)

    @classmethod
    def of(cls, sandbox):
        """A Sandbox started in this process."""
        return cls(sandbox.ews_url, sandbox.ca_bundle, sandbox.admin_token, sandbox.autodiscover_url)

    @classmethod
    def from_ready_line(cls, ready):
        """A standalone sandbox: the JSON object `python -m ews_sandbox serve --json` prints."""
        return cls(ready["ews_url"], ready.get("ca_bundle"), ready["admin_token"], ready.get("autodiscover_url"))

    # ---- the admin API ----
    def call(self, method, path, body=None):
        """One admin call (`path` below /_sandbox/); raises AdminCallError with the sandbox's message."""
        response = self.session.request(method, f"{self.base_url}{ADMIN_PATH}/{path.lstrip('/')}", json=body,
                                        verify=self.ca_bundle or True, timeout=120)
        if response.status_code != 200:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise AdminCallError(f"{method} {ADMIN_PATH}/{path}: {response.status_code} {message}")
        return response.json()

    def reset(self, seed="demo"):
        """Wipe the tenant and seed it again ('demo': users, 36 messages, this week's meetings, alice's contacts; 'empty': users only)."""
        return self.call("POST", "reset", {"seed": seed})

    def users(self):
        """Users and rooms who can sign in, as {"email", "password", ...}."""
        return [entry for entry in self.call("GET", "users") if entry.get("password")]

    def password(self, email):
        for user in self.users():
            if user["email"].casefold() == email.casefold():
                return user["password"]
        raise KeyError(f"{email} is not a sandbox user who signs in; add it with add_user() first")

    def add_user(self, email, name, password="demo-password", locale=None):
        return self.call("POST", "users", {"email": email, "name": name, "password": password,
                                           **({"locale": locale} if locale else {})})

    def grant(self, owner, delegate):
        """Let `delegate` open `owner`'s mailbox (full access)."""
        return self.call("POST", "delegates", {"owner": owner, "delegate": delegate})

    def deliver(self, mailbox, subject=None, body=None, *, sender=None, to=None, cc=None, folder="inbox",
                received=None, sent=None, is_read=False, body_type=None, importance=None, categories=None,
                attachments=(), mime=None, message_id=None):
        """Deliver one message into `mailbox` as if it came from outside; returns
        {"mailbox", "folder", "item_id", "change_key", "subject", "received"} (item_id None
        when an inbox rule deleted it). `received` and `sent`: aware datetimes, ISO text, or a
        timedelta meaning that long ago. `attachments`: (name, bytes or str) pairs or dicts.
        `mime`: the raw message (bytes or str); fields given here win over its headers."""
        return self.call("POST", "messages", message_fields(
            mailbox, subject=subject, body=body, sender=sender, to=to, cc=cc, folder=folder, received=received,
            sent=sent, is_read=is_read, body_type=body_type, importance=importance, categories=categories,
            attachments=attachments, mime=mime, message_id=message_id))

    def deliver_many(self, messages):
        """Deliver several at once (one request, one transaction): each a dict of deliver()'s
        keyword arguments, with "mailbox"."""
        return self.call("POST", "messages", [message_fields(**message) for message in messages])

    # ---- exchangelib ----
    def trust(self):
        """Make exchangelib trust the sandbox's CA (its only TLS setting is a class attribute);
        returns the adapter class it replaced."""
        from exchangelib.protocol import BaseProtocol
        from .tls import trusting_adapter
        previous = BaseProtocol.HTTP_ADAPTER_CLS
        if self.ca_bundle:
            BaseProtocol.HTTP_ADAPTER_CLS = trusting_adapter(self.ca_bundle)
        return previous

    def configuration(self, email=DEFAULT_USER, password=None, **config):
        """An exchangelib Configuration for `email` on this sandbox: Basic auth, the sandbox's
        version (no probe request), FailFast; keyword arguments override."""
        from exchangelib import BASIC, Configuration, Credentials, FailFast
        settings = {"auth_type": BASIC, "version": sandbox_version(), "retry_policy": FailFast(), **config}
        credentials = settings.pop("credentials", None) or Credentials(email, password or self.password(email))
        return Configuration(credentials=credentials, service_endpoint=self.ews_url, **settings)

    def account(self, email=DEFAULT_USER, password=None, mailbox=None, access_type=None, **config):
        """An exchangelib Account of `email` (or of `mailbox`, opened by `email` as delegate)."""
        from exchangelib import DELEGATE, Account
        self.trust()
        return Account(mailbox or email, config=own_protocol(self.configuration(email, password, **config)),
                       autodiscover=False, access_type=access_type or DELEGATE)


class AdminCallError(RuntimeError):
    """The sandbox refused an admin call (the message is the sandbox's own)."""


class RequestLogView:
    """The request log: one entry per HTTP request ({"operation", "status", "user",
    "mailboxes", "request_bytes", "response_bytes", "ms", "time"}), oldest first."""

    def __init__(self, client):
        self._client = client

    def entries(self, operation=None):
        entries = self._client.call("GET", "requests")
        return [e for e in entries if operation is None or e["operation"] == operation]

    def operations(self):
        """The EWS operations requested, in order (None for what was no SOAP)."""
        return [entry["operation"] for entry in self.entries()]

    def count(self, operation=None):
        return len(self.entries(operation))

    def clear(self):
        self._client.call("DELETE", "requests")


class FaultsView:
    """Fault injection: add("server-busy:every=2,backoff_ms=100") or a dict spec; clear()."""

    def __init__(self, client):
        self._client = client

    def add(self, *specs):
        return self._client.call("POST", "faults", list(specs))

    def active(self):
        return self._client.call("GET", "faults")

    def clear(self):
        self._client.call("DELETE", "faults")


def own_protocol(config):
    """exchangelib shares one Protocol (sessions, retry policy, auth type) among the Accounts of
    an endpoint and credentials, whichever Configuration came first: forget the shared one, so
    an Account made with this `config` gets the retry policy and settings it asks for."""
    from exchangelib.protocol import Protocol
    try:
        del Protocol[config]  # only forgotten: Accounts that hold it keep working
    except KeyError:
        pass
    return config


def sandbox_version():
    """The exchangelib Version the sandbox answers with (giving it saves a probe request)."""
    from exchangelib import Build, Version
    from .wire.soap import SERVER_VERSION
    return Version(build=Build(*(int(SERVER_VERSION[key]) for key in (
        "MajorVersion", "MinorVersion", "MajorBuildNumber", "MinorBuildNumber"))))


def message_fields(mailbox, subject=None, body=None, *, sender=None, to=None, cc=None, folder="inbox", received=None,
                   sent=None, is_read=False, body_type=None, importance=None, categories=None, attachments=(),
                   mime=None, message_id=None):
    """deliver()'s arguments as the JSON body of POST /_sandbox/messages."""
    fields = {"mailbox": mailbox, "folder": folder, "subject": subject, "body": body, "from": sender, "to": to,
              "cc": cc, "received": _when(received), "sent": _when(sent), "is_read": is_read, "body_type": body_type,
              "importance": importance, "categories": categories, "message_id": message_id,
              "attachments": [_attachment(a) for a in attachments] or None}
    if isinstance(mime, bytes):
        fields["mime_base64"] = base64.b64encode(mime).decode("ascii")
    elif mime is not None:
        fields["mime"] = mime
    return {key: value for key, value in fields.items() if value is not None}


def _when(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, timedelta):
        value = datetime.now(timezone.utc) - value
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"a time must be an aware datetime, ISO text or a timedelta (that long ago), not {value!r}")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _attachment(attachment):
    if isinstance(attachment, dict):
        entry = dict(attachment)
        if isinstance(entry.get("content"), bytes):
            entry["content_base64"] = base64.b64encode(entry.pop("content")).decode("ascii")
        return entry
    name, content = attachment
    if isinstance(content, str):
        return {"name": name, "content": content}
    return {"name": name, "content_base64": base64.b64encode(content).decode("ascii")}


# ---- pointing code that builds its own Account at the sandbox --------------------------

_redirect_lock = threading.Lock()


@contextmanager
def redirect_exchangelib(target, sign_in_as=None):
    """Inside this block every exchangelib Account reaches the sandbox `target` (a
    SandboxClient or a Sandbox), whatever the code under test asked for: autodiscover, a
    server, an endpoint, OAuth or password credentials. It signs in with Basic auth as the
    account's own address (a sandbox user: add yours with `add_user`), or as `sign_in_as`
    (then the account is opened by delegation, which needs `grant`). The code's access type,
    version, retry policy and connection count are kept; OAuth credentials fetch no token.
    The sandbox's CA is trusted meanwhile; on leaving, exchangelib's adapter class and
    Account come back and its cached connections are closed. Code that makes a Protocol
    without an Account is not redirected."""
    from exchangelib import BASIC, NTLM, Account
    from exchangelib.credentials import Credentials
    from exchangelib.protocol import BaseProtocol, close_connections

    client = target if isinstance(target, SandboxClient) else SandboxClient.of(target)
    original_init = Account.__init__
    signature = inspect.signature(original_init)
    passwords = {}

    def password_of(email):
        if email.casefold() not in passwords:
            passwords.update({u["email"].casefold(): u["password"] for u in client.users()})
        if email.casefold() not in passwords:
            raise ValueError(f"redirect_exchangelib: {email} is not a sandbox user who signs in; add it first "
                             f"(SandboxClient.add_user, or POST /_sandbox/users) or pass sign_in_as=")
        return passwords[email.casefold()]

    @functools.wraps(original_init)
    def sandboxed_init(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        given = bound.arguments
        config = given["config"]
        address = given["primary_smtp_address"]
        signer = sign_in_as or address
        # the access type exchangelib would have chosen from what it was given
        access_type = given["access_type"] or ("delegate" if given["credentials"] else "impersonation")
        if sign_in_as:
            access_type = "delegate"
        kept = {}
        if config is not None:
            kept = {"version": config.version, "retry_policy": config.retry_policy,
                    "max_connections": config.max_connections}
            if config.auth_type in (BASIC, NTLM) and not _is_oauth(config.credentials):
                kept["auth_type"] = config.auth_type
        kept = {key: value for key, value in kept.items() if value is not None}
        sandbox_config = own_protocol(client.configuration(signer, credentials=Credentials(signer, password_of(signer)),
                                                           **kept))
        original_init(self, address, fullname=given["fullname"], access_type=access_type, autodiscover=False,
                      config=sandbox_config, locale=given["locale"], default_timezone=given["default_timezone"])

    with _redirect_lock:
        previous_adapter = client.trust()
        Account.__init__ = sandboxed_init
    try:
        yield client
    finally:
        with _redirect_lock:
            Account.__init__ = original_init
            BaseProtocol.HTTP_ADAPTER_CLS = previous_adapter
        close_connections()


def _is_oauth(credentials):
    from exchangelib.credentials import BaseOAuth2Credentials
    return isinstance(credentials, BaseOAuth2Credentials)
