"""The sandbox's own Microsoft identity platform: the tenant's OpenID metadata and keys,
the token, authorization and device-code endpoints, and Exchange Online's judgement of
the bearer tokens it issued. Served over HTTPS only: msal refuses an http:// authority.

    authority = Authority(sandbox, token_lifetime=3600, resource="https://outlook.office365.com")
    authority.app            # WSGI app for /{tenant}/... and /devicelogin
    authority.authenticate   # EWS: bearer token -> the caller (a users row, or an app)
"""
from ..auth import AuthFailed
from ..model import directory
from ..wire.errors import SOAPFault
from . import admin_routes, bearer, registry, scopes
from .endpoints import AuthorityApp
from .grants import AuthorizationCodes, DeviceCodes
from .keys import SigningKey
from .tokens import TokenIssuer

admin_routes.register()


class Authority:
    def __init__(self, sandbox, token_lifetime=3600, resource=scopes.EXCHANGE):
        self.sandbox = sandbox
        self.database = sandbox.database
        self.token_lifetime = token_lifetime
        self.resource = resource  # what EWS is known by in this cloud: the `aud` of its tokens
        self.resources = scopes.resource_names(resource)  # every resource name this authority knows
        self.key = SigningKey(sandbox.state_folder / "oauth")
        with self.database.reading() as conn:
            self.tenant_id = registry.tenant_id(conn)
        self.issuer = TokenIssuer(self.key, self.tenant_id)
        self.codes = AuthorizationCodes()
        self.device_codes = DeviceCodes()
        self.app = AuthorityApp(self)

    @property
    def url(self):
        return self.sandbox.base_url

    def reset(self):
        self.codes.clear()
        self.device_codes.clear()

    # ---- the directory, as the endpoints see it ----
    def domains(self):
        with self.database.reading() as conn:
            return {row["email"].rpartition("@")[2].casefold() for row in directory.users(conn)}

    def knows_tenant(self, tenant):
        return tenant.casefold() in {self.tenant_id, "common", "organizations"} | self.domains()

    def find_app(self, client_id):
        with self.database.reading() as conn:
            return registry.find_app(conn, client_id)

    def user(self, login):
        with self.database.reading() as conn:
            return directory.user_by_email(conn, login)

    def apps(self):
        with self.database.reading() as conn:
            return [app.ready_line_entry(self.tenant_id) for app in registry.apps(conn)]

    # ---- issuing ----
    def lifetime_for(self, operation):
        """Seconds a token issued now lives: the configured lifetime, unless a token-expiry
        fault shortens it (and the answer's expires_in says so, as a real short lifetime would)."""
        shortened = self.sandbox.faults.triggered(operation, ("token-expiry",))
        return min([fault.lifetime for fault in shortened], default=self.token_lifetime)

    def log(self, operation, status, request_bytes, response_bytes, started, user):
        self.sandbox.request_log.add(operation, status, request_bytes, response_bytes, started, user=user)

    # ---- EWS: what Exchange Online does with the tokens ----
    def challenge(self, error=None):
        return bearer.challenge(self.url, error)

    def authenticate(self, conn, token):
        try:
            return bearer.caller(conn, self.key, self.tenant_id, token, self.resource)
        except bearer.Rejected as rejected:
            raise AuthFailed(self.challenge("invalid_token"), headers=[("x-ms-diagnostics", rejected.diagnostics)])

    def acting_as(self, conn, address):
        """(actor, mailbox id) for an app token: it acts only as the user it impersonates."""
        if not address:
            raise SOAPFault("ErrorInvalidExchangeImpersonationHeaderData",
                            "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
                            fault_code="a:ErrorInvalidExchangeImpersonationHeaderData")
        target = directory.user_by_email(conn, address)
        if target is None:
            raise SOAPFault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.",
                            fault_code="a:ErrorNonExistentMailbox")
        return target, target["id"]


