"""What references/contacts.md and references/mailbox-settings.md say a call costs or does,
measured against the sandbox (request log, mailbox state), each test quoting its claim
first (`cite`, as in test_reference_claims.py)."""
import datetime
from datetime import timedelta, timezone

import pytest
from exchangelib import Contact, Message, OofSettings
from exchangelib.errors import (ErrorAccessDenied, ErrorDelegateAlreadyExists, ErrorDelegateCannotAddOwner,
                                ErrorDelegateNoUser, ErrorInboxRulesValidationError, ErrorNameResolutionNoResults,
                                ErrorNotDelegate, ErrorSchemaValidation)
from exchangelib.indexed_properties import EmailAddress
from exchangelib.properties import (Actions, Address, Conditions, Exceptions, FolderId, MoveToFolder, Rule,
                                    WithinSizeRange)

from conftest import ALICE, BOB, CAROL
from test_docs import BUNDLE, python_blocks
from test_reference_claims import PINNED, cite, measure

CONTACTS, SETTINGS = "references/contacts.md", "references/mailbox-settings.md"
UTC = timezone.utc


@pytest.fixture
def alice(clean, connect):
    account = connect(ALICE, version=PINNED)
    account.inbox  # root and inbox known: each test measures its own call
    return account


def contacts(account, count, **fields):
    made = account.bulk_create(folder=account.contacts, items=[
        Contact(account=account, display_name=f"Person {n:03}", given_name="Per", surname=f"Son{n:03}", **fields)
        for n in range(count)])
    assert not [c for c in made if isinstance(c, Exception)]


# ---- contacts.md ------------------------------------------------------------------------

def test_contacts_a_save_is_one_create_item_and_the_server_assembles_the_complete_name(alice, clean):
    cite(CONTACTS, "Saving it is one CreateItem; `display_name` is required")
    cite(CONTACTS, "`complete_name` is read-only: Exchange assembles it from the name parts")
    ada = Contact(account=alice, folder=alice.contacts, display_name="Ada", given_name="Ada", surname="Lovelace")
    assert measure(clean, ada.save)[1] == {"CreateItem": 1}
    name = alice.contacts.get(id=ada.id).complete_name
    assert (name.first_name, name.last_name) == ("Ada", "Lovelace")


def test_contacts_an_indexed_field_assigned_is_the_whole_field(alice, clean):
    cite(CONTACTS, "Updating one of these fields sends one UpdateItem that sets each entry listed (each part of a "
                   "postal address on its own) and deletes each label not listed: the list you assign is the whole "
                   "field.")
    ada = Contact(account=alice, folder=alice.contacts, display_name="Ada", email_addresses=[
        EmailAddress(email="one@example.org", label="EmailAddress1"),
        EmailAddress(email="two@example.org", label="EmailAddress2")])
    ada.save()
    ada.email_addresses = [EmailAddress(email="new@example.org", label="EmailAddress2")]
    assert measure(clean, lambda: ada.save(update_fields=["email_addresses"]))[1] == {"UpdateItem": 1}
    assert alice.contacts.get(id=ada.id).email_addresses == [EmailAddress(email="new@example.org",
                                                                          label="EmailAddress2")]


def test_contacts_names_and_indexed_fields_cost_get_item_given_name_does_not(alice, clean):
    cite(CONTACTS, "a listing that shows them costs FindItem pages plus one GetItem per 100 contacts. `given_name` "
                   "and `surname` come with FindItem.")
    contacts(alice, 150)
    names, sent = measure(clean, lambda: [c.display_name for c in alice.contacts.all().only("display_name")])
    assert sent == {"FindItem": 2, "GetItem": 2} and len(names) == 150  # pages of 100
    names, sent = measure(clean, lambda: [c.surname for c in alice.contacts.all().only("given_name", "surname")])
    assert sent == {"FindItem": 2} and sorted(names)[0] == "Son000"


def test_contacts_protocol_services_need_the_version_known(clean, connect):
    cite(CONTACTS, "on an Account whose Configuration has no `version` and that has sent nothing yet it fails with "
                   "`AttributeError: 'NoneType' object has no attribute 'api_version'` before sending anything. Touch "
                   "`account.protocol.version` first (one probe request when no version was configured)")
    cite(CONTACTS, "`expand_dl()`, GetMailTips and the other protocol calls guess it by themselves.")
    account = connect(ALICE)
    clean.clear_requests()
    with pytest.raises(AttributeError, match="api_version"):
        account.protocol.resolve_names(["bob"])
    assert clean.requests() == []
    assert measure(clean, lambda: account.protocol.version)[1] == {"ConvertId": 1}
    assert account.protocol.resolve_names(["bob"])[0].email_address == BOB
    members, sent = measure(clean, lambda: connect(ALICE).protocol.expand_dl("team@contoso.example"))
    assert sent == {"ConvertId": 1, "ExpandDL": 1} and len(members) == 3


def test_contacts_several_names_go_in_one_request_which_exchange_refuses(alice, clean):
    cite(CONTACTS, "Given several names, exchangelib puts them all into one ResolveNames request")
    cite(CONTACTS, "the server refuses it whole with `ErrorSchemaValidation`")
    cite(CONTACTS, "a name that matches no one is an `ErrorNameResolutionNoResults` instance in the list, not an "
                   "exception raised")
    def several():
        with pytest.raises(ErrorSchemaValidation, match="UnresolvedEntry"):  # messages.xsd: one a request
            alice.protocol.resolve_names(["smith", "zebra", "bob"])
    assert measure(clean, several)[1] == {"ResolveNames": 1}
    found = [r for name in ("smith", "zebra", "bob") for r in alice.protocol.resolve_names([name])]
    assert len(found) == 7 and isinstance(found[5], ErrorNameResolutionNoResults)  # 5 Smiths, none, Bob
    assert found[6].email_address == BOB


def test_contacts_expand_dl_is_one_level_and_the_loop_is_walked_once(clean, connect):
    cite(CONTACTS, "Exchange expands one level: a nested list comes back as a member of type `PublicDL`")
    cite(CONTACTS, "6 people, 3 ExpandDL requests")
    account = connect(ALICE, version=PINNED)  # both seeds have the directory's nested lists
    namespace = {}
    [code] = [code for _, code, _ in python_blocks(BUNDLE / CONTACTS) if "def everyone" in code]
    exec(code.split("\nprint(")[0], namespace)  # the function, as the reference gives it
    assert [m.mailbox_type for m in account.protocol.expand_dl("sales@contoso.example")][-1] == "PublicDL"
    people, sent = measure(clean, lambda: namespace["everyone"](account, "sales@contoso.example"))
    assert len(people) == 6 and sent == {"ExpandDL": 3}


def test_contacts_mail_to_nested_lists_reaches_each_person_once(alice, clean, connect):
    cite(CONTACTS, "Mail sent to a list reaches each person once, however the lists nest")
    clean.call("POST", "distribution-lists", {"email": "outer@contoso.example", "name": "Outer", "members": [BOB]})
    clean.call("POST", "distribution-lists", {"email": "inner@contoso.example", "name": "Inner",
                                              "members": [BOB, CAROL, "outer@contoso.example"]})
    clean.call("POST", "distribution-lists/members", {"list": "outer@contoso.example",
                                                      "members": ["inner@contoso.example"]})
    Message(account=alice, subject="Looped", body="x", to_recipients=["outer@contoso.example"]).send()
    assert [connect(who).inbox.filter(subject="Looped").count() for who in (BOB, CAROL)] == [1, 1]


def test_contacts_people_without_only_costs_a_get_persona_each(alice, clean):
    cite(CONTACTS, "Without `.only()`, iterating `people()` costs FindPeople plus one GetPersona per persona "
                   "(GetPersona takes one persona a request); with `.only()` FindPeople alone.")
    contacts(alice, 3, email_addresses=[EmailAddress(email="p@example.org", label="EmailAddress1")])
    assert measure(clean, lambda: list(alice.contacts.people()))[1] == {"FindPeople": 1, "GetPersona": 3}
    assert measure(clean, lambda: list(alice.contacts.people().only("display_name")))[1] == {"FindPeople": 1}


# ---- mailbox-settings.md: inbox rules ---------------------------------------------------

def make_rule(account, name="Digests", priority=1, **parts):
    parts.setdefault("actions", Actions(mark_as_read=True))
    return Rule(account=account, display_name=name, priority=priority, is_enabled=True, **parts)


def test_settings_every_rule_change_removes_the_outlook_rule_blob(alice):
    cite(SETTINGS, "Every change exchangelib sends (create, save, delete) carries `RemoveOutlookRuleBlob=true`")
    from exchangelib.services.inbox_rules import CreateInboxRule, DeleteInboxRule, SetInboxRule
    rule = make_rule(alice)
    rule.id = "AAAA"
    for service in (CreateInboxRule, SetInboxRule, DeleteInboxRule):
        payload = service(account=alice).get_payload(rule=rule)
        assert payload.findtext("{*}RemoveOutlookRuleBlob") in ("true", "1"), service.__name__  # xs:boolean


def test_settings_creating_a_rule_costs_two_requests_and_finds_its_id_by_name(alice, clean):
    cite(SETTINGS, "Creating a rule costs two requests: UpdateInboxRules, then GetInboxRules, where exchangelib takes "
                   "the id of the rule with that `display_name`. Give rules unique names: with two of one name it may "
                   "take the other's id")
    first = make_rule(alice, priority=2)
    assert measure(clean, first.save)[1] == {"UpdateInboxRules": 1, "GetInboxRules": 1}
    second = make_rule(alice, priority=1, actions=Actions(delete=True))
    second.save()
    assert second.id == first.id  # the other rule's id: a change to "second" would change "first"
    assert len({r.id for r in alice.rules}) == 2


def test_settings_a_save_replaces_the_rule_and_a_disabled_rule_costs_two_deletes(alice, clean):
    cite(SETTINGS, "Changing a saved rule (`rule.save()`) is one UpdateInboxRules that replaces the whole rule; "
                   "`rule.delete()` is one too, except for a disabled rule, which exchangelib first saves enabled, "
                   "with its conditions dropped, then deletes: two requests.")
    rule = make_rule(alice, conditions=Conditions(contains_subject_strings=["x"]))
    rule.save()
    rule.conditions, rule.is_enabled = None, False
    assert measure(clean, rule.save)[1] == {"UpdateInboxRules": 1}
    [stored] = alice.rules
    assert (stored.conditions, stored.is_enabled) == (None, False)
    assert measure(clean, rule.delete)[1] == {"UpdateInboxRules": 2}
    other = make_rule(alice, name="Other")
    other.save()
    assert measure(clean, other.delete)[1] == {"UpdateInboxRules": 1} and alice.rules == []


def test_settings_rules_run_in_priority_order_conditions_all_exceptions_any(alice, connect):
    cite(SETTINGS, "lowest `priority` first, until one whose actions include `stop_processing_rules`. A rule applies "
                   "when all its conditions hold and none of its exceptions; with no condition it applies to every "
                   "message.")
    make_rule(alice, "all", priority=3, actions=Actions(assign_categories=["All"])).save()
    make_rule(alice, "stop", priority=1, conditions=Conditions(contains_subject_strings=["stop"]),
              actions=Actions(assign_categories=["Stop"], stop_processing_rules=True)).save()
    make_rule(alice, "both", priority=2, conditions=Conditions(contains_subject_strings=["a"],
                                                               from_addresses=[Address(email_address=BOB)]),
              exceptions=Exceptions(contains_body_strings=["skip"], sent_cc_me=True),
              actions=Actions(assign_categories=["Both"])).save()
    bob, carol = connect(BOB), connect(CAROL)
    for sender, subject, body in ((bob, "stop a", "x"), (bob, "a", "x"), (carol, "a from carol", "x"),
                                  (bob, "a skipped", "please skip")):
        Message(account=sender, subject=subject, body=body, to_recipients=[ALICE]).send()
    assert {m.subject: m.categories for m in alice.inbox.all()} == {
        "stop a": ["Stop"], "a": ["Both", "All"], "a from carol": ["All"], "a skipped": ["All"]}


def test_settings_size_and_date_ranges_and_invalid_rules_are_refused_whole(alice, clean):
    cite(SETTINGS, "exchangelib 5.6 writes `within_size_range` and `within_date_range` in a shape the schema does not "
                   "have: Exchange refuses the request (`ErrorSchemaValidation`).")
    cite(SETTINGS, "A rule naming a folder that is not there, or an address that is not one, is refused whole: "
                   "`ErrorInboxRulesValidationError`, and nothing changes.")
    with pytest.raises(ErrorSchemaValidation):
        make_rule(alice, conditions=Conditions(within_size_range=WithinSizeRange(minimum_size=1,
                                                                                 maximum_size=9))).save()
    missing = MoveToFolder(folder_id=FolderId(id="AAAAKlNCWEYAAAABAAAAAAAAJw8="))
    with pytest.raises(ErrorInboxRulesValidationError, match="FolderDoesNotExist"):
        make_rule(alice, actions=Actions(move_to_folder=missing)).save()
    with pytest.raises(ErrorInboxRulesValidationError, match="InvalidAddress"):
        make_rule(alice, actions=Actions(forward_to_recipients=[Address(email_address="nobody")])).save()
    assert alice.rules == []


# ---- mailbox-settings.md: out-of-office -------------------------------------------------

def away(state=OofSettings.ENABLED, **values):
    return OofSettings(state=state, internal_reply=values.pop("internal", "In"),
                       external_reply=values.pop("external", "Out"), **values)


def test_settings_oof_is_not_cached_and_each_sender_is_answered_once(alice, clean, connect):
    cite(SETTINGS, "It is not cached: each read is a request.")
    cite(SETTINGS, "Exchange answers each sender once while the settings stand; saving them again starts the list "
                   "afresh.")
    _, sent = measure(clean, lambda: (alice.oof_settings, alice.oof_settings))
    assert sent == {"GetUserOofSettingsRequest": 2}
    bob = connect(BOB)
    alice.oof_settings = away()
    for subject in ("one", "two"):
        Message(account=bob, subject=subject, body="x", to_recipients=[ALICE]).send()
    alice.oof_settings = away()
    Message(account=bob, subject="three", body="x", to_recipients=[ALICE]).send()
    assert sorted(m.subject for m in bob.inbox.filter(subject__startswith="Automatic reply")) == \
        ["Automatic reply: one", "Automatic reply: three"]


@pytest.mark.parametrize("settings, message", [
    (dict(state=OofSettings.SCHEDULED, start=None), "'start' and 'end' must be set"),
    (dict(state=OofSettings.SCHEDULED, start=2, end=1), "'start' must be before 'end'"),
    (dict(state=OofSettings.SCHEDULED, start=-3, end=-2), "'end' must be in the future"),
    (dict(state=OofSettings.ENABLED, internal=None), "'internal_reply' and 'external_reply' must be set"),
])
def test_settings_oof_is_checked_before_sending(alice, clean, settings, message):
    cite(SETTINGS, "exchangelib checks before sending, with a `ValueError` and no request: `Scheduled` needs `start` "
                   "and `end`, `start` before `end`, `end` in the future, and both replies are required unless the "
                   "state is `Disabled`.")
    now = datetime.datetime.now(UTC)
    for key in ("start", "end"):
        if isinstance(settings.get(key), int):
            settings[key] = now + timedelta(days=settings[key])
    with pytest.raises(ValueError, match=message):
        measure(clean, lambda: setattr(alice, "oof_settings", away(**settings)))
    assert clean.requests() == []


def test_settings_disabled_alone_erases_the_texts_read_change_write_keeps_them(alice):
    cite(SETTINGS, "`OofSettings(state=OofSettings.DISABLED)` sends empty replies, which replace the saved texts.")
    alice.oof_settings = away(internal="Kept?")
    alice.oof_settings = OofSettings(state=OofSettings.DISABLED)
    assert alice.oof_settings.internal_reply is None
    alice.oof_settings = away(internal="Kept")
    settings = alice.oof_settings
    settings.state, settings.start, settings.end = OofSettings.DISABLED, None, None
    alice.oof_settings = settings
    assert (alice.oof_settings.state, alice.oof_settings.internal_reply) == ("Disabled", "Kept")


def test_settings_oof_window_read_back_is_today_unless_scheduled(alice):
    cite(SETTINGS, "Unless the state is `Scheduled`, the `start` and `end` read back are no window: Exchange answers "
                   "today's date")
    alice.oof_settings = away()
    settings, today = alice.oof_settings, datetime.datetime.now(UTC).date()
    assert (settings.start.date(), settings.end.date()) == (today, today)


# ---- mailbox-settings.md: delegates, mail tips, searchable mailboxes --------------------

def test_settings_delegate_refusals_are_raised(clean, connect):
    cite(SETTINGS, "Each refusal is raised as its error: `ErrorDelegateAlreadyExists`, `ErrorDelegateNoUser` (no "
                   "such user), `ErrorDelegateCannotAddOwner`, `ErrorNotDelegate` (remove or update someone who is "
                   "not one).")
    alice = connect(ALICE, version=PINNED)
    namespace = {"account": alice}
    [code] = [code for _, code, _ in python_blocks(BUNDLE / SETTINGS) if "class AddDelegate" in code]
    exec(code.split("\n[added]")[0], namespace)  # the services, as the reference gives them
    add, update, remove = (namespace[name](account=alice)
                           for name in ("AddDelegate", "UpdateDelegate", "RemoveDelegate"))
    [added] = add.call(BOB, {"Inbox": "Reviewer"})
    assert added.delegate_permissions.inbox_folder_permission_level == "Reviewer"
    for call, error in ((lambda: add.call(BOB, {"Inbox": "Editor"}), ErrorDelegateAlreadyExists),
                        (lambda: add.call("nobody@contoso.example", {}), ErrorDelegateNoUser),
                        (lambda: add.call(ALICE, {}), ErrorDelegateCannotAddOwner),
                        (lambda: update.call(CAROL, {"Inbox": "Editor"}), ErrorNotDelegate),
                        (lambda: remove.call(CAROL), ErrorNotDelegate)):
        with pytest.raises(error):
            call()
    [updated] = update.call(BOB, {"Inbox": "Editor"})
    assert updated.delegate_permissions.inbox_folder_permission_level == "Editor"
    remove.call(BOB)
    assert alice.delegates == []


def test_settings_mail_tips_take_100_recipients_a_request_and_searchable_mailboxes_are_refused(alice, clean):
    cite(SETTINGS, "exchangelib puts up to 100 recipients in one request")
    cite(SETTINGS, "needs the Discovery Management role; anyone else gets `ErrorAccessDenied`, raised.")
    from exchangelib.properties import Mailbox, SendingAs
    from exchangelib.services import GetMailTips
    tips, sent = measure(clean, lambda: list(GetMailTips(protocol=alice.protocol).call(
        sending_as=SendingAs(email_address=ALICE), mail_tips_requested="All",
        recipients=[Mailbox(email_address=f"someone{n}@fabrikam.example") for n in range(150)])))
    assert len(tips) == 150 and sent == {"GetMailTips": 2}
    with pytest.raises(ErrorAccessDenied):
        alice.protocol.get_searchable_mailboxes()
