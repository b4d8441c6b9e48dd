"""A running sandbox: database, certificates, auth, faults and the HTTP server, in
this process. The command line and the test fixtures both start it from here.

    with Sandbox(db_path="state.db", seed="demo") as sandbox:
        sandbox.ews_url, sandbox.ca_bundle, sandbox.admin_token, sandbox.users, sandbox.autodiscover_url
        sandbox.authority_url, sandbox.tenant_id, sandbox.apps   # OAuth (TLS only)

Sandbox(resource="https://outlook.office365.us") plays a national cloud: EWS is known by
that resource, tokens are issued for it and EWS accepts no other audience.
"""
import os
import secrets
import threading
from pathlib import Path

from . import connections
from . import seed as seeds
from .autodiscover import AUTODISCOVER_PATH
from .auth import CHALLENGES, Authenticator
from .faults import FaultPlan
from .model import directory
from .model.db import Database
from .oauth import registry, scopes
from .ops import load_operations
from .requestlog import RequestLog
from .server import EWS_PATH, Application, HTTPServer
from .tls import Certificates
from .wire.errors import SOAPFault

DEFAULT_DB = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "ews-sandbox" / "sandbox.db"


class Sandbox:
    def __init__(self, db_path=DEFAULT_DB, host="127.0.0.1", port=0, seed="demo", tls=True, faults=(),
                 reset=False, token_lifetime=3600, resource=scopes.EXCHANGE):
        self.db_path = Path(db_path)
        self.resource = scopes.check_resource(resource)  # ValueError for what is no https://host[:port]
        self.host, self.port, self.tls = host, port, tls
        self.database = Database(self.db_path)
        self.state_folder = self.db_path.parent / f"{self.db_path.name}.d"
        self.state_folder.mkdir(parents=True, exist_ok=True)
        with self.database.transaction() as conn:  # one write lock: two processes on a new file seed once
            if reset or conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0:
                seeds.apply(self.database, seed)
            if not registry.apps(conn):  # a database made before the app registrations
                seeds.register_apps(conn)
        self.admin_token = secrets.token_urlsafe(24)
        self.faults = FaultPlan(faults)
        self.request_log = RequestLog()
        self.operations = load_operations()
        self.extra_routes = {}  # path prefix -> WSGI app
        self.response_hook = None  # called with every SOAP answer (the tests' schema check)
        self.authenticator = Authenticator(self.database, self.state_folder)
        self.certificates = Certificates(self.state_folder / "tls") if tls else None
        self.authority = self._start_authority(token_lifetime) if tls else None  # msal insists on HTTPS
        self.fallback_route = self.authority.app if self.authority else None  # paths nobody else claims
        self._server = None
        self._thread = None

    # ---- life cycle ----
    def start(self):
        self._server = HTTPServer((self.host, self.port), Application(self), numthreads=connections.WORKERS,
                                  max=64, server_name="ews-sandbox", timeout=connections.KEEP_ALIVE)
        connections.configure(self._server, self.certificates)
        self._server.prepare()
        self.port = self._server.bind_addr[1]
        self._thread = threading.Thread(target=self._server.serve, name="ews-sandbox", daemon=True)
        self._thread.start()
        return self

    def _start_authority(self, token_lifetime):
        from .oauth.authority import Authority  # PyJWT loads only when it is needed
        authority = Authority(self, token_lifetime, self.resource)
        self.authenticator.bearer = authority.authenticate
        return authority

    def stop(self):
        if self._server is not None:
            self._server.stop()
            self._thread.join(timeout=10)
            self._server = None
        self.authenticator.close()
        if self.certificates:
            self.certificates.remove_server_files()
        self.database.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- what clients need ----
    @property
    def base_url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ews_url(self):
        return self.base_url + EWS_PATH

    @property
    def autodiscover_url(self):
        """SOAP Autodiscover (GetUserSettings), as Exchange serves it beside EWS."""
        return self.base_url + AUTODISCOVER_PATH

    @property
    def ca_bundle(self):
        return str(self.certificates.ca_bundle) if self.tls else None

    @property
    def authority_url(self):
        """The OAuth authority's base: msal's authority is f"{authority_url}/{tenant_id}"."""
        return self.base_url if self.authority else None

    @property
    def tenant_id(self):
        with self.database.reading() as conn:
            return registry.tenant_id(conn)

    @property
    def apps(self):
        """The app registrations: tenant_id, client_id, client_secret (None for a public client), kind, ..."""
        with self.database.reading() as conn:
            return [app.ready_line_entry(registry.tenant_id(conn)) for app in registry.apps(conn)]

    @property
    def users(self):
        with self.database.reading() as conn:
            return [{"email": row["email"], "password": row["password"], "name": row["name"]}
                    for row in directory.users(conn) if row["password"] is not None]  # who can sign in

    def ready_line(self):
        """The JSON object `serve --json` prints once connections are accepted."""
        return {"ews_url": self.ews_url, "ca_bundle": self.ca_bundle, "admin_token": self.admin_token,
                "users": [{"email": u["email"], "password": u["password"]} for u in self.users],
                "db": str(self.db_path), "authority": self.authority_url, "apps": self.apps,
                "autodiscover_url": self.autodiscover_url, "resource": self.resource}

    # ---- hooks for the server ----
    def reset(self, seed):
        seeds.apply(self.database, seed)
        self.authenticator.refresh_users()
        self.request_log.clear()
        if self.authority:
            self.authority.reset()

    def challenges(self):
        bearer = [self.authority.challenge()] if self.authority else []  # Exchange Online names it first
        return bearer + list(CHALLENGES)

    def authenticate(self, environ, connection):
        with self.database.reading() as conn:
            return self.authenticator.authenticate(conn, environ.get("HTTP_AUTHORIZATION"), connection)

    def acting_as(self, conn, caller, address):
        """(actor, mailbox id) of a request, given the address of its ExchangeImpersonation
        header (or None). An app token acts only through impersonation; a user acts as
        themselves, and may not impersonate anyone (Exchange's answer without the
        ApplicationImpersonation role)."""
        if caller["kind"] == "app":
            return self.authority.acting_as(conn, address)
        if address is not None and "token" in caller.keys():  # Exchange Online refuses it, even for oneself
            raise SOAPFault("ErrorInvalidExchangeImpersonationHeaderData",
                            "ExchangeImpersonation SOAP header must not exist for this type of OAuth token.",
                            fault_code="a:ErrorInvalidExchangeImpersonationHeaderData")
        if address is None or address.casefold() == caller["email"].casefold():
            return caller, caller["id"]
        raise SOAPFault("ErrorImpersonateUserDenied",
                        "The account does not have permission to impersonate the requested user.",
                        fault_code="a:ErrorImpersonateUserDenied")
