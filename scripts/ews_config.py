"""The one helper every script shares: settings from .env, credentials for each auth
mode, the exchangelib Account, TLS and proxies, redacted debug logging, and errors
turned into one line and an exit code (0 done, 1 server or network refused, 2 usage
or configuration).

A script reads top to bottom like this:

    parser = ews_cli.parser("List the newest messages")   # ews_cli.py: the command-line plumbing
    parser.add_argument("--limit", type=int, default=10)
    args = ews_cli.parse_args(parser)
    with ews_config.connect(args) as ews:
        account = ews.account()
        ...

It holds no mail, calendar or other domain logic (a test checks): copy it with any script.

Nothing here imports exchangelib at import time, so `--help` stays instant.
"""
import contextlib
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

BUNDLE = Path(__file__).resolve().parent.parent
MODES = ("sandbox", "basic", "ntlm", "oauth-app", "oauth-delegated", "msal-interactive", "msal-device-code")
SETUP_SCRIPT = {
    "basic": "setup_basic_auth.py", "ntlm": "setup_basic_auth.py",
    "oauth-app": "setup_oauth_client_credentials.py", "oauth-delegated": "setup_oauth_delegated_msal.py",
    "msal-interactive": "setup_oauth_delegated_msal.py", "msal-device-code": "setup_oauth_delegated_msal.py",
}
DEFAULT_SANDBOX_DB = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "ews-sandbox" / "sandbox.db"
DEFAULT_TOKEN_CACHE = Path.home() / ".cache" / "ews-skill" / "msal-token-cache.json"
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"


class ConfigError(Exception):
    """A missing or invalid setting or argument: exit 2."""


class ServerError(Exception):
    """The server or the network refused: exit 1."""


# ---- arguments and settings ---------------------------------------------------------


def load_settings(env_file=None):
    """EWS_* settings from the environment, filled from a .env file (the environment wins)."""
    from dotenv import load_dotenv
    if env_file and not Path(env_file).is_file():
        raise ConfigError(f"--env-file {env_file}: no such file")
    path = Path(env_file or Path.cwd() / ".env")
    try:
        load_dotenv(path, override=False)
    except UnicodeDecodeError:
        raise ConfigError(f"{env_file or '.env'} is not UTF-8 text; save it as UTF-8")
    if path.is_file() and path.stat().st_mode & 0o077 and path not in _WARNED:  # it holds passwords and secrets
        _WARNED.add(path)
        print(f"ews: warning: {path} can be read by other users (mode {path.stat().st_mode & 0o777:o}); "
              f"chmod 600 {path}", file=sys.stderr)
    local_zone()  # a bad EWS_TIMEZONE is named before anything connects
    mode = (os.environ.get("EWS_AUTH") or "sandbox").strip().lower()
    if mode not in MODES:
        raise ConfigError(f"EWS_AUTH={mode!r} is not a mode; choose one of {', '.join(MODES)}")
    return Settings(mode)


_WARNED = set()


def local_zone():
    """EWS_TIMEZONE (an IANA name), else None for the machine's zone: dates given without a zone
    are read in it, and tables show times in it."""
    from zoneinfo import ZoneInfo
    name = (os.environ.get("EWS_TIMEZONE") or "").strip()
    try:
        return ZoneInfo(name) if name else None
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ConfigError(f"EWS_TIMEZONE={name!r} is not an IANA time zone such as Europe/Paris")


class Settings:
    """Typed access to EWS_* variables; a bad value names its variable."""

    def __init__(self, mode):
        self.mode = mode

    def get(self, name, default=None):
        value = os.environ.get(name)
        return value.strip() if value and value.strip() else default

    def require(self, name, hint):
        value = self.get(name)
        if value is None:
            raise ConfigError(f"{name} is not set; {hint} (EWS_AUTH={self.mode}, see .env.template)")
        return value

    def integer(self, name, default, minimum=0):
        value = self.get(name)
        try:
            number = default if value is None else int(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} must be a whole number")
        if number is not None and number < minimum:
            raise ConfigError(f"{name}={value!r} must be {minimum} or more")
        return number

    def flag(self, name):
        value = (self.get(name) or "").lower()
        if value not in ("", "0", "1", "true", "false", "yes", "no"):
            raise ConfigError(f"{name}={value!r} must be true or false")
        return value in ("1", "true", "yes")


# ---- the connection ------------------------------------------------------------------

@contextlib.contextmanager
def connect(args):
    """Load settings, set up transport and logging, yield a Connection; map failures to exit codes."""
    connection = None
    try:
        settings = load_settings(getattr(args, "env_file", None))
        setup_logging(settings, getattr(args, "debug", False))
        with Connection(settings) as connection:
            yield connection
    except BaseException as error:  # noqa: B902 - every failure leaves through one exit path
        exit_for(error, getattr(args, "debug", False), connection)


class Connection:
    def __init__(self, settings):
        self.settings = settings
        self.sandbox = None
        self.endpoint = None     # where EWS requests go, once known (for diagnosing failures)
        self.credentials_made = []
        self.ca_bundle = settings.get("EWS_CA_BUNDLE")
        self.budget = RetryBudget(settings.integer("EWS_RETRY_MAX_WAIT", 60))
        global _budget
        _budget = self.budget

    def __enter__(self):
        from exchangelib.protocol import BaseProtocol
        if self.settings.get("EWS_RECORD") or self.settings.get("EWS_REPLAY"):
            recorder()(self.settings)
        if self.settings.mode == "sandbox" and not self.settings.get("EWS_SANDBOX_URL"):
            self._start_sandbox()
        self.ca_bundle = configure_tls(self.ca_bundle, self.settings.flag("EWS_INSECURE_TLS"), self.budget)
        BaseProtocol.TIMEOUT = self.settings.integer("EWS_TIMEOUT", 120, minimum=1)  # seconds to wait for an answer
        return self

    def __exit__(self, *exc):
        if self.sandbox is not None:
            self.sandbox.stop()

    def _start_sandbox(self):
        sys.path.insert(0, str(BUNDLE))
        from ews_sandbox import Sandbox
        import sqlite3
        db = Path(self.settings.get("EWS_SANDBOX_DB") or DEFAULT_SANDBOX_DB).expanduser()
        try:
            if not db.exists():  # it will hold passwords and tokens: 0600 (SQLite's own files follow it)
                db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
            self.sandbox = Sandbox(db_path=db, seed="demo").start()
        except (sqlite3.DatabaseError, OSError) as error:
            raise ConfigError(f"EWS_SANDBOX_DB={db} cannot hold the sandbox's state ({error}); "
                              "point it at a new or sandbox .db file")
        self.ca_bundle = self.sandbox.ca_bundle
        print(f"ews: using the local EWS sandbox (state in {db}); set EWS_AUTH to use a real server",
              file=sys.stderr)

    @property
    def email(self):
        if self.settings.mode == "sandbox":
            email = self.settings.get("EWS_EMAIL") or self._sandbox_users()[0]["email"]
        else:
            email = self.settings.require("EWS_EMAIL", "set it to the mailbox to open")
        if not ADDRESS.fullmatch(email):
            raise ConfigError(f"EWS_EMAIL={email!r} is not an email address (expected name@example.com)")
        return email

    def _sandbox_users(self):
        if self.sandbox is not None:
            return self.sandbox.users
        return [{"email": "alice@contoso.example", "password": "demo-password"}]

    def account(self, email=None, auth_type=None):
        """An exchangelib Account on `email` (default EWS_EMAIL). `auth_type` names another
        mode to sign in with; against the sandbox any mode works (the setup scripts use it)."""
        from exchangelib import DELEGATE, IMPERSONATION, Account
        mode = self._mode(auth_type)
        email = email or self.email
        config = self.configuration(email, mode)
        access_type = self.settings.get("EWS_ACCESS_TYPE") or (IMPERSONATION if mode == "oauth-app" else DELEGATE)
        if access_type not in (DELEGATE, IMPERSONATION):
            raise ConfigError(f"EWS_ACCESS_TYPE={access_type!r} must be delegate or impersonation")
        # Without an endpoint, autodiscover finds it (and caches the answer); the Configuration still
        # brings the auth type, version, retry policy and connections, which exchangelib then applies.
        kwargs = {"config": config, "autodiscover": self.endpoint is None}
        timezone = self.settings.get("EWS_TIMEZONE")
        if timezone:
            kwargs["default_timezone"] = _timezone(timezone)
        return Account(email, access_type=access_type, **kwargs)

    def _mode(self, auth_type):
        mode = auth_type or self.settings.mode
        if mode not in MODES:
            raise ConfigError(f"unknown auth mode {mode!r}; choose one of {', '.join(MODES)}")
        if self.settings.mode != "sandbox" and mode != self.settings.mode:
            raise ConfigError(f"EWS_AUTH={self.settings.mode}: this needs {mode}; run {SETUP_SCRIPT.get(mode)}")
        return mode

    def configuration(self, email, mode):
        """The Configuration: the endpoint when known (else autodiscover finds it), and the settings."""
        from exchangelib import BASIC, NTLM, Configuration
        endpoint, server = self._endpoint()
        if endpoint or server:
            self.endpoint = endpoint or f"https://{server}/EWS/Exchange.asmx"
        credentials = self.credentials(email, mode)
        return Configuration(credentials=credentials, service_endpoint=endpoint, server=server,
                             auth_type={"basic": BASIC, "ntlm": NTLM, "sandbox": BASIC}.get(mode),
                             version=self._version(), retry_policy=retry_policy(self.budget, credentials),
                             max_connections=self.settings.integer("EWS_MAX_CONNECTIONS", None, minimum=1))

    def _endpoint(self):
        if self.settings.mode == "sandbox":
            return self.settings.get("EWS_SANDBOX_URL") or self.sandbox.ews_url, None
        endpoint, server = self.settings.get("EWS_SERVICE_ENDPOINT"), self.settings.get("EWS_SERVER")
        if endpoint and server:
            raise ConfigError("set EWS_SERVER or EWS_SERVICE_ENDPOINT, not both")
        if self.settings.mode.startswith(("oauth", "msal")) and not (endpoint or server):
            server = "outlook.office365.com"  # Exchange Online; autodiscover is not needed there
        return endpoint, server

    def _version(self):
        from exchangelib import Build, Version
        value = self.settings.get("EWS_VERSION")
        if value is None and self.sandbox is not None:  # known already: skip exchangelib's version probe
            from ews_sandbox.wire.soap import SERVER_VERSION
            value = ".".join(SERVER_VERSION[k] for k in ("MajorVersion", "MinorVersion", "MajorBuildNumber",
                                                         "MinorBuildNumber"))
        if value is None:
            return None
        try:
            return Version(build=Build(*(int(part) for part in value.split("."))))
        except (TypeError, ValueError):
            raise ConfigError(f"EWS_VERSION={value!r} must be a build number such as 15.1.2507.6")

    def credentials(self, email, mode):
        made = self._credentials(email, mode)
        self.credentials_made.append((mode, made))
        return made

    def _credentials(self, email, mode):
        from exchangelib import Credentials
        if mode in ("sandbox", "basic", "ntlm") and self.settings.mode == "sandbox":
            users = {u["email"].lower(): u["password"] for u in self._sandbox_users()}
            password = self.settings.get("EWS_PASSWORD") or users.get(email.lower())
            if password is None:
                raise ConfigError(f"EWS_EMAIL={email} is not a sandbox user; choose one of {', '.join(users)}")
            return Credentials(email, password)
        if mode in ("basic", "ntlm"):
            return Credentials(self.settings.get("EWS_USERNAME") or email,
                               self.settings.require("EWS_PASSWORD", "set the password of EWS_USERNAME"))
        return oauth_credentials(self, email, mode)

    # ---- OAuth settings: the configured tenant, or the sandbox's own authority ----
    @property
    def authority_host(self):
        if self.sandbox is not None:
            return self.sandbox.authority_url
        return (self.settings.get("EWS_AUTHORITY_HOST") or PUBLIC_AUTHORITY).rstrip("/")

    def oauth_app(self, mode):
        """(tenant id, client id, client secret or None) for an OAuth mode."""
        if self.sandbox is not None:
            kind = "confidential" if mode == "oauth-app" else "public"
            app = next(a for a in self.sandbox.apps if a["kind"] == kind)
            return app["tenant_id"], app["client_id"], app["client_secret"]
        tenant = self.settings.require("EWS_TENANT_ID", "set the directory (tenant) id of your Entra ID")
        client_id = self.settings.require("EWS_CLIENT_ID", "set the application (client) id of the app registration")
        secret = self.settings.get("EWS_CLIENT_SECRET")
        if mode == "oauth-app" and secret is None:
            self.settings.require("EWS_CLIENT_SECRET", "app-only sign-in needs the app's client secret")
        return tenant, client_id, secret

    def user_password(self, email):
        if self.sandbox is not None:
            return email, next(u["password"] for u in self._sandbox_users() if u["email"].lower() == email.lower())
        return (self.settings.get("EWS_USERNAME") or email,
                self.settings.require("EWS_PASSWORD", "the password grant needs the user's password"))

    # ---- the sandbox plays the user in the interactive sign-ins ----
    def sandbox_approve_device_code(self, user_code, email):
        import requests
        answer = requests.post(f"{self.sandbox.base_url}/_sandbox/device-codes/approve", verify=self.ca_bundle,
                               json={"user_code": user_code, "email": email},
                               headers={"X-Admin-Token": self.sandbox.admin_token}, timeout=30)
        answer.raise_for_status()
        print(f"ews: the sandbox approved the code as {email}", file=sys.stderr)

    def sandbox_browser(self, email):
        """Stands in for the browser: signs in on the sandbox's page, then hands the
        answer to msal's listener on localhost, as the page's form would."""
        import threading
        password = self.user_password(email)[1]

        def browse(auth_uri):
            session = self.oauth_session()
            session.get(auth_uri, timeout=30)
            page = session.post(auth_uri, data={"login": email, "passwd": password}, timeout=30).text
            action = re.search(r'action="([^"]+)"', page).group(1).replace("&amp;", "&")
            session.post(action, data=dict(re.findall(r'name="(\w+)" value="([^"]*)"', page)), timeout=30)

        return lambda auth_uri: threading.Thread(target=browse, args=(auth_uri,), daemon=True).start()

    def oauth_session(self):
        """A requests session for msal that trusts EWS_CA_BUNDLE (or the sandbox's CA);
        REQUESTS_CA_BUNDLE in the environment would otherwise win over it."""
        import requests
        session = requests.Session()
        if self.ca_bundle:
            session.verify, session.trust_env = self.ca_bundle, False
            session.proxies = requests.utils.get_environ_proxies(self.authority_host)
        return session


def recorder():
    """EWS_RECORD / EWS_REPLAY (tests): ews_record.py, loaded only then, so this file copies alone."""
    import importlib
    try:
        return importlib.import_module("ews_record").install
    except ModuleNotFoundError:
        raise ConfigError("EWS_RECORD and EWS_REPLAY need ews_record.py beside ews_config.py")


class RetryBudget:
    """The seconds a whole run may spend waiting before retries (EWS_RETRY_MAX_WAIT; 0: never retry).
    exchangelib checks its max_wait against each wait alone, so a server asking again and again
    for short waits would be retried for ever; here all waits of a run together stay within it."""

    def __init__(self, max_wait):
        self.max_wait, self.waited = max_wait, 0.0

    def take(self, seconds):
        """Reserve `seconds` of waiting; False when the budget cannot pay for them."""
        if self.waited + seconds > self.max_wait:
            return False
        self.waited += seconds
        return True


def retry_policy(budget, credentials=None):
    """FailFast for a budget of 0; else FaultTolerance within the budget, except that an HTTP 401
    stops at once (FaultTolerance retries a 401 as if it were throttling, so a wrong password would
    end a minute later as 'throttled') and that a lost answer is never sent again blindly. Either
    way a 401 saying the OAuth token expired (on its way: clocks differ) gets a new token."""
    from exchangelib import FailFast, FaultTolerance
    from exchangelib.errors import ErrorTimeoutExpired, RateLimitError, UnauthorizedError
    from oauthlib.oauth2 import TokenExpiredError

    def renew_if_expired(response):
        if response.status_code == 401 and hasattr(credentials, "client") and \
                "expired" in response.headers.get("x-ms-diagnostics", "").lower():
            credentials.client.populate_token_attributes({"expires_at": 1})  # expired for the client too
            if getattr(credentials, "renews_itself", False):
                credentials.refresh(None)  # msal's: a new token now
            else:
                credentials.access_token = None  # the next session fetches a new one
            raise TokenExpiredError()  # exchangelib renews the session and sends the request again

    class RenewingFailFast(FailFast):
        def raise_response_errors(self, response):
            renew_if_expired(response)
            return super().raise_response_errors(response)

    if budget.max_wait <= 0:
        return RenewingFailFast()

    class RetryUnlessRefused(FaultTolerance):
        def raise_response_errors(self, response):
            renew_if_expired(response)
            if response.status_code == 401:
                raise UnauthorizedError(f"Invalid credentials for {response.url}")
            return super().raise_response_errors(response)

        def back_off(self, seconds):
            lost = sys.exc_info()[1]
            if isinstance(lost, ErrorTimeoutExpired):
                # exchangelib resends a request whose answer was lost when it has several connections:
                # the server may have acted on it. Reads are resent by the HTTP adapter (configure_tls),
                # writes by the scripts, after they checked what was done.
                raise lost
            seconds = self.DEFAULT_BACKOFF if seconds is None else seconds
            if not budget.take(seconds):
                raise RateLimitError(f"gave up after waiting {budget.waited:.0f} s in all", wait=seconds)
            super().back_off(seconds)

    return RetryUnlessRefused(max_wait=budget.max_wait)


# EWS operations that change nothing: when their answer is lost, asking again is safe.
READ_OPERATIONS = frozenset({
    "ConvertId", "GetFolder", "FindFolder", "GetItem", "FindItem", "GetAttachment", "ResolveNames", "ExpandDL",
    "FindPeople", "GetPersona", "GetUserOofSettings", "GetInboxRules", "GetServerTimeZones", "GetUserAvailability",
    "GetRoomLists", "GetRooms", "GetDelegate", "GetUserSettings", "GetSearchableMailboxes", "GetEvents",
    "SyncFolderItems", "SyncFolderHierarchy"})
SOAP_OPERATION = re.compile(rb"<(?:\w+:)?Body>\s*<(?:\w+:)?(\w+)")


def safe_to_repeat(body):
    """True for a request that changes nothing when sent twice: an EWS read, or a token request."""
    if isinstance(body, str):
        body = body.encode()
    operation = SOAP_OPERATION.search(body or b"")
    return operation is None or operation.group(1).decode() in READ_OPERATIONS


def _retrying(adapter_class, budget):
    """An HTTP adapter that sends a read again when its connection dropped or its answer timed out
    (exchangelib does not, with one connection), within the run's retry budget."""
    import requests

    class RetryReads(adapter_class):
        def send(self, request, **kwargs):
            wait = 0.5
            while True:
                try:
                    return super().send(request, **kwargs)
                except (requests.ConnectionError, requests.Timeout) as error:
                    if isinstance(error, requests.exceptions.SSLError) or not safe_to_repeat(request.body) \
                            or not budget.take(wait):
                        raise
                    time.sleep(wait)
                    wait *= 2

    return RetryReads


# ---- OAuth: app-only, password grant, msal sign-ins ------------------------------------

def _at_authority(credentials_class, host, resource):
    """exchangelib hard-codes login.microsoftonline.com and outlook.office365.com: point
    the token URL at EWS_AUTHORITY_HOST (national clouds, the sandbox) and the scope at
    the EWS resource in use."""

    class AtAuthority(credentials_class):
        @property
        def token_url(self):
            return f"{host}/{self.tenant_id or 'organizations'}/oauth2/v2.0/token"

        @property
        def scope(self):
            return [scope.replace("https://outlook.office365.com", resource) for scope in super().scope]

        def session_params(self):
            # Without exchangelib's automatic refresh: it uses a refresh_token grant, and client
            # credentials and the password grant have no refresh token (AADSTS900144, issue 1345).
            return {"token": self.access_token}

        def refresh(self, session):
            # The token expired: forget it, and exchangelib's next session fetches a new one with
            # these credentials' own grant (without this, a public client spins on the old one).
            self.access_token = None

        def on_token_auto_refreshed(self, access_token):
            super().on_token_auto_refreshed(expire_early(access_token))
            self.client.populate_token_attributes(access_token)  # the session checks expiry through it

    return AtAuthority


def expire_early(token):
    """Count a token expired a quarter of its life early (5 minutes at most), as msal does:
    exchangelib would otherwise send it until its last second, and it would expire on the way."""
    if token.get("expires_in") is None:
        return token
    lifetime = max(float(token["expires_in"]), 0.0)
    token["expires_at"] = time.time() + lifetime - min(300.0, lifetime / 4)
    return token


def _resource(connection):
    """The EWS resource tokens are for: the EWS host (EWS_SERVER, or EWS_SERVICE_ENDPOINT's host:
    another cloud's outlook.office365.us, a hybrid on-premises server), else outlook.office365.com;
    EWS_TOKEN_RESOURCE when the resource differs from the host."""
    from urllib.parse import urlsplit
    if connection.sandbox is not None:
        return "https://outlook.office365.com"
    explicit = connection.settings.get("EWS_TOKEN_RESOURCE")
    if explicit:
        return explicit.rstrip("/")
    endpoint = connection.settings.get("EWS_SERVICE_ENDPOINT")
    host = connection.settings.get("EWS_SERVER") or (endpoint and urlsplit(endpoint).hostname)
    return f"https://{host or 'outlook.office365.com'}"


def oauth_credentials(connection, email, mode):
    from exchangelib import Identity, OAuth2Credentials, OAuth2LegacyCredentials
    tenant, client_id, secret = connection.oauth_app(mode)
    host, resource = connection.authority_host, _resource(connection)
    if mode == "oauth-app":
        return _at_authority(OAuth2Credentials, host, resource)(
            client_id=client_id, client_secret=secret, tenant_id=tenant, identity=Identity(primary_smtp_address=email))
    if mode == "oauth-delegated":
        username, password = connection.user_password(email)
        return _at_authority(OAuth2LegacyCredentials, host, resource)(
            username=username, password=password, client_id=client_id, client_secret=secret, tenant_id=tenant)
    return msal_credentials(connection, email, mode, tenant, client_id, host, resource)


def msal_credentials(connection, email, mode, tenant, client_id, host, resource):
    """Sign in once with msal (browser or device code), keep msal's token cache in a 0600
    file, sign in silently afterwards, and give exchangelib credentials whose refresh()
    asks msal (without it, an expired token would make exchangelib spin)."""
    import msal
    from exchangelib import OAuth2AuthorizationCodeCredentials
    scopes = [f"{resource}/EWS.AccessAsUser.All"]
    cache_file = Path(connection.settings.get("EWS_TOKEN_CACHE") or DEFAULT_TOKEN_CACHE).expanduser()
    cache = msal.SerializableTokenCache()
    if cache_file.exists():
        cache.deserialize(cache_file.read_text())
    app = msal.PublicClientApplication(client_id, authority=f"{host}/{tenant}", token_cache=cache,
                                       http_client=connection.oauth_session(),
                                       instance_discovery=host == PUBLIC_AUTHORITY)

    user = connection.settings.get("EWS_USERNAME") or email  # who signs in; EWS_EMAIL may be another's mailbox

    def token():
        known = [a for a in app.get_accounts() if a["username"].lower() == user.lower()]
        result = app.acquire_token_silent(scopes, account=known[0]) if known else None
        if result and int(result.get("expires_in", 0)) < 30:  # msal hands out a cached token to its last second
            result = app.acquire_token_silent(scopes, account=known[0], force_refresh=True)
        if not result:
            result = _sign_in(connection, app, scopes, user, mode)
        if "access_token" not in result:
            raise ServerError(f"sign-in failed: {result.get('error')}: {result.get('error_description', '')[:300]}")
        _save_cache(cache, cache_file)
        return expire_early({"access_token": result["access_token"], "token_type": "Bearer",
                             "expires_in": int(result.get("expires_in", 3600))})

    class RefreshedByMsal(_at_authority(OAuth2AuthorizationCodeCredentials, host, resource)):
        renews_itself = True

        def refresh(self, session):
            self.access_token = token()

    return RefreshedByMsal(tenant_id=tenant, access_token=token())


def _sign_in(connection, app, scopes, email, mode):
    """The one interactive step, as `email` (the sign-in name). Against the sandbox, the script plays the user."""
    if mode == "msal-device-code":
        flow = app.initiate_device_flow(scopes=scopes)
        if "user_code" not in flow:
            raise ServerError(f"device code refused: {flow.get('error_description', flow)}")
        print(flow["message"], file=sys.stderr)
        if connection.sandbox is not None:
            connection.sandbox_approve_device_code(flow["user_code"], email)
        return app.acquire_token_by_device_flow(flow)
    callback = connection.sandbox_browser(email) if connection.sandbox is not None else None
    return app.acquire_token_interactive(scopes, login_hint=email, timeout=300,
                                         **({"auth_uri_callback": callback} if callback else {}))


def _save_cache(cache, path):
    if not cache.has_state_changed:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(cache.serialize())
    os.chmod(path, 0o600)  # also when the file existed with looser rights


# ---- transport, logging, errors ------------------------------------------------------

def configure_tls(ca_bundle, insecure, budget):
    """exchangelib takes TLS settings only through its HTTP adapter class. Returns the CA file to
    trust elsewhere (msal): EWS_CA_BUNDLE's CA added to the public roots, so that a private CA for
    the EWS host does not shut out the public sign-in service (hybrid modern auth)."""
    import requests.adapters
    from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter
    if insecure:
        print("ews: WARNING: EWS_INSECURE_TLS is on, server certificates are NOT checked", file=sys.stderr)
        BaseProtocol.HTTP_ADAPTER_CLS = _retrying(NoVerifyHTTPAdapter, budget)
        return ca_bundle
    if not ca_bundle:
        BaseProtocol.HTTP_ADAPTER_CLS = _retrying(requests.adapters.HTTPAdapter, budget)
        return None
    if not Path(ca_bundle).is_file():
        raise ConfigError(f"EWS_CA_BUNDLE={ca_bundle}: no such file")
    if b"-----BEGIN CERTIFICATE-----" not in Path(ca_bundle).read_bytes()[:1_000_000]:
        raise ConfigError(f"EWS_CA_BUNDLE={ca_bundle} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    trusted = with_public_roots(ca_bundle)

    class TrustCABundle(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn, url, verify, cert):
            return super().cert_verify(conn, url, trusted, cert)

        def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
            # requests >= 2.32.3 picks the connection pool by `verify`: pin it too
            return super().get_connection_with_tls_context(request, trusted, proxies=proxies, cert=cert)

    BaseProtocol.HTTP_ADAPTER_CLS = _retrying(TrustCABundle, budget)
    return trusted


def with_public_roots(ca_bundle):
    """A PEM file (private, removed at exit) holding the public roots requests trusts (certifi) and
    the CA of `ca_bundle`."""
    import atexit
    import shutil
    import tempfile
    import certifi
    folder = tempfile.mkdtemp(prefix="ews-ca-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    combined = Path(folder) / "trusted.pem"
    combined.write_bytes(Path(certifi.where()).read_bytes().rstrip() + b"\n" + Path(ca_bundle).read_bytes())
    return str(combined)


SECRET_PATTERNS = [
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer|ntlm|negotiate)\s+[^'\"\s,}]+"), r"\1\2 [redacted]"),
    (re.compile(r"(?i)((?:client_secret|password|access_token|refresh_token|id_token|client_info|code)['\"]?\s*[:=]\s*['\"]?)[^'\"&\s,}]+"),
     r"\1[redacted]"),
]


class RedactSecrets(logging.Filter):
    """Removes credentials from log records, whatever logger wrote them."""

    def __init__(self, literals):
        super().__init__()
        self.literals = secret_forms(literals)

    def filter(self, record):
        record.msg, record.args = redact(record.getMessage(), self.literals), None
        return True


def secret_forms(literals):
    """Each secret as written, URL-encoded (form bodies, query strings), JSON-escaped and as Python
    shows it in a logged dict (repr), longest first."""
    from urllib.parse import quote, quote_plus
    forms = {form for value in literals if value and len(value) >= 4
             for form in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1], repr(value)[1:-1])}
    return sorted(forms, key=len, reverse=True)


def redact(text, literals):
    """The known secrets first, whole: a pattern stops at a space, a comma or a brace, and would
    otherwise leave the rest of a password behind. Then whatever looks like a credential."""
    for literal in literals:
        text = text.replace(literal, "[redacted]")
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def setup_logging(settings, debug):
    if not (debug or settings.flag("EWS_DEBUG")):
        # exchangelib warns on every throttling back-off; without --debug the one line at the end says it
        logging.getLogger("exchangelib").addHandler(logging.NullHandler())
        logging.getLogger("exchangelib").propagate = False
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets(secrets_set()))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)


def exit_for(error, debug, connection=None):
    """Leave with one line and the exit code the error deserves."""
    if isinstance(error, (SystemExit, BrokenPipeError)):  # a broken pipe: our reader left (ews_cli.run)
        raise error
    if isinstance(error, KeyboardInterrupt):
        print("ews: interrupted", file=sys.stderr)
        sys.exit(130)
    code, message = classify(error, connection)
    literals = secret_forms(secrets_set())
    if debug:
        import traceback
        print(redact("".join(traceback.format_exception(error)), literals), file=sys.stderr, end="")
    print(f"ews: {redact(message, literals)}", file=sys.stderr)
    sys.exit(code)


def secrets_set():
    """The secrets the settings hold, whatever their mode."""
    return [os.environ.get(name) for name in ("EWS_PASSWORD", "EWS_CLIENT_SECRET")]


def classify(error, connection=None):
    """(exit code, one line saying what failed and what to try)."""
    if isinstance(error, ConfigError):
        return 2, str(error)
    if isinstance(error, ServerError):
        return 1, str(error)
    return 1, explain(error, connection)


def explain(error, connection):
    """Known server and network failures, each with the fix users need."""
    import requests
    from exchangelib import errors
    from oauthlib.oauth2 import OAuth2Error
    text = str(error)
    if text.startswith("No valid version headers") and error.__context__ is not None:
        return explain(error.__context__, connection)  # exchangelib's version probe wraps the first failure
    if isinstance(error, errors.UnauthorizedError):
        return _explain_refused_sign_in(connection)
    if type(error).__name__ == "BrowserInteractionTimeoutError":  # msal's, after 5 minutes
        return "the sign-in was not completed in the browser in time; run again and finish it there"
    if isinstance(error, OAuth2Error):
        return f"the sign-in authority refused: {error.error}: {(error.description or '').splitlines()[0][:200]}"
    if isinstance(error, (errors.ErrorInvalidExchangeImpersonationHeaderData, errors.ErrorImpersonateUserDenied)):
        return _explain_refused_impersonation(connection)
    if isinstance(error, errors.AutoDiscoverFailed):
        return f"autodiscover found no EWS endpoint ({text[:150]}); set EWS_SERVER or EWS_SERVICE_ENDPOINT"
    if isinstance(error, requests.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return ("the server's TLS certificate is not trusted; set EWS_CA_BUNDLE to your CA's PEM file "
                "(EWS_INSECURE_TLS=true only for a throwaway test)")
    if "403" in text and isinstance(error, errors.TransportError):
        return ("HTTP 403: EWS is blocked for this organisation or app. Exchange Online: the tenant needs "
                "EwsEnabled=true and your app id in EwsAllowedAppIDs (EWS ends there on 1 April 2027); "
                "on-premises: check EwsEnabled and the EwsApplicationAccessPolicy allow list")
    if isinstance(error, errors.ErrorAccessDenied):
        return f"ErrorAccessDenied: {text} (the signed-in user has no access to that mailbox)"
    if isinstance(error, errors.ErrorNonExistentMailbox):
        return f"ErrorNonExistentMailbox: {text} (no mailbox has that address: check EWS_EMAIL or the address given)"
    if isinstance(error, (errors.RateLimitError, errors.ErrorServerBusy)):
        return f"the server is throttling ({text[:150]}); raise EWS_RETRY_MAX_WAIT or send smaller batches"
    if isinstance(error, (requests.exceptions.ConnectionError, errors.ErrorTimeoutExpired)):
        return f"could not reach the server ({text.splitlines()[0][:150]}); check the address, HTTPS_PROXY and network"
    if isinstance(error, errors.EWSError):
        return f"{error.__class__.__name__}: {text[:300]}"
    raise error  # a bug, not an expected failure: keep the traceback


def _explain_refused_impersonation(connection):
    """App-only tokens (Exchange Online) need full_access_as_app; an on-premises account the role."""
    mode = connection.credentials_made[-1][0] if connection and connection.credentials_made else "oauth-app"
    if mode == "oauth-app":
        return ("impersonation refused: app-only tokens act only by impersonating a mailbox; keep "
                "EWS_ACCESS_TYPE=impersonation (the oauth-app default), name it in EWS_EMAIL, and give the app "
                "full_access_as_app with admin consent")
    return (f"impersonation refused (EWS_AUTH={mode}): the account needs Exchange's ApplicationImpersonation role "
            "(an admin runs New-ManagementRoleAssignment -Role ApplicationImpersonation -User ACCOUNT), "
            "or open the mailbox as a delegate: EWS_ACCESS_TYPE=delegate")


def _explain_refused_sign_in(connection):
    """A 401: tell a wrong password from a server that takes no passwords, and a token
    without Exchange permissions (an app registered with Graph's) from a bad secret."""
    mode, credentials = connection.credentials_made[-1] if connection and connection.credentials_made else ("?", None)
    if mode in ("basic", "ntlm", "sandbox") and not _offers_passwords(connection):
        return ("the server accepts OAuth only, as Exchange Online does (it refuses Basic and NTLM): set EWS_AUTH to "
                "oauth-app, msal-interactive or msal-device-code (see references/auth.md)")
    claims = _token_claims(credentials)
    if claims is not None:
        granted = set(claims.get("roles", [])) | set((claims.get("scp") or "").split())
        if not granted & {"full_access_as_app", "EWS.AccessAsUser.All"} or "outlook" not in str(claims.get("aud")):
            return ("the token carries no Exchange permission: in the app registration add full_access_as_app "
                    "(app-only, with admin consent) or EWS.AccessAsUser.All (delegated) from 'Office 365 Exchange "
                    "Online', not from Microsoft Graph")
    return f"the server refused the credentials (EWS_AUTH={mode}): check the user name and password or the app's secret"


def _offers_passwords(connection):
    """Ask the endpoint which schemes it offers, as exchangelib does: an unauthenticated POST."""
    import requests
    if connection is None or connection.endpoint is None:
        return True
    try:
        answer = requests.post(connection.endpoint, data=b"", timeout=10, verify=connection.ca_bundle or True)
    except requests.RequestException:
        return True
    offered = answer.headers.get("WWW-Authenticate", "").lower()
    return answer.status_code != 401 or "basic" in offered or "ntlm" in offered or "negotiate" in offered


def _token_claims(credentials):
    """The claims of the access token the credentials hold (read, not verified)."""
    import base64
    token = getattr(credentials, "access_token", None) or {}
    try:
        payload = token["access_token"].split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _timezone(name):
    from exchangelib import EWSTimeZone
    try:
        return EWSTimeZone(name)
    except Exception:
        raise ConfigError(f"EWS_TIMEZONE={name!r} is not an IANA time zone such as Europe/Paris")


ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_budget = RetryBudget(0)  # the run's, once connect() has read EWS_RETRY_MAX_WAIT


def retry_budget():
    """The run's RetryBudget: what a write whose answer was lost may still spend re-checking."""
    return _budget


