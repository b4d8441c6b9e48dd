"""Folders of a mailbox: the distinguished tree, lookups, counts and changes."""
from ..wire.errors import EWSError
from . import ids

# (distinguished id, display name, element, folder class, parent's distinguished id)
DISTINGUISHED_TREE = [
    ("root", "Root", "Folder", None, None),
    ("msgfolderroot", "Top of Information Store", "Folder", "IPF.Note", "root"),
    ("inbox", "Inbox", "Folder", "IPF.Note", "msgfolderroot"),
    ("drafts", "Drafts", "Folder", "IPF.Note", "msgfolderroot"),
    ("sentitems", "Sent Items", "Folder", "IPF.Note", "msgfolderroot"),
    ("deleteditems", "Deleted Items", "Folder", "IPF.Note", "msgfolderroot"),
    ("outbox", "Outbox", "Folder", "IPF.Note", "msgfolderroot"),
    ("junkemail", "Junk Email", "Folder", "IPF.Note", "msgfolderroot"),
    (None, "Archive", "Folder", "IPF.Note", "msgfolderroot"),  # one-click archive: not distinguished in 2016
    ("calendar", "Calendar", "CalendarFolder", "IPF.Appointment", "msgfolderroot"),
    ("contacts", "Contacts", "ContactsFolder", "IPF.Contact", "msgfolderroot"),
    ("tasks", "Tasks", "TasksFolder", "IPF.Task", "msgfolderroot"),
    ("notes", "Notes", "Folder", "IPF.StickyNote", "msgfolderroot"),
    ("journal", "Journal", "Folder", "IPF.Journal", "msgfolderroot"),
    ("conversationhistory", "Conversation History", "Folder", "IPF.Note", "msgfolderroot"),
    ("syncissues", "Sync Issues", "Folder", "IPF.Note", "msgfolderroot"),
    ("conflicts", "Conflicts", "Folder", "IPF.Note", "syncissues"),
    ("localfailures", "Local Failures", "Folder", "IPF.Note", "syncissues"),
    ("serverfailures", "Server Failures", "Folder", "IPF.Note", "syncissues"),
    ("searchfolders", "Finder", "Folder", None, "root"),
    ("recoverableitemsroot", "Recoverable Items", "Folder", None, "root"),
    ("recoverableitemsdeletions", "Deletions", "Folder", None, "recoverableitemsroot"),
    ("recoverableitemsversions", "Versions", "Folder", None, "recoverableitemsroot"),
    ("recoverableitemspurges", "Purges", "Folder", None, "recoverableitemsroot"),
    # The online archive: a second hierarchy with a root of its own.
    ("archiveroot", "Archive Root", "Folder", None, None),
    ("archivemsgfolderroot", "Top of Information Store", "Folder", "IPF.Note", "archiveroot"),
    ("archiveinbox", "Inbox", "Folder", "IPF.Note", "archivemsgfolderroot"),
    ("archivedeleteditems", "Deleted Items", "Folder", "IPF.Note", "archivemsgfolderroot"),
    ("archiverecoverableitemsroot", "Recoverable Items", "Folder", None, "archiveroot"),
    ("archiverecoverableitemsdeletions", "Deletions", "Folder", None, "archiverecoverableitemsroot"),
    ("archiverecoverableitemsversions", "Versions", "Folder", None, "archiverecoverableitemsroot"),
    ("archiverecoverableitemspurges", "Purges", "Folder", None, "archiverecoverableitemsroot"),
]
ELEMENT_FOR_CLASS = {"IPF.Appointment": "CalendarFolder", "IPF.Contact": "ContactsFolder", "IPF.Task": "TasksFolder"}


def create_mailbox(conn, mailbox_id):
    by_name = {}  # distinguished id -> row id of the folders created so far
    for distinguished, name, element, folder_class, parent in DISTINGUISHED_TREE:
        cursor = conn.execute(
            "INSERT INTO folders(mailbox_id, parent_id, distinguished, element, name, folder_class, change_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (mailbox_id, by_name[parent] if parent else None, distinguished, element, name, folder_class,
             ids.new_change_key()))
        if distinguished:  # plain folders (the one-click Archive) parent nothing here
            by_name[distinguished] = cursor.lastrowid


def archive_counterpart(conn, row):
    """Where ArchiveItem puts an item of folder `row`: the archive's folder of the same
    role or name (created on first use), under the archive's top of information store."""
    counterpart = f"archive{row['distinguished']}" if row["distinguished"] else None
    existing = conn.execute("SELECT * FROM folders WHERE mailbox_id = ? AND distinguished = ?",
                            (row["mailbox_id"], counterpart)).fetchone() if counterpart else None
    if existing is not None:
        return existing
    top = distinguished(conn, row["mailbox_id"], "archivemsgfolderroot")
    named = conn.execute("SELECT * FROM folders WHERE parent_id = ? AND name = ? COLLATE NOCASE",
                         (top["id"], row["name"])).fetchone()
    return named or create(conn, top, row["name"], row["element"], row["folder_class"], None)


def folder_id_text(row):
    return ids.encode(ids.FOLDER, row["mailbox_id"], row["id"])


def get(conn, folder_id):
    row = conn.execute("SELECT * FROM folders WHERE id = ?", (folder_id,)).fetchone()
    if row is None:
        raise EWSError("ErrorFolderNotFound")
    return row


def distinguished(conn, mailbox_id, name):
    row = conn.execute("SELECT * FROM folders WHERE mailbox_id = ? AND distinguished = ?",
                       (mailbox_id, name)).fetchone()
    if row is None:
        raise EWSError("ErrorFolderNotFound")
    return row


def children(conn, folder_id):
    return conn.execute("SELECT * FROM folders WHERE parent_id = ? ORDER BY name COLLATE NOCASE, id",
                        (folder_id,)).fetchall()


def descendants(conn, folder_id):
    """Depth-first, parents before their children, as FindFolder Deep lists them (a walk
    with its own stack: a tree of any depth, no recursion)."""
    found, stack = [], [iter(children(conn, folder_id))]
    while stack:
        row = next(stack[-1], None)
        if row is None:
            stack.pop()
            continue
        found.append(row)
        stack.append(iter(children(conn, row["id"])))
    return found


# Exchange Online refuses folders nested deeper than 300 (ProhibitReceiveFolderHierarchyDepth).
MAX_DEPTH = 300


def depth(conn, folder_id):
    """Levels above a folder: a mailbox root is at 0."""
    levels = -1
    while folder_id is not None:
        levels += 1
        folder_id = conn.execute("SELECT parent_id FROM folders WHERE id = ?", (folder_id,)).fetchone()[0]
    return levels


def subtree_height(conn, folder_id):
    """Levels a folder and its descendants take: 1 for a folder without children."""
    height, level = 0, [folder_id]
    while level:
        height += 1
        marks = ",".join("?" * len(level))
        level = [r[0] for r in conn.execute(f"SELECT id FROM folders WHERE parent_id IN ({marks})", level)]
    return height


def check_depth(conn, parent_id, levels=1):
    """Refuse to put `levels` of folders under `parent_id` past MAX_DEPTH."""
    if depth(conn, parent_id) + levels > MAX_DEPTH:
        raise EWSError("ErrorFolderSave", f"The folder hierarchy would be deeper than {MAX_DEPTH} levels.")


def is_within(conn, folder_id, ancestor_id):
    while folder_id is not None:
        if folder_id == ancestor_id:
            return True
        folder_id = conn.execute("SELECT parent_id FROM folders WHERE id = ?", (folder_id,)).fetchone()[0]
    return False


def counts(conn, folder_id):
    total, unread = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(is_read = 0), 0) FROM items WHERE folder_id = ? AND is_associated = 0",
        (folder_id,)).fetchone()
    child_count = conn.execute("SELECT COUNT(*) FROM folders WHERE parent_id = ?", (folder_id,)).fetchone()[0]
    return total, unread, child_count


def create(conn, parent, name, element, folder_class, xml):
    if not name:
        raise EWSError("ErrorInvalidPropertySet", "A folder needs a DisplayName.")
    check_depth(conn, parent["id"])
    clash = conn.execute("SELECT 1 FROM folders WHERE parent_id = ? AND name = ? COLLATE NOCASE",
                         (parent["id"], name)).fetchone()
    if clash:
        raise EWSError("ErrorFolderExists")
    cursor = conn.execute(
        "INSERT INTO folders(mailbox_id, parent_id, element, name, folder_class, change_key, xml)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (parent["mailbox_id"], parent["id"], element, name, folder_class, ids.new_change_key(), xml))
    return get(conn, cursor.lastrowid)


def touch(conn, folder_id, **changes):
    changes["change_key"] = ids.new_change_key()
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(f"UPDATE folders SET {assignments} WHERE id = ?", (*changes.values(), folder_id))
