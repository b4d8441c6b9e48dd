"""The authority's HTTP face: a WSGI app for the paths of login.microsoftonline.com,
`/{tenant}/...` (tenant id, a verified domain, `common` or `organizations`), plus the
device-code verification page. Every call lands in the sandbox's request log under an
operation name (`token:client_credentials`, `authorize`, ...), never with its secrets."""
import time
from urllib.parse import parse_qs

from . import metadata, signin, token_endpoint
from .errors import OAuthError, unknown_tenant
from ..request_body import BodyTooLarge, ClientGone, close_after_answer, read_body
from .web import Answer, Call

ROUTES = {  # (method, path after the tenant) -> (operation name, handler)
    ("GET", "v2.0/.well-known/openid-configuration"): ("openid-configuration", metadata.openid_configuration),
    ("GET", "discovery/v2.0/keys"): ("keys", metadata.keys),
    ("GET", "discovery/instance"): ("instance-discovery", metadata.instance_discovery),
    ("GET", "oauth2/v2.0/authorize"): ("authorize", signin.authorize),
    ("POST", "oauth2/v2.0/authorize"): ("authorize", signin.authorize),
    ("POST", "oauth2/v2.0/token"): ("token", token_endpoint.token),
    ("POST", "oauth2/v2.0/devicecode"): ("devicecode", token_endpoint.devicecode),
}
DEVICE_LOGIN = "/devicelogin"
FORM_LIMIT = 1024 * 1024  # sign-in forms and token requests are small; nobody needs more


class AuthorityApp:
    def __init__(self, authority):
        self.authority = authority

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        try:
            body = read_body(environ, limit=FORM_LIMIT)  # chunked too: some clients post forms so
        except BodyTooLarge:
            close_after_answer(environ)
            return _send(start_response, Answer("413 Request Entity Too Large", b"Request too large.\n", "text/plain"))
        except ClientGone:
            return _send(start_response, Answer("408 Request Timeout", b"Request timed out.\n", "text/plain"))
        route = self._route(environ)
        if route is None:
            return _send(start_response, Answer("404 Not Found", b"Not found.\n", "text/plain"))
        tenant, operation, handler = route
        call = Call(environ, tenant, _fields(environ.get("QUERY_STRING", "")),
                    _fields(body.decode("utf-8", "replace")) if _is_form(environ) else {}, operation)
        answer = self._answer(call, handler)
        self.authority.log(call.operation, int(answer.status.split()[0]), len(body), len(answer.body), started,
                           call.user)
        return _send(start_response, answer)

    def _route(self, environ):
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") == DEVICE_LOGIN and environ["REQUEST_METHOD"] in ("GET", "POST"):
            return None, "devicelogin", signin.device_login
        tenant, _, rest = path.lstrip("/").partition("/")
        if tenant == "common" and rest.startswith("userrealm/") and environ["REQUEST_METHOD"] == "GET":
            return tenant, "userrealm", metadata.user_realm
        found = ROUTES.get((environ["REQUEST_METHOD"], rest.rstrip("/")))
        if found is None and rest.rstrip("/") == "oauth2/v2.0/token":
            found = ("token", token_endpoint.wrong_method)
        return (tenant, *found) if found else None

    def _answer(self, call, handler):
        try:
            if call.tenant is not None and not self.authority.knows_tenant(call.tenant):
                raise unknown_tenant(call.tenant)
            return handler(self.authority, call)
        except OAuthError as error:
            return Answer(f"{error.status} {'Unauthorized' if error.status == 401 else 'Bad Request'}",
                          error.body(call.header("client-request-id")))


def _fields(text):
    return {name: values[0] for name, values in parse_qs(text, keep_blank_values=True).items()}


def _is_form(environ):
    return environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


def _send(start_response, answer):
    headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body))),
               ("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")] + answer.headers
    start_response(answer.status, headers)
    return [answer.body]
