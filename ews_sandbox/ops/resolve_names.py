"""ResolveNames (ambiguous name resolution) and ExpandDL, over the sandbox directory
(users and distribution lists, Exchange's Active Directory) and the caller's contacts
and personal distribution lists (MailboxType PrivateDL, named by their ItemId).

A name resolves the way Exchange's ANR finds people: the start of an address, or every
word typed starting a word of the display name ("ali", "wong", "alice w"); an exact
address (with or without "SMTP:") resolves to that entry alone. One candidate is a
success, several are a warning that lists them all, none is an error.
"""
import copy
from dataclasses import dataclass

from lxml import etree

from ..model import directory, folders, items
from ..model.properties import parse_item
from ..wire.errors import EWSError
from ..wire.item_shape import ItemRenderer, ItemShape
from ..wire.ns import m, sub, t
from ..wire.soap import response_element, response_message, schema_fault

MAX_CANDIDATES = 100  # Exchange returns at most this many resolutions per name
DIRECTORY_FIRST = ("ActiveDirectory", "ActiveDirectoryContacts")


@dataclass
class Candidate:
    name: str
    email: str | None
    mailbox_type: str            # Mailbox, PublicDL, Contact, or OneOff (an outside address)
    directory_row: object = None  # users row, for directory entries
    item_row: object = None       # items row, for the caller's contacts


# ---- matching -----------------------------------------------------------------------

def _words(text):
    return (text or "").casefold().replace(",", " ").split()


def matches(query, email, name):
    """ANR-like: the address starts with the query, or each word of the query starts a
    word of the name (in any order)."""
    wanted = query.strip().casefold()
    if not wanted:
        return False
    if email and email.casefold().startswith(wanted):
        return True
    name_words = _words(name)
    return all(any(word.startswith(part) for word in name_words) for part in _words(wanted))


def _exact_address(query):
    """The address an entry names exactly ("SMTP:x@y" or "x@y"), else None."""
    text = query.strip()
    if text.lower().startswith("smtp:"):
        return text[5:].strip()
    return text if "@" in text else None


# ---- where names are looked up --------------------------------------------------------

def directory_candidates(conn, query):
    rows = directory.entries(conn)
    address = _exact_address(query)
    if address is not None:
        exact = [row for row in rows if row["email"].casefold() == address.casefold()]
        if exact or query.strip().lower().startswith("smtp:"):
            return [_directory_candidate(row) for row in exact]
    return [_directory_candidate(row) for row in rows if matches(query, row["email"], row["name"])]


def _directory_candidate(row):
    return Candidate(row["name"], row["email"], "PublicDL" if row["kind"] == "dl" else "Mailbox", directory_row=row)


def contact_candidates(ctx, query, folder_rows):
    """The caller's own contacts whose name or an address matches."""
    found = []
    for folder in folder_rows:
        rows = ctx.conn.execute("SELECT * FROM items WHERE folder_id = ? AND element IN ('Contact', "
                                "'DistributionList') ORDER BY id", (folder["id"],)).fetchall()
        for row in rows:
            candidate = _contact_candidate(row, query)
            if candidate is not None:
                found.append(candidate)
    return found


def _contact_candidate(row, query):
    contact = parse_item(row["xml"])
    if row["element"] == "DistributionList":  # a personal list: found by its name, it has no address
        name = contact.findtext(t("DisplayName")) or ""
        return Candidate(name, None, "PrivateDL", item_row=row) if matches(query, None, name) else None
    name = contact.findtext(t("DisplayName")) or " ".join(
        filter(None, (contact.findtext(t("GivenName")), contact.findtext(t("Surname")))))
    addresses = [_strip_smtp(e.text) for e in contact.iterfind(f"{t('EmailAddresses')}/{t('Entry')}") if e.text]
    exact = _exact_address(query)
    if exact is not None:
        hits = [a for a in addresses if a.casefold() == exact.casefold()]
    else:
        hits = [a for a in addresses if matches(query, a, None)]
        if not hits and matches(query, None, name):
            hits = addresses[:1] or [None]
    if not hits:
        return None
    return Candidate(name or hits[0] or "", hits[0], "Contact", item_row=row)


def _strip_smtp(address):
    text = address.strip()
    return text[5:] if text.lower().startswith("smtp:") else text


def _contact_folders(ctx, body):
    given = body.find(m("ParentFolderIds"))
    if given is not None and len(given):
        return [ctx.folder(element) for element in given]
    return [folders.distinguished(ctx.conn, ctx.mailbox_id, "contacts")]


def candidates(ctx, body, query):
    """Directory entries and contacts, each group by display name, in the scope's order;
    a contact for an address the directory also found is left out."""
    scope = body.get("SearchScope", "ActiveDirectoryContacts")
    in_directory = directory_candidates(ctx.conn, query) if "ActiveDirectory" in scope else []
    in_contacts = contact_candidates(ctx, query, _contact_folders(ctx, body)) if "Contacts" in scope else []
    known = {c.email.casefold() for c in in_directory if c.email}
    in_contacts = [c for c in in_contacts if not c.email or c.email.casefold() not in known]
    if scope in DIRECTORY_FIRST:
        return _by_name(in_directory) + _by_name(in_contacts)
    return _by_name(in_contacts) + _by_name(in_directory)


def _by_name(group):
    return sorted(group, key=lambda candidate: candidate.name.casefold())


# ---- rendering ----------------------------------------------------------------------

def mailbox_element(tag, candidate):
    node = etree.Element(tag)
    sub(node, t("Name"), candidate.name)
    if candidate.email:
        sub(node, t("EmailAddress"), candidate.email)
        sub(node, t("RoutingType"), "SMTP")
    sub(node, t("MailboxType"), candidate.mailbox_type)
    if candidate.item_row is not None:
        sub(node, t("ItemId"), Id=items.item_id_text(candidate.item_row), ChangeKey=candidate.item_row["change_key"])
    return node


def directory_contact(candidate):
    """The Contact Exchange builds from a directory entry."""
    contact = etree.Element(t("Contact"))
    sub(contact, t("DisplayName"), candidate.name)
    given, _, surname = candidate.name.partition(" ")
    if candidate.mailbox_type == "Mailbox" and given:
        sub(contact, t("GivenName"), given)
    addresses = sub(contact, t("EmailAddresses"))
    sub(addresses, t("Entry"), f"SMTP:{candidate.email}", Key="EmailAddress1")
    sub(contact, t("ContactSource"), "ActiveDirectory")
    if candidate.mailbox_type == "Mailbox" and surname:
        sub(contact, t("Surname"), surname)
    return contact


def render_resolution(ctx, resolution_set, candidate, full_data, contact_shape):
    resolution = sub(resolution_set, t("Resolution"))
    resolution.append(mailbox_element(t("Mailbox"), candidate))
    if not full_data:
        return
    if candidate.directory_row is not None:
        resolution.append(directory_contact(candidate))
    elif candidate.mailbox_type == "PrivateDL":  # a Resolution's contact is a t:Contact; a list has none
        return
    else:
        ItemRenderer(ctx.conn, ItemShape(base=contact_shape)).render(candidate.item_row, resolution)


def render_resolution_set(ctx, node, found, body):
    shown = found[:MAX_CANDIDATES]
    resolution_set = sub(node, m("ResolutionSet"), TotalItemsInView=str(len(shown)),
                         IncludesLastItemInRange="true" if len(found) <= MAX_CANDIDATES else "false")
    full_data = body.get("ReturnFullContactData", "false").strip().lower() in ("true", "1")
    for candidate in shown:
        render_resolution(ctx, resolution_set, candidate, full_data, body.get("ContactDataShape") or "AllProperties")


def warning_message(messages, operation, error):
    """Exchange's 'Warning' message: the error code, and the results after it."""
    node = sub(messages, m(f"{operation}ResponseMessage"), ResponseClass="Warning")
    sub(node, m("MessageText"), error.text)
    sub(node, m("ResponseCode"), error.code)
    sub(node, m("DescriptiveLinkKey"), "0")
    return node


# ---- ResolveNames -------------------------------------------------------------------

def resolve_names(ctx, body):
    response = response_element("ResolveNames")
    messages = sub(response, m("ResponseMessages"))
    for entry in body.iterfind(m("UnresolvedEntry")):
        try:
            found = candidates(ctx, body, entry.text or "")
        except EWSError as error:  # a parent folder that is not there, or not the caller's
            response_message(messages, "ResolveNames", error)
            continue
        if not found:
            response_message(messages, "ResolveNames", EWSError("ErrorNameResolutionNoResults"))
            continue
        node = response_message(messages, "ResolveNames") if len(found) == 1 else \
            warning_message(messages, "ResolveNames", EWSError("ErrorNameResolutionMultipleResults"))
        render_resolution_set(ctx, node, found, body)
    return response


# ---- ExpandDL -----------------------------------------------------------------------

def expand_dl(ctx, body):
    response = response_element("ExpandDL")
    messages = sub(response, m("ResponseMessages"))
    try:
        members = dl_members(ctx, body.find(m("Mailbox")))
    except EWSError as error:
        response_message(messages, "ExpandDL", error)
        return response
    node = response_message(messages, "ExpandDL")
    expansion = sub(node, m("DLExpansion"), TotalItemsInView=str(len(members)), IncludesLastItemInRange="true")
    for member in members:
        expansion.append(member)
    return response


def dl_members(ctx, mailbox):
    """Mailbox elements for the members of the list `mailbox` names: a public list by
    address or display name, or a private one (a contacts item) by ItemId. Nested
    lists are listed, not expanded, as on Exchange."""
    if mailbox is None:  # t:Mailbox instead of m:Mailbox, say: Exchange's schema check refuses it
        raise schema_fault("The request failed schema validation: ExpandDL needs an m:Mailbox element.")
    item_id = mailbox.find(t("ItemId"))
    if item_id is not None:
        return private_dl_members(ctx, item_id)
    return public_dl_members(ctx.conn, (mailbox.findtext(t("EmailAddress")) or "").strip())


def public_dl_members(conn, address):
    address = _strip_smtp(address)
    row = conn.execute("SELECT * FROM users WHERE kind = 'dl' AND (email = ? OR name = ? COLLATE NOCASE)",
                       (address, address)).fetchone() if address else None
    if row is None:
        raise EWSError("ErrorNameResolutionNoResults")
    return [mailbox_element(t("Mailbox"), _member_candidate(conn, email)) for email in directory.dl_members(row)]


def _member_candidate(conn, email):
    row = conn.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
    if row is None:  # an outside address on the list
        return Candidate(email, email, "OneOff")
    return _directory_candidate(row)


def private_dl_members(ctx, item_id):
    row = ctx.item(item_id)
    if row["element"] != "DistributionList":
        raise EWSError("ErrorInvalidItemForOperationExpandDL", "The item is not a distribution list.")
    stored = parse_item(row["xml"]).iterfind(f"{t('Members')}/{t('Member')}/{t('Mailbox')}")
    return [copy.deepcopy(mailbox) for mailbox in stored]


OPERATIONS = {"ResolveNames": resolve_names, "ExpandDL": expand_dl}
