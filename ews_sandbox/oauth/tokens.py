"""What the authority issues, shaped as Entra ID issues it: v1.0 access tokens for
Exchange (app-only ones carry `roles`, delegated ones `scp` and the user), v2.0 id
tokens and `client_info` (msal builds its accounts from them), and refresh tokens."""
import base64
import json
import math
import secrets
import time
import uuid

import jwt

from .errors import invalid_grant

ID_TOKEN_LIFETIME = 3600
REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600


def _b64url_json(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _opaque(length=24):
    return secrets.token_urlsafe(length)


class TokenIssuer:
    def __init__(self, key, tenant_id):
        self.key = key
        self.tenant_id = tenant_id
        self.sts_issuer = f"https://sts.windows.net/{tenant_id}/"  # `iss` of Entra ID's v1.0 access tokens

    # ---- stable ids, as a directory keeps them ----
    def object_id(self, name):
        return str(uuid.uuid5(uuid.UUID(self.tenant_id), name.casefold()))

    def user_id(self, user):
        return self.object_id(user["email"])

    def service_principal_id(self, app):
        return self.object_id(f"service-principal:{app.client_id}")

    # ---- access tokens ----
    def _base_claims(self, app, audience, lifetime):
        now = time.time()
        # exp rounds up: a token never ends before the expires_in its answer promised
        return {"aud": audience, "iss": self.sts_issuer, "iat": int(now), "nbf": int(now),
                "exp": math.ceil(now + lifetime),
                "aio": _opaque(), "app_displayname": app.name, "appid": app.client_id,
                "appidacr": "0" if app.is_public else "1", "rh": _opaque(), "tid": self.tenant_id,
                "uti": _opaque(16), "ver": "1.0"}

    def app_access_token(self, app, audience, roles, lifetime):
        claims = self._base_claims(app, audience, lifetime)
        principal = self.service_principal_id(app)
        claims.update(idp=self.sts_issuer, oid=principal, sub=principal)
        if roles:  # an app granted nothing on the resource still gets a token, without `roles`
            claims["roles"] = list(roles)
        return self.key.sign(claims)

    def user_access_token(self, app, user, audience, scopes, lifetime, amr=("pwd",)):
        claims = self._base_claims(app, audience, lifetime)
        given, _, family = user["name"].partition(" ")
        claims.update(acct=0, acr="1", amr=list(amr), family_name=family, given_name=given, ipaddr="127.0.0.1",
                      name=user["name"], oid=self.user_id(user), scp=" ".join(scopes),
                      sub=self.object_id(f"{app.client_id}:{user['email']}"), unique_name=user["email"],
                      upn=user["email"])
        return self.key.sign(claims)

    # ---- what msal keeps beside the access token ----
    def id_token(self, app, user, issuer, nonce=None):
        now = int(time.time())
        claims = {"aud": app.client_id, "iss": issuer, "iat": now, "nbf": now, "exp": now + ID_TOKEN_LIFETIME,
                  "name": user["name"], "oid": self.user_id(user), "preferred_username": user["email"],
                  "rh": _opaque(), "sub": self.object_id(f"{app.client_id}:{user['email']}"),
                  "tid": self.tenant_id, "uti": _opaque(16), "ver": "2.0"}
        if nonce:
            claims["nonce"] = nonce
        return self.key.sign(claims)

    def client_info(self, user):
        return _b64url_json({"uid": self.user_id(user), "utid": self.tenant_id})

    # ---- refresh tokens: opaque to clients, readable by any process on this database ----
    def refresh_token(self, app, user, scope, amr):
        now = int(time.time())
        return self.key.sign({"token_use": "refresh", "appid": app.client_id, "upn": user["email"],
                              "oid": self.user_id(user), "scope": scope, "amr": list(amr), "tid": self.tenant_id,
                              "iat": now, "exp": now + REFRESH_TOKEN_LIFETIME, "jti": _opaque(16)})

    def read_refresh_token(self, token):
        try:
            claims = self.key.verify(token)
        except jwt.InvalidTokenError:
            raise invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
        if claims.get("token_use") != "refresh":
            raise invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
        if claims["exp"] <= time.time():
            raise invalid_grant(700082, "The refresh token has expired due to inactivity. The token was issued on "
                                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(claims['iat']))} and was inactive "
                                "for 90.00:00:00.")
        return claims
