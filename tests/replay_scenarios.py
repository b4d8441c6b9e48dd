"""The scenarios of tests/recordings/: how each was recorded against the sandbox
(tools/record_replays.py) and how it is replayed offline (tests/test_replay_*.py).

A script scenario runs one script as a subprocess with EWS_RECORD=tests/recordings/NAME;
its replay runs the same command with EWS_REPLAY and must print the same output and exit
with the same code. An API scenario runs a function below on an exchangelib Account inside
ews_record.recording(); its replay runs the function inside ews_sandbox.replay.replaying()
and must return the same result. A new script's scenario is one entry in SCRIPTS (then
`python tools/record_replays.py NAME`) and one parametrize entry in test_replay_scripts.py.
"""
from dataclasses import dataclass, field

import pytest

ALICE, BOB, CAROL = "alice@contoso.example", "bob@contoso.example", "carol@contoso.example"
PASSWORD = "demo-password"


@dataclass
class Script:
    script: str
    args: list
    env: dict = field(default_factory=dict)    # more settings (non-secret); "{sandbox}" etc. filled in
    mode: str = "sandbox"                      # or a real mode: the sandbox treated as a tenant
    setup: object = None                       # setup(ctx) -> {placeholder: value} for args
    faults: list = field(default_factory=list)  # the sandbox's fault specs while recording
    files: dict = field(default_factory=dict)  # input files the command reads: name -> text
    about: str = ""


def _tagged(ctx):
    ctx.run_unrecorded("tag_messages.py", "tag", "--name", "ProcessedBy", "--value", "invoice-bot",
                       "--subject", "invoice")
    return {}


def _sync_meeting(ctx):
    """alice's weekly meeting with bob (Tuesdays and Thursdays at 10:00 Berlin, 8 times)."""
    ctx.run_unrecorded("create_calendar_event.py", *SYNC_MEETING)
    return {}


SYNC_MEETING = ["--subject", "Sync", "--start", "2026-03-24T10:00", "--duration", "30", "--timezone", "Europe/Berlin",
                "--repeat", "weekly", "--weekdays", "tue,thu", "--count", "8", "--attendee", BOB]


def _deleted_message(ctx):
    """The id of a message that existed and was deleted: well formed, found nowhere."""
    from exchangelib import Message
    message = Message(account=ctx.account(), folder=ctx.account().inbox, subject="Soon gone")
    message.save()
    gone = message.id
    message.delete()
    return {"gone": gone}


def _draft(ctx):
    from exchangelib import Message
    draft = Message(account=ctx.account(), folder=ctx.account().drafts, subject="Quarterly figures",
                    body="Draft, figures to follow.", to_recipients=[BOB])
    draft.save()
    return {"draft": draft.id}


def _imported_once(ctx):
    """One of the two files imported before: the recorded run skips it (FindItem, GetItem) and creates the other."""
    (ctx.workdir / "sale-1.eml").write_text(_eml(1, "Sale one"))  # setup runs before the files are written
    ctx.run_unrecorded("import_messages.py", "sale-1.eml")
    return {}


def _eml(number, subject):
    return (f"From: news@shop.example\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
            f"Date: Tue, 01 Sep 2026 10:0{number}:00 +0000\r\nMessage-ID: <sale-{number}@shop.example>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nSpring sale.\r\n")


SCRIPTS = {
    "read_inbox-unread": Script("read_inbox.py", ["--unread", "--limit", "5", "--json"],
                                about="the unread messages, newest first: FindItem only"),
    "read_inbox-bodies": Script("read_inbox.py", ["--subject", "invoice", "--body", "--limit", "2", "--json"],
                                about="with --body: FindItem, then GetItem for the text"),
    "send_email-plain": Script("send_email.py", ["--to", BOB, "--subject", "Replay check", "--body",
                                                 "Hello Bob, this goes out once.", "--send-once-key", "replay-1"],
                               about="send with a copy in Sent Items, a fixed send-once key"),
    "send_email-draft-attachment": Script("send_email.py", ["--to", CAROL, "--subject", "Notes", "--body", "See the notes.",
                                                            "--attach", "notes.txt", "--draft", "--json",
                                                            "--send-once-key", "replay-4"],
                                          files={"notes.txt": "meeting notes\nline two\n"},
                                          about="a draft with a file attached, in one CreateItem"),
    "reply_forward-reply": Script("reply_forward.py", ["reply", "--subject", "Weekly status", "--body",
                                                       "Thanks, noted.", "--send-once-key", "replay-2"],
                                  about="reply to the newest match"),
    "reply_forward-forward": Script("reply_forward.py", ["forward", "--subject", "Invoice", "--to", CAROL, "--body",
                                                         "FYI", "--send-once-key", "replay-3"],
                                    about="forward the newest invoice with its attachment"),
    "manage_messages-move": Script("manage_messages.py", ["move", "--subject", "invoice", "--to-folder",
                                                          "Inbox/Invoices", "--create-folder", "--json"],
                                   about="FindFolder, CreateFolder, FindItem, MoveItem"),
    "manage_messages-mark-read-dry-run": Script("manage_messages.py", ["mark-read", "--unread", "--dry-run"],
                                                about="--dry-run lists, changes nothing"),
    "attachments-list": Script("attachments.py", ["list", "--subject", "invoice", "--json"],
                               about="FindItem, GetItem for the attachment list"),
    "attachments-download": Script("attachments.py", ["download", "--subject", "invoice", "--out", "saved", "--json"],
                                   about="GetAttachment per file"),
    "attachments-attach": Script("attachments.py", ["attach", "--id", "{draft}", "--file", "figures.csv", "--json"],
                                 setup=_draft, files={"figures.csv": "quarter,total\nQ1,10\nQ2,12\n"},
                                 about="CreateAttachment on a draft"),
    "tag_messages-tag": Script("tag_messages.py", ["tag", "--name", "ProcessedBy", "--value", "invoice-bot",
                                                   "--subject", "invoice", "--json"],
                               about="UpdateItem with an extended property"),
    "tag_messages-find": Script("tag_messages.py", ["find", "--name", "ProcessedBy", "--json"], setup=_tagged,
                                about="FindItem restricted on the extended property"),
    "setup_basic_auth-basic": Script("setup_basic_auth.py", ["--json"], mode="basic",
                                     about="Basic sign-in against the sandbox as a tenant"),
    "setup_oauth_client_credentials-app": Script("setup_oauth_client_credentials.py", ["--json"], mode="oauth-app",
                                                 about="client credentials token, then EWS by impersonation"),
    "setup_oauth_delegated_msal-password": Script("setup_oauth_delegated_msal.py", ["--json"],
                                                  mode="oauth-delegated", about="the password grant"),
    "setup_oauth_delegated_msal-device-code": Script("setup_oauth_delegated_msal.py", ["--json"],
                                                     mode="msal-device-code",
                                                     about="msal's device code flow, then EWS with its token"),
    "create_calendar_event-weekly-meeting": Script("create_calendar_event.py", [*SYNC_MEETING, "--json"],
                                                   about="a weekly series with an attendee: CreateItem, GetItem"),
    "calendar_view-fortnight": Script("calendar_view.py", ["--from", "2026-03-23", "--to", "2026-04-05", "--timezone",
                                                           "Europe/Berlin", "--json"], setup=_sync_meeting,
                                      about="a CalendarView across the change to summer time: one FindItem"),
    "respond_meeting-accept": Script("respond_meeting.py", ["accept", "--subject", "Sync", "--message", "See you",
                                                            "--json"], env={"EWS_EMAIL": BOB}, setup=_sync_meeting,
                                     about="bob accepts: FindItem in his Inbox, CreateItem AcceptItem"),
    "free_busy-three": Script("free_busy.py", ["--people", f"{ALICE},{BOB},{CAROL}", "--day", "2026-03-24",
                                               "--timezone", "Europe/Berlin", "--json"], setup=_sync_meeting,
                              about="GetServerTimeZones, one GetUserAvailability for three people"),
    "contacts-expand": Script("contacts.py", ["expand", "sales@contoso.example", "--json"],
                              about="the version probe, then one ExpandDL per nested list (the loop walked once)"),
    "inbox_rules-create": Script("inbox_rules.py", ["create", "--name", "Digests", "--subject-contains", "digest",
                                                    "--category", "News", "--mark-read", "--json"],
                                 about="GetInboxRules, UpdateInboxRules, GetInboxRules for the new id"),
    "oof-schedule": Script("oof.py", ["schedule", "--start", "2099-12-05", "--end", "2099-12-06", "--internal",
                                      "Away this weekend.", "--external", "Away until Monday.", "--audience",
                                      "known", "--json"],
                           about="one SetUserOofSettings with a window, different internal and external texts"),
    "sync_mailbox-first": Script("sync_mailbox.py", ["--state", "alice.sync.json", "--json", "--page-size", "20"],
                                 about="the first sync: the folder tree, then the inbox in pages of 20"),
    "pull_notifications-poll": Script("pull_notifications.py", ["--json", "--duration", "3", "--interval", "30"],
                                      about="Subscribe, one GetEvents (nothing new), Unsubscribe"),
    "pull_notifications-until-timeout": Script("pull_notifications.py", ["--until", "new-mail", "--duration", "2",
                                                                         "--interval", "30"],
                                               about="--until new-mail, no mail within 2 s: Subscribe, one GetEvents, "
                                                     "Unsubscribe, exit 1 with one line"),
    "push_listener-subscribe": Script("push_listener.py", ["--json", "--duration", "1", "--callback-url",
                                                           "https://hooks.contoso.example/ews"],
                                      about="the receiver on loopback, a push Subscribe, no delivery within a second"),
    "sync_streaming-no-such-folder": Script("sync_streaming.py", ["--state", "s.json", "--folder", "Inbox/Nowhere"],
                                            about="a folder that does not exist: exit 2 before subscribing "
                                                  "(a live stream's timing cannot be replayed)"),
    # ---- Exchange's error answers ----
    "errors-server-busy-backoff": Script("read_inbox.py", ["--limit", "3", "--json"], env={"EWS_RETRY_MAX_WAIT": "10"},
                                         faults=[{"kind": "server-busy", "every": 2, "backoff_ms": 700,
                                                  "operations": ["GetFolder"]}],
                                         about="ErrorServerBusy with BackOffMilliseconds 700: waited, then retried"),
    "errors-server-busy-gives-up": Script("read_inbox.py", ["--limit", "3"], env={"EWS_RETRY_MAX_WAIT": "0"},
                                          faults=[{"kind": "server-busy", "operations": ["FindItem"]}],
                                          about="ErrorServerBusy without a retry budget: exit 1"),
    "errors-access-denied": Script("read_inbox.py", ["--limit", "3"], mode="basic", env={"EWS_EMAIL": BOB},
                                   about="alice opens bob's mailbox without delegation: ErrorAccessDenied"),
    "import_messages-eml": Script("import_messages.py", ["sale-1.eml", "sale-2.eml", "--read", "--json"],
                                  setup=_imported_once, files={"sale-1.eml": _eml(1, "Sale one"),
                                                               "sale-2.eml": _eml(2, "Sale two")},
                                  about="two .eml files, one imported before: skipped by Message-ID, the other created"),
    "errors-non-existent-mailbox": Script("read_inbox.py", ["--limit", "3"], mode="basic",
                                          env={"EWS_EMAIL": "nobody@contoso.example"},
                                          about="a mailbox that does not exist: ErrorNonExistentMailbox"),
    "errors-item-not-found": Script("manage_messages.py", ["mark-read", "--id", "{gone}", "--json"],
                                    setup=_deleted_message,
                                    about="an id no mailbox holds: ErrorItemNotFound for that element"),
    "errors-http-401": Script("read_inbox.py", ["--limit", "3"], mode="basic", env={"EWS_PASSWORD": "wrong-password"},
                              about="a wrong password: HTTP 401"),
    "errors-http-403-ews-disabled": Script("read_inbox.py", ["--limit", "3"], faults=[{"kind": "ews-disabled"}],
                                           about="EWS disabled for the organisation: HTTP 403"),
    "errors-http-503": Script("read_inbox.py", ["--limit", "3"], env={"EWS_RETRY_MAX_WAIT": "0"},
                              faults=[{"kind": "http-503", "operations": ["FindItem"]}],
                              about="HTTP 503 without a retry budget: exit 1"),
    "errors-http-503-retried": Script("read_inbox.py", ["--limit", "3", "--json"], env={"EWS_RETRY_MAX_WAIT": "10"},
                                      faults=[{"kind": "http-503", "every": 2, "retry_after": 1,
                                               "operations": ["GetFolder"]}],
                                      about="HTTP 503 with Retry-After 1: waited, then retried"),
}

# Recorded from the sandbox, then one answer rewritten after Microsoft's EWS reference (the
# sandbox does not produce it): scenario -> (the recorded scenario it starts from, exchange, answer file).
SHAPED = {
    "errors-quota-exceeded": ("send_email-plain", "CreateItem", "quota-exceeded.xml"),
    "errors-soap-fault": ("read_inbox-unread", "FindItem", "soap-fault.xml"),
}


# ---- API scenarios: exchangelib calls the scripts do not make ---------------------------------------

def api_sync(account):
    """SyncFolderHierarchy, then SyncFolderItems on the inbox (ids only)."""
    changes = list(account.root.sync_hierarchy())
    items = list(account.inbox.sync_items(only_fields=["subject"], max_changes_returned=10))
    return {"folders": len(changes) > 0, "items": sorted(str(getattr(i[1] if isinstance(i, tuple) else i, "subject", ""))
                                                          for i in items)[:5]}


def api_notifications(account):
    """Subscribe (pull), GetEvents, Unsubscribe, GetEvents again (ErrorSubscriptionNotFound); Subscribe
    (streaming), GetEvents on it (ErrorInvalidSubscription: pull only), Unsubscribe."""
    from exchangelib.errors import ErrorInvalidSubscription, ErrorSubscriptionNotFound

    def events_error(subscription_id, watermark=None):
        try:
            list(account.inbox.get_events(subscription_id, watermark))
            return "no error"
        except (ErrorInvalidSubscription, ErrorSubscriptionNotFound) as error:
            return type(error).__name__

    subscription_id, watermark = account.inbox.subscribe_to_pull()
    events = list(account.inbox.get_events(subscription_id, watermark))
    account.inbox.unsubscribe(subscription_id)
    gone = events_error(subscription_id, watermark)
    streaming_id = account.inbox.subscribe_to_streaming()
    wrong_kind = events_error(streaming_id, watermark)
    account.inbox.unsubscribe(streaming_id)
    return {"events": len(events), "after_unsubscribe": gone, "get_events_on_streaming": wrong_kind}


def api_oof(account):
    """GetUserOofSettings, SetUserOofSettings, GetUserOofSettings."""
    from datetime import datetime, timezone
    from exchangelib.settings import OofSettings
    before = account.oof_settings.state
    account.oof_settings = OofSettings(state=OofSettings.ENABLED, internal_reply="Away until Monday.",
                                       external_reply="Away until Monday.", external_audience="All",
                                       start=datetime(2026, 1, 1, tzinfo=timezone.utc),
                                       end=datetime(2026, 1, 2, tzinfo=timezone.utc))
    return {"before": before, "after": account.oof_settings.state}


def api_rules(account):
    """GetInboxRules, UpdateInboxRules (create), GetInboxRules, UpdateInboxRules (delete)."""
    from exchangelib.properties import Actions, Conditions, Rule
    rule = Rule(account=account, display_name="Invoices to Finance", priority=1, is_enabled=True,
                conditions=Conditions(contains_subject_strings=["invoice"]),
                actions=Actions(stop_processing_rules=True))
    before = len(account.rules)
    rule.save()
    during = len(account.rules)
    rule.delete()
    return {"before": before, "during": during}


def api_directory(account):
    """ResolveNames, FindPeople."""
    resolved = account.protocol.resolve_names(["bob"], return_full_contact_data=False)
    people = list(account.contacts.people().filter("carol")[:5]) if hasattr(account.contacts, "people") else []
    return {"resolved": sorted(str(getattr(r, "email_address", r)) for r in resolved), "people": len(people)}


def api_calendar(account):
    """CreateItem (a calendar item), FindItem with a CalendarView, DeleteItem."""
    from datetime import datetime, timezone
    from exchangelib import CalendarItem
    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    item = CalendarItem(account=account, folder=account.calendar, subject="Planning", start=start,
                        end=datetime(2026, 3, 2, 10, tzinfo=timezone.utc))
    item.save()
    seen = [i.subject for i in account.calendar.view(start=start, end=datetime(2026, 3, 3, tzinfo=timezone.utc))]
    item.delete()
    return {"seen": seen}


def api_availability(account):
    """GetUserAvailability (exchangelib asks GetServerTimeZones first)."""
    from exchangelib import EWSDateTime, EWSTimeZone
    utc = EWSTimeZone("UTC")  # GetServerTimeZones needs the zone's Windows name: an EWSTimeZone
    start, end = EWSDateTime(2026, 3, 2, tzinfo=utc), EWSDateTime(2026, 3, 3, tzinfo=utc)
    infos = list(account.protocol.get_free_busy_info(accounts=[(account, "Organizer", False)], start=start, end=end))
    return {"answers": len(infos)}


def api_folders(account):
    """CreateFolder, UpdateFolder, EmptyFolder, DeleteFolder."""
    from exchangelib import Folder
    folder = Folder(parent=account.inbox, name="Replay scratch")
    folder.save()
    folder.name = "Replay scratch renamed"
    folder.save()
    folder.empty()
    folder.delete()
    return {"done": True}


def api_items(account):
    """CreateItem, CopyItem, ExportItems, UploadItems, DeleteItem."""
    from exchangelib import Message
    message = Message(account=account, folder=account.drafts, subject="Export me", body="Exported body.")
    message.save()
    copied = account.bulk_copy(ids=[(message.id, message.changekey)], to_folder=account.drafts)
    exported = account.export([message])
    uploaded = account.upload([(account.drafts, exported[0])])
    ids = [(message.id, message.changekey)] + [(c.id, c.changekey) for c in copied if hasattr(c, "id")] + \
          [u for u in uploaded if isinstance(u, tuple)]
    account.bulk_delete(ids)
    return {"copied": len(copied), "exported": len(exported), "uploaded": len(uploaded)}


def api_mailbox_settings(account):
    """GetDelegate, GetRoomLists."""
    return {"delegates": len(account.delegates), "room_lists": len(list(account.protocol.get_roomlists()))}


API = {"api-sync": api_sync, "api-notifications-invalid-subscription": api_notifications, "api-oof": api_oof,
       "api-rules": api_rules, "api-directory": api_directory, "api-calendar": api_calendar,
       "api-availability": api_availability, "api-folders": api_folders, "api-items": api_items,
       "api-mailbox-settings": api_mailbox_settings}


def api_account(endpoint, email=ALICE, password=PASSWORD):
    """The Account both the recording and the replay use: version known, so no probe."""
    from exchangelib import BASIC, DELEGATE, Account, Build, Configuration, Credentials, FailFast, Version
    from exchangelib.protocol import close_connections
    close_connections()
    config = Configuration(credentials=Credentials(email, password), service_endpoint=endpoint, auth_type=BASIC,
                           version=Version(build=Build(15, 1, 2507, 6)), retry_policy=FailFast())
    return Account(email, config=config, autodiscover=False, access_type=DELEGATE)


# ---- replaying a script scenario -------------------------------------------------------------------

PLACEHOLDER_SECRETS = {"{ews_password}": "replay-password", "{ews_client_secret}": "replay-client-secret"}


def replay_env(recording, workdir, **extra):
    """The environment a script is replayed in: the recorded settings (no secret, no CA), placeholder
    secrets, the run's own token cache, EWS_REPLAY; nothing of the caller's EWS_* settings."""
    import os
    scenario = recording["scenario"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_") and k != "REQUESTS_CA_BUNDLE"}
    env.update({k: PLACEHOLDER_SECRETS.get(v, v) for k, v in scenario["env"].items()})
    env.update(HOME=str(workdir), EWS_TOKEN_CACHE=str(workdir / "tokens.json"), **extra)
    return env


def replay_script(directory, workdir, timeout=120, **settings):
    """Run a script scenario's command offline from its recording: CompletedProcess."""
    import json
    import sys
    from pathlib import Path
    import warm_start
    directory = Path(directory)
    recording = json.loads((directory / "recording.json").read_text(encoding="utf-8"))
    scenario = recording["scenario"]
    for name, text in scenario.get("files", {}).items():
        (workdir / name).write_text(text)
    script = Path(__file__).resolve().parent.parent / "scripts" / scenario["script"]
    return warm_start.run([sys.executable, str(script), *scenario["args"]], cwd=workdir,
                          env=replay_env(recording, workdir, EWS_REPLAY=str(directory), **settings),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(autouse=True)
def no_network():
    """Every internet connection of the test process fails while the test runs (imported, autouse, by
    the test_replay_* modules; the scripts they run refuse theirs through EWS_REPLAY)."""
    from ews_sandbox.replay import allow_network, block_network
    block_network()
    yield
    allow_network()
