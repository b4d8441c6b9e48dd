"""Scopes as the Microsoft identity platform reads them: `{resource}/{permission}`, a bare
permission meaning Microsoft Graph, `{resource}/.default` meaning "what the app was
granted", and the OpenID scopes beside them. One token is for one resource.

Exchange goes by the resource of its cloud: `https://outlook.office365.com` (or
`https://outlook.office.com`) worldwide, `https://outlook.office365.us` in GCC High,
`https://partner.outlook.cn` in the cloud 21Vianet runs; an authority knows only its own
cloud's name (and the application id, the same everywhere)."""
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import OAuthError, not_consented

EXCHANGE = "https://outlook.office365.com"  # worldwide; also the key app permissions are kept under
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
GLOBAL_EXCHANGE_NAMES = ("https://outlook.office365.com", "https://outlook.office.com")
NATIONAL_EXCHANGE_NAMES = ("https://outlook.office365.us", "https://outlook-dod.office365.us",
                           "https://partner.outlook.cn")
GRAPH = "https://graph.microsoft.com"


def resource_names(exchange_resource=EXCHANGE):
    """Names a resource goes by (application id URIs and application ids), each mapped to the
    resource it names, for an authority whose Exchange is known as `exchange_resource`."""
    exchange_resource = exchange_resource.rstrip("/")
    exchange = GLOBAL_EXCHANGE_NAMES if exchange_resource in GLOBAL_EXCHANGE_NAMES else (exchange_resource,)
    return {**{name: EXCHANGE for name in exchange + (EXCHANGE_APP_ID,)},
            GRAPH: GRAPH, "00000003-0000-0000-c000-000000000000": GRAPH}


def check_resource(value):
    """An Exchange resource as `serve --resource` takes it: https://host[:port], nothing after.
    Returns it without a trailing slash; raises ValueError saying what is wrong."""
    parts = urlsplit(value or "")
    if parts.scheme != "https" or not parts.hostname or parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not a resource such as https://outlook.office365.us")
    return value.rstrip("/")


RESOURCES = resource_names()
OPENID_SCOPES = ("openid", "profile", "email", "offline_access")
DEFAULT = ".default"


@dataclass
class ScopeRequest:
    resource: str          # canonical resource URI
    audience: str          # the resource as the caller named it: the token's `aud`
    permissions: list      # permission names asked for on it ('.default' included)
    openid: list           # openid, profile, email, offline_access as asked for

    def granted_scopes(self, app):
        """Delegated permissions the token gets: those asked for, all consented for the tenant."""
        consented = {name.casefold(): name for name in app.scopes(self.resource)}
        if DEFAULT in self.permissions:
            granted = list(consented.values())
        else:
            missing = [name for name in self.permissions if name.casefold() not in consented]
            if missing:
                raise not_consented(app)
            granted = [consented[name.casefold()] for name in self.permissions]
        if not granted and self.permissions:
            raise not_consented(app)
        return granted

    def granted_roles(self, app):
        """Application permissions for client credentials, which must ask for '{resource}/.default'."""
        if self.permissions != [DEFAULT]:
            asked = " ".join(self.permissions)
            raise OAuthError("invalid_scope", 1002012,
                             f"The provided value for scope {asked} is not valid. Client credential flows must have a "
                             "scope value with /.default suffixed to the resource identifier (application ID URI).")
        return app.roles(self.resource)  # may be empty: Entra ID still issues the token

    def response_scope(self, granted):
        """The `scope` of a token answer: full permission URIs, then the OpenID scopes (not offline_access)."""
        return " ".join([f"{self.audience}/{name}" for name in granted]
                        + [name for name in self.openid if name != "offline_access"])


def parse(scope_string, tenant, resources=RESOURCES):
    """A ScopeRequest; `resources` maps the names of the resources this authority knows."""
    openid, by_resource = [], {}
    for scope in (scope_string or "").split():
        if scope.lower() in OPENID_SCOPES:
            openid.append(scope.lower())
            continue
        audience, _, permission = scope.rpartition("/") if "/" in scope else (GRAPH, "/", scope)
        if audience.rstrip("/") not in resources:
            raise OAuthError("invalid_resource", 500011,
                             f"The resource principal named {audience} was not found in the tenant named {tenant}. "
                             "This can happen if the application has not been installed by the administrator of the "
                             "tenant or consented to by any user in the tenant. You might have sent your "
                             "authentication request to the wrong tenant.")
        by_resource.setdefault(audience.rstrip("/"), []).append(permission)
    if len({resources[a] for a in by_resource}) > 1:
        raise OAuthError("invalid_scope", 28000,
                         "Provided value for the input parameter scope is not valid because it contains more than one "
                         f"resource. Scope {scope_string} is not valid.")
    if not by_resource:  # only OpenID scopes: Entra ID answers with a Microsoft Graph token
        return ScopeRequest(GRAPH, GRAPH, [], openid)
    audience, permissions = next(iter(by_resource.items()))
    return ScopeRequest(resources[audience], audience, permissions, openid)
