"""GetMailTips through exchangelib: the out-of-office reply a sender would get, mailbox full,
external recipients and distribution-list sizes (Microsoft's pages "GetMailTips operation"
and "MailTips")."""
import pytest
from exchangelib import OofSettings
from exchangelib.properties import Mailbox, SendingAs
from exchangelib.services import GetMailTips

from conftest import ALICE, BOB

TEAM = "team@contoso.example"  # alice, bob and carol


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def tips(account, *recipients, requested="All"):
    found = GetMailTips(protocol=account.protocol).call(
        sending_as=SendingAs(email_address=account.primary_smtp_address),
        recipients=[Mailbox(email_address=r) for r in recipients], mail_tips_requested=requested)
    return {tip.recipient_address.email_address: tip for tip in found}


def test_out_of_office_message_and_mailbox_full(alice, connect):
    bob = connect(BOB)
    bob.oof_settings = OofSettings(state=OofSettings.ENABLED, internal_reply="Back on Monday.",
                                   external_reply="Out.", external_audience="None")
    found = tips(alice, BOB, "carol@contoso.example")
    assert found[BOB].out_of_office.reply_body == "Back on Monday."
    assert found["carol@contoso.example"].out_of_office.reply_body is None
    assert (found[BOB].mailbox_full, found[BOB].total_member_count, found[BOB].external_member_count) == \
        (False, 1, 0)
    assert alice.mail_tips.recipient_address.email_address == ALICE


def test_lists_external_and_invalid_recipients(alice):
    found = tips(alice, TEAM, "someone@fabrikam.example", "nobody@contoso.example")
    assert (found[TEAM].total_member_count, found[TEAM].external_member_count) == (3, 0)
    outside = found["someone@fabrikam.example"]
    assert (outside.total_member_count, outside.external_member_count, outside.invalid_recipient) == (1, 1, False)
    assert found["nobody@contoso.example"].invalid_recipient is True


def test_exchangelib_request_without_mail_tips_requested_gets_all(alice):
    """exchangelib 5.6 writes mail_tips_requested as bare text, no m:MailTipsRequested element;
    Exchange answers such a request (exchangelib's own suite runs it), and the sandbox reads a
    missing MailTipsRequested as All."""
    [tip] = tips(alice, TEAM, requested="TotalMemberCount").values()
    assert (tip.total_member_count, tip.out_of_office.reply_body, tip.max_message_size) == (3, None, 10485760)
