"""The sandbox's OAuth authority as msal and exchangelib use it: every sign-in mode ends
in a mailbox read through exchangelib; refusals, expiry and refresh look as Entra ID and
Exchange Online make them."""
import json
import logging
import re
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from exchangelib import (
    DELEGATE, IMPERSONATION, Account, Configuration, FailFast, Identity, OAuth2AuthorizationCodeCredentials,
    OAuth2Credentials, OAuth2LegacyCredentials,
)
from exchangelib.errors import ErrorInvalidExchangeImpersonationHeaderData, UnauthorizedError
from exchangelib.protocol import close_connections
from oauthlib.oauth2 import InvalidClientError, InvalidClientIdError, InvalidGrantError

from conftest import ALICE, BOB, CAROL, PASSWORD

pytestmark = pytest.mark.filterwarnings(
    "ignore:response_mode='form_post' is recommended",  # msal, for the query mode these tests catch
    "ignore:Attempted too soon",  # msal, for the tests' immediate second device-code poll
    "ignore:`client_id` has been deprecated:DeprecationWarning",  # oauthlib, as exchangelib calls it
)
EWS_SCOPE = "https://outlook.office365.com/EWS.AccessAsUser.All"
EWS_APP_SCOPE = "https://outlook.office365.com/.default"
ROOT = __file__.rsplit("/tests/", 1)[0]


# ---- fixtures and helpers ------------------------------------------------------------

@pytest.fixture(scope="module")
def apps(sandbox):
    return {app["kind"]: app for app in sandbox.apps}


@pytest.fixture(scope="module")
def authority(sandbox):
    """What msal takes as `authority`."""
    return f"{sandbox.authority_url}/{sandbox.tenant_id}"


def at_sandbox(credentials_class, sandbox):
    """exchangelib hard-codes login.microsoftonline.com in `token_url`: a subclass points it here."""

    class AtSandbox(credentials_class):
        @property
        def token_url(self):
            return f"{sandbox.authority_url}/{self.tenant_id or 'common'}/oauth2/v2.0/token"

    return AtSandbox


@pytest.fixture
def account(sandbox):
    """account(credentials, email=ALICE, access_type=DELEGATE) -> a fresh exchangelib Account."""

    def make(credentials, email=ALICE, access_type=DELEGATE):
        close_connections()  # exchangelib caches protocols per credentials: start clean
        config = Configuration(credentials=credentials, service_endpoint=sandbox.ews_url, retry_policy=FailFast())
        return Account(email, config=config, autodiscover=False, access_type=access_type)

    return make


@pytest.fixture
def daemon_credentials(sandbox, apps):
    def make(**kwargs):
        app = apps["confidential"]
        return at_sandbox(OAuth2Credentials, sandbox)(client_id=app["client_id"], client_secret=app["client_secret"],
                                                      tenant_id=app["tenant_id"], **kwargs)
    return make


def trusting_session(ca_bundle):
    """msal's verify= loses to a REQUESTS_CA_BUNDLE in the environment (requests merges the
    environment over the session): hand msal a session that ignores the environment."""
    session = requests.Session()
    session.verify, session.trust_env = ca_bundle, False
    return session


def public_client(sandbox, apps, authority, **kwargs):
    # instance_discovery=False: otherwise msal asks login.microsoftonline.com about an authority it does not know
    return msal.PublicClientApplication(apps["public"]["client_id"], authority=authority,
                                        http_client=trusting_session(sandbox.ca_bundle), instance_discovery=False,
                                        **kwargs)


def confidential_client(sandbox, app, authority):
    return msal.ConfidentialClientApplication(app["client_id"], client_credential=app["client_secret"],
                                              authority=authority, http_client=trusting_session(sandbox.ca_bundle),
                                              instance_discovery=False)


def as_exchangelib_token(result):
    """exchangelib wants the token as a dict with access_token (and expires_at to know when it ends)."""
    token = {"access_token": result["access_token"], "token_type": "Bearer",
             "expires_at": time.time() + int(result["expires_in"])}
    if "refresh_token" in result:
        token["refresh_token"] = result["refresh_token"]
    return token


def wait_until_expired(*tokens, client_expires_at=0):
    """Sleep until the server (the tokens' exp) and the client (its expires_at) both see them expired."""
    deadline = max([claims(token)["exp"] for token in tokens] + [client_expires_at])
    time.sleep(max(0.0, deadline - time.time()) + 0.05)


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def sign_in(auth_uri, ca_bundle, email=ALICE, password=PASSWORD):
    """Follow an authorization URL as a browser would: the sign-in form, then the redirect."""
    form = requests.get(auth_uri, verify=ca_bundle)
    assert form.status_code == 200 and 'name="passwd"' in form.text
    answer = requests.post(auth_uri, data={"login": email, "passwd": password}, verify=ca_bundle,
                           allow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert (location.scheme, location.hostname) == ("http", "localhost")
    return {name: values[0] for name, values in parse_qs(location.query).items()}


def token_request(sandbox, tenant_id, **form):
    return requests.post(f"{sandbox.authority_url}/{tenant_id}/oauth2/v2.0/token", data=form,
                         verify=sandbox.ca_bundle)


def app_token(sandbox, app, scope=EWS_APP_SCOPE):
    answer = token_request(sandbox, app["tenant_id"], grant_type="client_credentials", client_id=app["client_id"],
                           client_secret=app["client_secret"], scope=scope)
    assert answer.status_code == 200, answer.text
    return answer.json()


def ews_with_bearer(sandbox, token):
    """A raw EWS call with a bearer token, to see Exchange's 401 as it is sent."""
    body = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><s:Body><m:GetFolder/>'
            '</s:Body></s:Envelope>')
    return requests.post(sandbox.ews_url, data=body, headers={"Authorization": f"Bearer {token}",
                                                               "Content-Type": "text/xml"}, verify=sandbox.ca_bundle)


def operations(admin):
    return [(entry["operation"], entry["status"]) for entry in admin.requests()]


# ---- metadata --------------------------------------------------------------------------

def test_openid_metadata_and_keys_describe_the_sandbox_authority(sandbox, apps):
    tenant_id = sandbox.tenant_id
    for tenant in (tenant_id, "contoso.example", "organizations"):
        answer = requests.get(f"{sandbox.authority_url}/{tenant}/v2.0/.well-known/openid-configuration",
                              verify=sandbox.ca_bundle)
        assert answer.status_code == 200
        named = tenant_id if tenant == "contoso.example" else tenant
        assert answer.json()["token_endpoint"] == f"{sandbox.authority_url}/{named}/oauth2/v2.0/token"
        assert answer.json()["device_authorization_endpoint"].endswith(f"/{named}/oauth2/v2.0/devicecode")
    keys = requests.get(answer.json()["jwks_uri"], verify=sandbox.ca_bundle).json()["keys"]
    token = app_token(sandbox, apps["confidential"])["access_token"]
    key = jwt.PyJWK(next(k for k in keys if k["kid"] == jwt.get_unverified_header(token)["kid"]))
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="https://outlook.office365.com")
    assert claims["roles"] == ["full_access_as_app"] and claims["tid"] == tenant_id
    assert claims["appid"] == apps["confidential"]["client_id"] and "scp" not in claims


def test_an_unknown_tenant_is_refused_as_entra_id_does(sandbox, apps):
    answer = token_request(sandbox, "fabrikam.example", grant_type="client_credentials", scope=EWS_APP_SCOPE,
                           client_id=apps["confidential"]["client_id"])
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request" and answer.json()["error_codes"] == [90002]
    assert answer.json()["error_description"].startswith("AADSTS90002: Tenant 'fabrikam.example' not found.")


# ---- client credentials (app-only) -------------------------------------------------------

def test_client_credentials_with_impersonation_read_the_inbox(clean, account, daemon_credentials, apps):
    credentials = daemon_credentials(identity=Identity(primary_smtp_address=ALICE))
    assert account(credentials, ALICE, IMPERSONATION).inbox.total_count == 0
    assert account(credentials, BOB, IMPERSONATION).inbox.total_count == 0  # any mailbox, as full_access_as_app
    log = clean.requests()
    assert ("token:client_credentials", 200) in operations(clean)
    reads = [entry for entry in log if entry["operation"] == "GetFolder"]
    assert {entry["mailbox"] for entry in reads} == {ALICE, BOB}
    assert {tuple(entry["mailboxes"]) for entry in reads} == {(ALICE,), (BOB,)}  # the impersonated mailbox
    assert {entry["user"] for entry in reads} == {f"app:{apps['confidential']['client_id']}"}  # the app
    assert apps["confidential"]["client_secret"] not in json.dumps(log)


def test_an_app_token_without_impersonation_gets_exchanges_fault(clean, account, daemon_credentials):
    with pytest.raises(ErrorInvalidExchangeImpersonationHeaderData,
                       match="ExchangeImpersonation SOAP header must be present for this type of OAuth token."):
        account(daemon_credentials(), ALICE, DELEGATE).inbox


def test_a_wrong_client_secret_is_refused(clean, account, sandbox, apps):
    app = apps["confidential"]
    credentials = at_sandbox(OAuth2Credentials, sandbox)(client_id=app["client_id"], client_secret="not-the-secret",
                                                         tenant_id=app["tenant_id"],
                                                         identity=Identity(primary_smtp_address=ALICE))
    with pytest.raises(InvalidClientError, match="AADSTS7000215"):
        account(credentials, ALICE, IMPERSONATION).inbox


# ---- delegated sign-ins -----------------------------------------------------------------

def test_password_grant_reads_the_inbox_as_the_user(clean, account, sandbox, apps, caplog):
    caplog.set_level(logging.DEBUG, logger="ews_sandbox")
    app = apps["public"]
    credentials = at_sandbox(OAuth2LegacyCredentials, sandbox)(
        username=BOB, password=PASSWORD, client_id=app["client_id"], client_secret=None, tenant_id=app["tenant_id"])
    assert account(credentials, BOB).inbox.total_count == 0
    wrong = at_sandbox(OAuth2LegacyCredentials, sandbox)(
        username=BOB, password="wrong", client_id=app["client_id"], client_secret=None, tenant_id=app["tenant_id"])
    with pytest.raises(InvalidGrantError, match="AADSTS50126"):
        account(wrong, BOB).inbox
    log = clean.requests()
    assert [(e["operation"], e["status"]) for e in log if e["operation"] == "token:password"] == [
        ("token:password", 200), ("token:password", 400)]
    assert {e["user"] for e in log if e["operation"] == "GetFolder"} == {BOB}
    recorded = json.dumps(log) + caplog.text
    assert PASSWORD not in recorded and "wrong" not in recorded and "eyJ" not in recorded


def test_authorization_code_with_pkce_through_msal_reads_the_inbox(clean, account, sandbox, apps, authority):
    client = public_client(sandbox, apps, authority)
    flow = client.initiate_auth_code_flow([EWS_SCOPE], redirect_uri="http://localhost", login_hint=ALICE,
                                          response_mode="query")
    assert "code_challenge=" in flow["auth_uri"]
    result = client.acquire_token_by_auth_code_flow(flow, sign_in(flow["auth_uri"], sandbox.ca_bundle))
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE
    assert [account["username"] for account in client.get_accounts()] == [ALICE]
    credentials = at_sandbox(OAuth2AuthorizationCodeCredentials, sandbox)(
        access_token=as_exchangelib_token(result))
    assert account(credentials, ALICE).inbox.total_count == 0
    assert ("authorize", 302) in operations(clean) and ("token:authorization_code", 200) in operations(clean)


def test_a_code_redeemed_with_the_wrong_pkce_verifier_is_refused(clean, sandbox, apps, authority):
    client = public_client(sandbox, apps, authority)
    flow = client.initiate_auth_code_flow([EWS_SCOPE], redirect_uri="http://localhost", response_mode="query")
    auth_response = sign_in(flow["auth_uri"], sandbox.ca_bundle)
    flow["code_verifier"] = "x" * 43
    result = client.acquire_token_by_auth_code_flow(flow, auth_response)
    assert result["error"] == "invalid_grant" and "AADSTS50148" in result["error_description"]


def test_exchangelib_redeeming_a_code_itself_is_refused_for_want_of_a_redirect_uri(clean, account, sandbox, apps,
                                                                                    authority):
    """exchangelib posts the code without redirect_uri; Entra ID insists on it (AADSTS700009).
    Redeem the code with msal and hand exchangelib the token instead."""
    app = apps["confidential"]
    flow = confidential_client(sandbox, app, authority).initiate_auth_code_flow(
        [EWS_SCOPE], redirect_uri="http://localhost", response_mode="query")
    code = sign_in(flow["auth_uri"], sandbox.ca_bundle)["code"]
    credentials = at_sandbox(OAuth2AuthorizationCodeCredentials, sandbox)(
        authorization_code=code, client_id=app["client_id"], client_secret=app["client_secret"],
        tenant_id=app["tenant_id"])
    with pytest.raises(InvalidGrantError, match="AADSTS700009"):
        account(credentials, ALICE).inbox


def test_authorize_single_sign_on_prompt_none_and_unregistered_redirects(clean, sandbox, apps, authority):
    client = public_client(sandbox, apps, authority)
    browser = trusting_session(sandbox.ca_bundle)

    def authorize(redirect_uri="http://localhost:8400", **params):
        flow = client.initiate_auth_code_flow([EWS_SCOPE], redirect_uri=redirect_uri, response_mode="query", **params)
        return browser.get(flow["auth_uri"], allow_redirects=False)

    silent = authorize(prompt="none")
    assert silent.status_code == 302 and "error=login_required" in silent.headers["Location"]
    assert authorize(login_hint=ALICE).status_code == 200  # the sign-in form
    flow = client.initiate_auth_code_flow([EWS_SCOPE], redirect_uri="http://localhost:8400", response_mode="query")
    signed_in = browser.post(flow["auth_uri"], data={"login": ALICE, "passwd": PASSWORD}, allow_redirects=False)
    assert signed_in.headers["Location"].startswith("http://localhost:8400?code=")
    again = authorize(login_hint=ALICE)  # the session cookie signs in at once
    assert again.status_code == 302 and "code=" in again.headers["Location"]
    unregistered = authorize(redirect_uri="https://evil.example/callback")
    assert unregistered.status_code == 400 and "AADSTS50011" in unregistered.text


def test_ews_offers_bearer_beside_ntlm_and_basic(sandbox):
    answer = requests.post(sandbox.ews_url, data=b"", verify=sandbox.ca_bundle)
    assert answer.status_code == 401
    offered = answer.headers["WWW-Authenticate"]
    assert offered.startswith('Bearer client_id="00000002-0000-0ff1-ce00-000000000000"')
    assert "NTLM" in offered and "Basic" in offered


def test_device_code_approved_through_the_admin_api(clean, account, sandbox, apps, authority):
    client = public_client(sandbox, apps, authority)
    flow = client.initiate_device_flow([EWS_SCOPE])
    assert flow["user_code"] in flow["message"] and flow["verification_uri"].endswith("/devicelogin")
    waiting = client.acquire_token_by_device_flow(flow, exit_condition=lambda flow: True)  # one poll, no waiting
    assert waiting["error"] == "authorization_pending"
    assert [code["user_code"] for code in clean.call("GET", "device-codes")] == [flow["user_code"]]
    approved = clean.call("POST", "device-codes/approve", {"user_code": flow["user_code"], "email": BOB})
    assert approved["status"] == "approved"
    result = client.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    credentials = at_sandbox(OAuth2AuthorizationCodeCredentials, sandbox)(access_token=as_exchangelib_token(result))
    assert account(credentials, BOB).inbox.total_count == 0
    assert [op for op in operations(clean) if op[0].startswith(("devicecode", "token:"))] == [
        ("devicecode", 200), ("token:device_code", 400), ("token:device_code", 200)]


def test_device_code_on_the_verification_page_and_declined(clean, sandbox, apps, authority):
    client = public_client(sandbox, apps, authority)
    flow = client.initiate_device_flow([EWS_SCOPE])
    page = flow["verification_uri"]
    wrong = requests.post(page, data={"otc": flow["user_code"], "login": ALICE, "passwd": "nope"},
                          verify=sandbox.ca_bundle)
    assert "incorrect" in wrong.text
    signed_in = requests.post(page, data={"otc": flow["user_code"], "login": ALICE, "passwd": PASSWORD},
                              verify=sandbox.ca_bundle)
    assert "You have signed in" in signed_in.text
    assert client.acquire_token_by_device_flow(flow)["id_token_claims"]["preferred_username"] == ALICE
    declined_flow = client.initiate_device_flow([EWS_SCOPE])
    clean.call("POST", "device-codes/decline", {"user_code": declined_flow["user_code"]})
    assert client.acquire_token_by_device_flow(declined_flow)["error"] == "authorization_declined"


def test_interactive_sign_in_through_msal_local_redirect(clean, sandbox, apps, authority, monkeypatch):
    """msal's acquire_token_interactive, as O365InteractiveConfiguration uses it: the 'browser'
    here follows the URL with requests and posts the form_post answer to msal's listener."""
    monkeypatch.setattr("msal.oauth2cli.authcode._browse", lambda *args, **kwargs: False)  # no real browser
    failures = []

    def browse(auth_uri):
        try:
            session = trusting_session(sandbox.ca_bundle)
            session.get(auth_uri)
            page = session.post(auth_uri, data={"login": ALICE, "passwd": PASSWORD}).text
            action = re.search(r'action="([^"]+)"', page).group(1)
            fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page))
            requests.post(action.replace("&amp;", "&"), data=fields, timeout=10)
        except Exception as error:  # surfaces in the assertion below
            failures.append(error)

    client = public_client(sandbox, apps, authority)
    result = client.acquire_token_interactive(
        [EWS_SCOPE], login_hint=ALICE, timeout=20,
        auth_uri_callback=lambda uri: threading.Thread(target=browse, args=(uri,), daemon=True).start())
    assert not failures and "access_token" in result, (failures, result)
    assert claims(result["access_token"])["scp"] == "EWS.AccessAsUser.All"


# ---- expiry, refresh and refusals ---------------------------------------------------------

def test_msal_refreshes_an_expired_token_silently(clean, account, sandbox, apps, authority):
    clean.add_fault({"kind": "token-expiry", "lifetime": 1})
    client = public_client(sandbox, apps, authority)
    flow = client.initiate_device_flow([EWS_SCOPE])
    clean.call("POST", "device-codes/approve", {"user_code": flow["user_code"], "email": ALICE})
    first = client.acquire_token_by_device_flow(flow)
    assert first["expires_in"] == 1 and "refresh_token" in first
    wait_until_expired(first["access_token"])
    assert ews_with_bearer(sandbox, first["access_token"]).status_code == 401
    clean.clear_faults()
    second = client.acquire_token_silent([EWS_SCOPE], account=client.get_accounts()[0])
    assert second["access_token"] != first["access_token"] and second["expires_in"] == 3600
    credentials = at_sandbox(OAuth2AuthorizationCodeCredentials, sandbox)(access_token=as_exchangelib_token(second))
    assert account(credentials, ALICE).inbox.total_count == 0
    assert ("token:refresh_token", 200) in operations(clean)


def test_an_expired_token_gets_401_with_a_bearer_challenge_then_a_new_one(clean, account, sandbox, apps,
                                                                           daemon_credentials):
    clean.add_fault({"kind": "token-expiry", "lifetime": 1})
    expired = app_token(sandbox, apps["confidential"])["access_token"]
    clean.clear_faults()
    wait_until_expired(expired)
    refused = ews_with_bearer(sandbox, expired)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('Bearer client_id="00000002-0000-0ff1-ce00-000000000000"')
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert 'reason="The token has expired."' in refused.headers["x-ms-diagnostics"]
    # exchangelib believes the token valid (expires_at ahead): the 401 raises, and the retired session
    # of a client-credentials account fetches a new token, so the next call succeeds.
    credentials = daemon_credentials(identity=Identity(primary_smtp_address=ALICE),
                                     access_token={"access_token": expired, "token_type": "Bearer",
                                                   "expires_at": time.time() + 3600})
    mailbox = account(credentials, ALICE, IMPERSONATION)
    with pytest.raises(UnauthorizedError):
        mailbox.inbox
    assert mailbox.inbox.total_count == 0


def test_token_expiry_fault_springs_exchangelibs_client_credentials_trap(clean, account, daemon_credentials):
    """Upstream issue 1345: an expired client-credentials token is 'refreshed' with a
    refresh_token grant that has no refresh token; Entra ID refuses it (AADSTS900144), the
    call raises InvalidClientIdError, and the next call fetches a new token."""
    clean.add_fault({"kind": "token-expiry", "lifetime": 1, "operations": ["token:client_credentials"]})
    credentials = daemon_credentials(identity=Identity(primary_smtp_address=ALICE))
    mailbox = account(credentials, ALICE, IMPERSONATION)
    assert mailbox.inbox.total_count == 0
    clean.clear_faults()
    token = credentials.access_token
    wait_until_expired(token["access_token"], client_expires_at=token["expires_at"])
    with pytest.raises(InvalidClientIdError, match="AADSTS900144.*'refresh_token'"):
        mailbox.inbox.refresh()
    mailbox.inbox.refresh()
    tokens = [op for op in operations(clean) if op[0].startswith("token:")]
    assert tokens == [("token:client_credentials", 200), ("token:refresh_token", 400),
                      ("token:client_credentials", 200)]


def test_authorization_code_credentials_refresh_through_a_refresh_override(clean, account, sandbox, apps,
                                                                            authority):
    """A public client has no secret, so exchangelib cannot refresh by itself: override refresh()."""
    clean.add_fault({"kind": "token-expiry", "lifetime": 1, "operations": ["token:authorization_code"]})
    client = public_client(sandbox, apps, authority)
    flow = client.initiate_auth_code_flow([EWS_SCOPE], redirect_uri="http://localhost", response_mode="query")
    result = client.acquire_token_by_auth_code_flow(flow, sign_in(flow["auth_uri"], sandbox.ca_bundle))

    class RefreshedByMsal(at_sandbox(OAuth2AuthorizationCodeCredentials, sandbox)):
        def refresh(self, session):
            fresh = client.acquire_token_silent([EWS_SCOPE], account=client.get_accounts()[0])
            self.access_token = as_exchangelib_token(fresh)

    token = as_exchangelib_token(result)
    mailbox = account(RefreshedByMsal(access_token=token), ALICE)
    assert mailbox.inbox.total_count == 0
    wait_until_expired(token["access_token"], client_expires_at=token["expires_at"])
    mailbox.inbox.refresh()
    assert ("token:refresh_token", 200) in operations(clean)


def test_confidential_authorization_code_credentials_refresh_themselves(clean, account, sandbox, apps, authority):
    """With client id and secret, exchangelib (requests-oauthlib) redeems the refresh token itself."""
    clean.add_fault({"kind": "token-expiry", "lifetime": 1, "operations": ["token:authorization_code"]})
    app = apps["confidential"]
    client = confidential_client(sandbox, app, authority)
    flow = client.initiate_auth_code_flow([EWS_SCOPE], redirect_uri="http://localhost", response_mode="query")
    result = client.acquire_token_by_auth_code_flow(flow, sign_in(flow["auth_uri"], sandbox.ca_bundle))
    credentials = at_sandbox(OAuth2AuthorizationCodeCredentials, sandbox)(
        client_id=app["client_id"], client_secret=app["client_secret"], tenant_id=app["tenant_id"],
        access_token=as_exchangelib_token(result))
    mailbox = account(credentials, ALICE)
    assert mailbox.inbox.total_count == 0
    token = credentials.access_token
    wait_until_expired(token["access_token"], client_expires_at=token["expires_at"])
    mailbox.inbox.refresh()
    assert ("token:refresh_token", 200) in operations(clean)
    assert credentials.access_token["access_token"] != result["access_token"]


def test_a_forged_token_is_refused_with_401(clean, account, sandbox, apps):
    genuine = app_token(sandbox, apps["confidential"])["access_token"]
    header = jwt.get_unverified_header(genuine)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(genuine), other_key, algorithm="RS256", headers={"kid": header["kid"],
                                                                                "x5t": header["x5t"]})
    refused = ews_with_bearer(sandbox, forged)
    assert refused.status_code == 401 and "invalid_signature" in refused.headers["x-ms-diagnostics"]
    assert ews_with_bearer(sandbox, "not-a-jwt").headers["x-ms-diagnostics"].startswith("2000001;")
    credentials = at_sandbox(OAuth2AuthorizationCodeCredentials, sandbox)(
        access_token={"access_token": forged, "token_type": "Bearer"})
    with pytest.raises(UnauthorizedError):
        account(credentials, ALICE).inbox


def test_an_app_with_graph_permissions_instead_of_exchanges_is_refused(clean, account, sandbox, apps, authority):
    app = apps["graph-only"]
    # A token for Exchange is issued, without roles; Exchange Online answers 401 (exchangelib issue 1065).
    for_exchange = app_token(sandbox, app)["access_token"]
    assert "roles" not in claims(for_exchange)
    refused = ews_with_bearer(sandbox, for_exchange)
    assert refused.status_code == 401 and "contains no permissions" in refused.headers["x-ms-diagnostics"]
    credentials = at_sandbox(OAuth2Credentials, sandbox)(client_id=app["client_id"],
                                                         client_secret=app["client_secret"],
                                                         tenant_id=app["tenant_id"],
                                                         identity=Identity(primary_smtp_address=ALICE))
    with pytest.raises(UnauthorizedError):
        account(credentials, ALICE, IMPERSONATION).inbox
    # A Microsoft Graph token presented to EWS: the wrong audience.
    for_graph = confidential_client(sandbox, app, authority).acquire_token_for_client(
        ["https://graph.microsoft.com/.default"])
    refused = ews_with_bearer(sandbox, for_graph["access_token"])
    assert refused.status_code == 401
    # Exchange Online names the claim, not its value (as its 401s to Graph tokens show)
    assert refused.headers["x-ms-diagnostics"] == ('2000003;reason="The audience claim value is invalid \'aud\'.";'
                                                   'error_category="invalid_resource"')


# ---- the command line and plain HTTP ---------------------------------------------------------

def _serve(db, *extra):
    process = subprocess.Popen([sys.executable, "-m", "ews_sandbox", "serve", "--db", str(db), "--json", *extra],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, json.loads(process.stdout.readline())


def test_cli_token_lifetime_ready_line_and_tokens_valid_across_processes(tmp_path):
    first, ready = _serve(tmp_path / "cli.db", "--seed", "empty", "--token-lifetime", "7")
    second, other = _serve(tmp_path / "cli.db")
    try:
        assert ready["authority"].startswith("https://127.0.0.1:")
        assert {app["kind"] for app in ready["apps"]} == {"confidential", "public", "graph-only"}
        daemon = next(app for app in ready["apps"] if app["kind"] == "confidential")
        answer = requests.post(f"{ready['authority']}/{daemon['tenant_id']}/oauth2/v2.0/token",
                               data={"grant_type": "client_credentials", "client_id": daemon["client_id"],
                                     "client_secret": daemon["client_secret"], "scope": EWS_APP_SCOPE},
                               verify=ready["ca_bundle"])
        assert answer.json()["expires_in"] == 7
        # The second process on the database shares the signing key: it accepts the token (and then
        # wants impersonation, as Exchange does for an app token).
        used = requests.post(other["ews_url"], data=b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
                             b'<s:Body><m:GetFolder xmlns:m="http://schemas.microsoft.com/exchange/services/2006/'
                             b'messages"/></s:Body></s:Envelope>', verify=other["ca_bundle"],
                             headers={"Authorization": f"Bearer {answer.json()['access_token']}"})
        assert b"ErrorInvalidExchangeImpersonationHeaderData" in used.content
    finally:
        for process in (first, second):
            process.terminate()
            process.wait(10)


def test_without_tls_there_is_no_authority(tmp_path):
    from ews_sandbox import Sandbox
    with Sandbox(db_path=tmp_path / "plain.db", seed="empty", tls=False) as plain:
        ready = plain.ready_line()
        assert ready["authority"] is None and len(ready["apps"]) == 3
        tenant = ready["apps"][0]["tenant_id"]
        assert requests.get(f"{plain.base_url}/{tenant}/v2.0/.well-known/openid-configuration").status_code == 404
        refused = requests.post(plain.ews_url, data=b"<x/>", headers={"Authorization": "Bearer abc"})
        assert refused.status_code == 401
        assert not any(value.startswith("Bearer") for value in refused.headers["WWW-Authenticate"].split(", "))


def test_a_delegated_token_may_not_carry_an_impersonation_header(clean, account, sandbox, apps):
    """exchangelib adds the header when access_type is IMPERSONATION, its default for an Account
    built from a config alone; Exchange Online refuses that for delegated tokens."""
    app = apps["public"]
    credentials = at_sandbox(OAuth2LegacyCredentials, sandbox)(
        username=BOB, password=PASSWORD, client_id=app["client_id"], client_secret=None, tenant_id=app["tenant_id"])
    with pytest.raises(ErrorInvalidExchangeImpersonationHeaderData, match="must not exist"):
        account(credentials, BOB, IMPERSONATION).inbox


# ---- a national cloud ----------------------------------------------------------------------

US_EXCHANGE = "https://outlook.office365.us"


@pytest.fixture
def national(sandbox, schema_check):
    """A second sandbox on the session's database (its users, apps, signing key and CA) that
    plays the US Government cloud: Exchange is known there as https://outlook.office365.us."""
    from ews_sandbox import Sandbox
    with Sandbox(db_path=sandbox.db_path, resource=US_EXCHANGE) as running:
        running.response_hook = schema_check
        yield running


def in_cloud(credentials_class, running, resource):
    """exchangelib hard-codes outlook.office365.com in its scopes: a national cloud's client points them
    at its own resource (as the bundle's ews_config does with EWS_SERVER)."""

    class InCloud(at_sandbox(credentials_class, running)):
        @property
        def scope(self):
            return [scope.replace("https://outlook.office365.com", resource) for scope in super().scope]

    return InCloud


def test_a_national_cloud_issues_tokens_for_its_own_resource_and_ews_takes_only_those(clean, national, sandbox,
                                                                                      apps):
    assert national.ready_line()["resource"] == US_EXCHANGE
    assert sandbox.ready_line()["resource"] == "https://outlook.office365.com"
    daemon = apps["confidential"]
    credentials = in_cloud(OAuth2Credentials, national, US_EXCHANGE)(
        client_id=daemon["client_id"], client_secret=daemon["client_secret"], tenant_id=daemon["tenant_id"],
        identity=Identity(primary_smtp_address=BOB))
    close_connections()
    config = Configuration(credentials=credentials, service_endpoint=national.ews_url, retry_policy=FailFast())
    assert Account(BOB, config=config, autodiscover=False, access_type=IMPERSONATION).inbox.total_count == 0
    us_token = app_token(national, daemon, f"{US_EXCHANGE}/.default")["access_token"]
    assert claims(us_token)["aud"] == US_EXCHANGE
    # The worldwide resource is unknown to this cloud's authority (as the national one is to the worldwide one).
    refused = token_request(national, daemon["tenant_id"], grant_type="client_credentials",
                            client_id=daemon["client_id"], client_secret=daemon["client_secret"],
                            scope=EWS_APP_SCOPE)
    assert refused.status_code == 400 and refused.json()["error_codes"] == [500011]
    assert token_request(sandbox, daemon["tenant_id"], grant_type="client_credentials", client_id=daemon["client_id"],
                         client_secret=daemon["client_secret"], scope=f"{US_EXCHANGE}/.default").status_code == 400
    # A token of the other cloud: 401, and the hostname message of Exchange's OAuth module.
    worldwide_token = app_token(sandbox, daemon)["access_token"]
    answer = ews_with_bearer(national, worldwide_token)
    assert answer.status_code == 401
    assert answer.headers["x-ms-diagnostics"] == (
        '2000003;reason="The hostname component of the audience claim value is invalid. Expected '
        "'https://outlook.office365.us'. Actual 'https://outlook.office365.com'.\";error_category=\"invalid_resource\"")
    assert answer.headers["WWW-Authenticate"].startswith('Bearer client_id="00000002-0000-0ff1-ce00-000000000000"')
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert "Actual 'https://outlook.office365.us'" in ews_with_bearer(sandbox, us_token).headers["x-ms-diagnostics"]
    # Exchange's application id is a name of the resource in every cloud.
    by_id = app_token(national, daemon, "00000002-0000-0ff1-ce00-000000000000/.default")["access_token"]
    assert b"ErrorInvalidExchangeImpersonationHeaderData" in ews_with_bearer(national, by_id).content


def test_a_national_clouds_delegated_sign_in_through_exchangelib(clean, national, apps):
    app = apps["public"]
    credentials = in_cloud(OAuth2LegacyCredentials, national, US_EXCHANGE)(
        username=ALICE, password=PASSWORD, client_id=app["client_id"], client_secret=None, tenant_id=app["tenant_id"])
    close_connections()
    config = Configuration(credentials=credentials, service_endpoint=national.ews_url, retry_policy=FailFast())
    account = Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE)
    assert account.inbox.total_count == 0
    assert {e["user"] for e in national.request_log.entries() if e["operation"] == "GetFolder"} == {ALICE}


def test_the_bundles_national_cloud_settings_end_to_end(clean, sandbox, apps, tmp_path):
    """scripts/ews_config.py takes the token's audience from EWS_SERVER's host and the authority from
    EWS_AUTHORITY_HOST: a sandbox known by its own host (as a national cloud's Exchange is by its
    own) serves the whole app-only sign-in of setup_oauth_client_credentials.py."""
    import os
    import socket
    from ews_sandbox import Sandbox
    with socket.socket() as probe:  # the resource names the port: pick it before the sandbox starts
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = apps["confidential"]
    with Sandbox(db_path=sandbox.db_path, port=port, resource=f"https://127.0.0.1:{port}") as cloud:
        env = {key: value for key, value in os.environ.items() if not key.startswith("EWS_")}
        env.update(HOME=str(tmp_path), EWS_AUTH="oauth-app", EWS_SERVER=f"127.0.0.1:{port}",
                   EWS_AUTHORITY_HOST=cloud.authority_url, EWS_CA_BUNDLE=cloud.ca_bundle, EWS_EMAIL=CAROL,
                   EWS_TENANT_ID=daemon["tenant_id"], EWS_CLIENT_ID=daemon["client_id"],
                   EWS_CLIENT_SECRET=daemon["client_secret"], EWS_RETRY_MAX_WAIT="0")
        result = subprocess.run([sys.executable, f"{ROOT}/scripts/setup_oauth_client_credentials.py", "--json"],
                                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["acting_as"] == CAROL
        log = cloud.request_log.entries()
        assert ("token:client_credentials", 200) in [(e["operation"], e["status"]) for e in log]
        assert {e["mailbox"] for e in log if e["operation"] == "GetFolder"} == {CAROL}


def test_cli_resource_option_and_ready_line(tmp_path):
    process, ready = _serve(tmp_path / "us.db", "--seed", "empty", "--resource", "https://partner.outlook.cn/")
    try:
        assert ready["resource"] == "https://partner.outlook.cn"
        daemon = next(app for app in ready["apps"] if app["kind"] == "confidential")
        answer = requests.post(f"{ready['authority']}/{daemon['tenant_id']}/oauth2/v2.0/token",
                               data={"grant_type": "client_credentials", "client_id": daemon["client_id"],
                                     "client_secret": daemon["client_secret"],
                                     "scope": "https://partner.outlook.cn/.default"}, verify=ready["ca_bundle"])
        assert claims(answer.json()["access_token"])["aud"] == "https://partner.outlook.cn"
    finally:
        process.terminate()
        process.wait(10)
    refused = subprocess.run([sys.executable, "-m", "ews_sandbox", "serve", "--db", str(tmp_path / "x.db"),
                              "--resource", "http://outlook.office365.us/EWS"], cwd=ROOT, capture_output=True,
                             text=True, timeout=30)
    assert refused.returncode == 2 and "--resource" in refused.stderr
