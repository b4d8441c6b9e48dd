"""What every operation needs: the caller, the mailbox it acts on, and resolvers that
turn the ids of a request into rows, checking access on the way."""
from dataclasses import dataclass, field

from ..model import directory, folder_access, folders, ids, items
from ..wire.errors import EWSError
from ..wire.ns import local, t
from ..wire.schema_order import DISTINGUISHED_FOLDER_IDS
from ..wire.soap import schema_fault


# Operations that never write: they run in a read snapshot that never waits for a writer, and a
# folder permission that lets its user read items is enough for them.
READ_ONLY_OPERATIONS = frozenset({"ConvertId", "ExpandDL", "ExportItems", "FindFolder", "FindItem", "GetAttachment",
                                  "GetFolder", "GetItem", "GetSearchableMailboxes", "GetServerTimeZones",
                                  "GetUserConfiguration", "ResolveNames", "GetInboxRules", "GetDelegate",
                                  "GetMailTips", "GetUserOofSettingsRequest", "SyncFolderHierarchy",
                                  "SyncFolderItems", "GetRoomLists", "GetRooms", "GetUserAvailabilityRequest"})


@dataclass
class Context:
    conn: object
    actor: object       # users row of whoever signed in
    mailbox_id: int     # the mailbox the request acts on by default (own, or impersonated)
    sandbox: object     # the running Sandbox (settings, clock)
    # Large base64 values left out of the rendered answer, for the server to stream
    # (GetAttachment of big files): objects with token, encoded_length and chunks(conn).
    deferred_content: list = field(default_factory=list)
    opened: list = field(default_factory=list)  # ids of the mailboxes opened, in order (the request log)
    reading: bool = False  # the operation only reads (READ_ONLY_OPERATIONS)
    live_answer: object = None  # a streamed answer sent after the transaction ends (GetStreamingEvents)

    def mailbox_row(self, mailbox_id=None):
        return directory.user_by_id(self.conn, mailbox_id or self.mailbox_id)

    def check_access(self, mailbox_id, folder=None):
        """Own or delegated mailbox, else a folder permission on `folder` (a folders row) that
        allows what the operation does."""
        if mailbox_id != self.mailbox_id and not self._permitted(folder):
            directory.check_access(self.conn, self.actor["id"], mailbox_id)
        self._opened(mailbox_id)

    def _permitted(self, folder):
        if folder is None or not self.actor["email"]:
            return False
        reads, edits = folder_access.rights(folder, self.actor["email"])
        return reads if self.reading else edits

    def _opened(self, mailbox_id):
        if mailbox_id not in self.opened:
            self.opened.append(mailbox_id)

    # ---- folders ----
    def folder(self, element):
        """A folders row from t:FolderId or t:DistinguishedFolderId."""
        kind = local(element)
        if kind == "FolderId":
            mailbox_id, folder_id = ids.decode(element.get("Id"), ids.FOLDER)
            row = folders.get(self.conn, folder_id)
            self.check_access(mailbox_id, row if row["mailbox_id"] == mailbox_id else None)
            if row["mailbox_id"] != mailbox_id:
                raise EWSError("ErrorFolderNotFound")
            return row
        if kind == "DistinguishedFolderId":
            if element.get("Id") not in DISTINGUISHED_FOLDER_IDS:
                raise schema_fault(f"The request failed schema validation: {element.get('Id')!r} is not a "
                                   "distinguished folder id.")
            mailbox_id = self.mailbox_id
            address = element.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
            if address and address.strip().casefold() != self.mailbox_row()["email"].casefold():
                mailbox_id = directory.mailbox_id_for_address(self.conn, address)
            row = folders.distinguished(self.conn, mailbox_id, element.get("Id"))
            self.check_access(mailbox_id, row)
            return row
        raise EWSError("ErrorInvalidIdMalformed", f"Expected a folder id, got {kind}.")

    def target_folder(self, container):
        """The folder named inside ToFolderId, SavedItemFolderId or ParentFolderId."""
        if container is None or len(container) == 0:
            raise EWSError("ErrorFolderNotFound")
        return self.folder(container[0])

    # ---- items ----
    def item(self, element, check_change_key=False):
        from .calendar_view import names_occurrence, resolve  # occurrences of series
        if names_occurrence(element):
            return resolve(self, element)
        mailbox_id, item_id = ids.decode(element.get("Id"), ids.ITEM)
        if element.get("ChangeKey") is not None and not ids.is_change_key(element.get("ChangeKey")):
            raise EWSError("ErrorInvalidChangeKey")  # malformed: refused whatever the operation
        row = items.get(self.conn, item_id)
        self.check_access(mailbox_id, folders.get(self.conn, row["folder_id"]) if row["mailbox_id"] == mailbox_id
                          else None)
        if row["mailbox_id"] != mailbox_id:
            raise EWSError("ErrorItemNotFound")
        if check_change_key and element.get("ChangeKey") and element.get("ChangeKey") != row["change_key"]:
            raise EWSError("ErrorIrresolvableConflict")
        return row


def item_ids(container):
    """Children of an ItemIds element (ItemId, OccurrenceItemId, RecurringMasterItemId)."""
    return list(container) if container is not None else []
