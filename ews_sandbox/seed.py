"""Tenants to start from: `empty` (users only) and `demo` (users, a distribution list
and a few dozen messages between them, some with attachments). Both get the same
tenant id and app registrations (for the OAuth authority), and the same directory:
colleagues who do not sign in (several Smiths among them) and nested distribution lists,
one of which contains itself through two others, to make a directory search interesting."""
import random
from datetime import datetime, timedelta, timezone

from lxml import etree

from . import seed_demo
from .model import attachments, delivery, directory, folders, items, journal
from .oauth import registry
from .oauth.scopes import EXCHANGE, GRAPH
from .wire.ns import T, t

DOMAIN = "contoso.example"
DEMO_PASSWORD = "demo-password"  # the demo tenant guards nothing: fixed and documented
DEMO_USERS = [
    ("alice", "Alice Wong"), ("bob", "Bob Martin"), ("carol", "Carol Diaz"),
    ("dave", "Dave Okafor"), ("erin", "Erin Smith"),
]
# A mailbox's language names its default folders: erin's are German (Posteingang, Gesendete
# Elemente...), as Exchange makes them for a German user, so code that finds folders by name
# can be tried against it.
DEMO_LOCALES = {"erin": "de-DE"}
DEMO_LISTS = [("team", "Project Team", ["alice", "bob", "carol"])]
# The rest of the directory: people with a mailbox but no password (they cannot sign in),
# and lists that nest (sales -> sales-emea -> sales-nordics -> sales again).
DIRECTORY_PEOPLE = [
    ("john.smith", "John Smith"), ("jane.smith", "Jane Smith"), ("kim.smith", "Kim Smith"),
    ("michael.smithson", "Michael Smithson"), ("priya.natarajan", "Priya Natarajan"),
    ("hiroshi.tanaka", "Hiroshi Tanaka"), ("fatima.haddad", "Fatima Haddad"), ("lars.nilsson", "Lars Nilsson"),
    ("grace.mensah", "Grace Mensah"), ("nora.kowalski", "Nora Kowalski"), ("tomas.novak", "Tomas Novak"),
    ("sofia.rossi", "Sofia Rossi"), ("ivan.petrov", "Ivan Petrov"), ("maria.garcia", "Maria Garcia"),
    ("wei.chen", "Wei Chen"),
]
DIRECTORY_LISTS = [
    ("sales", "Sales", ["maria.garcia", "john.smith", "sales-emea"]),
    ("sales-emea", "Sales EMEA", ["sofia.rossi", "ivan.petrov", "sales-nordics"]),
    ("sales-nordics", "Sales Nordics", ["lars.nilsson", "nora.kowalski", "sales"]),
    ("engineering", "Engineering", ["hiroshi.tanaka", "priya.natarajan", "wei.chen", "team"]),
    ("all-staff", "All Staff", ["sales", "engineering", "jane.smith", "kim.smith", "michael.smithson",
                                "fatima.haddad", "grace.mensah", "tomas.novak", "erin", "dave"]),
]
# Rooms (mailboxes that accept meetings by themselves when free) and the room list that
# GetRoomLists names and GetRooms expands; no password: nobody signs in as a room.
DEMO_ROOMS = [("room-atlas", "Atlas (8 seats)"), ("room-borealis", "Borealis (4 seats)"),
              ("room-cosmos", "Cosmos (12 seats)")]
DEMO_ROOM_LISTS = [("rooms-hq", "Headquarters rooms", ["room-atlas", "room-borealis", "room-cosmos"])]
# The app registrations guard nothing either: fixed ids and secrets, documented in the README.
DEMO_TENANT_ID = "6f1d3c52-8a47-4e0b-9c2d-5b7e1a9f3c04"
DEMO_APPS = [
    registry.App("1b5e3f0a-7c2d-4e8b-a9f1-3d6c8e0b2a57", "EWS sandbox daemon", "confidential", "demo-daemon-secret",
                 {EXCHANGE: {"roles": ["full_access_as_app"], "scopes": ["EWS.AccessAsUser.All"]}},
                 ("http://localhost",)),
    registry.App("9c4a2e71-3b8d-4f5e-b0a6-7e1d2c9f4b38", "EWS sandbox desktop", "public", None,
                 {EXCHANGE: {"scopes": ["EWS.AccessAsUser.All"]}}, ("http://localhost",)),
    registry.App("4e8d1a6c-2f7b-4a9e-8c3d-0b5f7e2a1d96", "Graph-only app", "graph-only", "demo-graph-secret",
                 {GRAPH: {"roles": ["Mail.ReadWrite", "User.Read.All"],
                          "scopes": ["Mail.ReadWrite", "User.Read"]}},
                 ("http://localhost",)),
]
SUBJECTS = [
    ("Q3 budget review", "Hi {to},\n\nThe Q3 budget draft is ready for review. Please send comments by Friday.\n\nThanks,\n{sender}"),
    ("Lunch on Thursday?", "Are you free for lunch on Thursday around noon?\n\n{sender}"),
    ("Release 2.4 checklist", "Attached is the checklist for release 2.4. Two items are still open.\n\n{sender}"),
    ("Customer call notes", "Notes from today's call with Fabrikam: they want the export feature by March.\n\n{sender}"),
    ("Re: Office move", "The movers come on the 14th. Please pack your desk the day before.\n\n{sender}"),
    ("Invoice 4471", "Please find invoice 4471 attached. Payment terms are 30 days.\n\n{sender}"),
    ("Team offsite agenda", "<html><body><p>Draft agenda for the offsite:</p><ul><li>Roadmap</li><li>Hiring</li><li>Retro</li></ul></body></html>"),
    ("Security training reminder", "Reminder: the annual security training is due by the end of the month.\n\n{sender}"),
    ("Weekly status", "Status this week: API done, docs in review, tests green.\n\n{sender}"),
    ("Contract renewal", "The Northwind contract renews next month. Do we renegotiate the SLA?\n\n{sender}"),
    ("Design review feedback", "<html><body><p>Thanks for the design. Two comments:</p><ol><li>Simplify the settings page.</li><li>Add an empty state.</li></ol></body></html>"),
    ("Holiday schedule", "The office is closed on the 24th and 25th.\n\n{sender}"),
]
CATEGORIES = [[], [], ["Finance"], ["Project X"], ["Project X", "Urgent"], ["Customers"]]


def apply(database, seed, now=None):
    """Wipe `database` and create the `seed` tenant in it, dated from `now` (aware; default: now)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    with database.transaction() as conn:
        for table in ("attachments", "items", "user_configurations", "folders", "delegates", "delegate_users",
                      "inbox_rules", "oof_replies", "mailbox_settings", "users", "meta", "apps",
                      "journal"):  # a new tenant: earlier sync states and watermarks mean nothing
            conn.execute(f"DELETE FROM {table}")
        journal.install(conn)
        register_apps(conn)
        user_rows = {}
        for login, name in DEMO_USERS:
            user_id = directory.add_user(conn, f"{login}@{DOMAIN}", name, DEMO_PASSWORD)
            folders.create_mailbox(conn, user_id, DEMO_LOCALES.get(login, "en-US"))
            user_rows[login] = directory.user_by_id(conn, user_id)
        for login, name, members in DEMO_LISTS:
            directory.add_distribution_list(conn, f"{login}@{DOMAIN}", name, [f"{m}@{DOMAIN}" for m in members])
        _directory(conn)
        for login, name in DEMO_ROOMS:
            folders.create_mailbox(conn, directory.add_room(conn, f"{login}@{DOMAIN}", name))
        for login, name, members in DEMO_ROOM_LISTS:
            directory.add_distribution_list(conn, f"{login}@{DOMAIN}", name, [f"{m}@{DOMAIN}" for m in members],
                                            room_list=True)
        conn.execute("INSERT INTO meta(key, value) VALUES ('seed', ?)", (seed,))
        if seed == "demo":
            _demo_messages(conn, user_rows, now)
            seed_demo.apply(conn, now)


def _directory(conn):
    for login, name in DIRECTORY_PEOPLE:
        person_id = directory.add_user(conn, f"{login}@{DOMAIN}", name, None)
        folders.create_mailbox(conn, person_id)
    for login, name, members in DIRECTORY_LISTS:
        directory.add_distribution_list(conn, f"{login}@{DOMAIN}", name, [f"{m}@{DOMAIN}" for m in members])


def register_apps(conn):
    """The demo tenant's id and app registrations (also for databases made before them)."""
    registry.set_tenant_id(conn, DEMO_TENANT_ID)
    for app in DEMO_APPS:
        registry.add_app(conn, app)


def _demo_messages(conn, user_rows, now):
    rng = random.Random(2026)
    logins = list(user_rows)
    for number in range(36):
        sender = user_rows[logins[number % len(logins)]]
        others = [user_rows[login] for login in logins if login != logins[number % len(logins)]]
        to = [others[number % len(others)]]
        cc = [others[(number + 2) % len(others)]] if number % 3 == 0 else []
        subject, body = SUBJECTS[number % len(SUBJECTS)]
        to_addresses = [row["email"] for row in to] + ([f"team@{DOMAIN}"] if number % 11 == 5 else [])
        item = _message(subject, body.format(to=to[0]["name"].split()[0], sender=sender["name"].split()[0]),
                        to_addresses, [row["email"] for row in cc], CATEGORIES[number % len(CATEGORIES)],
                        "High" if number % 7 == 3 else "Normal")
        when = (now - timedelta(days=35 - number, minutes=rng.randint(0, 600))).strftime("%Y-%m-%dT%H:%M:%SZ")
        delivery.stamp_sent(conn, item, sender, sent_at=when)
        sent = items.insert(conn, folders.distinguished(conn, sender["id"], "sentitems"), item, received=when)
        if "attached" in body:
            name, content = ("checklist.txt", b"1. Tag\n2. Build\n3. Publish\n") if "checklist" in body else (
                "invoice-4471.csv", b"item,amount\nconsulting,1200\ntravel,310\n")
            attachments.add(conn, sent["id"], "FileAttachment", name, "text/plain" if name.endswith("txt") else "text/csv",
                            None, False, content)
            sent = items.refresh_columns(conn, sent, **items.kept_unmodified(sent))
        for row in delivery.deliver(conn, item, source_item_id=sent["id"], received=when):
            if rng.random() < 0.4:
                read = etree.fromstring(row["xml"])
                read.find(t("IsRead")).text = "true"
                items.save(conn, row, read, **items.kept_unmodified(row))


def _message(subject, body, to, cc, categories, importance):
    item = etree.Element(t("Message"), nsmap={"t": T})
    etree.SubElement(item, t("Subject")).text = subject
    body_element = etree.SubElement(item, t("Body"), BodyType="HTML" if body.startswith("<html>") else "Text")
    body_element.text = body
    if categories:
        container = etree.SubElement(item, t("Categories"))
        for category in categories:
            etree.SubElement(container, t("String")).text = category
    etree.SubElement(item, t("Importance")).text = importance
    for tag, addresses in (("ToRecipients", to), ("CcRecipients", cc)):
        if addresses:
            container = etree.SubElement(item, t(tag))
            for address in addresses:
                mailbox = etree.SubElement(container, t("Mailbox"))
                etree.SubElement(mailbox, t("EmailAddress")).text = address
    return item
