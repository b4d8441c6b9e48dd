"""The sandbox's directory: users (each with a mailbox), distribution lists, delegates."""
import json

from ..wire.errors import EWSError


def add_user(conn, email, name, password):
    cursor = conn.execute("INSERT INTO users(email, name, password) VALUES (?, ?, ?)", (email, name, password))
    return cursor.lastrowid


def add_distribution_list(conn, email, name, members):
    conn.execute("INSERT INTO users(email, name, kind, members) VALUES (?, ?, 'dl', ?)",
                 (email, name, json.dumps(members)))


def user_by_email(conn, email):
    return conn.execute("SELECT * FROM users WHERE email = ? AND kind = 'user'", ((email or "").strip(),)).fetchone()


def user_by_id(conn, user_id):
    return conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()


def users(conn):
    return conn.execute("SELECT * FROM users WHERE kind = 'user' ORDER BY id").fetchall()


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


def mailbox_for_address(conn, actor_id, email):
    """The mailbox an address names, checked for the actor's access."""
    row = user_by_email(conn, email)
    if row is None:
        raise EWSError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
    check_access(conn, actor_id, row["id"])
    return row["id"]
