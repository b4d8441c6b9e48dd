"""Admin API routes of the authority, added to the sandbox's admin API (same token,
loopback only):

GET  /_sandbox/device-codes          device codes waiting for a user: user_code, client_id, expires_in
POST /_sandbox/device-codes/approve  {"user_code": CODE, "email": EMAIL}: EMAIL signs in and approves
POST /_sandbox/device-codes/decline  {"user_code": CODE}: the user declines
"""
from .. import admin
from .grants import DeviceCodeError


def _authority(sandbox):
    if sandbox.authority is None:
        raise admin.AdminError("404 Not Found", "the OAuth authority runs only with TLS (not with --no-tls)")
    return sandbox.authority


def _pending(sandbox, body):
    return _authority(sandbox).device_codes.pending()


def _answer(sandbox, body, approve):
    authority = _authority(sandbox)
    body = body if isinstance(body, dict) else {}
    email = body.get("email")
    if not body.get("user_code") or (approve and not email):
        raise admin.AdminError("400 Bad Request", 'send {"user_code": CODE, "email": EMAIL}' if approve
                               else 'send {"user_code": CODE}')
    user = authority.user(email) if approve else None
    if approve and user is None:
        raise admin.AdminError("404 Not Found", f"no sandbox user {email}")
    try:
        grant = authority.device_codes.answer(body["user_code"], user["email"] if user else None)
    except DeviceCodeError as e:
        raise admin.AdminError("400 Bad Request", str(e))
    return {"user_code": grant.user_code, "client_id": grant.client_id, "status": grant.status, "email": grant.email}


def _approve(sandbox, body):
    return _answer(sandbox, body, approve=True)


def _decline(sandbox, body):
    return _answer(sandbox, body, approve=False)


def register():
    admin.ROUTES.update({
        ("GET", "/_sandbox/device-codes"): _pending,
        ("POST", "/_sandbox/device-codes/approve"): _approve,
        ("POST", "/_sandbox/device-codes/decline"): _decline,
    })
