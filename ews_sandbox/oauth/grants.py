"""Grants a user gives away from the token endpoint, waiting there to be redeemed:
authorization codes (valid 10 minutes, once) and device codes (15 minutes, approved
or declined by a user on the verification page or through the admin API).

They live in this process: redeem a code at the server that issued it."""
import secrets
import threading
import time
from dataclasses import dataclass

from .errors import OAuthError, invalid_grant

USER_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    scope: str
    email: str
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    expires: float
    redeemed: bool = False


class AuthorizationCodes:
    LIFETIME = 600

    def __init__(self):
        self._codes = {}
        self._lock = threading.Lock()

    def issue(self, **fields):
        code = "1.A" + secrets.token_urlsafe(48)
        with self._lock:
            self._forget_expired()
            self._codes[code] = AuthorizationCode(expires=time.time() + self.LIFETIME, **fields)
        return code

    def redeem(self, code):
        with self._lock:
            grant = self._codes.get(code)
            if grant is None:
                raise invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
            if grant.redeemed:
                raise invalid_grant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new "
                                           "valid code or use an existing refresh token.")
            if grant.expires <= time.time():
                raise invalid_grant(70008, "The provided authorization code or refresh token has expired due to "
                                           "inactivity. Send a new interactive authorization request for this user "
                                           "and resource.")
            grant.redeemed = True
            return grant

    def clear(self):
        with self._lock:
            self._codes.clear()

    def _forget_expired(self):
        now = time.time()
        for code in [code for code, grant in self._codes.items() if grant.expires + self.LIFETIME < now]:
            del self._codes[code]


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires: float
    status: str = "pending"  # then 'approved', 'declined' or 'redeemed'
    email: str | None = None


class DeviceCodeError(Exception):
    """An approval that cannot be: the code is unknown, expired or already answered."""


class DeviceCodes:
    LIFETIME = 900
    INTERVAL = 5  # seconds between polls, as Entra ID asks

    def __init__(self):
        self._by_device_code = {}
        self._lock = threading.Lock()

    def start(self, client_id, scope):
        grant = DeviceCode(secrets.token_urlsafe(48), "".join(secrets.choice(USER_CODE_LETTERS) for _ in range(9)),
                           client_id, scope, time.time() + self.LIFETIME)
        with self._lock:
            now = time.time()
            for stale in [g for g in self._by_device_code.values() if g.expires + self.LIFETIME < now]:
                del self._by_device_code[stale.device_code]
            self._by_device_code[grant.device_code] = grant
        return grant

    def answer(self, user_code, email=None):
        """Approve (with the user's email) or decline (without) the code a user typed."""
        with self._lock:
            grant = self._find_user_code(user_code)
            if grant.status != "pending":
                raise DeviceCodeError(f"the code {grant.user_code} was already {grant.status}")
            grant.status, grant.email = ("approved", email) if email else ("declined", None)
            return grant

    def poll(self, device_code, client_id):
        with self._lock:
            grant = self._by_device_code.get(device_code)
            if grant is None or grant.client_id.casefold() != (client_id or "").casefold():
                raise invalid_grant(70000, "Provided grant is invalid or malformed.")
            if grant.expires <= time.time():
                raise OAuthError("expired_token", 70020, "The provided value for the input parameter 'device_code' is "
                                                         "not valid. This device code has expired.")
            if grant.status == "pending":
                raise OAuthError("authorization_pending", 70016,
                                 "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
            if grant.status == "declined":
                raise OAuthError("authorization_declined", 70000, "The end user denied the authorization request.")
            if grant.status == "redeemed":
                raise invalid_grant(70000, "Provided grant is invalid or malformed.")
            grant.status = "redeemed"
            return grant

    def pending(self):
        now = time.time()
        with self._lock:
            return [{"user_code": g.user_code, "client_id": g.client_id, "expires_in": int(g.expires - now)}
                    for g in self._by_device_code.values() if g.status == "pending" and g.expires > now]

    def clear(self):
        with self._lock:
            self._by_device_code.clear()

    def _find_user_code(self, user_code):
        wanted = (user_code or "").replace("-", "").replace(" ", "").upper()
        for grant in self._by_device_code.values():
            if grant.user_code == wanted:
                if grant.expires <= time.time():
                    raise DeviceCodeError(f"the code {grant.user_code} has expired")
                return grant
        raise DeviceCodeError(f"no device code {user_code!r} is waiting")
