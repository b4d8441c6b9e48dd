"""ResolveNames and ExpandDL through exchangelib, over the empty tenant's directory:
Alice Wong, Bob Martin, Carol Diaz, Dave Okafor, Erin Smith, and the list Project Team
(team@, with alice, bob and carol)."""
import pytest
from exchangelib import Contact, DistributionList, Mailbox
from exchangelib.errors import ErrorAccessDenied, ErrorNameResolutionNoResults, ErrorSchemaValidation
from exchangelib.folders import Contacts
from exchangelib.indexed_properties import EmailAddress
from exchangelib.properties import DLMailbox, Member

from conftest import ALICE, BOB, CAROL

TEAM = "team@contoso.example"


@pytest.fixture
def alice(clean, connect):
    account = connect(ALICE)
    # exchangelib 5.6's protocol-level services need a known server version: as the
    # first call on a fresh protocol they fail with AttributeError on 'api_version'.
    assert account.protocol.version.build is not None
    return account


def addresses(results):
    return [mailbox.email_address for mailbox in results]


@pytest.mark.parametrize("entry", [ALICE, "ALICE@Contoso.Example", f"SMTP:{ALICE}", "ali", "alice", "Wong",
                                   "alice w", "wong ALICE"])
def test_one_match_resolves(alice, entry):
    [mailbox] = alice.protocol.resolve_names([entry])
    assert (mailbox.email_address, mailbox.name, mailbox.routing_type, mailbox.mailbox_type) == \
        (ALICE, "Alice Wong", "SMTP", "Mailbox")


def test_distribution_list_resolves_as_public_dl(alice):
    for entry in ("team", "Project", "project team", TEAM):
        [mailbox] = alice.protocol.resolve_names([entry])
        assert (mailbox.email_address, mailbox.name, mailbox.mailbox_type) == (TEAM, "Project Team", "PublicDL")


def test_several_matches_are_all_returned(alice, caplog):
    # "d" starts dave@ and Dave Okafor, and Diaz in Carol Diaz: a warning listing both,
    # which exchangelib logs and reads past (an error would raise)
    results = alice.protocol.resolve_names(["d"])
    assert addresses(results) == [CAROL, "dave@contoso.example"]  # by display name
    assert "Multiple results were found." in caplog.text


def test_no_match_is_an_error_result(alice):
    assert alice.protocol.resolve_names(["zebra"]) == [ErrorNameResolutionNoResults("No results were found.")]
    [result] = alice.protocol.resolve_names(["foo\\bar"])
    assert isinstance(result, ErrorNameResolutionNoResults)
    [result] = alice.protocol.resolve_names(["SMTP:ali"])  # an exact address is not a prefix
    assert isinstance(result, ErrorNameResolutionNoResults)
    [result] = alice.protocol.resolve_names(["contoso"])  # nor is the domain
    assert isinstance(result, ErrorNameResolutionNoResults)


def test_several_names_in_one_call_fail_schema_validation(alice, clean):
    # messages.xsd gives ResolveNames one UnresolvedEntry; Exchange checks every request against
    # its schema ("The request failed schema validation ... has invalid child element ..."), and
    # exchangelib 5.6 writes all the names it is given into one request
    clean.clear_requests()
    with pytest.raises(ErrorSchemaValidation, match="invalid child element 'UnresolvedEntry'"):
        alice.protocol.resolve_names(["bob", "zebra", "erin"])
    assert [r["operation"] for r in clean.requests()] == ["ResolveNames"]
    # one name a call
    results = [r for name in ("bob", "zebra", "erin") for r in alice.protocol.resolve_names([name])]
    assert results[0].email_address == BOB
    assert isinstance(results[1], ErrorNameResolutionNoResults)
    assert results[2].email_address == "erin@contoso.example"


def test_full_contact_data_describes_the_person(alice):
    [(mailbox, contact)] = alice.protocol.resolve_names(["bob"], return_full_contact_data=True)
    assert mailbox.email_address == BOB
    assert (contact.display_name, contact.given_name, contact.surname) == ("Bob Martin", "Bob", "Martin")
    assert [(e.label, e.email) for e in contact.email_addresses] == [("EmailAddress1", f"SMTP:{BOB}")]
    [(mailbox, contact)] = alice.protocol.resolve_names(["team"], return_full_contact_data=True,
                                                        search_scope="ActiveDirectory", shape="Default")
    assert mailbox.mailbox_type == "PublicDL" and contact.display_name == "Project Team"


def test_own_contacts_resolve_with_their_item_id(alice):
    saved = Contact(account=alice, folder=alice.contacts, display_name="Zoe Outside", given_name="Zoe",
                    surname="Outside", email_addresses=[EmailAddress(email="zoe@fabrikam.example")])
    saved.save()
    [mailbox] = alice.protocol.resolve_names(["zoe"])
    assert (mailbox.email_address, mailbox.mailbox_type, mailbox.item_id.id) == \
        ("zoe@fabrikam.example", "Contact", saved.id)
    [(_, contact)] = alice.protocol.resolve_names(["outside"], return_full_contact_data=True)
    assert contact.id == saved.id and contact.display_name == "Zoe Outside"
    [result] = alice.protocol.resolve_names(["zoe"], search_scope="ActiveDirectory")
    assert isinstance(result, ErrorNameResolutionNoResults)


def test_contacts_in_named_folders_and_refused_folders(alice, connect):
    clients = Contacts(parent=alice.contacts, name="Clients")
    clients.save()
    Contact(account=alice, folder=clients, display_name="Yara Client",
            email_addresses=[EmailAddress(email="yara@northwind.example")]).save()
    [result] = alice.protocol.resolve_names(["yara"])  # not in the default Contacts folder
    assert isinstance(result, ErrorNameResolutionNoResults)
    [mailbox] = alice.protocol.resolve_names(["yara"], parent_folders=[clients])
    assert mailbox.email_address == "yara@northwind.example"
    bob = connect(BOB)
    with pytest.raises(ErrorAccessDenied):  # someone else's folder: refused, not searched
        bob.protocol.resolve_names(["yara"], parent_folders=[clients])


def test_expand_dl_lists_the_members(alice):
    members = alice.protocol.expand_dl(TEAM)
    assert addresses(members) == [ALICE, BOB, CAROL]
    assert [m.name for m in members] == ["Alice Wong", "Bob Martin", "Carol Diaz"]
    assert {m.mailbox_type for m in members} == {"Mailbox"}
    assert addresses(alice.protocol.expand_dl("Project Team")) == [ALICE, BOB, CAROL]  # by display name too


def test_expand_dl_of_anything_else_finds_nothing(alice):
    for address in ("nobody@contoso.example", BOB):
        with pytest.raises(ErrorNameResolutionNoResults):
            alice.protocol.expand_dl(address)


def test_expand_private_dl_from_contacts(alice):
    private = DistributionList(account=alice, folder=alice.contacts, display_name="Lunch crew",
                               members=[Member(mailbox=Mailbox(name="Bob Martin", email_address=BOB)),
                                        Member(mailbox=Mailbox(email_address="pat@fabrikam.example"))])
    private.save()
    members = alice.protocol.expand_dl(DLMailbox(item_id=private.to_id(), mailbox_type="PrivateDL"))
    assert addresses(members) == [BOB, "pat@fabrikam.example"]
    with pytest.raises(ErrorSchemaValidation):  # a plain Mailbox goes out as t:Mailbox, which the schema refuses
        alice.protocol.expand_dl(Mailbox(item_id=private.to_id()))
