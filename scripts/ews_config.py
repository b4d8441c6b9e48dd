"""The one helper every script shares: settings from .env, credentials for each auth
mode, the exchangelib Account, TLS and proxies, redacted debug logging, and errors
turned into one line and an exit code (0 done, 1 server or network refused, 2 usage
or configuration).

A script reads top to bottom like this:

    parser = ews_config.parser("List the newest messages")
    parser.add_argument("--limit", type=int, default=10)
    args = parser.parse_args()
    with ews_config.connect(args) as ews:
        account = ews.account()
        ...

Nothing here imports exchangelib at import time, so `--help` stays instant.
"""
import argparse
import contextlib
import json
import logging
import os
import re
import sys
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
EWS_SCOPE = "https://outlook.office365.com/EWS.AccessAsUser.All"


class ConfigError(Exception):
    """A missing or invalid setting or argument: exit 2."""


class ServerError(Exception):
    """The server or the network refused: exit 1."""


# ---- arguments and settings ---------------------------------------------------------

def parser(description):
    """An ArgumentParser with the options every script has."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--env-file", metavar="PATH", help="settings file to load (default: .env)")
    result.add_argument("--json", action="store_true", help="print the result as JSON")
    result.add_argument("--debug", action="store_true",
                        help="log the EWS traffic (secrets redacted) and show tracebacks")
    return result


def load_settings(env_file=None):
    """EWS_* settings from the environment, filled from a .env file (the environment wins)."""
    from dotenv import load_dotenv
    if env_file and not Path(env_file).is_file():
        raise ConfigError(f"--env-file {env_file}: no such file")
    load_dotenv(env_file or Path.cwd() / ".env", override=False)
    mode = (os.environ.get("EWS_AUTH") or "sandbox").strip().lower()
    if mode not in MODES:
        raise ConfigError(f"EWS_AUTH={mode!r} is not a mode; choose one of {', '.join(MODES)}")
    return Settings(mode)


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

    def integer(self, name, default):
        value = self.get(name)
        try:
            return default if value is None else int(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} must be a whole number")

    def flag(self, name):
        value = (self.get(name) or "").lower()
        if value not in ("", "0", "1", "true", "false", "yes", "no"):
            raise ConfigError(f"{name}={value!r} must be true or false")
        return value in ("1", "true", "yes")


# ---- the connection ------------------------------------------------------------------

@contextlib.contextmanager
def connect(args):
    """Load settings, set up transport and logging, yield a Connection; map failures to exit codes."""
    try:
        settings = load_settings(getattr(args, "env_file", None))
        setup_logging(settings, getattr(args, "debug", False))
        with Connection(settings) as connection:
            yield connection
    except BaseException as error:  # noqa: B902 - every failure leaves through one exit path
        exit_for(error, getattr(args, "debug", False))


class Connection:
    def __init__(self, settings):
        self.settings = settings
        self.sandbox = None
        self.ca_bundle = settings.get("EWS_CA_BUNDLE")

    def __enter__(self):
        if self.settings.mode == "sandbox" and not self.settings.get("EWS_SANDBOX_URL"):
            self._start_sandbox()
        configure_tls(self.ca_bundle, self.settings.flag("EWS_INSECURE_TLS"))
        return self

    def __exit__(self, *exc):
        if self.sandbox is not None:
            self.sandbox.stop()

    def _start_sandbox(self):
        sys.path.insert(0, str(BUNDLE))
        from ews_sandbox import Sandbox
        db = Path(self.settings.get("EWS_SANDBOX_DB") or DEFAULT_SANDBOX_DB).expanduser()
        self.sandbox = Sandbox(db_path=db, seed="demo").start()
        self.ca_bundle = self.sandbox.ca_bundle
        print(f"ews: using the local EWS sandbox (state in {db}); set EWS_AUTH to use a real server",
              file=sys.stderr)

    @property
    def email(self):
        if self.settings.mode == "sandbox":
            return self.settings.get("EWS_EMAIL") or self._sandbox_users()[0]["email"]
        return self.settings.require("EWS_EMAIL", "set it to the mailbox to open")

    def _sandbox_users(self):
        if self.sandbox is not None:
            return self.sandbox.users
        return [{"email": "alice@contoso.example", "password": "demo-password"}]

    def account(self, email=None, auth_type=None):
        """An exchangelib Account on `email` (default EWS_EMAIL) with the configured auth;
        `auth_type` ('basic' or 'ntlm') overrides the password scheme."""
        from exchangelib import DELEGATE, IMPERSONATION, Account
        email = email or self.email
        config = self.configuration(email, auth_type)
        access_type = self.settings.get("EWS_ACCESS_TYPE") or (
            IMPERSONATION if self.settings.mode == "oauth-app" else DELEGATE)
        if access_type not in (DELEGATE, IMPERSONATION):
            raise ConfigError(f"EWS_ACCESS_TYPE={access_type!r} must be delegate or impersonation")
        autodiscover = config is None
        kwargs = {"autodiscover": True} if autodiscover else {"config": config, "autodiscover": False}
        if autodiscover:
            kwargs["credentials"] = self.credentials(email)
        timezone = self.settings.get("EWS_TIMEZONE")
        if timezone:
            kwargs["default_timezone"] = _timezone(timezone)
        return Account(email, access_type=access_type, **kwargs)

    def configuration(self, email, auth_type=None):
        """A Configuration for the endpoint, or None when autodiscover must find it."""
        from exchangelib import BASIC, NTLM, Configuration, FailFast, FaultTolerance
        endpoint, server = self._endpoint()
        if endpoint is None and server is None:
            return None
        max_wait = self.settings.integer("EWS_RETRY_MAX_WAIT", 60)
        retry = FaultTolerance(max_wait=max_wait) if max_wait > 0 else FailFast()
        auth_type = {"basic": BASIC, "ntlm": NTLM, "sandbox": BASIC}.get(auth_type or self.settings.mode)
        return Configuration(credentials=self.credentials(email), service_endpoint=endpoint, server=server,
                             auth_type=auth_type, version=self._version(), retry_policy=retry,
                             max_connections=self.settings.integer("EWS_MAX_CONNECTIONS", 0) or None)

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
        if value is None:
            return None
        try:
            return Version(build=Build(*(int(part) for part in value.split("."))))
        except (TypeError, ValueError):
            raise ConfigError(f"EWS_VERSION={value!r} must be a build number such as 15.1.2507.6")

    def credentials(self, email):
        from exchangelib import Credentials
        mode = self.settings.mode
        if mode == "sandbox":
            users = {u["email"].lower(): u["password"] for u in self._sandbox_users()}
            password = self.settings.get("EWS_PASSWORD") or users.get(email.lower())
            if password is None:
                raise ConfigError(f"EWS_EMAIL={email} is not a sandbox user; choose one of {', '.join(users)}")
            return Credentials(email, password)
        if mode in ("basic", "ntlm"):
            return Credentials(self.settings.get("EWS_USERNAME") or email,
                               self.settings.require("EWS_PASSWORD", "set the password of EWS_USERNAME"))
        return oauth_credentials(self, email)


# ---- transport, logging, errors ------------------------------------------------------

def configure_tls(ca_bundle, insecure):
    """exchangelib takes TLS settings only through its HTTP adapter class."""
    import requests.adapters
    from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter
    if insecure:
        print("ews: WARNING: EWS_INSECURE_TLS is on, server certificates are NOT checked", file=sys.stderr)
        BaseProtocol.HTTP_ADAPTER_CLS = NoVerifyHTTPAdapter
        return
    if ca_bundle:
        if not Path(ca_bundle).is_file():
            raise ConfigError(f"EWS_CA_BUNDLE={ca_bundle}: no such file")

        class TrustCABundle(requests.adapters.HTTPAdapter):
            def cert_verify(self, conn, url, verify, cert):
                return super().cert_verify(conn, url, ca_bundle, cert)

            def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
                # requests >= 2.32.3 picks the connection pool by `verify`: pin it too
                return super().get_connection_with_tls_context(request, ca_bundle, proxies=proxies, cert=cert)

        BaseProtocol.HTTP_ADAPTER_CLS = TrustCABundle


SECRET_PATTERNS = [
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer|ntlm|negotiate)\s+[^'\"\s,}]+"), r"\1\2 [redacted]"),
    (re.compile(r"(?i)((?:client_secret|password|access_token|refresh_token|id_token|code)['\"]?\s*[:=]\s*['\"]?)[^'\"&\s,}]+"),
     r"\1[redacted]"),
]


class RedactSecrets(logging.Filter):
    """Removes credentials from log records, whatever logger wrote them."""

    def __init__(self, literals):
        super().__init__()
        self.literals = [value for value in literals if value and len(value) >= 4]

    def filter(self, record):
        text = record.getMessage()
        for pattern, replacement in SECRET_PATTERNS:
            text = pattern.sub(replacement, text)
        for literal in self.literals:
            text = text.replace(literal, "[redacted]")
        record.msg, record.args = text, None
        return True


def setup_logging(settings, debug):
    if not (debug or settings.flag("EWS_DEBUG")):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets([settings.get(name) for name in ("EWS_PASSWORD", "EWS_CLIENT_SECRET")]))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)


def exit_for(error, debug):
    """Leave with one line and the exit code the error deserves."""
    if isinstance(error, SystemExit):
        raise error
    if isinstance(error, KeyboardInterrupt):
        print("ews: interrupted", file=sys.stderr)
        sys.exit(130)
    code, message = classify(error)
    if debug:
        import traceback
        traceback.print_exception(error)
    print(f"ews: {message}", file=sys.stderr)
    sys.exit(code)


def classify(error):
    """(exit code, one line saying what failed and what to try)."""
    if isinstance(error, ConfigError):
        return 2, str(error)
    if isinstance(error, ServerError):
        return 1, str(error)
    return explain(error)


def explain(error):
    """Known server and network failures, each with the fix users need."""
    import requests
    from exchangelib import errors
    text = str(error)
    mode = os.environ.get("EWS_AUTH") or "sandbox"
    host = os.environ.get("EWS_SERVER") or os.environ.get("EWS_SERVICE_ENDPOINT") or ""
    if isinstance(error, errors.UnauthorizedError):
        if mode in ("basic", "ntlm") and "office365" in host:
            return 1, ("Exchange Online refused the password: it accepts OAuth only; "
                       "set EWS_AUTH=oauth-app or msal-device-code (see references/auth.md)")
        if "invalid_audience" in text or "full_access_as_app" in text or "graph" in text.lower():
            return 1, ("the token has no Exchange permission: give the app full_access_as_app (app-only) or "
                       "EWS.AccessAsUser.All (delegated) on 'Office 365 Exchange Online', not Microsoft Graph")
        return 1, f"the server refused the credentials (EWS_AUTH={mode}): check EWS_USERNAME/EWS_PASSWORD or the app secret"
    if isinstance(error, (errors.ErrorImpersonateUserDenied,)) or "ExchangeImpersonation" in text:
        return 1, ("impersonation refused: app-only tokens must name the mailbox (EWS_EMAIL, access type "
                   "impersonation) and the app needs full_access_as_app with admin consent")
    if isinstance(error, errors.AutoDiscoverFailed):
        return 1, f"autodiscover found no EWS endpoint ({text}); set EWS_SERVER or EWS_SERVICE_ENDPOINT"
    if isinstance(error, requests.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return 1, ("the server's TLS certificate is not trusted; set EWS_CA_BUNDLE to your CA's PEM file "
                   "(EWS_INSECURE_TLS=true only for a throwaway test)")
    if "403" in text and isinstance(error, errors.TransportError):
        return 1, ("HTTP 403: EWS is blocked for this organisation or app. Exchange Online: the tenant needs "
                   "EwsEnabled=true and, if EwsAllowedAppIDs is set, your app id in it (EWS ends there on "
                   "1 April 2027); on-premises: check EwsEnabled and the EwsApplicationAccessPolicy allow list")
    if isinstance(error, (errors.ErrorAccessDenied, errors.ErrorNonExistentMailbox)):
        return 1, f"{error.__class__.__name__}: {text} (the signed-in user has no access to that mailbox)"
    if isinstance(error, (errors.RateLimitError, errors.ErrorServerBusy)):
        return 1, f"the server is throttling ({text}); raise EWS_RETRY_MAX_WAIT or send smaller batches"
    if isinstance(error, (requests.exceptions.ConnectionError, errors.ErrorTimeoutExpired)):
        return 1, f"could not reach the server ({text.splitlines()[0][:200]}); check the address, proxy (HTTPS_PROXY) and network"
    if isinstance(error, errors.EWSError):
        return 1, f"{error.__class__.__name__}: {text}"
    raise error  # a bug, not an expected failure: keep the traceback


def connection_summary(account, auth):
    """What the setup scripts report: who, which server, and the inbox totals."""
    inbox = account.inbox
    return {
        "auth": auth, "acting_as": account.primary_smtp_address, "access_type": account.access_type,
        "endpoint": account.protocol.service_endpoint, "server_version": account.version.build and str(account.version.build),
        "api_version": account.version.api_version,
        "inbox": {"total": inbox.total_count, "unread": inbox.unread_count},
    }


def describe(summary):
    return (f"Signed in ({summary['auth']}) as {summary['acting_as']} ({summary['access_type']})\n"
            f"Server: {summary['endpoint']}, Exchange build {summary['server_version']} ({summary['api_version']})\n"
            f"Inbox: {summary['inbox']['total']} messages, {summary['inbox']['unread']} unread")


def print_json(value):
    print(json.dumps(value, indent=2, default=str))


def _timezone(name):
    from exchangelib import EWSTimeZone
    try:
        return EWSTimeZone(name)
    except Exception:
        raise ConfigError(f"EWS_TIMEZONE={name!r} is not an IANA time zone such as Europe/Paris")
