"""The admin API under /_sandbox/: JSON, loopback only, every call with X-Admin-Token.

GET    /_sandbox/requests   the request log, oldest first
DELETE /_sandbox/requests   clear it
POST   /_sandbox/reset      {"seed": "demo" | "empty"}: wipe and seed the database
GET    /_sandbox/faults     active faults
POST   /_sandbox/faults     add faults: one spec or a list (strings or objects)
DELETE /_sandbox/faults     remove all faults
POST   /_sandbox/delegates  {"owner": EMAIL, "delegate": EMAIL}: grant access to owner's mailbox
DELETE /_sandbox/delegates  the same body: revoke it
GET    /_sandbox/users      the directory: users (with passwords) and distribution lists
"""
import hmac
import json

from .faults import FaultSpecError, parse_spec
from .model import directory
from .request_body import BodyTooLarge, ClientGone, leave_unread, read_body

LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
BODY_LIMIT = 1024 * 1024


class AdminError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def handle(sandbox, environ, start_response):
    try:
        if environ.get("REMOTE_ADDR") not in LOOPBACK:
            raise AdminError("403 Forbidden", "the admin API answers loopback callers only")
        token = environ.get("HTTP_X_ADMIN_TOKEN", "")
        if not hmac.compare_digest(token.encode(), sandbox.admin_token.encode()):
            raise AdminError("403 Forbidden", "missing or wrong X-Admin-Token")
        route = (environ["REQUEST_METHOD"], environ["PATH_INFO"].rstrip("/"))
        handler = ROUTES.get(route)
        if handler is None:
            raise AdminError("404 Not Found", f"no admin route {route[0]} {route[1]}")
        result = handler(sandbox, _json_body(environ))
        return _answer(start_response, "200 OK", result)
    except AdminError as e:
        leave_unread(environ)
        return _answer(start_response, e.status, {"error": str(e)})


def _json_body(environ):
    try:
        body = read_body(environ, limit=BODY_LIMIT)
    except BodyTooLarge:
        raise AdminError("400 Bad Request", f"the body is over {BODY_LIMIT} bytes")
    except ClientGone:
        raise AdminError("408 Request Timeout", "the body did not arrive")
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError as e:
        raise AdminError("400 Bad Request", f"the body is not JSON: {e}")


def _answer(start_response, status, result):
    payload = json.dumps(result).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def _requests(sandbox, body):
    return sandbox.request_log.entries()


def _clear_requests(sandbox, body):
    sandbox.request_log.clear()
    return {"cleared": True}


def _reset(sandbox, body):
    seed = (body or {}).get("seed", "demo")
    if seed not in ("demo", "empty"):
        raise AdminError("400 Bad Request", "seed must be 'demo' or 'empty'")
    sandbox.reset(seed)
    return {"seed": seed, "users": sandbox.users}


def _faults(sandbox, body):
    return sandbox.faults.listing()


def _add_faults(sandbox, body):
    specs = body if isinstance(body, list) else [body]
    try:
        parsed = [parse_spec(spec) for spec in specs]
    except FaultSpecError as e:
        raise AdminError("400 Bad Request", str(e))
    for fault in parsed:
        sandbox.faults.add(fault)
    return sandbox.faults.listing()


def _clear_faults(sandbox, body):
    sandbox.faults.clear()
    return []


def _delegate_pair(body):
    if not isinstance(body, dict) or not body.get("owner") or not body.get("delegate"):
        raise AdminError("400 Bad Request", 'send {"owner": EMAIL, "delegate": EMAIL}')
    return body["owner"], body["delegate"]


def _grant(sandbox, body):
    owner, delegate = _delegate_pair(body)
    with sandbox.database.transaction() as conn:
        try:
            directory.grant_delegate(conn, owner, delegate)
        except KeyError as e:
            raise AdminError("404 Not Found", f"no sandbox user {e.args[0]}")
    return {"owner": owner, "delegate": delegate, "granted": True}


def _revoke(sandbox, body):
    owner, delegate = _delegate_pair(body)
    with sandbox.database.transaction() as conn:
        directory.revoke_delegate(conn, owner, delegate)
    return {"owner": owner, "delegate": delegate, "granted": False}


def _users(sandbox, body):
    with sandbox.database.reading() as conn:
        return [{"email": row["email"], "name": row["name"], "kind": row["kind"],
                 **({"password": row["password"]} if row["kind"] == "user" else
                    {"members": directory.dl_members(row)})} for row in directory.entries(conn)]


ROUTES = {
    ("GET", "/_sandbox/requests"): _requests,
    ("DELETE", "/_sandbox/requests"): _clear_requests,
    ("POST", "/_sandbox/reset"): _reset,
    ("GET", "/_sandbox/faults"): _faults,
    ("POST", "/_sandbox/faults"): _add_faults,
    ("DELETE", "/_sandbox/faults"): _clear_faults,
    ("POST", "/_sandbox/delegates"): _grant,
    ("DELETE", "/_sandbox/delegates"): _revoke,
    ("GET", "/_sandbox/users"): _users,
}
