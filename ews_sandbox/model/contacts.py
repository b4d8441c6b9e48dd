"""Contacts' indexed properties: dictionaries of entries keyed by a label
(EmailAddresses, PhoneNumbers, ImAddresses, PhysicalAddresses), set, deleted and read
one entry (or, for a physical address, one part of an entry) at a time, as the
IndexedFieldURI of an update or a query names them.

An entry left without a part is removed, and a dictionary without entries too: Exchange
answers no empty entry or dictionary."""
from lxml import etree

from ..wire.errors import EWSError
from ..wire.ns import T, t

# The parts of a physical address, in the schema's order (PhysicalAddressDictionaryEntryType).
ADDRESS_PARTS = ("Street", "City", "State", "CountryOrRegion", "PostalCode")
# Name parts Exchange stores in short MAPI properties: an update to a longer value fails.
SHORT_NAME_PARTS = frozenset({"GivenName", "MiddleName", "Surname"})
SHORT_NAME_LIMIT = 255


def entry(container, key):
    if container is None:
        return None
    for found in container:
        if found.get("Key") == key:
            return found
    return None


def set_entry(item, path, new):
    """Set the entries (or entry parts) `new`, a dictionary element, carries."""
    container = item.find(f"{{{T}}}{path.name}")
    if container is None:
        container = etree.SubElement(item, t(path.name))
    for given in new:
        old = entry(container, given.get("Key"))
        if path.part is None or old is None:
            if old is not None:
                container.remove(old)
            container.append(given)
            continue
        for part in given:  # one part of an existing address: the others stay
            _remove(old, old.find(part.tag))
            old.append(part)
        old[:] = sorted(old, key=lambda e: ADDRESS_PARTS.index(etree.QName(e).localname))
    _drop_if_empty(item, container)


def delete_entry(item, path):
    container = item.find(f"{{{T}}}{path.name}")
    found = entry(container, path.index)
    if found is None:
        return
    if path.part is None:
        container.remove(found)
    else:
        _remove(found, found.find(t(path.part)))
        if len(found) == 0:
            container.remove(found)
    _drop_if_empty(item, container)


def only_entries(element, paths):
    """A dictionary cut to the entries (and parts) that `paths` name."""
    wanted = {}
    for path in paths:
        wanted.setdefault(path.index, set()).add(path.part)
    cut = etree.Element(element.tag)
    for found in element:
        parts = wanted.get(found.get("Key"))
        if parts is None:
            continue
        kept = etree.fromstring(etree.tostring(found))
        if None not in parts:
            for part in list(kept):
                if etree.QName(part).localname not in parts:
                    kept.remove(part)
        if len(kept) or kept.text:
            cut.append(kept)
    return cut


def entry_values(item, path):
    """The values an indexed path reads (for restrictions and sorting)."""
    found = entry(item.find(f"{{{T}}}{path.name}"), path.index)
    if found is None:
        return None
    value = found.findtext(t(path.part)) if path.part else found.text
    return [value] if value is not None else None


def check_name_update(element_name, new):
    if element_name in SHORT_NAME_PARTS and len(new.text or "") > SHORT_NAME_LIMIT:
        raise EWSError("ErrorPropertyUpdate", f"The value of {element_name} is longer than Exchange stores.")


def _drop_if_empty(item, container):
    if len(container) == 0:
        item.remove(container)


def _remove(parent, element):
    if element is not None:
        parent.remove(element)


# Where each part of CompleteName (read-only: Exchange assembles it) comes from. Its
# Title is an honorific no other contact property holds: the sandbox leaves it out.
COMPLETE_NAME_PARTS = (("FirstName", "GivenName"), ("MiddleName", "MiddleName"),
                       ("LastName", "Surname"), ("Suffix", "Generation"), ("Initials", "Initials"),
                       ("FullName", None), ("Nickname", "Nickname"))


def complete_name(item):
    """A contact's CompleteName, built from its name parts; FullName is the display name
    or, without one, the given, middle and last names in a row. None for a contact
    without any name."""
    texts = {source: (item.findtext(t(source)) or "").strip() for _, source in COMPLETE_NAME_PARTS if source}
    full = (item.findtext(t("DisplayName")) or "").strip() or \
        " ".join(filter(None, (texts["GivenName"], texts["MiddleName"], texts["Surname"])))
    if not full and not any(texts.values()):
        return None
    name = etree.Element(t("CompleteName"))
    for part, source in COMPLETE_NAME_PARTS:
        value = full if source is None else texts[source]
        if value:
            etree.SubElement(name, t(part)).text = value
    return name
