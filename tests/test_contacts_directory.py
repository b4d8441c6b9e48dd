"""The seeded directory through exchangelib: ResolveNames over users, lists and the
caller's contacts and personal lists, and ExpandDL one level at a time, nested lists
and the loop sales -> sales-emea -> sales-nordics -> sales included."""
import pytest
from exchangelib import Contact, DistributionList, Mailbox
from exchangelib.indexed_properties import EmailAddress
from exchangelib.properties import DLMailbox, Member

from conftest import ALICE

DOMAIN = "contoso.example"
SALES, EMEA, NORDICS = (f"{name}@{DOMAIN}" for name in ("sales", "sales-emea", "sales-nordics"))


@pytest.fixture
def alice(clean, connect):
    account = connect(ALICE)
    assert account.protocol.version.build is not None  # protocol services need the version known
    return account


def addresses(results):
    return [mailbox.email_address for mailbox in results]


def test_everyone_named_smith(alice):
    # a name's words start words of the display name: Smithson is found too, sorted by name
    results = alice.protocol.resolve_names(["smith"])
    assert [m.name for m in results] == ["Erin Smith", "Jane Smith", "John Smith", "Kim Smith", "Michael Smithson"]
    assert {m.mailbox_type for m in results} == {"Mailbox"}
    [john] = alice.protocol.resolve_names(["john smith"])
    assert john.email_address == f"john.smith@{DOMAIN}"


def test_full_contact_data_for_a_directory_user(alice):
    [(mailbox, contact)] = alice.protocol.resolve_names(["priya"], return_full_contact_data=True)
    assert mailbox.email_address == f"priya.natarajan@{DOMAIN}"
    assert (contact.display_name, contact.given_name, contact.surname) == ("Priya Natarajan", "Priya", "Natarajan")
    assert contact.contact_source == "ActiveDirectory"


def test_search_scopes_choose_where_names_are_looked_up(alice):
    Contact(account=alice, folder=alice.contacts, display_name="Jane Smith (private)", given_name="Jane",
            surname="Smith", email_addresses=[EmailAddress(email="jane@home.example")]).save()
    both = alice.protocol.resolve_names(["jane"], search_scope="ContactsActiveDirectory")
    assert addresses(both) == ["jane@home.example", f"jane.smith@{DOMAIN}"]  # contacts first in this scope
    assert [m.mailbox_type for m in both] == ["Contact", "Mailbox"]
    directory_first = alice.protocol.resolve_names(["jane"], search_scope="ActiveDirectoryContacts")
    assert addresses(directory_first) == [f"jane.smith@{DOMAIN}", "jane@home.example"]
    [only_contact] = alice.protocol.resolve_names(["jane"], search_scope="Contacts")
    assert only_contact.email_address == "jane@home.example"
    [only_directory] = alice.protocol.resolve_names(["jane"], search_scope="ActiveDirectory")
    assert only_directory.email_address == f"jane.smith@{DOMAIN}"


def test_lists_resolve_as_public_dl(alice):
    results = alice.protocol.resolve_names(["sales"])
    assert [(m.name, m.mailbox_type) for m in results] == \
        [("Sales", "PublicDL"), ("Sales EMEA", "PublicDL"), ("Sales Nordics", "PublicDL")]


def test_expand_dl_returns_one_level_nested_lists_unexpanded(alice):
    members = alice.protocol.expand_dl(SALES)
    assert [(m.email_address, m.mailbox_type) for m in members] == \
        [(f"maria.garcia@{DOMAIN}", "Mailbox"), (f"john.smith@{DOMAIN}", "Mailbox"), (EMEA, "PublicDL")]


def flatten(account, address):
    """What a client does to list everyone on a list: expand nested lists itself, each once."""
    people, seen, pending = [], {address}, [address]
    while pending:
        for member in account.protocol.expand_dl(pending.pop(0)):
            if member.mailbox_type == "PublicDL":
                if member.email_address not in seen:
                    seen.add(member.email_address)
                    pending.append(member.email_address)
            elif member.email_address not in people:
                people.append(member.email_address)
    return people, seen


def test_a_list_that_contains_itself_expands_without_end(alice):
    nordics = alice.protocol.expand_dl(NORDICS)
    assert (SALES, "PublicDL") in [(m.email_address, m.mailbox_type) for m in nordics]  # the loop is there
    people, lists = flatten(alice, SALES)
    assert lists == {SALES, EMEA, NORDICS}
    assert sorted(people) == sorted(f"{login}@{DOMAIN}" for login in (
        "maria.garcia", "john.smith", "sofia.rossi", "ivan.petrov", "lars.nilsson", "nora.kowalski"))


def test_all_staff_flattens_through_three_levels(alice):
    people, lists = flatten(alice, f"all-staff@{DOMAIN}")
    assert lists == {f"all-staff@{DOMAIN}", SALES, EMEA, NORDICS, f"engineering@{DOMAIN}", f"team@{DOMAIN}"}
    assert len(people) == len(set(people)) == 20  # every directory person and alice, bob, carol, dave, erin


def test_personal_list_resolves_as_private_dl_and_expands(alice):
    private = DistributionList(account=alice, folder=alice.contacts, display_name="Smiths I know",
                               members=[Member(mailbox=Mailbox(name="Kim Smith", email_address=f"kim.smith@{DOMAIN}",
                                                               mailbox_type="Mailbox")),
                                        Member(mailbox=Mailbox(name="Sales", email_address=SALES,
                                                               mailbox_type="PublicDL"))])
    private.save()
    [found] = alice.protocol.resolve_names(["smiths i"])
    assert (found.name, found.mailbox_type, found.item_id.id) == ("Smiths I know", "PrivateDL", private.id)
    members = alice.protocol.expand_dl(DLMailbox(item_id=found.item_id, mailbox_type="PrivateDL"))
    assert [(m.email_address, m.mailbox_type) for m in members] == \
        [(f"kim.smith@{DOMAIN}", "Mailbox"), (SALES, "PublicDL")]


def test_directory_people_receive_mail_but_cannot_sign_in(alice, connect):
    from exchangelib import Message
    from exchangelib.errors import UnauthorizedError
    Message(account=alice, subject="Welcome", body="Hi", to_recipients=[f"wei.chen@{DOMAIN}"]).send()
    with pytest.raises(UnauthorizedError):
        connect(f"wei.chen@{DOMAIN}").inbox.all().count()
