"""The pages a person (or a test, with `requests`) goes through: the authorization
endpoint's sign-in form and the device-code verification page.

/{tenant}/oauth2/v2.0/authorize  GET shows a sign-in form (username from login_hint); POST
    the form's `login` and `passwd` (the field names Entra ID's own form uses) to the same
    URL, query string kept, and the answer goes to the redirect URI: a 302 with `code` and
    `state` (response_mode query or fragment) or a page that posts them (form_post). A
    successful sign-in sets a session cookie: later GETs with it (and no prompt=login)
    answer at once, as single sign-on does; prompt=none without it gets login_required.
/devicelogin  GET shows a form for the code and the password; POST approves the code.
"""
import hmac
import time
from html import escape
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlencode, urlsplit

import jwt

from . import scopes
from .errors import OAuthError
from .grants import DeviceCodeError
from .web import html_answer, redirect

SESSION_COOKIE = "ESTSAUTH"
SESSION_LIFETIME = 8 * 3600
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


# ---- the authorization endpoint ----
def authorize(authority, call):
    params = call.query  # a POSTed sign-in keeps the request in the action URL's query string
    app = authority.find_app(params.get("client_id"))
    if app is None:
        return _error_page(700016, f"Application with identifier '{params.get('client_id')}' was not found in the "
                                   f"directory '{authority.tenant_id}'.")
    redirect_uri = params.get("redirect_uri", "")
    if not _is_registered(app, redirect_uri):
        return _error_page(50011, f"The redirect URI '{redirect_uri}' specified in the request does not match the "
                                  f"redirect URIs configured for the application '{app.client_id}'. Make sure the "
                                  "redirect URI sent in the request matches one added to your application in the "
                                  "Azure portal.")
    reply = _Reply(redirect_uri, params.get("response_mode") or "query", params.get("state"))
    refusal = _refusal(authority, app, params)
    if refusal:
        return reply.error(*refusal)
    user, set_cookie = _signed_in_user(authority, call)
    if user is None:
        if params.get("prompt") == "none":
            return reply.error("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
        failed = call.method == "POST"
        return _sign_in_form(call, app, call.form.get("login") or params.get("login_hint", ""), failed)
    call.user = user["email"]
    code = authority.codes.issue(client_id=app.client_id, redirect_uri=redirect_uri, scope=params["scope"],
                                 email=user["email"], code_challenge=params.get("code_challenge"),
                                 code_challenge_method=params.get("code_challenge_method"), nonce=params.get("nonce"))
    return reply.code(code, [("Set-Cookie", set_cookie)] if set_cookie else [])


def _refusal(authority, app, params):
    """(error, AADSTS code, text) when the request itself is wrong, before anyone signs in."""
    if params.get("response_type") != "code":
        return ("unsupported_response_type", 700054,
                f"response_type '{params.get('response_type')}' is not enabled for the application.")
    if not params.get("scope"):
        return "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
    try:
        scopes.parse(params["scope"], authority.tenant_id, authority.resources).granted_scopes(app)
    except OAuthError as refused:
        return ("consent_required" if refused.code == 65001 else refused.error), refused.code, refused.text
    return None


def _signed_in_user(authority, call):
    """(user, Set-Cookie value or None): from the posted form, else from the session cookie."""
    if call.method == "POST":
        user = _check_password(authority, call.form.get("login"), call.form.get("passwd"))
        return user, _session_cookie(authority, user) if user else None
    if call.query.get("prompt") == "login":
        return None, None
    user = _session_user(authority, call.header("Cookie"))
    hint = call.query.get("login_hint")
    if user is not None and hint and hint.casefold() != user["email"].casefold():
        return None, None  # signed in as someone else: show the form for the hinted user
    return user, None


class _Reply:
    """Sends the outcome back to the app's redirect URI, the way response_mode asks."""

    def __init__(self, redirect_uri, mode, state):
        self.redirect_uri, self.mode, self.state = redirect_uri, mode, state

    def code(self, code, headers):
        return self._send({"code": code, "state": self.state}, headers)

    def error(self, error, number, text):
        return self._send({"error": error, "error_description": f"AADSTS{number}: {text}", "state": self.state}, [])

    def _send(self, fields, headers):
        fields = {name: value for name, value in fields.items() if value is not None}
        if self.mode == "form_post":
            inputs = "".join(f'<input type="hidden" name="{escape(name)}" value="{escape(value)}"/>'
                             for name, value in fields.items())
            return html_answer("Working...", f'<form method="POST" name="hiddenform" action="'
                                             f'{escape(self.redirect_uri)}">{inputs}<noscript><p>Script is disabled. '
                                             'Click Submit to continue.</p><input type="submit" value="Submit"/>'
                                             '</noscript></form><script>document.forms[0].submit();</script>',
                               headers=headers)
        separator = "#" if self.mode == "fragment" else ("&" if "?" in self.redirect_uri else "?")
        return redirect(self.redirect_uri + separator + urlencode(fields), headers)


def _is_registered(app, redirect_uri):
    """Exact match, except that a loopback http URI may use any port (Entra ID's localhost exception).
    Whitespace and control characters never match: urlsplit drops CR and LF, which the
    302's Location header would then carry as headers of their own."""
    if not redirect_uri or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in redirect_uri):
        return False
    try:
        asked = urlsplit(redirect_uri)
        asked.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return False
    for registered in map(urlsplit, app.redirect_uris):
        same_place = (asked.scheme, asked.hostname, asked.path.rstrip("/")) == (
            registered.scheme, registered.hostname, registered.path.rstrip("/"))
        loopback = asked.scheme == "http" and asked.hostname in LOOPBACK_HOSTS
        if same_place and (loopback or asked.port == registered.port):
            return True
    return False


def _sign_in_form(call, app, login, failed):
    action = escape(f"{call.environ.get('PATH_INFO', '')}?{call.environ.get('QUERY_STRING', '')}")
    warning = "<p role=\"alert\">Your account or password is incorrect.</p>" if failed else ""
    return html_answer("Sign in to your account", f"""<h1>Sign in</h1>
<p>{escape(app.name)} wants to read and write your mailbox in the EWS sandbox.</p>{warning}
<form method="post" action="{action}">
<label>Email <input type="email" name="login" value="{escape(login)}"></label>
<label>Password <input type="password" name="passwd"></label>
<input type="submit" value="Sign in"></form>""")


def _error_page(number, text):
    return html_answer("Sign in to your account", f"<h1>Sorry, but we're having trouble signing you in.</h1>"
                                                  f"<p>AADSTS{number}: {escape(text)}</p>", status="400 Bad Request")


# ---- the device-code verification page ----
def device_login(authority, call):
    if call.method == "GET":
        return _device_form()
    user = _check_password(authority, call.form.get("login"), call.form.get("passwd"))
    if user is None:
        return _device_form("Your account or password is incorrect.")
    try:
        grant = authority.device_codes.answer(call.form.get("otc"), user["email"])
    except DeviceCodeError:
        return _device_form("That code didn't work. Check the code and try again.")
    call.user = user["email"]
    app = authority.find_app(grant.client_id)
    return html_answer("Signed in", f"<p>You have signed in to the {escape(app.name if app else grant.client_id)} "
                                    "application on your device. You may now close this window.</p>")


def _device_form(warning=None):
    alert = f"<p role=\"alert\">{escape(warning)}</p>" if warning else ""
    return html_answer("Enter code", f"""<h1>Enter code</h1>{alert}
<form method="post" action="/devicelogin">
<label>Code <input name="otc"></label>
<label>Email <input type="email" name="login"></label>
<label>Password <input type="password" name="passwd"></label>
<input type="submit" value="Next"></form>""")


# ---- who is signed in ----
def _check_password(authority, login, password):
    user = authority.user(login or "")
    if user is None or not hmac.compare_digest((user["password"] or "").encode(), (password or "").encode()):
        return None
    return user


def _session_cookie(authority, user):
    value = authority.key.sign({"token_use": "session", "upn": user["email"],
                                "exp": int(time.time()) + SESSION_LIFETIME})
    return f"{SESSION_COOKIE}={value}; path=/; secure; HttpOnly; SameSite=None"


def _session_user(authority, cookie_header):
    try:
        morsel = SimpleCookie(cookie_header or "").get(SESSION_COOKIE)
    except CookieError:
        return None
    if morsel is None:
        return None
    try:
        claims = authority.key.verify(morsel.value)
    except jwt.InvalidTokenError:
        return None
    if claims.get("token_use") != "session" or claims.get("exp", 0) <= time.time():
        return None
    return authority.user(claims["upn"])
