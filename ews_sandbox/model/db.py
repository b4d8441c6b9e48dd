"""The SQLite file behind a sandbox: schema, connections and transactions.

Several processes may open the same file (a script that listens while another sends):
WAL journaling lets readers go on while one writer commits, and every request runs
in one transaction, so each sees the others' committed changes and never half of one.
Requests that only read (and sign-ins) run in deferred read-only transactions: they
never queue behind a writer, however long its work.
"""
import itertools
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from . import journal

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    password TEXT,
    kind TEXT NOT NULL DEFAULT 'user',      -- 'user', 'room' (a room mailbox) or 'dl'
    members TEXT,                           -- JSON list of emails, for a distribution list
    room_list INTEGER NOT NULL DEFAULT 0,   -- 1: a distribution list that is a room list
    locale TEXT NOT NULL DEFAULT 'en-US'    -- the mailbox's language: names of its default folders
);
CREATE TABLE IF NOT EXISTS delegates (
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    delegate_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (owner_id, delegate_id)
);
CREATE TABLE IF NOT EXISTS folders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES folders(id) ON DELETE CASCADE,
    distinguished TEXT,
    element TEXT NOT NULL,                  -- Folder, CalendarFolder, ContactsFolder, TasksFolder, SearchFolder
    name TEXT NOT NULL,
    folder_class TEXT,
    change_key TEXT NOT NULL,
    role TEXT,                              -- a default folder's role (model/folders.py DEFAULT_FOLDERS)
    xml BLOB                                -- other properties as sent (extended properties, permissions)
);
CREATE UNIQUE INDEX IF NOT EXISTS folders_distinguished ON folders(mailbox_id, distinguished);
CREATE INDEX IF NOT EXISTS folders_parent ON folders(parent_id, name COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS user_configurations (  -- Exchange keeps them as associated items of a folder
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    change_key TEXT NOT NULL,
    dictionary BLOB,                        -- the t:Dictionary element as sent
    xml_data TEXT,                          -- base64, as sent
    binary_data TEXT,                       -- base64, as sent
    UNIQUE (folder_id, name)
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: a stale id must stay not-found
    mailbox_id INTEGER NOT NULL,
    folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    element TEXT NOT NULL,                  -- Message, CalendarItem, Contact, Task, PostItem, Item
    change_key TEXT NOT NULL,
    is_associated INTEGER NOT NULL DEFAULT 0,
    is_draft INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    unmodified INTEGER NOT NULL DEFAULT 1,  -- IsUnmodified (mfUnmodified): cleared by the first change after creation
    received TEXT,
    -- Query columns, derived from the XML on every write; text is case-folded.
    item_class TEXT,
    subject TEXT,
    sent TEXT,
    is_read INTEGER,
    importance TEXT,
    sender TEXT,
    has_attachments INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    xml BLOB NOT NULL                       -- the item's properties, as an element of its type
);
CREATE INDEX IF NOT EXISTS items_folder_received ON items(folder_id, received, id);
CREATE INDEX IF NOT EXISTS items_folder_subject ON items(folder_id, subject);
CREATE INDEX IF NOT EXISTS items_folder_sender ON items(folder_id, sender);
CREATE INDEX IF NOT EXISTS items_folder_read ON items(folder_id, is_read);
CREATE INDEX IF NOT EXISTS items_folder_sent ON items(folder_id, sent);
CREATE TABLE IF NOT EXISTS calendar_exceptions (  -- changed or deleted occurrences of a series
    master_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE ON UPDATE CASCADE,
    instance_index INTEGER NOT NULL,        -- 1-based position in the series' pattern
    original_start TEXT NOT NULL,           -- UTC, as the pattern placed it
    is_deleted INTEGER NOT NULL DEFAULT 0,
    change_key TEXT NOT NULL,
    xml BLOB,                               -- the changed occurrence, as a CalendarItem element
    PRIMARY KEY (master_id, instance_index)
);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE ON UPDATE CASCADE,
    kind TEXT NOT NULL,                     -- FileAttachment or ItemAttachment
    name TEXT,
    content_type TEXT,
    content_id TEXT,
    is_inline INTEGER NOT NULL DEFAULT 0,
    modified TEXT NOT NULL,
    size INTEGER NOT NULL,
    content BLOB                            -- file bytes, or the attached item's XML
);
CREATE INDEX IF NOT EXISTS attachments_item ON attachments(item_id);
CREATE TABLE IF NOT EXISTS mailbox_settings (  -- a mailbox's settings (out-of-office, delegate options), JSON
    mailbox_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (mailbox_id, name)
);
CREATE TABLE IF NOT EXISTS oof_replies (   -- senders an out-of-office reply went to since it was set
    mailbox_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sender TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (mailbox_id, sender)
);
CREATE TABLE IF NOT EXISTS inbox_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    priority INTEGER NOT NULL,
    xml BLOB NOT NULL                       -- the t:Rule as sent, without its RuleId
);
CREATE TABLE IF NOT EXISTS delegate_users (  -- AddDelegate's list; the rights are the folders' permissions
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    delegate_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    receive_copies INTEGER NOT NULL DEFAULT 0,
    view_private INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (owner_id, delegate_id)
);
CREATE TABLE IF NOT EXISTS apps (           -- app registrations of the tenant (the OAuth authority)
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,                     -- 'confidential', 'public' or 'graph-only'
    client_secret TEXT,                     -- NULL for a public client
    permissions TEXT NOT NULL,              -- JSON: {resource: {"roles": [...], "scopes": [...]}}
    redirect_uris TEXT NOT NULL             -- JSON list
);
"""
# Columns added since the first release: CREATE TABLE IF NOT EXISTS leaves an older file's
# tables as they were, so these are added to it when it is opened.
ADDED_COLUMNS = [
    ("users", "room_list", "INTEGER NOT NULL DEFAULT 0"),
    ("users", "locale", "TEXT NOT NULL DEFAULT 'en-US'"),
    ("folders", "role", "TEXT"),
    ("items", "unmodified", "INTEGER NOT NULL DEFAULT 1"),
]
# What an added column holds for the rows it finds, where its default is not right for them.
BACKFILLS = {("items", "unmodified"): "UPDATE items SET unmodified = (created = modified)"}


def migrate(conn):
    for table, column, declaration in ADDED_COLUMNS:
        if column in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            continue
        try:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            if (table, column) in BACKFILLS:
                conn.execute(BACKFILLS[table, column])
        except sqlite3.OperationalError as error:  # another process added it first
            if "duplicate column" not in str(error):
                raise


_active = threading.local()  # the write transaction this thread runs, for element_scope()
_savepoint_names = itertools.count()


@contextmanager
def element_scope():
    """One element of a batch: a SAVEPOINT in the thread's write transaction, rolled back
    if the element fails, so that a failed element leaves nothing behind while the
    elements before and after it keep their changes (outside a write transaction: nothing)."""
    conn = getattr(_active, "conn", None)
    if conn is None or not conn.in_transaction:
        yield
        return
    name = f"element_{next(_savepoint_names)}"
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        conn.execute(f"ROLLBACK TO {name}")
        conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")


class Database:
    """One SQLite file; a connection per thread, a transaction per request."""

    def __init__(self, path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._functions = []
        self.connection().executescript(SCHEMA + journal.SCHEMA)  # executescript commits by itself
        migrate(self.connection())
        journal.install(self.connection())

    def register_function(self, name, arity, fn):
        """A Python function callable from SQL on every connection (restrictions use it)."""
        self._functions.append((name, arity, fn))
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.create_function(name, arity, fn, deterministic=True)

    def connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            for name, arity, fn in self._functions:
                conn.create_function(name, arity, fn, deterministic=True)
            self._local.conn = conn
        else:
            registered = getattr(self._local, "registered", 0)
            for name, arity, fn in self._functions[registered:]:
                conn.create_function(name, arity, fn, deterministic=True)
        self._local.registered = len(self._functions)
        return conn

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE: writers from every process queue here instead of failing
        half-way with SQLITE_BUSY; a nested call joins the outer transaction."""
        conn = self.connection()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        _active.conn = conn
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            _active.conn = None
        conn.execute("COMMIT")

    @contextmanager
    def reading(self):
        """A deferred, read-only transaction: one consistent snapshot that takes no lock,
        so WAL readers never wait for a writer (nor a writer for them). A write inside
        fails (query_only) instead of taking the lock half-way; inside a write
        transaction it simply joins it."""
        conn = self.connection()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("PRAGMA query_only = 1")
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT" if conn.in_transaction else "SELECT 1")
            conn.execute("PRAGMA query_only = 0")

    def close(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
