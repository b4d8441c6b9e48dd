"""Archive alert mail: move messages from one sender that are older than N days out of
the Inbox into a folder below it (made on first use). A small automation of the kind
this bundle's users write; its tests (test_archive_alerts.py) use only the sandbox's
pytest plugin.

    EWS_EMAIL=ops@example.com EWS_PASSWORD=... EWS_SERVER=mail.example.com python archive_alerts.py
"""
import os
from datetime import datetime, timedelta, timezone

ALERTS = "alerts@monitoring.example"


def archive_old_alerts(account, sender=ALERTS, days=30, folder_name="Alerts archive", now=None):
    """Move `sender`'s Inbox messages received more than `days` ago to Inbox/<folder_name>;
    returns how many moved. Costs a FindFolder (and a CreateFolder the first time), one
    FindItem per 100 matches and one MoveItem per 100."""
    from exchangelib import Folder
    from exchangelib.errors import DoesNotExist
    from exchangelib.folders import SHALLOW, SingleFolderQuerySet
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    try:  # one FindFolder below the Inbox (`inbox / name` would walk the whole tree first)
        archive = SingleFolderQuerySet(account=account, folder=account.inbox).depth(SHALLOW).get(name=folder_name)
    except DoesNotExist:
        archive = Folder(parent=account.inbox, name=folder_name)
        archive.save()
    # ids first, then one bulk move: moving while paging a query set skips items
    ids = list(account.inbox.filter(sender=sender, datetime_received__lt=cutoff).values_list("id", "changekey"))
    if ids:
        account.bulk_move(ids, to_folder=archive)
    return len(ids)


def main():
    """Sign in as the code would against a real server (autodiscover unless EWS_SERVER)."""
    from exchangelib import Account, Configuration, Credentials
    credentials = Credentials(os.environ["EWS_EMAIL"], os.environ["EWS_PASSWORD"])
    server = os.environ.get("EWS_SERVER")
    if server:
        account = Account(os.environ["EWS_EMAIL"], config=Configuration(server=server, credentials=credentials),
                          autodiscover=False, access_type="delegate")
    else:
        account = Account(os.environ["EWS_EMAIL"], credentials=credentials, autodiscover=True)
    moved = archive_old_alerts(account, days=int(os.environ.get("ARCHIVE_DAYS", "30")))
    print(f"archived {moved} alert(s)")
    return moved


if __name__ == "__main__":
    main()
