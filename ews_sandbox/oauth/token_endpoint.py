"""The endpoints clients post forms to: the token endpoint (`/{tenant}/oauth2/v2.0/token`,
one handler per grant type) and the device-code endpoint. Answers and refusals are
shaped as Entra ID's, AADSTS codes included."""
import base64
import hashlib
import hmac
from urllib.parse import unquote

from . import registry, scopes
from .errors import OAuthError, invalid_grant, missing_parameter, unknown_app
from .grants import DeviceCodes
from .web import json_answer

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def token(authority, call):
    grant_type = call.form.get("grant_type")
    handler = GRANTS.get(grant_type)
    call.operation = f"token:{'device_code' if grant_type == DEVICE_CODE_GRANT else grant_type}" if handler else "token"
    if not grant_type:
        raise missing_parameter("grant_type")
    if handler is None:
        raise OAuthError("unsupported_grant_type", 70003, f"The app requested an unsupported grant type "
                                                          f"'{grant_type[:60]}'.")
    return handler(authority, call)


def wrong_method(authority, call):
    raise OAuthError("invalid_request", 900561, f"The endpoint only accepts POST requests. Received a "
                                                f"{call.method} request.")


def devicecode(authority, call):
    client_id = _required(call, "client_id")
    scope = _required(call, "scope")
    with authority.database.reading() as conn:
        app = registry.find_app(conn, client_id)
    if app is None:
        raise unknown_app(client_id, authority.tenant_id)
    scopes.parse(scope, authority.tenant_id, authority.resources)  # an unknown resource: refused now, not at a poll
    grant = authority.device_codes.start(app.client_id, scope)
    page = f"{call.base_url}/devicelogin"
    return json_answer({
        "user_code": grant.user_code, "device_code": grant.device_code, "verification_uri": page,
        "expires_in": DeviceCodes.LIFETIME, "interval": DeviceCodes.INTERVAL,
        "message": f"To sign in, use a web browser to open the page {page} and enter the code {grant.user_code} "
                   "to authenticate.",
    })


# ---- grants ----
def _client_credentials(authority, call):
    scope = _required(call, "scope")
    app = _authenticated_client(authority, call)
    call.user = f"app:{app.client_id}"
    request = scopes.parse(scope, authority.tenant_id, authority.resources)
    roles = request.granted_roles(app)
    lifetime = authority.lifetime_for(call.operation)
    return json_answer({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                        "access_token": authority.issuer.app_access_token(app, request.audience, roles, lifetime)})


def _password(authority, call):
    username, password = _required(call, "username"), _required(call, "password")
    scope = _required(call, "scope")
    app = _authenticated_client(authority, call)
    user = authority.user(username)
    if user is None:
        raise invalid_grant(50034, f"The user account {{EUII Hidden}} does not exist in the {authority.tenant_id} "
                                   "directory. To sign into this application, the account must be added to the "
                                   "directory.")
    if not hmac.compare_digest((user["password"] or "").encode(), password.encode()):
        raise invalid_grant(50126, "Error validating credentials due to invalid username or password.")
    return _user_tokens(authority, call, app, user, scope, amr=("pwd",))


def _authorization_code(authority, call):
    code = _required(call, "code")
    app = _authenticated_client(authority, call)
    grant = authority.codes.redeem(code)
    if grant.client_id.casefold() != app.client_id.casefold():
        raise invalid_grant(70000, "Provided grant is invalid or malformed.")
    redirect_uri = call.form.get("redirect_uri")
    if not redirect_uri:  # exchangelib's own code redemption sends none: Entra ID refuses it so
        raise invalid_grant(700009, "Reply address must be provided when presenting an authorization code requested "
                                    "with an explicit reply address.")
    if redirect_uri != grant.redirect_uri:
        raise invalid_grant(50011, f"The redirect URI '{redirect_uri}' specified in the request does not match the "
                                   "redirect URI of the authorization request.")
    if grant.code_challenge and not _pkce_matches(grant, call.form.get("code_verifier")):
        raise invalid_grant(50148, "The code_verifier does not match the code_challenge supplied in the authorization "
                                   "request for PKCE.")
    user = authority.user(grant.email)
    if user is None:
        raise invalid_grant(50034, "The user account {EUII Hidden} does not exist in the directory.")
    return _user_tokens(authority, call, app, user, call.form.get("scope") or grant.scope, amr=("pwd",),
                        nonce=grant.nonce)


def _refresh_token(authority, call):
    refresh_token = call.form.get("refresh_token")
    if not refresh_token:  # what exchangelib sends when a client-credentials token expires (issue 1345)
        raise missing_parameter("refresh_token")
    app = _authenticated_client(authority, call)
    claims = authority.issuer.read_refresh_token(refresh_token)
    if claims["appid"].casefold() != app.client_id.casefold():
        raise invalid_grant(70000, "Provided grant is invalid or malformed.")
    user = authority.user(claims["upn"])
    if user is None:
        raise invalid_grant(50034, "The user account {EUII Hidden} does not exist in the directory.")
    scope = call.form.get("scope") or claims["scope"]
    return _user_tokens(authority, call, app, user, scope, amr=claims["amr"], refresh=True)


def _device_code(authority, call):
    device_code = _required(call, "device_code")
    app = _authenticated_client(authority, call)
    grant = authority.device_codes.poll(device_code, app.client_id)
    user = authority.user(grant.email)
    if user is None:
        raise invalid_grant(50034, "The user account {EUII Hidden} does not exist in the directory.")
    return _user_tokens(authority, call, app, user, grant.scope, amr=("pwd",))


GRANTS = {
    "client_credentials": _client_credentials, "password": _password, "authorization_code": _authorization_code,
    "refresh_token": _refresh_token, DEVICE_CODE_GRANT: _device_code,
}


# ---- shared steps ----
def _user_tokens(authority, call, app, user, scope, amr, nonce=None, refresh=False):
    """The answer to a delegated grant: access token, and as asked a refresh token, id token, client_info."""
    request = scopes.parse(scope, authority.tenant_id, authority.resources)
    granted = request.granted_scopes(app)
    call.user = user["email"]
    lifetime = authority.lifetime_for(call.operation)
    issuer = authority.issuer
    answer = {"token_type": "Bearer", "scope": request.response_scope(granted), "expires_in": lifetime,
              "ext_expires_in": lifetime,
              "access_token": issuer.user_access_token(app, user, request.audience, granted, lifetime, amr)}
    if refresh or "offline_access" in request.openid:  # a redeemed refresh token is replaced by a new one
        answer["refresh_token"] = issuer.refresh_token(app, user, scope, amr)
    if "openid" in request.openid:
        answer["id_token"] = issuer.id_token(app, user, f"{call.base_url}/{authority.tenant_id}/v2.0", nonce)
    if call.form.get("client_info") == "1":
        answer["client_info"] = issuer.client_info(user)
    return json_answer(answer)


def _authenticated_client(authority, call):
    """The calling app; a confidential one proves itself with its secret (form or Basic auth)."""
    client_id, secret = call.form.get("client_id"), call.form.get("client_secret")
    basic_id, basic_secret = _basic_credentials(call.header("Authorization"))
    client_id, secret = client_id or basic_id, secret or basic_secret
    if not client_id:
        raise missing_parameter("client_id")
    with authority.database.reading() as conn:
        app = registry.find_app(conn, client_id)
    if app is None:
        raise unknown_app(client_id, authority.tenant_id)
    if app.is_public and secret:
        raise OAuthError("invalid_client", 700025, "Client is public so neither 'client_assertion' nor "
                                                   "'client_secret' should be presented.", status=401)
    if not app.is_public and not secret:
        raise OAuthError("invalid_client", 7000218, "The request body must contain the following parameter: "
                                                    "'client_assertion' or 'client_secret'.", status=401)
    if not app.is_public and not hmac.compare_digest(secret.encode(), app.client_secret.encode()):
        raise OAuthError("invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in "
                                                    "the request is the client secret value, not the client secret "
                                                    f"ID, for a secret added to app '{app.client_id}'.", status=401)
    return app


def _basic_credentials(header):
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        client_id, _, secret = base64.b64decode(value).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return unquote(client_id), unquote(secret)


def _pkce_matches(grant, verifier):
    if not verifier:
        return False
    if (grant.code_challenge_method or "plain").upper() == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        verifier = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(verifier.encode(), grant.code_challenge.encode())


def _required(call, name):
    value = call.form.get(name)
    if not value:
        raise missing_parameter(name)
    return value
