"""Contacts through exchangelib: every indexed property round-trips (email, phone, IM
and physical addresses, the last part by part), names and file-as, personal
distribution lists, filtering and sorting on indexed fields, FindPeople and GetPersona."""
import pytest
from exchangelib import Contact, DistributionList, Mailbox
from exchangelib.errors import ErrorInvalidIdMalformed, ErrorPropertyUpdate
from exchangelib.indexed_properties import EmailAddress, ImAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import Persona
from exchangelib.properties import Member
from exchangelib.services import GetPersona

from conftest import ALICE

PHONE_LABELS = PhoneNumber.LABEL_CHOICES


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def full_contact(alice, **extra):
    fields = dict(
        display_name="Grace Hopper", given_name="Grace", middle_name="Brewster", surname="Hopper",
        nickname="Amazing Grace", initials="GBH", generation="Sr.", file_as="Hopper, Grace",
        company_name="Navy", department="Computing", job_title="Rear Admiral",
        email_addresses=[EmailAddress(email="grace@navy.example", label="EmailAddress1"),
                         EmailAddress(email="ghopper@yale.example", label="EmailAddress2"),
                         EmailAddress(email="amazing@cobol.example", label="EmailAddress3")],
        phone_numbers=[PhoneNumber(phone_number=f"+1 555 01{n:02d}", label=label)
                       for n, label in enumerate(PHONE_LABELS)],
        im_addresses=[ImAddress(im_address=f"grace{n}@im.example", label=label)
                      for n, label in enumerate(ImAddress.LABEL_CHOICES, 1)],
        physical_addresses=[
            PhysicalAddress(label="Business", street="1 Navy Way", city="Arlington", state="VA",
                            country="USA", zipcode="22201"),
            PhysicalAddress(label="Home", street="42 Elm St", city="New York", state="NY", country="USA",
                            zipcode="10001"),
            PhysicalAddress(label="Other", street="Yale Station", city="New Haven", state="CT", country="USA",
                            zipcode="06520")],
    )
    fields.update(extra)
    contact = Contact(account=alice, folder=alice.contacts, **fields)
    contact.save()
    return contact, fields


def by_label(values):
    return sorted(values or [], key=lambda v: v.label)


def test_every_indexed_property_round_trips(alice):
    saved, fields = full_contact(alice)
    fetched = alice.contacts.get(id=saved.id)
    for name in ("email_addresses", "phone_numbers", "im_addresses", "physical_addresses"):
        assert by_label(getattr(fetched, name)) == by_label(fields[name]), name
    assert len(fetched.phone_numbers) == len(PHONE_LABELS) == 19
    for name in ("display_name", "given_name", "middle_name", "surname", "nickname", "initials", "generation",
                 "file_as", "company_name", "department", "job_title"):
        assert getattr(fetched, name) == fields[name], name


def test_complete_name_is_assembled_by_the_server(alice):
    saved, _ = full_contact(alice)
    name = alice.contacts.get(id=saved.id).complete_name
    assert (name.first_name, name.middle_name, name.last_name, name.suffix, name.initials, name.full_name,
            name.nickname) == ("Grace", "Brewster", "Hopper", "Sr.", "GBH", "Grace Hopper", "Amazing Grace")


def test_one_address_part_changes_and_the_others_stay(alice):
    saved, _ = full_contact(alice)
    # exchangelib sends one SetItemField per part (contacts:PhysicalAddress:Street ...), and
    # a DeleteItemField for each part of the labels no longer listed
    saved.physical_addresses = [PhysicalAddress(label="Home", street="7 Oak Ave", city="New York", state="NY",
                                                country="USA", zipcode="10001")]
    saved.save(update_fields=["physical_addresses"])
    fetched = alice.contacts.get(id=saved.id)
    assert fetched.physical_addresses == [PhysicalAddress(label="Home", street="7 Oak Ave", city="New York",
                                                          state="NY", country="USA", zipcode="10001")]
    saved.physical_addresses = [PhysicalAddress(label="Home", street="7 Oak Ave")]  # blank parts are deleted
    saved.save(update_fields=["physical_addresses"])
    assert alice.contacts.get(id=saved.id).physical_addresses == [PhysicalAddress(label="Home", street="7 Oak Ave")]


def test_one_email_address_is_replaced_and_a_dropped_label_is_gone(alice):
    saved, _ = full_contact(alice)
    saved.email_addresses = [EmailAddress(email="new@navy.example", label="EmailAddress1")]
    saved.save(update_fields=["email_addresses"])
    assert alice.contacts.get(id=saved.id).email_addresses == \
        [EmailAddress(email="new@navy.example", label="EmailAddress1")]
    saved.email_addresses = None
    saved.save(update_fields=["email_addresses"])
    assert alice.contacts.get(id=saved.id).email_addresses is None


def test_a_name_part_longer_than_exchange_stores_is_refused(alice, monkeypatch):
    saved, _ = full_contact(alice)
    # exchangelib itself stops at 255 characters; lifted, the update reaches the server, which refuses it
    monkeypatch.setattr(Contact.get_field_by_fieldname("given_name"), "max_length", 4000)
    saved.given_name = "g" * 300
    with pytest.raises(ErrorPropertyUpdate):
        saved.save(update_fields=["given_name"])
    assert alice.contacts.get(id=saved.id).given_name == "Grace"


def test_filter_and_sort_on_indexed_fields(alice):
    for number, city in enumerate(("Oslo", "Bergen", "Tromso")):
        Contact(account=alice, folder=alice.contacts, display_name=f"Person {number}",
                email_addresses=[EmailAddress(email=f"p{number}@example.org", label="EmailAddress2")],
                physical_addresses=[PhysicalAddress(label="Business", city=city)]).save()
    found = alice.contacts.filter(email_addresses__EmailAddress2="p1@example.org")
    assert [c.display_name for c in found] == ["Person 1"]
    ordered = alice.contacts.all().order_by("physical_addresses__Business__city")
    assert [c.physical_addresses[0].city for c in ordered] == ["Bergen", "Oslo", "Tromso"]
    ordered = alice.contacts.all().order_by("-email_addresses__EmailAddress2")
    assert [c.display_name for c in ordered] == ["Person 2", "Person 1", "Person 0"]


def test_personal_distribution_list_lives_in_contacts(alice):
    members = {Member(mailbox=Mailbox(name="Pat", email_address="pat@fabrikam.example", mailbox_type="OneOff")),
               Member(mailbox=Mailbox(name="Lee", email_address="lee@fabrikam.example", mailbox_type="OneOff"))}
    saved = DistributionList(account=alice, folder=alice.contacts, display_name="Book club", members=members)
    saved.save()
    fetched = alice.contacts.get(id=saved.id)
    assert isinstance(fetched, DistributionList) and fetched.item_class == "IPM.DistList"
    assert {m.mailbox.email_address for m in fetched.members} == {"pat@fabrikam.example", "lee@fabrikam.example"}


def test_find_people_searches_sorts_and_pages_the_folder(alice):
    for given, surname in (("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper")):
        Contact(account=alice, folder=alice.contacts, display_name=f"{given} {surname}", given_name=given,
                surname=surname, email_addresses=[EmailAddress(email=f"{given.lower()}@example.org")]).save()
    people = list(alice.contacts.people())
    assert [p.display_name for p in people] == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    assert people[0].email_address.email_address == "ada@example.org"
    assert [p.display_name for p in alice.contacts.people().filter(display_name="Alan Turing")] == ["Alan Turing"]
    assert [p.display_name for p in alice.contacts.people().order_by("-display_name")][0] == "Grace Hopper"
    assert [p.display_name for p in alice.contacts.people().filter("tur")] == ["Alan Turing"]  # a name search


def test_get_persona_attributes_values_to_the_contact(alice):
    saved, _ = full_contact(alice)
    [found] = alice.contacts.people()
    [persona] = alice.fetch_personas([found])
    assert (persona.display_name, persona.given_name, persona.surname) == ("Grace Hopper", "Grace", "Hopper")
    assert [e.value.email_address for e in persona.emails1] == ["grace@navy.example"]
    assert persona.attributions[0].id == saved.id
    assert [(a.value.city, a.value.type) for a in persona.home_addresses] == [("New York", "Home")]
    with pytest.raises(ErrorInvalidIdMalformed):
        GetPersona(account=alice).get(personas=[Persona(id="AAA=", changekey="xxx")])
