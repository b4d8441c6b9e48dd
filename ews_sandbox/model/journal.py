"""The change journal: one row per write to an item or a folder, in commit order.

SQLite triggers write it inside the writing transaction, so every writer counts, whatever
process or code path it is (EWS requests, the admin API, another script on the same
file), and a rolled-back write leaves no row. Sync states and subscription watermarks
are positions (`seq`) in it. Moves and copies are an insert plus a delete to the
triggers; items.move/copy add a marker row so notifications can say Moved/Copied.
"""
import secrets

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id INTEGER NOT NULL,
    kind TEXT NOT NULL,                     -- 'item' or 'folder'
    object_id INTEGER NOT NULL,             -- items.id or folders.id
    folder_id INTEGER,                      -- an item's folder; a folder's parent
    action TEXT NOT NULL,                   -- create, update, read, delete; move, copy (markers)
    change_key TEXT,
    other_id INTEGER,                       -- move/copy markers: the source item
    other_folder_id INTEGER,                -- move/copy markers: the source folder
    flags INTEGER NOT NULL DEFAULT 0,       -- items: 1 associated, 2 draft, 4 a Message
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS journal_folder ON journal(folder_id, seq);
CREATE INDEX IF NOT EXISTS journal_mailbox ON journal(mailbox_id, seq);
CREATE TRIGGER IF NOT EXISTS journal_item_insert AFTER INSERT ON items BEGIN
    INSERT INTO journal(mailbox_id, kind, object_id, folder_id, action, change_key, flags)
    VALUES (NEW.mailbox_id, 'item', NEW.id, NEW.folder_id, 'create', NEW.change_key,
            NEW.is_associated + 2 * NEW.is_draft + 4 * (NEW.element = 'Message'));
END;
CREATE TRIGGER IF NOT EXISTS journal_item_update AFTER UPDATE ON items WHEN OLD.folder_id = NEW.folder_id BEGIN
    INSERT INTO journal(mailbox_id, kind, object_id, folder_id, action, change_key, flags)
    VALUES (NEW.mailbox_id, 'item', NEW.id, NEW.folder_id,
            CASE WHEN OLD.is_read IS NOT NEW.is_read AND OLD.subject IS NEW.subject
                      AND OLD.importance IS NEW.importance AND OLD.item_class IS NEW.item_class
                      AND OLD.has_attachments IS NEW.has_attachments AND OLD.is_draft IS NEW.is_draft
                 THEN 'read' ELSE 'update' END,
            NEW.change_key, NEW.is_associated + 2 * NEW.is_draft + 4 * (NEW.element = 'Message'));
END;
CREATE TRIGGER IF NOT EXISTS journal_item_refile AFTER UPDATE ON items WHEN OLD.folder_id != NEW.folder_id BEGIN
    INSERT INTO journal(mailbox_id, kind, object_id, folder_id, action, change_key, flags)
    VALUES (OLD.mailbox_id, 'item', OLD.id, OLD.folder_id, 'delete', OLD.change_key, OLD.is_associated);
    INSERT INTO journal(mailbox_id, kind, object_id, folder_id, action, change_key, flags)
    VALUES (NEW.mailbox_id, 'item', NEW.id, NEW.folder_id, 'create', NEW.change_key, NEW.is_associated);
END;
CREATE TRIGGER IF NOT EXISTS journal_item_delete AFTER DELETE ON items BEGIN
    INSERT INTO journal(mailbox_id, kind, object_id, folder_id, action, change_key, flags)
    VALUES (OLD.mailbox_id, 'item', OLD.id, OLD.folder_id, 'delete', OLD.change_key, OLD.is_associated);
END;
CREATE TRIGGER IF NOT EXISTS journal_folder_insert AFTER INSERT ON folders BEGIN
    INSERT INTO journal(mailbox_id, kind, object_id, folder_id, action, change_key)
    VALUES (NEW.mailbox_id, 'folder', NEW.id, NEW.parent_id, 'create', NEW.change_key);
END;
CREATE TRIGGER IF NOT EXISTS journal_folder_update AFTER UPDATE ON folders BEGIN
    INSERT INTO journal(mailbox_id, kind, object_id, folder_id, action, change_key, other_folder_id)
    VALUES (NEW.mailbox_id, 'folder', NEW.id, NEW.parent_id, CASE WHEN OLD.parent_id IS NEW.parent_id
            THEN 'update' ELSE 'move' END, NEW.change_key, OLD.parent_id);
END;
CREATE TRIGGER IF NOT EXISTS journal_folder_delete AFTER DELETE ON folders BEGIN
    INSERT INTO journal(mailbox_id, kind, object_id, folder_id, action, change_key)
    VALUES (OLD.mailbox_id, 'folder', OLD.id, OLD.parent_id, 'delete', OLD.change_key);
END;
"""

ITEM_ASSOCIATED, ITEM_DRAFT, ITEM_MESSAGE = 1, 2, 4


def install(conn):
    """The key that signs sync states and watermarks: made once, kept in the file, so that
    states stay valid across restarts and every process sharing the file agrees."""
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('sync_key', ?)", (secrets.token_hex(16),))


def signing_key(conn):
    return bytes.fromhex(conn.execute("SELECT value FROM meta WHERE key = 'sync_key'").fetchone()[0])


def note_relocation(conn, action, source, target):
    """A marker after items.move/copy: `target` (the new row) came from `source`."""
    conn.execute("INSERT INTO journal(mailbox_id, kind, object_id, folder_id, action, change_key, other_id,"
                 " other_folder_id) VALUES (?, 'item', ?, ?, ?, ?, ?, ?)",
                 (target["mailbox_id"], target["id"], target["folder_id"], action, target["change_key"],
                  source["id"], source["folder_id"]))


def last_seq(conn):
    return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0]


def rows_after(conn, seq, *, mailbox_id=None, folder_id=None, kind=None, upto=None, limit=None):
    clauses, args = ["seq > ?"], [seq]
    for column, value in (("mailbox_id", mailbox_id), ("folder_id", folder_id), ("kind", kind)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if upto is not None:
        clauses.append("seq <= ?")
        args.append(upto)
    sql = f"SELECT * FROM journal WHERE {' AND '.join(clauses)} ORDER BY seq"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return conn.execute(sql, args).fetchall()
