"""The names Exchange gives a mailbox besides its address: a mailbox GUID and legacy
X.500 distinguished names. Autodiscover, ConvertId and GetSearchableMailboxes show them.

They are derived from the address, so they stay the same across processes and resets
of the same tenant (Exchange keeps them for the life of the mailbox).
"""
import uuid

# Exchange 2013 and later put every object under this administrative group.
ADMIN_GROUP = "/o=Contoso Sandbox/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)"
_NAMESPACE = uuid.UUID("2f6b1c0e-4d7a-4b9e-8f3c-5a1d7e9b2c64")  # the sandbox's own, for uuid5


def mailbox_guid(email):
    return uuid.uuid5(_NAMESPACE, f"mailbox:{email.casefold()}")


def deployment_id(tenant_id):
    """The organization's id (Autodiscover's UserDeploymentId)."""
    return uuid.uuid5(_NAMESPACE, f"deployment:{tenant_id}")


def user_dn(email):
    """The user's legacyExchangeDN: .../cn=Recipients/cn=<32 hex>-<alias>."""
    return f"{ADMIN_GROUP}/cn=Recipients/cn={mailbox_guid(email).hex}-{email.split('@')[0]}"


def mailbox_server(email):
    """Exchange 2013 and later name a mailbox's server by the mailbox GUID and domain."""
    return f"{mailbox_guid(email)}@{email.split('@')[-1]}"


def mailbox_dn(email):
    return f"{ADMIN_GROUP}/cn=Configuration/cn=Servers/cn={mailbox_server(email)}/cn=Microsoft Private MDB"
