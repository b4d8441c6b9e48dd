"""The admin API under /_sandbox/: JSON, loopback only, every call with X-Admin-Token.

GET    /_sandbox/requests   the request log, oldest first
DELETE /_sandbox/requests   clear it
POST   /_sandbox/reset      {"seed": "demo" | "empty"}: wipe and seed the database
GET    /_sandbox/faults     active faults
POST   /_sandbox/faults     add faults: one spec or a list (strings or objects)
DELETE /_sandbox/faults     remove all faults
POST   /_sandbox/delegates  {"owner": EMAIL, "delegate": EMAIL}: grant access to owner's mailbox
DELETE /_sandbox/delegates  the same body: revoke it
GET    /_sandbox/users      the directory: users (with passwords), rooms and distribution lists

Extending the directory (README: "Extending the directory"):
POST   /_sandbox/users                       {"email", "name", "password", "locale"?}: a user and mailbox
POST   /_sandbox/rooms                       {"email", "name", "password"?}: a room mailbox
POST   /_sandbox/distribution-lists          {"email", "name", "members": [EMAIL, ...]}
POST   /_sandbox/distribution-lists/members  {"list": EMAIL, "members": [EMAIL, ...]}: add members
POST   /_sandbox/room-lists                  {"email", "name", "members": [ROOM, ...]}
POST   /_sandbox/contacts                    {"owner", "name", "email", ...}: a contact in owner's Contacts
POST   /_sandbox/folder-permissions          {"owner", "folder", "user", "level"}
DELETE /_sandbox/folder-permissions          {"owner", "folder", "user"}
POST   /_sandbox/directory                   {"users": [...], "rooms": [...], ...}: several of the above

Seeding mail (inbound.py; README: "Delivering mail for tests"):
POST   /_sandbox/messages   {"mailbox", "folder"?, "from"?, "subject"?, "received"?, "mime"?, ...} or a list
"""
import hmac
import json
import re

from lxml import etree

from . import inbound
from .faults import FaultSpecError, parse_spec
from .model import directory, folder_access, folders, items
from .model.ids import ITEM, encode
from .wire.errors import EWSError
from .wire.ns import T, t
from .wire.schema_order import DISTINGUISHED_FOLDER_IDS
from .request_body import BodyTooLarge, ClientGone, leave_unread, read_body

LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
BODY_LIMIT = 1024 * 1024
MESSAGES_BODY_LIMIT = 64 * 1024 * 1024  # POST /_sandbox/messages carries attachments


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
        limit = MESSAGES_BODY_LIMIT if handler is _deliver_messages else BODY_LIMIT
        result = handler(sandbox, _json_body(environ, limit))
        return _answer(start_response, "200 OK", result)
    except AdminError as e:
        leave_unread(environ)
        return _answer(start_response, e.status, {"error": str(e)})


def _json_body(environ, limit=BODY_LIMIT):
    try:
        body = read_body(environ, limit=limit)
    except BodyTooLarge:
        raise AdminError("400 Bad Request", f"the body is over {limit} bytes")
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
        return [_entry(row) for row in directory.entries(conn)]


def _entry(row):
    if row["kind"] == "dl":
        return {"email": row["email"], "name": row["name"], "kind": "dl", "members": directory.dl_members(row),
                "room_list": bool(row["room_list"])}
    return {"email": row["email"], "name": row["name"], "kind": row["kind"], "password": row["password"]}


# ---- extending the directory ----
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _fields(body, required, optional=()):
    """The body's fields, each a string (members: a list of addresses); 400 naming what is wrong."""
    if not isinstance(body, dict):
        raise AdminError("400 Bad Request", f"send a JSON object with {', '.join(required)}")
    unknown = set(body) - set(required) - set(optional)
    if unknown:
        raise AdminError("400 Bad Request", f"unknown field(s): {', '.join(sorted(unknown))}")
    for name in required:
        if body.get(name) in (None, "", []):
            raise AdminError("400 Bad Request", f"{name} is required")
    for name, value in body.items():
        if name == "members":
            if not isinstance(value, list) or not all(isinstance(v, str) and EMAIL.match(v) for v in value):
                raise AdminError("400 Bad Request", "members must be a list of email addresses")
        elif value is not None and not isinstance(value, str):
            raise AdminError("400 Bad Request", f"{name} must be a string")
        elif name in ("email", "owner", "user", "list") and value and not EMAIL.match(value):
            raise AdminError("400 Bad Request", f"{name}: {value!r} is not an email address")
    return body


def _new_address(conn, email):
    if directory.entry_by_email(conn, email) is not None:
        raise AdminError("409 Conflict", f"{email} is already in the directory")


def _known(conn, email, find=directory.user_by_email, what="sandbox user"):
    row = find(conn, email)
    if row is None:
        raise AdminError("404 Not Found", f"no {what} {email}")
    return row


def _new_mailbox(conn, mailbox_id, locale):
    try:
        folders.create_mailbox(conn, mailbox_id, locale=locale or "en-US")
    except (ValueError, EWSError) as e:
        raise AdminError("400 Bad Request", f"locale: {e}")


def _add_user(sandbox, body):
    body = _fields(body, ("email", "name", "password"), ("locale",))
    with sandbox.database.transaction() as conn:
        _new_address(conn, body["email"])
        user_id = directory.add_user(conn, body["email"], body["name"], body["password"])
        _new_mailbox(conn, user_id, body.get("locale"))
        row = directory.user_by_id(conn, user_id)
    sandbox.authenticator.refresh_users()  # NTLM checks its own file
    return {**_entry(row), **({"locale": body["locale"]} if body.get("locale") else {})}


def _add_room(sandbox, body):
    body = _fields(body, ("email", "name"), ("password", "locale"))
    with sandbox.database.transaction() as conn:
        _new_address(conn, body["email"])
        room_id = directory.add_room(conn, body["email"], body["name"], body.get("password"))
        _new_mailbox(conn, room_id, body.get("locale"))
        row = directory.user_by_id(conn, room_id)
    sandbox.authenticator.refresh_users()
    return _entry(row)


def _add_list(sandbox, body, room_list=False):
    body = _fields(body, ("email", "name"), ("members",))
    with sandbox.database.transaction() as conn:
        _new_address(conn, body["email"])
        if room_list:
            for member in body.get("members") or []:
                _known(conn, member, _room_or_room_list, "room or room list")
        list_id = directory.add_distribution_list(conn, body["email"], body["name"], body.get("members") or [],
                                                  room_list)
        return _entry(directory.user_by_id(conn, list_id))


def _room_or_room_list(conn, email):
    row = directory.entry_by_email(conn, email)
    return row if row is not None and (row["kind"] == "room" or (row["kind"] == "dl" and row["room_list"])) else None


def _add_room_list(sandbox, body):
    return _add_list(sandbox, body, room_list=True)


def _add_list_members(sandbox, body):
    body = _fields(body, ("list", "members"))
    with sandbox.database.transaction() as conn:
        row = _known(conn, body["list"], _dl, "distribution list")
        if row["room_list"]:
            for member in body["members"]:
                _known(conn, member, _room_or_room_list, "room or room list")
        directory.add_members(conn, row, body["members"])
        return _entry(directory.user_by_id(conn, row["id"]))


def _dl(conn, email):
    row = directory.entry_by_email(conn, email)
    return row if row is not None and row["kind"] == "dl" else None


CONTACT_FIELDS = ("given_name", "surname", "company", "phone")


def _add_contact(sandbox, body):
    body = _fields(body, ("owner", "name"), ("email",) + CONTACT_FIELDS)
    with sandbox.database.transaction() as conn:
        owner = _known(conn, body["owner"])
        folder = folders.distinguished(conn, owner["id"], "contacts")
        row = items.insert(conn, folder, _contact_element(body))
        return {"owner": owner["email"], "name": body["name"], "email": body.get("email"),
                "item_id": encode(ITEM, owner["id"], row["id"])}


def _contact_element(body):
    """A t:Contact with its children in schema order."""
    contact = etree.Element(t("Contact"), nsmap={"t": T})
    etree.SubElement(contact, t("DisplayName")).text = body["name"]
    if body.get("given_name"):
        etree.SubElement(contact, t("GivenName")).text = body["given_name"]
    if body.get("company"):
        etree.SubElement(contact, t("CompanyName")).text = body["company"]
    if body.get("email"):
        addresses = etree.SubElement(contact, t("EmailAddresses"))
        etree.SubElement(addresses, t("Entry"), Key="EmailAddress1").text = body["email"]
    if body.get("phone"):
        phones = etree.SubElement(contact, t("PhoneNumbers"))
        etree.SubElement(phones, t("Entry"), Key="BusinessPhone").text = body["phone"]
    if body.get("surname"):
        etree.SubElement(contact, t("Surname")).text = body["surname"]
    return contact


def _permission_target(conn, body):
    owner = _known(conn, body["owner"])
    if body["folder"] not in DISTINGUISHED_FOLDER_IDS:
        raise AdminError("400 Bad Request", f"folder: {body['folder']!r} is not a distinguished folder id "
                                            "(calendar, inbox, contacts, ...)")
    try:
        return folders.distinguished(conn, owner["id"], body["folder"])
    except EWSError:
        raise AdminError("404 Not Found", f"{owner['email']} has no folder {body['folder']}")


def _grant_folder_permission(sandbox, body):
    body = _fields(body, ("owner", "folder", "user", "level"))
    with sandbox.database.transaction() as conn:
        folder = _permission_target(conn, body)
        user = _known(conn, body["user"])
        if body["level"] not in folder_access.levels_for(folder):
            raise AdminError("400 Bad Request", f"level must be one of {', '.join(folder_access.levels_for(folder))}")
        folder_access.grant(conn, folder, user, body["level"])
    return {"owner": body["owner"], "folder": body["folder"], "user": body["user"], "level": body["level"]}


def _revoke_folder_permission(sandbox, body):
    body = _fields(body, ("owner", "folder", "user"))
    with sandbox.database.transaction() as conn:
        folder_access.revoke(conn, _permission_target(conn, body), body["user"])
    return {"owner": body["owner"], "folder": body["folder"], "user": body["user"], "level": None}


# POST /_sandbox/directory: sections in this order, so that lists may name the users and
# rooms made before them (the same document as `serve --directory FILE`).
DIRECTORY_SECTIONS = {
    "users": _add_user, "rooms": _add_room, "distribution_lists": _add_list, "room_lists": _add_room_list,
    "contacts": _add_contact, "delegates": _grant, "folder_permissions": _grant_folder_permission,
}


def apply_directory(sandbox, body, skip_existing=False):
    """Every entry of a directory document; `skip_existing` passes over addresses already
    in the directory (a restarted `serve --directory`)."""
    if not isinstance(body, dict) or set(body) - set(DIRECTORY_SECTIONS):
        raise AdminError("400 Bad Request", f"send an object with any of {', '.join(DIRECTORY_SECTIONS)}")
    done = {}
    for section, add in DIRECTORY_SECTIONS.items():
        entries = body.get(section) or []
        if not isinstance(entries, list):
            raise AdminError("400 Bad Request", f"{section} must be a list")
        done[section] = []
        for entry in entries:
            try:
                done[section].append(add(sandbox, entry))
            except AdminError as e:
                if not (skip_existing and e.status.startswith("409")):
                    raise AdminError(e.status, f"{section}: {e}")
    return done


def _directory(sandbox, body):
    return apply_directory(sandbox, body)


def _deliver_messages(sandbox, body):
    """Messages from outside into mailboxes, all in one transaction (one refusal: none lands)."""
    try:
        with sandbox.database.transaction() as conn:
            return inbound.deliver_all(conn, body)
    except inbound.InboundError as e:
        raise AdminError(e.status, str(e))
    except EWSError as e:  # a value the item checks refuse (a date Exchange cannot store, ...)
        raise AdminError("400 Bad Request", f"{e.code}: {e}")


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
    ("POST", "/_sandbox/users"): _add_user,
    ("POST", "/_sandbox/rooms"): _add_room,
    ("POST", "/_sandbox/distribution-lists"): _add_list,
    ("POST", "/_sandbox/distribution-lists/members"): _add_list_members,
    ("POST", "/_sandbox/room-lists"): _add_room_list,
    ("POST", "/_sandbox/contacts"): _add_contact,
    ("POST", "/_sandbox/folder-permissions"): _grant_folder_permission,
    ("DELETE", "/_sandbox/folder-permissions"): _revoke_folder_permission,
    ("POST", "/_sandbox/directory"): _directory,
    ("POST", "/_sandbox/messages"): _deliver_messages,
}
