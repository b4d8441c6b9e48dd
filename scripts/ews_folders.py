"""Folders by path ('Inbox/Projects/2026'), for every script that takes a --folder.

Copy it with the script that imports it, beside ews_config.py and ews_cli.py.
"""
from ews_cli import attempt, check_folder_path
from ews_config import ConfigError


# The folders every mailbox has, by their English names: Exchange finds them by well-known
# (distinguished) id, whatever the mailbox's language calls them (Posteingang, Boîte de réception).
WELL_KNOWN = {"inbox": "inbox", "sent items": "sent", "drafts": "drafts", "deleted items": "trash",
              "junk email": "junk", "junk e-mail": "junk", "outbox": "outbox", "calendar": "calendar",
              "contacts": "contacts", "tasks": "tasks", "notes": "notes"}


def folder_by_path(account, path, flag="--folder", create=False):
    """The folder at `path` below the top of the mailbox ('Inbox/Projects/2026', any case). The first
    level, when it is a well-known folder's English name, by its well-known id (one GetFolder); then
    one FindFolder per level, with no GetFolder after it (`folder // name` adds one); with `create`,
    missing levels are made."""
    from exchangelib.errors import DoesNotExist
    from exchangelib.folders import SHALLOW, Folder, SingleFolderQuerySet
    names = check_folder_path(path, flag)
    well_known = WELL_KNOWN.get(names[0].strip().casefold())
    if well_known:  # account.inbox and the like: GetFolder by DistinguishedFolderId
        folder, names = getattr(account, well_known), names[1:]
    else:
        folder = account.msg_folder_root
    for name in names:
        try:
            folder = SingleFolderQuerySet(account=account, folder=folder).depth(SHALLOW).only(
                "name", "total_count", "unread_count", "child_folder_count").get(name=name)
        except DoesNotExist:
            if not create:
                raise ConfigError(f"{flag} {path}: there is no folder {name!r} in {folder.name!r} "
                                  "(folder names are separated by /, e.g. Inbox/Projects)")
            parent, folder = folder, Folder(parent=folder, name=name)
            attempt(lambda _: [folder.save()], [folder], lambda _: [] if _child(account, parent, name) else [folder])
            folder = _child(account, parent, name) or folder  # the one made by a request whose answer was lost
    return folder


def _child(account, parent, name):
    from exchangelib.folders import SHALLOW, SingleFolderQuerySet
    return next(iter(SingleFolderQuerySet(account=account, folder=parent).depth(SHALLOW).filter(name=name)), None)
