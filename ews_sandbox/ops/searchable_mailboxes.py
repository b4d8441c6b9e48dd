"""GetSearchableMailboxes: the eDiscovery list of mailboxes a search may cover.

Exchange answers it only to a caller holding the Discovery Management role (or the
Mailbox Search role); anyone else gets ErrorAccessDenied. The sandbox's tenant grants
that role to no user and no app, so every caller is refused, as a plain user of an
Exchange organization is. The answer is one message, not a list (Microsoft's page
"GetSearchableMailboxes operation"), and still carries the required SearchableMailboxes.
"""

from ..wire.errors import EWSError
from ..wire.ns import m, sub
from ..wire.soap import response_element


def get_searchable_mailboxes(ctx, body):
    error = EWSError("ErrorAccessDenied",
                     "The caller does not have the Discovery Management role (or Mailbox Search) needed to "
                     "list searchable mailboxes.")
    response = response_element("GetSearchableMailboxes")
    response.set("ResponseClass", "Error")
    sub(response, m("MessageText"), error.text)
    sub(response, m("ResponseCode"), error.code)
    sub(response, m("DescriptiveLinkKey"), "0")
    sub(response, m("SearchableMailboxes"))
    return response


OPERATIONS = {"GetSearchableMailboxes": get_searchable_mailboxes}
