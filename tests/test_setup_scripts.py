"""The setup scripts as a user runs them, each sign-in mode against the sandbox as if it
were a real tenant (its EWS URL, its CA, its OAuth authority), plus misconfigurations,
common failures and what --debug may print."""
import base64
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from exchangelib import Message

from conftest import ALICE, PASSWORD
import warm_start

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
SETUP = {"basic": "setup_basic_auth.py", "ntlm": "setup_basic_auth.py",
         "oauth-app": "setup_oauth_client_credentials.py", "oauth-delegated": "setup_oauth_delegated_msal.py",
         "msal-device-code": "setup_oauth_delegated_msal.py", "msal-interactive": "setup_oauth_delegated_msal.py"}

# Stands in for a web browser: signs in on the authority's page, then posts the answer
# to msal's listener on localhost, in the background as a browser would.
FAKE_BROWSER = r'''
import os, re, subprocess, sys
if len(sys.argv) == 2:
    subprocess.Popen([sys.executable, __file__, sys.argv[1], "now"], start_new_session=True)
    sys.exit(0)
import requests
session = requests.Session()
session.verify, session.trust_env = os.environ["FAKE_BROWSER_CA"], False
session.get(sys.argv[1])
page = session.post(sys.argv[1], data={"login": os.environ["EWS_EMAIL"], "passwd": "demo-password"}).text
action = re.search(r'action="([^"]+)"', page).group(1).replace("&amp;", "&")
session.post(action, data=dict(re.findall(r'name="(\w+)" value="([^"]*)"', page)))
'''


@pytest.fixture
def apps(sandbox):
    return {app["kind"]: app for app in sandbox.apps}


@pytest.fixture
def real_env(sandbox, apps, tmp_path):
    """Settings that treat the sandbox as a real server: mode -> environment."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("EWS_")}
    base.update(HOME=str(tmp_path), EWS_SERVICE_ENDPOINT=sandbox.ews_url, EWS_CA_BUNDLE=sandbox.ca_bundle,
                EWS_EMAIL=ALICE, EWS_RETRY_MAX_WAIT="0", EWS_TOKEN_CACHE=str(tmp_path / "tokens.json"))
    # the sandbox answers for Exchange Online's resource, not for its own 127.0.0.1 host
    oauth = {"EWS_AUTHORITY_HOST": sandbox.authority_url, "EWS_TENANT_ID": sandbox.tenant_id,
             "EWS_TOKEN_RESOURCE": "https://outlook.office365.com"}
    public = {**oauth, "EWS_CLIENT_ID": apps["public"]["client_id"]}
    browser = tmp_path / "browser.py"
    browser.write_text(FAKE_BROWSER)
    modes = {
        "basic": {"EWS_USERNAME": ALICE, "EWS_PASSWORD": PASSWORD},
        "ntlm": {"EWS_USERNAME": "SANDBOX\\alice", "EWS_PASSWORD": PASSWORD},
        "oauth-app": {**oauth, "EWS_CLIENT_ID": apps["confidential"]["client_id"],
                      "EWS_CLIENT_SECRET": apps["confidential"]["client_secret"]},
        "oauth-delegated": {**public, "EWS_USERNAME": ALICE, "EWS_PASSWORD": PASSWORD},
        "msal-device-code": public,
        "msal-interactive": {**public, "BROWSER": f"{sys.executable} {browser} %s",
                             "FAKE_BROWSER_CA": sandbox.ca_bundle},
    }
    return lambda mode, **extra: {**base, "EWS_AUTH": mode, **modes.get(mode, {}), **extra}


def run(script, env, *args, timeout=60):
    return warm_start.run([sys.executable, str(SCRIPTS / script), *args], env=env, cwd=env["HOME"],
                          capture_output=True, text=True, timeout=timeout)


def run_device_code(env, admin, *args):
    """The device code flow: the test reads the code from stderr and approves it as the user."""
    process = subprocess.Popen([sys.executable, str(SCRIPTS / SETUP["msal-device-code"]), *args], env=env,
                               cwd=env["HOME"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        code = re.search(r"enter the code (\w+)", line)
        if code:
            user = env.get("EWS_USERNAME") or env["EWS_EMAIL"]  # the one who signs in
            admin.call("POST", "device-codes/approve", {"user_code": code.group(1), "email": user})
            break
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, "".join(seen) + stderr)


def sign_in(mode, real_env, admin, *args, **extra):
    env = real_env(mode, **extra)
    if mode == "msal-device-code":
        return run_device_code(env, admin, "--json", *args)
    return run(SETUP[mode], env, "--json", *args)


@pytest.mark.parametrize("mode", list(SETUP))
def test_every_mode_signs_in_and_reads_the_inbox(mode, real_env, clean, admin):
    result = sign_in(mode, real_env, admin)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["acting_as"] == ALICE and summary["auth"] == mode
    assert summary["inbox"] == {"total": 0, "unread": 0}
    assert summary["access_type"] == ("impersonation" if mode == "oauth-app" else "delegate")
    operations = {entry["operation"] for entry in admin.requests()}
    expected = {"msal-device-code": "token:device_code", "msal-interactive": "token:authorization_code",
                "oauth-app": "token:client_credentials", "oauth-delegated": "token:password"}.get(mode)
    assert expected is None or expected in operations


@pytest.mark.parametrize("script, flag", [("setup_basic_auth.py", ["--auth", "ntlm"]),
                                          ("setup_oauth_client_credentials.py", []),
                                          ("setup_oauth_delegated_msal.py", ["--flow", "interactive"]),
                                          ("setup_oauth_delegated_msal.py", ["--flow", "device-code"]),
                                          ("setup_oauth_delegated_msal.py", ["--flow", "password"])])
def test_without_settings_each_script_demonstrates_its_mode_on_the_embedded_sandbox(script, flag, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("EWS_")}
    env.update(HOME=str(tmp_path), EWS_SANDBOX_DB=str(tmp_path / "state.db"))
    result = run(script, env, "--json", *flag)
    assert result.returncode == 0, result.stderr
    assert "using the local EWS sandbox" in result.stderr
    assert json.loads(result.stdout)["inbox"]["total"] > 0  # the demo tenant


def test_a_second_msal_run_is_silent_and_refreshes_an_expired_token(real_env, clean, admin, tmp_path):
    clean.add_fault({"kind": "token-expiry", "lifetime": 1, "operations": ["token:device_code"]})
    first = sign_in("msal-device-code", real_env, admin)
    assert first.returncode == 0, first.stderr
    cache = tmp_path / "tokens.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    time.sleep(1.5)  # the first access token has expired by now
    clean.clear_requests()
    second = run(SETUP["msal-device-code"], real_env("msal-device-code"), "--json")
    assert second.returncode == 0, second.stderr
    assert "enter the code" not in second.stderr
    sign_ins = [e["operation"] for e in admin.requests() if e["operation"].startswith(("token:", "devicecode"))]
    assert sign_ins == ["token:refresh_token"]
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


MISCONFIGURATIONS = [
    ({"EWS_AUTH": "kerberos"}, "EWS_AUTH='kerberos' is not a mode; choose one of sandbox, basic, ntlm, oauth-app, "
                               "oauth-delegated, msal-interactive, msal-device-code"),
    ({"EWS_AUTH": "basic", "EWS_PASSWORD": None},
     "EWS_PASSWORD is not set; set the password of EWS_USERNAME (EWS_AUTH=basic, see .env.template)"),
    ({"EWS_AUTH": "basic", "EWS_EMAIL": None},
     "EWS_EMAIL is not set; set it to the mailbox to open (EWS_AUTH=basic, see .env.template)"),
    ({"EWS_AUTH": "basic", "EWS_SERVER": "mail.example.com"}, "set EWS_SERVER or EWS_SERVICE_ENDPOINT, not both"),
    ({"EWS_AUTH": "basic", "EWS_RETRY_MAX_WAIT": "soon"}, "EWS_RETRY_MAX_WAIT='soon' must be a whole number"),
    ({"EWS_AUTH": "basic", "EWS_MAX_CONNECTIONS": "many"}, "EWS_MAX_CONNECTIONS='many' must be a whole number"),
    ({"EWS_AUTH": "basic", "EWS_VERSION": "2016"},
     "EWS_VERSION='2016' must be a build number such as 15.1.2507.6"),
    ({"EWS_AUTH": "basic", "EWS_ACCESS_TYPE": "owner"},
     "EWS_ACCESS_TYPE='owner' must be delegate or impersonation"),
    ({"EWS_AUTH": "basic", "EWS_TIMEZONE": "Mars/Olympus"},
     "EWS_TIMEZONE='Mars/Olympus' is not an IANA time zone such as Europe/Paris"),
    ({"EWS_AUTH": "basic", "EWS_CA_BUNDLE": "/nowhere/ca.pem"}, "EWS_CA_BUNDLE=/nowhere/ca.pem: no such file"),
    ({"EWS_AUTH": "basic", "EWS_INSECURE_TLS": "maybe"}, "EWS_INSECURE_TLS='maybe' must be true or false"),
    ({"EWS_AUTH": "oauth-app", "EWS_TENANT_ID": None},
     "EWS_TENANT_ID is not set; set the directory (tenant) id of your Entra ID (EWS_AUTH=oauth-app, "
     "see .env.template)"),
    ({"EWS_AUTH": "oauth-app", "EWS_CLIENT_ID": None},
     "EWS_CLIENT_ID is not set; set the application (client) id of the app registration (EWS_AUTH=oauth-app, "
     "see .env.template)"),
    ({"EWS_AUTH": "oauth-app", "EWS_CLIENT_SECRET": None},
     "EWS_CLIENT_SECRET is not set; app-only sign-in needs the app's client secret (EWS_AUTH=oauth-app, "
     "see .env.template)"),
    ({"EWS_AUTH": "oauth-app", "SCRIPT": "setup_basic_auth.py"},
     "EWS_AUTH=oauth-app is not a password mode; run setup_oauth_client_credentials.py instead"),
    ({"EWS_AUTH": "basic", "SCRIPT": "setup_oauth_client_credentials.py"},
     "EWS_AUTH=basic is not app-only; run setup_basic_auth.py instead"),
    ({"EWS_AUTH": "basic", "ARGS": ["--env-file", "/nowhere/.env"]}, "--env-file /nowhere/.env: no such file"),
    ({"EWS_AUTH": "basic", "EWS_MAX_CONNECTIONS": "-1"}, "EWS_MAX_CONNECTIONS='-1' must be 1 or more"),
    # found by tests/test_script_properties.py: exchangelib raised a ValueError with a traceback
    ({"EWS_AUTH": "basic", "EWS_EMAIL": "not-an-address"},
     "EWS_EMAIL='not-an-address' is not an email address (expected name@example.com)"),
    ({"EWS_AUTH": "basic", "EWS_CA_BUNDLE": "/etc/hostname"},
     "EWS_CA_BUNDLE=/etc/hostname holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
]


@pytest.mark.parametrize("overrides, message", MISCONFIGURATIONS, ids=[m[1][:40] for m in MISCONFIGURATIONS])
def test_a_misconfiguration_is_one_line_and_exit_2(overrides, message, real_env):
    overrides = dict(overrides)
    script = overrides.pop("SCRIPT", None) or SETUP.get(overrides["EWS_AUTH"], "setup_basic_auth.py")
    args = overrides.pop("ARGS", [])
    env = real_env(overrides["EWS_AUTH"])
    env.update({key: value for key, value in overrides.items() if value is not None})
    for key in [key for key, value in overrides.items() if value is None]:
        env.pop(key)
    result = run(script, env, *args)
    assert (result.returncode, result.stderr, result.stdout) == (2, f"ews: {message}\n", "")


FAILURES = [
    ("oauth-only", "basic", {}, "the server accepts OAuth only, as Exchange Online does"),
    ("graph-app", "oauth-app", {}, "the token carries no Exchange permission"),
    ("autodiscover", "basic", {"EWS_SERVICE_ENDPOINT": None}, "autodiscover found no EWS endpoint"),
    ("untrusted-ca", "basic", {"EWS_CA_BUNDLE": None}, "the server's TLS certificate is not trusted; set EWS_CA_BUNDLE"),
    ("ews-disabled", "oauth-app", {}, "HTTP 403: EWS is blocked for this organisation or app. Exchange Online: "
                                      "the tenant needs EwsEnabled=true"),
    ("wrong-password", "basic", {"EWS_PASSWORD": "wrong"}, "the server refused the credentials (EWS_AUTH=basic)"),
    ("wrong-secret", "oauth-app", {"EWS_CLIENT_SECRET": "wrong"}, "the sign-in authority refused: invalid_client"),
    ("busy-first-call", "basic", {}, "the server is throttling"),            # inside exchangelib's version probe
    ("endless-503", "basic", {"EWS_RETRY_MAX_WAIT": "3"}, "the server is throttling (gave up after waiting"),
]
FAULTS = {"oauth-only": "oauth-only", "ews-disabled": "ews-disabled", "busy-first-call": "server-busy:backoff_ms=100",
          "endless-503": "http-503:retry_after=1"}


@pytest.mark.parametrize("case, mode, overrides, message", FAILURES, ids=[f[0] for f in FAILURES])
def test_common_failures_say_what_to_fix(case, mode, overrides, message, real_env, apps, clean):
    if case in FAULTS:
        clean.add_fault(FAULTS[case])
    if case == "graph-app":
        overrides = {"EWS_CLIENT_ID": apps["graph-only"]["client_id"],
                     "EWS_CLIENT_SECRET": apps["graph-only"]["client_secret"]}
    env = real_env(mode)
    env.update({key: value for key, value in overrides.items() if value is not None})
    for key in [key for key, value in overrides.items() if value is None]:
        env.pop(key)
    result = run(SETUP[mode], env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"ews: {message}") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("mode", list(SETUP))
def test_debug_output_holds_no_secret(mode, real_env, apps, admin, clean):
    result = sign_in(mode, real_env, admin, "--debug")
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "exchangelib" in output  # the wire log is there...
    basic = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, apps["confidential"]["client_secret"], basic, "eyJ"):
        assert secret not in output, f"{secret[:6]}... leaked"
    assert not re.search(r"(?i)authorization['\"]?\s*[:=]\s*['\"]?(basic|bearer|ntlm|negotiate) (?!\[redacted\])", output)
    assert not re.search(r"(?i)(access|refresh|id)_token['\"]?\s*[:=]\s*['\"]?(?!\[redacted\])[\w.-]{8}", output)


def test_a_missing_impersonation_header_is_explained():
    """The helper always impersonates for oauth-app; code written without an Identity meets this."""
    sys.path.insert(0, str(SCRIPTS))
    import ews_config
    from exchangelib.errors import ErrorInvalidExchangeImpersonationHeaderData
    error = ErrorInvalidExchangeImpersonationHeaderData(
        "ExchangeImpersonation SOAP header must be present for this type of OAuth token.")
    code, message = ews_config.classify(error)
    assert code == 1 and message.startswith("impersonation refused: app-only tokens act only by impersonating")


def test_a_refused_password_is_not_retried_as_throttling(real_env):
    """FaultTolerance would retry a 401 for a minute and call it throttling; the helper stops."""
    env = real_env("basic", EWS_PASSWORD="wrong", EWS_RETRY_MAX_WAIT="60")
    result = run(SETUP["basic"], env, timeout=20)
    assert result.returncode == 1 and "the server refused the credentials" in result.stderr


# ---- issue 8: the review's findings on sign-in and settings -------------------------------

def _import_helper():
    sys.path.insert(0, str(SCRIPTS))
    import ews_config
    return ews_config


@pytest.mark.parametrize("mode, grant", [("oauth-app", "token:client_credentials"),
                                         ("oauth-delegated", "token:password"),
                                         ("msal-interactive", "token:refresh_token"),
                                         ("msal-device-code", "token:refresh_token")])
def test_every_oauth_mode_renews_an_expired_token_mid_run(mode, grant, real_env, clean, admin, connect):
    """Item 1: tokens that live a second, a run that lasts several: each mode gets a new token with
    its own grant and carries on (before: oauth-app exited on AADSTS900144, a public client spun)."""
    account = connect(ALICE)
    account.bulk_create(account.inbox, [Message(account=account, folder=account.inbox, subject=f"Long {i}")
                                        for i in range(6)])
    clean.add_fault({"kind": "token-expiry", "lifetime": 1})
    if mode == "msal-device-code":  # signed in once; the run then renews from msal's cache
        assert sign_in(mode, real_env, admin).returncode == 0
    clean.add_fault({"kind": "latency", "ms": 300})  # a long job: each request takes 0.3 s
    clean.clear_requests()
    result = run("manage_messages.py", real_env(mode), "mark-read", "--subject", "Long", "--chunk-size", "1",
                 "--json", timeout=90)
    clean.clear_faults()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["done"] == 6
    assert all(m.is_read for m in connect(ALICE).inbox.filter(subject__startswith="Long"))
    grants = [e["operation"] for e in admin.requests() if e["operation"].startswith("token:")]
    assert grants.count(grant) >= 2, grants  # renewed mid-run, with the mode's own grant


def test_autodiscover_keeps_the_settings(monkeypatch):
    """Item 5: without an endpoint, the Account still gets a Configuration with the auth type,
    version, retry policy and connection count (exchangelib applies them after autodiscover)."""
    ews_config = _import_helper()
    import exchangelib
    seen = {}
    monkeypatch.setattr(exchangelib, "Account", lambda email, **kwargs: seen.update(kwargs, email=email))
    for name, value in {"EWS_AUTH": "basic", "EWS_EMAIL": ALICE, "EWS_PASSWORD": "x", "EWS_VERSION": "15.1.2507.6",
                        "EWS_RETRY_MAX_WAIT": "17", "EWS_MAX_CONNECTIONS": "3"}.items():
        monkeypatch.setenv(name, value)
    for name in ("EWS_SERVER", "EWS_SERVICE_ENDPOINT", "EWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    ews_config.Connection(ews_config.load_settings()).account()
    config = seen["config"]
    assert seen["autodiscover"] is True and config.service_endpoint is None
    assert (config.auth_type, config.max_connections, config.retry_policy.max_wait) == (exchangelib.BASIC, 3, 17)
    assert str(config.version.build) == "15.1.2507.6"


def test_msal_finds_its_cache_by_the_sign_in_name(real_env, clean, admin, tmp_path):
    """Item 6: alice opens bob's mailbox (delegate): the second run signs in silently, the cache
    being matched on the sign-in name (EWS_USERNAME), not on the mailbox (EWS_EMAIL)."""
    from conftest import BOB
    admin.grant(BOB, ALICE)
    env = real_env("msal-device-code", EWS_EMAIL=BOB, EWS_USERNAME=ALICE)
    first = run_device_code(env, admin, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["acting_as"] == BOB
    clean.clear_requests()
    try:
        second = run(SETUP["msal-device-code"], env, "--json", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the second run asked for a device code again")
    assert second.returncode == 0 and "enter the code" not in second.stderr, second.stderr
    assert not [e for e in admin.requests() if e["operation"] in ("devicecode", "token:device_code")]


def test_a_private_ca_is_trusted_besides_the_public_roots(sandbox, monkeypatch):
    """Item 7: EWS_CA_BUNDLE adds the private CA; the public roots (for login.microsoftonline.com)
    stay trusted, for exchangelib and for msal alike."""
    import certifi
    ews_config = _import_helper()
    monkeypatch.setenv("EWS_AUTH", "basic")
    monkeypatch.setenv("EWS_CA_BUNDLE", sandbox.ca_bundle)
    connection = ews_config.Connection(ews_config.load_settings())
    with connection:
        trusted = Path(connection.ca_bundle).read_text()
        assert Path(sandbox.ca_bundle).read_text().strip() in trusted
        public = Path(certifi.where()).read_text()
        assert public.split("-----END CERTIFICATE-----")[0] in trusted and trusted.count("BEGIN CERTIFICATE") > 100
        assert connection.oauth_session().verify == connection.ca_bundle
        from exchangelib.protocol import BaseProtocol
        adapter = BaseProtocol.HTTP_ADAPTER_CLS()
        import requests
        response = requests.Session()
        response.mount("https://", adapter)
        assert response.get(sandbox.base_url + "/_sandbox/users", timeout=10).status_code == 403  # TLS passed


def test_on_premises_impersonation_refused_names_the_role(real_env, clean):
    """Item 10: a password account impersonating gets the ApplicationImpersonation advice, not
    Exchange Online's full_access_as_app."""
    from conftest import BOB
    result = run(SETUP["basic"], real_env("basic", EWS_ACCESS_TYPE="impersonation", EWS_EMAIL=BOB))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "ApplicationImpersonation" in result.stderr and "full_access_as_app" not in result.stderr


@pytest.mark.parametrize("settings, resource", [
    ({"EWS_SERVICE_ENDPOINT": "https://outlook.office365.us/EWS/Exchange.asmx"}, "https://outlook.office365.us"),
    ({"EWS_SERVICE_ENDPOINT": "https://mail.contoso.com/EWS/Exchange.asmx"}, "https://mail.contoso.com"),
    ({"EWS_SERVER": "partner.outlook.cn"}, "https://partner.outlook.cn"),
    ({}, "https://outlook.office365.com"),
    ({"EWS_SERVICE_ENDPOINT": "https://10.0.0.5/EWS/Exchange.asmx", "EWS_TOKEN_RESOURCE": "https://mail.contoso.com"},
     "https://mail.contoso.com"),
])
def test_the_token_resource_follows_the_ews_host(settings, resource, monkeypatch):
    """Item 13: a national cloud or a hybrid server given as a URL gets a token for its own host."""
    ews_config = _import_helper()
    for name in ("EWS_SERVER", "EWS_SERVICE_ENDPOINT", "EWS_TOKEN_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EWS_AUTH", "oauth-app")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert ews_config._resource(ews_config.Connection(ews_config.load_settings())) == resource
