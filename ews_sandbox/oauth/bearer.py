"""How Exchange Online judges the bearer token of an EWS request, in the order it checks:
a JWT at all, its signature, its audience (the names Exchange goes by in its cloud), its
lifetime, its tenant, then what it allows
(`roles` containing full_access_as_app for an app, `scp` containing EWS.AccessAsUser.All
for a user) and whether its user exists.

A refusal is HTTP 401 with `WWW-Authenticate: Bearer ..., error="invalid_token"` and an
`x-ms-diagnostics` header that says why, as Exchange Online sends them. (A token with
the right roles but no ExchangeImpersonation header passes here and is refused later, as
a SOAP fault: see Authority.acting_as.)"""
import time

import jwt

from ..model import directory
from .scopes import EXCHANGE, EXCHANGE_APP_ID, GLOBAL_EXCHANGE_NAMES, NATIONAL_EXCHANGE_NAMES, resource_names
APP_ROLE = "full_access_as_app"
DELEGATED_SCOPE = "EWS.AccessAsUser.All"


def challenge(authority_url, error=None):
    """The Bearer challenge of Exchange Online's 401 answers."""
    parts = [f'client_id="{EXCHANGE_APP_ID}"', 'trusted_issuers="00000001-0000-0000-c000-000000000000@*"',
             'token_types="app_asserted_user_v1 service_asserted_app_v1"',
             f'authorization_uri="{authority_url}/common/oauth2/authorize"']
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ", ".join(parts)


class Rejected(Exception):
    def __init__(self, number, reason, category):
        super().__init__(reason)
        self.diagnostics = f'{number};reason="{reason}";error_category="{category}"'


def caller(conn, key, tenant_id, token, resource=EXCHANGE):
    """The users row a delegated token acts for, or an app caller (a dict with kind 'app').
    `resource`: what this Exchange is known by (its cloud's resource)."""
    claims = _verified_claims(key, token)
    _check_audience(str(claims.get("aud", "")).rstrip("/"), resource.rstrip("/"))
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        raise Rejected(2000001, "The token has expired.", "invalid_token")
    if claims.get("tid") != tenant_id:
        raise Rejected(2000004, f"The tenant for tenant guid '{claims.get('tid')}' does not exist.", "invalid_tenant")
    if "scp" in claims:
        return _user(conn, claims)
    return _app(claims)


def _check_audience(audience, resource):
    """Exchange's two answers: an Exchange of another cloud (a token for outlook.office365.com
    at outlook.office365.us) gets the hostname message Microsoft shows for Exchange's OAuth
    (the page "Using hybrid Modern Authentication with Outlook for iOS and Android"); any other
    resource (a Graph token) gets the message Exchange Online sends, which names the claim,
    'aud', not its value."""
    if resource_names(resource).get(audience) == EXCHANGE:
        return
    if audience in GLOBAL_EXCHANGE_NAMES + NATIONAL_EXCHANGE_NAMES:
        raise Rejected(2000003, "The hostname component of the audience claim value is invalid. "
                       f"Expected '{resource}'. Actual '{audience}'.", "invalid_resource")
    raise Rejected(2000003, "The audience claim value is invalid 'aud'.", "invalid_resource")


def _verified_claims(key, token):
    try:
        jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Rejected(2000001, "OAuth token submitted with the request cannot be parsed.", "invalid_token")
    try:
        return key.verify(token)
    except jwt.InvalidTokenError:
        raise Rejected(2000000, "The token has an invalid signature.", "invalid_signature")


def _no_permissions():
    return Rejected(2000008, "The token contains no permissions, or permissions can not be understood.",
                    "invalid_grant")


def _user(conn, claims):
    if DELEGATED_SCOPE.casefold() not in claims["scp"].casefold().split():
        raise _no_permissions()
    user = directory.user_by_email(conn, claims.get("upn"))
    if user is None:
        raise Rejected(2000001, "The user specified by the user-context in the token does not exist.", "invalid_user")
    return {**dict(user), "token": "delegated"}  # a delegated token may not carry an impersonation header


def _app(claims):
    if APP_ROLE not in claims.get("roles", []):
        raise _no_permissions()
    return {"id": None, "kind": "app", "email": f"app:{claims['appid']}", "client_id": claims["appid"],
            "name": claims.get("app_displayname")}
