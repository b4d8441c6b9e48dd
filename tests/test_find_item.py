"""FindItem through exchangelib: restrictions (filter, exclude, Q), sort orders, paging,
shapes, QueryString and CalendarView, checked against the items each case should find.

Two folders are filled once for the module: "Restrictions" holds eleven messages,
A to K, whose properties the cases below are written against; "Paging" holds 2,500.
"""
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
import requests
from lxml import etree

from exchangelib import UTC, CalendarItem, Contact, EWSDateTime, EWSTimeZone, ExtendedProperty, Mailbox, Message, Q
from exchangelib.errors import ErrorCalendarFolderIsInvalidForCalendarView, ErrorInvalidOperation
from exchangelib.folders import Folder, FolderCollection, FolderQuerySet
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress

from ews_sandbox.ops import find_item
from ews_sandbox.query import restrictions, sort
from ews_sandbox.wire.ns import M, T

from conftest import ALICE, PASSWORD

PAGED = 2500
PROPERTY_SET = "c11ff724-aa03-4555-9952-8fa248a11c3e"


class Lucky(ExtendedProperty):
    property_set_id = PROPERTY_SET
    property_name = "LuckyNumber"
    property_type = "Integer"


class Tags(ExtendedProperty):
    property_set_id = PROPERTY_SET
    property_name = "Tags"
    property_type = "StringArray"


class Due(ExtendedProperty):
    property_set_id = PROPERTY_SET
    property_name = "Due"
    property_type = "SystemTime"


class Ratio(ExtendedProperty):
    property_set_id = PROPERTY_SET
    property_name = "Ratio"
    property_type = "Double"


class Flagged(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "SandboxFlagged"
    property_type = "Boolean"


class Scores(ExtendedProperty):
    property_set_id = PROPERTY_SET
    property_name = "Scores"
    property_type = "IntegerArray"


class Rank(ExtendedProperty):
    property_set_id = PROPERTY_SET
    property_name = "Rank"
    property_type = "Integer"


EXTENDED = {"lucky": Lucky, "tags": Tags, "due": Due, "ratio": Ratio, "flagged": Flagged, "scores": Scores,
            "rank": Rank}
ATHENS, PARIS = EWSTimeZone("Europe/Athens"), EWSTimeZone("Europe/Paris")
BOB, CAROL, DAVE = "bob@contoso.example", "carol@contoso.example", "dave@contoso.example"

# The restriction corpus: every case below is written against these properties.
CORPUS = {
    "A": dict(subject="Budget review Q3", body="Numbers attached for Q3.", categories=["Finance"], importance="High",
              is_read=True, lucky=7, tags=["red", "blue"], due=EWSDateTime(2024, 3, 1, 10, tzinfo=UTC),
              ratio=Decimal("0.5"), flagged=True),
    "B": dict(subject="budget REVIEW q4", body="More numbers.", categories=["finance", "Urgent"], lucky=13,
              tags=["Green"], due=EWSDateTime(2024, 3, 1, 12, tzinfo=ATHENS), ratio=Decimal("1.5")),
    "C": dict(subject="Lunch on Thursday?", body="Noon at the café.", importance="Low", is_read=True, lucky=-1,
              scores=[1, 2, 3]),
    "D": dict(subject="Café meeting notes", body="Résumé attached.", categories=["Customers"], lucky=100,
              due=EWSDateTime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)),
    "E": dict(body="This one has no subject.", categories=["Project X"], importance="High"),
    "F": dict(subject="Re: Budget review Q3", categories=["Project X", "Urgent"], is_read=True, tags=["RED"],
              flagged=False, due=EWSDateTime(2024, 6, 15, tzinfo=UTC)),
    "G": dict(subject="Invoice 4471", body="Payment terms are 30 days.", categories=["Finance"], lucky=7,
              ratio=Decimal("2.25")),
    "H": dict(subject="invoice 4472", lucky=8, scores=[5, 10]),
    "I": dict(subject="Weekly status", body="API done, docs in review.", tags=["blue", "yellow"],
              due=EWSDateTime(2025, 1, 1, tzinfo=UTC)),
    "J": dict(subject="Zebra", importance="Low", is_read=True, flagged=True, to_recipients=[CAROL]),
    "K": dict(subject="Lunch plans", body="Budget numbers for lunch", categories=["Social"],
              author=Mailbox(email_address=BOB, name="Bob Martin"), to_recipients=[CAROL, DAVE]),
}
ALL = frozenset(CORPUS)


def everything_but(keys):
    return ALL - set(keys)


# ---- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def account(admin, connect):
    admin.clear_faults()
    admin.reset("empty")
    for name, cls in EXTENDED.items():
        Message.register(name, cls)
    yield connect(ALICE)
    for name in EXTENDED:
        Message.deregister(name)


@pytest.fixture(scope="module")
def corpus(account):
    """(folder, {item id: key}) for the eleven messages of CORPUS."""
    folder = Folder(parent=account.inbox, name="Restrictions")
    folder.save()
    keys = sorted(CORPUS)
    messages = [Message(account=account, folder=folder, **CORPUS[key]) for key in keys]
    created = account.bulk_create(folder, messages)
    assert not [c for c in created if isinstance(c, Exception)]
    return folder, {c.id: key for c, key in zip(created, keys)}


@pytest.fixture(scope="module")
def paged(account):
    """A folder of 2,500 messages 'Paged 0000'...: importance cycles, Rank is i % 7."""
    folder = Folder(parent=account.inbox, name="Paging")
    folder.save()
    importances = ("Low", "Normal", "High")
    messages = [Message(account=account, folder=folder, subject=f"Paged {i:04d}", importance=importances[i % 3],
                        rank=i % 7) for i in range(PAGED)]
    for start in range(0, PAGED, 500):
        created = account.bulk_create(folder, messages[start:start + 500])
        assert not [c for c in created if isinstance(c, Exception)]
    return folder


def found(corpus, queryset):
    folder, keys = corpus
    ids = list(queryset.values_list("id", flat=True))
    assert len(ids) == len(set(ids)), "an item came back twice"
    return {keys[i] for i in ids}


def in_order(corpus, queryset):
    folder, keys = corpus
    return "".join(keys[i] for i in queryset.values_list("id", flat=True))


# ---- restrictions -------------------------------------------------------------------------

NOW = datetime.now(timezone.utc)
CASES = [
    # strings: IsEqualTo ignores case; Contains follows exact/iexact/contains/startswith
    ("subject equals, any case", Q(subject="budget review q3"), {"A"}),
    ("subject iexact", Q(subject__iexact="BUDGET REVIEW Q3"), {"A"}),
    ("subject exact is case-sensitive", Q(subject__exact="budget review q3"), set()),
    ("subject exact", Q(subject__exact="Budget review Q3"), {"A"}),
    ("subject contains is case-sensitive", Q(subject__contains="review"), {"A", "F"}),
    ("subject icontains", Q(subject__icontains="review"), {"A", "B", "F"}),
    ("subject startswith", Q(subject__startswith="Budget"), {"A"}),
    ("subject istartswith", Q(subject__istartswith="budget"), {"A", "B"}),
    ("subject in", Q(subject__in=["zebra", "INVOICE 4471"]), {"J", "G"}),
    ("subject exists", Q(subject__exists=True), everything_but("E")),
    ("subject missing", Q(subject__exists=False), {"E"}),
    ("exclude subject keeps the item without one", ~Q(subject="zebra"), everything_but("J")),
    ("exclude icontains keeps missing", ~Q(subject__icontains="budget"), everything_but("ABF")),
    ("subject greater than", Q(subject__gt="m"), {"F", "I", "J"}),
    ("subject range", Q(subject__range=("b", "c")), {"A", "B"}),
    ("subject less or equal", Q(subject__lte="invoice 4471"), {"A", "B", "D", "G"}),
    # multi-valued: any value matches, case-insensitively
    ("category", Q(categories__contains=["finance"]), {"A", "B", "G"}),
    ("all of two categories", Q(categories__contains=["Finance", "Urgent"]), {"B"}),
    ("any of two categories", Q(categories__in=["Urgent", "customers"]), {"B", "D", "F"}),
    ("exclude category", ~Q(categories__contains=["Project X"]), everything_but("EF")),
    ("no categories", Q(categories__exists=False), {"C", "H", "I", "J"}),
    # booleans and enumerations
    ("read", Q(is_read=True), {"A", "C", "F", "J"}),
    ("unread", Q(is_read=False), everything_but("ACFJ")),
    ("importance", Q(importance="High"), {"A", "E"}),
    ("importance in", Q(importance__in=["Low", "High"]), {"A", "C", "E", "J"}),
    ("exclude importance", ~Q(importance="Normal"), {"A", "C", "E", "J"}),
    ("importance ranks Low < Normal < High", Q(importance__gt="Normal"), {"A", "E"}),
    # extended properties: integers, arrays, times, doubles, booleans
    ("integer equals", Q(lucky=7), {"A", "G"}),
    ("integer greater", Q(lucky__gt=7), {"B", "D", "H"}),
    ("negative integer", Q(lucky__lt=0), {"C"}),
    ("integer range", Q(lucky__range=(7, 13)), {"A", "B", "G", "H"}),
    ("exclude integer keeps missing", ~Q(lucky=7), everything_but("AG")),
    ("integer exists", Q(lucky__exists=True), {"A", "B", "C", "D", "G", "H"}),
    ("integer missing", Q(lucky__exists=False), {"E", "F", "I", "J", "K"}),
    ("string array, any value, any case", Q(tags="red"), {"A", "F"}),
    ("string array contains both", Q(tags__contains=["red", "blue"]), {"A"}),
    ("string array in", Q(tags__in=["green", "yellow"]), {"B", "I"}),
    ("exclude string array value", ~Q(tags="blue"), everything_but("AI")),
    ("time after, in UTC", Q(due__gt=EWSDateTime(2024, 3, 1, 10, tzinfo=UTC)), {"F", "I"}),
    ("time equal across offsets", Q(due=EWSDateTime(2024, 3, 1, 10, tzinfo=UTC)), {"A", "B"}),
    ("time before, local zone", Q(due__lt=EWSDateTime(2024, 1, 1, 1, tzinfo=PARIS)), {"D"}),
    ("time range", Q(due__range=(EWSDateTime(2024, 1, 1, tzinfo=UTC), EWSDateTime(2024, 12, 31, tzinfo=UTC))),
     {"A", "B", "F"}),
    ("double", Q(ratio__gte=Decimal("1.5")), {"B", "G"}),
    ("boolean true", Q(flagged=True), {"A", "J"}),
    ("boolean false", Q(flagged=False), {"F"}),
    ("exclude boolean keeps missing", ~Q(flagged=True), everything_but("AJ")),
    ("integer array value", Q(scores=5), {"H"}),
    ("integer array any greater", Q(scores__gt=2), {"C", "H"}),
    # And, Or, Not nesting
    ("or", Q(subject__icontains="budget") | Q(categories__contains=["Customers"]), {"A", "B", "D", "F"}),
    ("and not", Q(subject__icontains="budget") & ~Q(is_read=True), {"B"}),
    ("not of or", ~(Q(importance="High") | Q(lucky__gt=10)), everything_but("ABDE")),
    ("exists and not equal", Q(lucky__exists=True) & ~Q(lucky=7), {"B", "C", "D", "H"}),
    ("or inside and inside not", (Q(categories__contains=["Urgent"]) | Q(tags="blue"))
     & ~Q(subject__istartswith="re:"), {"A", "B", "I"}),
    ("not of and", ~(Q(is_read=True) & Q(importance="Low")), everything_but("CJ")),
    # body, sender, server-kept properties
    ("body icontains", Q(body__icontains="numbers"), {"A", "B", "K"}),
    ("body contains with accent", Q(body__contains="café"), {"C"}),
    ("body icontains, accented capitals", Q(body__icontains="RÉSUMÉ"), {"D"}),
    ("no body", Q(body__exists=False), {"F", "H", "J"}),
    ("from", Q(author=BOB), {"K"}),
    ("received recently", Q(datetime_received__gt=NOW - timedelta(days=1)), ALL),
    ("received long ago", Q(datetime_received__lt=EWSDateTime(2000, 1, 1, tzinfo=UTC)), set()),
    ("exclude received long ago", ~Q(datetime_received__lt=EWSDateTime(2000, 1, 1, tzinfo=UTC)), ALL),
    ("item class ignores case", Q(item_class="ipm.note"), ALL),
    ("no attachments", Q(has_attachments=True), set()),
    ("size", Q(size__gt=0), ALL),
]


@pytest.mark.parametrize("name, q, expected", CASES, ids=[c[0] for c in CASES])
def test_restriction(corpus, name, q, expected):
    folder, _ = corpus
    assert found(corpus, folder.filter(q)) == set(expected)


def test_filter_and_exclude_chain(corpus):
    folder, _ = corpus
    queryset = folder.filter(categories__contains=["Urgent"]).exclude(subject__startswith="Re:")
    assert found(corpus, queryset) == {"B"}
    assert found(corpus, folder.exclude(lucky__in=[7, 8, 13])) == everything_but("ABGH")


def test_count_uses_the_restriction(corpus):
    folder, _ = corpus
    assert folder.all().count() == len(CORPUS)
    assert folder.filter(subject__icontains="budget").count() == 3
    assert folder.filter(lucky__exists=False).exists()


# ---- sorting ------------------------------------------------------------------------------

ORDERS = [
    (("subject",), "EABDGHCKFIJ"),             # a missing subject sorts first
    (("-subject",), "JIFKCHGDBAE"),
    (("-lucky", "subject"), "DBHAGCEKFIJ"),     # ties on 7 broken by subject; missing last descending
    (("importance", "subject"), "CJBDGHKFIEA"),  # Low < Normal < High, not alphabetical
    (("due",), "CEGHJKDABFI"),                  # UTC instants; ties keep creation order
    (("-due",), "IFBADKJHGEC"),
]


@pytest.mark.parametrize("fields, expected", ORDERS, ids=[" ".join(o[0]) for o in ORDERS])
def test_order_by(corpus, fields, expected):
    folder, _ = corpus
    assert in_order(corpus, folder.all().order_by(*fields)) == expected


def test_order_by_with_restriction_and_reverse(corpus):
    folder, _ = corpus
    queryset = folder.filter(lucky__exists=True).order_by("lucky")
    assert in_order(corpus, queryset) == "CAGHBD"
    assert in_order(corpus, queryset.reverse()) == "DBHGAC"


# ---- shapes ---------------------------------------------------------------------------------

def test_values_list_round_trips(corpus):
    folder, keys = corpus
    rows = folder.all().order_by("subject").values_list("id", "subject", "categories", "importance", "is_read",
                                                        "lucky", "tags")
    for item_id, subject, categories, importance, is_read, lucky, tags in rows:
        spec = CORPUS[keys[item_id]]
        assert subject == spec.get("subject")
        assert is_read is spec.get("is_read", False)
        assert categories == (spec.get("categories") or None)
        assert importance == spec.get("importance", "Normal")
        assert lucky == spec.get("lucky")
        assert tags == spec.get("tags")


def test_values_list_flat_and_values(corpus):
    folder, _ = corpus
    subjects = list(folder.filter(lucky=7).order_by("subject").values_list("subject", flat=True))
    assert subjects == ["Budget review Q3", "Invoice 4471"]
    assert list(folder.filter(subject="zebra").values("subject", "importance")) == [
        {"subject": "Zebra", "importance": "Low"}]


def test_only_leaves_other_fields_empty(corpus):
    folder, _ = corpus
    item = folder.filter(subject="invoice 4471").only("subject", "due", "ratio").get()
    assert (item.subject, item.ratio, item.due) == ("Invoice 4471", Decimal("2.25"), None)
    assert item.categories is None and item.lucky is None and item.body is None
    dated = folder.get(subject="budget review q4")
    assert dated.due == EWSDateTime(2024, 3, 1, 10, tzinfo=UTC)


def test_indexed_properties_of_contacts(account):
    people = [("Zed", "555-0101", "Main St"), ("Amy", "555-0102", "High St"), ("Bo", "556-0103", "Low Rd")]
    account.bulk_create(account.contacts, [
        Contact(account=account, folder=account.contacts, given_name=name, display_name=name,
                email_addresses=[EmailAddress(email=f"{name.lower()}@contoso.example", label="EmailAddress1")],
                phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number=phone)],
                physical_addresses=[PhysicalAddress(label="Business", street=street, city="Oslo")])
        for name, phone, street in people])
    names = lambda queryset: list(queryset.values_list("display_name", flat=True))  # noqa: E731
    contacts = account.contacts
    assert names(contacts.filter(email_addresses__EmailAddress1="AMY@contoso.example")) == ["Amy"]
    assert sorted(names(contacts.filter(phone_numbers__BusinessPhone__startswith="555"))) == ["Amy", "Zed"]
    assert sorted(names(contacts.filter(physical_addresses__Business__street__icontains="st"))) == ["Amy", "Zed"]
    assert names(contacts.exclude(physical_addresses__Business__city="oslo")) == []
    assert names(contacts.all().order_by("-physical_addresses__Business__street")) == ["Zed", "Bo", "Amy"]
    assert names(contacts.all().order_by("email_addresses__EmailAddress1")) == ["Amy", "Bo", "Zed"]


# ---- QueryString ----------------------------------------------------------------------------

QUERIES = [
    ("budget", {"A", "B", "F", "K"}),            # a plain word: subject or body, any case
    ("subject:invoice", {"G", "H"}),
    ("category:finance", {"A", "B", "G"}),
    ("from:bob", {"K"}),
    ("to:carol", {"J", "K"}),
    ('"payment terms"', {"G"}),
    ("budget numbers", {"A", "B", "K"}),         # terms are ANDed
    ("budget AND q4", {"B"}),
    ("subject:lunch body:café", {"C"}),
    # AQS as Exchange's content index answers it: words match from their start ...
    ("budg", {"A", "B", "F", "K"}),
    ("udget", set()),
    # ... OR, NOT and groups, AND binding tighter; keywords only in upper case
    ("budget OR invoice", {"A", "B", "F", "G", "H", "K"}),
    ("budget AND NOT review", {"K"}),
    ("(lunch OR zebra) AND NOT social", {"C", "J"}),
    ("subject:(invoice OR zebra)", {"G", "H", "J"}),
    ("budget or invoice", set()),
    # words without a property search senders, recipients and categories too
    ("bob", {"K"}),
    ("finance", {"A", "B", "G"}),
    ('participants:"bob martin"', {"K"}),
    ("participants:carol", {"J", "K"}),
    ("importance:high", {"A", "E"}),
    ("hasattachments:false kind:email", set(CORPUS)),
    ("received:>=2000-01-01", set(CORPUS)),
    ("received:<2000-01-01", set()),
]


@pytest.mark.parametrize("text, expected", QUERIES, ids=[q[0] for q in QUERIES])
def test_query_string(corpus, text, expected):
    folder, _ = corpus
    assert found(corpus, folder.filter(text)) == expected


# ---- paging -----------------------------------------------------------------------------------

def _find_item_calls(admin):
    return [entry for entry in admin.requests() if entry["operation"] == "FindItem"]


@pytest.mark.parametrize("page_size, pages", [(100, 25), (1000, 3)])
def test_paging_misses_and_repeats_nothing(paged, admin, page_size, pages):
    queryset = paged.all().only("subject")
    queryset.page_size = page_size
    admin.clear_requests()
    subjects = [item.subject for item in queryset]
    assert len(subjects) == PAGED
    assert set(subjects) == {f"Paged {i:04d}" for i in range(PAGED)}
    assert len(_find_item_calls(admin)) == pages


def test_paging_in_sort_order(paged):
    queryset = paged.all().order_by("-subject").only("subject")
    queryset.page_size = 1000
    assert [item.subject for item in queryset] == [f"Paged {i:04d}" for i in reversed(range(PAGED))]


def test_counts_and_slices(paged):
    assert paged.all().count() == PAGED
    assert paged.filter(subject__lt="paged 1000").count() == 1000
    ordered = paged.all().order_by("subject").values_list("subject", flat=True)
    assert list(ordered[1234:1240]) == [f"Paged {i:04d}" for i in range(1234, 1240)]
    assert list(ordered[2495:2510]) == [f"Paged {i:04d}" for i in range(2495, 2500)]
    assert ordered[0] == "Paged 0000"


FIRST = 700  # sort tests page through the first 700 items: several pages, many ties, less time


def _subjects(queryset, page_size=300):
    queryset = queryset.values_list("subject", flat=True)
    queryset.page_size = page_size
    return list(queryset)


def test_multi_field_sort_with_ties(paged):
    first = paged.filter(subject__lt=f"Paged {FIRST:04d}")
    expected = sorted(range(FIRST), key=lambda i: (i % 7, -i))
    assert _subjects(first.order_by("rank", "-subject")) == [f"Paged {i:04d}" for i in expected]
    expected = sorted(range(FIRST), key=lambda i: (-(i % 3), i))
    assert _subjects(first.order_by("-importance", "subject")) == [f"Paged {i:04d}" for i in expected]


def test_ties_break_by_creation_order_and_descending_mirrors(paged):
    first = paged.filter(subject__lt=f"Paged {FIRST:04d}")
    ascending = _subjects(first.order_by("rank"))
    assert ascending == [f"Paged {i:04d}" for i in sorted(range(FIRST), key=lambda i: (i % 7, i))]
    assert _subjects(first.order_by("-rank")) == list(reversed(ascending))


def test_thousand_items_with_only_are_find_item_pages_only(paged, admin):
    admin.clear_requests()
    subjects = [item.subject for item in paged.filter(subject__lt="paged 1000").only("subject")]
    assert len(subjects) == 1000 and len(set(subjects)) == 1000
    operations = [entry["operation"] for entry in admin.requests()]
    assert set(operations) == {"FindItem"} and len(operations) == 10


def test_one_request_several_folders(corpus, paged):
    folders = FolderCollection(account=paged.account, folders=[corpus[0], paged])
    subjects = folders.filter(subject__in=["zebra", "Paged 0007"]).values_list("subject", flat=True)
    assert sorted(subjects) == ["Paged 0007", "Zebra"]


def test_find_folder_restriction(account, corpus, paged):
    children = FolderQuerySet(FolderCollection(account=account, folders=[account.inbox]))
    assert [f.name for f in children.filter(name="PAGING")] == ["Paging"]
    assert sorted(f.name for f in children.filter(name__istartswith="r")) == ["Restrictions"]


# ---- the wire, for what exchangelib cannot send ------------------------------------------------

def find_item_xml(sandbox, folder, inner, view='<m:IndexedPageItemView MaxEntriesReturned="1000" Offset="0" '
                  'BasePoint="Beginning"/>', traversal="Shallow"):
    """POST a FindItem with `inner` (Restriction, SortOrder...) and return the parsed answer."""
    envelope = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{M}" xmlns:t="{T}">
<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
<s:Body><m:FindItem Traversal="{traversal}"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
{view}{inner}<m:ParentFolderIds><t:FolderId Id="{folder.id}"/></m:ParentFolderIds></m:FindItem></s:Body>
</s:Envelope>"""
    response = requests.post(sandbox.ews_url, data=envelope.encode(), auth=(ALICE, PASSWORD),
                             verify=sandbox.ca_bundle, headers={"Content-Type": "text/xml; charset=utf-8"})
    return response.status_code, etree.fromstring(response.content)


def root_folder(answer):
    return answer.find(f".//{{{M}}}RootFolder")


def answer_keys(corpus, answer):
    _, keys = corpus
    return {keys[e.get("Id")] for e in answer.iter(f"{{{T}}}ItemId")}


def subject_contains(text, mode, comparison, uri="item:Subject"):
    return (f'<m:Restriction><t:Contains ContainmentMode="{mode}" ContainmentComparison="{comparison}">'
            f'<t:FieldURI FieldURI="{uri}"/><t:Constant Value="{text}"/></t:Contains></m:Restriction>')


LUCKY_URI = f'<t:ExtendedFieldURI PropertySetId="{PROPERTY_SET}" PropertyName="LuckyNumber" PropertyType="Integer"/>'
TAGS_URI = f'<t:ExtendedFieldURI PropertySetId="{PROPERTY_SET}" PropertyName="Tags" PropertyType="StringArray"/>'
IS_READ = ('<t:IsEqualTo><t:FieldURI FieldURI="message:IsRead"/><t:FieldURIOrConstant><t:Constant Value="true"/>'
           '</t:FieldURIOrConstant></t:IsEqualTo>')
WIRE_CASES = [
    ("prefix on words", subject_contains("rev", "PrefixOnWords", "IgnoreCase"), {"A", "B", "F"}),
    ("prefix on words needs a word start", subject_contains("view", "PrefixOnWords", "IgnoreCase"), set()),
    ("exact phrase", subject_contains("review q3", "ExactPhrase", "IgnoreCase"), {"A", "F"}),
    ("exact phrase needs whole words", subject_contains("review q", "ExactPhrase", "IgnoreCase"), set()),
    ("ignore non-spacing characters", subject_contains("Cafe", "Substring", "IgnoreNonSpacingCharacters"), {"D"}),
    ("non-spacing characters count when exact", subject_contains("Cafe", "Substring", "Exact"), set()),
    ("ignore case and non-spacing", subject_contains("CAFE", "Substring", "IgnoreCaseAndNonSpacingCharacters",
                                                     "item:Body"), {"C"}),
    ("loose", subject_contains("resume attached.", "FullString", "Loose", "item:Body"), {"D"}),
    ("excludes bitmask", f'<m:Restriction><t:Excludes>{LUCKY_URI}<t:Bitmask Value="0x1"/></t:Excludes>'
                         '</m:Restriction>', {"D", "H"}),
    ("not excludes keeps missing", f'<m:Restriction><t:Not><t:Excludes>{LUCKY_URI}<t:Bitmask Value="1"/>'
                                   '</t:Excludes></t:Not></m:Restriction>', everything_but("DH")),
    ("not of several is not of their and", f'<m:Restriction><t:Not><t:Exists>{LUCKY_URI}</t:Exists>'
     f'<t:Exists>{TAGS_URI}</t:Exists></t:Not></m:Restriction>', everything_but("AB")),
    ("several expressions are anded", f'<m:Restriction><t:Exists>{TAGS_URI}</t:Exists>{IS_READ}</m:Restriction>',
     {"A", "F"}),
    ("property against property", '<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="item:DateTimeCreated"/>'
                                  '<t:FieldURIOrConstant><t:FieldURI FieldURI="item:LastModifiedTime"/>'
                                  '</t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>', ALL),
]


@pytest.mark.parametrize("name, restriction, expected", WIRE_CASES, ids=[c[0] for c in WIRE_CASES])
def test_restriction_on_the_wire(sandbox, corpus, name, restriction, expected):
    status, answer = find_item_xml(sandbox, corpus[0], restriction)
    assert status == 200
    assert answer_keys(corpus, answer) == expected


def test_unknown_restriction_element_is_a_schema_fault(sandbox, corpus):
    restriction = ('<m:Restriction><t:IsRoughly><t:FieldURI FieldURI="item:Subject"/>'
                   '<t:FieldURIOrConstant><t:Constant Value="x"/></t:FieldURIOrConstant></t:IsRoughly></m:Restriction>')
    status, answer = find_item_xml(sandbox, corpus[0], restriction)
    assert status == 500
    assert answer.findtext(".//{http://schemas.microsoft.com/exchange/services/2006/errors}ResponseCode") == \
        "ErrorSchemaValidation"


WIRE_ERRORS = [
    ("a stream property", '<m:Restriction><t:Exists><t:FieldURI FieldURI="item:MimeContent"/></t:Exists>'
                          '</m:Restriction>', "ErrorUnsupportedPathForQuery"),
    ("a bad date", '<m:Restriction><t:IsLessThan><t:FieldURI FieldURI="item:DateTimeReceived"/><t:FieldURIOrConstant>'
                   '<t:Constant Value="yesterday"/></t:FieldURIOrConstant></t:IsLessThan></m:Restriction>',
     "ErrorInvalidValueForProperty"),
    ("sorting by body", '<m:SortOrder><t:FieldOrder Order="Ascending"><t:FieldURI FieldURI="item:Body"/></t:FieldOrder>'
                        '</m:SortOrder>', "ErrorUnsupportedPathForSortGroup"),
]


@pytest.mark.parametrize("name, inner, code", WIRE_ERRORS, ids=[e[0] for e in WIRE_ERRORS])
def test_refused_on_the_wire(sandbox, corpus, name, inner, code):
    status, answer = find_item_xml(sandbox, corpus[0], inner)
    assert answer.findtext(f".//{{{M}}}ResponseCode") == code


def test_fractional_page(sandbox, paged):
    view = '<m:FractionalPageItemView MaxEntriesReturned="100" Numerator="1" Denominator="2"/>'
    status, answer = find_item_xml(sandbox, paged, "", view)
    root = root_folder(answer)
    assert (root.get("NumeratorOffset"), root.get("AbsoluteDenominator"), root.get("IncludesLastItemInRange")) == \
        ("1350", "2500", "false")
    assert len(root.find(f"{{{T}}}Items")) == 100


def test_paging_attributes(sandbox, paged):
    view = '<m:IndexedPageItemView MaxEntriesReturned="{}" Offset="{}" BasePoint="{}"/>'
    status, answer = find_item_xml(sandbox, paged, "", view.format(5000, 2000, "Beginning"))
    root = root_folder(answer)
    assert (root.get("IndexedPagingOffset"), root.get("TotalItemsInView"), root.get("IncludesLastItemInRange")) == \
        ("2500", "2500", "true")
    assert len(root.find(f"{{{T}}}Items")) == 500
    status, answer = find_item_xml(sandbox, paged, "", view.format(5000, 0, "Beginning"))
    root = root_folder(answer)
    assert len(root.find(f"{{{T}}}Items")) == 1000  # Exchange's page limit
    assert (root.get("IndexedPagingOffset"), root.get("IncludesLastItemInRange")) == ("1000", "false")
    _, first = find_item_xml(sandbox, paged, "", view.format(10, 0, "Beginning"))
    _, last = find_item_xml(sandbox, paged, "", view.format(10, 0, "End"))
    _, tail = find_item_xml(sandbox, paged, "", view.format(10, 2490, "Beginning"))
    ids = lambda answer: [e.get("Id") for e in answer.iter(f"{{{T}}}ItemId")]  # noqa: E731
    assert ids(last) == ids(tail) and ids(last) != ids(first)


def test_associated_traversal_lists_only_associated_items(sandbox, corpus):
    status, answer = find_item_xml(sandbox, corpus[0], "", traversal="Associated")
    assert root_folder(answer).get("TotalItemsInView") == "0"
    status, answer = find_item_xml(sandbox, corpus[0], "", traversal="Deep")
    assert status == 500  # not a value of ItemQueryTraversalType


# ---- SQL plans: indexed columns within a folder use their index ---------------------------------

def _plan(sandbox, q_element_xml):
    node = restrictions.parse(etree.fromstring(q_element_xml))
    condition, params = restrictions.to_sql(node)
    order_sql, order_params = sort.order_by(sort.DEFAULT_KEYS, restrictions.narrowing_columns(node))
    find_item._install_functions(SimpleNamespace(sandbox=sandbox))
    with sandbox.database.transaction() as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN SELECT * FROM items WHERE folder_id = ? AND is_associated = 0 "
                            f"AND ({condition}) ORDER BY {order_sql} LIMIT 100",
                            [1, *params, *order_params]).fetchall()
    return " ".join(row[-1] for row in rows)


def test_indexed_equality_and_range_use_the_folder_indexes(sandbox):
    equal = (f'<t:IsEqualTo xmlns:t="{T}"><t:FieldURI FieldURI="item:Subject"/>'
             '<t:FieldURIOrConstant><t:Constant Value="Hello"/></t:FieldURIOrConstant></t:IsEqualTo>')
    assert "items_folder_subject (folder_id=? AND subject=?)" in _plan(sandbox, equal)
    after = (f'<t:IsGreaterThan xmlns:t="{T}"><t:FieldURI FieldURI="item:DateTimeReceived"/>'
             '<t:FieldURIOrConstant><t:Constant Value="2024-01-01T00:00:00Z"/></t:FieldURIOrConstant>'
             '</t:IsGreaterThan>')
    assert "items_folder_received (folder_id=? AND received>?)" in _plan(sandbox, after)
    assert "items_folder_sent (folder_id=? AND sent>?)" in _plan(sandbox, after.replace("Received", "Sent"))
    sender = equal.replace("item:Subject", "message:From").replace("Hello", "Bob@Contoso.example")
    assert "items_folder_sender (folder_id=? AND sender=?)" in _plan(sandbox, sender)
    prefix = (f'<t:Contains xmlns:t="{T}" ContainmentMode="Prefixed" ContainmentComparison="IgnoreCase">'
              '<t:FieldURI FieldURI="item:Subject"/><t:Constant Value="Paged 1"/></t:Contains>')
    assert "items_folder_subject (folder_id=? AND subject>? AND subject<?)" in _plan(sandbox, prefix)


# ---- CalendarView ---------------------------------------------------------------------------------

def test_calendar_view_lists_overlapping_appointments(account):
    calendar = account.calendar
    day = EWSDateTime(2024, 5, 1, tzinfo=PARIS)
    spans = {"before": (-3, -2), "overlaps start": (-1, 1), "inside": (2, 3), "overlaps end": (23, 25),
             "after": (26, 27)}
    account.bulk_create(calendar, [CalendarItem(account=account, folder=calendar, subject=name,
                                                start=day + timedelta(hours=a), end=day + timedelta(hours=b))
                                   for name, (a, b) in spans.items()])
    listed = [item.subject for item in calendar.view(day, day + timedelta(days=1))]
    assert listed == ["overlaps start", "inside", "overlaps end"]
    assert [i.subject for i in calendar.view(day, day + timedelta(days=1), max_items=2)] == listed[:2]
    starts = calendar.filter(start__gte=day, start__lt=day + timedelta(days=1)).order_by("-start")
    assert list(starts.values_list("subject", flat=True)) == ["overlaps end", "inside"]
    # Exchange refuses a restriction on a CalendarView as an invalid operation (exchangelib's
    # suite, kept green against Exchange, expects ErrorInvalidOperation)
    with pytest.raises(ErrorInvalidOperation):
        list(calendar.view(day, day + timedelta(days=1)).filter(subject="inside"))
    with pytest.raises(ErrorCalendarFolderIsInvalidForCalendarView):
        list(FolderCollection(account=account, folders=[account.inbox]).view(day, day + timedelta(days=1)))
