"""Folders of a mailbox: the default folders (in the mailbox's language), lookups, counts and changes."""
from typing import NamedTuple, Optional

from ..wire.errors import EWSError
from . import ids

class DefaultFolder(NamedTuple):
    """A folder Exchange makes in every mailbox. `role` names it in the sandbox (and is its
    DistinguishedFolderId when `distinguished`); `parent` is its parent's role."""
    role: str
    parent: Optional[str]
    name: str                       # English; LOCALIZED_NAMES has other languages
    element: str = "Folder"
    folder_class: Optional[str] = None
    distinguished: bool = True
    deletable: bool = False         # the owner may delete it (only the one-click Archive)
    hidden: bool = False            # PidTagAttributeHidden: clients do not list it


# The tree of a new Exchange 2016 mailbox: the non-IPM subtree under the root (system folders
# that clients do not show), and the IPM subtree under "Top of Information Store".
# Folders Exchange 2016 does not have (Exchange Online's, such as Companies or Files) are left out.
DEFAULT_FOLDERS = [
    DefaultFolder("root", None, "root"),
    DefaultFolder("commonviews", "root", "Common Views", distinguished=False),
    DefaultFolder("deferredaction", "root", "Deferred Action", distinguished=False),
    DefaultFolder("exchangesyncdata", "root", "ExchangeSyncData", distinguished=False),
    DefaultFolder("searchfolders", "root", "Finder"),
    DefaultFolder("freebusydata", "root", "Freebusy Data", distinguished=False),
    DefaultFolder("location", "root", "Location", distinguished=False),
    DefaultFolder("mailboxassociations", "root", "MailboxAssociations", distinguished=False),
    DefaultFolder("peopleconnect", "root", "PeopleConnect"),
    DefaultFolder("recoverableitemsroot", "root", "Recoverable Items"),
    DefaultFolder("audits", "recoverableitemsroot", "Audits", distinguished=False),
    DefaultFolder("calendarlogging", "recoverableitemsroot", "Calendar Logging", distinguished=False),
    DefaultFolder("recoverableitemsdeletions", "recoverableitemsroot", "Deletions"),
    DefaultFolder("recoverableitemspurges", "recoverableitemsroot", "Purges"),
    DefaultFolder("recoverableitemsversions", "recoverableitemsroot", "Versions"),
    DefaultFolder("reminders", "root", "Reminders", folder_class="Outlook.Reminder", distinguished=False),
    DefaultFolder("schedule", "root", "Schedule", distinguished=False),
    DefaultFolder("shadowitems", "root", "ShadowItems", folder_class="IPF.StoreItem.ShadowItems",
                  distinguished=False),
    DefaultFolder("sharing", "root", "Sharing", folder_class="IPF.Note", distinguished=False),
    DefaultFolder("shortcuts", "root", "Shortcuts", distinguished=False),
    DefaultFolder("spoolerqueue", "root", "Spooler Queue", distinguished=False),
    DefaultFolder("system", "root", "System", distinguished=False),
    DefaultFolder("todosearch", "root", "To-Do Search", "TasksFolder", "IPF.Task"),
    DefaultFolder("views", "root", "Views", distinguished=False),
    DefaultFolder("workingset", "root", "Working Set", distinguished=False),
    DefaultFolder("msgfolderroot", "root", "Top of Information Store"),
    DefaultFolder("archive", "msgfolderroot", "Archive", folder_class="IPF.Note", distinguished=False,
                  deletable=True),  # one-click archive: not distinguished in Exchange 2016
    DefaultFolder("calendar", "msgfolderroot", "Calendar", "CalendarFolder", "IPF.Appointment"),
    DefaultFolder("contacts", "msgfolderroot", "Contacts", "ContactsFolder", "IPF.Contact"),
    DefaultFolder("quickcontacts", "contacts", "{06967759-274D-40B2-A3EB-D7F9E73727D7}", "ContactsFolder",
                  "IPF.Contact.MOC.QuickContacts", hidden=True),
    DefaultFolder("imcontactlist", "contacts", "{A9E2BC46-B3A0-4243-B315-60D991004455}", "ContactsFolder",
                  "IPF.Contact.MOC.ImContactList", hidden=True),
    DefaultFolder("galcontacts", "contacts", "GAL Contacts", "ContactsFolder", "IPF.Contact.GalContacts",
                  distinguished=False, hidden=True),
    DefaultFolder("organizationalcontacts", "contacts", "Organizational Contacts", "ContactsFolder",
                  "IPF.Contact.OrganizationalContacts", distinguished=False, hidden=True),
    DefaultFolder("recipientcache", "contacts", "Recipient Cache", "ContactsFolder", "IPF.Contact.RecipientCache",
                  hidden=True),
    DefaultFolder("conversationactionsettings", "msgfolderroot", "Conversation Action Settings",
                  folder_class="IPF.Configuration", distinguished=False, hidden=True),
    DefaultFolder("conversationhistory", "msgfolderroot", "Conversation History"),
    DefaultFolder("deleteditems", "msgfolderroot", "Deleted Items", folder_class="IPF.Note"),
    DefaultFolder("drafts", "msgfolderroot", "Drafts", folder_class="IPF.Note"),
    DefaultFolder("externalcontacts", "msgfolderroot", "ExternalContacts", "ContactsFolder", "IPF.Contact",
                  distinguished=False, hidden=True),
    DefaultFolder("inbox", "msgfolderroot", "Inbox", folder_class="IPF.Note"),
    DefaultFolder("journal", "msgfolderroot", "Journal", folder_class="IPF.Journal"),
    DefaultFolder("junkemail", "msgfolderroot", "Junk Email", folder_class="IPF.Note"),
    DefaultFolder("notes", "msgfolderroot", "Notes", folder_class="IPF.StickyNote"),
    DefaultFolder("outbox", "msgfolderroot", "Outbox", folder_class="IPF.Note"),
    DefaultFolder("personmetadata", "msgfolderroot", "PersonMetadata", "ContactsFolder", "IPF.Contact",
                  distinguished=False, hidden=True),
    DefaultFolder("quickstepsettings", "msgfolderroot", "Quick Step Settings", folder_class="IPF.Configuration",
                  distinguished=False, hidden=True),
    DefaultFolder("rssfeeds", "msgfolderroot", "RSS Feeds", folder_class="IPF.Note.OutlookHomepage",
                  distinguished=False),
    DefaultFolder("sentitems", "msgfolderroot", "Sent Items", folder_class="IPF.Note"),
    DefaultFolder("syncissues", "msgfolderroot", "Sync Issues", folder_class="IPF.Note"),
    DefaultFolder("conflicts", "syncissues", "Conflicts"),
    DefaultFolder("localfailures", "syncissues", "Local Failures"),
    DefaultFolder("serverfailures", "syncissues", "Server Failures"),
    DefaultFolder("tasks", "msgfolderroot", "Tasks", "TasksFolder", "IPF.Task"),
    # The online archive: a second hierarchy with a root of its own.
    DefaultFolder("archiveroot", None, "Archive Root"),
    DefaultFolder("archivemsgfolderroot", "archiveroot", "Top of Information Store"),
    DefaultFolder("archiveinbox", "archivemsgfolderroot", "Inbox", folder_class="IPF.Note"),
    DefaultFolder("archivedeleteditems", "archivemsgfolderroot", "Deleted Items", folder_class="IPF.Note"),
    DefaultFolder("archiverecoverableitemsroot", "archiveroot", "Recoverable Items"),
    DefaultFolder("archiverecoverableitemsdeletions", "archiverecoverableitemsroot", "Deletions"),
    DefaultFolder("archiverecoverableitemsversions", "archiverecoverableitemsroot", "Versions"),
    DefaultFolder("archiverecoverableitemspurges", "archiverecoverableitemsroot", "Purges"),
]
DEFAULT_FOLDER_BY_ROLE = {folder.role: folder for folder in DEFAULT_FOLDERS}

# Exchange names a mailbox's default folders in the mailbox's language when it makes them
# (Set-MailboxRegionalConfiguration -LocalizeDefaultFolderName renames them later); system
# folders of the non-IPM subtree keep their English names. Names as Outlook shows them.
LOCALIZED_NAMES = {
    "de-DE": {
        "msgfolderroot": "Oberste Ebene des Informationsspeichers", "inbox": "Posteingang",
        "drafts": "Entwürfe", "sentitems": "Gesendete Elemente", "deleteditems": "Gelöschte Elemente",
        "outbox": "Postausgang", "junkemail": "Junk-E-Mail", "calendar": "Kalender", "contacts": "Kontakte",
        "tasks": "Aufgaben", "notes": "Notizen", "journal": "Journal", "archive": "Archiv",
        "conversationhistory": "Unterhaltungsverlauf", "syncissues": "Synchronisierungsprobleme",
        "conflicts": "Konflikte", "localfailures": "Lokale Fehler", "serverfailures": "Serverfehler",
        "rssfeeds": "RSS-Feeds",
    },
    "da-DK": {
        "msgfolderroot": "Informationslagerets øverste niveau", "inbox": "Indbakke", "drafts": "Kladder",
        "sentitems": "Sendt post", "deleteditems": "Slettet post", "outbox": "Udbakke",
        "junkemail": "Uønsket e-mail", "calendar": "Kalender", "contacts": "Kontaktpersoner", "tasks": "Opgaver",
        "notes": "Noter", "journal": "Journal", "archive": "Arkiv", "conversationhistory": "Samtaleoversigt",
        "syncissues": "Synkroniseringsproblemer", "conflicts": "Konflikter", "localfailures": "Lokale fejl",
        "serverfailures": "Serverfejl",
    },
}
LOCALES = ("en-US", *LOCALIZED_NAMES)
ELEMENT_FOR_CLASS = {"IPF.Appointment": "CalendarFolder", "IPF.Contact": "ContactsFolder", "IPF.Task": "TasksFolder"}


def create_mailbox(conn, mailbox_id, locale="en-US"):
    """The default folders of a new mailbox, named in `locale` (a language tag such as de-DE),
    which is also recorded as the mailbox's language."""
    locale = normalize_locale(locale)
    names = LOCALIZED_NAMES.get(locale, {})
    conn.execute("UPDATE users SET locale = ? WHERE id = ?", (locale, mailbox_id))
    row_ids = {}  # role -> row id of the folders created so far
    for folder in DEFAULT_FOLDERS:
        cursor = conn.execute(
            "INSERT INTO folders(mailbox_id, parent_id, distinguished, role, element, name, folder_class, change_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (mailbox_id, row_ids[folder.parent] if folder.parent else None,
             folder.role if folder.distinguished else None, folder.role, folder.element,
             names.get(folder.role, folder.name), folder.folder_class, ids.new_change_key()))
        row_ids[folder.role] = cursor.lastrowid


def normalize_locale(locale):
    """'de_DE', 'de-de' -> 'de-DE'; a locale the sandbox has no names for is refused."""
    language, _, region = (locale or "en-US").replace("_", "-").partition("-")
    tag = f"{language.lower()}-{region.upper()}" if region else language.lower()
    if tag not in LOCALES:
        raise ValueError(f"no folder names for locale {locale!r}; known: {', '.join(LOCALES)}")
    return tag


def is_deletable(row):
    """Default folders stay (Exchange refuses to delete them), except the one-click Archive."""
    default = DEFAULT_FOLDER_BY_ROLE.get(row["role"]) if row["role"] else None
    return default is None or default.deletable


def in_archive(conn, row):
    """Whether folder `row` belongs to the mailbox's online archive (under its archive root)."""
    while row["parent_id"] is not None:
        row = get(conn, row["parent_id"])
    return row["role"] == "archiveroot"


def archive_counterpart(conn, row):
    """Where ArchiveItem files the items it is given with folder `row` as ArchiveSourceFolderId:
    the folder at the same path in the mailbox's online archive, the path made on first use
    (Exchange's ErrorArchiveFolderPathCreation is its failure to make it). A default folder
    stands for its archive twin (Inbox -> archive Inbox, Deleted Items -> archive Deleted Items);
    a folder of the archive is its own counterpart."""
    if in_archive(conn, row):
        return row
    path = []  # folders from `row` up to (not including) the top of information store or the root
    while row["parent_id"] is not None and row["role"] != "msgfolderroot":
        path.append(row)
        row = get(conn, row["parent_id"])
    target = distinguished(conn, row["mailbox_id"], "archivemsgfolderroot")
    for folder in reversed(path):
        twin = conn.execute("SELECT * FROM folders WHERE mailbox_id = ? AND distinguished = ? AND parent_id = ?",
                            (folder["mailbox_id"], f"archive{folder['distinguished']}", target["id"])
                            ).fetchone() if folder["distinguished"] else None
        named = twin or conn.execute("SELECT * FROM folders WHERE parent_id = ? AND name = ? COLLATE NOCASE",
                                     (target["id"], folder["name"])).fetchone()
        target = named or create(conn, target, folder["name"], folder["element"], folder["folder_class"], None)
    return target


def folder_id_text(row):
    return ids.encode(ids.FOLDER, row["mailbox_id"], row["id"])


def get(conn, folder_id):
    row = conn.execute("SELECT * FROM folders WHERE id = ?", (folder_id,)).fetchone()
    if row is None:  # a well-formed id of a folder no longer there: Exchange says "object", not "folder"
        raise EWSError("ErrorItemNotFound", "The specified object was not found in the store.")
    return row


def distinguished(conn, mailbox_id, name):
    if name == "publicfoldersroot":  # what Exchange answers in an organisation without public folders
        raise EWSError("ErrorNoPublicFolderReplicaAvailable")
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


def size(conn, folder_id):
    """Bytes of the folder's items, associated ones and user configurations included
    (PidTagMessageSizeExtended of a folder)."""
    items_size = conn.execute("SELECT COALESCE(SUM(size), 0) FROM items WHERE folder_id = ?",
                              (folder_id,)).fetchone()[0]
    configurations = conn.execute(
        "SELECT COALESCE(SUM(LENGTH(name) + COALESCE(LENGTH(dictionary), 0) + COALESCE(LENGTH(xml_data), 0)"
        " + COALESCE(LENGTH(binary_data), 0)), 0) FROM user_configurations WHERE folder_id = ?",
        (folder_id,)).fetchone()[0]
    return items_size + configurations


def is_hidden(row):
    default = DEFAULT_FOLDER_BY_ROLE.get(row["role"]) if row["role"] else None
    return bool(default and default.hidden)


def create(conn, parent, name, element, folder_class, xml):
    if not name:
        raise EWSError("ErrorInvalidPropertySet", "A folder needs a DisplayName.")
    check_depth(conn, parent["id"])
    clash = conn.execute("SELECT 1 FROM folders WHERE parent_id = ? AND name = ? COLLATE NOCASE",
                         (parent["id"], name)).fetchone()
    if clash:  # Exchange compares names case-insensitively and names the one refused
        raise EWSError("ErrorFolderExists", f"A folder with the specified name already exists., "
                                            f"Could not create folder '{name}'.")
    cursor = conn.execute(
        "INSERT INTO folders(mailbox_id, parent_id, element, name, folder_class, change_key, xml)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (parent["mailbox_id"], parent["id"], element, name, folder_class, ids.new_change_key(), xml))
    return get(conn, cursor.lastrowid)


def touch(conn, folder_id, **changes):
    changes["change_key"] = ids.new_change_key()
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(f"UPDATE folders SET {assignments} WHERE id = ?", (*changes.values(), folder_id))
