"""The sandbox's directory: users and rooms (each with a mailbox), distribution lists
(some flagged as room lists), delegates.

As Exchange has them: a room is a mailbox of type room (no password unless one is given:
its account is normally disabled); a room list is a distribution list flagged as one,
whose members are rooms (GetRooms reads them)."""
import json

from ..wire.errors import EWSError

MAILBOX_KINDS = ("user", "room")


def add_user(conn, email, name, password, kind="user"):
    cursor = conn.execute("INSERT INTO users(email, name, password, kind) VALUES (?, ?, ?, ?)",
                          (email, name, password, kind))
    return cursor.lastrowid


def add_room(conn, email, name, password=None):
    return add_user(conn, email, name, password, kind="room")


def add_distribution_list(conn, email, name, members, room_list=False):
    cursor = conn.execute("INSERT INTO users(email, name, kind, members, room_list) VALUES (?, ?, 'dl', ?, ?)",
                          (email, name, json.dumps(members), int(room_list)))
    return cursor.lastrowid


def add_members(conn, list_row, members):
    """Append members to a distribution list, each once (a list may contain itself or loop)."""
    current = dl_members(list_row)
    known = {member.casefold() for member in current}
    current += [member for member in members if member.casefold() not in known]
    conn.execute("UPDATE users SET members = ? WHERE id = ?", (json.dumps(current), list_row["id"]))
    return current


def entry_by_email(conn, email):
    """Any directory entry: user, room or list."""
    return conn.execute("SELECT * FROM users WHERE email = ?", ((email or "").strip(),)).fetchone()


def user_by_email(conn, email):
    """The owner of a mailbox (a user or a room), by address."""
    return conn.execute("SELECT * FROM users WHERE email = ? AND kind IN ('user', 'room')",
                        ((email or "").strip(),)).fetchone()


def user_by_id(conn, user_id):
    return conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()


def users(conn):
    """People: the users who sign in (rooms and lists left out)."""
    return conn.execute("SELECT * FROM users WHERE kind = 'user' ORDER BY id").fetchall()


def accounts(conn):
    """Mailbox owners who can sign in: users, and rooms given a password."""
    return conn.execute("SELECT * FROM users WHERE kind IN ('user', 'room') AND password IS NOT NULL "
                        "ORDER BY id").fetchall()


def rooms(conn):
    return conn.execute("SELECT * FROM users WHERE kind = 'room' ORDER BY id").fetchall()


def room_lists(conn):
    return conn.execute("SELECT * FROM users WHERE kind = 'dl' AND room_list = 1 ORDER BY id").fetchall()


def entries(conn):
    """Every user and distribution list, for name resolution."""
    return conn.execute("SELECT * FROM users ORDER BY kind DESC, id").fetchall()


def dl_members(row):
    return json.loads(row["members"] or "[]")


def expand_recipients(conn, addresses):
    """Sandbox users behind a list of addresses, distribution lists expanded, each once."""
    seen, found = set(), []
    pending = list(addresses)
    while pending:
        address = pending.pop(0)
        row = conn.execute("SELECT * FROM users WHERE email = ?", (address,)).fetchone()
        if row is None or row["id"] in seen:
            continue
        seen.add(row["id"])
        if row["kind"] == "dl":
            pending += dl_members(row)
        else:
            found.append(row)
    return found


def grant_delegate(conn, owner_email, delegate_email):
    owner, delegate = user_by_email(conn, owner_email), user_by_email(conn, delegate_email)
    if owner is None or delegate is None:
        raise KeyError(owner_email if owner is None else delegate_email)
    conn.execute("INSERT OR IGNORE INTO delegates(owner_id, delegate_id) VALUES (?, ?)", (owner["id"], delegate["id"]))


def revoke_delegate(conn, owner_email, delegate_email):
    owner, delegate = user_by_email(conn, owner_email), user_by_email(conn, delegate_email)
    if owner is not None and delegate is not None:
        conn.execute("DELETE FROM delegates WHERE owner_id = ? AND delegate_id = ?", (owner["id"], delegate["id"]))


def check_access(conn, actor_id, mailbox_id):
    """A user opens their own mailbox, or one whose owner granted them delegate access."""
    if actor_id == mailbox_id:
        return
    granted = conn.execute("SELECT 1 FROM delegates WHERE owner_id = ? AND delegate_id = ?",
                           (mailbox_id, actor_id)).fetchone()
    if granted is None:
        raise EWSError("ErrorAccessDenied")


def mailbox_id_for_address(conn, email):
    """The mailbox an address names (access is the caller's to check)."""
    row = user_by_email(conn, email)
    if row is None:
        raise EWSError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
    return row["id"]


def mailbox_for_address(conn, actor_id, email):
    """The mailbox an address names, checked for the actor's access."""
    mailbox_id = mailbox_id_for_address(conn, email)
    check_access(conn, actor_id, mailbox_id)
    return mailbox_id
