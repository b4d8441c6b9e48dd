"""Who is calling: Basic and NTLM as Exchange on-premises accepts them, and bearer
tokens when the OAuth authority runs (it sets `Authenticator.bearer`; without it they
are refused).

NTLM authenticates a connection, not a request (as IIS does): the handshake's state
and its result are kept per client connection, so a client pays the three legs once.
"""
import base64
import os
import tempfile
import threading
import weakref

import spnego

from .model import directory

_ENV_LOCK = threading.Lock()  # pyspnego reads its credential file from the environment
CHALLENGES = ("NTLM", 'Basic realm="ews-sandbox"')


class AuthFailed(Exception):
    """401: the credentials are wrong or the handshake must go on (`challenge`); `headers`
    go with the answer (a refused bearer token's x-ms-diagnostics)."""

    def __init__(self, challenge=None, headers=()):
        super().__init__("unauthorized")
        self.challenge = challenge
        self.headers = list(headers)


class Authenticator:
    def __init__(self, database, state_folder):
        self.database = database
        self._ntlm_file = os.path.join(state_folder, f"ntlm-users-{os.getpid()}-{id(self):x}")
        # Keyed by the server's connection object: gone when the connection is.
        self._pending = weakref.WeakKeyDictionary()        # NTLM server context mid-handshake
        self._authenticated = weakref.WeakKeyDictionary()  # user id of a finished handshake
        self._lock = threading.Lock()
        self.bearer = None  # (conn, token) -> caller, from the OAuth authority
        self.refresh_users()

    def refresh_users(self):
        """Write the NTLM credential file pyspnego checks handshakes against."""
        with self.database.reading() as conn:
            rows = directory.accounts(conn)
        lines = []
        for row in rows:
            local_part = row["email"].split("@")[0]
            lines += [f":{row['email']}:{row['password']}", f"SANDBOX:{local_part}:{row['password']}"]
        descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(self._ntlm_file))
        with os.fdopen(descriptor, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(temporary, self._ntlm_file)

    def close(self):
        try:
            os.unlink(self._ntlm_file)
        except FileNotFoundError:
            pass

    def authenticate(self, conn, header, connection):
        """The users row of the caller, or raise AuthFailed."""
        scheme, _, value = (header or "").partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            return self._basic(conn, value)
        if scheme in ("ntlm", "negotiate"):
            return self._ntlm(conn, scheme, value, connection)
        if scheme == "bearer" and self.bearer is not None:
            return self.bearer(conn, value.strip())
        with self._lock:
            user_id = self._authenticated.get(connection) if connection is not None else None
        if user_id is not None:
            user = directory.user_by_id(conn, user_id)
            if user is not None:
                return user
        raise AuthFailed()

    def _basic(self, conn, value):
        try:
            username, _, password = base64.b64decode(value).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AuthFailed()
        user = self._user_for_login(conn, username)
        if user is None or user["password"] != password:
            raise AuthFailed()
        return user

    def _user_for_login(self, conn, username):
        """Logins as Exchange takes them: UPN (alice@contoso), DOMAIN\\alice or alice."""
        username = username.strip()
        if "\\" in username:
            username = username.split("\\", 1)[1]
        user = directory.user_by_email(conn, username)
        if user is None and "@" not in username:
            user = conn.execute("SELECT * FROM users WHERE kind IN ('user', 'room') AND email LIKE ? ESCAPE '\\'",
                                (username.replace("%", "\\%").replace("_", "\\_") + "@%",)).fetchone()
        return user

    def _ntlm(self, conn, scheme, value, connection):
        try:
            token = base64.b64decode(value.strip(), validate=True)
        except ValueError:
            raise AuthFailed()
        if not token:
            raise AuthFailed()
        with self._lock:
            context = self._pending.pop(connection, None)
        with _ENV_LOCK:
            saved = os.environ.get("NTLM_USER_FILE")
            os.environ["NTLM_USER_FILE"] = self._ntlm_file
            try:
                if context is None:
                    context = spnego.server(protocol="ntlm")
                answer = context.step(token)
            except Exception:  # pyspnego's errors, and struct or index errors on a truncated token
                raise AuthFailed()
            finally:
                if saved is None:
                    os.environ.pop("NTLM_USER_FILE", None)
                else:
                    os.environ["NTLM_USER_FILE"] = saved
        if not context.complete:
            with self._lock:
                self._pending[connection] = context
            raise AuthFailed(f"{scheme.upper() if scheme == 'ntlm' else 'Negotiate'} {base64.b64encode(answer).decode()}")
        user = self._user_for_login(conn, context.client_principal or "")
        if user is None:
            raise AuthFailed()
        with self._lock:
            self._authenticated[connection] = user["id"]
        return user
