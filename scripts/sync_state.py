"""Sync states, for the scripts that follow a mailbox (sync_mailbox.py, sync_streaming.py): the
state file, written atomically, a refused state turned into one clear line, and a change as
a row to print. The sync calls themselves stand in the scripts.

The state file is JSON: {"mailbox": EMAIL, "hierarchy": STATE or null, "folders": {FOLDER_ID:
{"path": PATH, "state": STATE}}}. Each save writes a temporary file beside it, fsyncs it,
renames it over the old one (os.replace) and fsyncs the folder: a process killed at any moment
leaves the old file or the new one, never a torn one.

Copy it with the script that imports it, beside ews_config.py and ews_cli.py.
"""
import contextlib
import json
import os
import tempfile
from pathlib import Path

from ews_config import ConfigError

def check_state_path(args):
    """--state names a file to write: not empty, not a folder, in a folder."""
    path = Path(args.state or ".")
    if not (args.state or "").strip() or path.is_dir() or (path.parent.exists() and not path.parent.is_dir()):
        raise ConfigError(f"--state {args.state!r}: give the path of a file, such as alice.sync.json")


class StateFile:
    """The sync states of one mailbox, in a JSON file."""

    def __init__(self, path, mailbox):
        self.path, self.mailbox = Path(path), mailbox.lower()
        self.data = {"mailbox": self.mailbox, "hierarchy": None, "folders": {}}

    def load(self, fresh=False):
        """The saved states (none with `fresh`); a file of another mailbox or not ours is a usage error."""
        if fresh or not self.path.exists():
            return self
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            assert isinstance(data, dict) and isinstance(data.get("folders"), dict)
        except (ValueError, AssertionError, UnicodeDecodeError):
            raise ConfigError(f"--state {self.path} is not a sync state file; give another path or use --full")
        if data.get("mailbox") != self.mailbox:
            raise ConfigError(f"--state {self.path} holds the states of {data.get('mailbox')}, not {self.mailbox}; "
                              "give one file per mailbox")
        self.data = data
        return self

    def folder_state(self, folder_id):
        return self.data["folders"].get(folder_id, {}).get("state")

    def set_folder_state(self, folder_id, path, state):
        self.data["folders"][folder_id] = {"path": path, "state": state}
        self.save()

    def set_hierarchy_state(self, state):
        self.data["hierarchy"] = state
        self.save()

    def save(self):
        folder = self.path.resolve().parent
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(self.data, handle)
                handle.flush()
                os.fsync(handle.fileno())  # the bytes are on disk before the name points at them
            os.replace(temporary, self.path)  # atomic: readers see the old file or the new one
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)  # and the rename itself survives a power cut
        finally:
            os.close(directory)


@contextlib.contextmanager
def refused_state_check(state, what):
    """exchangelib 5.6 reads SyncState before the response code, so a state the server refuses
    (ErrorInvalidSyncStateData: another folder's, altered, from a reset server) raises AttributeError."""
    from exchangelib.errors import ErrorInvalidSyncStateData
    try:
        yield
    except (AttributeError, ErrorInvalidSyncStateData) as error:
        if state is None:
            raise
        raise ConfigError(f"the server refused the saved sync state of {what}; rerun with --full") from error


def change_row(change, thing, folder=None):
    """One change as a dict: change (create, update, delete, read_flag_change), kind (item or folder), id and
    changekey (what a consumer keys on to drop a change it already saw), and what is known of it."""
    from exchangelib.folders import BaseFolder
    from exchangelib.properties import FolderId
    read = None
    if isinstance(thing, tuple):  # read_flag_change: (ItemId, is_read)
        thing, read = thing
    kind = "folder" if isinstance(thing, (BaseFolder, FolderId)) else "item"
    row = {"change": change, "kind": kind, "folder": folder, "id": thing.id, "changekey": thing.changekey}
    if isinstance(thing, BaseFolder):
        row["name"] = thing.name
    elif change in ("create", "update"):
        row["subject"] = getattr(thing, "subject", None)
        received = getattr(thing, "datetime_received", None)
        row["received"] = received.isoformat() if received else None
    if read is not None:
        row["is_read"] = read
    return row


def describe(row):
    """A change as one line of text."""
    what = row.get("name") if row["kind"] == "folder" else row.get("subject")
    where = f"{row['folder']}: " if row.get("folder") else ""
    extra = {True: " (read)", False: " (unread)"}.get(row.get("is_read"), "")
    return f"{row['change']:<16} {row['kind']:<6} {where}{what or ''}{extra}  [{row['id'][-16:]}]".rstrip()
