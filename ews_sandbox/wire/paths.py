"""Property paths as EWS names them: FieldURI, IndexedFieldURI, ExtendedFieldURI."""
from dataclasses import dataclass

from lxml import etree

from ..model.properties import element_name, entry_part, extended_key
from .schema_order import FIELD_URIS, INDEXED_FIELD_URIS
from .soap import schema_fault
from .ns import local, t


@dataclass(frozen=True)
class Path:
    kind: str            # 'field', 'indexed' or 'extended'
    uri: str             # 'item:Subject'; for extended paths the ExtendedFieldURI as XML
    name: str            # the element the path reads: 'Subject', 'EmailAddresses', 'ExtendedProperty'
    index: str = None    # FieldIndex of an indexed path
    part: str = None     # the part of an indexed entry it names: 'Street' of a PhysicalAddress
    ext_key: tuple = ()  # identity of an extended property

    def uri_element(self):
        return etree.fromstring(self.uri)


def parse_path(element):
    kind = local(element)
    if kind == "FieldURI":
        uri = element.get("FieldURI")
        if uri not in FIELD_URIS:
            raise schema_fault(f"The request failed schema validation: FieldURI {uri!r} is not a valid value.")
        return Path("field", uri, element_name(uri))
    if kind == "IndexedFieldURI":
        uri = element.get("FieldURI")
        if uri not in INDEXED_FIELD_URIS or not element.get("FieldIndex"):
            raise schema_fault(f"The request failed schema validation: IndexedFieldURI {uri!r} is not valid.")
        return Path("indexed", uri, element_name(uri), index=element.get("FieldIndex"), part=entry_part(uri))
    if kind == "ExtendedFieldURI":
        copy = etree.Element(t("ExtendedFieldURI"), dict(element.attrib), nsmap={"t": element.nsmap.get("t") or etree.QName(element).namespace})
        return Path("extended", etree.tostring(copy).decode(), "ExtendedProperty", ext_key=extended_key(element))
    raise schema_fault(f"The request failed schema validation: unexpected property path element {kind}.")


def is_path(element):
    return local(element) in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")


def first_path(parent):
    for element in parent:
        if is_path(element):
            return parse_path(element)
    raise schema_fault("The request failed schema validation: a property path is missing.")
